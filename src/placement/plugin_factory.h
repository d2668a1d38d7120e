// Builds a placement plugin for a registry entry: from the PlacementSpec when the plugin takes
// one (its knobs: capacity hints, tenant quotas), else from nothing.
#pragma once

#include <memory>
#include <type_traits>

#include "common/spec.h"

namespace gf {

template <class Base, class Plugin>
std::unique_ptr<Base> make_plugin(const PlacementSpec& spec) {
  if constexpr (std::is_constructible_v<Plugin, const PlacementSpec&>) {
    return std::make_unique<Plugin>(spec);
  } else {
    return std::make_unique<Plugin>();
  }
}

}  // namespace gf
