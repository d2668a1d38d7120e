// API keys: parsing the bearer key a client presents, hashing it to the "sha256:<hex>" form that
// Tenant manifests store, and comparing digests in constant time. Keys are never kept in clear.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace gf {

// A raw SHA-256 digest.
using KeyDigest = std::array<uint8_t, 32>;

inline constexpr std::string_view kApiKeyHashPrefix = "sha256:";

// SHA-256 of the key's bytes.
KeyDigest digest_api_key(std::string_view key);

// "sha256:" + 64 lowercase hex digits: what `gpufleet` prints for an operator to paste into a
// Tenant manifest's apiKeyHashes.
std::string hash_api_key(std::string_view key);

// Parses "sha256:<64 hex>" (hex in either case) into the raw digest.
Result<KeyDigest> parse_api_key_hash(std::string_view text);

// The secret a replica's engine takes requests with (vLLM's --api-key): "gfr-" + the HMAC-SHA256
// of the replica id under the controller's admin token, in hex. Derived, not stored: the
// controller hands it to the replica's agent (in its assignment) and to gateways that read the
// routing table with the token, and a restarted controller derives the same one for engines
// still running. Empty when `token` is: an open controller runs open engines.
std::string replica_api_key(std::string_view token, std::string_view replica);

// Equal lengths and equal bytes, in time that depends only on the lengths: every byte is
// compared, with no early exit at the first difference.
bool constant_time_equal(std::string_view a, std::string_view b);
bool constant_time_equal(const KeyDigest& a, const KeyDigest& b);

}  // namespace gf
