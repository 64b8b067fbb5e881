// What the import and export tasks of src/data share: the import options,
// items and progress (the Importer that applies batches is in importer.h),
// and the tasks' entry points (import_manifest.cc, import_folders.cc,
// export.cc; their routes are in transfer.cc). Internal to src/data.
//
// Crash safety: the task reads its source in batches; each batch's samples,
// labels, counters, failure reasons and the task's progress (with the resume
// position) commit in one transaction. After a kill the task resumes at the
// last committed position, so no batch is half applied or applied twice.
// Re-importing a path that is already a sample updates its annotations
// instead of adding a second sample.
#pragma once

#include <cerrno>
#include <ctime>
#include <atomic>
#include <chrono>
#include <deque>
#include <fstream>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/ids.h"
#include "data/annotation_checks.h"
#include "data/dataset_rows.h"
#include "data/fields.h"
#include "data/image_size.h"
#include "data/label_defs.h"
#include "data/manifest.h"
#include "data/sample_writer.h"
#include "data/types.h"

#include "data/transfer.h"

namespace atelier::data {

using http::Access;
using http::Context;
using http::json_response;
using http::Route;
using store::Database;
using store::Row;

constexpr size_t kBatch = 2000;
// Manifest lines a transaction applies. Each commit writes the last,
// partly filled pages of the six b-trees a sample row touches into the WAL
// again, so fewer, larger commits write less: a 1M-line detection import
// wrote 1,500 MB with 2000 lines a commit, 1,420 MB with 4000 (peak RSS
// 88 MB -> 107-112 MB, three batches being in memory at once).
constexpr size_t kManifestBatch = 4000;
constexpr int64_t kMaxStoredFailures = 1000;
inline constexpr const char* kKind = "dataset-import";

// Called first on an import's reader threads. They are named (top -H,
// perf) and run at a lower priority than the thread applying their
// batches, which holds the database's write lock: with both cores busy that
// thread is served first, so other writers wait less for the lock and the
// import, whose pace it sets, keeps more of the machine busy (300k manifest
// lines, four runs each: 1.81-1.84 cores instead of 1.73-1.78). Linux keeps
// a nice value per thread; the thread ends with its batch.
inline void begin_reader_thread() {
  pthread_setname_np(pthread_self(), "import-reader");
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, ::gettid());
  if (errno == 0) setpriority(PRIO_PROCESS, ::gettid(), std::min(19, nice + 5));
}

// How many threads read each batch of a manifest import: one a core (at
// most four) while the cores are busy, more while they sit idle -- the
// readers then wait for the disk, the files not being in the page cache --
// up to 16. Judged every 200 ms from the machine's idle time (/proc/stat):
// doubled while more than a fifth of it is idle, halved when under a tenth
// unless half as many readers left the cores idle within the last 10 s (a
// count that keeps the cores busy only because the disk is slow would
// otherwise swing between the two). 1M-line detection import, files dropped
// from the page cache: 32-34k samples/s with 2 readers always, 42k with
// this count, 46-49k with 8 or 16 always; from cached files more readers
// only cost (105k with 2, 97k with 8, 82k with 16), and this count stays
// at 2 there.
class ReaderCount {
 public:
  explicit ReaderCount(size_t base) : base_(base), now_(base) { sample(last_); }

  size_t next() {
    auto at = std::chrono::steady_clock::now();
    if (at - last_at_ < std::chrono::milliseconds(200)) return now_;
    CpuTimes t;
    if (!sample(t) || t.total <= last_.total) return now_;
    double idle = double(t.idle - last_.idle) / double(t.total - last_.total);
    last_ = t;
    last_at_ = at;
    if (windows_++ == 0) return now_;  // the first window is the pipeline filling up
    size_t was = now_;
    seen_[now_] = {idle, at};
    if (idle > 0.2) {
      now_ = std::min(now_ * 2, kMax);
    } else if (idle < 0.1 && now_ > base_) {
      auto half = seen_.find(now_ / 2);
      bool half_left_idle = half != seen_.end() && at - half->second.second < std::chrono::seconds(10) &&
                            half->second.first > 0.2;
      if (!half_left_idle) now_ = std::max(now_ / 2, base_);
    }
    if (now_ != was) spdlog::debug("manifest import: {} readers a batch (the CPU {:.0f}% idle)", now_, idle * 100);
    return now_;
  }

 private:
  static constexpr size_t kMax = 16;
  struct CpuTimes {
    uint64_t idle = 0, total = 0;
  };
  static bool sample(CpuTimes& t) {
    std::ifstream in("/proc/stat");
    std::string cpu;
    if (!(in >> cpu) || cpu != "cpu") return false;
    uint64_t v[8] = {};
    for (auto& x : v)
      if (!(in >> x)) return false;
    t.idle = v[3] + v[4];  // idle, iowait
    t.total = 0;
    for (auto x : v) t.total += x;
    return true;
  }

  const size_t base_;
  size_t now_;
  CpuTimes last_;
  std::chrono::steady_clock::time_point last_at_ = std::chrono::steady_clock::now();
  int windows_ = 0;
  std::map<size_t, std::pair<double, std::chrono::steady_clock::time_point>> seen_;  // readers -> (idle, when)
};

// What the import applies to each source item (validated at creation).
struct ImportOptions {
  bool manifest = false;
  obs::ObsPath path;
  bool import_annotations = true, import_samples = true, final_annotation = true, difficult_only = false;
  std::set<std::string> included, excluded;
  // Text classification folders: -1 one sample per file, 0 separate
  // label files, 1 text and labels combined on each line.
  int text_mode = -1;
  char sample_sep = '\t', label_sep = ',';
  // Table folders (CSV files): every CSV record must have the schema's column
  // count (0: the dataset has no schema); the first line may be a header.
  size_t table_columns = 0;
  bool with_column_header = false;
  std::string import_folder;  // copy the sources into this folder of the dataset's storage first
  bool coco = false;          // a folder of COCO instance files and their images (detection)
  bool yolo = false;          // a darknet YOLO folder (detection)

  static ImportOptions from(const json& p) {
    ImportOptions o;
    o.manifest = p.value("import_type", "dir") == "manifest";
    o.path = obs::parse_path(p.value("import_path", ""));
    o.import_annotations = p.value("import_annotations", true);
    o.import_samples = p.value("import_samples", true);
    o.final_annotation = p.value("final_annotation", true);
    o.difficult_only = p.value("difficult_only", false);
    o.with_column_header = p.value("with_column_header", false);
    o.import_folder = p.value("import_folder", "");
    o.coco = p.value("annotation_format", "") == "COCO";
    o.yolo = p.value("annotation_format", "") == "YOLO";
    for (auto& n : p.value("included_labels", json::array())) o.included.insert(n.get<std::string>());
    for (auto& n : p.value("excluded_labels", json::array())) o.excluded.insert(n.get<std::string>());
    if (p.contains("label_format")) {
      const json& f = p["label_format"];
      o.text_mode = f.value("label_type", 1);
      o.sample_sep = f.value("text_sample_separator", std::string("\t"))[0];
      o.label_sep = f.value("text_label_separator", std::string(","))[0];
    }
    return o;
  }
};

// One item read from the source, before it is applied.
struct Item {
  std::string origin;  // manifest line number or object key, for failure reasons
  std::string error;   // set when the item could not be read: it only counts as failed
  ManifestSample m;
  std::optional<PlainLine> plain;  // the line read by read_plain_line (m is then unused)
  int64_t size = 0, mtime = 0;
  // Set by Importer::prepare: the row to write, or skip when the task's
  // label filters leave the item out (neither imported nor failed).
  bool prepared = false, skip = false;
  bool inline_text = false;  // the row's path is where apply keeps m.text
  std::string relative;       // import_folder: where under it the copy goes
  SampleWriter::NewSample row;
};

// A folder key as a JSON string: as it is when it is UTF-8, else its bytes
// in hex under "<name>_hex" (file names need not be UTF-8; JSON must).
inline void put_key(json& j, const std::string& name, const std::string& key) {
  if (valid_utf8(key)) j[name] = key;
  else j[name + "_hex"] = crypto::hex(key);
}

inline std::string get_key(const json& j, const std::string& name) {
  auto hexed = j.find(name + "_hex");
  if (hexed == j.end() || !hexed->is_string()) return j.value(name, std::string());
  const std::string& h = hexed->get_ref<const std::string&>();
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(char(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

// A resume position: `fields` plus the key `name` (see put_key).
inline json cursor_with_key(json fields, const std::string& name, const std::string& key) {
  put_key(fields, name, key);
  return fields;
}

// Counters kept in the task's progress, with the resume position.
struct Progress {
  int64_t total = -1, processed = 0, imported = 0, updated = 0, annotated = 0, unconfirmed = 0, failed = 0;
  int64_t bytes_done = 0, bytes_total = 0;
  uint64_t offset = 0;  // manifest: byte offset of the next line
  std::string marker;   // folder: last key handled

  static Progress from(const json& p) {
    Progress g;
    if (!p.is_object()) return g;
    g.total = p.value("total", int64_t(-1));
    g.processed = p.value("processed", int64_t(0));
    g.imported = p.value("imported", int64_t(0));
    g.updated = p.value("updated", int64_t(0));
    g.annotated = p.value("annotated", int64_t(0));
    g.unconfirmed = p.value("unconfirmed", int64_t(0));
    g.failed = p.value("failed", int64_t(0));
    g.bytes_done = p.value("bytes_done", int64_t(0));
    g.bytes_total = p.value("bytes_total", int64_t(0));
    g.offset = p.value("offset", uint64_t(0));
    g.marker = get_key(p, "marker");
    return g;
  }
  json to_json() const {
    json j = {{"total", total},         {"processed", processed}, {"imported", imported},     {"updated", updated},
              {"annotated", annotated}, {"unconfirmed", unconfirmed}, {"failed", failed},     {"bytes_done", bytes_done},
              {"bytes_total", bytes_total}, {"offset", offset}};
    put_key(j, "marker", marker);
    return j;
  }
};

inline std::string basename(const std::string& key) { return key.substr(key.rfind('/') + 1); }
inline std::string stem(const std::string& key) {
  std::string b = basename(key);
  size_t dot = b.rfind('.');
  return dot == std::string::npos ? b : b.substr(0, dot);
}
inline std::string lower_ext(const std::string& key) {
  std::string b = basename(key);
  size_t dot = b.rfind('.');
  std::string e = dot == std::string::npos ? "" : b.substr(dot + 1);
  for (char& c : e) c = char(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

// A manifest file imported line by line (import_manifest.cc).
json run_manifest(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt);
// A folder in one of the folder layouts: class sub-folders, labels or VOC
// files beside the files, text or table files (import_folders.cc).
json run_folder(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt);
// A folder of COCO instance files and their images (import_folders.cc).
json run_coco(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt);
// A darknet YOLO folder (import_folders.cc).
json run_yolo(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt);

// Exports (export.cc).
inline constexpr const char* kExportKind = "dataset-export";
// yyyyMMddHHmmss (UTC), for export file names.
std::string compact_time(int64_t ms);
json run_export(Database& db, obs::ObjectStore& objects, tasks::Queue& queue, tasks::TaskContext& tc, const Row& d);
// The task as the export and import task routes show it.
json export_task_json(const tasks::Task& t);
json import_task_json(Database& db, const tasks::Task& t);

}  // namespace atelier::data
