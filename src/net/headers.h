// Header fields as a flat list in arrival order, a repeated name kept as often as it came. A
// message has a handful: a scan of them costs less than a map's tree walk with a string compare at
// each node, and clear() keeps every string's capacity, so a kept-alive connection parses its
// next message without allocating.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gf::net {

class Headers {
 public:
  using value_type = std::pair<std::string, std::string>;  // name, value
  using iterator = value_type*;
  using const_iterator = const value_type*;

  Headers() = default;
  Headers(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
    for (const auto& [k, v] : fields)
      insert_or_assign(k, v);
  }
  Headers(const Headers& o) { *this = o; }
  Headers& operator=(const Headers& o) {
    if (this == &o) return *this;
    clear();
    for (const auto& [k, v] : o)
      append(k, v);
    return *this;
  }
  Headers(Headers&& o) noexcept : items_(std::move(o.items_)), n_(o.n_) { o.n_ = 0; }
  Headers& operator=(Headers&& o) noexcept {
    items_ = std::move(o.items_);
    n_ = o.n_;
    o.n_ = 0;
    return *this;
  }

  iterator begin() { return items_.data(); }
  iterator end() { return items_.data() + n_; }
  const_iterator begin() const { return items_.data(); }
  const_iterator end() const { return items_.data() + n_; }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  void clear() { n_ = 0; }  // the strings stay, for reuse

  // Exact match: callers and parsers keep names lowercased. A name that came more than once finds
  // its last value, as HTTP reads a repeated singleton field.
  iterator find(std::string_view name) {
    for (auto* it = end(); it != begin();) {
      --it;
      if (it->first == name) return it;
    }
    return end();
  }
  const_iterator find(std::string_view name) const {
    return const_cast<Headers*>(this)->find(name);
  }
  // The value, or "" when absent.
  std::string_view get(std::string_view name) const {
    auto it = find(name);
    return it == end() ? std::string_view() : std::string_view(it->second);
  }

  std::string& operator[](std::string_view name) {
    auto it = find(name);
    return it != end() ? it->second : append(name, {}).second;
  }
  void insert_or_assign(std::string_view name, std::string_view value) {
    (*this)[name].assign(value.data(), value.size());
  }
  // Adds the field unless the name is there already, as std::map::emplace did.
  std::pair<iterator, bool> emplace(std::string_view name, std::string_view value) {
    auto it = find(name);
    if (it != end()) return {it, false};
    append(name, value);
    return {end() - 1, true};
  }
  // Removes every field of this name, keeping the others in order (the removed slots' strings
  // stay for reuse).
  void erase(std::string_view name) {
    size_t kept = 0;
    for (size_t i = 0; i < n_; ++i) {
      if (items_[i].first == name) continue;
      if (kept != i) std::swap(items_[kept], items_[i]);
      ++kept;
    }
    n_ = kept;
  }
  // Adds a field without looking for the name: the slot's strings are reused.
  value_type& append(std::string_view name, std::string_view value) {
    if (n_ == items_.size()) items_.emplace_back();
    value_type& slot = items_[n_++];
    slot.first.assign(name.data(), name.size());
    slot.second.assign(value.data(), value.size());
    return slot;
  }

 private:
  std::vector<value_type> items_;  // the first n_ are in use
  size_t n_ = 0;
};

}  // namespace gf::net
