// What each gateway tells the controller every few seconds: per model and revision, requests,
// server errors and a TTFT histogram since its last report (canary analysis), and the requests
// waiting per model (demand, for scale-from-zero and the autoscaler). Plain values shared by the
// gateway's request logic and the fleet; wire/traffic_report_json.h is the JSON form.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace gf {

// Upper bounds of the TTFT buckets, in milliseconds; the last bucket is everything above.
inline constexpr std::array<int64_t, 12> kTtftBoundsMs = {10,   25,   50,   100,   250,   500,
                                                          1000, 2500, 5000, 10000, 30000, 60000};

struct RevisionTraffic {
  std::string model;
  std::string revision;
  int64_t requests = 0;
  int64_t errors = 0;                 // 5xx answers and streams that broke
  std::vector<uint64_t> ttft_counts;  // kTtftBoundsMs.size() + 1 buckets
};

struct ReportedDemand {
  std::string model;
  int64_t queued = 0;
  int64_t in_flight = 0;
};

struct TrafficReport {
  std::string gateway;
  std::vector<RevisionTraffic> revisions;
  std::vector<ReportedDemand> demand;
};

// The bucket a TTFT falls in, and the p95 of a histogram (the bucket's upper bound; -1 if empty).
size_t ttft_bucket(int64_t ms);
int64_t ttft_p95_ms(const std::vector<uint64_t>& counts);

}  // namespace gf
