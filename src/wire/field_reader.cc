#include "wire/field_reader.h"

#include <fmt/format.h>

namespace gf::wire {

const char* json_type_name(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY:
      return "array";
    case simdjson::dom::element_type::OBJECT:
      return "object";
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
      return "number";
    case simdjson::dom::element_type::STRING:
      return "string";
    case simdjson::dom::element_type::BOOL:
      return "boolean";
    case simdjson::dom::element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

std::optional<simdjson::dom::element> field(simdjson::dom::object obj, std::string_view key) {
  simdjson::dom::element e;
  if (obj.at_key(key).get(e) || e.is_null()) return std::nullopt;
  return e;
}

bool read_value(simdjson::dom::element e, std::string& out) {
  std::string_view s;
  if (e.get_string().get(s)) return false;
  out.assign(s);
  return true;
}

bool read_value(simdjson::dom::element e, bool& out) {
  return !e.get_bool().get(out);
}

std::string FieldReader::element_path(std::string_view key, size_t i) {
  return fmt::format("{}[{}]", key, i);
}

Result<simdjson::dom::object> parse_object(std::string_view text) {
  // One parser per thread: simdjson reuses its buffers, so steady-state parsing allocates little.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(text.data(), text.size()).get(doc))
    return make_error(ErrorCode::kInvalidArgument, "body is not valid JSON");
  simdjson::dom::object obj;
  if (doc.get_object().get(obj))
    return make_error(ErrorCode::kInvalidArgument, "body must be a JSON object");
  return obj;
}

}  // namespace gf::wire
