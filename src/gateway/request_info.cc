#include "gateway/request_info.h"

#include <simdjson.h>

#include <optional>
#include <utility>

namespace gf {

namespace {

void append_capped(std::string& out, std::string_view s, size_t cap) {
  if (out.size() < cap) out.append(s.substr(0, cap - out.size()));
}

Error bad(const std::string& m) {
  return make_error(ErrorCode::kInvalidArgument, m);
}

// The top-level fields parse_request_info reads, each unset when the body lacks it.
struct Fields {
  std::optional<simdjson::dom::element> model, stream, user, max_tokens, max_completion_tokens,
      prompt;
  std::string_view repeated;  // the first of these keys given twice, if any
};

// One walk over the object's keys: looking each field up by name walks them once per name. A key
// given twice is noted, and the request refused: JSON readers disagree on which one counts
// (simdjson the first, nlohmann the last), so the gateway and the engine would read two
// different requests (#17, item 11).
Fields find_fields(simdjson::dom::object obj, std::string_view prompt_field) {
  Fields f;
  for (simdjson::dom::key_value_pair kv : obj) {
    std::optional<simdjson::dom::element>* slot = nullptr;
    if (kv.key == "model") {
      slot = &f.model;
    } else if (kv.key == "stream") {
      slot = &f.stream;
    } else if (kv.key == "user") {
      slot = &f.user;
    } else if (kv.key == "max_tokens") {
      slot = &f.max_tokens;
    } else if (kv.key == "max_completion_tokens") {
      slot = &f.max_completion_tokens;
    } else if (kv.key == prompt_field) {
      slot = &f.prompt;
    }
    if (slot == nullptr) continue;
    if (*slot && f.repeated.empty()) f.repeated = kv.key;
    if (!*slot) *slot = kv.value;
  }
  return f;
}

// Present and not null.
bool given(const std::optional<simdjson::dom::element>& e) {
  return e && !e->is_null();
}

}  // namespace

Result<RequestInfo> parse_request_info(std::string_view body, std::string_view endpoint,
                                       size_t max_prefix_bytes, size_t readable_past_end) {
  // One parser per thread: simdjson reuses its buffers, so steady-state parsing allocates little.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const bool copy = readable_past_end < simdjson::SIMDJSON_PADDING;
  if (auto err = parser.parse(body.data(), body.size(), copy).get(doc); err) {
    return bad(std::string("request body is not valid JSON: ") + simdjson::error_message(err));
  }
  simdjson::dom::object obj;
  if (doc.get_object().get(obj)) return bad("request body must be a JSON object");
  const char* prompt_field = endpoint == "chat"         ? "messages"
                             : endpoint == "embeddings" ? "input"
                                                        : "prompt";
  const Fields f = find_fields(obj, prompt_field);
  if (!f.repeated.empty())
    return bad("the field '" + std::string(f.repeated) + "' is given more than once");
  RequestInfo info;
  std::string_view model;
  if (!f.model) return bad("missing required parameter: 'model'");
  if (f.model->get_string().get(model)) return bad("'model' must be a string");
  info.model = std::string(model);
  if (given(f.stream)) {
    bool v = false;
    if (f.stream->get_bool().get(v)) return bad("'stream' must be a boolean");
    info.stream = v;
  }
  if (given(f.user)) {
    std::string_view v;
    if (f.user->get_string().get(v)) return bad("'user' must be a string");
    info.user = std::string(v);
  }
  for (const auto& [key, t] : {std::pair{"max_tokens", &f.max_tokens},
                               std::pair{"max_completion_tokens", &f.max_completion_tokens}}) {
    if (!given(*t)) continue;
    int64_t v = 0;
    if ((*t)->get_int64().get(v) || v < 0)
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
  if (!f.prompt) return bad(std::string("missing required parameter: '") + prompt_field + "'");
  if (endpoint == "chat") {
    simdjson::dom::array messages;
    if (f.prompt->get_array().get(messages)) return bad("'messages' must be an array");
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
    simdjson::dom::array arr;
    if (!f.prompt->get_array().get(arr)) {
      for (simdjson::dom::element e : arr)
        add_text(e);
    } else {
      add_text(*f.prompt);
    }
  }
  return info;
}

}  // namespace gf
