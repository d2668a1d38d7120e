#include "admission/api_key.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <cstdlib>

namespace gf {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// OR-accumulates the XOR of every byte pair, so the loop runs the same number of iterations and
// the same instructions whatever the contents. `volatile` keeps the compiler from turning the
// loop back into an early-exit memcmp.
bool bytes_equal(const uint8_t* a, const uint8_t* b, size_t n) {
  volatile uint8_t diff = 0;
  for (size_t i = 0; i < n; ++i)
    diff = diff | static_cast<uint8_t>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

KeyDigest digest_api_key(std::string_view key) {
  KeyDigest out{};
  unsigned int len = 0;
  // EVP_Digest rather than the deprecated SHA256_* calls. It cannot fail for SHA-256 short of
  // memory exhaustion inside OpenSSL, which we treat as fatal like any other allocation failure.
  const int ok = EVP_Digest(key.data(), key.size(), out.data(), &len, EVP_sha256(), nullptr);
  if (ok != 1 || len != out.size()) std::abort();
  return out;
}

std::string hash_api_key(std::string_view key) {
  static constexpr char kHex[] = "0123456789abcdef";
  const KeyDigest d = digest_api_key(key);
  std::string out(kApiKeyHashPrefix);
  out.reserve(kApiKeyHashPrefix.size() + 2 * d.size());
  for (uint8_t b : d) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 0xF]);
  }
  return out;
}

Result<KeyDigest> parse_api_key_hash(std::string_view text) {
  if (text.substr(0, kApiKeyHashPrefix.size()) != kApiKeyHashPrefix) {
    return make_error(ErrorCode::kInvalidArgument,
                      "API key hash must start with \"sha256:\" (got \"" +
                          std::string(text.substr(0, 16)) + "...\")");
  }
  std::string_view hex = text.substr(kApiKeyHashPrefix.size());
  KeyDigest out{};
  if (hex.size() != 2 * out.size()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "API key hash must have 64 hex digits after \"sha256:\", got " +
                          std::to_string(hex.size()));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        "API key hash has a non-hex character at position " +
                            std::to_string(kApiKeyHashPrefix.size() + 2 * i + (hi < 0 ? 0 : 1)));
    }
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::string replica_api_key(std::string_view token, std::string_view replica) {
  if (token.empty()) return {};
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // One-shot HMAC (not the deprecated HMAC_CTX calls); it cannot fail for SHA-256 short of
  // memory exhaustion.
  const unsigned char* ok =
      HMAC(EVP_sha256(), token.data(), static_cast<int>(token.size()),
           reinterpret_cast<const unsigned char*>(replica.data()), replica.size(), mac, &len);
  if (ok == nullptr) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "gfr-";
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 15];
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Lengths are not secret here (digests have a fixed length), so unequal lengths may return at
  // once; equal lengths always compare every byte.
  if (a.size() != b.size()) return false;
  return bytes_equal(reinterpret_cast<const uint8_t*>(a.data()),
                     reinterpret_cast<const uint8_t*>(b.data()), a.size());
}

bool constant_time_equal(const KeyDigest& a, const KeyDigest& b) {
  return bytes_equal(a.data(), b.data(), a.size());
}

}  // namespace gf
