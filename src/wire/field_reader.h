// Reads typed fields out of a parsed JSON object (simdjson's DOM) with errors that name the
// field's whole path ("replicas[1].port: has the wrong type (string)"). The agent protocol is
// read with it on the controller's hot path: a thousand heartbeats a second (#18).
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/result.h"

namespace gf::wire {

// The JSON type's name as a person reads it (the names nlohmann's messages used before).
const char* json_type_name(simdjson::dom::element e);

// Present and not null.
std::optional<simdjson::dom::element> field(simdjson::dom::object obj, std::string_view key);

// One value into its C++ type; false when the JSON type does not fit. Numbers of any JSON kind
// convert to any arithmetic type, as before the move to simdjson.
bool read_value(simdjson::dom::element e, std::string& out);
bool read_value(simdjson::dom::element e, bool& out);
template <class T>
requires std::is_arithmetic_v<T>
bool read_value(simdjson::dom::element e, T& out) {
  switch (e.type()) {
    case simdjson::dom::element_type::INT64:
      out = static_cast<T>(e.get_int64().value_unsafe());
      return true;
    case simdjson::dom::element_type::UINT64:
      out = static_cast<T>(e.get_uint64().value_unsafe());
      return true;
    case simdjson::dom::element_type::DOUBLE:
      out = static_cast<T>(e.get_double().value_unsafe());
      return true;
    default:
      return false;
  }
}
template <class T>
bool read_value(simdjson::dom::element e, std::vector<T>& out) {
  simdjson::dom::array a;
  if (e.get_array().get(a)) return false;
  std::vector<T> v;
  for (simdjson::dom::element x : a) {
    if (!read_value(x, v.emplace_back())) return false;
  }
  out = std::move(v);
  return true;
}
template <class T>
bool read_value(simdjson::dom::element e, std::map<std::string, T>& out) {
  simdjson::dom::object o;
  if (e.get_object().get(o)) return false;
  std::map<std::string, T> m;
  for (simdjson::dom::key_value_pair kv : o) {
    if (!read_value(kv.value, m[std::string(kv.key)])) return false;
  }
  out = std::move(m);
  return true;
}

// Reads the fields of one object; the first error sticks and later reads do nothing.
class FieldReader {
 public:
  explicit FieldReader(std::string path) : path_(std::move(path)) {}
  const std::optional<Error>& error() const { return error_; }
  const std::string& path() const { return path_; }

  template <class T>
  void get(simdjson::dom::object obj, const char* key, T& out, bool required = false) {
    if (error_) return;
    auto v = field(obj, key);
    if (!v) {
      if (required) fail(key, "is required");
      return;
    }
    if (!read_value(*v, out))
      fail(key, std::string("has the wrong type (") + json_type_name(*v) + ")");
  }
  // Runs `f(reader, object)` on every element of an optional list of objects, with a reader that
  // names the element ("gpus[2].").
  template <class F>
  void each(simdjson::dom::object obj, const char* key, F&& f) {
    if (error_) return;
    auto v = field(obj, key);
    if (!v) return;
    simdjson::dom::array a;
    if (v->get_array().get(a)) {
      fail(key, "must be a list");
      return;
    }
    size_t i = 0;
    for (simdjson::dom::element x : a) {
      simdjson::dom::object o;
      if (x.get_object().get(o)) {
        fail(key, element_path("", i) + " must be an object");
        return;
      }
      FieldReader sub(path_ + element_path(key, i) + ".");
      f(sub, o);
      if (sub.error()) {
        set_error(*sub.error());
        return;
      }
      ++i;
    }
  }
  // A name read into its enum; an unknown one is an error naming the field, so that a sender
  // newer than this reader hears what it sent that is not understood.
  template <class E, class Parse>
  void read_enum(const char* key, const std::string& name, Parse parse, E& out) {
    if (error_) return;
    if (auto v = parse(name)) {
      out = *v;
    } else {
      fail(key, "unknown value \"" + name + "\"");
    }
  }
  void fail(const std::string& key, const std::string& what) {
    if (!error_) error_ = make_error(ErrorCode::kInvalidArgument, path_ + key + ": " + what);
  }
  // An error whose message already names the whole path.
  void set_error(Error e) {
    if (!error_) error_ = std::move(e);
  }

 private:
  static std::string element_path(std::string_view key, size_t i);  // "gpus[2]"

  std::string path_;
  std::optional<Error> error_;
};

// Parses `text` as one JSON object with the calling thread's parser. The object lives until the
// thread's next parse_object(): read what is needed before parsing another.
Result<simdjson::dom::object> parse_object(std::string_view text);

}  // namespace gf::wire
