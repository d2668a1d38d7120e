#include "wire/replica_load_json.h"

#include "wire/field_reader.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "common/traffic_report.h"

namespace gf::wire {

using nlohmann::json;

json replica_load_json(const ReplicaLoad& l) {
  json j = json::object();
  if (l.running) j["running"] = *l.running;
  if (l.waiting) j["waiting"] = *l.waiting;
  if (l.kv_cache_usage) j["kvCacheUsage"] = *l.kv_cache_usage;
  if (l.prompt_tokens) j["promptTokens"] = l.prompt_tokens->value;
  if (l.generation_tokens) j["generationTokens"] = l.generation_tokens->value;
  if (!l.ttft_counts.empty()) j["ttftCounts"] = l.ttft_counts;
  if (!l.queue_counts.empty()) j["queueCounts"] = l.queue_counts;
  j["ageMs"] = std::chrono::duration_cast<std::chrono::milliseconds>(l.age).count();
  return j;
}

Result<ReplicaLoad> parse_replica_load(simdjson::dom::element j, const std::string& path) {
  auto bad = [&](const char* key, const std::string& what) {
    return make_error(ErrorCode::kInvalidArgument, path + "." + key + ": " + what);
  };
  simdjson::dom::object obj;
  if (j.get_object().get(obj))
    return make_error(ErrorCode::kInvalidArgument, path + ": must be an object");
  ReplicaLoad out;
  // Whole numbers only: a count of 2.5 requests is a broken sender, not a rounding question.
  auto whole = [&](const char* key) -> Result<std::optional<int64_t>> {
    auto v = field(obj, key);
    if (!v) return std::optional<int64_t>{};
    int64_t n = 0;
    if (v->get_int64().get(n))
      return bad(key, std::string("must be a whole number (it is ") + json_type_name(*v) + ")");
    return std::optional<int64_t>{n};
  };
  auto count = [&](const char* key, auto& to) -> Status {
    auto n = whole(key);
    if (!n) return n.error();
    if (!*n) return {};
    if (**n < 0) return bad(key, "must not be negative");
    using T = typename std::remove_reference_t<decltype(to)>::value_type;
    to = T(**n);
    return {};
  };
  if (Status s = count("running", out.running); !s) return s.error();
  if (Status s = count("waiting", out.waiting); !s) return s.error();
  if (Status s = count("promptTokens", out.prompt_tokens); !s) return s.error();
  if (Status s = count("generationTokens", out.generation_tokens); !s) return s.error();
  if (auto v = field(obj, "kvCacheUsage")) {
    double kv = 0;
    if (!read_value(*v, kv)) return bad("kvCacheUsage", "must be a number");
    if (!(kv >= 0.0 && kv <= 1.0)) return bad("kvCacheUsage", "must be within 0..1");
    out.kv_cache_usage = kv;
  }
  // A histogram in the TTFT buckets (ttftCounts, queueCounts).
  auto histogram = [&](const char* key, std::vector<uint64_t>& into) -> Status {
    auto v = field(obj, key);
    if (!v) return {};
    constexpr size_t kBuckets = kTtftBoundsMs.size() + 1;
    simdjson::dom::array a;
    if (v->get_array().get(a) || a.size() != kBuckets) {
      return bad(key, fmt::format("must be an array of {} whole numbers (one per TTFT "
                                  "bucket), not negative",
                                  kBuckets));
    }
    size_t i = 0;
    for (simdjson::dom::element e : a) {
      uint64_t n = 0;
      int64_t negative = 0;
      if (e.get_uint64().get(n)) {
        const std::string what = !e.get_int64().get(negative)
                                     ? fmt::format("is {}", negative)
                                     : std::string("is ") + json_type_name(e);
        return bad(key,
                   fmt::format("element {} must be a whole number, not negative (it {})", i, what));
      }
      into.push_back(n);
      ++i;
    }
    return {};
  };
  if (Status s = histogram("ttftCounts", out.ttft_counts); !s.ok()) return s.error();
  if (Status s = histogram("queueCounts", out.queue_counts); !s.ok()) return s.error();
  if (auto ms = whole("ageMs"); !ms || (*ms && **ms < 0)) {
    return bad("ageMs", "must be a whole number of milliseconds, not negative");
  } else if (*ms) {
    out.age = std::chrono::milliseconds(**ms);
  }
  return out;
}

}  // namespace gf::wire
