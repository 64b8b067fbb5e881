// Inserts N rows keyed by time-ordered ids (ids::hex32) and by random ids of
// the same shape into fresh SQLite databases through store::Database, in
// batches of 1000 per transaction, and prints rows/s and the ratio. Random
// keys scatter writes over the whole primary-key index once it outgrows the
// page cache; time-ordered keys append at its right edge.
//
//   build/atelier_id_bench [rows]     (default 1000000; the test suite runs 20000)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "common/crypto.h"
#include "common/ids.h"
#include "store/db.h"

using namespace atelier;

static double run(const std::string& path, int64_t rows, const std::function<std::string()>& next_id) {
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  auto db = store::open_sqlite(path);
  db->exec("CREATE TABLE t (id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL, created_at INTEGER NOT NULL)");
  // Ids are made up front so only the inserts are timed.
  std::vector<std::string> keys;
  keys.reserve(size_t(rows));
  for (int64_t i = 0; i < rows; ++i) keys.push_back(next_id());
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < rows;) {
    db->transaction([&] {
      for (int64_t end = std::min(rows, i + 1000); i < end; ++i)
        db->exec("INSERT INTO t (id, project_id, name, created_at) VALUES (?, ?, ?, ?)",
                 {keys[size_t(i)], "0123456789abcdef0123456789abcdef", "sample-" + std::to_string(i), i});
    });
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  db.reset();
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  return double(rows) / secs;
}

int main(int argc, char** argv) {
  int64_t rows = argc > 1 ? std::atoll(argv[1]) : 1000000;
  std::string dir = (std::filesystem::temp_directory_path() / ("atelier-id-bench-" + crypto::random_hex(4))).string();
  std::filesystem::create_directories(dir);
  double random = run(dir + "/random.db", rows, [] { return crypto::random_hex(16); });
  double ordered = run(dir + "/ordered.db", rows, [] { return ids::hex32(); });
  std::filesystem::remove_all(dir);
  std::printf("id_insert_bench: %lld rows, batches of 1000, SQLite WAL\n", static_cast<long long>(rows));
  std::printf("random ids        %10.0f rows/s\n", random);
  std::printf("time-ordered ids  %10.0f rows/s   %.2fx random\n", ordered, ordered / random);
  return 0;
}
