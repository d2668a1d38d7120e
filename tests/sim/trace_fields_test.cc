#include "sim/trace_fields.h"

#include <gtest/gtest.h>

namespace gf {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::vector<std::string> split(std::string_view line) {
  std::deque<std::string> scratch;
  // Filled over what a line before left there, as a loader reuses it.
  std::vector<std::string_view> fields{"left", "over"};
  Status s = split_csv_line(line, scratch, fields);
  EXPECT_TRUE(s) << line;
  return s ? std::vector<std::string>(fields.begin(), fields.end()) : std::vector<std::string>{};
}

TEST(SplitCsvLine, SplitsOnCommasAndUnquotes) {
  EXPECT_EQ(split("a,b,,c\r"), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(split("\"a,b\",c"), (std::vector<std::string>{"a,b", "c"}));
  EXPECT_EQ(split("\"say \"\"hi\"\"\",\"x\"\"\""), (std::vector<std::string>{"say \"hi\"", "x\""}));
  EXPECT_EQ(split(""), (std::vector<std::string>{""}));
  EXPECT_EQ(split("a,"), (std::vector<std::string>{"a", ""}));
}

TEST(SplitCsvLine, AnUnclosedQuoteIsAnError) {
  std::deque<std::string> scratch;
  std::vector<std::string_view> fields;
  Status r = split_csv_line("1,\"abc", scratch, fields);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "a quote opened at character 3 is never closed");
}

TEST(ParseDecimalSeconds, IsExactToTheNanosecond) {
  EXPECT_EQ(*parse_decimal_seconds("5"), seconds(5));
  EXPECT_EQ(*parse_decimal_seconds("0.001"), milliseconds(1));
  EXPECT_EQ(*parse_decimal_seconds("1022.0250000"), milliseconds(1'022'025));
  EXPECT_EQ(*parse_decimal_seconds("0.1234567891"), Duration(123'456'789));
  EXPECT_EQ(*parse_decimal_seconds(" 7.5 "), milliseconds(7500));
  for (const char* bad : {"", ".5", "-1", "1e3", "1.2.3", "abc", "99999999999999"})
    EXPECT_FALSE(parse_decimal_seconds(bad)) << bad;
}

TEST(ParseTokenCount, NeedsAPositiveWholeNumber) {
  EXPECT_EQ(*parse_token_count("42"), Tokens(42));
  EXPECT_FALSE(parse_token_count("0"));
  EXPECT_FALSE(parse_token_count("-1"));
  EXPECT_FALSE(parse_token_count("4.5"));
  EXPECT_FALSE(parse_token_count(""));
}

TEST(FindCsvColumns, ToleratesSpacesAndAByteOrderMark) {
  std::vector<std::string_view> header = {"\xEF\xBB\xBFTIMESTAMP", " ContextTokens ", "Other"};
  auto cols = find_csv_columns(header, {"TIMESTAMP", "ContextTokens"}, {"Model"});
  ASSERT_TRUE(cols) << cols.error().message;
  EXPECT_EQ(cols->index, (std::vector<int>{0, 1, -1}));
  EXPECT_EQ(cols->width, 3u);
}

}  // namespace
}  // namespace gf
