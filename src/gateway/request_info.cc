#include "gateway/request_info.h"

#include <simdjson.h>

namespace gf {

namespace {

void append_capped(std::string& out, std::string_view s, size_t cap) {
  if (out.size() < cap) out.append(s.substr(0, cap - out.size()));
}

Error bad(const std::string& m) {
  return make_error(ErrorCode::kInvalidArgument, m);
}

}  // namespace

Result<RequestInfo> parse_request_info(std::string_view body, std::string_view endpoint,
                                       size_t max_prefix_bytes) {
  // One parser per thread: simdjson reuses its buffers, so steady-state parsing allocates little.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(body.data(), body.size()).get(doc); err) {
    return bad(std::string("request body is not valid JSON: ") + simdjson::error_message(err));
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) return bad("request body must be a JSON object");
  RequestInfo info;
  std::string_view model;
  auto m = obj["model"];
  if (m.error() == simdjson::NO_SUCH_FIELD) return bad("missing required parameter: 'model'");
  if (m.get_string().get(model)) return bad("'model' must be a string");
  info.model = std::string(model);
  if (auto s = obj["stream"]; s.error() != simdjson::NO_SUCH_FIELD && !s.is_null()) {
    bool v = false;
    if (s.get_bool().get(v)) return bad("'stream' must be a boolean");
    info.stream = v;
  }
  if (auto u = obj["user"]; u.error() != simdjson::NO_SUCH_FIELD && !u.is_null()) {
    std::string_view v;
    if (u.get_string().get(v)) return bad("'user' must be a string");
    info.user = std::string(v);
  }
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    auto t = obj[key];
    if (t.error() == simdjson::NO_SUCH_FIELD || t.is_null()) continue;
    int64_t v = 0;
    if (t.get_int64().get(v) || v < 0)
      return bad(std::string("'") + key + "' must be a non-negative integer");
    info.max_tokens = v;
  }
  auto add_text = [&](simdjson::dom::element e) {
    std::string_view s;
    if (!e.get_string().get(s)) {
      info.prompt_bytes += s.size();
      append_capped(info.prompt_prefix, s, max_prefix_bytes);
    }
  };
  if (endpoint == "chat") {
    simdjson::dom::array messages;
    auto ms = obj["messages"];
    if (ms.error() == simdjson::NO_SUCH_FIELD) return bad("missing required parameter: 'messages'");
    if (ms.get_array().get(messages)) return bad("'messages' must be an array");
    for (simdjson::dom::element msg : messages) {
      simdjson::dom::object mo;
      if (msg.get_object().get(mo)) return bad("each entry of 'messages' must be an object");
      auto content = mo["content"];
      if (content.error() == simdjson::NO_SUCH_FIELD) continue;
      simdjson::dom::array parts;
      if (!content.get_array().get(parts)) {  // [{"type":"text","text":...}, ...]
        for (simdjson::dom::element p : parts) {
          if (auto text = p["text"]; text.error() == simdjson::SUCCESS) add_text(text.value());
        }
      } else {
        add_text(content.value());
      }
    }
  } else {
    const char* field = endpoint == "embeddings" ? "input" : "prompt";
    auto p = obj[field];
    if (p.error() == simdjson::NO_SUCH_FIELD)
      return bad(std::string("missing required parameter: '") + field + "'");
    simdjson::dom::array arr;
    if (!p.get_array().get(arr)) {
      for (simdjson::dom::element e : arr)
        add_text(e);
    } else {
      add_text(p.value());
    }
  }
  return info;
}

}  // namespace gf
