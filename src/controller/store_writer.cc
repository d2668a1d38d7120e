#include "controller/store_writer.h"

#include "controller/fleet_persistence.h"

namespace gf {

StoreWriter::StoreWriter(StateStore& store, Post post)
    : store_(store), post_(std::move(post)), thread_([this] { run(); }) {}

StoreWriter::~StoreWriter() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    queue_.clear();
  }
  cv_.notify_one();
  thread_.join();
}

void StoreWriter::submit(std::vector<TxnRequest> txns, std::function<void(Status)> done) {
  {
    std::lock_guard lk(mu_);
    queue_.push_back(Batch{std::move(txns), std::move(done)});
  }
  cv_.notify_one();
}

void StoreWriter::run() {
  for (;;) {
    Batch b;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      b = std::move(queue_.front());
      queue_.pop_front();
    }
    Status s = run_writes(store_, b.txns);
    post_([done = std::move(b.done), s = std::move(s)]() mutable { done(std::move(s)); });
  }
}

}  // namespace gf
