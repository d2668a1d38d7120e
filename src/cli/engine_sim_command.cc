// `gpufleet engine-sim`: flags to EngineSimOptions, then the event loop until SIGINT/SIGTERM.
#include <utility>  // before asio (Boost 1.74 + GCC 12)

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdlib>
#include <functional>
#include <iostream>

#include "cli/commands.h"
#include "engine_sim/engine_sim.h"

namespace gf {

void add_engine_sim_command(CLI::App& app, int& status) {
  auto opts = std::make_shared<EngineSimOptions>();
  auto cold = std::make_shared<std::string>();
  auto drain = std::make_shared<std::string>("30s");
  auto prefix_off = std::make_shared<bool>(false);
  auto chunked_off = std::make_shared<bool>(false);
  auto perf = std::make_shared<std::vector<double>>();
  auto* c = app.add_subcommand(
      "engine-sim", "Run a simulated inference engine with vLLM's OpenAI API and metrics");
  c->add_option("--host", opts->host, "Address to listen on")->capture_default_str();
  c->add_option("--port", opts->port, "Port (0 = any free port, printed on start)")
      ->capture_default_str();
  c->add_option("--gpu", opts->gpu, "GPU model the latency comes from (A100-80GB, H100-80GB)")
      ->capture_default_str();
  c->add_option("--model", opts->model, "Model (Hugging Face name or alias)")
      ->capture_default_str();
  c->add_option("--served-model-name", opts->served_model_name,
                "Name clients use (default: --model)");
  c->add_option("--tp,--tensor-parallel-size", opts->tensor_parallel, "Tensor-parallel size")
      ->capture_default_str();
  c->add_option("--memory-fraction,--gpu-memory-utilization", opts->memory_fraction,
                "Share of GPU memory for weights and KV cache")
      ->capture_default_str();
  c->add_option("--max-num-seqs", opts->max_num_seqs, "Sequences per batch at most")
      ->capture_default_str();
  c->add_option("--max-num-batched-tokens", opts->max_batched_tokens.value,
                "Tokens one iteration computes at most, prompt chunks and decodes together "
                "(default: vLLM V1's for --gpu: 8192, or 2048 on an A100 or a GPU under 70 GiB)");
  c->add_flag("--no-chunked-prefill", *chunked_off,
              "Prefill whole prompts in iterations of their own (vLLM V0) instead of chunks that "
              "share iterations with decodes (vLLM V1)");
  c->add_flag("--no-prefix-cache", *prefix_off, "Disable the prefix cache");
  c->add_option("--time-scale", opts->time_scale,
                "Wall seconds per model second (0 = as fast as possible)")
      ->capture_default_str();
  c->add_option("--eos-mean-tokens", opts->eos_mean_tokens,
                "Mean output length when EOS is simulated")
      ->capture_default_str();
  c->add_option("--cold-start", *cold,
                "Time to load weights, e.g. 0s or 30s (default: weights / 2 GB/s + 5s)");
  c->add_option(
       "--performance", *perf,
       "Hand-given latency (ms) for a pair the perf model does not know: PREFILL_BASE,PER_TOKEN,"
       "PER_TOKEN2,DECODE_BASE,PER_SEQ,PER_CTX_TOKEN")
      ->delimiter(',');
  c->add_option("--drain-timeout", *drain,
                "On SIGTERM, how long running requests may take to finish before the engine exits")
      ->capture_default_str();
  c->add_option("--fail-after", opts->fail_after,
                "Answer HTTP 500 to every request after this many (fault injection)");
  c->add_option("--crash-at", opts->crash_at,
                "Exit right after the first token of this request (fault injection)");
  c->add_option("--served-log", opts->served_log,
                "Append the id of every request answered in full to FILE, one per line "
                "(x-request-id when given): several engines may share one file");
  c->add_option("--api-key", opts->api_key,
                "Every /v1 request must carry \"Authorization: Bearer KEY\", as vLLM's "
                "--api-key (default: $VLLM_API_KEY)");
  c->callback([&status, opts, cold, prefix_off, chunked_off, perf, drain] {
    EngineSimOptions o = *opts;
    // The agent hands the key over in the environment, off the command line (as for vLLM).
    if (o.api_key.empty()) {
      if (const char* k = std::getenv("VLLM_API_KEY")) o.api_key = k;
    }
    if (!perf->empty()) {
      if (perf->size() != 6) {
        std::cerr << "error: --performance takes 6 comma-separated numbers, got " << perf->size()
                  << '\n';
        status = 2;
        return;
      }
      const auto& v = *perf;
      o.performance = PerformanceSpec{v[0], v[1], v[2], v[3], v[4], v[5]};
    }
    o.prefix_cache = !*prefix_off;
    o.chunked_prefill = !*chunked_off;
    if (!cold->empty()) {
      auto d = parse_duration(*cold);
      if (!d) {
        std::cerr << "error: --cold-start: " << d.error().message << '\n';
        status = 2;
        return;
      }
      o.cold_start = *d;
    }
    auto grace = parse_duration(*drain);
    if (!grace) {
      std::cerr << "error: --drain-timeout: " << grace.error().message << '\n';
      status = 2;
      return;
    }
    boost::asio::io_context io(1);
    bool draining = false;
    auto sim = EngineSim::create(io, o);
    if (!sim) {
      std::cerr << "error: " << sim.error().message << '\n';
      status = 2;
      return;
    }
    (*sim)->start();
    // The first SIGTERM or SIGINT drains: new requests get 503, running ones (streams too) finish,
    // bounded by --drain-timeout; an idle engine exits at once. A second signal exits now.
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    auto finish = [&] {
      (*sim)->stop();
      io.stop();
    };
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int) {
          if (ec) return;
          if (draining) {
            std::cout << "engine-sim: second signal, exiting with " << (*sim)->in_flight()
                      << " requests unfinished" << std::endl;
            finish();
            return;
          }
          draining = true;
          std::cout << "engine-sim draining: " << (*sim)->in_flight()
                    << " requests in flight, exiting when they finish (at most "
                    << format_duration(*grace) << ")" << std::endl;
          (*sim)->drain(*grace, finish);
          signals.async_wait(on_signal);
        };
    signals.async_wait(on_signal);
    std::cout << "engine-sim listening on http://" << o.host << ":" << (*sim)->port()
              << " model=" << o.model << " gpu=" << o.gpu << " tp=" << o.tensor_parallel
              << std::endl;
    io.run();
    status = 0;
  });
}

}  // namespace gf
