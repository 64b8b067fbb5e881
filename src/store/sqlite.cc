#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <thread>
#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <utility>

#include "store/db.h"

namespace atelier::store {

int64_t Value::i64() const {
  if (auto p = std::get_if<int64_t>(&v_)) return *p;
  if (auto p = std::get_if<double>(&v_)) return int64_t(*p);
  if (auto p = std::get_if<std::string>(&v_)) return std::strtoll(p->c_str(), nullptr, 10);
  return 0;
}

double Value::f64() const {
  if (auto p = std::get_if<double>(&v_)) return *p;
  if (auto p = std::get_if<int64_t>(&v_)) return double(*p);
  return 0;
}

const std::string& Value::str() const {
  static const std::string empty;
  if (auto p = std::get_if<std::string>(&v_)) return *p;
  if (std::holds_alternative<std::string_view>(v_)) throw std::logic_error("a borrowed text parameter has no string of its own");
  return empty;
}

const Value& Row::operator[](std::string_view col) const {
  for (size_t i = 0; i < cols_->size(); ++i)
    if ((*cols_)[i] == col) return vals_[i];
  throw std::logic_error("no column " + std::string(col));
}

std::optional<Row> Database::query_one(std::string_view sql, const Params& params) {
  Rows rows = query(sql, params);
  if (rows.empty()) return std::nullopt;
  return std::move(rows.front());
}

namespace {

class SqliteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Looks statements up by the SQL text without copying it into a key.
struct SqlHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};

// A prepared statement and its result column names, shared by every Row it
// returns.
struct Stmt {
  sqlite3_stmt* st = nullptr;
  std::shared_ptr<const std::vector<std::string>> cols;
};

struct Conn {
  sqlite3* db = nullptr;
  std::unordered_map<std::string, Stmt, SqlHash, std::equal_to<>> stmts;
  int tx_depth = 0;
  int wal_frames = 0;  // frames in the WAL after this connection's last commit (sqlite3_wal_hook)
  // Held by the owning thread while it uses the connection, and by a
  // checkpointing thread (release_idle_reads) when it closes a read snapshot
  // left open on an idle connection. Uncontended on the request path.
  std::mutex use;
  // A read transaction kept open between autocommit reads (see
  // SqliteDatabase::begin_read): its epoch and when it began.
  bool held = false;
  bool in_snapshot = false;  // inside snapshot(): writes are a programming error
  uint64_t held_epoch = 0;
  std::chrono::steady_clock::time_point held_since;
  ~Conn() {
    for (auto& [k, s] : stmts) sqlite3_finalize(s.st);
    if (db) sqlite3_close_v2(db);
  }
};

std::atomic<uint64_t> g_serial{1};

// How long a connection may keep reading one snapshot. Commits made through
// this Database end every snapshot at once (the write epoch); the age limit
// bounds how late a commit by another process (`atelier admin` on a live
// data dir) is seen, and lets the checkpointer reclaim idle snapshots.
constexpr auto kMaxSnapshotAge = std::chrono::milliseconds(50);

class SqliteDatabase : public Database {
 public:
  explicit SqliteDatabase(std::string path) : path_(std::move(path)), serial_(g_serial++) {
    Conn& c = conn();  // fail early on a bad path
    exec_script(c, "PRAGMA journal_mode=WAL;");
    // Checkpoints run here, off the request path: a commit that crosses the
    // auto-checkpoint threshold would otherwise copy the WAL into the
    // database inside somebody's request. Only a WAL past 64 MB (writes
    // without a pause) has the committing thread finish one (after_commit).
    if (path_ != ":memory:") checkpointer_ = std::thread([this] { checkpoint_loop(); });
  }

  ~SqliteDatabase() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (checkpointer_.joinable()) checkpointer_.join();
  }

  Rows query(std::string_view sql, const Params& params) override {
    Conn& c = conn();
    auto use = claim(c);
    Stmt& s = prepare(c, sql, params);
    sqlite3_stmt* st = s.st;
    Autocommit ac(*this, c, st);
    Rows rows;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      int n = sqlite3_column_count(st);
      if (!s.cols || int(s.cols->size()) != n) {  // a schema change may re-prepare it
        auto cols = std::make_shared<std::vector<std::string>>();
        for (int i = 0; i < n; ++i) cols->push_back(sqlite3_column_name(st, i));
        s.cols = std::move(cols);
      }
      std::vector<Value> vals;
      vals.reserve(n);
      for (int i = 0; i < n; ++i) {
        switch (sqlite3_column_type(st, i)) {
          case SQLITE_INTEGER: vals.emplace_back(int64_t(sqlite3_column_int64(st, i))); break;
          case SQLITE_FLOAT: vals.emplace_back(sqlite3_column_double(st, i)); break;
          case SQLITE_NULL: vals.emplace_back(); break;
          default: {
            auto p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
            vals.emplace_back(std::string(p, size_t(sqlite3_column_bytes(st, i))));
          }
        }
      }
      rows.emplace_back(s.cols, std::move(vals));
    }
    finish(c, st, rc, sql);
    ac.done();
    return rows;
  }

  int64_t exec(std::string_view sql, const Params& params) override {
    Conn& c = conn();
    auto use = claim(c);
    sqlite3_stmt* st = prepare(c, sql, params).st;
    Autocommit ac(*this, c, st);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    finish(c, st, rc, sql);
    ac.done();
    return sqlite3_changes64(c.db);
  }

  void transaction(const std::function<void()>& fn) override {
    Conn& c = conn();
    auto use = claim(c);
    if (c.tx_depth > 0) {
      ++c.tx_depth;
      try {
        fn();
      } catch (...) {
        --c.tx_depth;
        throw;
      }
      --c.tx_depth;
      return;
    }
    end_read(c);
    exec_script(c, "BEGIN IMMEDIATE");
    c.tx_depth = 1;
    try {
      fn();
      exec_script(c, "COMMIT");
      c.tx_depth = 0;
      epoch_.fetch_add(1, std::memory_order_release);
    } catch (...) {
      c.tx_depth = 0;
      sqlite3_exec(c.db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    after_commit(c);
  }

  void snapshot(const std::function<void()>& fn) override {
    Conn& c = conn();
    if (c.tx_depth > 0) return fn();
    std::unique_lock<std::mutex> use(c.use);
    // A fresh held read transaction is exactly one consistent snapshot.
    begin_read(c);
    c.tx_depth = 1;
    c.in_snapshot = true;
    try {
      fn();
    } catch (...) {
      c.tx_depth = 0;
      c.in_snapshot = false;
      end_read(c);
      throw;
    }
    c.tx_depth = 0;
    c.in_snapshot = false;
  }

  void migrate(const std::vector<Migration>& migrations) override {
    Conn& c = conn();
    {
      std::lock_guard<std::mutex> use(c.use);
      end_read(c);
      exec_script(c, "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)");
    }
    for (auto& m : migrations) {
      if (query_one("SELECT 1 FROM schema_migrations WHERE name = ?", {m.name})) continue;
      transaction([&] {
        exec_script(c, m.script_for(backend()));
        exec("INSERT INTO schema_migrations (name, applied_at) VALUES (?, strftime('%s','now'))", {m.name});
      });
    }
  }

  std::string backend() const override { return "sqlite"; }

 private:
  // Autocommit statements (outside transaction()/snapshot()). SQLite gives
  // each its own read transaction, whose WAL read lock is an fcntl() under a
  // mutex shared by all connections: at request rates the two I/O threads
  // queue on it, and a plain indexed read costs several times its own work.
  // So reads reuse one held read transaction per connection while no commit
  // has been made through this Database since it began (the epoch) and it
  // is younger than kMaxSnapshotAge; a write ends it first and bumps the
  // epoch after it commits, so every read that starts after a commit
  // returned sees that commit.
  class Autocommit {
   public:
    Autocommit(SqliteDatabase& d, Conn& c, sqlite3_stmt* st) : d_(d), c_(c) {
      if (c.in_snapshot && !sqlite3_stmt_readonly(st))
        throw std::logic_error("a write inside Database::snapshot(), which is for reads only");
      if (c.tx_depth > 0) return;
      write_ = !sqlite3_stmt_readonly(st);
      if (write_) d.end_read(c);
      else d.begin_read(c);
    }
    void done() { ok_ = true; }
    ~Autocommit() {
      if (c_.tx_depth > 0) return;
      if (write_) {
        d_.epoch_.fetch_add(1, std::memory_order_release);
        d_.after_commit(c_);
      } else if (!ok_) {
        d_.end_read(c_);
      }
    }

   private:
    SqliteDatabase& d_;
    Conn& c_;
    bool write_ = false, ok_ = false;
  };

  // Takes c.use unless the thread is inside transaction()/snapshot(),
  // which hold it already.
  static std::unique_lock<std::mutex> claim(Conn& c) {
    return c.tx_depth > 0 ? std::unique_lock<std::mutex>() : std::unique_lock<std::mutex>(c.use);
  }

  // Caller holds c.use and is outside any transaction of its own.
  void begin_read(Conn& c) {
    auto now = std::chrono::steady_clock::now();
    uint64_t e = epoch_.load(std::memory_order_acquire);
    if (c.held && c.held_epoch == e && now - c.held_since < kMaxSnapshotAge) return;
    end_read(c);
    exec_script(c, "BEGIN");
    c.held = true;
    c.held_epoch = e;
    c.held_since = now;
  }

  void end_read(Conn& c) {
    if (!c.held) return;
    c.held = false;
    sqlite3_exec(c.db, "COMMIT", nullptr, nullptr, nullptr);
  }

  // Back-to-back write transactions (an import applying batch after batch)
  // never leave the checkpoint thread a moment in which the whole WAL is
  // copied, and only then can a writer start the WAL over: it grew for the
  // whole run, ~860 MB per million imported samples, every frame a newly
  // allocated page of a growing file. So the commit that leaves the WAL past
  // kWalRestartFrames (64 MB) copies the rest itself, after ending the idle
  // snapshots that would pin old frames, and the next transaction writes the
  // WAL from its start again. From half that size on, each commit wakes the
  // checkpoint thread at once instead of within 250 ms, so that little is
  // left for the committing thread, which waits for that copy and its fsyncs.
  // Measured with 1M rows: bench/data_baseline 11.4 s CPU (4.5 s of it in the
  // kernel) became 8.3 s; a 1M-line detection manifest import 22.7 s CPU
  // became 17.5-18.5 s, and 79k samples/s became 99-105k.
  static constexpr int kWalRestartFrames = 16384;
  // Caller holds c.use, outside any transaction, and has just committed.
  void after_commit(Conn& c) {
    int frames = std::exchange(c.wal_frames, 0);  // the hook sets it again at the next commit
    if (frames >= kWalRestartFrames) checkpoint_now(c);
    else if (frames >= kWalRestartFrames / 2) nudge_checkpointer();
  }
  void nudge_checkpointer() {
    {
      std::lock_guard<std::mutex> l(mu_);
      nudged_ = true;
    }
    cv_.notify_all();
  }
  void checkpoint_now(Conn& c) {
    {
      std::lock_guard<std::mutex> l(mu_);
      release_idle_reads(&c);
    }
    end_read(c);
    checkpoint(c.db);
  }

  // A PASSIVE checkpoint through `db`. SQLite refuses a checkpoint while
  // another runs (SQLITE_BUSY, without waiting), so this Database's
  // checkpoints wait for each other instead.
  void checkpoint(sqlite3* db) {
    std::lock_guard<std::mutex> one(checkpoint_mu_);
    sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  }

  // Ends the read snapshots of connections that are idle (their thread is
  // not using them) and stale, so they do not hold checkpoints back. `self`
  // is the caller's own connection, whose lock it holds already. Caller holds mu_.
  void release_idle_reads(Conn* self = nullptr) {
    auto now = std::chrono::steady_clock::now();
    uint64_t e = epoch_.load(std::memory_order_acquire);
    for (auto& c : conns_) {
      if (c.get() == self) continue;
      std::unique_lock<std::mutex> use(c->use, std::try_to_lock);
      if (use.owns_lock() && c->held && c->tx_depth == 0 &&
          (c->held_epoch != e || now - c->held_since >= kMaxSnapshotAge))
        end_read(*c);
    }
  }

  void checkpoint_loop() {
    sqlite3* cp = nullptr;
    if (sqlite3_open_v2(path_.c_str(), &cp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
      if (cp) sqlite3_close_v2(cp);
      return;
    }
    sqlite3_busy_timeout(cp, 1000);
    // A connection opens the WAL at its first read; before that a checkpoint
    // through it does nothing at all (and says so only by a log of -1).
    sqlite3_exec(cp, "SELECT 1 FROM sqlite_schema LIMIT 1", nullptr, nullptr, nullptr);
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      cv_.wait_for(l, std::chrono::milliseconds(250), [this] { return stopping_ || nudged_; });
      if (stopping_) break;
      nudged_ = false;
      release_idle_reads();
      l.unlock();
      checkpoint(cp);
      l.lock();
    }
    release_idle_reads();
    l.unlock();
    checkpoint(cp);
    sqlite3_close_v2(cp);
  }

  Conn& conn() {
    thread_local std::unordered_map<uint64_t, Conn*> mine;
    auto it = mine.find(serial_);
    if (it != mine.end()) return *it->second;
    auto c = std::make_unique<Conn>();
    int rc = sqlite3_open_v2(path_.c_str(), &c->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK)
      throw SqliteError("cannot open database " + path_ + ": " +
                        (c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc)));
    sqlite3_busy_timeout(c->db, 10000);
    exec_script(*c, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-32768; PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=67108864;");
    // After the pragmas: wal_autocheckpoint=0 clears the WAL hook.
    sqlite3_wal_hook(
        c->db,
        [](void* conn, sqlite3*, const char*, int frames) {
          static_cast<Conn*>(conn)->wal_frames = frames;
          return SQLITE_OK;
        },
        c.get());
    // journal_size_limit: a WAL that a long import grew is cut back to 64 MB
    // when it next starts over, instead of keeping its size on disk. No
    // mmap: an export or listing of a million samples would map the whole
    // file into the server's resident set; pages are read into each
    // connection's bounded cache instead (the request path measured the same).
    Conn* raw = c.get();
    {
      std::lock_guard<std::mutex> l(mu_);
      conns_.push_back(std::move(c));
    }
    mine[serial_] = raw;
    return *raw;
  }

  void exec_script(Conn& c, const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(c.db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      throw SqliteError("sqlite: " + msg + " in: " + sql.substr(0, 200));
    }
  }

  Stmt& prepare(Conn& c, std::string_view sql, const Params& params) {
    auto it = c.stmts.find(sql);
    if (it == c.stmts.end()) {
      std::string key(sql);
      sqlite3_stmt* fresh;
      if (sqlite3_prepare_v3(c.db, key.data(), int(key.size()), SQLITE_PREPARE_PERSISTENT, &fresh,
                             nullptr) != SQLITE_OK)
        throw SqliteError(std::string("sqlite prepare: ") + sqlite3_errmsg(c.db) + " in: " + key);
      it = c.stmts.emplace(std::move(key), Stmt{fresh, nullptr}).first;
    }
    sqlite3_stmt* st = it->second.st;
    if (int(params.size()) != sqlite3_bind_parameter_count(st))
      throw SqliteError("sqlite: wrong parameter count for: " + std::string(sql));
    for (size_t i = 0; i < params.size(); ++i) {
      int idx = int(i) + 1;
      const auto& raw = params[i].raw();
      if (auto p = std::get_if<int64_t>(&raw)) sqlite3_bind_int64(st, idx, *p);
      else if (auto d = std::get_if<double>(&raw)) sqlite3_bind_double(st, idx, *d);
      else if (auto s = std::get_if<std::string>(&raw))
        // `params` outlives the statement's run (reset in finish), so no copy.
        sqlite3_bind_text(st, idx, s->data(), int(s->size()), SQLITE_STATIC);
      else if (auto v = std::get_if<std::string_view>(&raw))
        sqlite3_bind_text(st, idx, v->data(), int(v->size()), SQLITE_STATIC);
      else sqlite3_bind_null(st, idx);
    }
    return it->second;
  }

  void finish(Conn& c, sqlite3_stmt* st, int rc, std::string_view sql) {
    sqlite3_reset(st);  // every run binds all parameters anew
    if (rc != SQLITE_DONE)
      throw SqliteError(std::string("sqlite: ") + sqlite3_errmsg(c.db) + " in: " + std::string(sql.substr(0, 200)));
  }

  std::string path_;
  uint64_t serial_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool nudged_ = false;        // a commit asks for a checkpoint now (nudge_checkpointer)
  std::mutex checkpoint_mu_;  // held while this Database runs a checkpoint (one at a time)
  std::thread checkpointer_;
  std::vector<std::unique_ptr<Conn>> conns_;  // guarded by mu_
  std::atomic<uint64_t> epoch_{0};            // commits made through this Database
};

}  // namespace

std::unique_ptr<Database> open_sqlite(const std::string& path) {
  // Memory statistics put a global mutex on every SQLite allocation, which
  // the request threads would contend on. Must precede the first use.
  static const int configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return sqlite3_initialize();
  }();
  (void)configured;
  return std::make_unique<SqliteDatabase>(path);
}

std::unique_ptr<Database> open_database(const std::string& url) {
  if (url == "sqlite::memory:") return open_sqlite(":memory:");
  if (url.rfind("sqlite://", 0) == 0 && url.size() > 9) return open_sqlite(url.substr(9));
  throw std::runtime_error("database '" + url + "': only sqlite:///path is supported by this build (PostgreSQL is not yet)");
}

std::string like_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '%' || c == '_' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string contains_ci(std::string_view column) { return "LOWER(" + std::string(column) + ") LIKE ? ESCAPE '\\'"; }

std::string contains_ci_pattern(std::string_view text) {
  std::string lowered(text);
  for (char& c : lowered)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return "%" + like_escape(lowered) + "%";
}

}  // namespace atelier::store
