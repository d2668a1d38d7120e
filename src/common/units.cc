#include "common/units.h"

#include <fmt/compile.h>
#include <fmt/format.h>

#include <array>
#include <cctype>
#include <limits>

namespace gf {
namespace {

constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();

// A non-negative decimal number split into an integer part and a fraction with up to 9 digits,
// so that scaling by a unit stays in integer arithmetic.
struct Decimal {
  int64_t whole = 0;
  int64_t frac_num = 0;  // fraction = frac_num / frac_den
  int64_t frac_den = 1;
};

// Reads a decimal at the front of `s` and advances it. Fails on no digits or overflow.
bool read_decimal(std::string_view& s, Decimal& out) {
  size_t i = 0;
  bool any = false;
  out = Decimal{};
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    int d = s[i] - '0';
    if (out.whole > (kMaxInt - d) / 10) return false;
    out.whole = out.whole * 10 + d;
    ++i;
    any = true;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      if (out.frac_den < 1'000'000'000) {
        out.frac_num = out.frac_num * 10 + (s[i] - '0');
        out.frac_den *= 10;
      }
      ++i;
      any = true;
    }
  }
  s.remove_prefix(i);
  return any;
}

// whole*mult + frac*mult, rounded down; false on overflow.
bool scale(const Decimal& d, int64_t mult, int64_t& out) {
  if (d.whole != 0 && mult > kMaxInt / d.whole) return false;
  int64_t base = d.whole * mult;
  // frac_num < frac_den <= 1e9; split mult to avoid overflow of frac_num * mult.
  int64_t frac = (mult / d.frac_den) * d.frac_num + (mult % d.frac_den) * d.frac_num / d.frac_den;
  if (base > kMaxInt - frac) return false;
  out = base + frac;
  return true;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return std::string(s);
}

struct Suffix {
  std::string_view name;
  int64_t mult;
};

template <size_t N>
Result<int64_t> parse_with_suffixes(std::string_view raw, const std::array<Suffix, N>& suffixes,
                                    const char* what, const char* examples) {
  std::string text = trim(raw);
  std::string_view s = text;
  auto bad = [&](const std::string& why) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("invalid {} \"{}\": {} (examples: {})", what, raw, why, examples));
  };
  if (s.empty()) return bad("empty");
  if (s.front() == '-') return bad("must not be negative");
  Decimal d;
  if (!read_decimal(s, d)) return bad("expected a number");
  for (const auto& suf : suffixes) {
    if (s == suf.name) {
      int64_t v = 0;
      if (!scale(d, suf.mult, v)) return bad("too large");
      return v;
    }
  }
  return bad(fmt::format("unknown unit \"{}\"", s));
}

}  // namespace

Result<Bytes> parse_bytes(std::string_view text) {
  static constexpr std::array<Suffix, 15> kSuffixes{{
      {"", 1},
      {"B", 1},
      {"Ki", 1LL << 10},
      {"KiB", 1LL << 10},
      {"Mi", 1LL << 20},
      {"MiB", 1LL << 20},
      {"Gi", 1LL << 30},
      {"GiB", 1LL << 30},
      {"Ti", 1LL << 40},
      {"TiB", 1LL << 40},
      {"kB", 1'000},
      {"KB", 1'000},
      {"MB", 1'000'000},
      {"GB", 1'000'000'000},
      {"TB", 1'000'000'000'000},
  }};
  auto r = parse_with_suffixes(text, kSuffixes, "memory size", "80GiB, 512MiB, 1.5GiB, 80GB");
  if (!r) return r.error();
  return Bytes(*r);
}

Result<Duration> parse_duration(std::string_view raw) {
  static constexpr std::array<Suffix, 7> kUnits{{
      {"ns", 1},
      {"us", 1'000},
      {"µs", 1'000},
      {"ms", 1'000'000},
      {"s", 1'000'000'000},
      {"m", 60'000'000'000},
      {"h", 3'600'000'000'000},
  }};
  std::string text = trim(raw);
  std::string_view s = text;
  auto bad = [&](const std::string& why) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("invalid duration \"{}\": {} (examples: 500ms, 2m, 1.5s, 1h30m)", raw, why));
  };
  if (s.empty()) return bad("empty");
  if (s.front() == '-') return bad("must not be negative");
  int64_t total = 0;
  while (!s.empty()) {
    Decimal d;
    if (!read_decimal(s, d)) return bad("expected a number");
    size_t n = 0;
    while (n < s.size() && !std::isdigit(static_cast<unsigned char>(s[n])) && s[n] != '.')
      ++n;
    std::string_view unit = s.substr(0, n);
    s.remove_prefix(n);
    if (unit.empty()) return bad("missing unit (ns, us, ms, s, m, h)");
    const Suffix* found = nullptr;
    for (const auto& u : kUnits) {
      if (u.name == unit) found = &u;
    }
    if (found == nullptr) return bad(fmt::format("unknown unit \"{}\"", unit));
    int64_t v = 0;
    if (!scale(d, found->mult, v) || total > kMaxInt - v) return bad("too large");
    total += v;
  }
  return Duration(total);
}

Result<Tokens> parse_tokens(std::string_view text) {
  static constexpr std::array<Suffix, 5> kSuffixes{{
      {"", 1},
      {"k", 1'000},
      {"Ki", 1'024},
      {"M", 1'000'000},
      {"Mi", 1LL << 20},
  }};
  auto r = parse_with_suffixes(text, kSuffixes, "token count", "4096, 4k, 8Ki");
  if (!r) return r.error();
  return Tokens(*r);
}

Result<MilliGpu> parse_milli_gpu(std::string_view text) {
  static constexpr std::array<Suffix, 2> kSuffixes{{{"", 1000}, {"m", 1}}};
  auto r = parse_with_suffixes(text, kSuffixes, "GPU share", "1, 0.25, 250m");
  if (!r) return r.error();
  return MilliGpu(*r);
}

std::string format_bytes(Bytes b) {
  static constexpr std::array<std::pair<int64_t, const char*>, 4> kUnits{
      {{1LL << 40, "TiB"}, {1LL << 30, "GiB"}, {1LL << 20, "MiB"}, {1LL << 10, "KiB"}}};
  for (auto [mult, name] : kUnits) {
    if (b.value >= mult && b.value % mult == 0) return fmt::format("{}{}", b.value / mult, name);
  }
  for (auto [mult, name] : kUnits) {
    if (b.value >= mult)
      return fmt::format("{:.1f}{}", static_cast<double>(b.value) / static_cast<double>(mult),
                         name);
  }
  return fmt::format("{}B", b.value);
}

std::string format_mib(MiB m) {
  return format_bytes(to_bytes(m));
}

std::string format_duration(Duration d) {
  int64_t ns = d.count();
  if (ns % 3'600'000'000'000 == 0 && ns != 0)
    return fmt::format(FMT_COMPILE("{}h"), ns / 3'600'000'000'000);
  if (ns % 60'000'000'000 == 0 && ns != 0)
    return fmt::format(FMT_COMPILE("{}m"), ns / 60'000'000'000);
  if (ns >= 1'000'000'000) return fmt::format(FMT_COMPILE("{:g}s"), static_cast<double>(ns) / 1e9);
  if (ns >= 1'000'000) return fmt::format(FMT_COMPILE("{:g}ms"), static_cast<double>(ns) / 1e6);
  if (ns >= 1'000) return fmt::format(FMT_COMPILE("{:g}us"), static_cast<double>(ns) / 1e3);
  return fmt::format(FMT_COMPILE("{}ns"), ns);
}

std::string format_milli_gpu(MilliGpu g) {
  if (g.value % 1000 == 0) return fmt::format("{} GPU", g.value / 1000);
  return fmt::format("{:g} GPU", static_cast<double>(g.value) / 1000.0);
}

}  // namespace gf
