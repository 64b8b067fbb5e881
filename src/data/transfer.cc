// Import tasks (spec §1.8, manifest-format.md §3, §5): a manifest file or an
// OBS folder brought into a dataset as a resumable task.
//
// Crash safety: the task reads its source in batches; each batch's samples,
// labels, counters, failure reasons and the task's progress (with the resume
// position) commit in one transaction. After a kill the task resumes at the
// last committed position, so no batch is half applied or applied twice.
// Re-importing a path that is already a sample updates its annotations
// instead of adding a second sample.
#include "data/transfer.h"

#include <cerrno>
#include <ctime>
#include <atomic>
#include <chrono>
#include <deque>
#include <fstream>
#include <future>
#include <map>
#include <sstream>

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/ids.h"
#include "data/core.h"
#include "data/image_size.h"
#include "iam/iam.h"
#include "obs/buckets.h"

namespace atelier::data {

using http::Access;
using http::json_response;
using http::Route;

namespace {

constexpr size_t kBatch = 2000;
// Manifest lines a transaction applies. Each commit writes the last,
// partly filled pages of the six b-trees a sample row touches into the WAL
// again, so fewer, larger commits write less: a 1M-line detection import
// wrote 1,500 MB with 2000 lines a commit, 1,420 MB with 4000 (peak RSS
// 88 MB -> 107-112 MB, three batches being in memory at once).
constexpr size_t kManifestBatch = 4000;
constexpr int64_t kMaxStoredFailures = 1000;
const char* kKind = "dataset-import";

// Called first on an import's reader threads. They are named (top -H,
// perf) and run at a lower priority than the thread applying their
// batches, which holds the database's write lock: with both cores busy that
// thread is served first, so other writers wait less for the lock and the
// import, whose pace it sets, keeps more of the machine busy (300k manifest
// lines, four runs each: 1.81-1.84 cores instead of 1.73-1.78). Linux keeps
// a nice value per thread; the thread ends with its batch.
void begin_reader_thread() {
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
void put_key(json& j, const std::string& name, const std::string& key) {
  if (valid_utf8(key)) j[name] = key;
  else j[name + "_hex"] = crypto::hex(key);
}

std::string get_key(const json& j, const std::string& name) {
  auto hexed = j.find(name + "_hex");
  if (hexed == j.end() || !hexed->is_string()) return j.value(name, std::string());
  const std::string& h = hexed->get_ref<const std::string&>();
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(char(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

// A resume position: `fields` plus the key `name` (see put_key).
json cursor_with_key(json fields, const std::string& name, const std::string& key) {
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

std::string basename(const std::string& key) { return key.substr(key.rfind('/') + 1); }
std::string stem(const std::string& key) {
  std::string b = basename(key);
  size_t dot = b.rfind('.');
  return dot == std::string::npos ? b : b.substr(0, dot);
}
std::string lower_ext(const std::string& key) {
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

json run_manifest(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt) {
  Progress g = Progress::from(tc.task().progress);
  int type = int(d.i64("type"));
  auto info = objects.head(opt.path);
  if (!info) throw ApiError(400, "ModelArts.4374", "The manifest " + obs_str(opt.path) + " does not exist.");
  // First run: the lines are counted for visible progress, beside the
  // import rather than before it -- the count reads the whole manifest, and
  // from the disk the other core would wait meanwhile. The total shows from
  // the first batch applied after the count ends (the byte counts at once).
  std::future<int64_t> counted;
  if (g.total < 0) {
    g.bytes_total = int64_t(info->size);
    tc.progress(g.to_json());
    counted = std::async(std::launch::async, [&objects, path = opt.path] { return LineReader(objects.get(path)).count_lines(); });
  }
  auto take_count = [&](bool wait) {
    if (counted.valid() && (wait || counted.wait_for(std::chrono::seconds(0)) == std::future_status::ready))
      g.total = counted.get();
  };
  LineReader lines(objects.get(opt.path));
  if (!lines.skip(g.offset)) {
    take_count(true);
    return g.to_json();
  }
  Importer imp(db, objects, tc, d, opt);
  // Reading a batch (JSON, VOC files, the sources' sizes, label checks)
  // touches no metadata, so the next batch is read while this one is
  // applied, split over one reader per core.
  struct Raw {
    int64_t line_no;
    std::string text;  // empty: the line was too long
  };
  auto read = [&objects, &imp, type](const std::vector<Raw>& raw, size_t from, size_t to) {
    auto scan = objects.scanner();
    const bool plain = imp.plain_lines();
    const int64_t now = clock::now_ms();
    // A line whose VOC file is not in memory is put off until the others
    // are read, its reading started meanwhile, instead of this thread
    // waiting for the disk: the machine may have paged the files out since
    // they were written. 1M lines, a tenth of the VOC files paged out:
    // 75-83k samples/s before, 88-91k after. When most files come from the
    // disk, reading them keeps the CPU busy anyway, so once most of its
    // lines are put off a reader takes the rest in order (every file paged
    // out: 46k before, 51k after; 42k putting off every line).
    bool wait = false, pending = false;
    auto read_file = [&scan, &wait, &pending, &imp](const std::string& path) -> std::optional<std::string> {
      if (pending) return std::nullopt;  // the line is put off already
      try {
        auto p = obs::parse_path(path);
        if (!imp.may_read(p)) throw ManifestError(path + ": the bucket " + p.bucket + " is not this account's");
        return wait ? scan->get_all(p) : scan->get_all_at_hand(p, pending);
      } catch (const ApiError&) {
        return std::nullopt;
      }
    };
    std::vector<Item> items(to - from);
    std::vector<size_t> put_off;
    auto read_line = [&](size_t i) {
      Item& it = items[i - from];
      pending = false;
      try {
        if (plain && (it.plain = read_plain_line(raw[i].text, type, now, read_file))) return;
        if (!pending) it.m = parse_manifest_line(raw[i].text, type, read_file);
      } catch (const ManifestError& e) {
        it.error = e.what();
      }
      if (pending) {
        it.error.clear();
        put_off.push_back(i);
      }
    };
    for (size_t i = from; i < to; ++i) {
      Item& it = items[i - from];
      it.origin = "line " + std::to_string(raw[i].line_no);
      if (raw[i].text.empty()) {
        it.error = "the line is longer than " + std::to_string(kMaxManifestLine) + " bytes";
        continue;
      }
      read_line(i);
      if (!wait && put_off.size() >= 64 && put_off.size() * 2 > i - from) wait = true;
    }
    wait = true;
    for (size_t i : put_off) read_line(i);
    imp.prepare(items, *scan);
    return items;
  };
  struct Pending {
    std::vector<std::future<std::vector<Item>>> parts;
    uint64_t offset;
    int64_t line_no;
  };
  // Two batches are read ahead of the one applied, so that the readers
  // never wait for the database (reading costs more than applying).
  constexpr size_t kReadAhead = 2;
  std::deque<Pending> pending;
  std::vector<std::vector<Item>> spent;  // an applied batch's parts, freed by the next readers
  auto apply_first = [&] {
    Pending& first = pending.front();
    std::vector<std::vector<Item>> parts;
    std::vector<Item*> items;  // the parts stay where their readers made them
    for (auto& part : first.parts) {
      parts.push_back(part.get());
      for (auto& it : parts.back()) items.push_back(&it);
    }
    g.bytes_done = int64_t(first.offset);
    g.offset = first.offset;
    take_count(pending.size() == 1);  // the last batch's progress carries the total
    imp.apply(items, g, {{"offset", first.offset}, {"line", first.line_no}});
    spent = std::move(parts);
    pending.pop_front();
  };
  ReaderCount readers(std::max(1u, std::min(4u, std::thread::hardware_concurrency())));
  std::vector<Raw> raw;
  std::string line;
  bool too_long = false;
  // Line numbers count every line, blank ones too, and continue from the resume point.
  int64_t line_no = tc.task().progress.is_object() ? tc.task().progress.value("line", int64_t(0)) : 0;
  auto dispatch = [&] {
    // Start reading this batch, then apply an earlier one meanwhile.
    Pending next{{}, lines.offset(), line_no};
    auto shared = std::make_shared<std::vector<Raw>>(std::move(raw));
    size_t n = shared->size(), parts = std::max<size_t>(1, std::min(readers.next(), n)), step = (n + parts - 1) / parts;
    for (size_t k = 0; k < parts; ++k) {
      size_t from = std::min(n, k * step), to = std::min(n, from + step);
      std::vector<std::vector<Item>> garbage;
      for (size_t j = k; j < spent.size(); j += parts) garbage.push_back(std::move(spent[j]));
      next.parts.push_back(std::async(std::launch::async, [shared, from, to, &read, garbage = std::move(garbage)]() mutable {
        begin_reader_thread();
        garbage.clear();  // a spent batch's JSON trees are freed here, off the applying thread
        return read(*shared, from, to);
      }));
    }
    spent.clear();
    raw.clear();
    pending.push_back(std::move(next));
    while (pending.size() > kReadAhead) apply_first();
  };
  while (lines.next(line, too_long)) {
    if (tc.stopping()) {
      for (auto& p : pending)  // let the readers finish; their batches are not applied
        for (auto& part : p.parts) part.wait();
      take_count(true);
      return g.to_json();
    }
    ++line_no;
    if (!too_long && line.find_first_not_of(" \t\r") == std::string::npos) continue;
    raw.push_back({line_no, too_long ? std::string() : std::move(line)});
    if (raw.size() >= kManifestBatch) dispatch();
  }
  dispatch();
  while (!pending.empty()) apply_first();
  take_count(true);
  return g.to_json();
}

// Folder layouts (manifest-format.md §3): class sub-folders or a .txt beside
// each file for classification (0) and sound classification (200); a PASCAL
// VOC .xml beside each image for detection (1) and segmentation (3); other
// types import the files unlabeled.
}  // namespace

json folder_annotations(obs::Scanner& scan, const std::string& bucket, const std::string& root,
                        const std::string& key, int type, json& metadata, const ListedPage* listed) {
  json labels = json::array();
  std::string dir = key.substr(0, key.rfind('/') + 1);
  std::string sibling = dir + stem(key);
  if (type == 0 || type == 200) {
    std::string txt_key = sibling + ".txt";
    auto txt = lower_ext(key) == "txt" || (listed && !listed->may_exist(txt_key)) ? std::nullopt
                                                                                    : scan.get_all(obs::ObsPath{bucket, txt_key});
    std::vector<std::string> names;
    if (txt) {
      size_t pos = 0;
      while (pos <= txt->size()) {
        size_t nl = txt->find('\n', pos);
        std::string n = txt->substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        while (!n.empty() && (n.back() == '\r' || n.back() == ' ' || n.back() == '\t')) n.pop_back();
        while (!n.empty() && (n.front() == ' ' || n.front() == '\t')) n.erase(0, 1);
        if (!n.empty()) names.push_back(n);
        if (nl == std::string::npos) break;
        pos = nl + 1;
      }
    } else if (dir.size() > root.size()) {
      // imageNet layout: the deepest folder names the label.
      std::string parent = dir.substr(0, dir.size() - 1);
      names.push_back(parent.substr(parent.rfind('/') + 1));
    }
    for (auto& n : names) labels.push_back({{"name", n}, {"type", type}});
  } else if (type == 1 || type == 3) {
    std::string xml_key = sibling + ".xml";
    auto xml = listed && !listed->may_exist(xml_key) ? std::nullopt : scan.get_all(obs::ObsPath{bucket, xml_key});
    if (xml) {
      auto v = parse_voc(*xml, type == 3);
      labels = v.labels;
      if (!v.size.is_null()) metadata["@modelarts:size"] = v.size;
    }
  }
  return labels;
}

namespace {

// Splits text into lines without their line ends.
std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string l = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    out.push_back(std::move(l));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return out;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  size_t b = s.find_first_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b);
}

// Text classification files (manifest-format.md §3.4). "combine"
// (label_format.label_type 1): every line is `text<sep>label[,label...]`.
// "separate" (label_type 0, or a <stem>_result.txt beside the file): every
// line of x.txt is a sample labeled by the same line of x_result.txt. Each
// line becomes a sample whose text is kept in the dataset's storage. Returns
// false when the file is a plain one-sample text (no layout applies).
bool text_lines(obs::ObjectStore& objects, const ImportOptions& opt, const std::string& key, std::vector<Item>& items) {
  std::string st = stem(key);
  std::string dir = key.substr(0, key.rfind('/') + 1);
  const std::string kResult = "_result";
  bool is_result = st.size() > kResult.size() && st.compare(st.size() - kResult.size(), kResult.size(), kResult) == 0;
  if (is_result && opt.text_mode != 1) {
    // Read with its text file, when there is one.
    std::string text_key = dir + st.substr(0, st.size() - kResult.size()) + "." + lower_ext(key);
    if (objects.head(obs::ObsPath{opt.path.bucket, text_key})) return true;
  }
  std::optional<std::string> result;
  if (opt.text_mode != 1) result = objects.get_all(obs::ObsPath{opt.path.bucket, dir + st + "_result." + lower_ext(key)});
  if (opt.text_mode == -1 && !result) return false;
  auto text = objects.get_all(obs::ObsPath{opt.path.bucket, key});
  if (!text) return false;
  std::vector<std::string> lines = split_lines(*text), labels;
  if (result) labels = split_lines(*result);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (trimmed(lines[i]).empty()) continue;
    Item it;
    it.origin = key + " line " + std::to_string(i + 1);
    std::string sample = lines[i], names;
    if (opt.text_mode == 1) {
      size_t sep = sample.rfind(opt.sample_sep);
      if (sep == std::string::npos) {
        it.error = "no '" + std::string(1, opt.sample_sep) + "' between the text and its labels";
        items.push_back(std::move(it));
        continue;
      }
      names = sample.substr(sep + 1);
      sample = sample.substr(0, sep);
    } else if (i < labels.size()) {
      names = labels[i];
    }
    it.m.text = sample;
    if (opt.import_annotations) {
      size_t pos = 0;
      while (pos <= names.size()) {
        size_t c = names.find(opt.label_sep, pos);
        std::string n = trimmed(names.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
        if (!n.empty()) it.m.labels.push_back({{"name", n}, {"type", 100}});
        if (c == std::string::npos) break;
        pos = c + 1;
      }
    }
    items.push_back(std::move(it));
  }
  return true;
}

// Why a table file does not fit a schema of `columns` columns: the first
// record (RFC 4180: a quoted field may hold commas, doubled quotes and line
// breaks) with another count, or an unclosed quote; "" when it fits. Reads
// the file as a stream, so its size does not matter.
std::string csv_misfit(obs::ObjectReader& in, size_t columns, bool header) {
  size_t fields = 1, line = 1, record_line = 1;
  bool quoted = false, quote_seen = false, empty_record = true, first = true;
  auto end_record = [&]() -> std::string {
    bool skip = empty_record || (first && header);
    if (!empty_record) first = false;  // the header is the first record that is not blank
    if (!skip && fields != columns)
      return "line " + std::to_string(record_line) + " has " + std::to_string(fields) + " columns, the dataset's schema " +
             std::to_string(columns);
    fields = 1;
    empty_record = true;
    record_line = line;
    return "";
  };
  std::unique_ptr<char[]> buf(new char[1 << 16]);
  while (size_t n = in.read(buf.get(), 1 << 16))
    for (size_t i = 0; i < n; ++i) {
      char c = buf[i];
      if (quote_seen) {  // a quote inside a quoted field: doubled, or the field's end
        quote_seen = false;
        if (c == '"') continue;
        quoted = false;
      }
      if (quoted) {
        if (c == '"') quote_seen = true;
        else if (c == '\n') ++line;
        continue;
      }
      if (c == '"') quoted = true, empty_record = false;
      else if (c == ',') ++fields, empty_record = false;
      else if (c == '\n') {
        ++line;
        if (auto e = end_record(); !e.empty()) return e;
      } else if (c != '\r') empty_record = false;
    }
  if (quoted && !quote_seen) return "line " + std::to_string(record_line) + ": a quoted field is not closed";
  return end_record();
}

json run_folder(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt) {
  Progress g = Progress::from(tc.task().progress);
  int type = int(d.i64("type"));
  std::string root = opt.path.key;
  if (!root.empty() && root.back() != '/') root += '/';
  Importer imp(db, objects, tc, d, opt);
  // The files to import: those of the dataset's type, except import_folder
  // copies, which a folder import of the storage itself would otherwise
  // reach while making them (they are samples already).
  std::string copies = imp.copy_dir();
  auto wanted = [&opt, &copies, type](const std::string& key) {
    return extension_fits(type, key) &&
           (copies.empty() || ("/" + opt.path.bucket + "/" + key).compare(0, copies.size(), copies) != 0);
  };
  // The files are counted (for visible progress) on another thread while
  // the import starts; the total shows from the first batch applied after.
  // A stop or a failure ends the count at once (the total stays unknown).
  struct CountStopped {};
  std::atomic<bool> stop_counting{false};
  std::future<std::pair<int64_t, int64_t>> counting;
  if (g.total < 0)
    counting = std::async(std::launch::async, [&objects, &opt, &wanted, &stop_counting, root] {
      int64_t n = 0, bytes = 0;
      try {
        objects.each(opt.path.bucket, root, [&](const obs::ObjectInfo& o) {
          if (stop_counting) throw CountStopped{};
          if (wanted(o.key)) ++n, bytes += int64_t(o.size);
        });
      } catch (const CountStopped&) {
        return std::pair<int64_t, int64_t>{-1, 0};
      }
      return std::pair{n, bytes};
    });
  struct StopCount {
    std::atomic<bool>& flag;
    ~StopCount() { flag = true; }  // before `counting` waits for its thread
  } stop_count_on_exit{stop_counting};
  auto take_count = [&](bool wait) {
    if (!counting.valid() || (!wait && counting.wait_for(std::chrono::seconds(0)) != std::future_status::ready)) return;
    std::tie(g.total, g.bytes_total) = counting.get();
  };
  // Reading a page's files (labels beside them, VOC documents) touches no
  // metadata: the next page is read on another thread while this one is applied.
  auto prepare = [&objects, &opt, &imp, &wanted, type, root](std::vector<obs::ObjectInfo> objs, ListedPage listed) {
    begin_reader_thread();
    auto scan = objects.scanner();
    for (auto& o : objs) listed.keys.insert(o.key);
    std::vector<Item> items;
    for (auto& o : objs) {
      if (!wanted(o.key)) continue;
      if (type == 100 && text_lines(objects, opt, o.key, items)) continue;
      Item it;
      it.origin = o.key;
      it.m.path = "/" + opt.path.bucket + "/" + o.key;
      it.relative = o.key.substr(root.size());
      items.emplace_back();
      it.size = int64_t(o.size);
      it.mtime = o.mtime_ms;
      try {
        if (opt.import_annotations)
          it.m.labels = folder_annotations(*scan, opt.path.bucket, root, o.key, type, it.m.metadata, &listed);
        if (type == 400 && opt.table_columns > 0) {
          auto reader = objects.get(obs::ObsPath{opt.path.bucket, o.key});
          std::string why = reader ? csv_misfit(*reader, opt.table_columns, opt.with_column_header) : "the file is gone";
          if (!why.empty()) it.error = why;
        }
      } catch (const ManifestError& e) {
        it.error = e.what();
      } catch (const ApiError& e) {  // e.g. a label file beside it that is a symlink: this file fails, not the task
        it.error = e.what();
      }
      items.back() = std::move(it);
    }
    imp.prepare(items, *scan);
    return items;
  };
  struct Pending {
    std::future<std::vector<Item>> items;
    std::string last;
  };
  // Two pages are read ahead of the one applied, each on its own thread.
  constexpr size_t kReadAhead = 2;
  std::deque<Pending> pending;
  auto apply_first = [&] {
    std::vector<Item> items = pending.front().items.get();
    take_count(pending.size() == 1);  // the last batch's progress carries the total
    for (auto& it : items) g.bytes_done += it.size;
    g.marker = pending.front().last;
    imp.apply(items, g, cursor_with_key(json::object(), "marker", g.marker));
    pending.pop_front();
  };
  std::string marker = g.marker;
  for (;;) {
    if (tc.stopping()) {
      for (auto& p : pending) p.items.wait();
      return g.to_json();
    }
    auto page = objects.list(opt.path.bucket, root, "", marker, int(kBatch));
    std::string last = page.objects.empty() ? "" : page.objects.back().key;
    if (!last.empty())
      pending.push_back(Pending{std::async(std::launch::async, prepare, std::move(page.objects),
                                           ListedPage{marker, page.truncated ? last : "", {}}),
                                last});
    while (pending.size() > kReadAhead) apply_first();
    if (!page.truncated) break;
    marker = page.next_marker;
  }
  while (!pending.empty()) apply_first();
  take_count(true);
  return g.to_json();
}

// A COCO instance file as the import needs it: read with a SAX parser into
// compact records, so a file of a million annotations costs tens of MB, not
// the gigabytes its JSON tree would.
struct CocoFile {
  struct Image {
    int64_t id = -1;
    std::string file_name;
    double width = 0, height = 0;
  };
  struct Annotation {
    int64_t id = -1, image_id = -1, category_id = -1;
    std::vector<double> bbox;
    bool bbox_numbers = true;
    std::optional<double> score;
  };
  std::vector<Image> images;
  std::vector<Annotation> annotations;  // sorted by image_id after reading
  std::map<int64_t, std::string> categories;
  std::string error;  // why the file is not a COCO instance file

  static CocoFile read(std::string_view text) {
    CocoFile f;
    Sax sax(f);
    bool ok = json::sax_parse(text, &sax, json::input_format_t::json, /*strict=*/true);
    if (!ok) f.error = "not valid JSON";
    else if (sax.seen != 7) f.error = "not a COCO instance file: \"images\", \"annotations\" and \"categories\" arrays are required";
    std::stable_sort(f.annotations.begin(), f.annotations.end(),
                     [](const Annotation& x, const Annotation& y) { return x.image_id < y.image_id; });
    return f;
  }

 private:
  // Depth 1: the file's object; 2: a section's array; 3: an element; 4: its bbox.
  struct Sax : nlohmann::json_sax<json> {
    explicit Sax(CocoFile& f) : f(f) {}
    CocoFile& f;
    int depth = 0, section = 0;  // 1 images, 2 annotations, 3 categories
    int seen = 0;                // bit per section found as an array
    bool top_is_object = false, in_bbox = false;
    bool element = false;  // inside an object element of a section (depth 3 and below)
    std::string top_key, field;

    void value(double v, bool integer, int64_t i) {
      if (!element) return;
      if (depth == 4 && in_bbox) {
        f.annotations.back().bbox.push_back(v);
        return;
      }
      if (depth != 3) return;
      if (section == 1) {
        auto& im = f.images.back();
        if (field == "id" && integer) im.id = i;
        else if (field == "width") im.width = v;
        else if (field == "height") im.height = v;
      } else if (section == 2) {
        auto& a = f.annotations.back();
        if (field == "id" && integer) a.id = i;
        else if (field == "image_id" && integer) a.image_id = i;
        else if (field == "category_id" && integer) a.category_id = i;
        else if (field == "score") a.score = v;
      } else if (section == 3) {
        if (field == "id" && integer) cat_id = i;
      }
    }
    void other() {
      if (element && depth == 4 && in_bbox) f.annotations.back().bbox_numbers = false;
    }
    int64_t cat_id = -1;
    std::string cat_name;

    bool null() override { return other(), true; }
    bool boolean(bool) override { return other(), true; }
    bool number_integer(number_integer_t v) override { return value(double(v), true, v), true; }
    bool number_unsigned(number_unsigned_t v) override {
      return value(double(v), v <= uint64_t(INT64_MAX), int64_t(std::min<uint64_t>(v, INT64_MAX))), true;
    }
    bool number_float(number_float_t v, const string_t&) override { return value(v, false, 0), true; }
    bool string(string_t& v) override {
      other();
      if (element && depth == 3 && section == 1 && field == "file_name") f.images.back().file_name = v;
      if (element && depth == 3 && section == 3 && field == "name") cat_name = v;
      return true;
    }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override {
      if (depth == 0) top_is_object = true;
      if (depth == 2 && section) {
        element = true;
        field.clear();
        if (section == 1) f.images.emplace_back();
        if (section == 2) f.annotations.emplace_back();
        if (section == 3) cat_id = -1, cat_name.clear();
      }
      if (depth == 3) field.clear();  // a nested object is no field of ours
      ++depth;
      return true;
    }
    bool end_object() override {
      --depth;
      if (depth == 2 && element) {
        if (section == 3 && cat_id >= 0 && !cat_name.empty()) f.categories[cat_id] = cat_name;
        element = false;
        field.clear();
      }
      return true;
    }
    bool start_array(std::size_t) override {
      if (depth == 1 && top_is_object) {
        section = top_key == "images" ? 1 : top_key == "annotations" ? 2 : top_key == "categories" ? 3 : 0;
        if (section) seen |= 1 << (section - 1);
      }
      if (element && depth == 3 && section == 2 && field == "bbox") in_bbox = true;
      else if (depth == 3) field.clear();
      ++depth;
      return true;
    }
    bool end_array() override {
      --depth;
      if (depth == 3) in_bbox = false;
      if (depth == 1) section = 0;
      return true;
    }
    bool key(string_t& k) override {
      if (depth == 1) top_key = k, section = 0;
      if (depth == 3) field = k;
      return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
  };
};

// COCO detection folders (manifest-format.md §3.2 recommends the standard
// layout): every .json file under the import folder holding "images",
// "annotations" and "categories" is an instance file; each of its images is
// a sample found beside the file, in an images/ folder beside it or its
// parent, or under the import folder, and each annotation's bbox [x, y, w, h]
// becomes a bndbox. An image that cannot be found or has a malformed
// annotation fails with the reason; a file that is not COCO fails as a whole.
// The resume position is the instance file and the image index in it.
json run_coco(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt) {
  Progress g = Progress::from(tc.task().progress);
  const json& prog = tc.task().progress;
  std::string root = opt.path.key;
  if (!root.empty() && root.back() != '/') root += '/';
  std::vector<std::string> files;
  objects.each(opt.path.bucket, root, [&](const obs::ObjectInfo& o) {
    if (lower_ext(o.key) == "json") files.push_back(o.key);
  });
  auto load = [&](const std::string& key) {
    return CocoFile::read(objects.get_all(obs::ObsPath{opt.path.bucket, key}).value_or(""));
  };
  if (g.total < 0) {  // first run: count the images (a file that is not COCO counts once, as a failure)
    int64_t n = 0;
    for (auto& key : files) {
      CocoFile f = load(key);
      n += f.error.empty() ? int64_t(f.images.size()) : 1;
    }
    g.total = n;
    tc.progress(g.to_json());
  }
  std::string resume_file = prog.is_object() ? get_key(prog, "coco_file") : "";
  size_t resume_image = prog.is_object() ? prog.value("coco_image", size_t(0)) : 0;
  Importer imp(db, objects, tc, d, opt);
  auto scan = objects.scanner();
  for (auto& key : files) {
    if (!resume_file.empty() && key < resume_file) continue;
    size_t first = key == resume_file ? resume_image : 0;
    CocoFile f = load(key);
    if (!f.error.empty()) {
      if (first > 0) continue;  // counted before the restart
      std::vector<Item> items(1);
      items[0].origin = key;
      items[0].error = f.error;
      imp.apply(items, g, cursor_with_key({{"coco_image", 1}}, "coco_file", key));
      continue;
    }
    std::string dir = key.substr(0, key.rfind('/') + 1);
    std::string parent = dir.size() > root.size() ? dir.substr(0, dir.rfind('/', dir.size() - 2) + 1) : dir;
    std::vector<Item> items;
    auto flush = [&](size_t next) {
      imp.prepare(items, *scan);
      imp.apply(items, g, cursor_with_key({{"coco_image", next}}, "coco_file", key));
      items.clear();
      scan = objects.scanner();  // a scanner serves one batch: folders changed meanwhile are seen anew
    };
    for (size_t i = first; i < f.images.size(); ++i) {
      if (tc.stopping()) return g.to_json();
      const CocoFile::Image& im = f.images[i];
      Item& it = items.emplace_back();
      it.origin = key + " images[" + std::to_string(i) + "]";
      try {
        if (im.file_name.empty() || im.id < 0) throw ManifestError("an image needs a file_name and an integer id");
        const std::string& name = im.file_name;
        it.origin = key + " " + name;
        std::optional<obs::ObjectInfo> found;
        for (const std::string& base : {dir, dir + "images/", parent + "images/", root, root + "images/"}) {
          obs::ObsPath p{opt.path.bucket, base + name};
          if (!obs::valid_key(p.key)) throw ManifestError("file_name " + name + " is not a valid object name");
          if ((found = scan->head(p))) {
            it.m.path = obs_str(p);
            it.relative = p.key.substr(root.size());
            break;
          }
        }
        if (!found) throw ManifestError("image " + name + " was not found beside " + key + " or in an images folder");
        it.size = int64_t(found->size);
        it.mtime = found->mtime_ms;
        if (im.width > 0 && im.height > 0) it.m.metadata["@modelarts:size"] = {int64_t(im.width), int64_t(im.height), 3};
        CocoFile::Annotation probe;
        probe.image_id = im.id;
        auto [from, to] = std::equal_range(f.annotations.begin(), f.annotations.end(), probe,
                                           [](const auto& x, const auto& y) { return x.image_id < y.image_id; });
        if (opt.import_annotations)
          for (auto a = from; a != to; ++a) {
            std::string where = "annotation " + (a->id >= 0 ? std::to_string(a->id) : std::string("?"));
            auto cat = f.categories.find(a->category_id);
            if (cat == f.categories.end()) throw ManifestError(where + ": category_id names no category of the file");
            if (a->bbox.size() != 4 || !a->bbox_numbers) throw ManifestError(where + ": bbox must be [x, y, width, height]");
            double x = a->bbox[0], y = a->bbox[1], bw = a->bbox[2], bh = a->bbox[3];
            if (x < 0 || y < 0 || bw <= 0 || bh <= 0) throw ManifestError(where + ": bbox needs x, y >= 0 and a positive size");
            json label = {{"name", cat->second}, {"type", 1},
                          {"property", {{"@modelarts:shape", "bndbox"}, {"@modelarts:feature", {{x, y}, {x + bw, y + bh}}}}}};
            if (a->score) label["score"] = *a->score;
            it.m.labels.push_back(std::move(label));
          }
      } catch (const ManifestError& e) {
        it.error = e.what();
      } catch (const ApiError& e) {
        it.error = e.what();
      }
      if (items.size() >= kBatch) flush(i + 1);
    }
    flush(f.images.size());
  }
  return g.to_json();
}

// YOLO folders (manifest-format.md §3.2, the darknet layout CVAT writes):
// obj.names gives the class names by line; obj.data may name that file and
// the train and valid lists. Images come from the lists (paths relative to
// the folder; a leading "data/" is dropped) with usage TRAIN and EVAL or,
// without lists, from obj_train_data/ and obj_valid_data/. Each image's
// <stem>.txt holds `class x_center y_center width height` lines in
// fractions of the image, which the image's own header (PNG, JPEG, GIF,
// BMP) turns into pixels. The resume position is the image's index.
json run_yolo(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt) {
  Progress g = Progress::from(tc.task().progress);
  const json& prog = tc.task().progress;
  std::string root = opt.path.key;
  if (!root.empty() && root.back() != '/') root += '/';
  auto text_of = [&](const std::string& rel) { return objects.get_all(obs::ObsPath{opt.path.bucket, root + rel}); };
  auto relative = [](std::string r) {
    r = trimmed(r);
    if (!r.empty() && r.back() == '\r') r.pop_back();
    if (r.rfind("data/", 0) == 0) r = r.substr(5);
    return r;
  };
  std::map<std::string, std::string> data;  // obj.data: key = value
  if (auto t = text_of("obj.data"))
    for (auto& l : split_lines(*t))
      if (size_t eq = l.find('='); eq != std::string::npos) data[trimmed(l.substr(0, eq))] = trimmed(l.substr(eq + 1));
  std::string names_file = data.count("names") ? relative(data["names"]) : "obj.names";
  auto names_text = text_of(names_file);
  if (!names_text)
    throw ApiError(400, "ModelArts.4374", "import_path: the YOLO class names " + obs_str(opt.path) + names_file + " do not exist");
  std::vector<std::string> classes;
  for (auto& l : split_lines(*names_text))
    if (!trimmed(l).empty()) classes.push_back(trimmed(l));

  std::vector<std::pair<std::string, std::string>> images;  // key, usage
  bool listed = false;
  for (auto [k, usage] : {std::pair{"train", "TRAIN"}, std::pair{"valid", "EVAL"}}) {
    auto list = text_of(data.count(k) ? relative(data[k]) : std::string(k) + ".txt");
    if (!list) continue;
    listed = true;
    for (auto& l : split_lines(*list))
      if (std::string r = relative(l); !r.empty()) images.emplace_back(root + r, usage);
  }
  if (!listed)
    for (auto [sub, usage] : {std::pair{"obj_train_data/", "TRAIN"}, std::pair{"obj_valid_data/", "EVAL"}})
      objects.each(opt.path.bucket, root + sub, [&, usage = usage](const obs::ObjectInfo& o) {
        if (extension_fits(0, o.key)) images.emplace_back(o.key, usage);
      });
  if (g.total < 0) {
    g.total = int64_t(images.size());
    tc.progress(g.to_json());
  }
  // Resume after the last image applied, found by its key: files added to
  // the folders meanwhile would shift a bare index.
  size_t first = prog.is_object() ? prog.value("yolo_image", size_t(0)) : 0;
  if (std::string last = prog.is_object() ? get_key(prog, "yolo_last") : ""; !last.empty()) {
    auto at = std::find_if(images.begin(), images.end(), [&](const auto& im) { return im.first == last; });
    if (at != images.end()) first = size_t(at - images.begin()) + 1;
  }
  Importer imp(db, objects, tc, d, opt);
  auto scan = objects.scanner();
  std::vector<Item> items;
  auto flush = [&](size_t next) {
    imp.prepare(items, *scan);
    imp.apply(items, g, cursor_with_key({{"yolo_image", next}}, "yolo_last", next > 0 ? images[next - 1].first : ""));
    items.clear();
    scan = objects.scanner();  // a scanner serves one batch: folders changed meanwhile are seen anew
  };
  for (size_t i = first; i < images.size(); ++i) {
    if (tc.stopping()) return g.to_json();
    auto& [key, usage] = images[i];
    Item& it = items.emplace_back();
    it.origin = key;
    try {
      obs::ObsPath p{opt.path.bucket, key};
      if (!obs::valid_key(key)) throw ManifestError("the list names " + key + ", not a valid object name");
      auto info = scan->head(p);
      if (!info) throw ManifestError("image " + key + " does not exist");
      it.m.path = obs_str(p);
      it.m.usage = usage;
      it.relative = key.substr(root.size());
      it.size = int64_t(info->size);
      it.mtime = info->mtime_ms;
      auto boxes = opt.import_annotations ? scan->get_all(obs::ObsPath{opt.path.bucket, key.substr(0, key.rfind('.')) + ".txt"})
                                          : std::nullopt;
      std::vector<std::string> lines;
      if (boxes)
        for (auto& l : split_lines(*boxes))
          if (!trimmed(l).empty()) lines.push_back(l);
      // The image's size: the boxes need it, and so does annotating the image later.
      // Usually in the first 4 KB; a JPEG with a large header needs more.
      auto r = objects.get(p);
      std::string head;
      std::optional<std::pair<int, int>> size;
      for (size_t want : {size_t(4096), kImageHeadBytes}) {
        size_t have = head.size();
        head.resize(want);
        while (r && have < want)
          if (size_t n = r->read(head.data() + have, want - have)) have += n;
          else break;
        head.resize(have);
        if ((size = image_size(head)) || have < want) break;
      }
      if (size) it.m.metadata["@modelarts:size"] = {size->first, size->second, 3};
      else if (!lines.empty())
        throw ManifestError("the size of " + key + " cannot be read from its header (PNG, JPEG, GIF or BMP); YOLO boxes need it");
      for (size_t n = 0; n < lines.size(); ++n) {
        std::string where = key.substr(0, key.rfind('.')) + ".txt line " + std::to_string(n + 1);
        std::istringstream in(lines[n]);
        long long cls = -1;
        double v[4];
        std::string extra;
        if (!(in >> cls >> v[0] >> v[1] >> v[2] >> v[3]) || (in >> extra))
          throw ManifestError(where + ": must be `class x_center y_center width height`");
        if (cls < 0 || size_t(cls) >= classes.size())
          throw ManifestError(where + ": class " + std::to_string(cls) + " is not in " + names_file);
        if (std::any_of(v, v + 4, [](double x) { return !(x >= 0 && x <= 1); }) || v[2] <= 0 || v[3] <= 0)
          throw ManifestError(where + ": the box must be fractions in [0, 1] with a positive width and height");
        double W = size->first, H = size->second;
        double x1 = std::max(0.0, (v[0] - v[2] / 2) * W), y1 = std::max(0.0, (v[1] - v[3] / 2) * H);
        double x2 = std::min(W, (v[0] + v[2] / 2) * W), y2 = std::min(H, (v[1] + v[3] / 2) * H);
        if (x2 <= x1 || y2 <= y1) throw ManifestError(where + ": the box lies outside the image");
        it.m.labels.push_back({{"name", classes[size_t(cls)]}, {"type", 1},
                               {"property", {{"@modelarts:shape", "bndbox"}, {"@modelarts:feature", {{x1, y1}, {x2, y2}}}}}});
      }
    } catch (const ManifestError& e) {
      it.error = e.what();
    } catch (const ApiError& e) {
      it.error = e.what();
    }
    if (items.size() >= kBatch) flush(i + 1);
  }
  flush(images.size());
  return g.to_json();
}

// ---------------------------------------------------------------- export (§1.9)

const char* kExportKind = "dataset-export";

// yyyyMMddHHmmss (UTC), for export file names.
std::string compact_time(int64_t ms) {
  time_t t = time_t(ms / 1000);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}

// The samples an export selects: the WHERE clause over samples `s`.
// GCC 12 reports a false -Wmaybe-uninitialized inside std::vector<Value>'s
// reallocation (moving std::variant alternatives) for the binds below.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
std::string export_where(const json& p, store::Params& binds) {
  std::string where = " WHERE s.dataset_id = ?";
  int type = p.value("export_type", 2);
  if (type == 0) where += " AND s.state <> 'UN_ANNOTATION'";
  if (type == 1) where += " AND s.state = 'UN_ANNOTATION'";
  if (p.contains("sample_state")) {
    where += " AND s.state = ?";
    const std::string& state = p["sample_state"].get_ref<const std::string&>();
    binds.push_back(state);
  }
  if (p.contains("samples")) {
    where += " AND s.id IN (NULL";
    for (auto& id : p["samples"]) {
      where += ", ?";
      binds.push_back(id.get_ref<const std::string&>());
    }
    where += ")";
  }
  if (p.contains("search_conditions") && !p["search_conditions"].empty()) {  // ORed for exports (§1.9)
    std::string any;
    for (auto& c : p["search_conditions"]) any += (any.empty() ? "(" : " OR (") + condition_sql(c, binds) + ")";
    where += " AND (" + any + ")";
  }
  return where;
}
#pragma GCC diagnostic pop

// Writes the selected samples as a manifest (and, for annotation_format VOC,
// each image with its VOC file beside it) under the export path. Writing
// again gives the same files, so an interrupted export simply runs again.
// Exports a published version: its manifest's lines, filtered by
// export_type, with sources in the requested scheme.
json run_version_export(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d) {
  const json& p = tc.task().params;
  auto v = db.query_one("SELECT name, status FROM dataset_versions WHERE id = ? AND dataset_id = ?",
                        {p["version_id"].get<std::string>(), d.str("id")});
  if (!v || v->i64("status") != 1)
    throw ApiError(400, "ModelArts.4353", "Dataset version " + p["version_id"].get<std::string>() + " does not exist.");
  std::string name = v->str("name");
  auto src = objects.get(obs::parse_path(inner_work_path(d) + "annotation/" + name + "/" + name + ".manifest"));
  if (!src) throw ApiError(400, "ModelArts.4710", "The manifest of dataset version " + name + " is missing.");
  bool s3 = p.value("source_type_header", "obs://") == "s3://";
  int type = p.value("export_type", 2);
  auto rescheme = [&](json& j, const char* key) {
    if (s3 && j.contains(key) && j[key].is_string()) {
      std::string u = j[key];
      if (u.rfind("obs://", 0) == 0) j[key] = "s3://" + u.substr(6);
    }
  };
  LineReader lines(std::move(src));
  std::string line;
  bool too_long = false;
  int64_t done = 0;
  obs::ObsPath manifest = obs::parse_path(p["manifest_path"].get<std::string>());
  put_pages(objects, manifest, [&](std::string& out) {
    for (int k = 0; k < 500; ++k) {
      if (!lines.next(line, too_long)) return !out.empty();
      json j = parse_json_limited(line);
      if (too_long || !j.is_object()) continue;  // we wrote this manifest; skip what we cannot read
      bool labeled = j.contains("annotation") && j["annotation"].is_array() && !j["annotation"].empty();
      if ((type == 0 && !labeled) || (type == 1 && labeled)) continue;
      rescheme(j, "source");
      if (j.contains("annotation") && j["annotation"].is_array())
        for (auto& a : j["annotation"]) {
          rescheme(a, "annotation-loc");
          rescheme(a, "annotation_loc");
        }
      out += j.dump() + "\n";
      ++done;
    }
    tc.progress({{"total", done}, {"finished", done}});
    return true;
  }, [&tc] { return tc.stopping(); });
  return {{"total", done}, {"finished", done}};
}

json run_export_files(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d);

// export_dest NEW_DATASET: the export's folder becomes the input of a new
// dataset (same type and labels) that imports the manifest. Re-running after
// an interruption finds the dataset it created by the task id it carries.
json run_export(Database& db, obs::ObjectStore& objects, tasks::Runner& runner, tasks::TaskContext& tc, const Row& d) {
  const json& p = tc.task().params;
  json result = p.contains("version_id") ? run_version_export(db, objects, tc, d) : run_export_files(db, objects, tc, d);
  if (!p.contains("new_dataset")) return result;
  const json& nd = p["new_dataset"];
  std::string name = nd["name"];
  std::string id;
  if (auto r = db.query_one("SELECT id, extra FROM datasets WHERE project_id = ? AND name = ?", {tc.task().project_id, name})) {
    json extra = json::parse(r->str("extra"), nullptr, false);
    if (!extra.is_object() || extra.value("export_task_id", "") != tc.task().id)
      throw ApiError(400, "ModelArts.4351", "Dataset name " + name + " already exists.");
    id = r->str("id");
  } else {
    NewDataset n;
    n.project_id = tc.task().project_id;
    n.name = name;
    n.type = int(d.i64("type"));
    n.description = "Exported from dataset " + d.str("name");
    n.work_path = obs::parse_path(nd["work_path"].get<std::string>());
    n.data_sources = json::array({{{"data_path", p["path"]}, {"data_type", 0}}});
    for (auto& r : dataset_labels(db, d.str("id")))
      n.labels.push_back(LabelDef{r.str("name"), int(r.i64("type")), json::parse(r.str("property"), nullptr, false),
                                  json::parse(r.str("attributes"), nullptr, false)});
    n.extra = {{"export_task_id", tc.task().id}};
    n.workspace_id = d.str("workspace_id");
    id = insert_dataset(db, objects, n);
  }
  std::string import_id;
  if (auto t = runner.latest(kKind, id)) import_id = t->id;
  else import_id = runner.submit(kKind, tc.task().project_id, id, {{"import_path", p["manifest_path"]}, {"import_type", "manifest"}});
  result["new_dataset_id"] = id;
  result["import_task_id"] = import_id;
  return result;
}

// Runs the file writes an export gathers page by page on two threads while
// the next page is read: creating files (a VOC document per detection
// sample) is most of an export's cost. A failed write surfaces at the next
// flush() or wait().
class ExportWriters {
 public:
  ~ExportWriters() {
    for (auto& f : running_)
      if (f.valid()) f.wait();
  }
  void add(std::function<void()> job) { jobs_.push_back(std::move(job)); }
  // Waits for the writes started before, then starts those gathered since.
  void flush() {
    wait();
    auto jobs = std::make_shared<std::vector<std::function<void()>>>(std::move(jobs_));
    jobs_.clear();
    size_t n = jobs->size(), half = (n + 1) / 2;
    for (size_t from = 0; from < n; from += half)
      running_.push_back(std::async(std::launch::async, [jobs, from, to = std::min(n, from + half)] {
        for (size_t i = from; i < to; ++i) (*jobs)[i]();
      }));
  }
  void wait() {
    for (auto& f : running_) f.get();
    running_.clear();
  }

 private:
  std::vector<std::function<void()>> jobs_;
  std::vector<std::future<void>> running_;
};

// The file name a sample's copy takes in a flat export folder: its own, or
// prefixed with its id when an earlier sample took that name or its stem
// (img.jpg and img.png would share img.xml or img.txt).
std::string unique_file_name(std::set<std::string>& taken_stems, const std::string& name, const std::string& id) {
  std::string file = taken_stems.insert(stem(name)).second ? name : id + "_" + name;
  taken_stems.insert(stem(file));
  return file;
}

// The COCO box [x, y, width, height] around a label's shape, and for a
// polygon its outline as a COCO segmentation; false for labels without
// geometry or whose box would be empty (a point).
bool coco_geometry(const json& label, json& bbox, json& segmentation) {
  const json& prop = label.value("property", json::object());
  if (!prop.is_object() || !prop.contains("@modelarts:feature")) return false;
  std::string shape = prop.value("@modelarts:shape", std::string());
  const json& f = prop["@modelarts:feature"];
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  if (shape == "circle") {  // [[cx, cy], [r]]
    if (!f.is_array() || f.size() != 2 || !f[0].is_array() || f[0].size() != 2 || !f[1].is_array() || f[1].size() != 1 ||
        !f[0][0].is_number() || !f[0][1].is_number() || !f[1][0].is_number())
      return false;
    double cx = f[0][0], cy = f[0][1], r = f[1][0];
    x1 = cx - r, y1 = cy - r, x2 = cx + r, y2 = cy + r;
  } else {
    if (!f.is_array() || f.empty()) return false;
    bool first = true;
    json outline = json::array();
    for (auto& pt : f) {
      if (!pt.is_array() || pt.size() != 2 || !pt[0].is_number() || !pt[1].is_number()) return false;
      double x = pt[0], y = pt[1];
      x1 = first ? x : std::min(x1, x), y1 = first ? y : std::min(y1, y);
      x2 = first ? x : std::max(x2, x), y2 = first ? y : std::max(y2, y);
      first = false;
      outline.push_back(pt[0]);
      outline.push_back(pt[1]);
    }
    if (shape == "polygon") segmentation = json::array({outline});
  }
  if (x2 <= x1 || y2 <= y1) return false;  // a point, or a line along an axis: no box
  bbox = json::array({x1, y1, x2 - x1, y2 - y1});
  return true;
}

// The class list of a detection export: the dataset's detection labels in
// their order; names met on samples but not defined are added as they come.
struct Categories {
  std::map<std::string, int64_t> index;  // name -> 0-based position
  std::vector<std::string> order;
  Categories(Database& db, const std::string& ds) {
    for (auto& l : dataset_labels(db, ds))
      if (l.i64("type") == 1) of(l.str("name"));
  }
  int64_t of(const std::string& name) {
    auto [it, fresh] = index.emplace(name, int64_t(order.size()));
    if (fresh) order.push_back(name);
    return it->second;
  }
};

// YOLO exports put EVAL and TEST samples in the valid subset, the rest in train.
bool yolo_valid(const std::string& usage) { return usage == "EVAL" || usage == "TEST"; }

// A sample's YOLO label file: one `class x_center y_center width height`
// line per shape, in fractions of the image (its @modelarts:size), the box
// around the shape for shapes other than boxes. Without a size there is
// nothing to divide by, and the file stays empty.
std::string yolo_lines(const ManifestSample& m, Categories& cats) {
  const json& size = m.metadata.is_object() ? m.metadata.value("@modelarts:size", json()) : json();
  if (!size.is_array() || size.size() < 2 || !size[0].is_number() || !size[1].is_number()) return "";
  double W = size[0], H = size[1];
  if (W <= 0 || H <= 0) return "";
  std::string out;
  for (auto& l : m.labels) {
    json bbox, seg;
    if (!l.is_object() || !coco_geometry(l, bbox, seg)) continue;
    double x = bbox[0], y = bbox[1], w = bbox[2], h = bbox[3];
    char line[160];
    std::snprintf(line, sizeof line, "%lld %.10g %.10g %.10g %.10g\n", static_cast<long long>(cats.of(l.value("name", ""))),
                  (x + w / 2) / W, (y + h / 2) / H, w / W, h / H);
    out += line;
  }
  return out;
}

// annotation_format YOLO, after the images and label files: obj.names,
// obj.data and the train and valid lists (darknet's "data/" paths, as CVAT
// writes them), each list from its own pass over the exported samples.
void write_yolo_lists(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const std::string& where,
                      const store::Params& binds, const std::string& dir, const Categories& cats,
                      const std::function<std::string(const Row&)>& usage_of) {
  std::string names;
  for (auto& n : cats.order) names += n + "\n";
  objects.put(obs::parse_path(dir + "obj.names"), names, obs::ObjectStore::Durability::kDeferred);
  objects.put(obs::parse_path(dir + "obj.data"),
              "classes = " + std::to_string(cats.order.size()) +
                  "\nnames = data/obj.names\ntrain = data/train.txt\nvalid = data/valid.txt\nbackup = backup/\n",
              obs::ObjectStore::Durability::kDeferred);
  for (bool valid : {false, true}) {
    int64_t after = 0;
    std::set<std::string> taken;
    put_pages(objects, obs::parse_path(dir + (valid ? "valid.txt" : "train.txt")), [&](std::string& page) {
      store::Params pb = binds;
      pb.push_back(after);
      auto rows = db.query("SELECT s.* FROM samples s" + where + " AND s.seq > ? ORDER BY s.seq LIMIT 500", pb);
      for (auto& r : rows) {
        after = r.i64("seq");
        std::string file = unique_file_name(taken, r.str("name"), r.str("id"));
        if (yolo_valid(usage_of(r)) == valid) page += std::string("data/") + (valid ? "obj_valid_data/" : "obj_train_data/") + file + "\n";
      }
      return !rows.empty();
    }, [&tc] { return tc.stopping(); });
  }
}

// annotation_format COCO: <path>annotations/instances_default.json, read in
// two passes over the selected samples (images, then annotations) so memory
// stays flat. Image ids are the samples' sequence numbers; categories are
// the dataset's detection labels in their order, then any other name met.
// Boxes come back exactly on import; other shapes are written as their
// bounding box (polygons also as segmentation), which an import reads as a box.
void write_coco(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const std::string& ds,
                const std::string& where, const store::Params& binds, const std::string& dir) {
  std::map<std::string, int64_t> categories;
  std::vector<std::string> order;
  for (auto& l : dataset_labels(db, ds))
    if (l.i64("type") == 1 && !categories.count(l.str("name"))) {
      categories[l.str("name")] = int64_t(order.size()) + 1;
      order.push_back(l.str("name"));
    }
  int phase = 0;  // 0 header, 1 images, 2 annotations, 3 done
  int64_t after = 0, annotation_id = 0;
  bool first = true;
  std::set<std::string> names;
  put_pages(objects, obs::parse_path(dir + "annotations/instances_default.json"), [&](std::string& page) {
    if (phase == 0) {
      page += R"({"info":{"description":"exported by Atelier"},"licenses":[],"images":[)";
      phase = 1;
      return true;
    }
    if (phase == 3) return false;
    store::Params pb = binds;
    pb.push_back(after);
    auto rows = db.query("SELECT s.seq, s.id, s.name, s.labels, s.metadata FROM samples s" + where +
                         " AND s.seq > ? ORDER BY s.seq LIMIT 500", pb);
    if (rows.empty()) {
      if (phase == 1) {
        page += R"(],"annotations":[)";
        phase = 2, after = 0, first = true;
        names.clear();
        return true;
      }
      json cats = json::array();
      for (size_t i = 0; i < order.size(); ++i) cats.push_back({{"id", int64_t(i) + 1}, {"name", order[i]}, {"supercategory", ""}});
      page += "],\"categories\":" + cats.dump(-1, ' ', false, json::error_handler_t::replace) + "}";
      phase = 3;
      return true;
    }
    for (auto& r : rows) {
      after = r.i64("seq");
      if (phase == 1) {
        json im = {{"id", after}, {"file_name", unique_file_name(names, r.str("name"), r.str("id"))}};
        json md = json::parse(r.str("metadata"), nullptr, false);
        const json& size = md.is_object() ? md.value("@modelarts:size", json()) : json();
        if (size.is_array() && size.size() >= 2 && size[0].is_number() && size[1].is_number())
          im["width"] = size[0], im["height"] = size[1];
        page += (first ? "" : ",") + im.dump(-1, ' ', false, json::error_handler_t::replace);
        first = false;
        continue;
      }
      json labels = json::parse(r.str("labels"), nullptr, false);
      if (!labels.is_array()) continue;
      for (auto& l : labels) {
        json bbox, seg = json::array();
        if (!l.is_object() || !coco_geometry(l, bbox, seg)) continue;
        std::string name = l.value("name", std::string());
        if (!categories.count(name)) {
          categories[name] = int64_t(order.size()) + 1;
          order.push_back(name);
        }
        json a = {{"id", ++annotation_id},          {"image_id", after}, {"category_id", categories[name]},
                  {"bbox", bbox},                    {"area", bbox[2].get<double>() * bbox[3].get<double>()},
                  {"segmentation", seg},             {"iscrowd", 0}};
        if (l.contains("score") && l["score"].is_number()) a["score"] = l["score"];
        page += (first ? "" : ",") + a.dump(-1, ' ', false, json::error_handler_t::replace);
        first = false;
      }
    }
    return true;
  }, [&tc] { return tc.stopping(); });
}

json run_export_files(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d) {
  const json& p = tc.task().params;
  std::string ds = d.str("id");
  int type = int(d.i64("type"));
  std::string dir = p["path"].get<std::string>();
  std::string scheme = p.value("source_type_header", "obs://");
  bool voc = p.value("annotation_format", "") == "VOC";
  bool coco = p.value("annotation_format", "") == "COCO";
  bool yolo = p.value("annotation_format", "") == "YOLO";
  bool clear_hard = p.value("clear_hard_property", true);
  bool ratio_usage = p.value("ratio_sample_usage", false);
  double ratio = parse_ratio(p.value("train_sample_ratio", std::string("1.00"))).value_or(1.0);
  obs::ObsPath manifest = obs::parse_path(p["manifest_path"].get<std::string>());
  objects.create_bucket(manifest.bucket);
  int64_t total = 0, done = 0;
  // Pages are read one by one (each a consistent read) rather than in one
  // snapshot: progress is written as the export goes, and a write may not
  // happen inside a snapshot. Samples are taken in seq order, so a sample
  // added meanwhile is either in or out, never half.
  {
    store::Params b{ds};
    std::string where = export_where(p, b);
    total = db.query_one("SELECT COUNT(*) AS n FROM samples s" + where, b)->i64("n");
    tc.progress({{"total", total}, {"finished", 0}});
    int64_t after = 0;
    std::set<std::string> names;  // VOC, COCO and YOLO exports: file names used in the flat layout
    Categories yolo_classes(db, ds);
    ExportWriters writers;
    put_pages(objects, manifest, [&](std::string& pending) {
      store::Params pb = b;
      pb.push_back(after);
      auto rows = db.query("SELECT s.* FROM samples s" + where + " AND s.seq > ? ORDER BY s.seq LIMIT 500", pb);
      if (rows.empty()) {
        writers.wait();  // every file the manifest names exists before the manifest does
        return false;
      }
      for (auto& r : rows) {
        after = r.i64("seq");
        ManifestSample m = manifest_sample(r, objects, type);
        if (clear_hard) data::clear_hard(m);
        if (ratio_usage && !m.labels.empty()) m.usage = split_usage(m.id, ratio);
        std::string file = r.str("name");
        if (voc || coco || yolo) {
          // Flat PASCAL VOC layout: the image and <stem>.xml side by side;
          // COCO: the images in images/; YOLO: the image and <stem>.txt in
          // obj_train_data/ or obj_valid_data/.
          file = unique_file_name(names, file, m.id);
          std::string sub = coco ? "images/" : !yolo ? "" : yolo_valid(m.usage) ? "obj_valid_data/" : "obj_train_data/";
          if (yolo) {
            obs::ObsPath txt = obs::parse_path(dir + sub + stem(file) + ".txt");
            writers.add([&objects, txt, lines = yolo_lines(m, yolo_classes)] {
              objects.put(txt, lines, obs::ObjectStore::Durability::kDeferred);
            });
          }
          obs::ObsPath from = obs::parse_path(m.path);
          if (objects.head(from)) {
            obs::ObsPath dst = obs::parse_path(dir + sub + file);
            writers.add([&objects, from, dst] {  // opened by the writer: no descriptor waits in the queue
              auto src = objects.get(from);
              if (!src) throw ApiError(400, "ModelArts.4362", "source " + from.str() + " disappeared during the export");
              objects.put(dst, [&](char* buf, size_t cap) { return src->read(buf, cap); },
                          obs::ObjectStore::Durability::kDeferred);
            });
            m.path = obs_str(dst);  // the exported folder stands on its own
          }
        }
        pending += manifest_line(m, type, [&](const std::string& xml, std::string_view suffix) {
          obs::ObsPath x = obs::parse_path(dir + (voc ? stem(file) : "annotations/" + m.id) + std::string(suffix) + ".xml");
          writers.add([&objects, x, xml] { objects.put(x, xml, obs::ObjectStore::Durability::kDeferred); });
          return scheme + x.bucket + "/" + x.key;
        }, scheme);
        pending += "\n";
        ++done;
      }
      writers.flush();
      tc.progress({{"total", total}, {"finished", done}});
      return true;
    }, [&tc] { return tc.stopping(); });
    writers.wait();
    if (coco) {  // over the same samples: those up to the last one exported
      store::Params upto = b;
      upto.push_back(after);
      write_coco(db, objects, tc, ds, where + " AND s.seq <= ?", upto, dir);
    }
    if (yolo) {
      store::Params upto = b;
      upto.push_back(after);
      write_yolo_lists(db, objects, tc, where + " AND s.seq <= ?", upto, dir, yolo_classes, [&](const Row& r) {
        bool labeled = r.str("labels") != "[]";
        return ratio_usage && labeled ? split_usage(r.str("id"), ratio) : r.null("usage") ? std::string() : r.str("usage");
      });
    }
  }
  objects.sync();  // the copies and VOC files, before the task reports success
  return {{"total", done}, {"finished", done}};
}

json export_task_json(const tasks::Task& t) {
  json prog = t.status == "COMPLETED" && t.result.is_object() && !t.result.empty() ? t.result : t.progress;
  int64_t total = prog.value("total", int64_t(0)), done = prog.value("finished", int64_t(0));
  const char* status = t.status == "QUEUING"     ? "INIT"
                       : t.status == "RUNNING"   ? "RUNNING"
                       : t.status == "COMPLETED" ? "SUCCESSED"  // sic, as the service spells it
                                                 : "FAILED";
  double progress = t.status == "COMPLETED" ? 100.0 : total > 0 ? 100.0 * double(done) / double(total) : 0.0;
  json params = t.params.value("export_params", json::object());
  json j = {{"task_id", t.id},
          {"dataset_id", t.resource_id},
          {"path", t.params.value("path", "")},
          {"manifest_path", t.params.value("manifest_path", "")},
          {"export_type", t.params.value("export_type", 2)},
          {"export_format", t.params.value("export_format", 2)},
          {"annotation_format", t.params.value("annotation_format", "")},
          {"export_params", params},
          {"status", status},
          {"progress", progress},
          {"total_sample_count", total},
          {"finished_sample_count", done},
          {"create_time", t.created_at},
          {"update_time", t.ended_at ? t.ended_at : t.started_at ? clock::now_ms() : t.created_at},
          {"error_code", t.error_code},
          {"error_msg", t.error_msg}};
  for (const char* k : {"new_dataset_id", "import_task_id"})
    if (t.result.is_object() && t.result.contains(k)) j[k] = t.result[k];
  return j;
}

const char* status_of(const std::string& s) {
  if (s == "QUEUING") return "QUEUING";
  if (s == "RUNNING") return "RUNNING";
  if (s == "COMPLETED") return "COMPLETED";
  return "FAILED";
}

json import_task_json(Database& db, const tasks::Task& t) {
  Progress g = Progress::from(t.status == "COMPLETED" && t.result.is_object() && !t.result.empty() ? t.result : t.progress);
  int64_t now = clock::now_ms();
  int64_t end = t.ended_at ? t.ended_at : now;
  json j = {{"task_id", t.id},
            {"dataset_id", t.resource_id},
            {"import_path", t.params.value("import_path", "")},
            {"import_type", t.params.value("import_type", "dir") == "manifest" ? 1 : 0},
            {"import_origin", "obs"},
            {"status", status_of(t.status)},
            {"create_time", t.created_at},
            {"update_ms", t.ended_at ? t.ended_at : (t.started_at ? now : t.created_at)},
            {"elapsed_time", t.started_at ? (end - t.started_at) / 1000 : 0},
            {"total_sample_count", std::max<int64_t>(g.total, 0)},
            {"processed_sample_count", g.processed},
            {"imported_sample_count", g.imported},
            {"updated_sample_count", g.updated},
            {"annotated_sample_count", g.annotated},
            {"unconfirmed_sample_count", g.unconfirmed},
            {"failed_sample_count", g.failed},
            {"total_sub_sample_count", 0},
            {"imported_sub_sample_count", 0},
            {"total_file_count", std::max<int64_t>(g.total, 0)},
            {"finished_file_count", g.processed},
            {"total_file_size", g.bytes_total},
            {"finished_file_size", g.bytes_done},
            {"file_statistics",
             {{"file_num_finished", g.processed}, {"file_num_total", std::max<int64_t>(g.total, 0)},
              {"file_size_finished", g.bytes_done}, {"file_size_total", g.bytes_total}}},
            {"error_code", t.error_code},
            {"error_msg", t.error_msg}};
  json fails = json::array();
  for (auto& r : db.query("SELECT item, reason FROM dataset_import_failures WHERE task_id = ? ORDER BY n LIMIT 100", {t.id}))
    fails.push_back({{"file", r.str("item")}, {"reason", r.str("reason")}});
  j["failures"] = fails;
  return j;
}

}  // namespace

std::vector<store::Migration> transfer_migrations() {
  return {{"data/005_import_failures", R"SQL(
CREATE TABLE dataset_import_failures (
  task_id TEXT NOT NULL, n INTEGER NOT NULL, item TEXT NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (task_id, n));
)SQL"}};
}

std::vector<Route> transfer_routes(Database& db, obs::ObjectStore& objects, tasks::Runner& runner) {
  std::vector<Route> out;
  auto add = [&](std::string method, std::string path, std::string action, http::RouteHandler h) {
    out.push_back(v2_route(std::move(method), std::move(path), std::move(action), {}, std::move(h)));
  };
  auto dataset = [&db](const Context& ctx) { return dataset_in_project(db, ctx); };

  runner.handle(kKind, [&db, &objects](tasks::TaskContext& tc) -> json {
    auto d = db.query_one("SELECT * FROM datasets WHERE id = ?", {tc.task().resource_id});
    if (!d) throw dataset_missing(tc.task().resource_id);
    ImportOptions opt = ImportOptions::from(tc.task().params);
    json extra = json::parse(d->str("extra"), nullptr, false);
    if (extra.is_object() && extra.contains("schema") && extra["schema"].is_array())
      opt.table_columns = extra["schema"].size();
    if (opt.manifest) return run_manifest(db, objects, tc, *d, opt);
    if (opt.yolo) return run_yolo(db, objects, tc, *d, opt);
    return opt.coco ? run_coco(db, objects, tc, *d, opt) : run_folder(db, objects, tc, *d, opt);
  }, /*resumable=*/true);

  add("POST", "/datasets/{dataset_id}/import-tasks", "modelarts:dataset:createImportTask", [&db, &objects, &runner, dataset](Context& ctx) {
    auto d = dataset(ctx);
    auto in = ctx.in();
    std::string path = in.max_len("import_path", in.str("import_path"), 1024);
    obs::ObsPath p = obs::parse_path(path, "import_path");
    std::string origin = in.opt_str("import_origin").value_or("obs");
    if (origin != "obs") in.fail("import_origin", "only obs is supported by this server");
    std::string itype;
    if (in.has("import_type")) {
      const json& v = in.node()["import_type"];
      if (v == "dir" || v == 0) itype = "dir";
      else if (v == "manifest" || v == 1) itype = "manifest";
      else in.fail("import_type", "must be dir or manifest");
    } else {
      itype = p.key.empty() || p.key.back() == '/' ? "dir" : "manifest";
    }
    if (itype == "manifest" && (p.key.empty() || p.key.back() == '/'))
      in.fail("import_path", "must name a manifest file for import_type manifest");
    if (!objects.bucket_exists(p.bucket))
      throw ApiError(400, "ModelArts.4374", "import_path: bucket " + p.bucket + " does not exist");
    if (itype == "manifest" && !objects.head(p))
      throw ApiError(400, "ModelArts.4374", "import_path: the manifest file " + obs_str(p) + " does not exist");
    json params = {{"import_path", obs_str(p)}, {"import_type", itype}};
    if (auto f = in.opt_str("annotation_format")) {
      if (*f != "VOC" && *f != "COCO" && *f != "YOLO") in.fail("annotation_format", "must be VOC, COCO or YOLO");
      if (*f != "VOC" && (itype != "dir" || d.i64("type") != 1))
        in.fail("annotation_format", *f + " is read from a folder into an object detection dataset");
      if (*f != "VOC") params["annotation_format"] = *f;
    }
    for (const char* k : {"import_annotations", "import_samples", "final_annotation", "difficult_only"})
      if (auto b = in.opt_bool(k)) params[k] = *b;
    auto label_names = [&](const char* k) {
      json names = json::array();
      if (!in.has(k)) return names;
      const json& arr = in.arr(k);
      for (size_t i = 0; i < arr.size(); ++i) {
        std::string f = std::string(k) + "[" + std::to_string(i) + "]";
        if (arr[i].is_string()) names.push_back(arr[i]);
        else if (arr[i].is_object() && arr[i].contains("name") && arr[i]["name"].is_string()) names.push_back(arr[i]["name"]);
        else in.fail(f.c_str(), "must be a label object with a name");
      }
      return names;
    };
    json inc = label_names("included_labels");
    for (auto& n : label_names("included_tags")) inc.push_back(n);  // alias seen in the reference examples
    if (!inc.empty()) params["included_labels"] = inc;
    if (json exc = label_names("excluded_labels"); !exc.empty()) params["excluded_labels"] = exc;
    if (auto f = in.opt_str("import_folder")) {
      std::string folder = in.max_len("import_folder", *f, 256);
      while (!folder.empty() && folder.back() == '/') folder.pop_back();
      if (folder.empty() || folder[0] == '/' || !obs::valid_key(folder + "/"))
        in.fail("import_folder", "must be a folder name inside the dataset's storage, without '..' or empty segments");
      if (d.i64("type") == 400) in.fail("import_folder", "is not for table datasets");
      params["import_folder"] = folder;
    }
    if (auto b = in.opt_bool("with_column_header")) {
      if (d.i64("type") != 400) in.fail("with_column_header", "is for table datasets");
      params["with_column_header"] = *b;
    }
    if (auto lf = in.opt_obj("label_format")) {
      if (d.i64("type") != 100) in.fail("label_format", "is for text classification datasets");
      json f = json::object();
      if (lf->has("label_type")) {
        const json& t = lf->node()["label_type"];
        if (t == "0" || t == 0) f["label_type"] = 0;
        else if (t == "1" || t == 1) f["label_type"] = 1;
        else lf->fail("label_type", "must be 0 (separate files) or 1 (text and labels combined)");
      } else {
        f["label_type"] = 1;
      }
      static const std::string kAllowed = "!@#$%^&*_=|?/':.;,\t";
      for (const char* k : {"text_sample_separator", "text_label_separator"}) {
        auto v = lf->opt_str(k);
        if (!v) continue;
        char c = (*v)[0];
        if (v->size() != 1 || !(std::isalnum(static_cast<unsigned char>(c)) || kAllowed.find(c) != std::string::npos))
          lf->fail(k, "must be one character: a letter, a digit, a tab or one of !@#$%^&*_=|?/':.;,");
        f[k] = *v;
      }
      params["label_format"] = f;
    }
    if (runner.active(kKind, d.str("id")))
      throw ApiError(400, "ModelArts.4356", "An import task is already running on dataset " + d.str("id") + ".");
    std::string id = runner.submit(kKind, ctx.caller.project_id, d.str("id"), params);
    return json_response(200, {{"task_id", id}});
  });

  add("GET", "/datasets/{dataset_id}/import-tasks", "modelarts:dataset:getDataset", [&db, &runner, dataset](Context& ctx) {
    auto d = dataset(ctx);
    auto [skip, limit] = page(ctx, 10, 100);
    auto [list, total] = runner.list(kKind, d.str("id"), skip, limit);
    json items = json::array();
    for (auto& t : list) items.push_back(import_task_json(db, t));
    return json_response(200, {{"total_count", total}, {"import_tasks", items}});
  });

  add("GET", "/datasets/{dataset_id}/import-tasks/{task_id}", "modelarts:dataset:getDataset", [&db, &runner, dataset](Context& ctx) {
    auto d = dataset(ctx);
    auto t = runner.get(ctx.param("task_id"));
    if (!t || t->kind != kKind || t->resource_id != d.str("id"))
      // The spec has no code for a missing import task; the export one's is the nearest.
      throw ApiError(400, "ModelArts.4359", "Import task " + ctx.param("task_id") + " does not exist.");
    return json_response(200, import_task_json(db, *t));
  });

  runner.handle(kExportKind, [&db, &objects, &runner](tasks::TaskContext& tc) -> json {
    auto d = db.query_one("SELECT * FROM datasets WHERE id = ?", {tc.task().resource_id});
    if (!d) throw dataset_missing(tc.task().resource_id);
    return run_export(db, objects, runner, tc, *d);
  }, /*resumable=*/true);

  add("POST", "/datasets/{dataset_id}/export-tasks", "modelarts:dataset:createExportTask", [&db, &objects, &runner, dataset](Context& ctx) {
    auto d = dataset(ctx);
    auto in = ctx.in(/*allow_empty=*/true);
    int type = int(d.i64("type"));
    if (type != 0 && type != 1 && type != 900)
      throw ApiError(400, "ModelArts.4384", "Only image classification, object detection and free-format datasets can be exported.");
    json params = json::object();
    auto ep = in.opt_obj("export_params");
    std::string dest = ep ? ep->opt_str("export_dest").value_or("DIR") : "DIR";
    if (dest != "DIR" && dest != "NEW_DATASET") ep->fail("export_dest", "must be DIR or NEW_DATASET");
    std::string path = in.max_len("path", in.str("path"), 1024);
    obs::ObsPath dir = obs::parse_path(path, "path");
    if (!dir.key.empty() && dir.key.back() != '/') dir.key += '/';
    if (!objects.bucket_exists(dir.bucket)) throw ApiError(400, "ModelArts.4358", "path: bucket " + dir.bucket + " does not exist");
    params["path"] = obs_str(dir);
    if (dest == "NEW_DATASET") {
      std::string name = ep->str("export_new_dataset_name");
      check_name(*ep, "export_new_dataset_name", name, 100);
      obs::ObsPath work = folder_path(*ep, "export_new_dataset_work_path", ep->str("export_new_dataset_work_path"));
      if (obs_str(work).rfind(obs_str(dir), 0) == 0)
        ep->fail("export_new_dataset_work_path", "must not be the export path or inside it");
      if (db.query_one("SELECT 1 FROM datasets WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name}))
        throw ApiError(400, "ModelArts.4351", "export_params.export_new_dataset_name: dataset name " + name + " already exists.");
      params["new_dataset"] = {{"name", name}, {"work_path", obs_str(work)}};
    }
    if (auto t = in.opt_int("export_type", 0, 3)) params["export_type"] = *t;
    if (auto f = in.opt_int("export_format", 1, 2)) params["export_format"] = *f;
    if (auto f = in.opt_str("annotation_format")) {
      if (*f != "VOC" && *f != "COCO" && *f != "YOLO") in.fail("annotation_format", "must be VOC, COCO or YOLO");
      if (type != 1) in.fail("annotation_format", *f + " export is for object detection datasets");
      params["annotation_format"] = *f;
    }
    if (auto h = in.opt_str("source_type_header")) {
      if (*h != "obs://" && *h != "s3://") in.fail("source_type_header", "must be obs:// or s3://");
      params["source_type_header"] = *h;
    }
    if (auto v = in.opt_str("version_id")) {
      auto row = db.query_one("SELECT status FROM dataset_versions WHERE id = ? AND dataset_id = ?", {*v, d.str("id")});
      if (!row) throw ApiError(400, "ModelArts.4353", "version_id: dataset version " + *v + " does not exist.");
      if (row->i64("status") != 1) throw ApiError(400, "ModelArts.4824", "version_id: dataset version " + *v + " is not published yet.");
      if (params.contains("annotation_format"))
        in.fail("annotation_format", "a published version exports as its manifest; VOC, COCO and YOLO export are for the working copy");
      params["version_id"] = *v;
    }
    auto state = [&](const JsonIn& j) -> std::optional<std::string> {
      auto s = j.opt_str("sample_state");
      if (!s) return std::nullopt;
      if (*s != "UN_ANNOTATION" && *s != "MANUAL_ANNOTATION" && *s != "AUTO_ANNOTATION")
        j.fail("sample_state", "must be UN_ANNOTATION, MANUAL_ANNOTATION or AUTO_ANNOTATION");
      return s;
    };
    if (auto s = state(in)) params["sample_state"] = *s;
    json echo = json::object();
    if (ep) {
      echo = ep->node();
      if (auto s = state(*ep)) params["sample_state"] = *s;
      if (ep->has("samples")) {
        const json& ids = ep->arr("samples");
        for (size_t i = 0; i < ids.size(); ++i)
          if (!ids[i].is_string()) ep->fail(("samples[" + std::to_string(i) + "]").c_str(), "must be a sample id");
        params["samples"] = ids;
      }
      if (ep->has("search_conditions")) {
        const json& conds = ep->arr("search_conditions");
        store::Params probe;
        for (auto& c : conds) condition_sql(c, probe);  // validates now, not in the task
        params["search_conditions"] = conds;
      }
      if (auto r = ep->opt_str("train_sample_ratio")) {
        if (!parse_ratio(*r)) ep->fail("train_sample_ratio", "must be a number from 0 to 1, e.g. \"0.80\"");
        params["train_sample_ratio"] = *r;
      }
      for (const char* k : {"ratio_sample_usage", "clear_hard_property"})
        if (auto b = ep->opt_bool(k)) params[k] = *b;
    }
    if (params.value("export_type", 2) == 3 && !params.contains("search_conditions"))
      in.fail("export_params", "export_type 3 needs export_params.search_conditions");
    if (params.contains("version_id"))
      for (const char* k : {"sample_state", "samples", "search_conditions"})
        if (params.contains(k))
          throw ApiError(400, "ModelArts.4384", std::string(k) + ": a published version is exported whole (export_type 0, 1 or 2 only)");
    if (params.contains("version_id") && params.value("export_type", 2) == 3)
      in.fail("export_type", "a published version is exported whole (export_type 0, 1 or 2 only)");
    params["export_params"] = echo;
    // The time names the export; a short random tail keeps two exports in the same second apart.
    params["manifest_path"] = obs_str(dir) + d.str("name") + "-" + compact_time(clock::now_ms()) + "-" +
                              ids::hex32().substr(26) + ".manifest";
    std::string id = runner.submit(kExportKind, ctx.caller.project_id, d.str("id"), params);
    return json_response(200, {{"task_id", id}});
  });

  add("GET", "/datasets/{dataset_id}/export-tasks", "modelarts:dataset:getDataset", [&runner, dataset](Context& ctx) {
    auto d = dataset(ctx);
    auto type = query_int(ctx, "export_type");
    auto [skip, limit] = page(ctx, 10, 100);
    json items = json::array();
    int64_t total = 0;
    if (!type) {
      auto [list, n] = runner.list(kExportKind, d.str("id"), skip, limit);
      total = n;
      for (auto& t : list) items.push_back(export_task_json(t));
    } else {
      // Filtering by type: a dataset has few export tasks.
      auto [list, n] = runner.list(kExportKind, d.str("id"), 0, 100000);
      for (auto& t : list)
        if (t.params.value("export_type", 2) == *type && total++ >= skip && int64_t(items.size()) < limit)
          items.push_back(export_task_json(t));
    }
    return json_response(200, {{"total_count", total}, {"export_tasks", items}});
  });

  add("GET", "/datasets/{dataset_id}/export-tasks/{task_id}", "modelarts:dataset:getDataset", [&runner, dataset](Context& ctx) {
    auto d = dataset(ctx);
    auto t = runner.get(ctx.param("task_id"));
    if (!t || t->kind != kExportKind || t->resource_id != d.str("id"))
      throw ApiError(400, "ModelArts.4359", "Export task " + ctx.param("task_id") + " does not exist.");
    return json_response(200, export_task_json(*t));
  });
  return out;
}

}  // namespace atelier::data
