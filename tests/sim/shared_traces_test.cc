// The real traces in ../shared/data/traces, loaded whole: every figure of that folder's README
// table must come out of our loaders and summarize(), so a loader that drops, shifts or misreads
// requests fails here.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "sim/trace_loader.h"

namespace gf {
namespace {

using std::chrono::milliseconds;

const std::string kTraces = std::string(GPUFLEET_SOURCE_DIR) + "/../shared/data/traces/";

// Each file is parsed once for the whole suite (Mooncake's are a few seconds under ASan).
const LoadedTrace& loaded(const std::string& file) {
  static std::map<std::string, LoadedTrace> cache;
  auto it = cache.find(file);
  if (it == cache.end()) {
    auto t = load_trace(kTraces + file);
    if (!t) {
      ADD_FAILURE() << t.error().message;
      static const LoadedTrace none;
      return none;
    }
    it = cache.emplace(file, std::move(*t)).first;
  }
  return it->second;
}

double round_to(double x, double step) {
  return std::round(x / step) * step;
}

struct ReadmeRow {
  const char* file;
  size_t requests;
  double duration_s;          // 1 decimal
  double mean_rps, peak_rps;  // 2 decimals
  double prompt_mean;         // 1 decimal
  int64_t prompt_p50, prompt_p99;
  double output_mean;
  int64_t output_p50, output_p99;
};

// ../shared/data/README.md, "traces/", as printed there.
const ReadmeRow kReadme[] = {
    {"azure_llm_2023_conv.csv", 19366, 3501.7, 5.55, 8.45, 1154.7, 1020, 4142, 211.1, 129, 601},
    {"mooncake_fast25_conversation.jsonl", 12031, 3537.0, 3.40, 4.12, 12035.1, 6909, 85401, 342.6,
     350, 1120},
    {"mooncake_fast25_synthetic.jsonl", 3993, 1022.0, 3.90, 4.55, 15325.5, 11587, 66458, 149.1, 69,
     769},
};

class SharedTrace : public ::testing::TestWithParam<ReadmeRow> {};

TEST_P(SharedTrace, ReproducesTheReadmeFigures) {
  const ReadmeRow& row = GetParam();
  const LoadedTrace& t = loaded(row.file);
  ASSERT_EQ(t.trace.requests.size(), row.requests);
  // The README says every file is sorted and has no zero token count.
  EXPECT_FALSE(t.sorted_on_load);
  EXPECT_EQ(t.skipped_lines, 0u);

  const TraceStats s = summarize(t.trace);
  EXPECT_EQ(s.requests, row.requests);
  EXPECT_DOUBLE_EQ(round_to(std::chrono::duration<double>(s.duration).count(), 0.1),
                   row.duration_s);
  EXPECT_DOUBLE_EQ(round_to(s.mean_rps, 0.01), row.mean_rps);
  EXPECT_DOUBLE_EQ(round_to(s.peak_rps, 0.01), row.peak_rps);
  EXPECT_DOUBLE_EQ(round_to(s.prompt.mean, 0.1), row.prompt_mean);
  EXPECT_EQ(s.prompt.p50, Tokens(row.prompt_p50));
  EXPECT_EQ(s.prompt.p99, Tokens(row.prompt_p99));
  EXPECT_DOUBLE_EQ(round_to(s.output.mean, 0.1), row.output_mean);
  EXPECT_EQ(s.output.p50, Tokens(row.output_p50));
  EXPECT_EQ(s.output.p99, Tokens(row.output_p99));
}

INSTANTIATE_TEST_SUITE_P(Readme, SharedTrace, ::testing::ValuesIn(kReadme), [](const auto& info) {
  std::string name = info.param.file;
  return name.substr(0, name.find('.'));
});

TEST(SharedTraces, AzureSpansTheReadmesTimesAndItsExtras) {
  const Trace& t = loaded("azure_llm_2023_conv.csv").trace;
  ASSERT_FALSE(t.requests.empty());
  // 18:15:46.6805900 to 19:14:08.4025270: the last arrival, to the 100 ns.
  EXPECT_EQ(t.requests.back().arrival, Duration(3'501'721'937'000));
  Tokens max_prompt, max_output;
  for (const auto& r : t.requests) {
    max_prompt = std::max(max_prompt, r.prompt);
    max_output = std::max(max_output, r.output);
    EXPECT_TRUE(r.prefix_blocks.empty());
  }
  EXPECT_EQ(max_prompt, Tokens(14050));
  EXPECT_LE(max_output, Tokens(1000));  // the README's apparent output cap
  EXPECT_EQ(describe(t, summarize(t)),
            "azure_llm_2023_conv: 19366 requests over 58.4 min, 5.55 rps mean, 8.45 peak (58 full "
            "1m windows); prompt tokens mean 1154.7 p50 1020 p99 4142; output tokens mean 211.1 "
            "p50 129 p99 601");
}

// The README's prefix figures: blocks in all, and how many repeat an id seen earlier.
void expect_prefix_reuse(const Trace& t, size_t blocks, size_t repeats) {
  std::set<uint64_t> seen;
  size_t total = 0, repeated = 0;
  for (const auto& r : t.requests)
    for (uint64_t id : r.prefix_blocks) {
      ++total;
      if (!seen.insert(id).second) ++repeated;
    }
  EXPECT_EQ(total, blocks);
  EXPECT_EQ(repeated, repeats);
}

TEST(SharedTraces, MooncakePrefixBlocksMatchTheReadme) {
  const Trace& conv = loaded("mooncake_fast25_conversation.jsonl").trace;
  expect_prefix_reuse(conv, 288500, 105710);
  EXPECT_EQ(conv.requests.back().arrival, milliseconds(3'536'999));
  const Trace& syn = loaded("mooncake_fast25_synthetic.jsonl").trace;
  expect_prefix_reuse(syn, 121877, 77953);
  EXPECT_EQ(syn.requests.back().arrival, milliseconds(1'022'025));
}

}  // namespace
}  // namespace gf
