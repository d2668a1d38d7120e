#include "admission/tenant_directory.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace gf {

namespace {

Status check_tenant(const TenantSpec& t) {
  auto bad = [&](std::string what) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("tenant {}: {}", t.name, what));
  };
  if (t.weight < 1) return bad(fmt::format("weight must be >= 1, got {}", t.weight));
  if (t.requests_per_second && !(*t.requests_per_second > 0)) {
    return bad(fmt::format("requestsPerSecond must be > 0, got {}", *t.requests_per_second));
  }
  if (t.tokens_per_minute && t.tokens_per_minute->value <= 0) {
    return bad(fmt::format("tokensPerMinute must be > 0, got {}", t.tokens_per_minute->value));
  }
  if (t.max_concurrency && *t.max_concurrency < 1) {
    return bad(fmt::format("maxConcurrency must be >= 1, got {}", *t.max_concurrency));
  }
  return {};
}

}  // namespace

Result<TenantDirectory> TenantDirectory::create(std::vector<TenantSpec> tenants,
                                                TenantDirectoryOptions options) {
  TenantDirectory dir;
  std::set<std::string, std::less<>> names;
  for (size_t i = 0; i < tenants.size(); ++i) {
    const TenantSpec& t = tenants[i];
    if (t.name.empty()) {
      return make_error(ErrorCode::kInvalidArgument, fmt::format("tenant #{} has no name", i));
    }
    if (!names.insert(t.name).second) {
      return make_error(ErrorCode::kAlreadyExists,
                        fmt::format("tenant {} is defined twice", t.name));
    }
    if (Status s = check_tenant(t); !s.ok()) return s.error();
    for (size_t k = 0; k < t.api_key_hashes.size(); ++k) {
      auto digest = parse_api_key_hash(t.api_key_hashes[k]);
      if (!digest.ok()) {
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("tenant {}: apiKeyHashes[{}]: {}", t.name, k, digest.error().message));
      }
      for (const KeyEntry& e : dir.keys_) {
        if (e.digest == *digest) {
          return make_error(ErrorCode::kAlreadyExists,
                            fmt::format("tenant {}: apiKeyHashes[{}] is also a key of tenant {}",
                                        t.name, k, tenants[e.tenant].name));
        }
      }
      dir.keys_.push_back(KeyEntry{*digest, i});
    }
  }
  if (tenants.empty() && options.anonymous) {
    if (Status s = check_tenant(*options.anonymous); !s.ok()) return s.error();
    if (options.anonymous->name.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "the anonymous tenant needs a name");
    }
    options.anonymous->api_key_hashes.clear();  // it is chosen without a key
    tenants.push_back(std::move(*options.anonymous));
    dir.open_mode_ = true;
  }
  dir.tenants_ = std::move(tenants);
  return dir;
}

Result<const TenantSpec*> TenantDirectory::authenticate(std::optional<std::string_view> key) const {
  if (open_mode_) return &tenants_.front();
  if (!key || key->empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "missing API key: send the header \"Authorization: Bearer <key>\"");
  }
  // The presented key is hashed first and only digests are compared. An early-exit compare leaks
  // how many leading bytes match; with digests that is the length of the common prefix of
  // SHA-256(guess) and a stored digest, which an attacker cannot steer without finding SHA-256
  // preimages for chosen prefixes, and which says nothing about the key itself. So hashing
  // already removes most of the timing leak; the constant-time compare, and scanning every
  // stored digest without stopping at a match, remove what is left at negligible cost.
  const KeyDigest presented = digest_api_key(*key);
  size_t found = tenants_.size();
  for (const KeyEntry& e : keys_) {
    if (constant_time_equal(presented, e.digest)) found = e.tenant;
  }
  if (found == tenants_.size()) {
    return make_error(ErrorCode::kNotFound, "invalid API key");
  }
  return &tenants_[found];
}

const TenantSpec* TenantDirectory::find(std::string_view name) const {
  for (const TenantSpec& t : tenants_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

bool tenant_allows_model(const TenantSpec& tenant, std::string_view model) {
  if (tenant.models.empty()) return true;
  return std::find(tenant.models.begin(), tenant.models.end(), model) != tenant.models.end();
}

}  // namespace gf
