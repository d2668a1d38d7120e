// `gpufleet perfmodel`: what the fitted performance model predicts for one configuration.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "perfmodel/gpu_memory.h"
#include "perfmodel/perf_model.h"

namespace gf {

void add_perfmodel_command(CLI::App& app, int& status) {
  struct Args {
    std::string gpu = "A100-80GB";
    std::string model = "meta-llama/Llama-2-7b-hf";
    int tp = 1;
    int64_t prompt = 512;
    int batch = 1;
    int64_t context = 0;  // default: batch x (prompt + 128)
    double memory_fraction = 0.9;
    std::string output = "table";
  };
  auto a = std::make_shared<Args>();
  auto* c = app.add_subcommand(
      "perfmodel", "Show what the fitted performance model predicts for a GPU, model and TP size");
  c->add_option("--gpu", a->gpu, "GPU model")->capture_default_str();
  c->add_option("--model", a->model, "Model (Hugging Face name or alias)")->capture_default_str();
  c->add_option("--tp", a->tp, "Tensor-parallel size")->capture_default_str();
  c->add_option("--prompt", a->prompt, "Prompt tokens in the prefill")->capture_default_str();
  c->add_option("--batch", a->batch, "Sequences in the decode batch")->capture_default_str();
  c->add_option("--context", a->context,
                "Context tokens of the whole decode batch (default: batch x (prompt + 128))");
  c->add_option("--memory-fraction", a->memory_fraction,
                "Share of GPU memory for weights and KV cache")
      ->capture_default_str();
  c->add_option("-o,--output", a->output, "Output format")->check(CLI::IsMember({"table", "json"}));
  c->callback([a, &status] {
    auto pm = PerfModel::lookup(a->gpu, a->model, a->tp);
    if (!pm) {
      std::cerr << "error: " << pm.error().message << '\n';
      status = 1;
      return;
    }
    int64_t context = a->context > 0 ? a->context : a->batch * (a->prompt + 128);
    // The GPU's own memory (H200: 141 GiB), by engine-sim's rule, so both say the same.
    const MiB memory = gpu_memory_from_name(a->gpu);
    auto ms = [](Duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
    nlohmann::json j = {
        {"gpu", pm->gpu()},
        // "splitwise"/"vidur" (measured), "derived from H100-80GB" (datasheet ratios, #16).
        {"source", pm->source()},
        {"model", pm->arch().name},
        {"tp", a->tp},
        {"prefillMs", ms(pm->prefill_time(Tokens(a->prompt)))},
        {"decodeIterationMs", ms(pm->decode_iteration_time(a->batch, Tokens(context)))},
        {"kvCapacityTokens", pm->kv_capacity(memory, a->memory_fraction).value},
        {"coldStartSeconds",
         std::chrono::duration<double>(pm->cold_start(2e9, std::chrono::seconds(5))).count()},
        {"sustainableRps", pm->sustainable_rps(SloTarget{}, Tokens(a->prompt), Tokens(128))},
    };
    if (a->output == "json") {
      std::cout << j.dump(2) << '\n';
    } else {
      std::cout << fmt::format(
          "{} on {} x{}  (profile: {})\n  prefill of {} tokens      {:.2f} ms\n  decode iteration "
          "(batch {}, {} context tokens)  {:.2f} ms\n"
          "  KV cache at {:.0f}% of {}GiB per GPU  {} tokens\n  cold start (2 GB/s + 5s init)  "
          "{:.1f} s\n"
          "  sustainable load (TTFT 1s, TPOT 100ms, {} in / 128 out)  {:.2f} req/s\n",
          pm->arch().name, pm->gpu(), a->tp, pm->source(), a->prompt, j["prefillMs"].get<double>(),
          a->batch, context, j["decodeIterationMs"].get<double>(), a->memory_fraction * 100,
          memory.value / 1024, j["kvCapacityTokens"].get<int64_t>(),
          j["coldStartSeconds"].get<double>(), a->prompt, j["sustainableRps"].get<double>());
    }
    status = 0;
  });
}

}  // namespace gf
