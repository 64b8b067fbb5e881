// The metadata store. Capabilities talk to a Database with portable SQL:
// `?` placeholders, TEXT ids, JSON kept as TEXT, no backend-only functions.
// SQLite (WAL) is the embedded backend; a PostgreSQL one implements the same
// interface. Each thread gets its own connection, so reads run in parallel and
// a transaction is simply "this thread's connection between BEGIN and COMMIT".
#pragma once
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace atelier::store {

// A bound parameter or a column value.
class Value {
 public:
  Value() = default;
  Value(std::nullptr_t) {}
  Value(int v) : v_(int64_t(v)) {}
  Value(int64_t v) : v_(v) {}
  Value(long long v) : v_(int64_t(v)) {}
  Value(bool v) : v_(int64_t(v)) {}
  Value(double v) : v_(v) {}
  Value(std::string v) : v_(std::move(v)) {}
  Value(std::string_view v) : v_(std::string(v)) {}
  Value(const char* v) : v_(std::string(v)) {}
  template <class T>
  Value(const std::optional<T>& v) {
    if (v) *this = Value(*v);
  }
  // A text parameter that is not copied: `v` must outlive the statement's
  // run. For bulk inserts, where copying every text was a measurable part
  // of the work. Only a parameter; str() refuses it.
  static Value borrowed(std::string_view v) {
    Value out;
    out.v_ = v;
    return out;
  }

  bool is_null() const { return v_.index() == 0; }
  int64_t i64() const;           // 0 for NULL
  double f64() const;            // 0 for NULL
  const std::string& str() const;  // "" for NULL
  const auto& raw() const { return v_; }

 private:
  std::variant<std::monostate, int64_t, double, std::string, std::string_view> v_;
};

using Params = std::vector<Value>;

class Row {
 public:
  Row(std::shared_ptr<const std::vector<std::string>> cols, std::vector<Value> vals)
      : cols_(std::move(cols)), vals_(std::move(vals)) {}
  const Value& operator[](size_t i) const { return vals_.at(i); }
  const Value& operator[](std::string_view col) const;  // throws on an unknown column
  const std::string& str(std::string_view col) const { return (*this)[col].str(); }
  int64_t i64(std::string_view col) const { return (*this)[col].i64(); }
  bool flag(std::string_view col) const { return (*this)[col].i64() != 0; }
  bool null(std::string_view col) const { return (*this)[col].is_null(); }

 private:
  std::shared_ptr<const std::vector<std::string>> cols_;
  std::vector<Value> vals_;
};

using Rows = std::vector<Row>;

struct Migration {
  std::string name;  // unique and stable, e.g. "iam/001_init"; applied in list order
  std::string sql;   // one or more statements, in the portable dialect
  // A backend's own script instead of `sql` (key: Database::backend()), for
  // what only that backend has (SQLite's WITHOUT ROWID tables, say).
  std::map<std::string, std::string> dialects = {};
  const std::string& script_for(const std::string& backend) const {
    auto it = dialects.find(backend);
    return it == dialects.end() ? sql : it->second;
  }
};

// The contract every backend keeps and every caller relies on:
//  - Writers are serialized: at most one transaction (or autocommit write)
//    writes at a time across all connections and processes on one database
//    (SQLite: its write lock, taken at BEGIN IMMEDIATE; PostgreSQL must take
//    the same order with SERIALIZABLE or an explicit lock per transaction).
//    Reads never wait for writers; a read that starts after a commit
//    returned on any thread of this process sees that commit, and a commit
//    of another process (the admin CLI) within kMaxSnapshotAge (50 ms).
//  - A transaction body runs exactly once: the store never retries it. A
//    body that throws rolls back everything it wrote.
//  - REQUIRES of callers: a transaction body does no I/O outside the
//    database (no object puts or removals, no mail, no process starts, no
//    network), because it may still roll back and it holds the write lock.
//    Rows a decision depends on are read inside the transaction that acts on
//    them. Object writes come before the transaction and are removed again
//    if it fails; object removals come after it commits.
class Database {
 public:
  virtual ~Database() = default;
  virtual Rows query(std::string_view sql, const Params& params = {}) = 0;
  std::optional<Row> query_one(std::string_view sql, const Params& params = {});
  // Runs a statement and returns the number of rows it changed.
  virtual int64_t exec(std::string_view sql, const Params& params = {}) = 0;
  // Runs fn inside a transaction on this thread's connection: commit when fn
  // returns, roll back when it throws (and rethrow). Nested calls join the
  // outer transaction.
  virtual void transaction(const std::function<void()>& fn) = 0;
  // Runs fn with every query on this thread reading one consistent snapshot
  // (SQLite: a deferred read transaction; PostgreSQL: REPEATABLE READ). fn
  // must not write. Inside a transaction it simply runs fn.
  virtual void snapshot(const std::function<void()>& fn) = 0;
  // Applies the migrations not yet recorded, each in its own transaction.
  virtual void migrate(const std::vector<Migration>& migrations) = 0;
  virtual std::string backend() const = 0;
};

// `s` as a literal inside a LIKE pattern written with ESCAPE '\' (portable:
// SQLite and PostgreSQL both take it).
std::string like_escape(std::string_view s);

// Substring search that works the same on every backend (plain LIKE does
// not: SQLite's ignores ASCII case, PostgreSQL's does not): ASCII letters
// match either case, every other character only itself. `contains_ci(col)`
// is the condition, taking one parameter: `contains_ci_pattern(text)`.
std::string contains_ci(std::string_view column);
std::string contains_ci_pattern(std::string_view text);

// Opens (creating if needed) an SQLite database in WAL mode.
std::unique_ptr<Database> open_sqlite(const std::string& path);
// The backend a URL names: sqlite:///absolute/path or sqlite://relative/path
// (sqlite::memory: for a throwaway one). Throws std::runtime_error naming
// what is supported for any other scheme.
std::unique_ptr<Database> open_database(const std::string& url);

}  // namespace atelier::store
