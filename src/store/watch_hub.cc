#include "store/watch_hub.h"

namespace gf {

WatchHub::~WatchHub() {
  stop();
}

WatchHandle WatchHub::add(KeyRange range, Revision start, const WatchOptions& options,
                          WatchCallback callback, Revision current) {
  std::lock_guard lk(mu_);
  int64_t id = next_id_++;
  watchers_[id] = Watcher{std::move(range), start, options.prev_kv,
                          std::make_shared<WatchCallback>(std::move(callback))};
  current_ = std::max(current_, current);
  if (!thread_.joinable() && !stopping_) {
    thread_ = std::thread([this] { run(); });
    thread_id_ = thread_.get_id();
  }
  wake_.notify_one();
  // A weak reference: a handle may outlive the hub (and the store), then cancel does nothing.
  return WatchHandle(id, [weak = weak_from_this(), id] {
    if (auto hub = weak.lock()) hub->cancel(id);
  });
}

void WatchHub::notify(Revision current) {
  std::lock_guard lk(mu_);
  if (current <= current_) return;
  current_ = current;
  wake_.notify_one();
}

void WatchHub::cancel(int64_t id) {
  std::shared_ptr<WatchCallback> doomed;  // destroyed after unlocking: its captures may call us
  std::unique_lock lk(mu_);
  auto it = watchers_.find(id);
  if (it != watchers_.end()) {
    doomed = std::move(it->second.callback);
    watchers_.erase(it);
  }
  // From inside a callback the dispatcher cannot wait for itself; the current call is the last.
  if (std::this_thread::get_id() == thread_id_) return;
  idle_.wait(lk, [&] { return in_callback_ != id; });
}

void WatchHub::stop() {
  std::map<int64_t, Watcher> doomed;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lk(mu_);
    doomed.swap(watchers_);
  }
}

size_t WatchHub::size() const {
  std::lock_guard lk(mu_);
  return watchers_.size();
}

void WatchHub::run() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    std::vector<int64_t> due;
    for (const auto& [id, w] : watchers_) {
      if (w.next <= current_) due.push_back(id);
    }
    if (due.empty()) {
      wake_.wait(lk);
      continue;
    }
    // One batch per due watch per round, so a watch replaying a long history does not starve
    // the live ones.
    for (int64_t id : due) {
      if (stopping_) break;
      auto it = watchers_.find(id);
      if (it == watchers_.end() || it->second.next > current_) continue;
      KeyRange range = it->second.range;
      Revision from = it->second.next;
      bool prev_kv = it->second.prev_kv;
      lk.unlock();
      WatchBatch batch = fetch_(range, from, prev_kv);
      lk.lock();
      it = watchers_.find(id);
      if (it == watchers_.end()) continue;  // cancelled while we read
      bool ended = !batch.status.ok();
      if (!ended) {
        it->second.next = std::max(batch.next_revision, from);
        if (batch.events.empty()) continue;
      }
      std::shared_ptr<WatchCallback> callback = it->second.callback;
      if (ended) watchers_.erase(it);
      in_callback_ = id;
      lk.unlock();
      WatchResponse response;
      response.events = std::move(batch.events);
      response.status = std::move(batch.status);
      response.compact_revision = batch.compact_revision;
      (*callback)(response);
      callback.reset();
      lk.lock();
      in_callback_ = 0;
      idle_.notify_all();
    }
  }
}

}  // namespace gf
