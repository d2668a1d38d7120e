// The tenant-quota filter: a tenant's deployments may hold at most its gpuQuota of GPU compute
// (Tenant manifests' spec.gpuQuota, in PlacementSpec::tenant_quotas). Optional: leave
// "tenant-quota" out of spec.placement.filters and quotas are not enforced.
#pragma once

#include <map>
#include <string>

#include "placement/plugin.h"

namespace gf {

// Judges the whole request, before any GPU: what the tenant holds (Pool::tenant_usage) plus what
// the request asks must stay within the quota. Requests without a tenant, or of a tenant without
// a quota, pass. Rejects with kInfeasible when the request alone is over the quota (nothing
// could help), else kUnschedulable (releasing the tenant's own replicas would):
// `tenant "t" is over its GPU quota: holds 2 GPU, asks 2 GPU, quota 2 GPU`.
class TenantQuotaFilter final : public RequestFilter {
 public:
  explicit TenantQuotaFilter(const PlacementSpec& spec) : quotas_(spec.tenant_quotas) {}
  std::string_view name() const override { return "tenant-quota"; }
  Status admit(const PlacementContext& ctx) const override;

 private:
  std::map<std::string, MilliGpu> quotas_;
};

}  // namespace gf
