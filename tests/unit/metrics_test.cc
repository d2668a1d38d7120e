#include "common/io/metrics.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "common/io/log.h"

namespace gf {
namespace {

TEST(MetricsTest, RendersExactText) {
  Registry reg;
  CounterFamily* req =
      reg.counter("gf_requests_total", "Requests served.", {"method", "code"}).value();
  req->with({"GET", "200"}).inc();
  req->with({"GET", "200"}).inc(2);
  req->with({"POST", "500"}).inc();
  req->with({"DELETE", "200"});
  reg.gauge("gf_gpu_temperature_celsius", "GPU temperature.").value()->with({}).set(71.5);
  HistogramFamily* lat =
      reg.histogram("gf_request_duration_seconds", "Request latency.", {"model"}, {0.25, 0.5, 1})
          .value();
  Histogram& h = lat->with({"llama"});
  for (double v : {0.125, 0.5, 0.75, 3.0})
    h.observe(v);  // 0.5 sits on a bound: le is inclusive

  EXPECT_EQ(reg.render(),
            "# HELP gf_gpu_temperature_celsius GPU temperature.\n"
            "# TYPE gf_gpu_temperature_celsius gauge\n"
            "gf_gpu_temperature_celsius 71.5\n"
            "# HELP gf_request_duration_seconds Request latency.\n"
            "# TYPE gf_request_duration_seconds histogram\n"
            "gf_request_duration_seconds_bucket{model=\"llama\",le=\"0.25\"} 1\n"
            "gf_request_duration_seconds_bucket{model=\"llama\",le=\"0.5\"} 2\n"
            "gf_request_duration_seconds_bucket{model=\"llama\",le=\"1\"} 3\n"
            "gf_request_duration_seconds_bucket{model=\"llama\",le=\"+Inf\"} 4\n"
            "gf_request_duration_seconds_sum{model=\"llama\"} 4.375\n"
            "gf_request_duration_seconds_count{model=\"llama\"} 4\n"
            "# HELP gf_requests_total Requests served.\n"
            "# TYPE gf_requests_total counter\n"
            "gf_requests_total{method=\"DELETE\",code=\"200\"} 0\n"
            "gf_requests_total{method=\"GET\",code=\"200\"} 3\n"
            "gf_requests_total{method=\"POST\",code=\"500\"} 1\n");
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.sum(), 4.375);
}

TEST(MetricsTest, EraseLabelDropsOnlyThatValuesChildren) {
  Registry reg;
  CounterFamily* c = reg.counter("gf_replica_total", "Per replica.", {"model", "replica"}).value();
  c->with({"m", "r1"}).inc();
  c->with({"m", "r2"}).inc(2);
  c->with({"r1", "r3"}).inc(3);  // "r1" as a model name is not the replica r1
  c->erase_label("replica", "r1");
  c->erase_label("no-such-label", "r2");
  EXPECT_EQ(reg.render(),
            "# HELP gf_replica_total Per replica.\n"
            "# TYPE gf_replica_total counter\n"
            "gf_replica_total{model=\"m\",replica=\"r2\"} 2\n"
            "gf_replica_total{model=\"r1\",replica=\"r3\"} 3\n");
}

TEST(MetricsTest, FormatsValues) {
  EXPECT_EQ(format_metric_value(3), "3");
  EXPECT_EQ(format_metric_value(-2), "-2");
  EXPECT_EQ(format_metric_value(0.1), "0.1");
  EXPECT_EQ(format_metric_value(1e20), "1e+20");
  EXPECT_EQ(format_metric_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_metric_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_metric_value(std::nan("")), "NaN");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry reg;
  reg.gauge("g", "line one\nback\\slash \"quoted\"", {"path"})
      .value()
      ->with({"C:\\dir\n\"x\""})
      .set(1);
  EXPECT_EQ(reg.render(),
            "# HELP g line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE g gauge\n"
            "g{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(MetricsTest, RejectsInvalidNames) {
  Registry reg;
  EXPECT_FALSE(reg.gauge("", "h").ok());
  EXPECT_FALSE(reg.gauge("1abc", "h").ok());
  EXPECT_FALSE(reg.gauge("a-b", "h").ok());
  EXPECT_TRUE(reg.gauge("vllm:num_requests_running", "h").ok());
  EXPECT_TRUE(reg.gauge("_x9", "h").ok());

  auto no_total = reg.counter("gf_requests", "h");
  ASSERT_FALSE(no_total.ok());
  EXPECT_EQ(no_total.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(no_total.error().message.find("_total"), std::string::npos);

  EXPECT_FALSE(reg.gauge("g1", "h", {"a:b"}).ok());  // colons only in metric names
  EXPECT_FALSE(reg.gauge("g2", "h", {"9a"}).ok());
  EXPECT_FALSE(reg.gauge("g3", "h", {"__name"}).ok());
  EXPECT_FALSE(reg.gauge("g4", "h", {"a", "a"}).ok());
  EXPECT_FALSE(reg.gauge("g5", "h", {"le"}).ok());
  EXPECT_FALSE(reg.histogram("h1", "h", {"le"}, {1}).ok());
  EXPECT_FALSE(reg.histogram("h2", "h", {}, {1, 1}).ok());
  EXPECT_FALSE(reg.histogram("h3", "h", {}, {2, 1}).ok());
  EXPECT_FALSE(reg.histogram("h4", "h", {}, {std::nan("")}).ok());
  EXPECT_TRUE(reg.histogram("h5", "h", {}, {1, std::numeric_limits<double>::infinity()}).ok());
  // Nothing invalid was registered.
  EXPECT_EQ(reg.render().find("g1"), std::string::npos);
}

TEST(MetricsTest, DuplicateRegistration) {
  Registry reg;
  CounterFamily* a = reg.counter("x_total", "h", {"a"}).value();
  auto again = reg.counter("x_total", "other help", {"a"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, a);

  auto as_gauge = reg.gauge("x_total", "h", {"a"});
  ASSERT_FALSE(as_gauge.ok());
  EXPECT_EQ(as_gauge.error().code, ErrorCode::kAlreadyExists);
  EXPECT_FALSE(reg.counter("x_total", "h", {"b"}).ok());
  EXPECT_FALSE(reg.counter("x_total", "h", {}).ok());
  EXPECT_FALSE(reg.callback_gauge("x_total", "h", {"a"}).ok());

  ASSERT_TRUE(reg.histogram("lat_seconds", "h", {}, {1, 2}).ok());
  EXPECT_TRUE(reg.histogram("lat_seconds", "h", {}, {1, 2}).ok());
  EXPECT_FALSE(reg.histogram("lat_seconds", "h", {}, {1, 3}).ok());
}

TEST(MetricsTest, ChildReferencesStayValid) {
  Registry reg;
  GaugeFamily* g = reg.gauge("g", "h", {"i"}).value();
  Gauge& first = g->with({"0"});
  for (int i = 1; i < 1000; ++i)
    g->with({std::to_string(i)}).set(i);
  first.set(42);
  EXPECT_EQ(&g->with({"0"}), &first);
  EXPECT_EQ(g->with({"0"}).value(), 42);
  first.inc(3);
  first.dec();
  EXPECT_EQ(first.value(), 44);
}

TEST(MetricsTest, ConcurrentUpdatesSumExactly) {
  Registry reg;
  CounterFamily* c = reg.counter("ops_total", "h", {"kind"}).value();
  Gauge& g = reg.gauge("level", "h").value()->with({});
  HistogramFamily* hf = reg.histogram("size_bytes", "h", {}, {10, 100}).value();
  constexpr int kThreads = 8;
  constexpr int kIters = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIters; ++i) {
        c->with({t % 2 ? "odd" : "even"}).inc();  // lookup races with creation too
        g.inc(2);
        g.dec();
        hf->with({}).observe(i % 3 == 0 ? 5 : 50);
      }
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(c->with({"odd"}).value() + c->with({"even"}).value(), kThreads * kIters);
  EXPECT_EQ(c->with({"odd"}).value(), kThreads / 2 * kIters);
  EXPECT_EQ(g.value(), kThreads * kIters);
  Histogram& h = hf->with({});
  EXPECT_EQ(h.count(), uint64_t{kThreads} * kIters);
  std::vector<uint64_t> counts = h.bucket_counts();
  ASSERT_EQ(counts.size(), 3u);
  EXPECT_EQ(counts[0], uint64_t{kThreads} * ((kIters + 2) / 3));
  EXPECT_EQ(counts[2], 0u);
}

TEST(MetricsTest, CallbackGauge) {
  Registry reg;
  int queued = 3;
  CallbackGaugeFamily* f =
      reg.callback_gauge("gf_queue_length", "Queued requests.", {"tenant"}).value();
  f->set({"b"}, [&] { return static_cast<double>(queued); });
  f->set({"a"}, [] { return 0.5; });
  EXPECT_EQ(reg.render(),
            "# HELP gf_queue_length Queued requests.\n"
            "# TYPE gf_queue_length gauge\n"
            "gf_queue_length{tenant=\"a\"} 0.5\n"
            "gf_queue_length{tenant=\"b\"} 3\n");
  queued = 7;
  f->remove({"a"});
  EXPECT_EQ(reg.render(),
            "# HELP gf_queue_length Queued requests.\n"
            "# TYPE gf_queue_length gauge\n"
            "gf_queue_length{tenant=\"b\"} 7\n");
  EXPECT_EQ(reg.callback_gauge("gf_queue_length", "Queued requests.", {"tenant"}).value(), f);
}

TEST(MetricsTest, CallbackMayRegisterMetrics) {
  Registry reg;
  CallbackGaugeFamily* f = reg.callback_gauge("a_gauge", "h").value();
  f->set({}, [&] {
    reg.counter("b_total", "h").value()->with({}).inc();
    return 1.0;
  });
  EXPECT_NE(reg.render().find("a_gauge 1\n"), std::string::npos);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(MetricsTest, PromtoolAcceptsOutput) {
  // No colon names here (vllm:*): promtool 2.42 lints them with no way to turn that off.
  ASSERT_EQ(std::system("command -v promtool > /dev/null 2>&1"), 0)
      << "promtool is not on PATH; it checks our /metrics output against Prometheus' own parser. "
         "Install it (Debian: apt-get install prometheus, which ships /usr/bin/promtool) or add "
         "its directory to PATH.";

  Registry reg;
  CounterFamily* req =
      reg.counter("gf_http_requests_total", "HTTP requests by method and code.", {"method", "code"})
          .value();
  req->with({"GET", "200"}).inc(5);
  req->with({"POST", "503"}).inc();
  reg.counter("gf_restarts_total", "Process restarts.").value()->with({}).inc();
  GaugeFamily* temp =
      reg.gauge("gf_gpu_temperature_celsius", "GPU temperature.\nFrom NVML.", {"gpu", "node"})
          .value();
  temp->with({"GPU-0", "node \"a\"\\1\n"}).set(64.25);
  temp->with({"GPU-1", "node-b"}).set(std::numeric_limits<double>::infinity());
  temp->with({"GPU-2", "node-b"}).set(std::nan(""));
  HistogramFamily* lat =
      reg.histogram("gf_request_duration_seconds", "Request latency.", {"model"}, default_buckets())
          .value();
  for (double v : {0.003, 0.02, 0.2, 0.9, 4.0, 30.0})
    lat->with({"llama"}).observe(v);
  lat->with({"mistral"});
  reg.histogram("gf_batch_size", "Tokens per batch.", {}, exponential_buckets(1, 2, 10))
      .value()
      ->with({})
      .observe(100);
  reg.callback_gauge("gf_gpus", "GPUs by health state.", {"state"}).value()->set({"healthy"}, [] {
    return 7.0;
  });

  std::string path = ::testing::TempDir() + "gf_metrics_" + std::to_string(getpid()) + ".prom";
  std::string out = path + ".out";
  {
    std::ofstream f(path);
    f << reg.render();
  }
  int status = std::system(("promtool check metrics < " + path + " > " + out + " 2>&1").c_str());
  ASSERT_TRUE(WIFEXITED(status)) << "promtool did not exit normally: " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "promtool check metrics said:\n"
                                    << read_file(out) << "\non:\n"
                                    << read_file(path);
  std::remove(path.c_str());
  std::remove(out.c_str());
}

class LogTest : public ::testing::Test {
 protected:
  void TearDown() override { log::init(log::Level::kInfo, log::Format::kText); }  // drop `out_`
  std::ostringstream out_;
};

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);)
    out.push_back(l);
  return out;
}

TEST_F(LogTest, JsonIsOneObjectPerLine) {
  log::init_for_test(out_, log::Level::kInfo, log::Format::kJson);
  log::info("replica \"r1\" started\nok", {{"model", "llama 3"},
                                           {"gpus", 2},
                                           {"util", 0.5},
                                           {"ready", true},
                                           {"bad", std::nan("")},
                                           {"id", std::string("r-1")}});
  log::debug("hidden");
  log::warn("slow", {{"ms", int64_t{-12}}});

  std::vector<std::string> ls = lines(out_.str());
  ASSERT_EQ(ls.size(), 2u) << out_.str();
  auto first = nlohmann::json::parse(ls[0]);
  EXPECT_TRUE(first["ts"].is_string());
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["msg"], "replica \"r1\" started\nok");
  EXPECT_EQ(first["model"], "llama 3");
  EXPECT_EQ(first["gpus"], 2);
  EXPECT_EQ(first["util"], 0.5);
  EXPECT_EQ(first["ready"], true);
  EXPECT_EQ(first["bad"], "nan");
  EXPECT_EQ(first["id"], "r-1");
  auto second = nlohmann::json::parse(ls[1]);
  EXPECT_EQ(second["level"], "warn");
  EXPECT_EQ(second["ms"], -12);
}

TEST_F(LogTest, TextQuotesOnlyWhenNeeded) {
  log::init_for_test(out_, log::Level::kDebug, log::Format::kText);
  log::debug("placed", {{"replica", "r1"}, {"node", "node a"}, {"empty", ""}, {"n", 3}});
  std::vector<std::string> ls = lines(out_.str());
  ASSERT_EQ(ls.size(), 1u) << out_.str();
  EXPECT_TRUE(ls[0].ends_with(" DEBUG placed replica=r1 node=\"node a\" empty=\"\" n=3")) << ls[0];
}

TEST_F(LogTest, ParsesLevelsAndFormats) {
  EXPECT_EQ(log::parse_level("debug").value(), log::Level::kDebug);
  EXPECT_EQ(log::parse_level("warn").value(), log::Level::kWarn);
  EXPECT_EQ(log::parse_level("error").value(), log::Level::kError);
  auto bad = log::parse_level("verbose");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(log::parse_format("json").value(), log::Format::kJson);
  EXPECT_FALSE(log::parse_format("xml").ok());
  log::init_for_test(out_, log::Level::kError, log::Format::kText);
  EXPECT_FALSE(log::enabled(log::Level::kWarn));
  EXPECT_TRUE(log::enabled(log::Level::kError));
}

}  // namespace
}  // namespace gf
