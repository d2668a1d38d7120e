// The StateStore conformance suite's fixture: every backend (SQLite today, etcd later) runs the
// same tests by instantiating StoreConformance with a StoreBackend that opens a fresh store.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "common/clock.h"
#include "store/state_store.h"

namespace gf::store_test {

struct StoreBackend {
  std::string name;  // the test-name suffix: letters, digits and '_' only
  // Opens a fresh, empty store. `dir` is a scratch directory that lives as long as the test;
  // `clock` drives lease expiry where the backend can take a clock.
  std::function<Result<std::unique_ptr<StateStore>>(const std::string& dir, const Clock* clock)>
      open;
  // False for a backend that keeps time itself (etcd): tests that move a ManualClock are skipped.
  bool takes_clock = true;
};

// A scratch directory, removed with everything in it when destroyed.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gpufleet-store-XXXXXX").string();
    char* made = mkdtemp(tmpl.data());
    if (made != nullptr) path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Records what a watch delivers and lets a test wait for it with a bounded timeout, never by
// sleeping. Declare it before the WatchHandle, so the watch ends before the recorder goes.
class WatchRecorder {
 public:
  static constexpr std::chrono::seconds kTimeout{10};

  WatchCallback callback() {
    return [this](const WatchResponse& r) {
      std::lock_guard lk(mu_);
      responses_.push_back(r);
      for (const Event& e : r.events)
        events_.push_back(e);
      cv_.notify_all();
    };
  }

  // Waits until at least `n` events have arrived; returns all of them (fewer on timeout).
  std::vector<Event> wait_for(size_t n) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, kTimeout, [&] { return events_.size() >= n; });
    return events_;
  }
  // Waits for a response that ends the watch (status not ok); false on timeout.
  bool wait_ended() {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, kTimeout,
                        [&] { return !responses_.empty() && !responses_.back().status.ok(); });
  }
  std::vector<Event> events() const {
    std::lock_guard lk(mu_);
    return events_;
  }
  std::vector<WatchResponse> responses() const {
    std::lock_guard lk(mu_);
    return responses_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchResponse> responses_;
  std::vector<Event> events_;
};

class StoreConformance : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed";
    auto s = GetParam().open(dir_.path(), &clock_);
    ASSERT_TRUE(s.ok()) << s.error().describe();
    store_ = std::move(*s);
  }
  void TearDown() override { store_.reset(); }

  // The store's current revision.
  Revision rev() {
    auto r = store_->range(KeyRange::single("\x01revision-probe"));
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->revision : -1;
  }
  void skip_unless_clock() {
    if (!GetParam().takes_clock) GTEST_SKIP() << "backend keeps its own time";
  }

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<StateStore> store_;
};

// gtest prints a parameter on failure: the name, not the object's bytes.
inline void PrintTo(const StoreBackend& b, std::ostream* os) {
  *os << b.name;
}

inline std::string backend_name(const ::testing::TestParamInfo<StoreBackend>& info) {
  return info.param.name;
}

}  // namespace gf::store_test
