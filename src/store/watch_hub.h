// WatchHub: the watches of an embedded store and the one dispatcher thread that feeds them. The
// hub knows nothing of storage: it asks a fetcher for the next events of each watch that is
// behind the store's revision, so history replay and live delivery are the same code path and a
// watch can neither skip nor repeat an event.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "store/state_store.h"

namespace gf {

// What a fetcher returns for one watch.
struct WatchBatch {
  std::vector<Event> events;   // whole revisions, in revision order
  Revision next_revision = 0;  // where the next fetch for this watch starts
  Status status;               // not ok: end the watch with it (kCompacted, or a read error)
  Revision compact_revision = 0;
};

// Reads the events in `range` from revision `from` on, as far as the store has them (it may stop
// early to bound the batch, but only between revisions). Called on the dispatcher thread with no
// hub lock held.
using WatchFetcher = std::function<WatchBatch(const KeyRange& range, Revision from, bool prev_kv)>;

class WatchHub : public std::enable_shared_from_this<WatchHub> {
 public:
  explicit WatchHub(WatchFetcher fetch) : fetch_(std::move(fetch)) {}
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Registers a watch that starts at `start` (> 0). `current` is the store's revision: call this
  // while the store's writes are held off, so no write slips between reading it and registering.
  // Starts the dispatcher thread on first use. The hub must be owned by a shared_ptr.
  WatchHandle add(KeyRange range, Revision start, const WatchOptions& options,
                  WatchCallback callback, Revision current);
  // The store committed up to `current`: wake the watches that are behind.
  void notify(Revision current);
  // Joins the dispatcher (after its current callback returns). No callback runs afterwards; the
  // handles still alive become no-ops. Must not be called from a callback.
  void stop();

  size_t size() const;

 private:
  struct Watcher {
    KeyRange range;
    Revision next = 0;
    bool prev_kv = false;
    std::shared_ptr<WatchCallback> callback;
  };

  void cancel(int64_t id);
  void run();

  WatchFetcher fetch_;
  mutable std::mutex mu_;
  std::condition_variable wake_;  // the dispatcher waits here for work
  std::condition_variable idle_;  // cancel() waits here for a running callback to return
  std::map<int64_t, Watcher> watchers_;
  int64_t next_id_ = 1;
  Revision current_ = 0;
  int64_t in_callback_ = 0;  // the watch whose callback runs now; 0 = none
  bool stopping_ = false;
  std::thread thread_;
  std::thread::id thread_id_;
};

}  // namespace gf
