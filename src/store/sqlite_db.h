// SqliteDb: a thin RAII layer over one SQLite connection and its cached prepared statements, with
// SQLite's failures turned into Status values. Internal to the SQLite store; not thread-safe (the
// store serialises every use under its own mutex).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace gf {

class SqliteDb;

// A prepared statement borrowed from the cache, unbound on every prepare() and reset when the
// borrow ends (an unfinished SELECT would otherwise hold its read transaction open).
class SqliteStatement {
 public:
  SqliteStatement(SqliteDb* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  SqliteStatement(SqliteStatement&& o) noexcept
      : db_(o.db_), stmt_(std::exchange(o.stmt_, nullptr)), bind_error_(o.bind_error_) {}
  SqliteStatement& operator=(SqliteStatement&&) = delete;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  ~SqliteStatement();

  // Bind by 1-based parameter index. Text and keys are bound as BLOBs so that every comparison
  // is bytewise (a TEXT and a BLOB never compare equal in SQLite).
  SqliteStatement& bind(int index, int64_t value);
  SqliteStatement& bind_blob(int index, std::string_view value);
  SqliteStatement& bind_text(int index, std::string_view value);
  SqliteStatement& bind_null(int index);

  // One step: true = a row is ready, false = done. Binding errors surface here.
  Result<bool> step();
  // Steps to completion, for statements that return no rows.
  Status run();

  int64_t column_int(int index) const;
  std::string column_blob(int index) const;
  bool column_is_null(int index) const;

 private:
  SqliteDb* db_;
  sqlite3_stmt* stmt_;
  int bind_error_ = 0;
};

class SqliteDb {
 public:
  // Opens (creating if missing) the file at `path`, or an in-memory database for ":memory:".
  static Result<std::unique_ptr<SqliteDb>> open(const std::string& path);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs one or more statements that return no rows (schema, pragmas).
  Status exec(const std::string& sql);
  // The cached statement for `sql`, prepared on first use.
  Result<SqliteStatement> prepare(const std::string& sql);
  // The first column of the first row of `sql` as an integer (pragmas, counts).
  Result<int64_t> query_int(const std::string& sql);

  // A Status for SQLite result code `rc`, naming what was being done and the database file.
  Error error(int rc, std::string_view what) const;
  const std::string& path() const { return path_; }

 private:
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

  sqlite3* db_;
  std::string path_;
  std::map<std::string, sqlite3_stmt*, std::less<>> statements_;
};

}  // namespace gf
