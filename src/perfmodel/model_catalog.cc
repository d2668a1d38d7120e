#include "perfmodel/model_catalog.h"

#include "common/gpu_catalog.h"

#include <algorithm>
#include <cctype>

namespace gf {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

ModelArch arch(std::string name, int layers, int hidden, int heads, int kv_heads, int64_t params,
               int64_t context) {
  ModelArch a;
  a.name = std::move(name);
  a.layers = layers;
  a.hidden = hidden;
  a.heads = heads;
  a.kv_heads = kv_heads;
  a.params = params;
  a.dtype_bytes = 2;
  a.context_length = Tokens(context);
  return a;
}

struct Alias {
  const char* alias;
  const char* canonical;
};

// Short names, chat/instruct variants with the same architecture, and the names the Splitwise
// profiles use. Compared lower-case; every canonical name matches itself too.
constexpr Alias kAliases[] = {
    {"llama-2-7b", "meta-llama/Llama-2-7b-hf"},
    {"llama2-7b", "meta-llama/Llama-2-7b-hf"},
    {"llama-2-7b-hf", "meta-llama/Llama-2-7b-hf"},
    {"meta-llama/llama-2-7b-chat-hf", "meta-llama/Llama-2-7b-hf"},
    {"llama-2-70b", "meta-llama/Llama-2-70b-hf"},
    {"llama2-70b", "meta-llama/Llama-2-70b-hf"},
    {"llama-2-70b-hf", "meta-llama/Llama-2-70b-hf"},
    {"meta-llama/llama-2-70b-chat-hf", "meta-llama/Llama-2-70b-hf"},
    {"llama-3-8b", "meta-llama/Meta-Llama-3-8B"},
    {"llama3-8b", "meta-llama/Meta-Llama-3-8B"},
    {"meta-llama-3-8b", "meta-llama/Meta-Llama-3-8B"},
    {"meta-llama/meta-llama-3-8b-instruct", "meta-llama/Meta-Llama-3-8B"},
    {"llama-3-70b", "meta-llama/Meta-Llama-3-70B"},
    {"llama3-70b", "meta-llama/Meta-Llama-3-70B"},
    {"meta-llama-3-70b", "meta-llama/Meta-Llama-3-70B"},
    {"meta-llama/meta-llama-3-70b-instruct", "meta-llama/Meta-Llama-3-70B"},
    {"codellama-34b", "codellama/CodeLlama-34b-Instruct-hf"},
    {"codellama-34b-instruct", "codellama/CodeLlama-34b-Instruct-hf"},
    {"codellama/codellama-34b-hf", "codellama/CodeLlama-34b-Instruct-hf"},
    {"internlm-20b", "internlm/internlm-20b"},
    {"qwen-72b", "Qwen/Qwen-72B"},
    {"phi-2", "microsoft/phi-2"},
    {"bloom", "bigscience/bloom"},
    {"bloom-176b", "bigscience/bloom"},
};

}  // namespace

const std::vector<ModelArch>& model_catalog() {
  // Shapes from each model's Hugging Face config.json (n_head, n_kv_head and n_embd agree with
  // the Vidur profiles, which tools/perfmodel_fit checks); parameter counts are the totals of the
  // published weights (embeddings and untied LM heads included).
  static const std::vector<ModelArch> kModels = {
      arch("meta-llama/Llama-2-7b-hf", 32, 4096, 32, 32, 6'738'415'616, 4096),
      arch("meta-llama/Llama-2-70b-hf", 80, 8192, 64, 8, 68'976'648'192, 4096),
      arch("meta-llama/Meta-Llama-3-8B", 32, 4096, 32, 8, 8'030'261'248, 8192),
      arch("meta-llama/Meta-Llama-3-70B", 80, 8192, 64, 8, 70'553'706'496, 8192),
      arch("codellama/CodeLlama-34b-Instruct-hf", 48, 8192, 64, 8, 33'743'970'304, 16384),
      arch("internlm/internlm-20b", 60, 5120, 40, 40, 20'088'714'240, 4096),
      arch("Qwen/Qwen-72B", 80, 8192, 64, 64, 72'287'920'128, 32768),
      arch("microsoft/phi-2", 32, 2560, 32, 32, 2'779'683'840, 2048),
      arch("bigscience/bloom", 70, 14336, 112, 112, 176'247'271'424, 2048),
  };
  return kModels;
}

const std::vector<GpuSpec>& gpu_catalog() {
  static const std::vector<GpuSpec> kGpus = {
      {"A100-80GB", MiB(80 * 1024)},
      {"H100-80GB", MiB(80 * 1024)},
  };
  return kGpus;
}

const ModelArch* find_model(std::string_view name) {
  std::string key = lower(name);
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back())))
    key.pop_back();
  std::string canonical;
  for (const auto& a : kAliases) {
    if (key == a.alias) canonical = lower(a.canonical);
  }
  if (canonical.empty()) canonical = key;
  for (const auto& m : model_catalog()) {
    if (lower(m.name) == canonical) return &m;
  }
  return nullptr;
}

const GpuSpec* find_gpu(std::string_view name) {
  // Catalogue or NVML product names ("NVIDIA H100 80GB HBM3"): common/gpu_catalog.h reads both.
  const GpuHardware* hw = find_gpu_hardware(name);
  if (hw == nullptr) return nullptr;
  for (const auto& g : gpu_catalog()) {
    if (g.name == hw->name) return &g;
  }
  return nullptr;
}

}  // namespace gf
