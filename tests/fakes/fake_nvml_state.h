// Writes the state file of the fake libnvidia-ml (tests/fakes/fake_nvml.cc) and points
// $FAKE_NVML_STATE at it. Every write replaces the file atomically (write + rename) with a fresh
// modification time, so the fake sees each change at once, however fast they come.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace gf::testing {

// Where the build put the fake libraries; tests get these from the gf_gpu_fake_nvml target.
inline std::string fake_nvml_library() {
#ifdef GPUFLEET_FAKE_NVML_DIR
  return std::string(GPUFLEET_FAKE_NVML_DIR) + "/libnvidia-ml.so.1";
#else
  return "libnvidia-ml.so.1";
#endif
}

inline std::string fake_nvml_minimal_library() {
#if defined(GPUFLEET_FAKE_NVML_MINIMAL_DIR)
  return std::string(GPUFLEET_FAKE_NVML_MINIMAL_DIR) + "/libnvidia-ml.so.1";
#elif defined(GPUFLEET_FAKE_NVML_DIR)
  return std::string(GPUFLEET_FAKE_NVML_DIR) + "/../fake_nvml_minimal/libnvidia-ml.so.1";
#else
  return "libnvidia-ml.so.1";
#endif
}

class FakeNvmlState {
 public:
  // A fresh file in the temp directory; sets FAKE_NVML_STATE for this process.
  explicit FakeNvmlState(std::map<std::string, std::string> initial = {})
      : kv_(std::move(initial)) {
    static std::atomic<int> serial{0};
    path_ = (std::filesystem::temp_directory_path() /
             ("gpufleet-fake-nvml-" + std::to_string(::getpid()) + "-" +
              std::to_string(serial.fetch_add(1)) + ".state"))
                .string();
    write();
    ::setenv("FAKE_NVML_STATE", path_.c_str(), 1);
  }
  ~FakeNvmlState() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  FakeNvmlState(const FakeNvmlState&) = delete;
  FakeNvmlState& operator=(const FakeNvmlState&) = delete;

  const std::string& path() const { return path_; }

  // Sets keys ("gpu0.temp" -> "91") and rewrites the file once.
  void set(std::initializer_list<std::pair<std::string, std::string>> values) {
    for (const auto& [k, v] : values)
      kv_[k] = v;
    write();
  }
  void set(const std::string& key, const std::string& value) { set({{key, value}}); }
  void erase(const std::string& key) {
    kv_.erase(key);
    write();
  }
  // Queues an XID event on a GPU slot; the fake delivers each once.
  void add_xid(int slot, uint64_t xid) {
    xids_.push_back(std::to_string(slot) + ":" + std::to_string(xid));
    write();
  }

 private:
  void write() {
    std::string text;
    for (const auto& [k, v] : kv_)
      text += k + "=" + v + "\n";
    for (const auto& x : xids_)
      text += "xid=" + x + "\n";
    std::string tmp = path_ + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) std::abort();
    size_t off = 0;
    while (off < text.size()) {
      ssize_t n = ::write(fd, text.data() + off, text.size() - off);
      if (n <= 0) std::abort();
      off += static_cast<size_t>(n);
    }
    // A modification time no earlier write had: the fake compares it to notice the change.
    static std::atomic<long> tick{0};
    timespec times[2];
    times[0].tv_sec = 0;
    times[0].tv_nsec = UTIME_OMIT;
    times[1].tv_sec = std::time(nullptr);
    times[1].tv_nsec = tick.fetch_add(1) % 1000000000L;
    ::futimens(fd, times);
    ::close(fd);
    if (::rename(tmp.c_str(), path_.c_str()) != 0) std::abort();
  }

  std::string path_;
  std::map<std::string, std::string> kv_;
  std::vector<std::string> xids_;
};

}  // namespace gf::testing
