// Each adapter's exact command line and environment, checked by starting a fake executable of the
// engine's name that records what it received.
#include "agent/engine_adapter.h"

#include "agent/engine_load.h"
#include "agent/process_supervisor.h"

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace gf {
namespace {

namespace fs = std::filesystem;

struct Recorded {
  std::vector<std::string> argv;  // argv[1..]
  std::map<std::string, std::string> env;
};

class EngineAdapterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("adapters-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    for (const char* name : {"vllm", "python3", "trtllm-serve", "llama-server", "gpufleet"}) {
      fs::path p = dir_ / name;
      std::ofstream(p)
          << "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$RECORD.argv\"\n"
             "env > \"$RECORD.env\"\n";
      fs::permissions(p, fs::perms::owner_all);
    }
    dep_.name = "llama";
    dep_.model = "meta-llama/Llama-2-7b-hf";
    dep_.resources.gpus = 2;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs the spec the way the supervisor will: PATH lookup of argv[0], the spec's env on top.
  Recorded run(const ProcessSpec& spec) {
    auto env = spec.env;
    env["PATH"] = dir_.string() + ":/usr/bin:/bin";
    env["RECORD"] = (dir_ / "out").string();
    std::vector<std::string> env_strings = merged_environment(env);
    std::vector<char*> argv, envp;
    for (const auto& a : spec.argv)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    for (auto& e : env_strings)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    // posix_spawnp searches the PATH of the *caller*; resolve in our directory explicitly.
    std::string exe =
        spec.argv[0].find('/') == std::string::npos ? (dir_ / spec.argv[0]).string() : spec.argv[0];
    pid_t pid = 0;
    EXPECT_EQ(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv.data(), envp.data()), 0) << exe;
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    Recorded r;
    std::ifstream a(dir_ / "out.argv");
    for (std::string line; std::getline(a, line);)
      r.argv.push_back(line);
    std::ifstream e(dir_ / "out.env");
    for (std::string line; std::getline(e, line);) {
      auto eq = line.find('=');
      if (eq != std::string::npos) r.env[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return r;
  }

  ReplicaLaunch launch(EngineType type) {
    dep_.engine.type = type;
    ReplicaLaunch l;
    l.replica = "llama-0";
    l.deployment = &dep_;
    l.gpu_uuids = {"GPU-aaaa", "GPU-bbbb"};
    l.gpu_model = "A100-80GB";
    l.port = 31000;
    l.memory_fraction = 0.45;
    l.gpufleet_binary = (dir_ / "gpufleet").string();
    return l;
  }

  fs::path dir_;
  DeploymentSpec dep_;
};

TEST_F(EngineAdapterTest, Vllm) {
  dep_.engine.args = {"--max-model-len", "4096"};
  dep_.engine.env = {{"HF_HOME", "/models"}};
  auto spec = build_process(launch(EngineType::kVllm));
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  EXPECT_EQ(spec->argv[0], "vllm");
  Recorded r = run(*spec);
  EXPECT_EQ(r.argv,
            (std::vector<std::string>{"serve", "meta-llama/Llama-2-7b-hf", "--host", "127.0.0.1",
                                      "--port", "31000", "--tensor-parallel-size", "2",
                                      "--gpu-memory-utilization", "0.45", "--served-model-name",
                                      "meta-llama/Llama-2-7b-hf", "--max-model-len", "4096"}));
  EXPECT_EQ(r.env["CUDA_VISIBLE_DEVICES"], "GPU-aaaa,GPU-bbbb");
  EXPECT_EQ(r.env["HF_HOME"], "/models");
  EXPECT_EQ(spec->readiness_path, "/health");
  EXPECT_EQ(spec->metrics.running, "vllm:num_requests_running");
}

TEST_F(EngineAdapterTest, EachEngineGetsTheIterationBudgetUnderItsOwnFlagUnlessItsArgsSetIt) {
  dep_.engine.max_batched_tokens = BatchedTokensSpec{.tokens = Tokens(624)};
  const std::vector<std::pair<EngineType, std::string>> flags = {
      {EngineType::kVllm, "--max-num-batched-tokens"},
      {EngineType::kSglang, "--chunked-prefill-size"},
      {EngineType::kTrtllm, "--max_num_tokens"},
      {EngineType::kLlamaCpp, "--batch-size"},
      {EngineType::kEngineSim, "--max-num-batched-tokens"}};
  for (const auto& [type, flag] : flags) {
    dep_.engine.args.clear();
    Recorded r = run(*build_process(launch(type)));
    auto at = std::find(r.argv.begin(), r.argv.end(), flag);
    ASSERT_NE(at, r.argv.end()) << flag;
    ASSERT_NE(at + 1, r.argv.end());
    EXPECT_EQ(*(at + 1), "624") << flag;
    // The deployment's own args win, in either form: the flag is not given twice.
    dep_.engine.args = {flag + "=2048"};
    r = run(*build_process(launch(type)));
    EXPECT_EQ(std::count(r.argv.begin(), r.argv.end(), flag), 0) << flag;
    EXPECT_EQ(std::count(r.argv.begin(), r.argv.end(), flag + "=2048"), 1) << flag;
    dep_.engine.args = {flag, "2048"};
    r = run(*build_process(launch(type)));
    EXPECT_EQ(std::count(r.argv.begin(), r.argv.end(), flag), 1) << flag;
    EXPECT_EQ(std::count(r.argv.begin(), r.argv.end(), "624"), 0) << flag;
  }
}

TEST_F(EngineAdapterTest, VllmGetsAMaxNumSeqsItsBudgetAllows) {
  // vLLM refuses max_num_batched_tokens below max_num_seqs (1024 by default on an H100).
  const auto seqs = [&](int64_t budget, std::vector<std::string> args) {
    dep_.engine.max_batched_tokens = BatchedTokensSpec{.tokens = Tokens(budget)};
    dep_.engine.args = std::move(args);
    Recorded r = run(*build_process(launch(EngineType::kVllm)));
    auto at = std::find(r.argv.begin(), r.argv.end(), "--max-num-seqs");
    return at == r.argv.end() || at + 1 == r.argv.end() ? std::string("none") : *(at + 1);
  };
  EXPECT_EQ(seqs(624, {}), "256");                                  // the perf model's batch
  EXPECT_EQ(seqs(128, {}), "128");                                  // never above the budget
  EXPECT_EQ(seqs(624, {"--max-num-seqs", "64"}), "64");             // the deployment's own
  EXPECT_EQ(seqs(624, {"--max-num-batched-tokens=4096"}), "none");  // its own budget: untouched
  dep_.engine.max_batched_tokens.reset();
  dep_.engine.args.clear();
  Recorded r = run(*build_process(launch(EngineType::kVllm)));
  EXPECT_EQ(std::count(r.argv.begin(), r.argv.end(), "--max-num-seqs"), 0);
}

TEST_F(EngineAdapterTest, Sglang) {
  Recorded r = run(*build_process(launch(EngineType::kSglang)));
  EXPECT_EQ(r.argv, (std::vector<std::string>{
                        "-m", "sglang.launch_server", "--model-path", "meta-llama/Llama-2-7b-hf",
                        "--host", "127.0.0.1", "--port", "31000", "--tp", "2",
                        "--mem-fraction-static", "0.45", "--enable-metrics"}));
  EXPECT_EQ(r.env["CUDA_VISIBLE_DEVICES"], "GPU-aaaa,GPU-bbbb");
}

TEST_F(EngineAdapterTest, TensorRtLlm) {
  auto spec = build_process(launch(EngineType::kTrtllm));
  ASSERT_TRUE(spec.ok()) << spec.error().message;
  Recorded r = run(*spec);
  EXPECT_EQ(r.argv, (std::vector<std::string>{"meta-llama/Llama-2-7b-hf", "--host", "127.0.0.1",
                                              "--port", "31000", "--tp_size", "2",
                                              "--kv_cache_free_gpu_memory_fraction", "0.45"}));
  // trtllm-serve's /metrics is JSON; its Prometheus text is elsewhere, in the form and under the
  // names of tensorrt_llm/metrics/collector.py (labels as trtllm-serve sets them).
  EXPECT_EQ(spec->metrics_path, "/prometheus/metrics");
  const std::string text =
      "# TYPE trtllm_num_requests_running gauge\n"
      "trtllm_num_requests_running{engine_type=\"undefined\",model_name=\"undefined\"} 3.0\n"
      "# TYPE trtllm_num_requests_waiting gauge\n"
      "trtllm_num_requests_waiting{engine_type=\"undefined\",model_name=\"undefined\"} 1.0\n"
      "# TYPE trtllm_kv_cache_utilization gauge\n"
      "trtllm_kv_cache_utilization{engine_type=\"undefined\",model_name=\"undefined\"} 0.25\n"
      "# TYPE trtllm_prompt_tokens_total counter\n"
      "trtllm_prompt_tokens_total{engine_type=\"undefined\",model_name=\"undefined\"} 1200.0\n"
      "# TYPE trtllm_generation_tokens_total counter\n"
      "trtllm_generation_tokens_total{engine_type=\"undefined\",model_name=\"undefined\"} 340.0\n";
  auto load = parse_engine_load(text, spec->metrics);
  ASSERT_TRUE(load.has_value());
  EXPECT_EQ(load->running, 3);
  EXPECT_EQ(load->waiting, 1);
  EXPECT_EQ(load->kv_cache_usage, 0.25);
  EXPECT_EQ(load->prompt_tokens, 1200);
  EXPECT_EQ(load->generation_tokens, 340);
}

TEST_F(EngineAdapterTest, LlamaCpp) {
  Recorded r = run(*build_process(launch(EngineType::kLlamaCpp)));
  EXPECT_EQ(r.argv,
            (std::vector<std::string>{"-m", "meta-llama/Llama-2-7b-hf", "--host", "127.0.0.1",
                                      "--port", "31000", "--n-gpu-layers", "999", "--metrics"}));
}

TEST_F(EngineAdapterTest, EngineSim) {
  Recorded r = run(*build_process(launch(EngineType::kEngineSim)));
  EXPECT_EQ(r.argv,
            (std::vector<std::string>{"engine-sim", "--model", "meta-llama/Llama-2-7b-hf", "--gpu",
                                      "A100-80GB", "--tp", "2", "--host", "127.0.0.1", "--port",
                                      "31000", "--memory-fraction", "0.45"}));
  EXPECT_EQ(r.env["CUDA_VISIBLE_DEVICES"], "GPU-aaaa,GPU-bbbb");
}

// #16: a deployment's own coefficients reach engine-sim (it crash-looped without them on a GPU
// with no profile); #17, defect 6: each engine gets its replica's key where it reads one, off
// the command line when it can.
TEST_F(EngineAdapterTest, CoefficientsAndTheReplicasKeyReachTheEngine) {
  dep_.performance = PerformanceSpec{12, 0.05, 0.0001, 9, 0.2, 0.00001};
  ReplicaLaunch l = launch(EngineType::kEngineSim);
  l.api_key = "gfr-abc";
  Recorded sim = run(*build_process(l));
  ASSERT_GE(sim.argv.size(), 2u);
  EXPECT_EQ(sim.argv[sim.argv.size() - 2], "--performance");
  EXPECT_EQ(sim.argv.back(), "12,0.05,0.0001,9,0.2,1e-05");
  EXPECT_EQ(sim.env["VLLM_API_KEY"], "gfr-abc");
  for (const auto& a : sim.argv)
    EXPECT_NE(a, "gfr-abc") << "the key is not on the command line";

  dep_.performance.reset();
  l = launch(EngineType::kVllm);
  l.api_key = "gfr-abc";
  EXPECT_EQ(run(*build_process(l)).env["VLLM_API_KEY"], "gfr-abc");
  l = launch(EngineType::kLlamaCpp);
  l.api_key = "gfr-abc";
  EXPECT_EQ(run(*build_process(l)).env["LLAMA_ARG_API_KEY"], "gfr-abc");
  l = launch(EngineType::kSglang);
  l.api_key = "gfr-abc";
  const Recorded sglang = run(*build_process(l));
  ASSERT_GE(sglang.argv.size(), 2u);
  EXPECT_EQ(sglang.argv[sglang.argv.size() - 2], "--api-key");  // its only way in
  EXPECT_EQ(sglang.argv.back(), "gfr-abc");
  // Without a key nothing is added (an open controller runs open engines).
  EXPECT_EQ(run(*build_process(launch(EngineType::kVllm))).env.count("VLLM_API_KEY"), 0u);
}

TEST_F(EngineAdapterTest, RefusesLaunchesThatMakeNoSense) {
  ReplicaLaunch l = launch(EngineType::kVllm);
  l.port = 0;
  EXPECT_NE(build_process(l).error().message.find("no port allocated"), std::string::npos);
  l = launch(EngineType::kVllm);
  l.gpu_uuids = {"GPU-aaaa"};
  EXPECT_NE(build_process(l).error().message.find("1 GPUs allocated but the deployment asks for 2"),
            std::string::npos);
  l = launch(EngineType::kVllm);
  l.memory_fraction = 1.5;
  EXPECT_FALSE(build_process(l).ok());
}

}  // namespace
}  // namespace gf
