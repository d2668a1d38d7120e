#include "fleet/preemption.h"

#include <algorithm>

namespace gf {

const PreemptionInFlight* Preemptions::find(const std::string& replica) const {
  auto it = plans_.find(replica);
  return it == plans_.end() ? nullptr : &it->second;
}

void Preemptions::start(const std::string& replica, PreemptionInFlight plan) {
  plans_[replica] = std::move(plan);
}

std::vector<std::string> Preemptions::settle(
    const std::function<bool(const std::string&)>& waiting,
    const std::function<bool(const PreemptionVictim&)>& holds_gpus) {
  std::vector<std::string> done;
  for (auto it = plans_.begin(); it != plans_.end();) {
    auto& v = it->second.victims;
    v.erase(std::remove_if(v.begin(), v.end(), [&](const auto& x) { return !holds_gpus(x); }),
            v.end());
    const bool still_waiting = waiting(it->first);
    if (v.empty() && still_waiting) done.push_back(it->first);
    if (v.empty() || !still_waiting) {
      it = plans_.erase(it);
    } else {
      ++it;
    }
  }
  return done;
}

Pool Preemptions::after_plans(const Pool& pool, TimePoint now) const {
  Pool p = pool;
  for (const auto& [replica, plan] : plans_) {
    for (const auto& v : plan.victims) {
      (void)p.release(v.allocation, now);
      if (v.slot.valid()) (void)p.release(v.slot, now);
    }
    // Best effort: if the planned GPUs no longer take it (one failed meanwhile), the what-if
    // only frees more than will be, and the replica plans again once its victims are gone.
    (void)p.commit(plan.request, plan.where.node, plan.where.gpus(p), now);
  }
  (void)p.take_events();
  return p;
}

Pool Preemptions::promised(const Pool& pool, TimePoint now) const {
  Pool p = pool;
  for (const auto& [replica, plan] : plans_) {
    // One placeholder per GPU, of the plan's share (a whole GPU, or its memory and compute).
    AllocationRequest hold;
    hold.deployment = plan.request.deployment;
    hold.memory_per_gpu = plan.request.memory_per_gpu;
    hold.compute = plan.request.compute;
    hold.allow_reserved = true;
    hold.topology = TopologyPolicy::kAny;
    hold.priority = plan.request.priority;
    for (GpuIndex g : plan.where.gpus(p))
      (void)p.commit(hold, p.gpu(g).node, {g}, now);  // fails on GPUs still held: they drain
  }
  (void)p.take_events();
  return p;
}

void Preemptions::note_victims(const std::string& deployment, int count, std::string why) {
  Note& n = notes_[deployment];
  n.count += count;
  n.why = std::move(why);
}

std::string Preemptions::note(const std::string& deployment) const {
  auto it = notes_.find(deployment);
  return it == notes_.end() ? "" : it->second.why;
}

void Preemptions::placed(const std::string& deployment) {
  auto it = notes_.find(deployment);
  if (it != notes_.end() && --it->second.count <= 0) notes_.erase(it);
}

void Preemptions::forget_deployment(const std::string& deployment) {
  notes_.erase(deployment);
}

}  // namespace gf
