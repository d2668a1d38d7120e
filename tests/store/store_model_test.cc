// A seeded property test of the StateStore contract: random puts, deletes and txns (random
// compares, both branches) run against the store and against a plain in-memory model of etcd's
// semantics; every response, every revision's state and the full event history must agree.
#include <map>
#include <random>

#include "store_conformance.h"

namespace gf::store_test {
namespace {

// etcd's semantics in the simplest form: a map, a revision counter, a snapshot per revision.
class Model {
 public:
  explicit Model(Revision start) : rev_(start) { snapshots_[start] = {}; }

  TxnResponse txn(const TxnRequest& t) {
    TxnResponse out;
    out.succeeded =
        std::all_of(t.compare.begin(), t.compare.end(), [&](const Compare& c) { return holds(c); });
    Revision next = rev_ + 1;
    bool wrote = false;
    for (const TxnOp& op : out.succeeded ? t.success : t.failure) {
      if (const auto* r = std::get_if<RangeRequest>(&op)) {
        out.responses.emplace_back(range(kvs_, r->range, r->options.limit));
      } else if (const auto* p = std::get_if<PutRequest>(&op)) {
        PutResponse resp;
        auto it = kvs_.find(p->key);
        KeyValue kv{p->key, p->value, next, next, 1, p->options.lease};
        if (it != kvs_.end()) {
          kv.create_revision = it->second.create_revision;
          kv.version = it->second.version + 1;
          if (p->options.prev_kv) resp.prev_kv = it->second;
        }
        kvs_[p->key] = kv;
        events_.push_back(Event{Event::Type::kPut, kv, std::nullopt});
        wrote = true;
        out.responses.emplace_back(resp);
      } else if (const auto* d = std::get_if<DeleteRequest>(&op)) {
        DeleteResponse resp;
        for (auto it = kvs_.begin(); it != kvs_.end();) {
          if (!d->range.contains(it->first)) {
            ++it;
            continue;
          }
          ++resp.deleted;
          if (d->options.prev_kv) resp.prev_kvs.push_back(it->second);
          KeyValue tombstone;
          tombstone.key = it->first;
          tombstone.mod_revision = next;
          events_.push_back(Event{Event::Type::kDelete, tombstone, std::nullopt});
          it = kvs_.erase(it);
          wrote = true;
        }
        out.responses.emplace_back(resp);
      }
    }
    if (wrote) {
      rev_ = next;
      snapshots_[rev_] = kvs_;
    }
    out.revision = rev_;
    for (auto& r : out.responses)
      std::visit([&](auto& x) { x.revision = rev_; }, r);
    return out;
  }

  static RangeResponse range(const std::map<std::string, KeyValue>& kvs, const KeyRange& r,
                             int64_t limit) {
    RangeResponse out;
    for (const auto& [k, kv] : kvs) {
      if (!r.contains(k)) continue;
      ++out.count;
      if (limit == 0 || static_cast<int64_t>(out.kvs.size()) < limit) out.kvs.push_back(kv);
    }
    out.more = out.count > static_cast<int64_t>(out.kvs.size());
    return out;
  }

  Revision revision() const { return rev_; }
  const std::map<std::string, KeyValue>& at(Revision r) const { return snapshots_.at(r); }
  const std::vector<Event>& events() const { return events_; }

 private:
  bool holds(const Compare& c) const {
    auto it = kvs_.find(c.key);
    KeyValue kv;
    if (it != kvs_.end()) {
      kv = it->second;
    } else if (c.target == CompareTarget::kValue) {
      return false;
    }
    auto cmp = [&](auto a, auto b) {
      switch (c.op) {
        case CompareOp::kEqual:
          return a == b;
        case CompareOp::kNotEqual:
          return a != b;
        case CompareOp::kLess:
          return a < b;
        case CompareOp::kGreater:
          return a > b;
      }
      return false;
    };
    switch (c.target) {
      case CompareTarget::kValue:
        return cmp(std::string_view(kv.value), std::string_view(c.value));
      case CompareTarget::kVersion:
        return cmp(kv.version, c.number);
      case CompareTarget::kCreateRevision:
        return cmp(kv.create_revision, c.number);
      case CompareTarget::kModRevision:
        return cmp(kv.mod_revision, c.number);
      case CompareTarget::kLease:
        return cmp(kv.lease, c.number);
    }
    return false;
  }

  Revision rev_;
  std::map<std::string, KeyValue> kvs_;
  std::map<Revision, std::map<std::string, KeyValue>> snapshots_;
  std::vector<Event> events_;
};

const std::vector<std::string> kKeys = {"a", "b", "c", "d/1", "d/2", "d/3", "d0", "e"};
const std::vector<std::string> kValues = {"", "x", "y", "z"};

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool coin() { return pick(2) == 0; }
  const std::string& key() { return kKeys[pick(static_cast<int>(kKeys.size()))]; }
  const std::string& value() { return kValues[pick(static_cast<int>(kValues.size()))]; }

  KeyRange range() {
    switch (pick(4)) {
      case 0:
        return KeyRange::prefix("d/");
      case 1:
        return KeyRange::prefix("");
      case 2:
        return KeyRange::between("b", "d0");
      default:
        return KeyRange::single(key());
    }
  }

  Compare compare(const Model& m) {
    std::string k = key();
    auto op = static_cast<CompareOp>(pick(4));
    // Operands near the truth, so that both outcomes are common.
    switch (pick(4)) {
      case 0:
        return compare_value(k, op, value());
      case 1:
        return compare_version(k, op, pick(4));
      case 2:
        return compare_mod_revision(k, op, m.revision() - pick(6));
      default:
        return compare_create_revision(k, op, m.revision() - pick(10));
    }
  }

  // A branch with no two writes to one key (the store rejects those; a test of its own).
  std::vector<TxnOp> ops() {
    std::vector<TxnOp> out;
    std::vector<std::string> put_keys;
    int n = pick(4);
    for (int i = 0; i < n; ++i) {
      switch (pick(3)) {
        case 0: {
          std::string k = key();
          if (std::find(put_keys.begin(), put_keys.end(), k) != put_keys.end()) break;
          put_keys.push_back(k);
          out.push_back(op_put(k, value(), {.prev_kv = coin()}));
          break;
        }
        case 1:
          out.push_back(op_range(range(), {.limit = pick(3)}));
          break;
        default: {
          KeyRange r = range();
          bool clash = std::any_of(put_keys.begin(), put_keys.end(),
                                   [&](const std::string& k) { return r.contains(k); });
          // Later puts must not land in an earlier delete's range either: stop adding puts.
          if (!clash) {
            out.push_back(op_delete_range(r, {.prev_kv = coin()}));
            put_keys = kKeys;
          }
          break;
        }
      }
    }
    return out;
  }

 private:
  std::mt19937_64 rng_;
};

void expect_same(const RangeResponse& got, const RangeResponse& want, bool check_more = true) {
  EXPECT_EQ(got.revision, want.revision);
  EXPECT_EQ(got.kvs, want.kvs);
  EXPECT_EQ(got.count, want.count);
  if (check_more) {
    EXPECT_EQ(got.more, want.more);
  }
}

void expect_same(const TxnResponse& got, const TxnResponse& want) {
  EXPECT_EQ(got.revision, want.revision);
  EXPECT_EQ(got.succeeded, want.succeeded);
  ASSERT_EQ(got.responses.size(), want.responses.size());
  for (size_t i = 0; i < got.responses.size(); ++i) {
    SCOPED_TRACE("op " + std::to_string(i));
    ASSERT_EQ(got.responses[i].index(), want.responses[i].index());
    if (const auto* r = std::get_if<RangeResponse>(&got.responses[i])) {
      expect_same(*r, std::get<RangeResponse>(want.responses[i]));
    } else if (const auto* p = std::get_if<PutResponse>(&got.responses[i])) {
      const auto& w = std::get<PutResponse>(want.responses[i]);
      EXPECT_EQ(p->revision, w.revision);
      EXPECT_EQ(p->prev_kv, w.prev_kv);
    } else if (const auto* d = std::get_if<DeleteResponse>(&got.responses[i])) {
      const auto& w = std::get<DeleteResponse>(want.responses[i]);
      EXPECT_EQ(d->revision, w.revision);
      EXPECT_EQ(d->deleted, w.deleted);
      EXPECT_EQ(d->prev_kvs, w.prev_kvs);
    }
  }
}

TEST_P(StoreConformance, RandomOperationsMatchTheModel) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    // A fresh key space per seed: one store, so each seed starts from an empty prefix.
    ASSERT_TRUE(store_->delete_prefix("").ok());
    Revision start = rev();
    Model model(start);
    Generator gen(seed);
    for (int step = 0; step < 250; ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      int kind = gen.pick(10);
      if (kind < 3) {
        std::string k = gen.key(), v = gen.value();
        bool prev = gen.coin();
        auto got = store_->put(k, v, {.prev_kv = prev});
        ASSERT_TRUE(got.ok()) << got.error().describe();
        TxnRequest t;
        t.success = {op_put(k, v, {.prev_kv = prev})};
        auto want = std::get<PutResponse>(model.txn(t).responses[0]);
        EXPECT_EQ(got->revision, want.revision);
        EXPECT_EQ(got->prev_kv, want.prev_kv);
      } else if (kind < 5) {
        KeyRange r = gen.range();
        auto got = store_->delete_range(r, {.prev_kv = true});
        ASSERT_TRUE(got.ok()) << got.error().describe();
        TxnRequest t;
        t.success = {op_delete_range(r, {.prev_kv = true})};
        auto want = std::get<DeleteResponse>(model.txn(t).responses[0]);
        EXPECT_EQ(got->revision, want.revision);
        EXPECT_EQ(got->deleted, want.deleted);
        EXPECT_EQ(got->prev_kvs, want.prev_kvs);
      } else if (kind < 9) {
        TxnRequest t;
        for (int i = gen.pick(3); i > 0; --i)
          t.compare.push_back(gen.compare(model));
        t.success = gen.ops();
        t.failure = gen.ops();
        auto got = store_->txn(t);
        ASSERT_TRUE(got.ok()) << got.error().describe();
        expect_same(*got, model.txn(t));
      } else {
        Revision r = start + gen.pick(static_cast<int>(model.revision() - start + 1));
        auto got = store_->get_prefix("", {.revision = r});
        ASSERT_TRUE(got.ok()) << got.error().describe();
        RangeResponse want = Model::range(model.at(r), KeyRange::prefix(""), 0);
        want.revision = model.revision();
        expect_same(*got, want);
      }
      auto now = store_->get_prefix("");
      ASSERT_TRUE(now.ok());
      RangeResponse want = Model::range(model.at(model.revision()), KeyRange::prefix(""), 0);
      want.revision = model.revision();
      expect_same(*now, want);
      if (::testing::Test::HasFailure()) return;
    }

    // The whole history, replayed by a watch, is the model's event list.
    WatchRecorder rec;
    auto h = store_->watch_prefix("", start + 1, rec.callback());
    ASSERT_TRUE(h.ok());
    const auto& want = model.events();
    auto got = rec.wait_for(want.size());
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      SCOPED_TRACE("event " + std::to_string(i));
      EXPECT_EQ(got[i], want[i]);
    }
    h->cancel();

    // After compacting halfway, every revision from there on still reads as the model says.
    Revision half = start + (model.revision() - start) / 2;
    if (half > start) {
      ASSERT_TRUE(store_->compact(half).ok());
      for (Revision r = half; r <= model.revision(); ++r) {
        auto at = store_->get_prefix("", {.revision = r});
        ASSERT_TRUE(at.ok()) << at.error().describe();
        EXPECT_EQ(at->kvs, Model::range(model.at(r), KeyRange::prefix(""), 0).kvs) << "at " << r;
      }
    }
  }
}

}  // namespace
}  // namespace gf::store_test
