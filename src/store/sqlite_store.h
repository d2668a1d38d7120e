// SqliteStore: the embedded StateStore backend. etcd's semantics (revisions, txns, watch, leases)
// on one SQLite file in WAL mode, the way k3s's kine puts SQL under an etcd API: for a single
// controller, `gpufleet up`, tests and the simulator. docs/store.md has the details.
#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/io/real_clock.h"
#include "store/state_store.h"

namespace gf {

// How hard a commit waits for the disk before put() returns.
enum class SqliteSync {
  // fsync the WAL on every commit: an acknowledged write survives a process kill and a power
  // loss or kernel crash (etcd's guarantee). The default.
  kFull,
  // No fsync per commit: an acknowledged write survives a process kill (it is in the OS page
  // cache) but the last ones may be lost to a power loss. For tests, the simulator, `gpufleet up`.
  kNormal,
};

struct SqliteStoreOptions {
  // Lease expiry reads this clock; nullptr = a RealClock. Must outlive the store.
  const Clock* clock = nullptr;
  SqliteSync sync = SqliteSync::kFull;
};

class SqliteStore final : public StateStore {
 public:
  // The file format: application_id in the SQLite header marks a gpufleet store, user_version is
  // the schema version.
  static constexpr int64_t kApplicationId = 0x47465354;  // "GFST"
  static constexpr int64_t kSchemaVersion = 1;
  // Limits chosen to match etcd's defaults, so what works here also works on etcd.
  static constexpr size_t kMaxKeyBytes = 4 * 1024;
  static constexpr size_t kMaxValueBytes = 1536 * 1024;  // etcd --max-request-bytes
  static constexpr size_t kMaxTxnOps = 128;              // etcd --max-txn-ops
  static constexpr Duration kMaxLeaseTtl = std::chrono::hours(24 * 365);

  // Opens the store at `path`, creating it if the file does not exist (its directory must), or an
  // in-memory store for ":memory:". Fails with a message naming the file when it is a directory,
  // its directory is missing, it is not a gpufleet store, it was written by a newer gpufleet, or
  // another process has it open (kUnavailable: one process per store file).
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                   SqliteStoreOptions options = {});
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Result<RangeResponse> range(const KeyRange& range, const RangeOptions& options = {}) override;
  Result<PutResponse> put(std::string_view key, std::string_view value,
                          const PutOptions& options = {}) override;
  Result<DeleteResponse> delete_range(const KeyRange& range,
                                      const DeleteOptions& options = {}) override;
  Result<TxnResponse> txn(const TxnRequest& request) override;
  Result<CompactResponse> compact(Revision revision) override;
  // Callbacks run on a dispatcher thread owned by the store (started by the first watch), one at
  // a time. Destroy the store from any thread but that one.
  Result<WatchHandle> watch(const KeyRange& range, Revision start_revision, WatchCallback callback,
                            const WatchOptions& options = {}) override;
  Result<LeaseGrantResponse> grant(Duration ttl) override;
  Result<LeaseKeepAliveResponse> keepalive(LeaseId id) override;
  Result<LeaseRevokeResponse> revoke(LeaseId id) override;
  Result<LeaseTimeToLiveResponse> time_to_live(LeaseId id, bool keys = false) override;
  Result<std::vector<LeaseId>> leases() override;
  // Revokes each lease whose deadline has passed on the clock, each in its own revision. The
  // owner calls this on a timer (e.g. every 500 ms); every other call does it first as well.
  Status expire_leases() override;

  const std::string& path() const;
  // The oldest revision still readable (0 = never compacted).
  Revision compact_revision() const;

 private:
  struct Impl;
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gf
