// TenantDirectory: who is calling. Finds the tenant of a presented API key by its SHA-256 digest,
// checks which models a tenant may use, and supplies an anonymous tenant in open mode.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admission/api_key.h"
#include "common/result.h"
#include "common/spec.h"

namespace gf {

struct TenantDirectoryOptions {
  // Open mode: with no tenants configured, every request (with any key or none) belongs to this
  // tenant, so `gpufleet up` serves requests before anyone writes a Tenant manifest. nullopt
  // turns open mode off: with no tenants, every request is refused.
  std::optional<TenantSpec> anonymous = TenantSpec{.name = "anonymous"};
};

class TenantDirectory {
 public:
  // Checks the specs: unique non-empty names, weight >= 1, well-formed key hashes, no key hash
  // shared by two tenants, positive limits. Errors name the tenant and the field.
  static Result<TenantDirectory> create(std::vector<TenantSpec> tenants,
                                        TenantDirectoryOptions options = {});

  // The tenant a presented key belongs to (the key itself, not its hash; nullopt when the
  // request carried none). Any error means HTTP 401: kInvalidArgument when a key was required
  // but missing, kNotFound when the key matches no tenant. The pointer lives as long as the
  // directory.
  Result<const TenantSpec*> authenticate(std::optional<std::string_view> key) const;

  // By name (for the admission controller and the API); nullptr when unknown.
  const TenantSpec* find(std::string_view name) const;

  // Every tenant, including the anonymous one in open mode.
  const std::vector<TenantSpec>& tenants() const { return tenants_; }
  bool open_mode() const { return open_mode_; }

 private:
  struct KeyEntry {
    KeyDigest digest;
    size_t tenant = 0;  // index into tenants_
  };

  std::vector<TenantSpec> tenants_;
  std::vector<KeyEntry> keys_;
  bool open_mode_ = false;
};

// May the tenant send requests to `model`? An empty model list means every model.
bool tenant_allows_model(const TenantSpec& tenant, std::string_view model);

}  // namespace gf
