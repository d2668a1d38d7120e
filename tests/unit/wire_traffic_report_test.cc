// The gateways' traffic report on the wire: every field round-trips, a report from an older
// gateway (no autoscaler counts) still reads, and bad counts are errors that name the field.
#include <gtest/gtest.h>

#include "wire/traffic_report_json.h"

namespace gf {
namespace {

TEST(TrafficReportJson, RoundTripsEveryField) {
  TrafficReport r;
  r.gateway = "gw-1";
  RevisionTraffic t{"m", "abc", 10, 1, std::vector<uint64_t>(kTtftBoundsMs.size() + 1, 0)};
  t.ttft_counts[3] = 10;
  r.revisions.push_back(t);
  ReportedDemand d{"m", 2, 5, 12, 1200, 340, std::vector<uint64_t>(kTpotBoundsMs.size() + 1, 0)};
  d.tpot_counts[4] = 7;
  r.demand.push_back(d);
  auto back = wire::parse_traffic_report(wire::to_json(r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->gateway, "gw-1");
  ASSERT_EQ(back->revisions.size(), 1u);
  EXPECT_EQ(back->revisions[0].ttft_counts, t.ttft_counts);
  ASSERT_EQ(back->demand.size(), 1u);
  const ReportedDemand& b = back->demand[0];
  EXPECT_EQ(b.queued, 2);
  EXPECT_EQ(b.in_flight, 5);
  EXPECT_EQ(b.arrivals, 12);
  EXPECT_EQ(b.prompt_tokens, 1200);
  EXPECT_EQ(b.output_tokens, 340);
  EXPECT_EQ(b.tpot_counts, d.tpot_counts);
}

TEST(TrafficReportJson, AnOlderGatewaysReportStillReads) {
  auto r = wire::parse_traffic_report(
      R"({"gateway":"old","revisions":[],"demand":[{"model":"m","queued":3,"inFlight":1}]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->demand[0].queued, 3);
  EXPECT_EQ(r->demand[0].arrivals, 0);
  EXPECT_TRUE(r->demand[0].tpot_counts.empty());
}

TEST(TrafficReportJson, BadCountsNameTheField) {
  auto r = wire::parse_traffic_report(
      R"({"gateway":"g","demand":[{"model":"m"},{"model":"m","tpotCounts":[1,2]}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("demand[1].tpotCounts"), std::string::npos) << r.error().message;
  r = wire::parse_traffic_report(R"({"gateway":"g","demand":[{"model":"m","arrivals":-1}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("demand[0]"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace gf
