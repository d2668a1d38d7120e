#include "wire/replica_load_json.h"

#include <nlohmann/json.hpp>
#include <type_traits>

namespace gf::wire {

using nlohmann::json;

json replica_load_json(const ReplicaLoad& l) {
  json j = json::object();
  if (l.running) j["running"] = *l.running;
  if (l.waiting) j["waiting"] = *l.waiting;
  if (l.kv_cache_usage) j["kvCacheUsage"] = *l.kv_cache_usage;
  if (l.prompt_tokens) j["promptTokens"] = l.prompt_tokens->value;
  if (l.generation_tokens) j["generationTokens"] = l.generation_tokens->value;
  j["ageMs"] = std::chrono::duration_cast<std::chrono::milliseconds>(l.age).count();
  return j;
}

Result<ReplicaLoad> parse_replica_load(const json& j, const std::string& path) {
  auto bad = [&](const char* key, const std::string& what) {
    return make_error(ErrorCode::kInvalidArgument, path + "." + key + ": " + what);
  };
  if (!j.is_object()) return make_error(ErrorCode::kInvalidArgument, path + ": must be an object");
  auto field = [&](const char* key) -> const json* {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };
  ReplicaLoad out;
  // Whole numbers only: a count of 2.5 requests is a broken sender, not a rounding question.
  auto count = [&](const char* key, auto& to) -> Status {
    const json* v = field(key);
    if (v == nullptr) return {};
    if (!v->is_number_integer())
      return bad(key, std::string("must be a whole number (it is ") + v->type_name() + ")");
    const int64_t n = v->get<int64_t>();
    if (n < 0) return bad(key, "must not be negative");
    using T = typename std::remove_reference_t<decltype(to)>::value_type;
    to = T(n);
    return {};
  };
  if (Status s = count("running", out.running); !s) return s.error();
  if (Status s = count("waiting", out.waiting); !s) return s.error();
  if (Status s = count("promptTokens", out.prompt_tokens); !s) return s.error();
  if (Status s = count("generationTokens", out.generation_tokens); !s) return s.error();
  if (const json* v = field("kvCacheUsage")) {
    if (!v->is_number()) return bad("kvCacheUsage", "must be a number");
    const double kv = v->get<double>();
    if (!(kv >= 0.0 && kv <= 1.0)) return bad("kvCacheUsage", "must be within 0..1");
    out.kv_cache_usage = kv;
  }
  if (const json* v = field("ageMs")) {
    if (!v->is_number_integer() || v->get<int64_t>() < 0)
      return bad("ageMs", "must be a whole number of milliseconds, not negative");
    out.age = std::chrono::milliseconds(v->get<int64_t>());
  }
  return out;
}

}  // namespace gf::wire
