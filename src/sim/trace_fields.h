// Reading the fields of one trace line: CSV splitting, a CSV header's column positions, and whole
// numbers, decimal seconds and token counts with messages that name the column.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/units.h"

namespace gf {

// Splits one CSV line into fields. A field may be double-quoted ("a,b"; "" is a quote inside);
// a trailing '\r' is dropped. Views point into `line` or, for quoted fields with "", into
// `scratch` (a deque: adding to it moves no earlier string); both must outlive them. An
// unterminated quote is an error. Fills `fields` (cleared first), so that a loader reuses one
// vector for every line.
Status split_csv_line(std::string_view line, std::deque<std::string>& scratch,
                      std::vector<std::string_view>& fields);

// Where each named column sits in a CSV header (names compared exactly, surrounding spaces
// ignored). A missing name is an error listing what the header has.
struct CsvColumns {
  std::vector<int>
      index;         // one per requested name, in the order asked; -1 when optional and absent
  size_t width = 0;  // fields in the header
};
Result<CsvColumns> find_csv_columns(const std::vector<std::string_view>& header,
                                    const std::vector<std::string_view>& required,
                                    const std::vector<std::string_view>& optional = {});

// "12", "-3": a whole decimal number, nothing else. The error says what the text was.
Result<int64_t> parse_whole_number(std::string_view text);

// "5", "5.25", "1022.0250000": non-negative decimal seconds, exact to the nanosecond (digits past
// the ninth are dropped); no floating point, so arrivals never pick up rounding.
Result<Duration> parse_decimal_seconds(std::string_view text);

// A token count that must be at least 1: a request with no prompt or no output is not a request
// the simulator can replay (BurstGPT marks failed requests with 0 response tokens).
Result<Tokens> parse_token_count(std::string_view text);

// "column 2 (ContextTokens)": how messages name a CSV field (1-based, as editors count).
std::string csv_field_name(int index, std::string_view header_name);

}  // namespace gf
