// What the import and export tasks of src/data share: the import options,
// items and progress, the Importer that applies batches, and the tasks'
// entry points (import_manifest.cc, import_folders.cc, export.cc; their
// routes are in transfer.cc). Internal to src/data.
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
#include "iam/iam.h"
#include "obs/buckets.h"

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
  // Text classification folders (§3.4): -1 one sample per file, 0 separate
  // label files, 1 text and labels combined on each line.
  int text_mode = -1;
  char sample_sep = '\t', label_sep = ',';
  // Table folders (§3.6): every CSV record must have the schema's column
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

// Prepares and applies batches of items to one dataset. prepare() works out
// all an item needs that the database does not know (filters, checked
// labels, the row's values) and may run on several threads at once;
// apply() writes a prepared batch in one transaction.
class Importer {
 public:
  Importer(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, ImportOptions opt)
      : db_(db), objects_(objects), tc_(tc), ds_(d.str("id")), type_(int(d.i64("type"))),
        data_dir_(inner_work_path(d) + "data/"), opt_(std::move(opt)),
        bucket_owners_(db), buckets_(bucket_owners_, iam::project_domain(db, d.str("project_id"))) {
    if (!opt_.import_folder.empty()) copy_dir_ = storage_dir(d) + opt_.import_folder + "/";
  }

  // Where import_folder copies go: the dataset's input folder, or (with
  // none) its inner data folder. The spec says "the dataset storage dir"; the
  // input folder is what a ModelArts user sees as that, and a later sync
  // finds the copies already imported.
  static std::string storage_dir(const Row& d) {
    json src = json::parse(d.str("data_sources"), nullptr, false);
    if (src.is_array())
      for (auto& ds : src)
        if (ds.is_object() && ds.value("data_type", 0) == 0 && ds.contains("data_path") && ds["data_path"].is_string()) {
          std::string path = obs_str(obs::parse_path(ds["data_path"].get<std::string>()));
          return path.back() == '/' ? path : path + "/";
        }
    return inner_work_path(d) + "data/";
  }

  // Whether the dataset's account may read `path` (a line's source or VOC
  // file); a path of another account's bucket fails its line. Any thread.
  bool may_read(const obs::ObsPath& p) const { return buckets_.allows(p.bucket, obs::Buckets::Use::kRead); }

  // import_folder's folder (/bucket/key/), "" without one.
  const std::string& copy_dir() const { return copy_dir_; }

  // Whether lines may be read by read_plain_line: no option of this import
  // looks at a label or a hard flag before the row is made.
  bool plain_lines() const {
    return opt_.import_annotations && opt_.included.empty() && opt_.excluded.empty() && !opt_.difficult_only;
  }

  // Touches no metadata and no member but read-only ones: safe on any thread.
  void prepare(std::vector<Item>& items, obs::Scanner& scan) const {
    for (auto& it : items) prepare(it, scan);
  }
  void prepare(Item& it, obs::Scanner& scan) const {
    if (it.prepared || !it.error.empty()) return;
    try {
      prepare_one(it, scan);
    } catch (const ApiError& e) {
      it.error = e.what();
    } catch (const ManifestError& e) {
      it.error = e.what();
    } catch (const json::exception& e) {  // e.g. a label name read from a file that is not UTF-8
      it.error = std::string("cannot be stored: ") + e.what();
    }
    it.prepared = true;
  }

  // Applies one batch in one transaction: the items, the items that could
  // not be read (origin, reason), the progress and the resume position.
  void apply(std::vector<Item>& items, Progress& g, const json& cursor_update) {
    std::vector<Item*> all;
    all.reserve(items.size());
    for (auto& it : items) all.push_back(&it);
    apply(all, g, cursor_update);
  }
  // The same for items kept where their readers made them.
  void apply(const std::vector<Item*>& batch, Progress& g, const json& cursor_update) {
    auto scan = objects_.scanner();
    for (Item* it : batch) prepare(*it, *scan);  // items not prepared by a reader yet
    // Files first (inline texts, import_folder copies), made durable, and only
    // then the one transaction: copying gigabytes must not hold the
    // database's write lock. Should the dataset be gone by then, the files
    // this batch wrote are removed again.
    std::vector<obs::ObsPath> written;
    for (Item* it : batch)
      if (it->error.empty() && !it->skip) try {
          materialize(*it, written);
        } catch (const ApiError& e) {
          it->error = e.what();
        }
    if (!written.empty()) objects_.sync();
    try {
      db_.transaction([&] {
        auto row = db_.query_one("SELECT sample_seq FROM datasets WHERE id = ? AND status <> 2", {ds_});
        if (!row) throw dataset_missing(ds_);  // deleted meanwhile: the task fails with that reason
        defined_ = defined_labels(db_, ds_);
        int64_t seq = row->i64("sample_seq");
        SampleWriter w(db_, ds_);
        // New samples go in together; those whose path is taken, and the
        // samples of an import that only updates, are handled one by one.
        std::vector<Item*> fresh, taken;
        std::vector<SampleWriter::NewSample*> rows;
        for (Item* it : batch) {
          ++g.processed;
          if (!it->error.empty()) {
            fail(g, it->origin, it->error);
            continue;
          }
          if (it->skip) continue;
          try {
            if (!opt_.import_samples) {
              update_one(*it, w, g);
              continue;
            }
            define_new_labels(it->row);
            fresh.push_back(it);
            rows.push_back(&it->row);
          } catch (const ApiError& e) {
            fail(g, it->origin, e.what());
          } catch (const json::exception& e) {  // labels that cannot be stored (read back from their text)
            fail(g, it->origin, std::string("cannot be stored: ") + e.what());
          }
        }
        std::vector<bool> inserted;
        w.insert_many(rows, seq, inserted);
        for (size_t i = 0; i < fresh.size(); ++i) {
          if (!inserted[i]) {
            taken.push_back(fresh[i]);
            continue;
          }
          ++g.imported;
          if (rows[i]->labeled) ++(rows[i]->auto_annotation ? g.unconfirmed : g.annotated);
        }
        for (Item* it : taken) try {
            update_one(*it, w, g);
          } catch (const ApiError& e) {
            fail(g, it->origin, e.what());
          } catch (const json::exception& e) {
            fail(g, it->origin, std::string("cannot be stored: ") + e.what());
          }
        w.commit();
        db_.exec("UPDATE datasets SET sample_seq = ?, data_updated_at = ?, updated_at = ? WHERE id = ?",
                 {seq, clock::now_ms(), clock::now_ms(), ds_});
        json p = g.to_json();
        for (auto& [k, v] : cursor_update.items()) p[k] = v;
        tc_.progress(p);
      });
    } catch (const ApiError& e) {
      if (!db_.query_one("SELECT id FROM datasets WHERE id = ? AND status <> 2", {ds_}))
        for (auto& p : written) objects_.remove(p);
      throw;
    }
  }

  void fail(Progress& g, const std::string& origin, const std::string& reason) {
    ++g.failed;
    if (g.failed <= kMaxStoredFailures)
      db_.exec("INSERT INTO dataset_import_failures (task_id, n, item, reason) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (task_id, n) DO NOTHING",
               {tc_.task().id, g.failed, origin, reason.substr(0, 1000)});
  }

 private:
  void prepare_one(Item& it, obs::Scanner& scan) const {
    if (it.plain) {
      PlainLine& p = *it.plain;
      it.m.path = std::move(p.path);
      locate(it, scan);
      SampleWriter::NewSample& s = it.row;
      s.labels_text = std::move(p.labels_text);
      s.metadata_text = std::move(p.metadata_text);
      s.label_rows = SampleWriter::label_rows_of(p.labels);
      s.labeled = !p.labels.empty();
      s.derived = true;
      fill_row(it, s.labeled, std::move(p.usage));
      it.plain.reset();
      return;
    }
    ManifestSample& m = it.m;
    if (opt_.difficult_only && !(m.metadata.contains("@modelarts:hard") && m.metadata["@modelarts:hard"].is_number() &&
                                 m.metadata["@modelarts:hard"].get<double>() > 0)) {
      it.skip = true;  // filtered out, not a failure
      return;
    }
    json labels = opt_.import_annotations ? std::move(m.labels) : json::array();
    std::set<std::string> names;
    for (auto& l : labels) names.insert(l.value("name", ""));
    if ((!opt_.included.empty() &&
         std::none_of(names.begin(), names.end(), [&](auto& n) { return opt_.included.count(n) > 0; })) ||
        std::any_of(names.begin(), names.end(), [&](auto& n) { return opt_.excluded.count(n) > 0; })) {
      it.skip = true;
      return;
    }

    locate(it, scan);
    int64_t text_length = it.size;
    if (is_text_type(type_) && !m.text.empty()) text_length = int64_t(utf8_length(m.text));
    else if (is_text_type(type_)) text_length = int64_t(utf8_length(scan.get_all(obs::parse_path(m.path)).value_or("")));

    // An annotation that does not fit the dataset, or fails validation,
    // fails the whole line with its reason. manifest-format.md §5.2/§5.4
    // would import such a sample unlabeled instead; we follow the issue's
    // rule (bad input counted as failed, with a reason) so nothing is
    // dropped silently — the user sees the line and can fix it.
    SampleFacts facts{type_, text_length, m.metadata};
    labels = validated_labels(type_, labels, facts, "human");
    SampleWriter::NewSample& s = it.row;
    s.labels = std::move(labels);
    s.metadata = std::move(m.metadata);
    s.derive();
    fill_row(it, s.labeled, std::move(m.usage));
  }

  // The data: an object that must exist, or inline text kept in the
  // dataset's storage under a name made of its content (written by apply,
  // which knows the dataset still exists).
  void locate(Item& it, obs::Scanner& scan) const {
    ManifestSample& m = it.m;
    if (m.path.empty()) {
      m.path = data_dir_ + crypto::md5_hex(m.text) + ".txt";
      it.inline_text = true;
      it.size = int64_t(utf8_length(m.text));
    } else if (it.mtime == 0) {
      // A manifest's source keeps its bucket and key under import_folder, so
      // sources of two buckets never share a copy.
      if (it.relative.empty() && !copy_dir_.empty()) it.relative = m.path.substr(1);
      auto source = obs::parse_path(m.path);
      if (!buckets_.allows(source.bucket, obs::Buckets::Use::kRead))
        throw ApiError(403, "ModelArts.4310", "source " + m.path + ": the bucket " + source.bucket + " is not this account's");
      auto info = scan.head(source);
      if (!info) throw ApiError(400, "ModelArts.4362", "source " + m.path + ": the file does not exist");
      it.size = int64_t(info->size);
      it.mtime = info->mtime_ms;
    }
  }

  // The row's fields other than labels and metadata.
  void fill_row(Item& it, bool labeled, std::string usage) const {
    const ManifestSample& m = it.m;
    SampleWriter::NewSample& s = it.row;
    s.path = m.path;
    s.name = basename(m.path);
    s.dir = m.path.substr(0, m.path.rfind('/') + 1);
    // Free-format samples keep the kind their line names (sample-type).
    s.type = type_ == 900 && m.sample_type >= 0 ? m.sample_type : sample_type_for(type_);
    s.size = it.size;
    s.sample_time = it.mtime;
    s.auto_annotation = !opt_.final_annotation && labeled;
    if (labeled) s.annotated_by = "human";
    s.usage = std::move(usage);
  }

  // Writes the item's file before its row: an inline text under its
  // content's name, or the import_folder copy (the row then names the copy).
  // A source already inside the folder (a folder import of the storage
  // itself reaches the copies it made) is taken as it is; importing into the
  // same folder again updates the same samples.
  void materialize(Item& it, std::vector<obs::ObsPath>& written) {
    SampleWriter::NewSample& s = it.row;
    if (it.inline_text) {
      auto p = obs::parse_path(s.path);
      if (!objects_.head(p)) {
        objects_.put(p, it.m.text, obs::ObjectStore::Durability::kDeferred);
        written.push_back(p);
      }
      return;
    }
    if (copy_dir_.empty() || s.path.compare(0, copy_dir_.size(), copy_dir_) == 0) return;
    std::string dst = obs_str(obs::parse_path(copy_dir_ + it.relative));
    if (!opt_.import_samples && !db_.query_one("SELECT seq FROM samples WHERE dataset_id = ? AND path = ?", {ds_, dst})) {
      it.skip = true;  // only an existing copy could take the labels: nothing to copy
      return;
    }
    auto src = objects_.get(obs::parse_path(s.path));
    if (!src) throw ApiError(400, "ModelArts.4362", "source " + s.path + ": the file does not exist");
    auto p = obs::parse_path(dst);
    auto info = objects_.put(p, [&](char* buf, size_t cap) { return src->read(buf, cap); },
                             obs::ObjectStore::Durability::kDeferred);
    written.push_back(p);
    s.path = dst;
    s.name = basename(s.path);
    s.dir = s.path.substr(0, s.path.rfind('/') + 1);
    s.size = int64_t(info.size);
    s.sample_time = info.mtime_ms;
  }

  // New label names join the dataset's label set (§5.5).
  void define_new_labels(SampleWriter::NewSample& s) {
    if (std::all_of(s.label_rows.begin(), s.label_rows.end(),
                    [&](const SampleWriter::LabelRow& r) { return r.name.empty() || defined_.count({r.type, r.name}); }))
      return;  // the usual case: nothing new
    s.trees();
    define_labels(db_, ds_, type_, s.labels, defined_);
  }

  // An item whose sample exists: its labels (and usage) replace the
  // sample's; without one, an import that only updates passes it by.
  void update_one(Item& it, SampleWriter& w, Progress& g) {
    SampleWriter::NewSample& s = it.row;
    auto existing = db_.query_one("SELECT * FROM samples WHERE dataset_id = ? AND path = ?", {ds_, s.path});
    if (!existing) {
      if (!opt_.import_samples) return;  // nothing of it is imported, not even its labels
      throw std::logic_error("a sample's path is taken and free at once");
    }
    define_new_labels(s);
    s.trees();
    if (!s.labeled && !s.usage.empty())
      db_.exec("UPDATE samples SET usage = ? WHERE dataset_id = ? AND seq = ?", {s.usage, ds_, existing->i64("seq")});
    if (s.labeled) {
      w.relabel(*existing, s.labels, &s.metadata, "human", s.usage.empty() ? nullptr : &s.usage, opt_.final_annotation,
                s.auto_annotation);
      ++(s.auto_annotation ? g.unconfirmed : g.annotated);
    }
    ++g.updated;
  }

  Database& db_;
  obs::ObjectStore& objects_;
  tasks::TaskContext& tc_;
  std::string ds_;
  int type_;
  std::string data_dir_;
  ImportOptions opt_;
  std::set<std::pair<int, std::string>> defined_;
  std::string copy_dir_;      // import_folder's folder, "" without one
  obs::Buckets bucket_owners_;
  mutable obs::BucketScope buckets_;  // the dataset's account
};

// A manifest file imported line by line (import_manifest.cc).
json run_manifest(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt);
// A folder in one of the layouts of manifest-format.md §3 (import_folders.cc).
json run_folder(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt);
// A folder of COCO instance files and their images (import_folders.cc).
json run_coco(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt);
// A darknet YOLO folder (import_folders.cc).
json run_yolo(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt);

// Exports (export.cc).
inline constexpr const char* kExportKind = "dataset-export";
// yyyyMMddHHmmss (UTC), for export file names.
std::string compact_time(int64_t ms);
json run_export(Database& db, obs::ObjectStore& objects, tasks::Queue& runner, tasks::TaskContext& tc, const Row& d);
// The task as the export and import task routes show it.
json export_task_json(const tasks::Task& t);
json import_task_json(Database& db, const tasks::Task& t);

}  // namespace atelier::data
