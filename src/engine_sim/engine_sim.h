// `gpufleet engine-sim`: a stand-in inference engine that speaks vLLM's OpenAI API and metrics,
// with latency from the fitted perf model. No GPU needed to run, test or demo gpufleet.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/prefix_hash.h"
#include "common/result.h"
#include "common/spec.h"
#include "common/units.h"

namespace boost::asio {
class io_context;
}

namespace gf {

struct EngineSimOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0 = any free port
  std::string gpu = "A100-80GB";
  std::string model = "meta-llama/Llama-2-7b-hf";
  std::string served_model_name;  // defaults to `model`
  int tensor_parallel = 1;
  double memory_fraction = 0.9;
  int max_num_seqs = 256;
  Tokens max_batched_tokens{0};  // 0: vLLM V1's default for `gpu` (8192, or 2048 on an A100)
  bool chunked_prefill = true;   // BatchEngineConfig::chunked_prefill
  bool prefix_cache = true;
  // The prefix cache's blocks: the gateway's (same block size and seed), so the prefix a gateway
  // routed on is the prefix this engine finds cached.
  PrefixHashConfig prefix;
  // Wall time per model second: 1 = real time, 0.1 = ten times faster, 0 = as fast as possible.
  double time_scale = 1.0;
  // Mean output length when EOS is simulated (requests without ignore_eos stop earlier than
  // max_tokens at a point drawn from their seed).
  int eos_mean_tokens = 128;
  std::optional<Duration> cold_start;          // default: weights / 2 GB/s + 5 s engine start-up
  std::optional<PerformanceSpec> performance;  // hand-given latency for an unknown (GPU, model)
  int64_t fail_after = -1;  // requests after this many get HTTP 500 (fault injection)
  int64_t crash_at = -1;    // the process exits right after this request's first token
  size_t max_body_bytes = 4 << 20;
  // As vLLM's --api-key (and its VLLM_API_KEY): every /v1 request must carry "Authorization:
  // Bearer <key>"; /health and /metrics stay open. Empty: open.
  std::string api_key;
  // Appends the id of every request answered in full (its x-request-id, else its response id),
  // one per line: the chaos suite counts the requests some engine served twice. Empty: none.
  std::string served_log;
};

class EngineSim {
 public:
  static Result<std::unique_ptr<EngineSim>> create(boost::asio::io_context& io,
                                                   EngineSimOptions options);
  ~EngineSim();
  uint16_t port() const;
  void start();
  // A graceful shutdown: from now on completions get 503 and /health 503 "draining", while the
  // completions already taken (streams included) run to their end. `done` is posted once they
  // all have, at once when there are none, or when `grace` passes with some still running.
  void drain(Duration grace, std::function<void()> done);
  int in_flight() const;  // completions being answered
  void stop();

 private:
  struct Impl;
  explicit EngineSim(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gf
