// StateStore: the etcd-shaped key-value API every gpufleet process sees (KV, Txn, Watch, Lease),
// whichever backend holds the data (embedded SQLite now, an etcd cluster later).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/result.h"
#include "common/units.h"
#include "store/key_range.h"

namespace gf {

// The store's logical clock: one global counter, increased by one per write transaction (a txn
// with several puts and deletes bumps it once). 0 never names a revision; it means "now" or "none"
// where an argument takes one.
using Revision = int64_t;
// A lease id; 0 = no lease.
using LeaseId = int64_t;

// One key as of some revision (etcd's mvccpb.KeyValue).
struct KeyValue {
  std::string key;
  std::string value;
  Revision create_revision = 0;  // revision of the put that created this generation of the key
  Revision mod_revision = 0;     // revision of the last put to it
  int64_t version = 0;           // puts since it was created: 1 after the first; reset by delete
  LeaseId lease = 0;             // the lease that deletes it when it expires; 0 = none

  bool operator==(const KeyValue&) const = default;
};

// ---------------------------------------------------------------------------------------- KV

struct RangeOptions {
  int64_t limit = 0;        // at most this many keys (the first ones in key order); 0 = no limit
  Revision revision = 0;    // read the keys as of this revision; 0 = the current revision
  bool keys_only = false;   // leave values empty
  bool count_only = false;  // return no keys, only `count`
};

struct RangeResponse {
  Revision revision = 0;  // the store's revision when the read was served
  std::vector<KeyValue> kvs;
  int64_t count = 0;  // keys in the range (ignoring limit)
  bool more = false;  // count > kvs.size() because of limit

  // The first key found, or nullptr: handy after get().
  const KeyValue* first() const { return kvs.empty() ? nullptr : &kvs.front(); }
};

struct PutOptions {
  LeaseId lease = 0;     // attach the key to this lease (it must exist); 0 detaches it
  bool prev_kv = false;  // return the key as it was before the put
};

struct PutResponse {
  Revision revision = 0;  // the revision of this write
  std::optional<KeyValue> prev_kv;
};

struct DeleteOptions {
  bool prev_kv = false;  // return the deleted keys
};

struct DeleteResponse {
  Revision revision = 0;  // the revision of this write, or the current one when nothing matched
  int64_t deleted = 0;
  std::vector<KeyValue> prev_kvs;
};

// ---------------------------------------------------------------------------------------- Txn

enum class CompareTarget { kValue, kVersion, kCreateRevision, kModRevision, kLease };
enum class CompareOp { kEqual, kNotEqual, kLess, kGreater };

// One guard of a txn: `target(key) op operand`. A missing key has version, create_revision,
// mod_revision and lease 0, so "version == 0" tests absence; a value compare on a missing key is
// always false (etcd's rule: there is no value to compare).
struct Compare {
  std::string key;
  CompareTarget target = CompareTarget::kVersion;
  CompareOp op = CompareOp::kEqual;
  std::string value;   // operand for kValue
  int64_t number = 0;  // operand for every other target
};

Compare compare_value(std::string key, CompareOp op, std::string value);
Compare compare_version(std::string key, CompareOp op, int64_t version);
Compare compare_create_revision(std::string key, CompareOp op, Revision revision);
Compare compare_mod_revision(std::string key, CompareOp op, Revision revision);
Compare compare_lease(std::string key, CompareOp op, LeaseId lease);

struct RangeRequest {
  KeyRange range;
  RangeOptions options;
};
struct PutRequest {
  std::string key;
  std::string value;
  PutOptions options;
};
struct DeleteRequest {
  KeyRange range;
  DeleteOptions options;
};
using TxnOp = std::variant<RangeRequest, PutRequest, DeleteRequest>;
using TxnOpResponse = std::variant<RangeResponse, PutResponse, DeleteResponse>;

TxnOp op_get(std::string key, RangeOptions options = {});
TxnOp op_range(KeyRange range, RangeOptions options = {});
TxnOp op_put(std::string key, std::string value, PutOptions options = {});
TxnOp op_delete(std::string key, DeleteOptions options = {});
TxnOp op_delete_range(KeyRange range, DeleteOptions options = {});

// If every compare holds, run `success`, else `failure`; ops run in order, and a range op sees the
// writes of the ops before it. All of it is atomic and takes one revision (none if nothing is
// written). As in etcd, two puts of one key, or a put of a key that a delete in the same list
// covers, are rejected (kInvalidArgument): one revision holds one event per key.
struct TxnRequest {
  std::vector<Compare> compare;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
};

struct TxnResponse {
  Revision revision = 0;  // the txn's revision (the current one when it wrote nothing)
  bool succeeded = false;
  std::vector<TxnOpResponse> responses;  // one per op of the branch taken, in order
};

struct CompactResponse {
  Revision revision = 0;
};

// ---------------------------------------------------------------------------------------- Watch

struct Event {
  enum class Type { kPut, kDelete };
  Type type = Type::kPut;
  // After a put: the key as written. After a delete: only key and mod_revision (the delete's
  // revision) are set, as in etcd.
  KeyValue kv;
  std::optional<KeyValue> prev_kv;  // with WatchOptions::prev_kv, unless compacted away

  bool operator==(const Event&) const = default;
};

struct WatchResponse {
  // Events in revision order; whole revisions only, so a txn's events always arrive together.
  std::vector<Event> events;
  // Not ok when the watch has ended on the store's side; the callback is not called again. The
  // one such case today: kCompacted, the watcher fell behind a compaction (compact_revision says
  // where history now starts): re-list at the current revision and watch again from there.
  Status status;
  Revision compact_revision = 0;
};

// Runs on the store's dispatcher thread, one call at a time across all watches of a store. It must
// not block for long (it delays every other watch) and must not throw; it may call the store.
using WatchCallback = std::function<void(const WatchResponse&)>;

struct WatchOptions {
  bool prev_kv = false;  // fill Event::prev_kv
};

// Cancels its watch when destroyed or cancel()ed. After cancel() returns the callback is not
// running and will not run again, except when cancel() is called from inside that watch's own
// callback: then the current call is the last one. Safe to outlive the store.
class WatchHandle {
 public:
  WatchHandle() = default;
  WatchHandle(int64_t id, std::function<void()> cancel) : id_(id), cancel_(std::move(cancel)) {}
  WatchHandle(WatchHandle&& o) noexcept
      : id_(std::exchange(o.id_, 0)), cancel_(std::exchange(o.cancel_, nullptr)) {}
  WatchHandle& operator=(WatchHandle&& o) noexcept;
  WatchHandle(const WatchHandle&) = delete;
  WatchHandle& operator=(const WatchHandle&) = delete;
  ~WatchHandle() { cancel(); }

  void cancel();
  int64_t id() const { return id_; }
  bool active() const { return cancel_ != nullptr; }

 private:
  int64_t id_ = 0;
  std::function<void()> cancel_;
};

// ---------------------------------------------------------------------------------------- Lease

struct LeaseGrantResponse {
  LeaseId id = 0;
  Duration ttl{0};
};

struct LeaseKeepAliveResponse {
  LeaseId id = 0;
  Duration ttl{0};  // the lease now expires this long from now
};

struct LeaseRevokeResponse {
  Revision revision = 0;  // the revision of the deletes, or the current one if it had no keys
  int64_t deleted = 0;
};

struct LeaseTimeToLiveResponse {
  LeaseId id = 0;
  Duration granted_ttl{0};
  Duration remaining{0};
  std::vector<std::string> keys;  // with `keys` = true, in key order
};

// ---------------------------------------------------------------------------------------- Store

// Thread-safe: every method may be called from any thread, including from a watch callback.
// Errors: kInvalidArgument (empty key, oversized key or value, bad ttl, future revision),
// kNotFound (unknown or expired lease), kCompacted (a revision older than the compaction point),
// kUnavailable (the backend cannot be reached or written: disk full, I/O error).
class StateStore {
 public:
  virtual ~StateStore() = default;

  virtual Result<RangeResponse> range(const KeyRange& range, const RangeOptions& options = {}) = 0;
  virtual Result<PutResponse> put(std::string_view key, std::string_view value,
                                  const PutOptions& options = {}) = 0;
  virtual Result<DeleteResponse> delete_range(const KeyRange& range,
                                              const DeleteOptions& options = {}) = 0;
  virtual Result<TxnResponse> txn(const TxnRequest& request) = 0;
  // Drops the history before `revision`: reads at older revisions and watches starting there fail
  // with kCompacted afterwards. kCompacted if it is already compacted that far, kInvalidArgument
  // for a future revision.
  virtual Result<CompactResponse> compact(Revision revision) = 0;

  // Delivers every put and delete in `range` with revision >= start_revision, in revision order,
  // first the history, then live, with no gap and no duplicate. start_revision 0 = from the next
  // write. kCompacted when start_revision is older than the compaction point.
  virtual Result<WatchHandle> watch(const KeyRange& range, Revision start_revision,
                                    WatchCallback callback, const WatchOptions& options = {}) = 0;

  // A lease expires `ttl` after its grant or last keepalive; expiring deletes its keys.
  virtual Result<LeaseGrantResponse> grant(Duration ttl) = 0;
  virtual Result<LeaseKeepAliveResponse> keepalive(LeaseId id) = 0;
  virtual Result<LeaseRevokeResponse> revoke(LeaseId id) = 0;
  virtual Result<LeaseTimeToLiveResponse> time_to_live(LeaseId id, bool keys = false) = 0;
  virtual Result<std::vector<LeaseId>> leases() = 0;
  // Revokes every lease whose time is up. Backends that keep time themselves (etcd) do nothing;
  // the embedded one relies on its owner calling this periodically (every operation also does it).
  virtual Status expire_leases() = 0;

  // Conveniences over the calls above.
  Result<RangeResponse> get(std::string_view key, const RangeOptions& options = {});
  Result<RangeResponse> get_prefix(std::string_view prefix, const RangeOptions& options = {});
  Result<DeleteResponse> delete_key(std::string_view key, const DeleteOptions& options = {});
  Result<DeleteResponse> delete_prefix(std::string_view prefix, const DeleteOptions& options = {});
  Result<WatchHandle> watch_key(std::string_view key, Revision start_revision,
                                WatchCallback callback, const WatchOptions& options = {});
  Result<WatchHandle> watch_prefix(std::string_view prefix, Revision start_revision,
                                   WatchCallback callback, const WatchOptions& options = {});
};

const char* to_string(CompareTarget target);
const char* to_string(CompareOp op);
const char* to_string(Event::Type type);

}  // namespace gf
