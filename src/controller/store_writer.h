// Runs the controller's store writes on a thread of their own, so that a store across a network
// (etcd) never stalls the controller's only event loop. Batches run one after another in the
// order given; each one's result comes back through `post`, on the caller's thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/result.h"
#include "store/state_store.h"

namespace gf {

class StoreWriter {
 public:
  // `post` hands a function to the thread that owns the fleet (asio::post on its io_context).
  using Post = std::function<void(std::function<void()>)>;
  StoreWriter(StateStore& store, Post post);
  // Finishes the batch being written, drops the ones not started (their callbacks are not run).
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Runs `txns` in order, stopping at the first failure, then posts done(status).
  void submit(std::vector<TxnRequest> txns, std::function<void(Status)> done);

 private:
  struct Batch {
    std::vector<TxnRequest> txns;
    std::function<void(Status)> done;
  };
  void run();

  StateStore& store_;
  Post post_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace gf
