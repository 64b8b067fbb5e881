// The metadata store (store/db.h). Two kinds of tests:
//  - StoreContract: what every backend keeps and every caller relies on (the
//    contract in db.h), run once per backend of kStoreBackends. A new backend
//    (PostgreSQL) is one more line there.
//  - SqliteStore: what only the embedded SQLite backend has (its file, WAL
//    mode, checkpoints, PRAGMAs).
// The SQL of the contract tests is portable (BIGINT, DOUBLE PRECISION, no
// sqlite_master), so that they run unchanged on any backend.
#include "store/db.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "test_util.h"

using namespace atelier::store;
using atelier::testing::TempDir;

namespace {

// A backend the contract runs on.
struct StoreBackend {
  std::string name;     // the test name's suffix, and what Database::backend() says
  // The URL of database `db` for one test: the same `db` names the same
  // database within the test (a second Database on it stands for another
  // process), another name another, empty database. `scratch` is a folder
  // the test owns and removes afterwards.
  std::function<std::string(const TempDir& scratch, const std::string& db)> url;
};

void PrintTo(const StoreBackend& b, std::ostream* os) { *os << b.name; }

const StoreBackend kStoreBackends[] = {
    {"sqlite", [](const TempDir& scratch, const std::string& db) { return "sqlite://" + scratch.file(db + ".db"); }},
    // {"postgresql", [](const TempDir&, const std::string& db) { return pg_test_database(db); }},
};

class StoreContract : public ::testing::TestWithParam<StoreBackend> {
 protected:
  TempDir dir;
  // Opens database `name` of this test (see StoreBackend::url).
  std::unique_ptr<Database> open(const std::string& name = "meta") { return open_database(GetParam().url(dir, name)); }
  std::unique_ptr<Database> db = open();

  void SetUp() override {
    db->exec("CREATE TABLE t (id TEXT PRIMARY KEY, n BIGINT, f DOUBLE PRECISION, s TEXT, flag INTEGER)");
  }
  int64_t count() { return db->query_one("SELECT COUNT(*) AS c FROM t")->i64("c"); }
  // Whether `table` exists, asked portably: selecting from a missing table throws.
  static bool has_table(Database& d, const std::string& table) {
    try {
      d.query("SELECT COUNT(*) AS c FROM " + table);
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract, ::testing::ValuesIn(kStoreBackends),
                         [](const ::testing::TestParamInfo<StoreBackend>& info) { return info.param.name; });

}  // namespace

// ------------------------------------------------------------ opening by URL

TEST_P(StoreContract, OpensByUrlAndNamesItsBackend) {
  EXPECT_EQ(db->backend(), GetParam().name);
  // Reopened, the database keeps what was committed.
  db->exec("INSERT INTO t (id) VALUES ('kept')");
  db.reset();
  db = open();
  EXPECT_EQ(count(), 1);
}

TEST(StoreUrl, UnknownSchemeThrowsNamingWhatIsSupported) {
  try {
    open_database("nosuchdb://host/db");
    ADD_FAILURE() << "accepted an unknown scheme";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("sqlite://"), std::string::npos) << e.what();
  }
  EXPECT_ANY_THROW(open_database("sqlite://"));  // no path
}

// ------------------------------------------------------------ statements and rows

TEST_P(StoreContract, ExecReturnsChangedRows) {
  EXPECT_EQ(db->exec("INSERT INTO t (id, n) VALUES (?, ?)", {"a", 1}), 1);
  EXPECT_EQ(db->exec("INSERT INTO t (id, n) VALUES (?, ?)", {"b", 2}), 1);
  EXPECT_EQ(db->exec("INSERT INTO t (id, n) VALUES (?, ?)", {"c", 3}), 1);
  EXPECT_EQ(db->exec("UPDATE t SET n = n + 10 WHERE n >= ?", {2}), 2);
  EXPECT_EQ(db->exec("DELETE FROM t WHERE id = ?", {"zzz"}), 0);
  EXPECT_EQ(db->exec("DELETE FROM t"), 3);
}

TEST_P(StoreContract, TypedRowAccess) {
  db->exec("INSERT INTO t (id, n, f, s, flag) VALUES (?, ?, ?, ?, ?)",
           {"row1", int64_t(9007199254740993LL), 2.5, std::string("hello\0world", 11), true});
  db->exec("INSERT INTO t (id, n, f, s, flag) VALUES (?, ?, ?, ?, ?)", {"row2", nullptr, nullptr, "42", false});
  Rows rows = db->query("SELECT id, n, f, s, flag FROM t ORDER BY id");
  ASSERT_EQ(rows.size(), 2u);
  const Row& a = rows[0];
  EXPECT_EQ(a.str("id"), "row1");
  EXPECT_EQ(a.i64("n"), 9007199254740993LL);  // 64-bit exact, not via double
  EXPECT_DOUBLE_EQ(a["f"].f64(), 2.5);
  EXPECT_EQ(a.str("s"), std::string("hello\0world", 11));  // binary-safe text
  EXPECT_TRUE(a.flag("flag"));
  EXPECT_FALSE(a.null("n"));
  EXPECT_EQ(a[0].str(), "row1");  // by index
  EXPECT_EQ(a[1].i64(), 9007199254740993LL);

  const Row& b = rows[1];
  EXPECT_TRUE(b.null("n"));
  EXPECT_TRUE(b.null("f"));
  EXPECT_EQ(b.i64("n"), 0);
  EXPECT_EQ(b["f"].f64(), 0.0);
  EXPECT_EQ(b.str("n"), "");
  EXPECT_EQ(b.i64("s"), 42);  // numeric text converts
  EXPECT_FALSE(b.flag("flag"));

  EXPECT_THROW(a["nope"], std::logic_error);
  EXPECT_THROW(a[99], std::out_of_range);
}

TEST_P(StoreContract, ColumnAliasesAndQueryOne) {
  db->exec("INSERT INTO t (id, n) VALUES ('x', 5)");
  auto r = db->query_one("SELECT n * 2 AS doubled, id AS ident FROM t WHERE id = ?", {"x"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->i64("doubled"), 10);
  EXPECT_EQ(r->str("ident"), "x");
  EXPECT_FALSE(db->query_one("SELECT * FROM t WHERE id = ?", {"missing"}).has_value());
  EXPECT_TRUE(db->query("SELECT * FROM t WHERE id = ?", {"missing"}).empty());
}

TEST_P(StoreContract, ParametersAreBoundNotInterpolated) {
  std::string evil = "x'); DROP TABLE t; --";
  db->exec("INSERT INTO t (id) VALUES (?)", {evil});
  auto r = db->query_one("SELECT id FROM t WHERE id = ?", {evil});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->str("id"), evil);
  EXPECT_EQ(count(), 1);
}

TEST_P(StoreContract, ErrorsThrowAndStatementsStayUsable) {
  EXPECT_ANY_THROW(db->exec("INSERT INTO nope VALUES (1)"));
  EXPECT_ANY_THROW(db->exec("INSERT INTO t (id) VALUES (?)", {"a", "b"}));  // wrong parameter count
  EXPECT_ANY_THROW(db->exec("INSERT INTO t (id) VALUES (?)"));
  db->exec("INSERT INTO t (id) VALUES (?)", {"dup"});
  EXPECT_ANY_THROW(db->exec("INSERT INTO t (id) VALUES (?)", {"dup"}));  // constraint
  // The cached statement is reset after the failure and works again.
  EXPECT_EQ(db->exec("INSERT INTO t (id) VALUES (?)", {"other"}), 1);
  EXPECT_EQ(count(), 2);
}

TEST_P(StoreContract, TransactionCommits) {
  db->transaction([&] {
    db->exec("INSERT INTO t (id) VALUES ('a')");
    db->exec("INSERT INTO t (id) VALUES ('b')");
  });
  EXPECT_EQ(count(), 2);
  // Visible from a fresh connection on another thread.
  int64_t seen = -1;
  std::thread th([&] { seen = count(); });
  th.join();
  EXPECT_EQ(seen, 2);
}

TEST_P(StoreContract, TransactionRollsBackOnException) {
  db->exec("INSERT INTO t (id) VALUES ('keep')");
  EXPECT_THROW(db->transaction([&] {
                 db->exec("INSERT INTO t (id) VALUES ('a')");
                 db->exec("UPDATE t SET n = 7 WHERE id = 'keep'");
                 throw std::runtime_error("abort");
               }),
               std::runtime_error);
  EXPECT_EQ(count(), 1);
  EXPECT_TRUE(db->query_one("SELECT n FROM t WHERE id = 'keep'")->null("n"));
  // A failing statement inside also rolls back and rethrows the original error.
  EXPECT_ANY_THROW(db->transaction([&] {
    db->exec("INSERT INTO t (id) VALUES ('b')");
    db->exec("INSERT INTO t (id) VALUES ('keep')");  // duplicate key
  }));
  EXPECT_EQ(count(), 1);
  // The connection is usable for a new transaction afterwards.
  db->transaction([&] { db->exec("INSERT INTO t (id) VALUES ('c')"); });
  EXPECT_EQ(count(), 2);
}

TEST_P(StoreContract, NestedTransactionsJoinTheOuter) {
  db->transaction([&] {
    db->exec("INSERT INTO t (id) VALUES ('outer')");
    db->transaction([&] { db->exec("INSERT INTO t (id) VALUES ('inner')"); });
    // The inner "commit" did not end the outer transaction: still rollback-able.
  });
  EXPECT_EQ(count(), 2);

  EXPECT_THROW(db->transaction([&] {
                 db->exec("INSERT INTO t (id) VALUES ('o2')");
                 db->transaction([&] { db->exec("INSERT INTO t (id) VALUES ('i2')"); });
                 throw std::runtime_error("outer fails after inner finished");
               }),
               std::runtime_error);
  EXPECT_EQ(count(), 2);  // the joined inner work is rolled back too

  EXPECT_THROW(db->transaction([&] {
                 db->exec("INSERT INTO t (id) VALUES ('o3')");
                 db->transaction([&] { throw std::runtime_error("inner fails"); });
               }),
               std::runtime_error);
  EXPECT_EQ(count(), 2);
  db->transaction([&] { db->exec("INSERT INTO t (id) VALUES ('after')"); });
  EXPECT_EQ(count(), 3);
}

TEST_P(StoreContract, UncommittedWritesInvisibleToOtherThreads) {
  int64_t other = -1;
  db->transaction([&] {
    db->exec("INSERT INTO t (id) VALUES ('pending')");
    EXPECT_EQ(count(), 1);  // own connection sees it
    std::thread th([&] { other = count(); });
    th.join();
  });
  EXPECT_EQ(other, 0);
  EXPECT_EQ(count(), 1);
}

TEST_P(StoreContract, MigrationsApplyOnceInOrder) {
  auto db = open("m");
  std::vector<Migration> ms = {
      {"test/001", "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);"},
      {"test/002", "INSERT INTO a VALUES (2); CREATE TABLE b (y TEXT);"},
  };
  db->migrate(ms);
  EXPECT_EQ(db->query_one("SELECT COUNT(*) AS c FROM a")->i64("c"), 2);
  // Second run: nothing re-applied (a re-run would fail on CREATE TABLE or double the rows).
  EXPECT_NO_THROW(db->migrate(ms));
  EXPECT_EQ(db->query_one("SELECT COUNT(*) AS c FROM a")->i64("c"), 2);
  Rows applied = db->query("SELECT name FROM schema_migrations ORDER BY name");
  ASSERT_EQ(applied.size(), 2u);
  EXPECT_EQ(applied[0].str("name"), "test/001");
  // A new migration appended later is applied alone.
  ms.push_back({"test/003", "INSERT INTO a VALUES (3);"});
  db->migrate(ms);
  EXPECT_EQ(db->query_one("SELECT COUNT(*) AS c FROM a")->i64("c"), 3);
  // State survives reopening the database.
  db.reset();
  auto db2 = open("m");
  db2->migrate(ms);
  EXPECT_EQ(db2->query_one("SELECT COUNT(*) AS c FROM a")->i64("c"), 3);
}

TEST_P(StoreContract, FailedMigrationIsRolledBackAndNotRecorded) {
  auto db = open("m");
  std::vector<Migration> bad = {{"ok/001", "CREATE TABLE a (x INTEGER);"},
                                {"bad/002", "CREATE TABLE c (z INTEGER); INSERT INTO nope VALUES (1);"}};
  EXPECT_ANY_THROW(db->migrate(bad));
  EXPECT_TRUE(db->query_one("SELECT 1 FROM schema_migrations WHERE name = 'ok/001'").has_value());
  EXPECT_FALSE(db->query_one("SELECT 1 FROM schema_migrations WHERE name = 'bad/002'").has_value());
  // Table c was created inside the failed migration's transaction: gone.
  EXPECT_FALSE(has_table(*db, "c"));
  EXPECT_TRUE(has_table(*db, "a"));
  // Fixed, it applies.
  bad[1].sql = "CREATE TABLE c (z INTEGER);";
  db->migrate(bad);
  EXPECT_TRUE(has_table(*db, "c"));
}

// A migration's script for this backend replaces the portable one; other
// backends' scripts are not run.
TEST_P(StoreContract, MigrationRunsTheBackendsOwnScript) {
  auto db = open("m");
  Migration m{"test/dialect", "CREATE TABLE portable (x INTEGER);"};
  m.dialects[GetParam().name] = "CREATE TABLE own (x INTEGER);";
  m.dialects["no-such-backend"] = "CREATE TABLE other (x INTEGER);";
  db->migrate({m});
  EXPECT_TRUE(has_table(*db, "own"));
  EXPECT_FALSE(has_table(*db, "portable"));
  EXPECT_FALSE(has_table(*db, "other"));
}

TEST_P(StoreContract, ConcurrentReadsFromSeveralThreads) {
  db->transaction([&] {
    for (int i = 0; i < 200; ++i) db->exec("INSERT INTO t (id, n) VALUES (?, ?)", {"k" + std::to_string(i), i});
  });
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> ths;
  for (int t = 0; t < 6; ++t) {
    ths.emplace_back([&, t] {
      try {
        for (int i = 0; i < 50; ++i) {
          auto r = db->query_one("SELECT SUM(n) AS s, COUNT(*) AS c FROM t");
          auto one = db->query_one("SELECT n FROM t WHERE id = ?", {"k" + std::to_string((i * 7 + t) % 200)});
          if (r && r->i64("s") == 19900 && r->i64("c") == 200 && one && one->i64("n") == (i * 7 + t) % 200)
            ++ok;
          else
            ++bad;
        }
      } catch (...) {
        ++bad;
      }
    });
  }
  for (auto& th : ths) th.join();
  EXPECT_EQ(ok.load(), 300);
  EXPECT_EQ(bad.load(), 0);
}

// Writers are serialized: a read-modify-write inside a transaction loses no
// update, whether the writers share one Database (threads) or use two (two
// processes on one database). And a body runs exactly once: the store never
// retries it (a retry would run its side effects twice).
TEST_P(StoreContract, ConcurrentTransactionalWritersDoNotLoseUpdates) {
  db->exec("INSERT INTO t (id, n) VALUES ('counter', 0)");
  auto other = open();  // the same database, as another process opens it
  std::atomic<int> errors{0}, bodies{0};
  std::vector<std::thread> ths;
  for (int t = 0; t < 4; ++t) {
    Database& d = t % 2 ? *other : *db;
    ths.emplace_back([&] {
      try {
        for (int i = 0; i < 25; ++i) {
          d.transaction([&] {
            ++bodies;
            int64_t n = d.query_one("SELECT n FROM t WHERE id = 'counter'")->i64("n");
            d.exec("UPDATE t SET n = ? WHERE id = 'counter'", {n + 1});
          });
        }
      } catch (...) {
        ++errors;
      }
    });
  }
  for (auto& th : ths) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(bodies.load(), 100);
  EXPECT_EQ(db->query_one("SELECT n FROM t WHERE id = 'counter'")->i64("n"), 100);
}

TEST(StoreValue, Conversions) {
  EXPECT_TRUE(Value().is_null());
  EXPECT_TRUE(Value(nullptr).is_null());
  EXPECT_EQ(Value(5).i64(), 5);
  EXPECT_EQ(Value(int64_t(1) << 40).i64(), int64_t(1) << 40);
  EXPECT_EQ(Value(7LL).i64(), 7);
  EXPECT_EQ(Value(true).i64(), 1);
  EXPECT_EQ(Value(false).i64(), 0);
  EXPECT_DOUBLE_EQ(Value(1.25).f64(), 1.25);
  EXPECT_EQ(Value(1.75).i64(), 1);
  EXPECT_DOUBLE_EQ(Value(3).f64(), 3.0);
  EXPECT_EQ(Value("abc").str(), "abc");  // const char* must not decay to bool
  EXPECT_FALSE(Value("abc").is_null());
  EXPECT_EQ(Value(std::string_view("sv")).str(), "sv");
  EXPECT_EQ(Value(std::string("s")).str(), "s");
  EXPECT_EQ(Value(5).str(), "");
  EXPECT_EQ(Value().i64(), 0);
}

TEST(StoreValue, FromOptional) {
  std::optional<std::string> none, some = "x";
  std::optional<int64_t> ni, si = 12;
  EXPECT_TRUE(Value(none).is_null());
  EXPECT_FALSE(Value(some).is_null());
  EXPECT_EQ(Value(some).str(), "x");
  EXPECT_TRUE(Value(ni).is_null());
  EXPECT_EQ(Value(si).i64(), 12);
  std::optional<bool> b = false;
  EXPECT_FALSE(Value(b).is_null());
  EXPECT_EQ(Value(b).i64(), 0);
}

TEST_P(StoreContract, OptionalBindsAsNull) {
  std::optional<std::string> none;
  std::optional<int64_t> some = 3;
  db->exec("INSERT INTO t (id, s, n) VALUES (?, ?, ?)", {"o", none, some});
  auto r = db->query_one("SELECT s, n FROM t WHERE id = 'o'");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->null("s"));
  EXPECT_EQ(r->i64("n"), 3);
  // The NULL is a real NULL, not an empty text.
  EXPECT_EQ(db->query_one("SELECT COUNT(*) AS c FROM t WHERE s IS NULL AND id = ?", {"o"})->i64("c"), 1);
  EXPECT_EQ(db->query_one("SELECT COUNT(*) AS c FROM t WHERE s = ''")->i64("c"), 0);
}

TEST_P(StoreContract, TwoDatabasesOnOneThreadStayApart) {
  auto a = open("a");
  auto b = open("b");
  a->exec("CREATE TABLE only_a (x INTEGER)");
  EXPECT_TRUE(has_table(*a, "only_a"));
  EXPECT_FALSE(has_table(*b, "only_a"));
}

// A read that starts after a commit returned on any thread of this process
// sees that commit (SQLite reuses a held read snapshot between commits:
// sqlite.cc, Autocommit).
TEST_P(StoreContract, ReadAfterCommitOnAnotherThreadSeesIt) {
  std::atomic<int> written{0}, checked{0};
  std::atomic<bool> failed{false};
  std::thread reader([&] {
    for (int i = 1; i <= 200; ++i) {
      count();  // hold a snapshot taken before the next write
      while (written.load() < i) std::this_thread::yield();
      if (count() != i) failed = true;  // the write returned before this read began
      checked = i;
    }
  });
  for (int i = 1; i <= 200; ++i) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    db->exec("INSERT INTO t (id) VALUES (?)", {std::to_string(i)});
    written = i;
    while (checked.load() < i) std::this_thread::yield();  // no later write may race the check
  }
  reader.join();
  EXPECT_FALSE(failed.load());
}

// Another Database on the same file stands for another process (the admin
// CLI on a live data dir): its commits are seen once the held snapshot ages out.
TEST_P(StoreContract, CommitsOfAnotherConnectionAreSeenSoon) {
  EXPECT_EQ(count(), 0);
  auto other = open();
  other->exec("INSERT INTO t (id) VALUES ('x')");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (count() == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(count(), 1);
}

// snapshot() reads one consistent state even while another thread commits.
TEST_P(StoreContract, SnapshotIsConsistentUnderConcurrentCommits) {
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i)
      db->transaction([&] {
        db->exec("INSERT INTO t (id, n) VALUES (?, 1)", {"a" + std::to_string(i)});
        db->exec("INSERT INTO t (id, n) VALUES (?, 1)", {"b" + std::to_string(i)});
      });
  });
  for (int k = 0; k < 200; ++k) {
    int64_t c1 = 0, c2 = 0;
    db->snapshot([&] {
      c1 = count();
      std::this_thread::yield();
      c2 = count();
    });
    EXPECT_EQ(c1, c2);
    EXPECT_EQ(c1 % 2, 0);
  }
  stop = true;
  writer.join();
}

// snapshot() is for reads: a write there would hold the write lock (and stay
// invisible) for as long as the snapshot lives, so it is refused.
TEST_P(StoreContract, WriteInsideSnapshotIsRefused) {
  EXPECT_THROW(db->snapshot([&] { db->exec("INSERT INTO t (id) VALUES ('x')"); }), std::logic_error);
  EXPECT_THROW(db->snapshot([&] { db->transaction([&] { db->exec("INSERT INTO t (id) VALUES ('y')"); }); }),
               std::logic_error);
  EXPECT_EQ(count(), 0);
  db->exec("INSERT INTO t (id) VALUES ('z')");  // the connection is fine afterwards
  EXPECT_EQ(count(), 1);
}

// ------------------------------------------------------------ SQLite only
// Its file, WAL mode, PRAGMAs and checkpoints: nothing another backend has.

TEST(SqliteStore, OpenCreatesFileInWalMode) {
  TempDir dir;
  auto db = open_database("sqlite://" + dir.file("x.db"));
  EXPECT_EQ(db->backend(), "sqlite");
  EXPECT_TRUE(std::filesystem::exists(dir.file("x.db")));
  auto r = db->query_one("PRAGMA journal_mode");
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].str(), "wal");
  auto fk = db->query_one("PRAGMA foreign_keys");
  ASSERT_TRUE(fk);
  EXPECT_EQ((*fk)[0].i64(), 1);
}

TEST(SqliteStore, OpenBadPathThrows) {
  EXPECT_ANY_THROW(open_sqlite("/nonexistent-dir-atelier/sub/x.db"));
  EXPECT_ANY_THROW(open_database("sqlite:///nonexistent-dir-atelier/sub/x.db"));
}

TEST(SqliteStore, InMemoryDatabase) {
  auto db = open_database("sqlite::memory:");
  EXPECT_EQ(db->backend(), "sqlite");
  db->exec("CREATE TABLE m (x INTEGER)");
  EXPECT_EQ(db->exec("INSERT INTO m VALUES (1)"), 1);
  EXPECT_EQ(db->query_one("SELECT COUNT(*) AS c FROM m")->i64("c"), 1);
}

// A thread that read and then went idle must not keep its snapshot open:
// it would stop checkpoints from ever catching up with the WAL.
TEST(SqliteStore, IdleReadersDoNotHoldCheckpointsBack) {
  TempDir dir;
  auto db = open_sqlite(dir.file("meta.db"));
  db->exec("CREATE TABLE t (id TEXT PRIMARY KEY, s TEXT)");
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  std::thread idle([&] {
    db->query_one("SELECT COUNT(*) AS c FROM t");  // opens a snapshot, then this thread sleeps without reading again
    std::unique_lock<std::mutex> l(m);
    cv.wait(l, [&] { return done; });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  db->transaction([&] {
    for (int i = 0; i < 500; ++i) db->exec("INSERT INTO t (id, s) VALUES (?, ?)", {std::to_string(i), std::string(200, 'x')});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // > checkpoint period + snapshot age
  auto r = db->query_one("PRAGMA wal_checkpoint(TRUNCATE)");
  {
    std::lock_guard<std::mutex> l(m);
    done = true;
  }
  cv.notify_all();
  idle.join();
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].i64(), 0) << "checkpoint was blocked by a reader";
}

// The server's checkpointer moves committed pages into the database file
// while the Database stays open, so the WAL starts over instead of growing
// for the server's whole life; one that a burst of writes made large is cut
// back (journal_size_limit, 64 MB) when it starts over.
TEST(SqliteStore, CheckpointsWhileOpenAndKeepsTheWalBounded) {
  TempDir dir;
  auto db = open_sqlite(dir.file("c.db"));
  db->exec("CREATE TABLE blobs (n INTEGER PRIMARY KEY, b TEXT NOT NULL)");
  const std::string blob(64 * 1024, 'x');
  auto size = [&](const std::string& name) { return std::filesystem::file_size(dir.file(name)); };
  // Back-to-back transactions, as an import applies its batches: ~150 MB
  // in all, never a pause in which the checkpoint thread could catch up. The
  // WAL still starts over once past 64 MB instead of growing to the total.
  int64_t n = 0;
  uintmax_t wal_peak = 0;
  for (int tx = 0; tx < 24; ++tx) {
    db->transaction([&] {
      for (int i = 0; i < 100; ++i) db->exec("INSERT INTO blobs (n, b) VALUES (?, ?)", {++n, blob});
    });
    wal_peak = std::max(wal_peak, size("c.db-wal"));
  }
  EXPECT_GT(wal_peak, uintmax_t(60) << 20);
  EXPECT_LE(wal_peak, uintmax_t(80) << 20) << "the WAL grew with the writes instead of starting over";
  // Within a few checkpoint rounds all the pages are in the database file.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (size("c.db") < uintmax_t(150) << 20 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GE(size("c.db"), uintmax_t(150) << 20) << "the writes did not reach the database file";
  EXPECT_LE(size("c.db-wal"), uintmax_t(80) << 20);
  EXPECT_EQ(db->query_one("SELECT COUNT(*) AS c FROM blobs")->i64("c"), n);
}
