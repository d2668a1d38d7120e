// Fleet-scale load generator (#18): N simulated agents speak the real agent protocol to one
// running `gpufleet controller`, report every replica they are told to run as Ready, and measure
// what an operator would: heartbeat latency, failures, the controller's CPU and reconcile time,
// the time until one Deployment of R replicas is Ready, and whether any replica is held twice or
// more replicas are held than the target. Gateways are simulated too: W watchers long-poll the
// routing table the way `gpufleet gateway` does. The agents run on one io_context thread, the
// watchers on another: a hundred gateways each reading a table of thousands of replicas must not
// stall the agents' event loop and show up as heartbeat latency the controller never caused.
// The generator reports its own CPU share, so that a saturated generator is seen, not mistaken
// for a slow controller. bench/fleet_scale.sh starts the controller and prints the table
// (docs/performance.md, "Fleet scale").
#include <utility>  // before asio (Boost 1.74 + GCC 12)

#include <simdjson.h>
#include <sys/resource.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/heartbeat_cadence.h"
#include "fleet/node_report.h"
#include "net/http_client.h"
#include "wire/agent_protocol.h"

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string token;
  int nodes = 100;
  int gpus_per_node = 8;
  int replicas = -1;           // default: nodes x 4
  std::string memory_per_gpu;  // empty: whole GPUs
  int watchers = 0;
  double ramp_s = 1.0;      // first heartbeats spread over this long
  double settle_s = 2.0;    // after all replicas are Ready, before the window: the last
                            // routing rebuilds and Ready reports of the ramp land here
  double measure_s = 20.0;  // the window after all replicas are Ready and the settling
  double ready_timeout_s = 300.0;
  int controller_pid = 0;  // for its CPU share; 0 = not measured
  bool report_load = true;
};

// Latencies in microseconds; percentiles by sorting at the end (a run holds at most a few
// million samples).
struct Stats {
  std::vector<int64_t> latency_us;
  int64_t sent = 0, ok = 0, failed = 0, timed_out = 0;
  int64_t unchanged = 0;  // replies that said "nothing changed for you"
  int64_t max_interval_ms = 0;
  void reset() { *this = Stats{}; }
  double pct(double p) {
    if (latency_us.empty()) return 0;
    std::sort(latency_us.begin(), latency_us.end());
    size_t i = std::min(latency_us.size() - 1, static_cast<size_t>(p * latency_us.size()));
    return latency_us[i] / 1000.0;
  }
};

struct Agent {
  gf::NodeReport report;
  std::map<std::string, gf::ReplicaAssignment> held;  // what the last applied reply said to run
  int64_t applied = 0;
  bool has_set = false;  // it applied a whole set, so it can take "unchanged" replies
  // The encoded report around its sequence number, encoded again only when what it says changes:
  // ten thousand agents encoding their whole report every beat saturated the generator's core.
  std::string head, tail;
  bool encoded = false;
};

// Stands for the sequence number in an encoded report, which is then cut around it.
constexpr uint64_t kSeqMark = 918273645546372819ULL;

class Load {
 public:
  Load(asio::io_context& io, asio::io_context& watch_io, Options o)
      : io_(io),
        watch_io_(watch_io),
        o_(std::move(o)),
        client_(io, static_cast<size_t>(o_.nodes + 8)),
        watch_client_(watch_io, static_cast<size_t>(o_.watchers + 1)) {
    agents_.resize(o_.nodes);
    std::mt19937_64 rng(42);
    for (int i = 0; i < o_.nodes; ++i) {
      gf::NodeReport& r = agents_[i].report;
      char name[32];
      std::snprintf(name, sizeof name, "node-%05d", i);
      r.node = name;
      r.agent_id = "load-" + std::to_string(rng());
      r.host = "10." + std::to_string(i / 65536 % 256) + "." + std::to_string(i / 256 % 256) + "." +
               std::to_string(i % 256);
      r.port = 9000;
      std::vector<int> all;
      for (int g = 0; g < o_.gpus_per_node; ++g) {
        gf::GpuReport gr;
        gr.uuid = "GPU-" + r.node + "-" + std::to_string(g);
        gr.index = g;
        gr.name = "A100-80GB";  // as the agent reports it (common/gpu_catalog.h)
        gr.memory = gf::MiB{81920};
        gr.utilization_pct = 30;
        gr.temperature_c = 50;
        gr.power_w = 250;
        r.gpus.push_back(gr);
        all.push_back(g);
      }
      r.nvlink_groups = {all};
    }
  }

  asio::awaitable<void> run() {
    for (int i = 0; i < o_.nodes; ++i)
      asio::co_spawn(io_, agent_loop(i), asio::detached);
    for (int w = 0; w < o_.watchers; ++w)
      asio::co_spawn(watch_io_, watcher_loop(), asio::detached);
    co_await sleep(std::chrono::duration<double>(o_.ramp_s) + std::chrono::seconds(1));

    const int target = o_.replicas < 0 ? o_.nodes * 4 : o_.replicas;
    const auto applied_at = Clock::now();
    if (!co_await apply(target)) {
      done_ = true;
      co_return;
    }
    double ready_s = -1;
    while (Clock::now() - applied_at < std::chrono::duration<double>(o_.ready_timeout_s)) {
      co_await sleep(std::chrono::milliseconds(200));
      if (co_await ready_replicas() >= target) {
        ready_s = std::chrono::duration<double>(Clock::now() - applied_at).count();
        break;
      }
    }
    // Settle: at least settle_s, and until the interval the controller hands out has held for
    // 10 s (a ramp it found heavy stretched it, and it comes back down as far as the load
    // allows: the window is the fleet at rest, whatever interval that is), 120 s at most. (It
    // waited for the base 1 s instead: a pacer that returns to 1 s and then finds it too short
    // was measured mid-correction.)
    const auto settle_from = Clock::now();
    co_await sleep(std::chrono::duration<double>(o_.settle_s));
    while (Clock::now() - interval_changed_ < std::chrono::seconds(10) &&
           Clock::now() - settle_from < std::chrono::seconds(120))
      co_await sleep(std::chrono::seconds(1));
    const double settled_s = std::chrono::duration<double>(Clock::now() - settle_from).count();
    ready_phase_ = stats_;  // the ramp and the settling

    // The steady window: every replica placed and reported.
    // CPU and wall time are read together, after the histogram scrape: a scrape of a saturated
    // controller can take seconds, which must not count as CPU without counting as time.
    auto h0 = co_await histograms();
    stats_.reset();
    const double cpu0 = controller_cpu_s();
    const double self0 = own_cpu_s();
    const auto t0 = Clock::now();
    co_await sleep(std::chrono::duration<double>(o_.measure_s));
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    const double cpu = controller_cpu_s() - cpu0;
    const double self = own_cpu_s() - self0;
    // The window ends here: the reads below (every node's state) are not part of it.
    Stats window = stats_;
    auto h1 = co_await histograms();

    int64_t held = 0;
    std::map<std::string, int> holders;
    for (const auto& a : agents_) {
      held += static_cast<int64_t>(a.held.size());
      for (const auto& [id, r] : a.held)
        ++holders[id];
    }
    int64_t twice = 0;
    for (const auto& [id, n] : holders)
      twice += n > 1;
    const int lost = co_await nodes_not_ready();

    json out{
        {"nodes", o_.nodes},
        {"gpus", o_.nodes * o_.gpus_per_node},
        {"replicasTarget", target},
        {"watchers", o_.watchers},
        {"readySeconds", ready_s},
        {"readyPhase",
         {{"sent", ready_phase_.sent},
          {"failed", ready_phase_.failed},
          {"timedOut", ready_phase_.timed_out},
          {"p99Ms", ready_phase_.pct(0.99)},
          {"maxMs", ready_phase_.pct(1.0)},
          {"maxIntervalMs", ready_phase_.max_interval_ms}}},
        {"settleSeconds", settled_s},
        {"heartbeats", window.sent},
        {"heartbeatsPerSecond", window.ok / wall},
        {"p50Ms", window.pct(0.50)},
        {"p99Ms", window.pct(0.99)},
        {"maxMs", window.pct(1.0)},
        {"failed", window.failed},
        {"timedOut", window.timed_out},
        {"failedShare", window.sent ? double(window.failed) / window.sent : 0.0},
        {"unchangedReplies", window.unchanged},
        {"maxIntervalMs", window.max_interval_ms},
        {"controllerCpu", o_.controller_pid ? cpu / wall : -1.0},
        // Near 1 per thread: the generator, not the controller, may bound what was measured.
        {"loadGeneratorCpu", self / wall},
        {"reconcileP99Ms", histogram_quantile(h0, h1, "gpufleet_reconcile_seconds", 0.99) * 1000},
        // How long the controller's thread was unable to read a heartbeat (its event loop late):
        // tells a controller stall from the generator's own delays.
        {"loopLagP99Ms",
         histogram_quantile(h0, h1, "gpufleet_controller_loop_lag_seconds", 0.99) * 1000},
        {"loopLagMaxMs",
         histogram_quantile(h0, h1, "gpufleet_controller_loop_lag_seconds", 1.0) * 1000},
        {"replicasHeld", held},
        {"replicasHeldTwice", twice},
        {"nodesNotReady", lost},
        {"routingVersionsSeen", routing_versions_.load()},
        {"firstError", first_error_},
    };
    std::printf("%s\n", out.dump(2).c_str());
    done_ = true;
  }

  bool done() const { return done_; }

 private:
  asio::awaitable<void> sleep(Clock::duration d) {
    asio::steady_timer t(io_);
    t.expires_after(d);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  template <class R, class P>
  asio::awaitable<void> sleep(std::chrono::duration<R, P> d) {
    co_await sleep(std::chrono::duration_cast<Clock::duration>(d));
  }

  gf::net::ClientRequest request(std::string method, std::string target, std::string body = {}) {
    gf::net::ClientRequest req;
    req.method = std::move(method);
    req.target = std::move(target);
    req.body = std::move(body);
    if (!o_.token.empty()) req.headers["authorization"] = "Bearer " + o_.token;
    return req;
  }

  // One agent as `gpufleet agent` behaves: report, apply the answer, wait the interval it was
  // handed, again (cli/agent_command.cc, heartbeat_loop).
  asio::awaitable<void> agent_loop(int i) {
    Agent& a = agents_[i];
    co_await sleep(std::chrono::duration<double>(o_.ramp_s * i / std::max(1, o_.nodes)));
    gf::Duration every = std::chrono::seconds(1);
    std::mt19937 rng(static_cast<unsigned>(i));
    std::uniform_real_distribution<double> u(0.0, 1.0);
    while (!done_) {
      a.report.seq++;
      if (!a.encoded || a.report.applied_generation != a.applied ||
          a.report.accepts_unchanged != a.has_set) {
        a.report.applied_generation = a.applied;
        a.report.accepts_unchanged = a.has_set;
        a.report.replicas.clear();
        for (const auto& [id, r] : a.held) {
          gf::ReplicaReport rep;
          rep.id = id;
          rep.generation = r.generation;
          rep.state = gf::ReplicaProcessState::kReady;
          rep.port = static_cast<uint16_t>(20000 + a.report.replicas.size());
          if (o_.report_load)
            rep.load = gf::ReplicaLoad{0, 0, 0.1, gf::Tokens(100), gf::Tokens(100), {}};
          a.report.replicas.push_back(std::move(rep));
        }
        const uint64_t seq = a.report.seq;
        a.report.seq = kSeqMark;
        const std::string body = gf::wire::to_json(a.report);
        a.report.seq = seq;
        const size_t at = body.find(std::to_string(kSeqMark));
        a.head = body.substr(0, at);
        a.tail = body.substr(at + std::to_string(kSeqMark).size());
        a.encoded = true;
      }
      auto req = request("POST", "/api/v1/agents/heartbeat",
                         a.head + std::to_string(a.report.seq) + a.tail);
      req.headers["content-type"] = "application/json";
      gf::net::CallOptions opt;
      opt.timeout = std::chrono::seconds(5);
      opt.connect_timeout = std::chrono::seconds(1);
      const auto t0 = Clock::now();
      stats_.sent++;
      auto res = co_await client_.call(o_.host, o_.port, std::move(req), opt);
      const auto us =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
      if (!res || res->status != 200) {
        stats_.failed++;
        if (first_error_.empty())
          first_error_ = res ? std::to_string(res->status) + " " + res->body : res.error().message;
        if (!res && res.error().message.find("timed out") != std::string::npos) stats_.timed_out++;
      } else if (auto reply = gf::wire::parse_node_assignment(res->body); !reply) {
        stats_.failed++;
      } else {
        stats_.ok++;
        stats_.latency_us.push_back(us);
        every = reply->heartbeat_interval;
        const int64_t told = std::chrono::duration_cast<std::chrono::milliseconds>(every).count();
        if (told != last_interval_ms_) interval_changed_ = Clock::now();
        last_interval_ms_ = told;
        stats_.max_interval_ms =
            std::max<int64_t>(stats_.max_interval_ms,
                              std::chrono::duration_cast<std::chrono::milliseconds>(every).count());
        if (reply->generation >= a.applied) {
          if (reply->unchanged) {
            stats_.unchanged++;
          } else {
            a.held.clear();
            for (auto& r : reply->replicas)
              if (!r.draining) a.held.emplace(r.id, std::move(r));
            a.has_set = true;
            a.encoded = false;
          }
          a.applied = reply->generation;
        }
      }
      // As the agent does (cli/agent_command.cc): on the cadence while answered, else an
      // interval from now.
      const auto now = Clock::now();
      const bool answered = res && res->status == 200;
      const auto next = answered ? gf::next_heartbeat(t0, every, now, u(rng)) : now + every;
      co_await sleep(next - now);
    }
  }

  // One gateway's routing watch: the next version after the one it has, with the admin token.
  // Only the version is read from the table (simdjson): the gateway's own work on it is not the
  // controller's cost.
  asio::awaitable<void> watcher_loop() {
    uint64_t after = 0;
    thread_local simdjson::dom::parser parser;
    while (!done_) {
      gf::net::CallOptions opt;
      opt.timeout = std::chrono::seconds(60);
      auto res = co_await watch_client_.call(
          o_.host, o_.port, request("GET", "/api/v1/routing?after=" + std::to_string(after)), opt);
      if (!res || res->status != 200) {
        asio::steady_timer t(watch_io_);
        t.expires_after(std::chrono::milliseconds(500));
        boost::system::error_code ec;
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      simdjson::dom::element doc;
      uint64_t version = 0;
      if (!parser.parse(res->body).get(doc) && !doc["version"].get(version)) {
        after = version;
        routing_versions_++;
      }
    }
  }

  asio::awaitable<bool> apply(int replicas) {
    std::string m =
        "apiVersion: gpufleet/v1\nkind: Deployment\nmetadata: {name: bench}\n"
        "spec:\n  model: bench/model\n  engine: {type: engine-sim}\n"
        "  resources:\n    gpus: 1\n";
    if (!o_.memory_per_gpu.empty()) m += "    memoryPerGpu: " + o_.memory_per_gpu + "\n";
    m += "  replicas: " + std::to_string(replicas) + "\n";
    auto req = request("POST", "/api/v1/apply", m);
    req.headers["content-type"] = "application/yaml";
    auto res = co_await client_.call(o_.host, o_.port, std::move(req));
    if (!res || res->status != 200) {
      std::fprintf(stderr, "apply failed: %s\n",
                   res ? res->body.c_str() : res.error().message.c_str());
      co_return false;
    }
    co_return true;
  }

  asio::awaitable<int> ready_replicas() {
    auto res = co_await client_.call(o_.host, o_.port, request("GET", "/api/v1/deployments/bench"));
    if (!res || res->status != 200) co_return 0;
    json j = json::parse(res->body, nullptr, false);
    co_return j.is_object() ? j.value("readyAllRevisions", 0) : 0;
  }

  asio::awaitable<int> nodes_not_ready() {
    auto res = co_await client_.call(o_.host, o_.port, request("GET", "/api/v1/nodes"));
    if (!res || res->status != 200) co_return -1;
    json j = json::parse(res->body, nullptr, false);
    int n = 0;
    for (const auto& x : j["nodes"])
      n += x.value("state", "") != "Ready";
    co_return n;
  }

  // A histogram's cumulative buckets (upper bound -> count) and its count, from /metrics.
  using Histogram = std::pair<std::map<double, double>, double>;
  asio::awaitable<std::map<std::string, Histogram>> histograms() {
    std::map<std::string, Histogram> out;
    auto res = co_await client_.call(o_.host, o_.port, request("GET", "/metrics"));
    if (!res || res->status != 200) co_return out;
    std::istringstream in(res->body);
    std::string line;
    while (std::getline(in, line)) {
      for (const char* name :
           {"gpufleet_reconcile_seconds", "gpufleet_controller_loop_lag_seconds"}) {
        const std::string bucket = std::string(name) + "_bucket{le=\"";
        if (line.rfind(bucket, 0) == 0) {
          auto q = line.find('"', bucket.size());
          std::string le = line.substr(bucket.size(), q - bucket.size());
          double bound = le == "+Inf" ? 1e9 : std::stod(le);
          out[name].first[bound] = std::stod(line.substr(line.rfind(' ') + 1));
        } else if (line.rfind(std::string(name) + "_count", 0) == 0) {
          out[name].second = std::stod(line.substr(line.rfind(' ') + 1));
        }
      }
    }
    co_return out;
  }

  // The upper bound of the bucket holding the 99th percentile of the passes between two scrapes.
  // `q` = 1: the bucket holding the slowest one.
  static double histogram_quantile(std::map<std::string, Histogram>& h0,
                                   std::map<std::string, Histogram>& h1, const char* name,
                                   double q) {
    // A controller without the metric (an older build): null in the report, not a zero.
    if (h1.count(name) == 0) return std::numeric_limits<double>::quiet_NaN();
    const auto& [b0, c0] = h0[name];
    const auto& [b1, c1] = h1[name];
    const double n = c1 - c0;
    if (n <= 0) return 0;
    for (const auto& [bound, cum] : b1) {
      auto it = b0.find(bound);
      const double before = it == b0.end() ? 0 : it->second;
      if (cum - before >= q * n) return bound;
    }
    return 0;
  }

  static double own_cpu_s() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
    return s(u.ru_utime) + s(u.ru_stime);
  }

  double controller_cpu_s() const {
    if (!o_.controller_pid) return 0;
    std::ifstream f("/proc/" + std::to_string(o_.controller_pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), {});
    auto p = s.rfind(')');
    if (p == std::string::npos) return 0;
    std::istringstream in(s.substr(p + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
      if (i == 14) utime = std::stod(field);
      if (i == 15) stime = std::stod(field);
    }
    return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }

  asio::io_context& io_;
  asio::io_context& watch_io_;
  Options o_;
  gf::net::HttpClient client_;
  gf::net::HttpClient watch_client_;
  std::vector<Agent> agents_;
  Stats stats_, ready_phase_;
  std::atomic<int64_t> routing_versions_ = 0;
  int64_t last_interval_ms_ = 1000;                    // the interval in the latest reply
  Clock::time_point interval_changed_ = Clock::now();  // when a reply last told another one
  std::string first_error_;  // the first failed heartbeat's answer, to tell why
  std::atomic<bool> done_ = false;
};

int usage(const char* why) {
  std::fprintf(stderr,
               "error: %s\nusage: fleet_load --controller HOST:PORT [--token T] [--nodes N] "
               "[--gpus-per-node G] [--replicas R] [--memory-per-gpu 40GiB] [--watchers W] "
               "[--ramp S] [--settle S] [--measure S] [--controller-pid PID] [--no-load]\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string controller;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    try {
      if (a == "--controller")
        controller = next();
      else if (a == "--token")
        o.token = next();
      else if (a == "--nodes")
        o.nodes = std::stoi(next());
      else if (a == "--gpus-per-node")
        o.gpus_per_node = std::stoi(next());
      else if (a == "--replicas")
        o.replicas = std::stoi(next());
      else if (a == "--memory-per-gpu")
        o.memory_per_gpu = next();
      else if (a == "--watchers")
        o.watchers = std::stoi(next());
      else if (a == "--ramp")
        o.ramp_s = std::stod(next());
      else if (a == "--settle")
        o.settle_s = std::stod(next());
      else if (a == "--measure")
        o.measure_s = std::stod(next());
      else if (a == "--ready-timeout")
        o.ready_timeout_s = std::stod(next());
      else if (a == "--controller-pid")
        o.controller_pid = std::stoi(next());
      else if (a == "--no-load")
        o.report_load = false;
      else
        return usage(("unknown option " + a).c_str());
    } catch (const std::exception&) {
      return usage(("bad value for " + a).c_str());
    }
  }
  auto hp = gf::net::parse_host_port(controller);
  if (!hp) return usage(("--controller: " + hp.error().message).c_str());
  o.host = hp->host;
  o.port = hp->port;
  if (o.nodes < 1 || o.gpus_per_node < 1) return usage("--nodes and --gpus-per-node must be >= 1");

  asio::io_context io, watch_io;
  Load load(io, watch_io, o);
  asio::co_spawn(io, load.run(), asio::detached);
  auto guard = asio::make_work_guard(watch_io);
  std::thread watchers([&] { watch_io.run(); });
  while (!load.done())
    io.run_one();
  // Long-polls still waiting end with the process: the report is out.
  std::fflush(stdout);
  std::_Exit(0);
}
