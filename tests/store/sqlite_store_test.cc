// The SQLite backend: the conformance suite on a file and in memory, then what only a file can
// show: reopening keeps keys, revisions, history and leases; one process per file; clear open
// errors; and acknowledged writes survive kill -9 of the writing process.
#include "store/sqlite_store.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>

#include <fstream>

#include "store_conformance.h"

namespace gf::store_test {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

Result<std::unique_ptr<StateStore>> as_state_store(Result<std::unique_ptr<SqliteStore>> s) {
  if (!s) return s.error();
  return std::unique_ptr<StateStore>(std::move(*s));
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         ::testing::Values(
                             // The shipped default: fsync on every commit.
                             StoreBackend{"File",
                                          [](const std::string& dir, const Clock* clock) {
                                            return as_state_store(
                                                SqliteStore::open(dir + "/store.db", {clock}));
                                          }},
                             StoreBackend{"Memory",
                                          [](const std::string&, const Clock* clock) {
                                            return as_state_store(
                                                SqliteStore::open(":memory:", {clock}));
                                          }}),
                         backend_name);

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteStore> open(SqliteSync sync = SqliteSync::kNormal) {
    auto s = SqliteStore::open(path_, {&clock_, sync});
    EXPECT_TRUE(s.ok()) << s.error().describe();
    return s.ok() ? std::move(*s) : nullptr;
  }

  TempDir dir_;
  std::string path_ = dir_.file("store.db");
  ManualClock clock_;
};

TEST_F(SqliteStoreTest, ReopenKeepsKeysRevisionsAndHistory) {
  Revision last = 0;
  LeaseId lease = 0;
  {
    auto s = open();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->put("a", "1").ok());
    ASSERT_TRUE(s->put("a", "2").ok());
    ASSERT_TRUE(s->put("b", "1").ok());
    ASSERT_TRUE(s->delete_key("b").ok());
    auto g = s->grant(seconds(10));
    ASSERT_TRUE(g.ok());
    lease = g->id;
    auto p = s->put("l", "leased", {.lease = lease});
    ASSERT_TRUE(p.ok());
    last = p->revision;
    ASSERT_TRUE(s->compact(3).ok());
    clock_.advance(seconds(9));  // 1 s left when the store closes
  }
  auto s = open();
  ASSERT_TRUE(s);
  auto all = s->get_prefix("");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->revision, last);
  ASSERT_EQ(all->kvs.size(), 2u);
  EXPECT_EQ(all->kvs[0], (KeyValue{"a", "2", 2, 3, 2, 0}));
  EXPECT_EQ(all->kvs[1].lease, lease);
  EXPECT_EQ(s->compact_revision(), 3);

  // History: older reads and a watch from the compaction point replay what happened.
  auto old = s->get_prefix("", {.revision = 4});
  ASSERT_TRUE(old.ok());
  ASSERT_EQ(old->kvs.size(), 2u);
  EXPECT_EQ(old->kvs[1].key, "b");
  WatchRecorder rec;
  auto h = s->watch_prefix("", 3, rec.callback());
  ASSERT_TRUE(h.ok());
  auto events = rec.wait_for(4);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].kv.mod_revision, 3);
  EXPECT_EQ(events[2].type, Event::Type::kDelete);
  EXPECT_EQ(events[3].kv.key, "l");

  // The lease survived with its full TTL again, and its id is not handed out twice.
  auto ttl = s->time_to_live(lease);
  ASSERT_TRUE(ttl.ok()) << ttl.error().describe();
  EXPECT_EQ(ttl->remaining, seconds(10));
  auto next = s->grant(seconds(5));
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->id, lease);

  // And writes continue from the stored revision.
  auto p = s->put("c", "1");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->revision, last + 1);
}

TEST_F(SqliteStoreTest, SecondOpenerInTheSameProcessFails) {
  auto first = open();
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->put("k", "v").ok());
  auto second = SqliteStore::open(path_, {&clock_});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(second.error().message, HasSubstr("in use by another"));
  EXPECT_THAT(second.error().message, HasSubstr(path_));
  // The holder is unharmed, and the file opens once it is closed.
  ASSERT_TRUE(first->put("k", "w").ok());
  first.reset();
  auto again = open();
  ASSERT_TRUE(again);
  auto g = again->get("k");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->kvs.at(0).value, "w");
}

// A separate process, as in production (two controllers pointed at one file). The child is
// forked before the parent opens the store, so it shares no SQLite state with it.
TEST_F(SqliteStoreTest, SecondProcessFailsClearly) {
  int go[2], result[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(result), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(go[1]);
    close(result[0]);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(2);
    auto s = SqliteStore::open(path_);
    std::string report = s.ok() ? std::string("opened") : s.error().describe();
    (void)!write(result[1], report.data(), report.size());
    _exit(0);
  }
  close(go[0]);
  close(result[1]);
  auto store = open();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->put("k", "v").ok());
  ASSERT_EQ(write(go[1], "g", 1), 1);
  std::string report;
  char buf[512];
  for (ssize_t n; (n = read(result[0], buf, sizeof buf)) > 0;)
    report.append(buf, n);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  close(go[1]);
  close(result[0]);
  EXPECT_THAT(report, HasSubstr("unavailable"));
  EXPECT_THAT(report, HasSubstr("in use by another process"));
  EXPECT_THAT(report, HasSubstr(path_));
  ASSERT_TRUE(store->put("k", "w").ok());
}

TEST_F(SqliteStoreTest, OpenErrorsSayWhatAndWhere) {
  auto missing_dir = SqliteStore::open(dir_.file("no/such/dir/store.db"));
  ASSERT_FALSE(missing_dir.ok());
  EXPECT_EQ(missing_dir.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(missing_dir.error().message, HasSubstr(dir_.file("no/such/dir")));
  EXPECT_THAT(missing_dir.error().message, HasSubstr("does not exist"));

  auto directory = SqliteStore::open(dir_.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_THAT(directory.error().message, HasSubstr("is a directory"));

  auto empty = SqliteStore::open("");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);

  std::string text = dir_.file("notes.txt");
  std::ofstream(text) << std::string(8192, 'x');
  auto not_sqlite = SqliteStore::open(text);
  ASSERT_FALSE(not_sqlite.ok());
  EXPECT_THAT(not_sqlite.error().message, HasSubstr(text));
  EXPECT_THAT(not_sqlite.error().message, HasSubstr("not a SQLite database"));

  // A SQLite database of some other program.
  std::string foreign = dir_.file("other.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(foreign.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto other = SqliteStore::open(foreign);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(other.error().message, HasSubstr("not a gpufleet store"));
  EXPECT_THAT(other.error().message, HasSubstr(foreign));

  // A store written by a newer gpufleet.
  { ASSERT_TRUE(open()); }
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto newer = SqliteStore::open(path_);
  ASSERT_FALSE(newer.ok());
  EXPECT_EQ(newer.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(newer.error().message, HasSubstr("schema version 99"));
  EXPECT_THAT(newer.error().message, HasSubstr("newer gpufleet"));
}

TEST_F(SqliteStoreTest, LimitsAreEnforcedWithReasons) {
  auto s = open();
  ASSERT_TRUE(s);
  auto big_key = s->put(std::string(SqliteStore::kMaxKeyBytes + 1, 'k'), "v");
  ASSERT_FALSE(big_key.ok());
  EXPECT_THAT(big_key.error().message, HasSubstr("the limit is"));
  auto big_value = s->put("k", std::string(SqliteStore::kMaxValueBytes + 1, 'v'));
  ASSERT_FALSE(big_value.ok());
  EXPECT_EQ(big_value.error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(s->put("k", std::string(SqliteStore::kMaxValueBytes, 'v')).ok());
  TxnRequest many;
  for (size_t i = 0; i <= SqliteStore::kMaxTxnOps; ++i) {
    many.success.push_back(op_put("m/" + std::to_string(i), "v"));
  }
  auto t = s->txn(many);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument);
  auto huge_ttl = s->grant(SqliteStore::kMaxLeaseTtl + seconds(1));
  ASSERT_FALSE(huge_ttl.ok());
}

TEST_F(SqliteStoreTest, HandlesMayOutliveTheStore) {
  auto s = open();
  ASSERT_TRUE(s);
  WatchRecorder rec;
  auto h = s->watch_prefix("", 0, rec.callback());
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(s->put("k", "v").ok());
  ASSERT_EQ(rec.wait_for(1).size(), 1u);
  s.reset();
  h->cancel();  // a no-op now, and no crash
}

// Acknowledged writes survive SIGKILL of the writer. A child puts keys in a loop and reports each
// revision on a pipe after put() returns; the parent kills it after a number of reports, then
// reopens the file: every reported write must be there, and at most one more (committed but not
// yet reported). Several kill points, so the kill lands at different moments of a commit.
TEST(SqliteStoreCrash, AcknowledgedWritesSurviveKill9) {
  TempDir dir;
  for (int kill_after : {1, 7, 60, 250}) {
    SCOPED_TRACE("kill after " + std::to_string(kill_after) + " acknowledged puts");
    std::string path = dir.file("crash-" + std::to_string(kill_after) + ".db");
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      auto store = SqliteStore::open(path);  // the default: SqliteSync::kFull
      if (!store) _exit(2);
      for (int i = 0; i < 1'000'000; ++i) {
        auto p = (*store)->put("k/" + std::to_string(i), "v" + std::to_string(i));
        if (!p) _exit(3);
        Revision r = p->revision;
        if (write(fds[1], &r, sizeof r) != sizeof r) _exit(4);
      }
      _exit(0);
    }
    close(fds[1]);
    std::vector<Revision> acked;
    Revision r;
    while (read(fds[0], &r, sizeof r) == sizeof r) {
      acked.push_back(r);
      if (static_cast<int>(acked.size()) == kill_after) kill(pid, SIGKILL);
    }
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child failed on its own: status " << status;
    ASSERT_GE(static_cast<int>(acked.size()), kill_after);

    // Revisions 2, 3, ... (a fresh store is at 1) for keys k/0, k/1, ...
    for (size_t i = 0; i < acked.size(); ++i)
      ASSERT_EQ(acked[i], static_cast<Revision>(i) + 2);
    auto opened = SqliteStore::open(path);
    ASSERT_TRUE(opened.ok()) << opened.error().describe();
    auto& store = *opened;
    auto all = store->get_prefix("k/");
    ASSERT_TRUE(all.ok());
    Revision current = all->revision;
    EXPECT_GE(current, acked.back());
    EXPECT_LE(current, acked.back() + 1);
    EXPECT_EQ(all->count, current - 1);
    for (size_t i = 0; i < acked.size(); ++i) {
      auto g = store->get("k/" + std::to_string(i));
      ASSERT_TRUE(g.ok());
      ASSERT_EQ(g->kvs.size(), 1u) << "acknowledged key k/" << i << " is missing";
      EXPECT_EQ(g->kvs[0].value, "v" + std::to_string(i));
      EXPECT_EQ(g->kvs[0].mod_revision, acked[i]);
    }
    // The history matches the keys: a watch from the start replays every write.
    WatchRecorder rec;
    auto h = store->watch_prefix("k/", 1, rec.callback());
    ASSERT_TRUE(h.ok());
    auto events = rec.wait_for(static_cast<size_t>(current - 1));
    EXPECT_EQ(static_cast<Revision>(events.size()), current - 1);
    // And the store takes writes again.
    auto p = store->put("after", "crash");
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->revision, current + 1);
  }
}

}  // namespace
}  // namespace gf::store_test
