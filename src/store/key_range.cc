#include "store/key_range.h"

namespace gf {

KeyRange KeyRange::single(std::string key) {
  return KeyRange{std::move(key), std::string()};
}

KeyRange KeyRange::prefix(std::string prefix) {
  std::string end = prefix_end(prefix);
  return KeyRange{std::move(prefix), std::move(end)};
}

KeyRange KeyRange::from(std::string key) {
  return KeyRange{std::move(key), std::string(1, '\0')};
}

KeyRange KeyRange::between(std::string begin, std::string end) {
  return KeyRange{std::move(begin), std::move(end)};
}

bool KeyRange::contains(std::string_view k) const {
  if (is_single()) return k == key;
  if (k < std::string_view(key)) return false;
  return is_unbounded() || k < std::string_view(range_end);
}

std::string KeyRange::end_key() const {
  if (is_single()) return key + std::string(1, '\0');
  return range_end;
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

}  // namespace gf
