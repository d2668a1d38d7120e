// Structured logging: one line per event, text (msg key=value) or JSON, on top of spdlog.
#pragma once

#include <concepts>
#include <initializer_list>
#include <iosfwd>
#include <string>
#include <string_view>

#include "common/result.h"

namespace gf::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kText, kJson };

// One key=value pair. Numbers and bools stay unquoted in JSON so log tools can filter on them.
struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false"), is_string(false) {}
  template <std::integral T>
  requires(!std::same_as<T, bool>) Field(std::string_view k, T v)
      : key(k), value(std::to_string(v)), is_string(false) {}
  Field(std::string_view k, double v);

  std::string key;
  std::string value;
  bool is_string = true;
};

using Fields = std::initializer_list<Field>;

// Until init is called, logs go to stderr as text at info level. Not meant to race with logging:
// call it at startup.
void init(Level level, Format format);
// Sends logs to out (flushed per line) until the next init; out must outlive that.
void init_for_test(std::ostream& out, Level level, Format format);

Result<Level> parse_level(std::string_view s);    // debug, info, warn (or warning), error
Result<Format> parse_format(std::string_view s);  // text, json
const char* to_string(Level level);

bool enabled(Level level);
void write(Level level, std::string_view msg, Fields fields = {});

inline void debug(std::string_view msg, Fields fields = {}) {
  write(Level::kDebug, msg, fields);
}
inline void info(std::string_view msg, Fields fields = {}) {
  write(Level::kInfo, msg, fields);
}
inline void warn(std::string_view msg, Fields fields = {}) {
  write(Level::kWarn, msg, fields);
}
inline void error(std::string_view msg, Fields fields = {}) {
  write(Level::kError, msg, fields);
}

}  // namespace gf::log
