#include "placement/tenant_quota_filter.h"

#include <fmt/format.h>

namespace gf {

Status TenantQuotaFilter::admit(const PlacementContext& ctx) const {
  const AllocationRequest& r = ctx.request;
  if (r.tenant.empty()) return {};
  auto it = quotas_.find(r.tenant);
  if (it == quotas_.end()) return {};
  // A share's compute is known only per GPU; bound it by what it asks for, or a whole GPU.
  MilliGpu need = r.fractional() ? r.compute.value_or(kWholeGpu) : kWholeGpu * r.gpus;
  MilliGpu used = ctx.pool.tenant_usage(r.tenant);
  if (used + need <= it->second) return {};
  return make_error(
      need > it->second ? ErrorCode::kInfeasible : ErrorCode::kUnschedulable,
      fmt::format("tenant \"{}\" is over its GPU quota: holds {}, asks {}, quota {}", r.tenant,
                  format_milli_gpu(used), format_milli_gpu(need), format_milli_gpu(it->second)));
}

}  // namespace gf
