#include "wire/traffic_report_json.h"

#include <nlohmann/json.hpp>

namespace gf::wire {

using nlohmann::json;

std::string to_json(const TrafficReport& r) {
  json revs = json::array();
  for (const auto& t : r.revisions) {
    revs.push_back({{"model", t.model},
                    {"revision", t.revision},
                    {"requests", t.requests},
                    {"errors", t.errors},
                    {"ttftCounts", t.ttft_counts}});
  }
  json demand = json::array();
  for (const auto& d : r.demand) {
    json x = {{"model", d.model},
              {"queued", d.queued},
              {"inFlight", d.in_flight},
              {"arrivals", d.arrivals},
              {"promptTokens", d.prompt_tokens},
              {"outputTokens", d.output_tokens}};
    if (!d.tpot_counts.empty()) x["tpotCounts"] = d.tpot_counts;
    demand.push_back(std::move(x));
  }
  return json{{"gateway", r.gateway}, {"revisions", revs}, {"demand", demand}}.dump();
}

Result<TrafficReport> parse_traffic_report(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return make_error(ErrorCode::kInvalidArgument, "traffic report is not a JSON object");
  TrafficReport r;
  std::string where = "gateway";
  try {
    r.gateway = j.value("gateway", "");
    if (j.contains("revisions")) {
      for (size_t i = 0; i < j.at("revisions").size(); ++i) {
        where = "revisions[" + std::to_string(i) + "]";
        const json& x = j.at("revisions").at(i);
        RevisionTraffic t;
        t.model = x.at("model").get<std::string>();
        t.revision = x.at("revision").get<std::string>();
        t.requests = x.value("requests", int64_t{0});
        t.errors = x.value("errors", int64_t{0});
        t.ttft_counts = x.value("ttftCounts", std::vector<uint64_t>{});
        if (t.ttft_counts.size() != kTtftBoundsMs.size() + 1) {
          return make_error(
              ErrorCode::kInvalidArgument,
              where + ".ttftCounts: want " + std::to_string(kTtftBoundsMs.size() + 1) + " buckets");
        }
        if (t.requests < 0 || t.errors < 0 || t.errors > t.requests)
          return make_error(ErrorCode::kInvalidArgument, where + ": counts out of range");
        r.revisions.push_back(std::move(t));
      }
    }
    if (j.contains("demand")) {
      for (size_t i = 0; i < j.at("demand").size(); ++i) {
        where = "demand[" + std::to_string(i) + "]";
        const json& x = j.at("demand").at(i);
        ReportedDemand d;
        d.model = x.at("model").get<std::string>();
        d.queued = x.value("queued", int64_t{0});
        d.in_flight = x.value("inFlight", int64_t{0});
        d.arrivals = x.value("arrivals", int64_t{0});
        d.prompt_tokens = x.value("promptTokens", int64_t{0});
        d.output_tokens = x.value("outputTokens", int64_t{0});
        d.tpot_counts = x.value("tpotCounts", std::vector<uint64_t>{});
        if (!d.tpot_counts.empty() && d.tpot_counts.size() != kTpotBoundsMs.size() + 1) {
          return make_error(
              ErrorCode::kInvalidArgument,
              where + ".tpotCounts: want " + std::to_string(kTpotBoundsMs.size() + 1) + " buckets");
        }
        if (d.queued < 0 || d.in_flight < 0 || d.arrivals < 0 || d.prompt_tokens < 0 ||
            d.output_tokens < 0)
          return make_error(ErrorCode::kInvalidArgument, where + ": counts must not be negative");
        r.demand.push_back(std::move(d));
      }
    }
  } catch (const json::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, "traffic report " + where + ": " + e.what());
  }
  return r;
}

}  // namespace gf::wire
