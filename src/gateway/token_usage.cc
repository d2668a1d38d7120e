#include "gateway/token_usage.h"

#include <simdjson.h>

#include <charconv>
#include <cstring>

namespace gf {

namespace {

// A data line longer than this is not a token chunk (they are ~200 bytes); its usage is lost.
constexpr size_t kMaxLine = 64 << 10;

std::optional<TokenUsage> usage_of(simdjson::dom::element doc) {
  simdjson::dom::object u;
  if (doc["usage"].get_object().get(u)) return std::nullopt;
  TokenUsage out;
  int64_t v = 0;
  if (!u["completion_tokens"].get_int64().get(v)) {
    out.completion_tokens = v;
    out.reported = true;
  }
  if (!u["prompt_tokens"].get_int64().get(v)) out.prompt_tokens = v;
  if (!out.reported && !out.prompt_tokens) return std::nullopt;
  return out;
}

std::optional<TokenUsage> parse_json_usage(std::string_view json) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc)) return std::nullopt;
  return usage_of(doc);
}

// True when `field` ("content" or "text") holds a non-empty string somewhere in the chunk.
bool has_text(std::string_view chunk, std::string_view field) {
  for (size_t at = chunk.find(field); at != std::string_view::npos;
       at = chunk.find(field, at + 1)) {
    size_t i = at + field.size();
    while (i < chunk.size() && chunk[i] == ' ')
      ++i;
    if (i + 1 < chunk.size() && chunk[i] == '"' && chunk[i + 1] != '"') return true;
  }
  return false;
}

// Where a quoted key (`key` starts with '"') occurs in `s`. Searching by the key's first byte
// would stop at every quote, the commonest byte in JSON, so these search (memchr, memrchr) for the
// byte after it and then check the quote; string_view::rfind would compare at every position.
size_t find_key(std::string_view s, std::string_view key) {
  const std::string_view rest = key.substr(1);
  for (size_t at = s.find(rest, 1); at != std::string_view::npos; at = s.find(rest, at + 1))
    if (s[at - 1] == '"') return at - 1;
  return std::string_view::npos;
}

size_t rfind_key(std::string_view s, std::string_view key) {
  const std::string_view rest = key.substr(1);
  for (size_t end = s.size(); end > 0;) {
    const void* p = memrchr(s.data(), rest.front(), end);
    if (p == nullptr) break;
    const size_t at = static_cast<size_t>(static_cast<const char*>(p) - s.data());
    if (at > 0 && s[at - 1] == '"' && s.substr(at, rest.size()) == rest) return at - 1;
    end = at;
  }
  return std::string_view::npos;
}

// The number after the first `"key":` in `body`, if any.
std::optional<int64_t> number_after(std::string_view body, std::string_view key) {
  size_t at = find_key(body, key);
  if (at == std::string_view::npos) return std::nullopt;
  const char* p = body.data() + at + key.size();
  const char* end = body.data() + body.size();
  while (p < end && *p == ' ')
    ++p;
  int64_t v = 0;
  auto [q, ec] = std::from_chars(p, end, v);
  if (ec != std::errc() || q == p) return std::nullopt;
  return v;
}

}  // namespace

std::optional<TokenUsage> parse_usage(std::string_view body) {
  // On the hot path for every non-streamed response: scan for the usage keys instead of parsing
  // the whole body (a full parse was 5% of the gateway's instructions per request). Inside a JSON
  // string a quote is escaped, so `"completion_tokens":` can only be a key; the usage object comes
  // last in OpenAI-shaped bodies, hence the last `"usage"` and the first keys after it. Bodies
  // without them get a real parse.
  size_t u = rfind_key(body, "\"usage\"");
  if (u == std::string_view::npos) return std::nullopt;
  std::string_view tail = body.substr(u);
  TokenUsage out;
  if (auto c = number_after(tail, "\"completion_tokens\":")) {
    out.completion_tokens = *c;
    out.reported = true;
  }
  out.prompt_tokens = number_after(tail, "\"prompt_tokens\":");
  if (out.reported || out.prompt_tokens) return out;
  return parse_json_usage(body);
}

void StreamTokenCounter::feed(std::string_view piece) {
  while (!piece.empty()) {
    size_t nl = piece.find('\n');
    if (nl == std::string_view::npos) {
      if (!skipping_ && partial_.size() + piece.size() <= kMaxLine) {
        partial_.append(piece);
      } else {
        partial_.clear();
        skipping_ = true;
      }
      return;
    }
    std::string_view head = piece.substr(0, nl);
    piece.remove_prefix(nl + 1);
    if (skipping_) {
      skipping_ = false;
      continue;
    }
    if (partial_.empty()) {
      line(head);
    } else {
      partial_.append(head);
      line(partial_);
      partial_.clear();
    }
  }
}

void StreamTokenCounter::line(std::string_view l) {
  if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
  if (l.substr(0, 5) != "data:") return;
  l.remove_prefix(5);
  if (!l.empty() && l.front() == ' ') l.remove_prefix(1);
  if (l == "[DONE]") return;
  if (l.find("\"usage\"") != std::string_view::npos) {
    if (auto u = parse_json_usage(l)) {
      reported_ = *u;
      return;
    }
  }
  if (has_text(l, "\"content\":") || has_text(l, "\"text\":")) ++counted_;
}

TokenUsage StreamTokenCounter::usage() const {
  if (reported_ && reported_->reported) return *reported_;
  TokenUsage out;
  out.completion_tokens = counted_;
  if (reported_) out.prompt_tokens = reported_->prompt_tokens;
  return out;
}

}  // namespace gf
