#include "gpu/fake_provider.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/gpu_catalog.h"
#include "common/io/manifest.h"

namespace gf {

namespace {

const Clock& default_clock() {
  static const RealClock clock;
  return clock;
}

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

struct ActionName {
  FaultCommand::Action action;
  const char* name;
};
constexpr ActionName kActions[] = {
    {FaultCommand::Action::kSetLoad, "set-load"},
    {FaultCommand::Action::kSetMemoryUsed, "set-memory-used"},
    {FaultCommand::Action::kSetTemperature, "set-temperature"},
    {FaultCommand::Action::kClearTemperature, "clear-temperature"},
    {FaultCommand::Action::kRaiseXid, "raise-xid"},
    {FaultCommand::Action::kAddEccDoubleBit, "add-ecc"},
    {FaultCommand::Action::kFail, "fail"},
    {FaultCommand::Action::kRemove, "remove"},
    {FaultCommand::Action::kRestore, "restore"},
};

std::string action_list() {
  std::string out;
  for (const auto& a : kActions) {
    if (!out.empty()) out += ", ";
    out += a.name;
  }
  return out;
}

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

const char* to_string(FaultCommand::Action a) {
  for (const auto& x : kActions)
    if (x.action == a) return x.name;
  return "unknown";
}

Result<FaultCommand> parse_fault_command(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid("fault command: the body is not valid JSON");
  if (!j.is_object()) return invalid("fault command: expected a JSON object");
  for (const auto& [key, _] : j.items()) {
    if (key != "gpu" && key != "action" && key != "value")
      return invalid(fmt::format(
          "fault command: unknown field \"{}\" (expected one of: gpu, action, value)", key));
  }
  FaultCommand c;
  if (!j.contains("gpu")) return invalid("fault command: \"gpu\" is required (a UUID or index)");
  const auto& gpu = j["gpu"];
  if (gpu.is_string()) {
    c.gpu = gpu.get<std::string>();
  } else if (gpu.is_number_unsigned()) {
    c.gpu = std::to_string(gpu.get<uint64_t>());
  } else {
    return invalid("fault command: \"gpu\" must be a UUID string or a non-negative index");
  }
  if (!j.contains("action") || !j["action"].is_string())
    return invalid(fmt::format("fault command: \"action\" is required, one of: {}", action_list()));
  std::string action = j["action"].get<std::string>();
  std::replace(action.begin(), action.end(), '_', '-');
  bool known = false;
  for (const auto& a : kActions) {
    if (action == a.name) {
      c.action = a.action;
      known = true;
    }
  }
  if (!known)
    return invalid(fmt::format("fault command: unknown action \"{}\" (expected one of: {})",
                               j["action"].get<std::string>(), action_list()));

  using A = FaultCommand::Action;
  bool has_value = j.contains("value") && !j["value"].is_null();
  const nlohmann::json* v = has_value ? &j["value"] : nullptr;
  switch (c.action) {
    case A::kSetLoad:
    case A::kSetTemperature:
    case A::kRaiseXid:
      if (v == nullptr || !v->is_number())
        return invalid(
            fmt::format("fault command: action {} needs a numeric \"value\"", to_string(c.action)));
      c.value = v->get<double>();
      break;
    case A::kAddEccDoubleBit:
      c.value = 1;
      if (v != nullptr) {
        if (!v->is_number_unsigned())
          return invalid("fault command: add-ecc \"value\" must be a positive integer");
        c.value = static_cast<double>(v->get<uint64_t>());
      }
      break;
    case A::kSetMemoryUsed:
      if (v != nullptr && v->is_string()) {
        auto b = parse_bytes(v->get<std::string>());
        if (!b.ok()) return invalid(fmt::format("fault command: value: {}", b.error().message));
        c.bytes = *b;
      } else if (v != nullptr && v->is_number_unsigned()) {
        c.bytes = Bytes(static_cast<int64_t>(v->get<uint64_t>()));
      } else {
        return invalid(
            "fault command: set-memory-used needs \"value\": a size (\"20GiB\") or bytes");
      }
      break;
    case A::kClearTemperature:
    case A::kFail:
    case A::kRemove:
    case A::kRestore:
      if (v != nullptr)
        return invalid(
            fmt::format("fault command: action {} takes no \"value\"", to_string(c.action)));
      break;
  }
  return c;
}

namespace {

// The fake provider needs a Cluster's nodes and GPUs only: plugin and policy names are the
// controller's to check (and gpu, plumbing, may not depend on placement or routing).
const ExtensionNames kNodesOnly{};

// The named node from parsed manifests, or every diagnostic / the nodes that do exist.
Result<NodeSpec> find_node(const ParsedManifests& parsed, const std::string& file,
                           const std::string& node) {
  if (!parsed.ok()) {
    std::string all;
    for (const Diagnostic& d : parsed.diagnostics) {
      if (!all.empty()) all += '\n';
      all += d.format();
    }
    return invalid(all);
  }
  std::string known;
  for (const ClusterSpec& c : parsed.manifests.clusters) {
    for (const NodeSpec& n : c.nodes) {
      if (n.name == node) return n;
      known += (known.empty() ? "" : ", ") + n.name;
    }
  }
  return make_error(ErrorCode::kNotFound,
                    fmt::format("{}: no Cluster manifest has a node \"{}\" (nodes: {})", file, node,
                                known.empty() ? "none" : known));
}

}  // namespace

Result<NodeSpec> parse_node_spec(std::string_view yaml, const std::string& file,
                                 const std::string& node) {
  return find_node(parse_manifests(yaml, file, kNodesOnly), file, node);
}

Result<NodeSpec> load_node_spec(const std::string& manifest_path, const std::string& node) {
  return find_node(load_manifest_file(manifest_path, kNodesOnly), manifest_path, node);
}

FakeProvider::PowerRange FakeProvider::power_range(const std::string& model) {
  if (contains(model, "H100") || contains(model, "H200") || contains(model, "H20"))
    return {70, 700};
  if (contains(model, "A100")) return {50, 400};
  if (contains(model, "L40")) return {35, 350};
  if (contains(model, "L4")) return {16, 72};
  return {50, 300};
}

Result<std::unique_ptr<FakeProvider>> FakeProvider::create(const NodeSpec& node,
                                                           const Clock* clock) {
  int total = 0;
  for (const auto& g : node.gpus) {
    if (g.count < 1 || g.memory.value <= 0)
      return invalid(
          fmt::format("node \"{}\": every GPU needs count >= 1 and memory > 0", node.name));
    if (!g.uuids.empty() && static_cast<int>(g.uuids.size()) != g.count)
      return invalid(fmt::format("node \"{}\": {} UUIDs listed for {} {} GPUs", node.name,
                                 g.uuids.size(), g.count, g.model));
    total += g.count;
  }
  if (total == 0) return invalid(fmt::format("node \"{}\" has no GPUs", node.name));
  if (total > 64)
    return invalid(
        fmt::format("node \"{}\" has {} GPUs; at most 64 are supported", node.name, total));

  std::vector<Gpu> gpus;
  for (const auto& g : node.gpus) {
    for (int i = 0; i < g.count; ++i) {
      Gpu gpu;
      int index = static_cast<int>(gpus.size());
      gpu.info.index = index;
      // The same rule as Pool::add_node, so pool and agent agree on identities.
      gpu.info.uuid = g.uuids.empty() ? fmt::format("GPU-{}-{}", node.name, index) : g.uuids[i];
      // What NVML calls it: the catalogue's first product name ("NVIDIA H100 80GB HBM3" for the
      // manifest's H100-80GB), so the fake exercises the same name mapping a real node does.
      const GpuHardware* hw = find_gpu_hardware(g.model, g.memory);
      gpu.info.name = hw != nullptr ? hw->products.front() : g.model;
      // MIG: devices named as NVML names them ("NVIDIA A100-SXM4-80GB MIG 3g.40gb").
      gpu.info.mig_enabled = !g.mig.empty();
      for (size_t m = 0; m < g.mig.size(); ++m) {
        MigDeviceInfo d;
        d.uuid = fmt::format("MIG-{}-{}", gpu.info.uuid, m);
        d.name = gpu.info.name + " MIG " + g.mig[m];
        if (auto profile = parse_mig_profile(g.mig[m])) d.memory_total = to_bytes(profile->memory);
        d.gpu_instance_id = static_cast<int>(m) + 1;
        d.compute_instance_id = 0;
        gpu.info.mig_devices.push_back(std::move(d));
      }
      gpu.info.memory_total = to_bytes(g.memory);
      gpu.info.pci_bus_id = fmt::format("00000000:{:02X}:00.0", 0x10 + index);
      gpu.power = power_range(g.model);
      gpus.push_back(std::move(gpu));
    }
  }
  for (size_t i = 0; i < gpus.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (gpus[i].info.uuid == gpus[j].info.uuid)
        return make_error(ErrorCode::kAlreadyExists,
                          fmt::format("node \"{}\": GPU UUID \"{}\" is listed twice", node.name,
                                      gpus[i].info.uuid));
    }
  }
  for (const auto& group : node.nvlink_groups) {
    for (int i : group) {
      if (i < 0 || i >= total)
        return invalid(fmt::format("node \"{}\": NVLink group names GPU {}, which does not exist",
                                   node.name, i));
    }
    for (int i : group)
      for (int j : group)
        if (i != j) gpus[i].info.nvlink_peers.push_back(j);
  }
  for (Gpu& g : gpus) {
    auto& p = g.info.nvlink_peers;
    std::sort(p.begin(), p.end());
    p.erase(std::unique(p.begin(), p.end()), p.end());
    g.info.topology.assign(gpus.size(), TopologyLevel::kNode);
    g.info.topology[g.info.index] = TopologyLevel::kInternal;
  }
  return std::unique_ptr<FakeProvider>(new FakeProvider(std::move(gpus), clock));
}

FakeProvider::FakeProvider(std::vector<Gpu> gpus, const Clock* clock)
    : clock_(clock ? clock : &default_clock()), gpus_(std::move(gpus)) {}

Result<std::vector<GpuInfo>> FakeProvider::discover() {
  std::lock_guard lock(mu_);
  std::vector<GpuInfo> out;
  out.reserve(gpus_.size());
  for (const Gpu& g : gpus_) {
    GpuInfo info = g.info;
    info.lost = g.failed || g.removed;
    out.push_back(std::move(info));
  }
  return out;
}

Result<std::vector<GpuSample>> FakeProvider::sample() {
  std::lock_guard lock(mu_);
  std::vector<GpuSample> out;
  out.reserve(gpus_.size());
  for (const Gpu& g : gpus_) {
    GpuSample s;
    s.index = g.info.index;
    s.uuid = g.info.uuid;
    if (g.removed) {
      s.lost = true;
      s.error = fmt::format("GPU {} is no longer listed (removed by fault injection)", g.info.uuid);
    } else if (g.failed) {
      s.lost = true;
      s.error = "GPU is lost (NVML_ERROR_GPU_IS_LOST, injected)";
    } else {
      s.utilization_pct = static_cast<int>(std::lround(g.load * 100));
      s.memory_utilization_pct = static_cast<int>(std::lround(g.load * 50));
      s.memory_used = g.memory_used;
      s.memory_free = std::max(Bytes(0), g.info.memory_total - g.memory_used);
      int temp = g.temperature_override.value_or(
          kIdleTemperatureC + static_cast<int>(std::lround(g.load * kLoadTemperatureRiseC)));
      s.temperature_c = temp;
      s.power_w = g.power.idle_w + g.load * (g.power.max_w - g.power.idle_w);
      uint64_t reasons = 0;
      if (g.load == 0.0) reasons |= 0x1;  // GPU idle
      if (temp >= 87) reasons |= 0x20;    // SW thermal slowdown
      if (temp >= 95) reasons |= 0x40;    // HW thermal slowdown
      s.throttle_reasons = reasons;
      s.ecc_double_bit_volatile = g.ecc_double_bit;
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<XidEvent> FakeProvider::drain_xids() {
  std::lock_guard lock(mu_);
  std::vector<XidEvent> out(std::make_move_iterator(xids_.begin()),
                            std::make_move_iterator(xids_.end()));
  xids_.clear();
  return out;
}

std::vector<std::string> FakeProvider::take_notices() {
  std::lock_guard lock(mu_);
  return std::exchange(notices_, {});
}

FakeProvider::Gpu* FakeProvider::find(const std::string& gpu) {
  for (Gpu& g : gpus_)
    if (g.info.uuid == gpu) return &g;
  int index = -1;
  auto [end, ec] = std::from_chars(gpu.data(), gpu.data() + gpu.size(), index);
  if (ec == std::errc() && end == gpu.data() + gpu.size() && index >= 0 &&
      index < static_cast<int>(gpus_.size()))
    return &gpus_[index];
  return nullptr;
}

template <class F>
Status FakeProvider::with_gpu(const std::string& gpu, F&& f) {
  std::lock_guard lock(mu_);
  Gpu* g = find(gpu);
  if (g == nullptr) {
    return make_error(ErrorCode::kNotFound,
                      fmt::format("no GPU \"{}\" on this node (give a UUID or an index 0..{})", gpu,
                                  gpus_.size() - 1));
  }
  return f(*g);
}

Status FakeProvider::set_load(const std::string& gpu, double load) {
  if (!(load >= 0.0 && load <= 1.0))
    return invalid(fmt::format("load {} is out of range: give 0..1", load));
  return with_gpu(gpu, [&](Gpu& g) {
    g.load = load;
    return Status{};
  });
}

Status FakeProvider::set_memory_used(const std::string& gpu, Bytes used) {
  return with_gpu(gpu, [&](Gpu& g) -> Status {
    if (used.value < 0 || used > g.info.memory_total)
      return invalid(fmt::format("memory used {} is out of range: GPU {} has {}",
                                 format_bytes(used), g.info.uuid,
                                 format_bytes(g.info.memory_total)));
    g.memory_used = used;
    return {};
  });
}

Status FakeProvider::set_temperature(const std::string& gpu, std::optional<int> celsius) {
  if (celsius && (*celsius < -40 || *celsius > 200))
    return invalid(fmt::format("temperature {} C is out of range: give -40..200", *celsius));
  return with_gpu(gpu, [&](Gpu& g) {
    g.temperature_override = celsius;
    return Status{};
  });
}

Status FakeProvider::raise_xid(const std::string& gpu, uint64_t xid) {
  if (xid == 0) return invalid("XID 0 is not an XID: give a positive number (e.g. 79, 48, 31)");
  return with_gpu(gpu, [&](Gpu& g) {
    xids_.push_back(XidEvent{g.info.index, g.info.uuid, xid, clock_->now()});
    return Status{};
  });
}

Status FakeProvider::add_ecc_double_bit(const std::string& gpu, uint64_t count) {
  if (count == 0) return invalid("add at least one ECC error");
  return with_gpu(gpu, [&](Gpu& g) {
    g.ecc_double_bit += count;
    return Status{};
  });
}

Status FakeProvider::fail(const std::string& gpu) {
  return with_gpu(gpu, [&](Gpu& g) {
    g.failed = true;
    return Status{};
  });
}

Status FakeProvider::remove(const std::string& gpu) {
  return with_gpu(gpu, [&](Gpu& g) {
    g.removed = true;
    return Status{};
  });
}

Status FakeProvider::restore(const std::string& gpu) {
  return with_gpu(gpu, [&](Gpu& g) {
    g.failed = false;
    g.removed = false;
    g.temperature_override.reset();
    g.ecc_double_bit = 0;
    return Status{};
  });
}

Status FakeProvider::apply(const FaultCommand& c) {
  using A = FaultCommand::Action;
  switch (c.action) {
    case A::kSetLoad:
      return set_load(c.gpu, c.value);
    case A::kSetMemoryUsed:
      return set_memory_used(c.gpu, c.bytes);
    case A::kSetTemperature:
      if (c.value != std::floor(c.value))
        return invalid(fmt::format("temperature {} is not a whole number of degrees", c.value));
      if (c.value < -40 || c.value > 200)
        return invalid(fmt::format("temperature {} C is out of range: give -40..200", c.value));
      return set_temperature(c.gpu, static_cast<int>(c.value));
    case A::kClearTemperature:
      return set_temperature(c.gpu, std::nullopt);
    case A::kRaiseXid:
      if (c.value < 1 || c.value != std::floor(c.value) || c.value > 1e9)
        return invalid(fmt::format("XID {} is not a positive whole number", c.value));
      return raise_xid(c.gpu, static_cast<uint64_t>(c.value));
    case A::kAddEccDoubleBit:
      if (c.value < 1 || c.value != std::floor(c.value) || c.value > 1e15)
        return invalid(fmt::format("ECC error count {} is not a positive whole number", c.value));
      return add_ecc_double_bit(c.gpu, static_cast<uint64_t>(c.value));
    case A::kFail:
      return fail(c.gpu);
    case A::kRemove:
      return remove(c.gpu);
    case A::kRestore:
      return restore(c.gpu);
  }
  return invalid("unknown fault action");
}

}  // namespace gf
