// Baseline for bench/data_bench.py and bench/transfer_bench.py: the rows that
// adding N labeled, path-referenced samples produces (one sample row, one
// label row each), inserted straight into SQLite with prepared statements,
// a row at a time, in transactions of 1000, with no HTTP, JSON or
// validation. Prints rows/s on one line.
//
//   build/atelier_data_baseline <samples>             the rows of a batch add (short labels)
//   build/atelier_data_baseline <samples> detection   the rows a detection manifest import
//                                                     writes: one bndbox label with its id and
//                                                     time, the image size, usage, annotator
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/crypto.h"
#include "common/ids.h"
#include "data/data.h"
#include "store/db.h"

using namespace atelier;

int main(int argc, char** argv) {
  int64_t n = argc > 1 ? std::atoll(argv[1]) : 1000000;
  bool detection = argc > 2 && std::strcmp(argv[2], "detection") == 0;
  auto dir = std::filesystem::temp_directory_path() / ("atelier-data-baseline-" + crypto::random_hex(4));
  std::filesystem::create_directories(dir);
  {
    auto db = store::open_sqlite((dir / "meta.db").string());
    db->migrate(data::migrations());
    std::string ds = ids::base62_19();  // a dataset id as the server makes them
    db->exec("INSERT INTO datasets (id, project_id, name, type, status, work_path, data_sources, extra, created_at, updated_at, "
             "data_updated_at) VALUES (?, 'p', 'bench', ?, 1, '/b/w/', '[]', '{}', 0, 0, 0)",
             {ds, detection ? 1 : 0});
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < n;) {
      db->transaction([&] {
        for (int64_t end = std::min(n, i + 1000); i < end; ++i) {
          char path[64];
          std::snprintf(path, sizeof path, "/bench/img/%07lld.jpg", static_cast<long long>(i));
          std::string label = "label" + std::to_string(i % 10);
          if (!detection) {
            std::string labels = R"([{"name":")" + label + R"(","type":0}])";
            db->exec("INSERT INTO samples (dataset_id, seq, id, name, path, dir, type, state, size, sample_time, labels, "
                     "metadata, hard, created_at, updated_at) VALUES (?, ?, ?, ?, ?, '/bench/img/', 0, 'MANUAL_ANNOTATION', 0, "
                     "0, ?, '{}', 0, 0, 0)",
                     {ds, i + 1, ids::hex32(), std::string(path + 11), std::string(path), labels});
            db->exec("INSERT INTO sample_labels (dataset_id, label_type, label_name, seq, n) VALUES (?, 0, ?, ?, 1)",
                     {ds, label, i + 1});
            continue;
          }
          int64_t x = i % 400;
          std::string labels = R"([{"annotated_by":"human","create_time":1704164645000,"id":")" + ids::base62_19() +
                               R"(","name":")" + label + R"(","property":{"@modelarts:feature":[[)" + std::to_string(x) +
                               ",20],[" + std::to_string(x + 100) + R"(,200]],"@modelarts:shape":"bndbox"},"type":1}])";
          db->exec("INSERT INTO samples (dataset_id, seq, id, name, path, dir, type, state, size, sample_time, labels, metadata, "
                   "annotated_by, usage, hard, created_at, updated_at) VALUES (?, ?, ?, ?, ?, '/bench/img/', 0, "
                   "'MANUAL_ANNOTATION', 6, 1795764899256, ?, '{\"@modelarts:size\":[640,480,3]}', 'human', 'TRAIN', 0, "
                   "1795764899256, 1795764899256)",
                   {ds, i + 1, ids::hex32(), std::string(path + 11), std::string(path), labels});
          db->exec("INSERT INTO sample_labels (dataset_id, label_type, label_name, seq, n) VALUES (?, 1, ?, ?, 1)", {ds, label, i + 1});
        }
      });
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%.0f\n", double(n) / secs);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
