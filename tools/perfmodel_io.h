// File side of the performance-model fit (tools and tests only; src/perfmodel stays pure):
// reads and decompresses ../shared/data/profiles, and renders the generated
// src/perfmodel/fitted_coefficients.inc and docs/perfmodel.md from a FitReport.
#pragma once

#include <string>

#include "common/result.h"
#include "perfmodel/profile_fit.h"

namespace gf {

// The whole file; .gz files are gunzipped.
Result<std::string> read_profile_file(const std::string& path);

// Loads splitwise_sim_perf_model_a100_h100.csv, vidur/<gpu>_<org>_<model>_mlp.csv.gz,
// vidur/a100_attention_legacy_2024-05.csv.gz and vidur/<gpu>_dgx_all_reduce.csv.gz from `dir`.
Result<ProfileSet> load_profiles(const std::string& dir);

// The C++ initialiser rows compiled into src/perfmodel/perf_model.cc.
std::string render_coefficients_inc(const FitReport& report);
// docs/perfmodel.md.
std::string render_perfmodel_doc(const FitReport& report);

}  // namespace gf
