#include "perfmodel_io.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace gf {
namespace {

Result<std::string> read_gzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) return make_error(ErrorCode::kNotFound, "cannot open " + path);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int code = 0;
      std::string msg = gzerror(f, &code);
      gzclose(f);
      return make_error(ErrorCode::kInvalidArgument, path + ": " + msg);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  gzclose(f);
  return out;
}

std::string gpu_of_prefix(const std::string& prefix) {
  if (prefix == "a100") return "A100-80GB";
  if (prefix == "h100") return "H100-80GB";
  return "";
}

}  // namespace

Result<std::string> read_profile_file(const std::string& path) {
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) return read_gzip(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<ProfileSet> load_profiles(const std::string& dir) {
  namespace fs = std::filesystem;
  ProfileSet set;
  const auto prefixed = [](const Error& e, const std::string& path) {
    return make_error(e.code, path + ": " + e.message);
  };
  {
    const std::string path = dir + "/splitwise_sim_perf_model_a100_h100.csv";
    auto text = read_profile_file(path);
    if (!text) return text.error();
    auto rows = parse_splitwise_csv(*text);
    if (!rows) return prefixed(rows.error(), path);
    set.splitwise = std::move(*rows);
  }
  const std::string vdir = dir + "/vidur";
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(vdir, ec))
    names.push_back(e.path().filename().string());
  if (ec) return make_error(ErrorCode::kNotFound, "cannot list " + vdir + ": " + ec.message());
  std::sort(names.begin(), names.end());
  const std::string mlp_suffix = "_mlp.csv.gz";
  for (const auto& name : names) {
    const std::string path = vdir + "/" + name;
    if (name.size() > mlp_suffix.size() &&
        name.compare(name.size() - mlp_suffix.size(), mlp_suffix.size(), mlp_suffix) == 0) {
      // <gpu>_<org>_<model>_mlp.csv.gz; organisation names have no underscore.
      const std::string stem = name.substr(0, name.size() - mlp_suffix.size());
      const size_t a = stem.find('_');
      const size_t b = a == std::string::npos ? a : stem.find('_', a + 1);
      if (b == std::string::npos) continue;
      const std::string gpu = gpu_of_prefix(stem.substr(0, a));
      if (gpu.empty()) continue;
      auto text = read_profile_file(path);
      if (!text) return text.error();
      auto rows = parse_vidur_mlp_csv(*text);
      if (!rows) return prefixed(rows.error(), path);
      set.mlp.push_back(
          {gpu, stem.substr(a + 1, b - a - 1) + "/" + stem.substr(b + 1), std::move(*rows)});
    } else if (name == "a100_attention_legacy_2024-05.csv.gz") {
      auto text = read_profile_file(path);
      if (!text) return text.error();
      auto rows = parse_vidur_attention_csv(*text);
      if (!rows) return prefixed(rows.error(), path);
      set.attention = std::move(*rows);
    } else if (name == "a100_dgx_all_reduce.csv.gz" || name == "h100_dgx_all_reduce.csv.gz") {
      auto text = read_profile_file(path);
      if (!text) return text.error();
      auto rows = parse_vidur_all_reduce_csv(*text);
      if (!rows) return prefixed(rows.error(), path);
      set.all_reduce.push_back({gpu_of_prefix(name.substr(0, 4)), std::move(*rows)});
    }
  }
  if (set.mlp.empty() || set.attention.empty() || set.all_reduce.empty())
    return make_error(ErrorCode::kNotFound, vdir +
                                                " lacks the Vidur MLP, attention or all-reduce "
                                                "profiles");
  return set;
}

}  // namespace gf
