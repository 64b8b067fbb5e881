// Shared internals of data management (datasets, samples, labels, versions,
// import and export): the enumerations of spec §1.0, the sample counters and
// the one writer that keeps them exact (SampleWriter), label and annotation
// validation, and rendering. Route handlers live in data.cc and transfer.cc.
#pragma once
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/json.h"
#include "data/manifest.h"
#include "http/router.h"
#include "obs/object_store.h"
#include "store/db.h"
#include "tasks/tasks.h"

namespace atelier::data {

using http::Context;
using store::Database;
using store::Row;

// ------------------------------------------------------------------ enumerations (§1.0)

inline const std::set<int> kDatasetTypes = {0, 1, 3, 100, 101, 102, 200, 201, 202, 400, 600, 900};

// Label types a dataset of a type may hold.
const std::set<int>& label_types_for(int dataset_type);

// Sample type (§1.0.3) of a dataset type.
int sample_type_for(int dataset_type);

bool is_text_type(int t);

// File extensions a dataset of a type takes in from its input path.
bool extension_fits(int dataset_type, const std::string& key);

inline constexpr const char* kUnannotated = "UN_ANNOTATION";

inline constexpr const char* kManual = "MANUAL_ANNOTATION";

inline constexpr const char* kAuto = "AUTO_ANNOTATION";

ApiError dataset_missing(const std::string& id);

// 1-100 characters: letters (any script), digits, '_' and '-'.
void check_name(const JsonIn& in, const char* field, const std::string& v, size_t max);

void check_description(const JsonIn& in, const std::string& v);

// An OBS folder: valid path ending in '/', not a bare bucket.
obs::ObsPath folder_path(const JsonIn& in, const char* field, const std::string& v);

std::string obs_str(const obs::ObsPath& p);

// ------------------------------------------------------------------ counters

// Adds deltas to a dataset's counters (upsert), inside the caller's transaction.
void bump(Database& db, const std::string& ds, const std::string& key, int64_t delta);

std::map<std::string, int64_t> counters(Database& db, const std::string& ds);

std::string label_key(const char* kind, int type, const std::string& name);

// ------------------------------------------------------------------ samples

// Per-label annotation counts of a labels array: (type, name) -> n.
std::map<std::pair<int, std::string>, int64_t> label_counts(const json& labels);

// A sample's id is 32 hex like the service's: 16 from its dataset, then its
// sequence number. Looking a sample up by id is then a primary-key lookup,
// and inserts maintain no extra random-keyed index.
std::string sample_id(const std::string& ds, int64_t seq);

// The sequence number an id names in `ds`, or -1.
int64_t sample_seq(const std::string& ds, const std::string& id);

// The one writer of samples: inserts, relabels and deletes keep the side
// table and every counter exact within the caller's transaction. Counter
// changes are summed in memory and written by commit(), once per key, which
// the caller runs before its transaction ends.
class SampleWriter {
 public:
  SampleWriter(Database& db, std::string dataset_id) : db_(db), ds_(std::move(dataset_id)) {}
  ~SampleWriter() {
    if (!deltas_.empty() && !std::uncaught_exceptions())
      spdlog::error("SampleWriter for dataset {} dropped counter changes: commit() was not called", ds_);
  }

  void commit() {
    if (deltas_.empty()) return;
    for (auto& [k, v] : deltas_) bump(db_, ds_, k, v);
    deltas_.clear();
    // The hour's closing values of the sample counters, for `metrics`.
    int64_t hour = clock::now_ms() / 3600000 * 3600000;
    db_.exec("INSERT INTO dataset_metrics (dataset_id, hour, key, value) SELECT dataset_id, ?, key, value FROM dataset_counters "
             "WHERE dataset_id = ? AND key IN ('total', 'state:UN_ANNOTATION', 'state:MANUAL_ANNOTATION') "
             "ON CONFLICT (dataset_id, key, hour) DO UPDATE SET value = excluded.value",
             {hour, ds_});
  }

  // One label's row in the label index: its annotations on the sample and
  // their highest confidence.
  struct LabelRow {
    int type = 0;
    std::string name;
    int64_t n = 0;
    std::optional<double> score;
  };
  static std::vector<LabelRow> label_rows_of(const json& labels);
  // The same from (type, name) pairs, one per label.
  static std::vector<LabelRow> label_rows_of(const std::vector<std::pair<int, std::string>>& labels);

  struct NewSample {
    std::string id, name, path, dir;
    int type = 0;
    int64_t size = 0, sample_time = 0;
    json labels = json::array(), metadata = json::object();
    bool auto_annotation = false;
    std::string annotated_by;
    std::string usage;  // "" when unknown

    // What the row stores besides the above, worked out from labels and
    // metadata by derive(), which insert() calls unless it ran already, so
    // that an import can do this part on its reading threads. An import may
    // instead fill these itself (read_plain_line) and leave labels and
    // metadata empty; trees() rebuilds them from the texts where needed.
    void derive() {
      labels_text = labels.dump();
      metadata_text = metadata.dump();
      label_rows = label_rows_of(labels);
      labeled = !labels.empty();
      hard = hard_of(metadata);
      hard_reasons = hard ? hard_reasons_of(metadata) : std::vector<int>();
      metadata_rows = metadata_rows_of(metadata);
      derived = true;
    }
    void trees() {
      if (labels.empty() && labeled) labels = json::parse(labels_text);
      if (metadata.empty() && metadata_text != "{}") metadata = json::parse(metadata_text);
    }
    bool derived = false;
    std::string labels_text, metadata_text;
    std::vector<LabelRow> label_rows;
    bool labeled = false;
    int64_t hard = 0;
    std::vector<int> hard_reasons;                                   // of a hard sample
    std::vector<std::pair<std::string, std::string>> metadata_rows;  // key, value as text
  };

  // insert() for many samples, one statement per 32 rows (a third faster
  // than a row at a time). Sets inserted[i] for each sample that became a
  // row; the others' paths were taken (by an existing sample or an earlier
  // one of `batch`) and are left to the caller. The sequence numbers of those
  // among a statement's rows go unused.
  void insert_many(const std::vector<NewSample*>& batch, int64_t& seq_counter, std::vector<bool>& inserted);

  // Assigns s.id; returns false when a sample with this path exists already.
  bool insert(NewSample& s, int64_t& seq_counter) {
    std::vector<bool> inserted;
    insert_many({&s}, seq_counter, inserted);
    return inserted[0];
  }

  // Replaces the labels (and optionally metadata) of the sample row `r`.
  // `confirm`: a person annotated it (an auto-annotated sample becomes
  // labeled); otherwise a label rename or removal keeps its state.
  // `as_auto`: the labels are to be confirmed (imports with final_annotation=false).
  void relabel(const Row& r, const json& labels, const json* metadata, const std::string& annotated_by,
               const std::string* usage, bool confirm = true, bool as_auto = false) {
    int64_t seq = r.i64("seq");
    std::string old_state = r.str("state");
    std::string state = labels.empty()                         ? kUnannotated
                        : as_auto || (!confirm && old_state == kAuto) ? kAuto
                                                                       : kManual;
    add_label_rows(seq, json::parse(r.str("labels"), nullptr, false), -1);
    add_label_rows(seq, labels, +1);
    if (state != old_state) {
      delta("state:" + old_state, -1);
      delta("state:" + state, 1);
    }
    std::string md = metadata ? metadata->dump() : r.str("metadata");
    if (metadata) {
      db_.exec("DELETE FROM sample_metadata WHERE dataset_id = ? AND seq = ?", {ds_, seq});
      add_metadata_rows(seq, metadata_rows_of(*metadata));
      add_hard(json::parse(r.str("metadata"), nullptr, false), -1);
      add_hard(*metadata, +1);
    }
    db_.exec("UPDATE samples SET labels = ?, state = ?, metadata = ?, hard = ?, annotated_by = ?, usage = COALESCE(?, usage), "
             "updated_at = ? WHERE dataset_id = ? AND seq = ?",
             {labels.dump(), state, md, hard_of(json::parse(md, nullptr, false)),
              annotated_by.empty() ? store::Value() : store::Value(annotated_by),
              usage ? store::Value(*usage) : store::Value(), clock::now_ms(), ds_, seq});
  }

  void remove(const Row& r) {
    int64_t seq = r.i64("seq");
    add_label_rows(seq, json::parse(r.str("labels"), nullptr, false), -1);
    delta("total", -1);
    delta("state:" + r.str("state"), -1);
    delta("deleted", 1);
    add_hard(json::parse(r.str("metadata"), nullptr, false), -1);
    db_.exec("DELETE FROM sample_metadata WHERE dataset_id = ? AND seq = ?", {ds_, seq});
    db_.exec("DELETE FROM samples WHERE dataset_id = ? AND seq = ?", {ds_, seq});
  }

 private:
  // Hard examples: a counter of hard samples and one per hard reason (§1.0.8).
  void add_hard(const json& md, int sign) {
    if (!hard_of(md)) return;
    delta("hard", sign);
    for (int r : hard_reasons_of(md)) delta("hr:" + std::to_string(r), sign);
  }

  // The hard reasons counted per dataset (ids 0..30).
  static std::vector<int> hard_reasons_of(const json& md) {
    std::vector<int> out;
    const json r = md.is_object() ? md.value("@modelarts:hard_reasons", json::array()) : json::array();
    if (r.is_array())
      for (auto& id : r)
        if (id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<uint64_t>() <= 30) out.push_back(int(id.get<int64_t>()));
    return out;
  }

  // Scalar values only (strings, numbers, booleans), as search compares text.
  static std::vector<std::pair<std::string, std::string>> metadata_rows_of(const json& md) {
    std::vector<std::pair<std::string, std::string>> out;
    if (md.is_object())
      for (auto& [k, v] : md.items())
        if (v.is_string() || v.is_number() || v.is_boolean()) out.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
    return out;
  }

  static int64_t hard_of(const json& md) {
    if (!md.is_object() || !md.contains("@modelarts:hard")) return 0;
    const json& h = md["@modelarts:hard"];
    if (h.is_number()) return h.get<double>() >= 0.5 ? 1 : 0;
    if (h.is_boolean()) return h.get<bool>();
    if (h.is_string()) return h.get<std::string>() == "1" || h.get<std::string>() == "true";
    return 0;
  }

  // One index row per (label, sample) with the number of annotations and
  // the highest confidence among them (NULL when none has a score).
  void add_label_rows(int64_t seq, const std::vector<LabelRow>& rows, int sign) {
    for (auto& r : rows) {
      if (sign > 0)
        db_.exec("INSERT INTO sample_labels (dataset_id, label_type, label_name, seq, n, score) VALUES (?, ?, ?, ?, ?, ?)",
                 {ds_, r.type, r.name, seq, r.n, r.score ? store::Value(*r.score) : store::Value()});
      else
        db_.exec("DELETE FROM sample_labels WHERE dataset_id = ? AND label_name = ? AND seq = ? AND label_type = ?",
                 {ds_, r.name, seq, r.type});
      delta(label_key("lc", r.type, r.name), sign * r.n);
      delta(label_key("ls", r.type, r.name), sign);
    }
  }
  void add_label_rows(int64_t seq, const json& labels, int sign) { add_label_rows(seq, label_rows_of(labels), sign); }

  void delta(const std::string& key, int64_t d) { deltas_[key] += d; }

  void add_metadata_rows(int64_t seq, const std::vector<std::pair<std::string, std::string>>& rows) {
    for (auto& [k, v] : rows)
      db_.exec("INSERT INTO sample_metadata (dataset_id, seq, key, value) VALUES (?, ?, ?, ?)", {ds_, seq, k, v});
  }

  Database& db_;
  std::string ds_;
  std::string id_prefix_;  // the dataset's part of its sample ids
  std::map<std::string, int64_t> deltas_;
  std::map<std::pair<int, size_t>, std::string> multi_sql_;  // insert_many's statements: (table, rows)
};

// ------------------------------------------------------------------ label definitions

struct LabelDef {
  std::string name;
  int type = 0;
  json property = json::object();
  json attributes = json::array();
};

// Checks a label's property map; `where` names it in errors.
void check_property(const json& prop, int type, const std::string& where);

// Reads a Label object (§1.0.9) for a dataset of `dataset_type`.
LabelDef read_label(const JsonIn& in, int dataset_type);

json label_json(const Row& r);

std::vector<Row> dataset_labels(Database& db, const std::string& ds);

// Inserts new label definitions; a duplicate name or shortcut is a 400.
void insert_labels(Database& db, const std::string& ds, const std::vector<LabelDef>& labels);

// ------------------------------------------------------------------ annotation validation (manifest-format.md)

struct SampleFacts {
  int dataset_type;
  int64_t text_length;  // text samples
  json metadata;        // for @modelarts:size
};

double num(const json& v, bool& ok);

// The most annotations one sample may carry (README, data management).
inline constexpr size_t kMaxLabelsPerSample = 1000;

// An annotation's label type and name as stored; a missing or mistyped
// value reads as `fallback` / "" (checked_labels refuses those from clients).
int label_type_of(const json& l, int fallback);
std::string label_name_of(const json& l);

// The integer at `where`, which must lie within [min, max]; otherwise a 400
// naming `where`.
int64_t checked_int(const json& v, int64_t min, int64_t max, const std::string& where);

// Throws a 400 naming `where` when the annotation does not fit its sample.
void check_annotation(const json& l, const SampleFacts& f, const std::string& where,
                      const std::set<std::pair<int, std::string>>& defined, const std::set<std::string>& ids_in_sample);

// Validates a whole labels array of one sample (at most kMaxLabelsPerSample);
// adds ids to annotations lacking one so relations can point at them.
json checked_labels(const json& labels, const SampleFacts& f, const std::string& where,
                    const std::set<std::pair<int, std::string>>& defined, const std::string& annotated_by);

std::set<std::pair<int, std::string>> defined_labels(Database& db, const std::string& ds);

// ------------------------------------------------------------------ dataset rendering

std::string inner_work_path(const Row& d);

json dataset_json(Database& db, const Row& d, bool with_labels);

// With check_running_task=true: exist_running_task and running_tasks_id from
// the task queue (syncs of the dataset, publishing of its versions).
json with_running_tasks(const Context& ctx, Database& db, tasks::Queue& runner, const Row& d, json j);

// ------------------------------------------------------------------ samples rendering

// `labels`: false leaves them out (a caller that puts others in their place).
json sample_json(const Context& ctx, const Row& r, bool labels = true);

// Lines of an object, each at most kMaxManifestLine bytes (a longer one is
// reported as an empty line with `too_long` set, and skipped).
class LineReader {
 public:
  explicit LineReader(std::unique_ptr<obs::ObjectReader> r) : r_(std::move(r)) {}
  bool next(std::string& line, bool& too_long) {
    line.clear();
    too_long = false;
    for (;;) {
      if (!fill()) return !line.empty() || too_long;
      const char* nl = static_cast<const char*>(std::memchr(buf_ + pos_, '\n', len_ - pos_));
      size_t n = (nl ? size_t(nl - buf_) : len_) - pos_;
      if (!too_long) {
        if (line.size() + n > kMaxManifestLine) {
          too_long = true;
          line.clear();
        } else {
          line.append(buf_ + pos_, n);
        }
      }
      pos_ += n;
      offset_ += n;
      if (nl) {
        ++pos_;
        ++offset_;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return true;
      }
    }
  }

  // Counts the lines next() would return that are not blank (only spaces,
  // tabs, CRs) or are too long, without copying them; reads to the end.
  int64_t count_lines() {
    int64_t n = 0;
    size_t length = 0;  // of the line so far
    bool counted = false;
    for (;;) {
      if (!fill()) return n;
      const char* nl = static_cast<const char*>(std::memchr(buf_ + pos_, '\n', len_ - pos_));
      size_t end = nl ? size_t(nl - buf_) : len_;
      if (!counted) {
        const char* p = buf_ + pos_;
        while (p < buf_ + end && (*p == ' ' || *p == '\t' || *p == '\r')) ++p;
        length += end - pos_;
        if (p < buf_ + end || length > kMaxManifestLine) {
          ++n;
          counted = true;
        }
      }
      offset_ += end - pos_ + (nl ? 1 : 0);
      pos_ = end + (nl ? 1 : 0);
      if (nl) {
        length = 0;
        counted = false;
      }
    }
  }

  // Bytes consumed so far: the start of the next line.
  uint64_t offset() const { return offset_; }
  // Discards the first `n` bytes (resuming at a recorded offset); false at EOF first.
  bool skip(uint64_t n) {
    while (offset_ < n) {
      if (!fill()) return false;
      size_t k = size_t(std::min<uint64_t>(len_ - pos_, n - offset_));
      pos_ += k;
      offset_ += k;
    }
    return true;
  }

 private:
  // Reads more once the buffer is used up; false at the end of the object.
  bool fill() {
    if (pos_ < len_) return true;
    if (eof_) return false;
    len_ = r_->read(buf_, sizeof buf_);
    pos_ = 0;
    eof_ = len_ == 0;
    return !eof_;
  }

  std::unique_ptr<obs::ObjectReader> r_;
  char buf_[1 << 16];
  size_t pos_ = 0, len_ = 0;
  uint64_t offset_ = 0;
  bool eof_ = false;
};

// Offset/limit as the v2 lists define them: offset is a page index.
std::pair<int64_t, int64_t> page(const Context& ctx, int64_t def_limit, int64_t max_limit);

const std::string* qp(const Context& ctx, const char* k);

// `train_evaluate_ratio=min,max` (§1.1.1, §1.3.1): a closed range within [0, 1].
std::optional<std::pair<double, double>> query_ratio_range(const Context& ctx);

// A version's training share, from its publish parameters (1 when it
// has none); nullopt when the stored value is not a ratio.
std::optional<double> version_ratio(const Row& v);

bool query_bool(const Context& ctx, const char* k, bool def);

std::optional<int> query_int(const Context& ctx, const char* k);

std::optional<std::string> query_version_format(const Context& ctx);

// Up to four samples of a dataset as AnnotationFile objects (`file_preview`).
json preview_files(const Context& ctx, Database& db, const Row& d);

// The samples of a published version, read back from its manifest (the
// frozen record; the working copy may have changed since). Filters by
// annotation state, label name and label type; the manifest is scanned in
// order, so deep pages cost a scan of the lines before them.
json list_version_samples(const Context& ctx, Database& db, obs::ObjectStore& objects, const Row& d,
                          const std::string& vid);

// Samples `s` with a label whose confidence lies in [low, high].
std::string score_window_sql(double low, double high, store::Params& p);

// The SQL of one SearchCondition (§1.4.7) over samples `s`, its parts ANDed;
// binds go to `p`. Throws a 400 naming the offending key.
std::string condition_sql(const json& c, store::Params& p);

// A dataset to create, its fields already validated.
struct NewDataset {
  std::string project_id, name;
  int type = 0;
  std::string description;
  obs::ObsPath work_path;
  json data_sources = json::array();
  std::vector<LabelDef> labels;
  json extra = json::object();
  std::string workspace_id = "0";
};

// Inserts the dataset and its labels (400 ModelArts.4351 when the name is
// taken in the project) and creates the buckets it names; returns its id.
std::string insert_dataset(Database& db, obs::ObjectStore& objects, const NewDataset& n);

// A sample row as a manifest sample, with its stored usage; text datasets
// get the content (a manifest carries it inline).
ManifestSample manifest_sample(const Row& r, obs::ObjectStore& objects, int dataset_type);

// TRAIN or EVAL for a labeled sample: a deterministic split by its id, so the
// same sample always lands on the same side for a given ratio.
std::string split_usage(const std::string& sample_id, double train_ratio);

// clear_hard_property (publish and export): drops the hard-example fields
// of the sample (metadata @modelarts:hard, _coefficient, _reasons) and of
// each of its labels (property @modelarts:hard, _coefficient).
void clear_hard(ManifestSample& m);

// Validates a sample's imported labels for a dataset of `type` without the
// database: every label type must fit the dataset, and every name counts as
// defined, since define_labels adds the new ones when the sample is written.
// Returns the checked labels (ids, type, annotated_by and create_time
// filled in); throws ApiError.
json validated_labels(int type, const json& labels, const SampleFacts& facts, const std::string& annotated_by);

// Defines the label names of `labels` that `defined` does not hold yet (a
// new relation label takes its end types from the entities it joins) and
// adds them to `defined`. Throws ApiError, inserting nothing, when a new
// definition is invalid.
void define_labels(Database& db, const std::string& ds, int type, const json& labels,
                   std::set<std::pair<int, std::string>>& defined);

// validated_labels, then define_labels.
json adopt_labels(Database& db, const std::string& ds, int type, const json& labels, const SampleFacts& facts,
                  std::set<std::pair<int, std::string>>& defined, const std::string& annotated_by);

// Streams text produced page by page into one object: `next_page` appends
// the next page to its argument and returns false once there is no more.
// Throws 503 when `stopping()` turns true (the task resumes later).
obs::ObjectInfo put_pages(obs::ObjectStore& objects, const obs::ObsPath& p, const std::function<bool(std::string&)>& next_page,
                          const std::function<bool()>& stopping);

// The dataset of the path, in the caller's project; another project's is invisible (4352).
Row dataset_in_project(Database& db, const Context& ctx);

}  // namespace atelier::data
