#include "store/sqlite_store.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <set>

#include "store/lease_table.h"
#include "store/sqlite_db.h"
#include "store/watch_hub.h"

namespace gf {

namespace {

// kv holds each live key as of the current revision (reads at "now" need no history); log holds
// one row per event, like kine's table: it serves reads at older revisions and watches, across
// restarts. (revision, sub) orders the events of one txn; (key, revision) is unique because a txn
// writes a key at most once.
constexpr const char* kSchema = R"sql(
CREATE TABLE meta (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE kv (
  key BLOB PRIMARY KEY,
  value BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  mod_revision INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX kv_lease ON kv (lease);
CREATE TABLE log (
  revision INTEGER NOT NULL,
  sub INTEGER NOT NULL,
  key BLOB NOT NULL,
  deleted INTEGER NOT NULL,
  value BLOB NOT NULL,
  create_revision INTEGER NOT NULL,
  version INTEGER NOT NULL,
  lease INTEGER NOT NULL,
  prev_revision INTEGER NOT NULL,
  PRIMARY KEY (revision, sub)
) WITHOUT ROWID;
CREATE UNIQUE INDEX log_key ON log (key, revision);
CREATE TABLE lease (
  id INTEGER PRIMARY KEY,
  ttl_ns INTEGER NOT NULL
);
INSERT INTO meta (name, value) VALUES ('revision', 1), ('compact_revision', 0), ('next_lease', 1);
)sql";

// Like etcd, a fresh store is at revision 1 and the first write gets revision 2.
constexpr Revision kInitialRevision = 1;
// Events per watch batch; a larger txn is delivered whole anyway.
constexpr int64_t kWatchBatch = 1000;

// The key-range condition on column `key`, parameters ?1 (start) and ?2 (end, NULL = unbounded).
// Two spellings so that SQLite can use the index for both ends when there is an end.
std::string where_range(const KeyRange& r) {
  return r.is_unbounded() ? "key >= ?1 AND ?2 IS NULL" : "key >= ?1 AND key < ?2";
}

void bind_range(SqliteStatement& s, const KeyRange& r) {
  s.bind_blob(1, r.key);
  if (r.is_unbounded()) {
    s.bind_null(2);
  } else {
    s.bind_blob(2, r.end_key());
  }
}

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

// Printable form of a key for messages: binary bytes as \xNN.
std::string printable(std::string_view key) {
  std::string out;
  for (unsigned char c : key) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

Status check_key(std::string_view key) {
  if (key.empty()) return invalid("key is empty");
  if (key.size() > SqliteStore::kMaxKeyBytes) {
    return invalid("key '" + printable(key.substr(0, 64)) + "...' is " +
                   std::to_string(key.size()) + " bytes; the limit is " +
                   std::to_string(SqliteStore::kMaxKeyBytes));
  }
  return Status();
}

Status check_range(const KeyRange& r) {
  if (r.is_single()) return check_key(r.key);
  if (r.key.size() > SqliteStore::kMaxKeyBytes || r.range_end.size() > SqliteStore::kMaxKeyBytes) {
    return invalid("range bounds are longer than the key limit of " +
                   std::to_string(SqliteStore::kMaxKeyBytes) + " bytes");
  }
  return Status();
}

Error lease_not_found(LeaseId id) {
  return make_error(ErrorCode::kNotFound, "lease " + std::to_string(id) +
                                              " not found (it expired or was revoked); grant a "
                                              "new lease");
}

bool compare_numbers(CompareOp op, int64_t a, int64_t b) {
  switch (op) {
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
}

bool compare_strings(CompareOp op, std::string_view a, std::string_view b) {
  int c = a.compare(b);
  return compare_numbers(op, c, 0);
}

// Checks etcd's rule for one branch of a txn: one event per key per revision.
Status check_txn_ops(const std::vector<TxnOp>& ops, const char* branch) {
  if (ops.size() > SqliteStore::kMaxTxnOps) {
    return invalid(std::string("txn ") + branch + " has " + std::to_string(ops.size()) +
                   " ops; the limit is " + std::to_string(SqliteStore::kMaxTxnOps));
  }
  std::set<std::string_view> puts;
  for (const auto& op : ops) {
    if (const auto* p = std::get_if<PutRequest>(&op)) {
      if (!puts.insert(p->key).second) {
        return invalid(std::string("txn ") + branch + " puts key '" + printable(p->key) +
                       "' twice; a txn may write each key once");
      }
    }
  }
  for (const auto& op : ops) {
    if (const auto* d = std::get_if<DeleteRequest>(&op)) {
      for (std::string_view k : puts) {
        if (d->range.contains(k)) {
          return invalid(std::string("txn ") + branch + " both puts and deletes key '" +
                         printable(k) + "'; a txn may write each key once");
        }
      }
    }
  }
  return Status();
}

}  // namespace

struct SqliteStore::Impl {
  std::mutex mu;
  std::unique_ptr<SqliteDb> db;
  const Clock* clock = nullptr;
  RealClock real_clock;
  Revision revision = kInitialRevision;  // committed
  Revision compact_revision = 0;
  LeaseId next_lease = 1;
  LeaseTable leases;
  std::shared_ptr<WatchHub> hub;

  // One write transaction in progress: the revision its events get, and how many it has.
  struct WriteTxn {
    Revision rev = 0;
    int64_t events = 0;
  };

  ~Impl() {
    // The dispatcher reads through `db`: stop it before the connection goes.
    if (hub) hub->stop();
  }

  TimePoint now() const { return clock->now(); }

  // A statement without parameters or rows, prepared once (BEGIN, COMMIT, ROLLBACK).
  Status run(const char* sql) {
    auto s = db->prepare(sql);
    if (!s) return s.error();
    return s->run();
  }

  Status set_meta(const char* name, int64_t value) {
    auto s = db->prepare("UPDATE meta SET value = ?2 WHERE name = ?1");
    if (!s) return s.error();
    s->bind_text(1, name).bind(2, value);
    return s->run();
  }

  Result<int64_t> get_meta(const char* name) {
    auto s = db->prepare("SELECT value FROM meta WHERE name = ?1");
    if (!s) return s.error();
    s->bind_text(1, name);
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "store file '" + db->path() + "' lacks its '" + name +
                            "' record; the file is damaged, restore it from a backup");
    }
    return s->column_int(0);
  }

  // Runs `body` in one SQLite transaction that becomes one revision if it writes any event.
  // In-memory state changes only after the commit succeeds (`after_commit`).
  template <class T, class Body>
  Result<T> write(Body&& body) {
    if (auto s = run("BEGIN IMMEDIATE"); !s.ok()) return s.error();
    WriteTxn txn{revision + 1, 0};
    Result<T> result = body(txn);
    Status s;
    if (!result.ok()) {
      s = result.error();
    } else if (txn.events > 0) {
      s = set_meta("revision", txn.rev);
    }
    if (s.ok()) s = run("COMMIT");
    if (!s.ok()) {
      // After a failed COMMIT SQLite may already have rolled back; a second rollback is harmless.
      (void)run("ROLLBACK");
      return s.error();
    }
    if (txn.events > 0) {
      revision = txn.rev;
      if (hub) hub->notify(revision);
    }
    return result;
  }

  Result<std::optional<KeyValue>> read_kv(std::string_view key) {
    auto s = db->prepare(
        "SELECT value, create_revision, mod_revision, version, lease FROM kv WHERE key = ?1");
    if (!s) return s.error();
    s->bind_blob(1, key);
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) return std::optional<KeyValue>();
    KeyValue kv;
    kv.key = std::string(key);
    kv.value = s->column_blob(0);
    kv.create_revision = s->column_int(1);
    kv.mod_revision = s->column_int(2);
    kv.version = s->column_int(3);
    kv.lease = s->column_int(4);
    return std::optional<KeyValue>(std::move(kv));
  }

  Status append_log(WriteTxn& txn, const KeyValue& kv, bool deleted, Revision prev_revision) {
    auto s = db->prepare(
        "INSERT INTO log (revision, sub, key, deleted, value, create_revision, version, lease, "
        "prev_revision) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (!s) return s.error();
    s->bind(1, txn.rev)
        .bind(2, txn.events)
        .bind_blob(3, kv.key)
        .bind(4, deleted ? 1 : 0)
        .bind_blob(5, kv.value)
        .bind(6, kv.create_revision)
        .bind(7, kv.version)
        .bind(8, kv.lease)
        .bind(9, prev_revision);
    if (auto st = s->run(); !st.ok()) return st;
    ++txn.events;
    return Status();
  }

  Result<RangeResponse> do_range(const KeyRange& range, const RangeOptions& options) {
    if (auto s = check_range(range); !s.ok()) return s.error();
    if (options.limit < 0) return invalid("range limit is negative");
    if (options.revision < 0) return invalid("range revision is negative");
    if (options.revision > revision) {
      return invalid("revision " + std::to_string(options.revision) +
                     " is in the future (the store is at " + std::to_string(revision) + ")");
    }
    if (options.revision != 0 && options.revision < compact_revision) {
      return make_error(ErrorCode::kCompacted, "revision " + std::to_string(options.revision) +
                                                   " is compacted (history starts at " +
                                                   std::to_string(compact_revision) +
                                                   "); read at a later revision");
    }
    RangeResponse out;
    out.revision = revision;
    const std::string where = where_range(range);
    // Revision 0 reads the live table, which also shows the writes of a txn in progress; an
    // explicit revision reads the log as of that revision.
    std::string select, count;
    if (options.revision == 0) {
      select = "SELECT key, value, create_revision, mod_revision, version, lease FROM kv WHERE " +
               where + " ORDER BY key LIMIT ?3";
      count = "SELECT count(*) FROM kv WHERE " + where;
    } else {
      // SQLite returns the other columns of the row holding MAX(revision): each key's newest
      // event at or before the revision; a delete there means the key did not exist.
      std::string latest =
          "SELECT key, MAX(revision) AS revision, deleted, value, create_revision, version, lease "
          "FROM log WHERE " +
          where + " AND revision <= ?4 GROUP BY key";
      select = "SELECT key, value, create_revision, revision, version, lease FROM (" + latest +
               ") WHERE deleted = 0 ORDER BY key LIMIT ?3";
      count = "SELECT count(*) FROM (" + latest + ") WHERE deleted = 0";
    }
    if (!options.count_only) {
      auto s = db->prepare(select);
      if (!s) return s.error();
      bind_range(*s, range);
      s->bind(3, options.limit > 0 ? options.limit : -1);
      if (options.revision != 0) s->bind(4, options.revision);
      while (true) {
        auto row = s->step();
        if (!row) return row.error();
        if (!*row) break;
        KeyValue kv;
        kv.key = s->column_blob(0);
        if (!options.keys_only) kv.value = s->column_blob(1);
        kv.create_revision = s->column_int(2);
        kv.mod_revision = s->column_int(3);
        kv.version = s->column_int(4);
        kv.lease = s->column_int(5);
        out.kvs.push_back(std::move(kv));
      }
    }
    out.count = static_cast<int64_t>(out.kvs.size());
    if (options.count_only || (options.limit > 0 && out.count == options.limit)) {
      auto s = db->prepare(count);
      if (!s) return s.error();
      bind_range(*s, range);
      if (options.revision != 0) s->bind(4, options.revision);
      auto row = s->step();
      if (!row) return row.error();
      out.count = *row ? s->column_int(0) : 0;
    }
    out.more = out.count > static_cast<int64_t>(out.kvs.size()) && !options.count_only;
    return out;
  }

  Result<PutResponse> do_put(WriteTxn& txn, std::string_view key, std::string_view value,
                             const PutOptions& options) {
    if (auto s = check_key(key); !s.ok()) return s.error();
    if (value.size() > kMaxValueBytes) {
      return invalid("value of key '" + printable(key) + "' is " + std::to_string(value.size()) +
                     " bytes; the limit is " + std::to_string(kMaxValueBytes));
    }
    if (options.lease != 0 && !leases.contains(options.lease)) {
      return lease_not_found(options.lease);
    }
    auto prev = read_kv(key);
    if (!prev) return prev.error();
    KeyValue kv;
    kv.key = std::string(key);
    kv.value = std::string(value);
    kv.create_revision = *prev ? (*prev)->create_revision : txn.rev;
    kv.mod_revision = txn.rev;
    kv.version = *prev ? (*prev)->version + 1 : 1;
    kv.lease = options.lease;
    auto s = db->prepare(
        "INSERT OR REPLACE INTO kv (key, value, create_revision, mod_revision, version, lease) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!s) return s.error();
    s->bind_blob(1, kv.key)
        .bind_blob(2, kv.value)
        .bind(3, kv.create_revision)
        .bind(4, kv.mod_revision)
        .bind(5, kv.version)
        .bind(6, kv.lease);
    if (auto st = s->run(); !st.ok()) return st.error();
    if (auto st = append_log(txn, kv, false, *prev ? (*prev)->mod_revision : 0); !st.ok()) {
      return st.error();
    }
    PutResponse out;
    out.revision = txn.rev;
    if (options.prev_kv) out.prev_kv = std::move(*prev);
    return out;
  }

  Result<DeleteResponse> do_delete(WriteTxn& txn, const KeyRange& range,
                                   const DeleteOptions& options) {
    RangeOptions all;
    auto doomed = do_range(range, all);
    if (!doomed) return doomed.error();
    DeleteResponse out;
    out.revision = txn.rev;
    out.deleted = static_cast<int64_t>(doomed->kvs.size());
    if (out.deleted == 0) return out;
    auto s = db->prepare("DELETE FROM kv WHERE " + where_range(range));
    if (!s) return s.error();
    bind_range(*s, range);
    if (auto st = s->run(); !st.ok()) return st.error();
    for (const KeyValue& kv : doomed->kvs) {
      KeyValue tombstone;
      tombstone.key = kv.key;
      if (auto st = append_log(txn, tombstone, true, kv.mod_revision); !st.ok()) {
        return st.error();
      }
    }
    if (options.prev_kv) out.prev_kvs = std::move(doomed->kvs);
    return out;
  }

  Result<bool> holds(const Compare& c) {
    if (auto s = check_key(c.key); !s.ok()) return s.error();
    auto kv = read_kv(c.key);
    if (!kv) return kv.error();
    if (c.target == CompareTarget::kValue) {
      if (!*kv) return false;  // etcd: a missing key has no value to compare
      return compare_strings(c.op, (*kv)->value, c.value);
    }
    KeyValue absent;
    const KeyValue& k = *kv ? **kv : absent;
    switch (c.target) {
      case CompareTarget::kVersion:
        return compare_numbers(c.op, k.version, c.number);
      case CompareTarget::kCreateRevision:
        return compare_numbers(c.op, k.create_revision, c.number);
      case CompareTarget::kModRevision:
        return compare_numbers(c.op, k.mod_revision, c.number);
      case CompareTarget::kLease:
        return compare_numbers(c.op, k.lease, c.number);
      case CompareTarget::kValue:
        break;
    }
    return false;
  }

  Result<TxnResponse> do_txn(WriteTxn& txn, const TxnRequest& request) {
    TxnResponse out;
    out.succeeded = true;
    for (const Compare& c : request.compare) {
      auto ok = holds(c);
      if (!ok) return ok.error();
      if (!*ok) {
        out.succeeded = false;
        break;
      }
    }
    const auto& ops = out.succeeded ? request.success : request.failure;
    for (const TxnOp& op : ops) {
      if (const auto* r = std::get_if<RangeRequest>(&op)) {
        auto res = do_range(r->range, r->options);
        if (!res) return res.error();
        out.responses.emplace_back(std::move(*res));
      } else if (const auto* p = std::get_if<PutRequest>(&op)) {
        auto res = do_put(txn, p->key, p->value, p->options);
        if (!res) return res.error();
        out.responses.emplace_back(std::move(*res));
      } else if (const auto* d = std::get_if<DeleteRequest>(&op)) {
        if (auto s = check_range(d->range); !s.ok()) return s.error();
        auto res = do_delete(txn, d->range, d->options);
        if (!res) return res.error();
        out.responses.emplace_back(std::move(*res));
      }
    }
    return out;
  }

  // Deletes the lease's keys (one revision, a delete event each) and the lease.
  Result<LeaseRevokeResponse> do_revoke(LeaseId id) {
    if (!leases.contains(id)) return lease_not_found(id);
    auto out = write<LeaseRevokeResponse>([&](WriteTxn& txn) -> Result<LeaseRevokeResponse> {
      auto keys = lease_keys(id);
      if (!keys) return keys.error();
      LeaseRevokeResponse r;
      for (const std::string& k : *keys) {
        auto d = do_delete(txn, KeyRange::single(k), {});
        if (!d) return d.error();
        r.deleted += d->deleted;
      }
      auto s = db->prepare("DELETE FROM lease WHERE id = ?1");
      if (!s) return s.error();
      s->bind(1, id);
      if (auto st = s->run(); !st.ok()) return st.error();
      return r;
    });
    if (!out) return out.error();
    leases.remove(id);
    out->revision = revision;
    return out;
  }

  Result<std::vector<std::string>> lease_keys(LeaseId id) {
    auto s = db->prepare("SELECT key FROM kv WHERE lease = ?1 ORDER BY key");
    if (!s) return s.error();
    s->bind(1, id);
    std::vector<std::string> keys;
    while (true) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      keys.push_back(s->column_blob(0));
    }
    return keys;
  }

  // Every public call starts here, so no caller ever sees a key whose lease is past its time.
  Status expire_due() {
    for (LeaseId id : leases.expired(now())) {
      auto r = do_revoke(id);
      if (!r) return r.error();
    }
    return Status();
  }

  // The dispatcher's read: the events of `range` from `from` on, whole revisions only.
  WatchBatch fetch(const KeyRange& range, Revision from, bool prev_kv) {
    std::lock_guard lk(mu);
    WatchBatch batch;
    if (from < compact_revision) {
      batch.status =
          make_error(ErrorCode::kCompacted,
                     "watch fell behind a compaction: revision " + std::to_string(from) +
                         " is compacted (history starts at " + std::to_string(compact_revision) +
                         "); re-read the keys and watch again from their revision");
      batch.compact_revision = compact_revision;
      return batch;
    }
    Revision upto = revision;
    // "+key" keeps SQLite on the (revision, sub) primary key: a caught-up watch then reads only
    // the newest rows, however many keys its range holds.
    std::string sql =
        "SELECT revision, key, deleted, value, create_revision, version, lease, prev_revision "
        "FROM log WHERE revision >= ?3 AND revision <= ?4 AND " +
        std::string(range.is_unbounded() ? "+key >= ?1 AND ?2 IS NULL"
                                         : "+key >= ?1 AND +key < ?2") +
        " ORDER BY revision, sub LIMIT ?5";
    struct Row {
      Event event;
      Revision prev_revision;
    };
    std::vector<Row> rows;
    auto read = [&](Revision lo, Revision hi, int64_t limit) -> Status {
      auto s = db->prepare(sql);
      if (!s) return s.error();
      bind_range(*s, range);
      s->bind(3, lo).bind(4, hi).bind(5, limit);
      while (true) {
        auto row = s->step();
        if (!row) return row.error();
        if (!*row) return Status();
        Row r;
        r.event.kv.mod_revision = s->column_int(0);
        r.event.kv.key = s->column_blob(1);
        if (s->column_int(2) != 0) {
          r.event.type = Event::Type::kDelete;
        } else {
          r.event.type = Event::Type::kPut;
          r.event.kv.value = s->column_blob(3);
          r.event.kv.create_revision = s->column_int(4);
          r.event.kv.version = s->column_int(5);
          r.event.kv.lease = s->column_int(6);
        }
        r.prev_revision = s->column_int(7);
        rows.push_back(std::move(r));
      }
    };
    if (auto s = read(from, upto, kWatchBatch); !s.ok()) {
      batch.status = s;
      return batch;
    }
    batch.next_revision = upto + 1;
    if (static_cast<int64_t>(rows.size()) == kWatchBatch) {
      // Full batch: the last revision may be cut short. Drop it and resume there, unless it is
      // the only one, which is then read whole.
      Revision last = rows.back().event.kv.mod_revision;
      if (rows.front().event.kv.mod_revision < last) {
        while (rows.back().event.kv.mod_revision == last)
          rows.pop_back();
      } else {
        rows.clear();
        if (auto s = read(last, last, -1); !s.ok()) {
          batch.status = s;
          return batch;
        }
      }
      batch.next_revision = rows.back().event.kv.mod_revision + 1;
    }
    for (Row& r : rows) {
      if (prev_kv && r.prev_revision != 0) {
        auto s = db->prepare(
            "SELECT value, create_revision, version, lease FROM log "
            "WHERE key = ?1 AND revision = ?2 AND deleted = 0");
        if (!s) {
          batch.status = s.error();
          return batch;
        }
        s->bind_blob(1, r.event.kv.key).bind(2, r.prev_revision);
        auto row = s->step();
        if (!row) {
          batch.status = row.error();
          return batch;
        }
        if (*row) {  // else compacted away: leave it out
          KeyValue p;
          p.key = r.event.kv.key;
          p.value = s->column_blob(0);
          p.create_revision = s->column_int(1);
          p.mod_revision = r.prev_revision;
          p.version = s->column_int(2);
          p.lease = s->column_int(3);
          r.event.prev_kv = std::move(p);
        }
      }
      batch.events.push_back(std::move(r.event));
    }
    return batch;
  }

  Status load(const std::string& path, SqliteSync sync) {
    // EXCLUSIVE before the first access: the connection then holds the file lock for its whole
    // life (a second process gets SQLITE_BUSY at once), and WAL needs no shared-memory file.
    if (auto s = db->exec("PRAGMA locking_mode = EXCLUSIVE"); !s.ok()) return s;
    if (auto s = db->exec("PRAGMA journal_mode = WAL"); !s.ok()) return s;
    if (auto s = db->exec(sync == SqliteSync::kFull ? "PRAGMA synchronous = FULL"
                                                    : "PRAGMA synchronous = NORMAL");
        !s.ok()) {
      return s;
    }
    if (auto s = db->exec("BEGIN EXCLUSIVE"); !s.ok()) return s;
    Status s = init_or_check(path);
    if (s.ok()) s = db->exec("COMMIT");
    if (!s.ok()) (void)db->exec("ROLLBACK");
    return s;
  }

  Status init_or_check(const std::string& path) {
    auto app_id = db->query_int("PRAGMA application_id");
    if (!app_id) return app_id.error();
    auto version = db->query_int("PRAGMA user_version");
    if (!version) return version.error();
    auto tables = db->query_int("SELECT count(*) FROM sqlite_schema");
    if (!tables) return tables.error();
    if (*app_id == 0 && *tables == 0) {
      if (auto s = db->exec(kSchema); !s.ok()) return s;
      if (auto s = db->exec("PRAGMA application_id = " + std::to_string(kApplicationId)); !s.ok()) {
        return s;
      }
      if (auto s = db->exec("PRAGMA user_version = " + std::to_string(kSchemaVersion)); !s.ok()) {
        return s;
      }
    } else if (*app_id != kApplicationId) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "'" + path +
                            "' is a SQLite database but not a gpufleet store (its "
                            "application_id is " +
                            std::to_string(*app_id) +
                            "); give the path of a gpufleet store or of a new file");
    } else if (*version > kSchemaVersion) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "store file '" + path + "' has schema version " + std::to_string(*version) +
                            ", newer than this gpufleet knows (" + std::to_string(kSchemaVersion) +
                            "); it was written by a newer gpufleet: upgrade this one");
    } else if (*version < 1) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "store file '" + path +
                            "' is marked as a gpufleet store but has no "
                            "schema version; the file is damaged, restore it "
                            "from a backup");
    }
    auto rev = get_meta("revision");
    if (!rev) return rev.error();
    auto compact = get_meta("compact_revision");
    if (!compact) return compact.error();
    auto next = get_meta("next_lease");
    if (!next) return next.error();
    revision = *rev;
    compact_revision = *compact;
    next_lease = *next;
    // Deadlines are not stored: every surviving lease gets its full TTL again.
    auto s = db->prepare("SELECT id, ttl_ns FROM lease");
    if (!s) return s.error();
    TimePoint t = now();
    while (true) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      leases.add(s->column_int(0), Duration(s->column_int(1)), t);
    }
    return Status();
  }
};

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       SqliteStoreOptions options) {
  if (path.empty()) return invalid("store path is empty; give a file path or \":memory:\"");
  if (path != ":memory:") {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path p(path);
    if (fs::is_directory(p, ec)) {
      return invalid("store path '" + path + "' is a directory; give a file path inside it");
    }
    fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
    if (!fs::is_directory(dir, ec)) {
      return make_error(ErrorCode::kNotFound, "cannot open store file '" + path + "': directory '" +
                                                  dir.string() +
                                                  "' does not exist; create it first");
    }
  }
  auto db = SqliteDb::open(path);
  if (!db) return db.error();
  auto impl = std::make_unique<Impl>();
  impl->db = std::move(*db);
  impl->clock = options.clock ? options.clock : &impl->real_clock;
  if (auto s = impl->load(path, options.sync); !s.ok()) return s.error();
  Impl* raw = impl.get();
  impl->hub = std::make_shared<WatchHub>([raw](const KeyRange& range, Revision from, bool prev) {
    return raw->fetch(range, from, prev);
  });
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SqliteStore::~SqliteStore() = default;

const std::string& SqliteStore::path() const {
  return impl_->db->path();
}

Revision SqliteStore::compact_revision() const {
  std::lock_guard lk(impl_->mu);
  return impl_->compact_revision;
}

Result<RangeResponse> SqliteStore::range(const KeyRange& range, const RangeOptions& options) {
  std::lock_guard lk(impl_->mu);
  if (auto s = impl_->expire_due(); !s.ok()) return s.error();
  return impl_->do_range(range, options);
}

Result<PutResponse> SqliteStore::put(std::string_view key, std::string_view value,
                                     const PutOptions& options) {
  std::lock_guard lk(impl_->mu);
  if (auto s = impl_->expire_due(); !s.ok()) return s.error();
  return impl_->write<PutResponse>(
      [&](Impl::WriteTxn& txn) { return impl_->do_put(txn, key, value, options); });
}

Result<DeleteResponse> SqliteStore::delete_range(const KeyRange& range,
                                                 const DeleteOptions& options) {
  std::lock_guard lk(impl_->mu);
  if (auto s = impl_->expire_due(); !s.ok()) return s.error();
  if (auto s = check_range(range); !s.ok()) return s.error();
  auto r = impl_->write<DeleteResponse>(
      [&](Impl::WriteTxn& txn) { return impl_->do_delete(txn, range, options); });
  if (r) r->revision = impl_->revision;
  return r;
}

Result<TxnResponse> SqliteStore::txn(const TxnRequest& request) {
  if (request.compare.size() > kMaxTxnOps) {
    return invalid("txn has " + std::to_string(request.compare.size()) +
                   " compares; the limit is " + std::to_string(kMaxTxnOps));
  }
  if (auto s = check_txn_ops(request.success, "success"); !s.ok()) return s.error();
  if (auto s = check_txn_ops(request.failure, "failure"); !s.ok()) return s.error();
  std::lock_guard lk(impl_->mu);
  if (auto s = impl_->expire_due(); !s.ok()) return s.error();
  auto r =
      impl_->write<TxnResponse>([&](Impl::WriteTxn& txn) { return impl_->do_txn(txn, request); });
  if (!r) return r;
  // Every response carries the txn's final revision, as etcd's headers do.
  r->revision = impl_->revision;
  for (auto& resp : r->responses) {
    std::visit([&](auto& x) { x.revision = impl_->revision; }, resp);
  }
  return r;
}

Result<CompactResponse> SqliteStore::compact(Revision revision) {
  std::lock_guard lk(impl_->mu);
  if (auto s = impl_->expire_due(); !s.ok()) return s.error();
  Impl& m = *impl_;
  if (revision > m.revision) {
    return invalid("cannot compact to revision " + std::to_string(revision) +
                   ": it is in the future (the store is at " + std::to_string(m.revision) + ")");
  }
  if (revision <= m.compact_revision) {
    return make_error(ErrorCode::kCompacted, "revision " + std::to_string(revision) +
                                                 " is already compacted (history starts at " +
                                                 std::to_string(m.compact_revision) + ")");
  }
  auto r = m.write<CompactResponse>([&](Impl::WriteTxn&) -> Result<CompactResponse> {
    // Keep every event at or after `revision`, and before it only each key's newest put (what
    // a read at `revision`, and the prev_kv of a later event, need). Tombstones before it go.
    auto s = m.db->prepare(
        "DELETE FROM log WHERE revision < ?1 AND (deleted = 1 OR EXISTS (SELECT 1 FROM log AS "
        "newer WHERE newer.key = log.key AND newer.revision > log.revision AND newer.revision < "
        "?1))");
    if (!s) return s.error();
    s->bind(1, revision);
    if (auto st = s->run(); !st.ok()) return st.error();
    if (auto st = m.set_meta("compact_revision", revision); !st.ok()) return st.error();
    return CompactResponse{};
  });
  if (!r) return r;
  m.compact_revision = revision;
  // A watch behind the new compaction point is behind the store's revision too, so the
  // dispatcher is already due to visit it and will end it with kCompacted.
  r->revision = m.revision;
  return r;
}

Result<WatchHandle> SqliteStore::watch(const KeyRange& range, Revision start_revision,
                                       WatchCallback callback, const WatchOptions& options) {
  if (!callback) return invalid("watch callback is empty");
  if (start_revision < 0) return invalid("watch start revision is negative");
  std::lock_guard lk(impl_->mu);
  if (auto s = impl_->expire_due(); !s.ok()) return s.error();
  if (auto s = check_range(range); !s.ok()) return s.error();
  Impl& m = *impl_;
  Revision start = start_revision == 0 ? m.revision + 1 : start_revision;
  if (start < m.compact_revision) {
    return make_error(ErrorCode::kCompacted,
                      "cannot watch from revision " + std::to_string(start) + ": history before " +
                          std::to_string(m.compact_revision) +
                          " is compacted; re-read the keys and watch from the read's revision + 1");
  }
  return m.hub->add(range, start, options, std::move(callback), m.revision);
}

Result<LeaseGrantResponse> SqliteStore::grant(Duration ttl) {
  if (ttl <= Duration(0) || ttl > kMaxLeaseTtl) {
    return invalid("lease ttl " + format_duration(ttl) +
                   " is out of range; give more than 0 and "
                   "at most " +
                   format_duration(kMaxLeaseTtl));
  }
  std::lock_guard lk(impl_->mu);
  Impl& m = *impl_;
  if (auto s = m.expire_due(); !s.ok()) return s.error();
  LeaseId id = m.next_lease;
  auto r = m.write<LeaseGrantResponse>([&](Impl::WriteTxn&) -> Result<LeaseGrantResponse> {
    auto s = m.db->prepare("INSERT INTO lease (id, ttl_ns) VALUES (?1, ?2)");
    if (!s) return s.error();
    s->bind(1, id).bind(2, ttl.count());
    if (auto st = s->run(); !st.ok()) return st.error();
    if (auto st = m.set_meta("next_lease", id + 1); !st.ok()) return st.error();
    return LeaseGrantResponse{id, ttl};
  });
  if (!r) return r;
  m.next_lease = id + 1;
  m.leases.add(id, ttl, m.now());
  return r;
}

Result<LeaseKeepAliveResponse> SqliteStore::keepalive(LeaseId id) {
  std::lock_guard lk(impl_->mu);
  Impl& m = *impl_;
  if (auto s = m.expire_due(); !s.ok()) return s.error();
  if (!m.leases.refresh(id, m.now())) return lease_not_found(id);
  return LeaseKeepAliveResponse{id, *m.leases.ttl(id)};
}

Result<LeaseRevokeResponse> SqliteStore::revoke(LeaseId id) {
  std::lock_guard lk(impl_->mu);
  if (auto s = impl_->expire_due(); !s.ok()) return s.error();
  return impl_->do_revoke(id);
}

Result<LeaseTimeToLiveResponse> SqliteStore::time_to_live(LeaseId id, bool keys) {
  std::lock_guard lk(impl_->mu);
  Impl& m = *impl_;
  if (auto s = m.expire_due(); !s.ok()) return s.error();
  auto remaining = m.leases.remaining(id, m.now());
  if (!remaining) return lease_not_found(id);
  LeaseTimeToLiveResponse out{id, *m.leases.ttl(id), *remaining, {}};
  if (keys) {
    auto k = m.lease_keys(id);
    if (!k) return k.error();
    out.keys = std::move(*k);
  }
  return out;
}

Result<std::vector<LeaseId>> SqliteStore::leases() {
  std::lock_guard lk(impl_->mu);
  if (auto s = impl_->expire_due(); !s.ok()) return s.error();
  return impl_->leases.ids();
}

Status SqliteStore::expire_leases() {
  std::lock_guard lk(impl_->mu);
  return impl_->expire_due();
}

}  // namespace gf
