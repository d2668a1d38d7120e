// perfmodel_fit: fits the performance model to ../shared/data/profiles and writes
// src/perfmodel/fitted_coefficients.inc and docs/perfmodel.md (or, with --check, says whether
// they are current).
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "perfmodel_io.h"

namespace {

int usage() {
  std::cerr << "usage: perfmodel_fit [--profiles DIR] [--inc FILE] [--doc FILE] [--check]\n"
               "  defaults: " GPUFLEET_SOURCE_DIR
               "/../shared/data/profiles,\n"
               "            " GPUFLEET_SOURCE_DIR
               "/src/perfmodel/fitted_coefficients.inc,\n"
               "            " GPUFLEET_SOURCE_DIR
               "/docs/perfmodel.md\n"
               "  --check: write nothing; exit 1 if either file differs from a fresh fit\n";
  return 2;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  std::string profiles = GPUFLEET_SOURCE_DIR "/../shared/data/profiles";
  std::string inc = GPUFLEET_SOURCE_DIR "/src/perfmodel/fitted_coefficients.inc";
  std::string doc = GPUFLEET_SOURCE_DIR "/docs/perfmodel.md";
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--check") {
      check = true;
    } else if ((a == "--profiles" || a == "--inc" || a == "--doc") && i + 1 < argc) {
      (a == "--profiles" ? profiles : a == "--inc" ? inc : doc) = argv[++i];
    } else {
      return usage();
    }
  }
  auto set = gf::load_profiles(profiles);
  if (!set) {
    std::cerr << "perfmodel_fit: " << set.error().describe() << '\n';
    return 1;
  }
  auto report = gf::fit_profiles(*set);
  if (!report) {
    std::cerr << "perfmodel_fit: " << report.error().describe() << '\n';
    return 1;
  }
  const std::string inc_text = gf::render_coefficients_inc(*report);
  const std::string doc_text = gf::render_perfmodel_doc(*report);
  for (const auto& k : report->keys)
    std::printf("%-10s %-38s tp=%d %-19s held-out median: prefill %5.1f%%  decode %5.1f%%\n",
                k.key.gpu.c_str(), k.key.model.c_str(), k.key.tp, k.key.source.c_str(),
                k.prefill_held_out.median_pct, k.decode_held_out.median_pct);
  if (check) {
    bool ok = true;
    if (slurp(inc) != inc_text) {
      std::cerr << "perfmodel_fit: " << inc << " is stale\n";
      ok = false;
    }
    if (slurp(doc) != doc_text) {
      std::cerr << "perfmodel_fit: " << doc << " is stale\n";
      ok = false;
    }
    return ok ? 0 : 1;
  }
  if (!write(inc, inc_text) || !write(doc, doc_text)) {
    std::cerr << "perfmodel_fit: cannot write " << inc << " or " << doc << '\n';
    return 1;
  }
  std::printf("wrote %s and %s (%zu combinations)\n", inc.c_str(), doc.c_str(),
              report->keys.size());
  return 0;
}
