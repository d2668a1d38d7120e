#include "common/plugin_registry.h"

namespace gf {

std::string unknown_name_message(std::string_view what, std::string_view name,
                                 std::span<const std::string> known) {
  std::string out = "unknown " + std::string(what) + " \"" + std::string(name) + "\"; known: ";
  for (size_t i = 0; i < known.size(); ++i)
    out += (i == 0 ? "" : ", ") + known[i];
  return out;
}

}  // namespace gf
