// `gpufleet gpu-check`: what gpufleet makes of this machine's real GPUs, as one JSON report (#16).
// Discovery through NVML, telemetry beside nvidia-smi's, the cost of one sample, and a placement
// plus an engine-sim start on the device chosen. scripts/gpu-check runs it wherever an NVIDIA
// driver is; CI runs it against the fake libnvidia-ml (tests/integration/gpu_check.test.mjs).
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "agent/engine_adapter.h"
#include "agent/process_supervisor.h"
#include "agent/replica_set.h"
#include "cli/commands.h"
#include "common/gpu_catalog.h"
#include "common/io/real_clock.h"
#include "gpu/nvml_provider.h"
#include "net/http_client.h"
#include "perfmodel/perf_model.h"
#include "placement/scheduler.h"

namespace gf {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// This binary, for the engine-sim child (as the agent starts it).
std::string self() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("gpufleet") : p.string();
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// One row of `nvidia-smi --query-gpu=uuid,utilization.gpu,temperature.gpu,power.draw,memory.used`.
struct SmiRow {
  std::optional<double> util, temp, power, memory_used_mib;
};

// Runs nvidia-smi once; rows by UUID, or why it could not run.
Result<std::map<std::string, SmiRow>> nvidia_smi(const std::string& binary) {
  const std::string cmd =
      binary +
      " --query-gpu=uuid,utilization.gpu,temperature.gpu,power.draw,memory.used "
      "--format=csv,noheader,nounits 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return make_error(ErrorCode::kUnavailable, "cannot run " + binary);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;)
    out.append(buf, n);
  const int rc = ::pclose(p);
  if (rc != 0)
    return make_error(ErrorCode::kUnavailable,
                      fmt::format("{} failed (status {}): {}", binary, rc, out.substr(0, 200)));
  std::map<std::string, SmiRow> rows;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> f;
    std::istringstream cells(line);
    for (std::string c; std::getline(cells, c, ',');)
      f.push_back(c.substr(
          c.find_first_not_of(' ') == std::string::npos ? c.size() : c.find_first_not_of(' ')));
    if (f.size() != 5) continue;
    auto num = [](const std::string& s) -> std::optional<double> {
      char* end = nullptr;
      const double v = std::strtod(s.c_str(), &end);
      return end != s.c_str() ? std::optional<double>(v) : std::nullopt;  // "[N/A]": none
    };
    rows[f[0]] = SmiRow{num(f[1]), num(f[2]), num(f[3]), num(f[4])};
  }
  return rows;
}

json discovery_json(const std::vector<GpuInfo>& gpus) {
  json out = json::array();
  for (const GpuInfo& g : gpus) {
    json j = {{"index", g.index},
              {"uuid", g.uuid},
              {"product", g.name},
              {"name", catalogue_gpu_name(g.name, g.memory_total_mib())},
              {"inCatalogue", find_gpu_hardware(g.name, g.memory_total_mib()) != nullptr},
              {"memoryMiB", g.memory_total_mib().value},
              {"pciBusId", g.pci_bus_id},
              {"mig", g.mig_enabled},
              {"lost", g.lost}};
    if (g.mig_enabled) {
      json devices = json::array();
      for (const auto& m : g.mig_devices)
        devices.push_back({{"uuid", m.uuid},
                           {"name", catalogue_gpu_name(m.name)},
                           {"product", m.name},
                           {"memoryMiB", m.memory_total_mib().value}});
      j["migDevices"] = devices;
    }
    out.push_back(j);
  }
  return out;
}

// Telemetry beside nvidia-smi's, `samples` times `interval` apart, and the largest difference
// per field over all of them.
json telemetry_json(NvmlProvider& nvml, const std::string& smi, int samples, Duration interval) {
  json rounds = json::array();
  std::map<std::string, double> worst;
  std::string smi_error;
  for (int i = 0; i < samples; ++i) {
    if (i > 0) std::this_thread::sleep_for(interval);  // a CLI pacing its own reads
    auto ours = nvml.sample();
    auto theirs = nvidia_smi(smi);
    if (!theirs) smi_error = theirs.error().message;
    json round = json::array();
    for (const GpuSample& s : ours ? *ours : std::vector<GpuSample>{}) {
      json g = {{"uuid", s.uuid}};
      json mine = {
          {"utilizationPct", s.utilization_pct ? json(*s.utilization_pct) : json()},
          {"temperatureC", s.temperature_c ? json(*s.temperature_c) : json()},
          {"powerW", s.power_w ? json(*s.power_w) : json()},
          {"memoryUsedMiB", s.memory_used ? json(to_mib_floor(*s.memory_used).value) : json()}};
      g["gpufleet"] = mine;
      if (theirs) {
        if (auto r = theirs->find(s.uuid); r != theirs->end()) {
          json smi_json = {{"utilizationPct", r->second.util ? json(*r->second.util) : json()},
                           {"temperatureC", r->second.temp ? json(*r->second.temp) : json()},
                           {"powerW", r->second.power ? json(*r->second.power) : json()},
                           {"memoryUsedMiB",
                            r->second.memory_used_mib ? json(*r->second.memory_used_mib) : json()}};
          for (const char* k : {"utilizationPct", "temperatureC", "powerW", "memoryUsedMiB"}) {
            if (mine[k].is_number() && smi_json[k].is_number())
              worst[k] =
                  std::max(worst[k], std::abs(mine[k].get<double>() - smi_json[k].get<double>()));
          }
          g["nvidiaSmi"] = smi_json;
        }
      }
      if (!s.error.empty()) g["error"] = s.error;
      round.push_back(g);
    }
    rounds.push_back(round);
  }
  json out = {{"samples", rounds}};
  if (smi_error.empty()) {
    out["maxDifference"] = worst;
  } else {
    out["nvidiaSmi"] = smi_error;  // not there, or failing: the comparison is left out
  }
  return out;
}

json cost_json(NvmlProvider& nvml, size_t gpus, const std::string& smi) {
  constexpr int kRounds = 50;
  (void)nvml.sample();  // warm
  auto t0 = Clock::now();
  for (int i = 0; i < kRounds; ++i)
    (void)nvml.sample();
  const double per_round_us = ms_since(t0) * 1000 / kRounds;
  json out = {{"sampleAllGpusUs", per_round_us},
              {"samplePerGpuUs", gpus > 0 ? per_round_us / static_cast<double>(gpus) : 0.0}};
  auto s0 = Clock::now();
  if (nvidia_smi(smi)) out["nvidiaSmiCallMs"] = ms_since(s0);
  return out;
}

// The node as the controller would see it: each GPU under its catalogue name, a GPU in MIG mode
// as its MIG devices.
NodeSpec node_of(const std::vector<GpuInfo>& gpus) {
  NodeSpec n;
  n.name = "this-machine";
  for (const DeviceRef& d : devices_of(gpus)) {
    if (!d.gpu->lost)
      n.gpus.push_back(
          GpuGroupSpec{catalogue_gpu_name(d.product, d.memory), 1, d.memory, 0.0, {d.uuid}});
  }
  return n;
}

// Starts engine-sim on `uuid` as the agent would, waits for /health, sends one completion.
json engine_json(const std::string& self, const std::string& uuid, const std::string& gpu_model,
                 const std::string& model, const std::string& log_dir) {
  json out = {{"device", uuid}, {"gpuModel", gpu_model}};
  auto pm = PerfModel::lookup(gpu_model, model, 1);
  if (!pm) {
    out["started"] = false;
    out["error"] = pm.error().message;
    return out;
  }
  out["perfModel"] = pm->source();
  auto port = pick_free_port({});
  if (!port) {
    out["started"] = false;
    out["error"] = port.error().message;
    return out;
  }
  DeploymentSpec d;
  d.name = "gpu-check";
  d.model = model;
  d.engine.type = EngineType::kEngineSim;
  d.engine.args = {"--cold-start", "0s"};
  ReplicaLaunch l;
  l.replica = "gpu-check";
  l.deployment = &d;
  l.gpu_uuids = {uuid};
  l.gpu_model = gpu_model;
  l.port = *port;
  l.gpufleet_binary = self;
  auto spec = build_process(l);
  if (!spec) {
    out["started"] = false;
    out["error"] = spec.error().message;
    return out;
  }
  out["cudaVisibleDevices"] = spec->env["CUDA_VISIBLE_DEVICES"];
  ProcessSupervisor sup{{}};
  const RealClock clock;
  const std::string log = log_dir + "/gpu-check-engine.log";
  out["log"] = log;
  auto t0 = Clock::now();
  if (auto pid = sup.start("gpu-check", *spec, *port, log); !pid) {
    out["started"] = false;
    out["error"] = pid.error().message;
    return out;
  }
  out["started"] = true;
  bool ready = false;
  std::optional<ProcessExit> exited;
  while (!ready && !exited && ms_since(t0) < 60000) {
    auto h = net::http_call("127.0.0.1", *port, net::ClientRequest{"GET", "/health", "", {}},
                            std::chrono::seconds(1));
    ready = h && h->status == 200;
    for (const auto& e : sup.poll(clock.now(), std::chrono::milliseconds(ready ? 0 : 100)))
      exited = e;
  }
  out["ready"] = ready;
  if (ready) {
    out["readyAfterMs"] = ms_since(t0);
    const json body = {{"model", model}, {"prompt", "gpu-check"}, {"max_tokens", 8}};
    auto c0 = Clock::now();
    auto r = net::http_call(
        "127.0.0.1", *port,
        net::ClientRequest{
            "POST", "/v1/completions", body.dump(), {{"content-type", "application/json"}}},
        std::chrono::seconds(30));
    json completion = {{"ms", ms_since(c0)}};
    if (r) {
      completion["status"] = r->status;
      auto parsed = json::parse(r->body, nullptr, false);
      if (!parsed.is_discarded() && parsed.contains("usage"))
        completion["completionTokens"] = parsed["usage"].value("completion_tokens", 0);
    } else {
      completion["error"] = r.error().message;
    }
    out["completion"] = completion;
  } else {
    out["error"] = exited ? fmt::format("exited with code {} before it was Ready; see the log",
                                        exited->exit_code)
                          : "not Ready within 60 s; see the log";
  }
  (void)sup.stop("gpu-check", std::chrono::seconds(5), clock.now());
  for (int i = 0; i < 100 && !sup.processes().empty(); ++i)
    (void)sup.poll(clock.now(), std::chrono::milliseconds(100));
  return out;
}

}  // namespace

void add_gpu_check_command(CLI::App& app, int& status) {
  struct Args {
    std::string library = "libnvidia-ml.so.1";
    std::string nvidia_smi = "nvidia-smi";
    int samples = 5;
    std::string interval = "1s";
    std::string model = "meta-llama/Llama-2-7b-hf";
    bool no_engine = false;
    std::string log_dir = ".";
  };
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand("gpu-check",
                               "Check this machine's GPUs as gpufleet sees them: discovery, "
                               "telemetry beside nvidia-smi, sample cost, placement and an "
                               "engine start; one JSON report");
  c->add_option("--nvml-library", a->library, "NVML library to dlopen")->capture_default_str();
  c->add_option("--nvidia-smi", a->nvidia_smi, "nvidia-smi to compare with")->capture_default_str();
  c->add_option("--samples", a->samples, "Telemetry rounds")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  c->add_option("--interval", a->interval, "Time between rounds")->capture_default_str();
  c->add_option("--model", a->model, "Model engine-sim serves")->capture_default_str();
  c->add_flag("--no-engine", a->no_engine, "Skip the engine start");
  c->add_option("--log-dir", a->log_dir, "Where the engine's log goes")->capture_default_str();
  c->callback([a, &status] {
    auto interval = parse_duration(a->interval);
    if (!interval) {
      std::cerr << "error: --interval: " << interval.error().message << '\n';
      status = 2;
      return;
    }
    NvmlOptions o;
    o.library = a->library;
    o.watch_xids = false;
    NvmlProvider nvml(o);
    json report;
    auto gpus = nvml.discover();
    if (!gpus) {
      report["discovery"] = {{"ok", false}, {"error", gpus.error().message}};
      std::cout << report.dump(2) << '\n';
      status = 1;
      return;
    }
    report["discovery"] = {{"ok", true}, {"gpus", discovery_json(*gpus)}};
    report["telemetry"] = telemetry_json(nvml, a->nvidia_smi, a->samples, *interval);
    report["cost"] = cost_json(nvml, gpus->size(), a->nvidia_smi);
    report["notices"] = nvml.take_notices();

    const NodeSpec node = node_of(*gpus);
    ClusterSpec cluster;
    cluster.nodes = {node};
    bool ok = true;
    auto pool = Pool::from_spec(cluster, TimePoint{});
    auto sched = Scheduler::create(PlacementSpec{});
    if (!pool || !sched || node.gpus.empty()) {
      report["placement"] = {{"placed", false},
                             {"reason", node.gpus.empty() ? "no usable device"
                                        : !pool           ? pool.error().message
                                                          : sched.error().message}};
      ok = false;
    } else {
      AllocationRequest req;
      req.deployment = "gpu-check";
      req.model = a->model;
      req.gpus = 1;
      Decision d = sched->place(*pool, req);
      if (!d.placement) {
        report["placement"] = {{"placed", false}, {"reason", d.reason}};
        ok = false;
      } else {
        const Gpu& g = pool->gpu(d.placement->first);
        const std::string gpu_model(pool->model_name(g.model));
        report["placement"] = {{"placed", true}, {"device", g.uuid}, {"gpuModel", gpu_model}};
        if (!a->no_engine) {
          report["engine"] = engine_json(self(), g.uuid, gpu_model, a->model, a->log_dir);
          ok = report["engine"].value("ready", false) &&
               report["engine"]["completion"].value("status", 0) == 200;
        }
      }
    }
    std::cout << report.dump(2) << '\n';
    status = ok ? 0 : 1;
  });
}

}  // namespace gf
