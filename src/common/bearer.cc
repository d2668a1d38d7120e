#include "common/bearer.h"

namespace gf {

std::optional<std::string_view> bearer_credential(std::string_view field) {
  constexpr std::string_view kScheme = "bearer";
  if (field.size() <= kScheme.size()) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    char c = field[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kScheme[i]) return std::nullopt;
  }
  std::string_view rest = field.substr(kScheme.size());
  if (rest.front() != ' ' && rest.front() != '\t') return std::nullopt;  // "Bearerx"
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t'))
    rest.remove_prefix(1);
  while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t'))
    rest.remove_suffix(1);
  if (rest.empty()) return std::nullopt;
  return rest;
}

bool same_secret(std::string_view guess, std::string_view secret) {
  unsigned char diff = guess.size() == secret.size() ? 0 : 1;
  for (size_t i = 0; i < guess.size(); ++i)
    diff |= static_cast<unsigned char>(guess[i] ^ secret[i % (secret.empty() ? 1 : secret.size())]);
  return diff == 0 && !secret.empty();
}

}  // namespace gf
