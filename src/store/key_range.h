// KeyRange: which keys a read, delete or watch applies to, in etcd v3's (key, range_end) form.
#pragma once

#include <string>
#include <string_view>

namespace gf {

// etcd's encoding, kept as is so an etcd backend passes it through unchanged:
//   range_end empty   -> the one key `key`
//   range_end "\0"    -> every key >= `key` (with key "" that is every key)
//   otherwise         -> the half-open interval [key, range_end)
// Keys are byte strings ordered by unsigned bytewise comparison (memcmp), as in etcd.
struct KeyRange {
  std::string key;
  std::string range_end;

  static KeyRange single(std::string key);
  static KeyRange prefix(std::string prefix);  // prefix "" = every key
  static KeyRange from(std::string key);       // every key >= key
  static KeyRange between(std::string begin, std::string end);

  bool is_single() const { return range_end.empty(); }
  // True when the range has no upper bound.
  bool is_unbounded() const { return range_end.size() == 1 && range_end[0] == '\0'; }
  bool contains(std::string_view k) const;

  // The exclusive upper bound as a key: key + "\0" for a single key (its immediate successor);
  // meaningless when is_unbounded().
  std::string end_key() const;

  bool operator==(const KeyRange&) const = default;
};

// The smallest key greater than every key starting with `prefix` (etcd's GetPrefixRangeEnd):
// "a/" -> "a0", "a\xff" -> "b". "\0" (no upper bound) when the prefix is empty or all 0xff bytes.
std::string prefix_end(std::string_view prefix);

}  // namespace gf
