// The StateStore contract, written once for every backend: revisions and versions, ranges, txns,
// watches (replay, live, ordering, compaction), and leases. Revisions are checked relative to the
// store's starting revision, so a backend may start anywhere. Backends instantiate the suite in
// their own test file (sqlite_store_test.cc).
#include <algorithm>
#include <atomic>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "store_conformance.h"

namespace gf::store_test {
namespace {

using std::chrono::seconds;

// ----------------------------------------------------------------------------- revisions, KV

TEST_P(StoreConformance, PutBumpsRevisionAndVersion) {
  Revision r0 = rev();
  auto p1 = store_->put("a", "1");
  ASSERT_TRUE(p1.ok()) << p1.error().describe();
  EXPECT_EQ(p1->revision, r0 + 1);
  auto p2 = store_->put("a", "2");
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p2->revision, r0 + 2);
  ASSERT_TRUE(store_->put("b", "x").ok());

  auto g = store_->get("a");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->revision, r0 + 3);
  ASSERT_EQ(g->kvs.size(), 1u);
  EXPECT_EQ(g->kvs[0], (KeyValue{"a", "2", r0 + 1, r0 + 2, 2, 0}));
  EXPECT_EQ(g->count, 1);
  EXPECT_FALSE(g->more);

  auto missing = store_->get("nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->first(), nullptr);
  EXPECT_EQ(missing->count, 0);
  EXPECT_EQ(missing->revision, r0 + 3);

  // A delete ends the key's generation: the next put starts again at version 1.
  auto d = store_->delete_key("a");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->deleted, 1);
  EXPECT_EQ(d->revision, r0 + 4);
  ASSERT_TRUE(store_->put("a", "3").ok());
  g = store_->get("a");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->kvs.at(0), (KeyValue{"a", "3", r0 + 5, r0 + 5, 1, 0}));
}

TEST_P(StoreConformance, PutAndDeleteReturnPreviousKeys) {
  Revision r0 = rev();
  auto first = store_->put("k", "old", {.prev_kv = true});
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->prev_kv.has_value());
  auto second = store_->put("k", "new", {.prev_kv = true});
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(second->prev_kv.has_value());
  EXPECT_EQ(*second->prev_kv, (KeyValue{"k", "old", r0 + 1, r0 + 1, 1, 0}));
  auto without = store_->put("k", "newer");
  ASSERT_TRUE(without.ok());
  EXPECT_FALSE(without->prev_kv.has_value());

  auto d = store_->delete_key("k", {.prev_kv = true});
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->prev_kvs.size(), 1u);
  EXPECT_EQ(d->prev_kvs[0].value, "newer");
  EXPECT_EQ(d->prev_kvs[0].version, 3);
}

TEST_P(StoreConformance, DeleteOfNothingWritesNoRevision) {
  ASSERT_TRUE(store_->put("x", "1").ok());
  Revision r = rev();
  auto d = store_->delete_key("absent");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->deleted, 0);
  EXPECT_EQ(d->revision, r);
  EXPECT_EQ(rev(), r);
}

TEST_P(StoreConformance, EmptyKeyIsInvalid) {
  auto p = store_->put("", "v");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument);
  auto g = store_->get("");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(StoreConformance, BinaryKeysAndValuesRoundTrip) {
  std::string key("bin/\x00\xff\x01", 7);
  std::string value("\x00\x01\x02\xff", 4);
  ASSERT_TRUE(store_->put(key, value).ok());
  ASSERT_TRUE(store_->put("bin/empty", "").ok());
  auto g = store_->get(key);
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->kvs.size(), 1u);
  EXPECT_EQ(g->kvs[0].key, key);
  EXPECT_EQ(g->kvs[0].value, value);
  auto e = store_->get("bin/empty");
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->kvs.size(), 1u);
  EXPECT_EQ(e->kvs[0].value, "");
}

// ----------------------------------------------------------------------------- ranges

TEST_P(StoreConformance, PrefixRangeIsOrderedAndBounded) {
  for (const char* k : {"a/2", "a/1", "a", "a0", "a/3", "b", "a/\xff", "a."}) {
    ASSERT_TRUE(store_->put(k, k).ok());
  }
  auto r = store_->get_prefix("a/");
  ASSERT_TRUE(r.ok());
  std::vector<std::string> keys;
  for (const auto& kv : r->kvs)
    keys.push_back(kv.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"a/1", "a/2", "a/3", "a/\xff"}));
  EXPECT_EQ(r->count, 4);

  auto all = store_->get_prefix("");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->count, 8);

  auto from = store_->range(KeyRange::from("a0"));
  ASSERT_TRUE(from.ok());
  ASSERT_EQ(from->kvs.size(), 2u);
  EXPECT_EQ(from->kvs[0].key, "a0");
  EXPECT_EQ(from->kvs[1].key, "b");

  auto between = store_->range(KeyRange::between("a.", "a0"));
  ASSERT_TRUE(between.ok());
  ASSERT_EQ(between->kvs.size(), 5u);  // "a." and the four "a/..." keys; "a0" is excluded
  EXPECT_EQ(between->kvs.front().key, "a.");
}

TEST_P(StoreConformance, RangeLimitReportsCountAndMore) {
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(store_->put("n/" + std::to_string(i), "v").ok());
  auto r = store_->get_prefix("n/", {.limit = 3});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->kvs.size(), 3u);
  EXPECT_EQ(r->kvs[0].key, "n/0");
  EXPECT_EQ(r->kvs[2].key, "n/2");
  EXPECT_EQ(r->count, 10);
  EXPECT_TRUE(r->more);

  auto exact = store_->get_prefix("n/", {.limit = 10});
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->kvs.size(), 10u);
  EXPECT_FALSE(exact->more);

  auto count = store_->get_prefix("n/", {.count_only = true});
  ASSERT_TRUE(count.ok());
  EXPECT_TRUE(count->kvs.empty());
  EXPECT_EQ(count->count, 10);

  auto keys = store_->get_prefix("n/", {.keys_only = true});
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->kvs.size(), 10u);
  EXPECT_EQ(keys->kvs[0].value, "");
  EXPECT_EQ(keys->kvs[0].version, 1);
}

TEST_P(StoreConformance, RangeAtAnOlderRevision) {
  Revision r0 = rev();
  ASSERT_TRUE(store_->put("h/a", "1").ok());    // r0+1
  ASSERT_TRUE(store_->put("h/a", "2").ok());    // r0+2
  ASSERT_TRUE(store_->put("h/b", "x").ok());    // r0+3
  ASSERT_TRUE(store_->delete_key("h/a").ok());  // r0+4

  auto at = [&](Revision r) {
    auto res = store_->get_prefix("h/", {.revision = r});
    EXPECT_TRUE(res.ok()) << res.error().describe();
    std::vector<std::string> out;
    if (res.ok()) {
      for (const auto& kv : res->kvs)
        out.push_back(kv.key + "=" + kv.value);
    }
    return out;
  };
  EXPECT_EQ(at(r0), std::vector<std::string>{});
  EXPECT_EQ(at(r0 + 1), std::vector<std::string>{"h/a=1"});
  EXPECT_EQ(at(r0 + 2), std::vector<std::string>{"h/a=2"});
  EXPECT_EQ(at(r0 + 3), (std::vector<std::string>{"h/a=2", "h/b=x"}));
  EXPECT_EQ(at(r0 + 4), std::vector<std::string>{"h/b=x"});

  auto old = store_->get("h/a", {.revision = r0 + 2});
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->kvs.at(0), (KeyValue{"h/a", "2", r0 + 1, r0 + 2, 2, 0}));
  EXPECT_EQ(old->revision, r0 + 4);  // the header is the store's revision, not the read's

  auto future = store_->get("h/a", {.revision = r0 + 5});
  ASSERT_FALSE(future.ok());
  EXPECT_EQ(future.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(StoreConformance, DeletePrefixTakesOneRevision) {
  for (const char* k : {"d/1", "d/2", "d/3", "e"})
    ASSERT_TRUE(store_->put(k, "v").ok());
  Revision r = rev();
  auto d = store_->delete_prefix("d/", {.prev_kv = true});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->deleted, 3);
  EXPECT_EQ(d->revision, r + 1);
  EXPECT_EQ(d->prev_kvs.size(), 3u);
  EXPECT_EQ(rev(), r + 1);
  auto left = store_->get_prefix("");
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->kvs.size(), 1u);
  EXPECT_EQ(left->kvs[0].key, "e");
}

// ----------------------------------------------------------------------------- txn

TEST_P(StoreConformance, TxnCreateIfAbsentIsCompareAndSwap) {
  TxnRequest create;
  create.compare = {compare_version("lock", CompareOp::kEqual, 0)};
  create.success = {op_put("lock", "me")};
  create.failure = {op_get("lock")};

  Revision r0 = rev();
  auto first = store_->txn(create);
  ASSERT_TRUE(first.ok()) << first.error().describe();
  EXPECT_TRUE(first->succeeded);
  EXPECT_EQ(first->revision, r0 + 1);
  ASSERT_EQ(first->responses.size(), 1u);
  EXPECT_EQ(std::get<PutResponse>(first->responses[0]).revision, r0 + 1);

  create.success = {op_put("lock", "you")};
  auto second = store_->txn(create);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->succeeded);
  EXPECT_EQ(second->revision, r0 + 1);  // nothing written, no revision
  ASSERT_EQ(second->responses.size(), 1u);
  const auto& got = std::get<RangeResponse>(second->responses[0]);
  ASSERT_EQ(got.kvs.size(), 1u);
  EXPECT_EQ(got.kvs[0].value, "me");
}

TEST_P(StoreConformance, TxnComparesEveryTargetAndOperator) {
  LeaseId lease = 0;
  auto g = store_->grant(seconds(60));
  ASSERT_TRUE(g.ok());
  lease = g->id;
  Revision r0 = rev();
  ASSERT_TRUE(store_->put("c", "m").ok());                    // r0+1
  ASSERT_TRUE(store_->put("c", "m", {.lease = lease}).ok());  // r0+2, version 2

  auto check = [&](Compare c) {
    TxnRequest t;
    t.compare = {std::move(c)};
    auto r = store_->txn(t);
    EXPECT_TRUE(r.ok());
    return r.ok() && r->succeeded;
  };
  using enum CompareOp;
  EXPECT_TRUE(check(compare_value("c", kEqual, "m")));
  EXPECT_FALSE(check(compare_value("c", kNotEqual, "m")));
  EXPECT_TRUE(check(compare_value("c", kLess, "n")));
  EXPECT_FALSE(check(compare_value("c", kLess, "m")));
  EXPECT_TRUE(check(compare_value("c", kGreater, "l")));
  EXPECT_TRUE(check(compare_version("c", kEqual, 2)));
  EXPECT_TRUE(check(compare_version("c", kGreater, 1)));
  EXPECT_FALSE(check(compare_version("c", kLess, 2)));
  EXPECT_TRUE(check(compare_create_revision("c", kEqual, r0 + 1)));
  EXPECT_TRUE(check(compare_mod_revision("c", kEqual, r0 + 2)));
  EXPECT_TRUE(check(compare_mod_revision("c", kLess, r0 + 3)));
  EXPECT_TRUE(check(compare_mod_revision("c", kNotEqual, r0 + 1)));
  EXPECT_TRUE(check(compare_lease("c", kEqual, lease)));
  EXPECT_FALSE(check(compare_lease("c", kEqual, 0)));

  // A missing key: version, revisions and lease are 0; its value compares false either way.
  EXPECT_TRUE(check(compare_version("absent", kEqual, 0)));
  EXPECT_TRUE(check(compare_mod_revision("absent", kEqual, 0)));
  EXPECT_FALSE(check(compare_value("absent", kEqual, "")));
  EXPECT_FALSE(check(compare_value("absent", kNotEqual, "")));

  // All compares must hold.
  TxnRequest both;
  both.compare = {compare_value("c", kEqual, "m"), compare_version("c", kEqual, 1)};
  auto r = store_->txn(both);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->succeeded);
}

TEST_P(StoreConformance, TxnWritesAreAtomicAndTakeOneRevision) {
  ASSERT_TRUE(store_->put("t/old", "x").ok());
  Revision r0 = rev();
  TxnRequest t;
  t.success = {op_put("t/a", "1"), op_put("t/b", "2"), op_delete("t/old"),
               op_range(KeyRange::prefix("t/"))};
  auto r = store_->txn(t);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->succeeded);
  EXPECT_EQ(r->revision, r0 + 1);
  ASSERT_EQ(r->responses.size(), 4u);
  EXPECT_EQ(std::get<DeleteResponse>(r->responses[2]).deleted, 1);
  // The range op sees the ops before it.
  const auto& seen = std::get<RangeResponse>(r->responses[3]);
  ASSERT_EQ(seen.kvs.size(), 2u);
  EXPECT_EQ(seen.kvs[0].key, "t/a");
  EXPECT_EQ(seen.kvs[0].mod_revision, r0 + 1);
  EXPECT_EQ(seen.kvs[1].mod_revision, r0 + 1);

  // A failing op rolls back the whole txn: the first put must not stay.
  TxnRequest bad;
  bad.success = {op_put("t/c", "3"), op_put("t/d", "4", {.lease = 987654321})};
  auto b = store_->txn(bad);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(rev(), r0 + 1);
  auto c = store_->get("t/c");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->kvs.empty());
}

TEST_P(StoreConformance, TxnRejectsTwoWritesOfOneKey) {
  TxnRequest twice;
  twice.success = {op_put("k", "1"), op_put("k", "2")};
  auto r = store_->txn(twice);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);

  TxnRequest overlap;
  overlap.failure = {op_put("p/k", "1"), op_delete_range(KeyRange::prefix("p/"))};
  r = store_->txn(overlap);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

// ----------------------------------------------------------------------------- watch

TEST_P(StoreConformance, WatchReplaysHistoryThenDeliversLiveInOrder) {
  Revision r0 = rev();
  ASSERT_TRUE(store_->put("w/a", "1").ok());      // r0+1
  ASSERT_TRUE(store_->put("x", "ignored").ok());  // r0+2, outside the prefix
  ASSERT_TRUE(store_->put("w/b", "2").ok());      // r0+3
  ASSERT_TRUE(store_->delete_key("w/a").ok());    // r0+4

  WatchRecorder rec;
  auto h = store_->watch_prefix("w/", r0 + 1, rec.callback());
  ASSERT_TRUE(h.ok()) << h.error().describe();
  auto history = rec.wait_for(3);
  ASSERT_EQ(history.size(), 3u);

  // Live writes, among them a txn with two events that must arrive in one response.
  ASSERT_TRUE(store_->put("w/c", "3").ok());  // r0+5
  TxnRequest t;
  t.success = {op_put("w/d", "4"), op_delete("w/b")};
  ASSERT_TRUE(store_->txn(t).ok());  // r0+6
  ASSERT_TRUE(store_->put("y", "ignored").ok());
  ASSERT_TRUE(store_->put("w/a", "5").ok());  // r0+8

  auto events = rec.wait_for(7);
  ASSERT_EQ(events.size(), 7u);
  struct Want {
    Event::Type type;
    std::string key;
    std::string value;
    Revision rev;
  };
  using enum Event::Type;
  std::vector<Want> want = {{kPut, "w/a", "1", r0 + 1},   {kPut, "w/b", "2", r0 + 3},
                            {kDelete, "w/a", "", r0 + 4}, {kPut, "w/c", "3", r0 + 5},
                            {kPut, "w/d", "4", r0 + 6},   {kDelete, "w/b", "", r0 + 6},
                            {kPut, "w/a", "5", r0 + 8}};
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i));
    EXPECT_EQ(events[i].type, want[i].type);
    EXPECT_EQ(events[i].kv.key, want[i].key);
    EXPECT_EQ(events[i].kv.value, want[i].value);
    EXPECT_EQ(events[i].kv.mod_revision, want[i].rev);
  }
  EXPECT_EQ(events[6].kv.version, 1);
  EXPECT_EQ(events[6].kv.create_revision, r0 + 8);

  for (const WatchResponse& r : rec.responses()) {
    EXPECT_TRUE(r.status.ok());
    ASSERT_FALSE(r.events.empty());
    for (size_t i = 1; i < r.events.size(); ++i) {
      EXPECT_LE(r.events[i - 1].kv.mod_revision, r.events[i].kv.mod_revision);
    }
  }
  bool together = false;
  for (const WatchResponse& r : rec.responses()) {
    int n = 0;
    for (const Event& e : r.events)
      n += e.kv.mod_revision == r0 + 6;
    if (n > 0) {
      EXPECT_EQ(n, 2) << "a txn's events were split across responses";
      together = true;
    }
  }
  EXPECT_TRUE(together);
}

TEST_P(StoreConformance, WatchFromZeroStartsAtTheNextWrite) {
  ASSERT_TRUE(store_->put("z", "before").ok());
  WatchRecorder rec;
  auto h = store_->watch_key("z", 0, rec.callback());
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(store_->put("z", "after").ok());
  auto events = rec.wait_for(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kv.value, "after");
}

TEST_P(StoreConformance, WatchWithPrevKv) {
  ASSERT_TRUE(store_->put("p", "1").ok());
  Revision r = rev();
  WatchRecorder rec;
  auto h = store_->watch_key("p", r + 1, rec.callback(), {.prev_kv = true});
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(store_->put("p", "2").ok());
  ASSERT_TRUE(store_->delete_key("p").ok());
  ASSERT_TRUE(store_->put("p", "3").ok());
  auto events = rec.wait_for(3);
  ASSERT_EQ(events.size(), 3u);
  ASSERT_TRUE(events[0].prev_kv.has_value());
  EXPECT_EQ(events[0].prev_kv->value, "1");
  EXPECT_EQ(events[0].prev_kv->mod_revision, r);
  ASSERT_TRUE(events[1].prev_kv.has_value());
  EXPECT_EQ(events[1].prev_kv->value, "2");
  EXPECT_EQ(events[1].prev_kv->version, 2);
  EXPECT_FALSE(events[2].prev_kv.has_value());  // a new generation has no previous key
}

TEST_P(StoreConformance, CancelledWatchGetsNothingMore) {
  WatchRecorder cancelled;
  auto h = store_->watch_key("c", 0, cancelled.callback());
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(store_->put("c", "1").ok());
  ASSERT_EQ(cancelled.wait_for(1).size(), 1u);
  h->cancel();
  EXPECT_FALSE(h->active());

  // A second watch over the same writes is the barrier: once it has the event, the cancelled
  // watch would have had it too.
  ASSERT_TRUE(store_->put("c", "2").ok());
  WatchRecorder barrier;
  auto b = store_->watch_key("c", rev(), barrier.callback());
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(barrier.wait_for(1).size(), 1u);
  EXPECT_EQ(cancelled.events().size(), 1u);
}

TEST_P(StoreConformance, CallbackMayCancelItselfAndCallTheStore) {
  std::promise<Revision> seen;
  WatchHandle handle;
  std::mutex handle_mu;
  std::atomic<int> calls = 0;
  auto h = store_->watch_key("self", 0, [&](const WatchResponse& r) {
    ++calls;
    // A store call from the dispatcher must not deadlock.
    auto g = store_->get("self");
    std::lock_guard lk(handle_mu);
    handle.cancel();
    if (calls == 1) seen.set_value(g.ok() ? r.events.at(0).kv.mod_revision : -1);
  });
  ASSERT_TRUE(h.ok());
  {
    std::lock_guard lk(handle_mu);
    handle = std::move(*h);
  }
  ASSERT_TRUE(store_->put("self", "1").ok());
  auto f = seen.get_future();
  ASSERT_EQ(f.wait_for(WatchRecorder::kTimeout), std::future_status::ready);
  EXPECT_GT(f.get(), 0);
  ASSERT_TRUE(store_->put("self", "2").ok());
  WatchRecorder barrier;
  auto b = store_->watch_key("self", rev(), barrier.callback());
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(barrier.wait_for(1).size(), 1u);
  EXPECT_EQ(calls, 1);
}

TEST_P(StoreConformance, WatchDeliversLongHistoryInWholeRevisions) {
  // More events than one delivery batch, in txns of 100 keys, then one delete of all of them.
  Revision r0 = rev();
  constexpr int kTxns = 25, kPerTxn = 100;
  for (int t = 0; t < kTxns; ++t) {
    TxnRequest txn;
    for (int i = 0; i < kPerTxn; ++i) {
      txn.success.push_back(op_put("bulk/" + std::to_string(t * kPerTxn + i), "v"));
    }
    ASSERT_TRUE(store_->txn(txn).ok());
  }
  auto d = store_->delete_prefix("bulk/");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->deleted, kTxns * kPerTxn);

  WatchRecorder rec;
  auto h = store_->watch_prefix("bulk/", r0 + 1, rec.callback());
  ASSERT_TRUE(h.ok());
  size_t total = 2 * kTxns * kPerTxn;
  auto events = rec.wait_for(total);
  ASSERT_EQ(events.size(), total);
  for (size_t i = 1; i < events.size(); ++i) {
    ASSERT_LE(events[i - 1].kv.mod_revision, events[i].kv.mod_revision);
  }
  std::map<Revision, int> per_response_revision;
  for (const WatchResponse& r : rec.responses()) {
    std::map<Revision, int> n;
    for (const Event& e : r.events)
      ++n[e.kv.mod_revision];
    for (auto [revision, count] : n) {
      EXPECT_EQ(per_response_revision.count(revision), 0u) << "revision split: " << revision;
      per_response_revision[revision] = count;
    }
  }
  EXPECT_EQ(per_response_revision.size(), static_cast<size_t>(kTxns + 1));
  EXPECT_EQ(per_response_revision[r0 + kTxns + 1], kTxns * kPerTxn);
}

// ----------------------------------------------------------------------------- compaction

TEST_P(StoreConformance, CompactionRejectsOlderReadsAndWatches) {
  Revision r0 = rev();
  ASSERT_TRUE(store_->put("k/a", "1").ok());    // r0+1
  ASSERT_TRUE(store_->put("k/a", "2").ok());    // r0+2
  ASSERT_TRUE(store_->put("k/b", "1").ok());    // r0+3
  ASSERT_TRUE(store_->delete_key("k/b").ok());  // r0+4
  ASSERT_TRUE(store_->put("k/c", "1").ok());    // r0+5
  ASSERT_TRUE(store_->put("k/a", "3").ok());    // r0+6

  auto c = store_->compact(r0 + 5);
  ASSERT_TRUE(c.ok()) << c.error().describe();

  auto old = store_->get_prefix("k/", {.revision = r0 + 4});
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.error().code, ErrorCode::kCompacted);
  // At the compaction revision itself the state is intact.
  auto at = store_->get_prefix("k/", {.revision = r0 + 5});
  ASSERT_TRUE(at.ok()) << at.error().describe();
  ASSERT_EQ(at->kvs.size(), 2u);
  EXPECT_EQ(at->kvs[0], (KeyValue{"k/a", "2", r0 + 1, r0 + 2, 2, 0}));
  EXPECT_EQ(at->kvs[1].key, "k/c");

  WatchRecorder rejected;
  auto w = store_->watch_prefix("k/", r0 + 4, rejected.callback());
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, ErrorCode::kCompacted);

  WatchRecorder rec;
  auto ok = store_->watch_prefix("k/", r0 + 5, rec.callback(), {.prev_kv = true});
  ASSERT_TRUE(ok.ok());
  auto events = rec.wait_for(2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kv.key, "k/c");
  EXPECT_EQ(events[1].kv.value, "3");
  ASSERT_TRUE(events[1].prev_kv.has_value());  // the put it replaced is still readable
  EXPECT_EQ(events[1].prev_kv->value, "2");

  auto again = store_->compact(r0 + 5);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kCompacted);
  auto future = store_->compact(r0 + 100);
  ASSERT_FALSE(future.ok());
  EXPECT_EQ(future.error().code, ErrorCode::kInvalidArgument);
}

TEST_P(StoreConformance, WatchBehindACompactionEndsWithCompacted) {
  Revision r0 = rev();
  ASSERT_TRUE(store_->put("lag", "0").ok());  // r0+1
  // The first callback blocks until the test has written more and compacted past the watch.
  std::promise<void> entered, release;
  auto released = release.get_future().share();
  WatchRecorder rec;
  auto inner = rec.callback();
  bool first = true;
  auto h = store_->watch_key("lag", r0 + 1, [&, released](const WatchResponse& r) {
    inner(r);
    if (std::exchange(first, false)) {
      entered.set_value();
      released.wait();
    }
  });
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(entered.get_future().wait_for(WatchRecorder::kTimeout), std::future_status::ready);
  for (int i = 1; i <= 3; ++i)
    ASSERT_TRUE(store_->put("lag", std::to_string(i)).ok());
  ASSERT_TRUE(store_->compact(r0 + 4).ok());
  release.set_value();
  ASSERT_TRUE(rec.wait_ended());
  auto last = rec.responses().back();
  EXPECT_EQ(last.status.error().code, ErrorCode::kCompacted);
  EXPECT_EQ(last.compact_revision, r0 + 4);
  EXPECT_EQ(rec.events().size(), 1u);
}

// ----------------------------------------------------------------------------- leases

TEST_P(StoreConformance, ExpiredLeaseDeletesItsKeysWithEvents) {
  skip_unless_clock();
  auto g = store_->grant(seconds(10));
  ASSERT_TRUE(g.ok()) << g.error().describe();
  EXPECT_EQ(g->ttl, seconds(10));
  LeaseId id = g->id;
  ASSERT_TRUE(store_->put("l/a", "1", {.lease = id}).ok());
  ASSERT_TRUE(store_->put("l/b", "2", {.lease = id}).ok());
  ASSERT_TRUE(store_->put("l/c", "3").ok());
  Revision r = rev();

  WatchRecorder rec;
  auto h = store_->watch_prefix("l/", 0, rec.callback());
  ASSERT_TRUE(h.ok());

  clock_.advance(seconds(9));
  ASSERT_TRUE(store_->expire_leases().ok());
  auto ttl = store_->time_to_live(id, true);
  ASSERT_TRUE(ttl.ok());
  EXPECT_EQ(ttl->granted_ttl, seconds(10));
  EXPECT_EQ(ttl->remaining, seconds(1));
  EXPECT_EQ(ttl->keys, (std::vector<std::string>{"l/a", "l/b"}));

  clock_.advance(seconds(1));
  ASSERT_TRUE(store_->expire_leases().ok());
  auto events = rec.wait_for(2);
  ASSERT_EQ(events.size(), 2u);
  for (const Event& e : events) {
    EXPECT_EQ(e.type, Event::Type::kDelete);
    EXPECT_EQ(e.kv.mod_revision, r + 1);  // one revoke, one revision
  }
  EXPECT_EQ(events[0].kv.key, "l/a");
  EXPECT_EQ(events[1].kv.key, "l/b");
  EXPECT_EQ(rec.responses().size(), 1u);

  auto left = store_->get_prefix("l/");
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->kvs.size(), 1u);
  EXPECT_EQ(left->kvs[0].key, "l/c");
  auto gone = store_->time_to_live(id);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  auto put = store_->put("l/d", "4", {.lease = id});
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.error().code, ErrorCode::kNotFound);
}

TEST_P(StoreConformance, ExpiryIsNoticedByAnyCall) {
  skip_unless_clock();
  auto g = store_->grant(seconds(5));
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(store_->put("e", "1", {.lease = g->id}).ok());
  clock_.advance(seconds(6));
  // No expire_leases(): the read itself must not return a key whose lease has run out.
  auto r = store_->get("e");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->kvs.empty());
}

TEST_P(StoreConformance, KeepaliveExtendsALease) {
  skip_unless_clock();
  auto g = store_->grant(seconds(10));
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(store_->put("ka", "1", {.lease = g->id}).ok());
  clock_.advance(seconds(8));
  auto k = store_->keepalive(g->id);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->ttl, seconds(10));
  clock_.advance(seconds(8));  // 16 s after the grant, 8 s after the keepalive
  ASSERT_TRUE(store_->expire_leases().ok());
  auto alive = store_->get("ka");
  ASSERT_TRUE(alive.ok());
  EXPECT_EQ(alive->kvs.size(), 1u);
  auto ttl = store_->time_to_live(g->id);
  ASSERT_TRUE(ttl.ok());
  EXPECT_EQ(ttl->remaining, seconds(2));

  clock_.advance(seconds(2));
  ASSERT_TRUE(store_->expire_leases().ok());
  auto dead = store_->get("ka");
  ASSERT_TRUE(dead.ok());
  EXPECT_TRUE(dead->kvs.empty());
  auto late = store_->keepalive(g->id);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, ErrorCode::kNotFound);
}

TEST_P(StoreConformance, RevokeDeletesKeysAndForgetsTheLease) {
  auto a = store_->grant(seconds(60));
  auto b = store_->grant(seconds(60));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->id, b->id);
  ASSERT_TRUE(store_->put("r/1", "x", {.lease = a->id}).ok());
  ASSERT_TRUE(store_->put("r/2", "x", {.lease = a->id}).ok());
  ASSERT_TRUE(store_->put("r/3", "x", {.lease = b->id}).ok());
  // Overwriting without a lease detaches the key.
  ASSERT_TRUE(store_->put("r/2", "y").ok());
  Revision r = rev();

  WatchRecorder rec;
  auto h = store_->watch_prefix("r/", r + 1, rec.callback());
  ASSERT_TRUE(h.ok());
  auto v = store_->revoke(a->id);
  ASSERT_TRUE(v.ok()) << v.error().describe();
  EXPECT_EQ(v->deleted, 1);
  EXPECT_EQ(v->revision, r + 1);
  auto events = rec.wait_for(1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, Event::Type::kDelete);
  EXPECT_EQ(events[0].kv.key, "r/1");

  auto left = store_->get_prefix("r/");
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->kvs.size(), 2u);
  EXPECT_EQ(left->kvs[0].key, "r/2");
  EXPECT_EQ(left->kvs[1].lease, b->id);

  auto again = store_->revoke(a->id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
  auto ids = store_->leases();
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, std::vector<LeaseId>{b->id});

  // A lease without keys revokes without a revision.
  auto empty = store_->grant(seconds(60));
  ASSERT_TRUE(empty.ok());
  auto e = store_->revoke(empty->id);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->deleted, 0);
  EXPECT_EQ(e->revision, r + 1);
}

TEST_P(StoreConformance, GrantRejectsNonPositiveTtl) {
  auto g = store_->grant(Duration(0));
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, ErrorCode::kInvalidArgument);
}

// ----------------------------------------------------------------------------- threads

TEST_P(StoreConformance, ConcurrentWritersGetDistinctRevisions) {
  Revision r0 = rev();
  constexpr int kThreads = 4, kPuts = 50;
  std::vector<std::vector<Revision>> got(kThreads);
  WatchRecorder rec;
  auto h = store_->watch_prefix("cw/", r0 + 1, rec.callback());
  ASSERT_TRUE(h.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPuts; ++i) {
        auto p = store_->put("cw/" + std::to_string(t), std::to_string(i));
        got[t].push_back(p.ok() ? p->revision : -1);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  std::set<Revision> all;
  for (const auto& v : got) {
    ASSERT_EQ(v.size(), static_cast<size_t>(kPuts));
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kPuts));
  EXPECT_EQ(*all.begin(), r0 + 1);
  EXPECT_EQ(*all.rbegin(), r0 + kThreads * kPuts);
  auto events = rec.wait_for(kThreads * kPuts);
  ASSERT_EQ(events.size(), static_cast<size_t>(kThreads * kPuts));
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].kv.mod_revision, r0 + 1 + static_cast<Revision>(i));
  }
}

}  // namespace
}  // namespace gf::store_test
