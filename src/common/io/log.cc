#include "common/io/log.h"

#include <atomic>
#include <cctype>
#include <cmath>
#include <iterator>
#include <memory>
#include <mutex>
#include <ostream>

#include <fmt/format.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace gf::log {

namespace {

std::atomic<Level> g_level{Level::kInfo};
std::atomic<Format> g_format{Format::kText};
std::mutex g_mu;
std::shared_ptr<spdlog::logger> g_logger;  // guarded by g_mu

void install(spdlog::sink_ptr sink, Level level, Format format) {
  auto logger = std::make_shared<spdlog::logger>("gpufleet", std::move(sink));
  // spdlog only adds the timestamp; level, message and fields are ours, so JSON stays valid.
  logger->set_pattern(
      format == Format::kJson ? R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ",%v})" : "%Y-%m-%dT%H:%M:%S.%eZ %v",
      spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::trace);  // filtering happens in write(), before formatting
  logger->flush_on(spdlog::level::err);
  std::lock_guard lock(g_mu);
  g_logger = std::move(logger);
  g_level = level;
  g_format = format;
}

std::shared_ptr<spdlog::logger> current() {
  std::lock_guard lock(g_mu);
  if (!g_logger) {
    g_logger = std::make_shared<spdlog::logger>("gpufleet",
                                                std::make_shared<spdlog::sinks::stderr_sink_mt>());
    g_logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %v", spdlog::pattern_time_type::utc);
    g_logger->set_level(spdlog::level::trace);
  }
  return g_logger;
}

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::err;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

// Quotes only when needed, so the common case stays greppable: key=value.
void append_text_value(std::string& out, std::string_view s) {
  bool quote = s.empty();
  for (char c : s) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      quote = true;
    }
  }
  if (quote) {
    append_json_string(out, s);
  } else {
    out += s;
  }
}

std::string render(Level level, Format format, std::string_view msg, Fields fields) {
  std::string out;
  if (format == Format::kJson) {
    out += R"("level":")";
    out += to_string(level);
    out += R"(","msg":)";
    append_json_string(out, msg);
    for (const Field& f : fields) {
      out += ',';
      append_json_string(out, f.key);
      out += ':';
      if (f.is_string) {
        append_json_string(out, f.value);
      } else {
        out += f.value;
      }
    }
    return out;
  }
  for (const char* p = to_string(level); *p; ++p)
    out += static_cast<char>(std::toupper(*p));
  out += ' ';
  // A message with a newline would split one event over two lines.
  for (char c : msg)
    out += c == '\n' ? ' ' : c;
  for (const Field& f : fields) {
    out += ' ';
    out += f.key;
    out += '=';
    append_text_value(out, f.value);
  }
  return out;
}

}  // namespace

Field::Field(std::string_view k, double v)
    : key(k), value(fmt::format("{}", v)), is_string(!std::isfinite(v)) {}  // JSON has no NaN

void init(Level level, Format format) {
  spdlog::sink_ptr sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  install(std::move(sink), level, format);
}

void init_for_test(std::ostream& out, Level level, Format format) {
  install(std::make_shared<spdlog::sinks::ostream_sink_mt>(out, /*force_flush=*/true), level,
          format);
}

Result<Level> parse_level(std::string_view s) {
  if (s == "debug") return Level::kDebug;
  if (s == "info") return Level::kInfo;
  if (s == "warn" || s == "warning") return Level::kWarn;
  if (s == "error") return Level::kError;
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("unknown log level '{}' (want debug, info, warn or error)", s));
}

Result<Format> parse_format(std::string_view s) {
  if (s == "text") return Format::kText;
  if (s == "json") return Format::kJson;
  return make_error(ErrorCode::kInvalidArgument,
                    fmt::format("unknown log format '{}' (want text or json)", s));
}

const char* to_string(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "error";
}

bool enabled(Level level) {
  return level >= g_level.load(std::memory_order_relaxed);
}

void write(Level level, std::string_view msg, Fields fields) {
  if (!enabled(level)) return;
  std::string line = render(level, g_format.load(std::memory_order_relaxed), msg, fields);
  current()->log(to_spdlog(level), spdlog::string_view_t(line.data(), line.size()));
}

}  // namespace gf::log
