// Bearer credentials as every gpufleet server reads them: the token of an "Authorization:
// Bearer <token>" value (RFC 6750 2.1; the scheme is case-insensitive, RFC 9110 11.1), and a
// comparison of secrets that says nothing through its timing.
#pragma once

#include <optional>
#include <string_view>

namespace gf {

// The token of one Authorization field value; nullopt for another scheme or an empty token.
// Surrounding spaces and tabs are not part of it.
std::optional<std::string_view> bearer_credential(std::string_view field);

// Whether `guess` is `secret`, comparing every byte without an early exit, so the response time
// says nothing about how much of a guess matched (nor, beyond equal or not, about its length).
// An empty `secret` matches nothing.
bool same_secret(std::string_view guess, std::string_view secret);

}  // namespace gf
