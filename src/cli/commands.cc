#include "cli/commands.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <set>

#include "autoscale/policy_registry.h"
#include "cli/table.h"
#include "common/clock.h"
#include "common/io/log.h"
#include "placement/batch.h"
#include "placement/placement_names.h"
#include "pool/summary.h"
#include "routing/policy_registry.h"

namespace gf {
namespace {

template <class T>
bool unique_names(const std::vector<T>& items, const char* kind, std::ostream& err) {
  std::set<std::string> seen;
  bool ok = true;
  for (const auto& i : items) {
    if (!seen.insert(i.name).second) {
      err << fmt::format("error: {} \"{}\" is defined more than once across the given files\n",
                         kind, i.name);
      ok = false;
    }
  }
  return ok;
}

std::string gpu_list(const Pool& pool, const Allocation& a) {
  std::string s;
  for (GpuIndex gi : a.gpus)
    s += (s.empty() ? "" : ",") + std::to_string(pool.gpu(gi).local_index);
  return s + " (" + pool.model_name(pool.gpu(a.gpus[0]).model) + ")";
}

std::string share(const Allocation& a) {
  if (!a.request.fractional()) return format_milli_gpu(kWholeGpu * a.request.gpus);
  return fmt::format("{}, {}", format_mib(a.memory_per_gpu), format_milli_gpu(a.compute_per_gpu));
}

const char* status_of(ErrorCode c) {
  switch (c) {
    case ErrorCode::kInfeasible:
      return "Infeasible";
    case ErrorCode::kUnschedulable:
      return "Unschedulable";
    default:
      return to_string(c);
  }
}

nlohmann::json totals_json(const CapacityTotals& t) {
  return {{"gpus", t.gpus},
          {"allocated", t.allocated},
          {"reserved", t.reserved},
          {"idle", t.idle},
          {"unavailable", t.unavailable},
          {"cordoned", t.cordoned},
          {"memoryTotalMiB", t.memory_total.value},
          {"memoryCommittedMiB", t.memory_committed.value},
          {"fragmentation", t.fragmentation}};
}

std::vector<std::string> totals_row(const std::string& name, const CapacityTotals& t) {
  return {name,
          std::to_string(t.gpus),
          std::to_string(t.allocated),
          std::to_string(t.idle),
          std::to_string(t.unavailable),
          std::to_string(t.cordoned),
          format_mib(t.memory_committed) + " / " + format_mib(t.memory_total),
          fmt::format("{:.2f}", t.fragmentation)};
}

}  // namespace

bool load_all(const std::vector<std::string>& files, Manifests& out, std::ostream& err) {
  bool ok = true;
  for (const auto& f : files) {
    ParsedManifests p =
        load_manifest_file(f, {placement_names(), policy_names(), scaling_policy_names()});
    for (const auto& d : p.diagnostics)
      err << "error: " << d.format() << '\n';
    ok = ok && p.ok();
    auto append = [](auto& to, auto& from) { to.insert(to.end(), from.begin(), from.end()); };
    append(out.clusters, p.manifests.clusters);
    append(out.deployments, p.manifests.deployments);
    append(out.tenants, p.manifests.tenants);
  }
  ok = unique_names(out.clusters, "Cluster", err) && ok;
  ok = unique_names(out.deployments, "Deployment", err) && ok;
  ok = unique_names(out.tenants, "Tenant", err) && ok;
  return ok;
}

int cmd_validate(const std::vector<std::string>& files, std::ostream& out, std::ostream& err) {
  Manifests m;
  if (!load_all(files, m, err)) return 1;
  out << fmt::format("valid: {} Cluster(s), {} Deployment(s), {} Tenant(s) in {} file(s)\n",
                     m.clusters.size(), m.deployments.size(), m.tenants.size(), files.size());
  return 0;
}

int cmd_pool(const std::vector<std::string>& files, const std::string& output, std::ostream& out,
             std::ostream& err) {
  Manifests m;
  if (!load_all(files, m, err)) return 1;
  if (m.clusters.size() != 1) {
    err << fmt::format("error: expected exactly one Cluster manifest, found {}\n",
                       m.clusters.size());
    return 1;
  }
  ClusterSpec& cluster = m.clusters[0];
  for (const auto& t : m.tenants) {
    if (t.gpu_quota) cluster.placement.tenant_quotas[t.name] = *t.gpu_quota;
  }
  ManualClock clock;
  auto pool =
      Pool::from_spec(cluster, clock.now(), PoolOptions{cluster.placement.max_shares_per_gpu});
  if (!pool) {
    err << "error: " << pool.error().message << '\n';
    return 1;
  }
  auto scheduler = Scheduler::create(cluster.placement);
  if (!scheduler) {
    err << "error: " << scheduler.error().message << '\n';
    return 1;
  }
  std::vector<ReplicaOutcome> outcomes =
      place_deployments(*pool, *scheduler, m.deployments, clock.now());
  // The pool records what happened; this shell decides that it goes to the log.
  for (const PoolEvent& e : pool->take_events()) {
    log::debug("pool event", {{"kind", to_string(e.kind)},
                              {"subject", e.subject},
                              {"from", e.from},
                              {"to", e.to},
                              {"reason", e.reason}});
  }
  PoolSummary summary = summarize(*pool);

  if (output == "json") {
    nlohmann::json j;
    j["cluster"] = cluster.name;
    j["placements"] = nlohmann::json::array();
    j["pending"] = nlohmann::json::array();
    for (const auto& o : outcomes) {
      if (o.allocation) {
        const Allocation& a = *pool->allocation(*o.allocation);
        nlohmann::json gpus = nlohmann::json::array();
        for (GpuIndex gi : a.gpus)
          gpus.push_back(pool->gpu(gi).uuid);
        j["placements"].push_back({{"deployment", o.deployment},
                                   {"replica", o.replica},
                                   {"reservation", o.reservation},
                                   {"allocation", to_string(a.id)},
                                   {"node", pool->node(a.node).name},
                                   {"gpus", gpus},
                                   {"memoryPerGpuMiB", a.memory_per_gpu.value},
                                   {"computePerGpuMilli", a.compute_per_gpu.value}});
      } else {
        j["pending"].push_back({{"deployment", o.deployment},
                                {"replica", o.replica},
                                {"reservation", o.reservation},
                                {"status", status_of(o.code)},
                                {"reason", o.reason},
                                {"preemptionVictims", o.preemption_victims}});
      }
    }
    j["summary"]["total"] = totals_json(summary.total);
    for (const auto& [k, t] : summary.by_node)
      j["summary"]["nodes"][k] = totals_json(t);
    for (const auto& [k, t] : summary.by_model)
      j["summary"]["models"][k] = totals_json(t);
    out << j.dump(2) << '\n';
    return 0;
  }

  out << fmt::format("Cluster {}: {} nodes, {} GPUs; {} deployments\n\n", cluster.name,
                     pool->node_count(), pool->gpu_count(), m.deployments.size());
  Table placed({"DEPLOYMENT", "REPLICA", "NODE", "GPUS", "SHARE", "ALLOCATION"});
  Table pending({"DEPLOYMENT", "REPLICA", "STATUS", "REASON"});
  for (const auto& o : outcomes) {
    std::string replica =
        o.reservation ? fmt::format("reserved-{}", o.replica) : std::to_string(o.replica);
    if (o.allocation) {
      const Allocation& a = *pool->allocation(*o.allocation);
      placed.add({o.deployment, replica, pool->node(a.node).name, gpu_list(*pool, a), share(a),
                  to_string(a.id)});
    } else {
      std::string reason = o.reason;
      if (o.preemption_victims > 0)
        reason += fmt::format(" (preempting {} lower-priority replica(s) would make room)",
                              o.preemption_victims);
      pending.add({o.deployment, replica, status_of(o.code), reason});
    }
  }
  out << "PLACED\n";
  placed.print(out);
  out << "\nPENDING\n";
  if (pending.size() == 0) {
    out << "(none)\n";
  } else {
    pending.print(out);
  }
  out << "\nALLOCATION SUMMARY\n";
  Table sum({"SCOPE", "GPUS", "ALLOCATED", "IDLE", "UNAVAILABLE", "CORDONED", "MEMORY COMMITTED",
             "FRAGMENTATION"});
  for (const auto& [k, t] : summary.by_node)
    sum.add(totals_row("node " + k, t));
  for (const auto& [k, t] : summary.by_model)
    sum.add(totals_row("model " + k, t));
  sum.add(totals_row("total", summary.total));
  sum.print(out);
  return 0;
}

}  // namespace gf
