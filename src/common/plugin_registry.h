// A table of named factories for one extension point (placement filters, placement scores,
// routing policies, later autoscaling policies): lookup by name, and an error that lists every
// known name when a user writes one that is not there.
#pragma once

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace gf {

// "unknown routing policy \"foo\"; known: round-robin, least-outstanding". Shared with the
// manifest reader, so a name is rejected in the same words wherever it was written.
std::string unknown_name_message(std::string_view what, std::string_view name,
                                 std::span<const std::string> known);

// One extension point's registrations, in documentation order. `Factory` is whatever the point
// needs to build a plugin: usually a function pointer, or a small struct holding one plus facts
// about the plugin (placement marks its hard-rule filters that way).
//
// Registrations are one list in one .cc file per extension point, built on first use, rather than
// self-registering statics in each plugin's file: the linker drops an object file of a static
// library that nothing references, so a self-registered plugin could silently vanish.
template <class Factory>
class PluginRegistry {
 public:
  struct Entry {
    std::string_view name;
    Factory factory;
  };

  // `what` names the extension point in errors: "routing policy", "placement filter".
  PluginRegistry(std::string_view what, std::initializer_list<Entry> entries)
      : what_(what), entries_(entries) {
    for (const Entry& e : entries_)
      names_.emplace_back(e.name);
  }

  std::string_view what() const { return what_; }

  // Every registered name, in registration order.
  const std::vector<std::string>& names() const { return names_; }

  // The factory registered as `name`, or nullptr.
  const Factory* find(std::string_view name) const {
    for (const Entry& e : entries_) {
      if (e.name == name) return &e.factory;
    }
    return nullptr;
  }

  // The factory registered as `name`, or kInvalidArgument listing every known name.
  Result<const Factory*> lookup(std::string_view name) const {
    if (const Factory* f = find(name)) return f;
    return make_error(ErrorCode::kInvalidArgument, unknown_name_message(what_, name, names_));
  }

 private:
  std::string_view what_;
  std::vector<Entry> entries_;  // a handful per point: a linear scan beats a map
  std::vector<std::string> names_;
};

}  // namespace gf
