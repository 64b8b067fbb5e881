#include "data/sample_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <exception>
#include <tuple>

#include "common/clock.h"
#include "common/crypto.h"
#include "data/annotation_checks.h"
#include "data/counters.h"
#include "data/types.h"

namespace atelier::data {

namespace {

// A sample id's second half: its sequence number as 16 hex digits.
void append_seq_hex(std::string& id, int64_t seq) {
  for (int d = 15; d >= 0; --d) id += "0123456789abcdef"[uint64_t(seq) >> (4 * d) & 15];
}

// The hard reasons counted per dataset (ids 0..30).
std::vector<int> hard_reasons_of(const json& md) {
  std::vector<int> out;
  const json r = md.is_object() ? md.value("@modelarts:hard_reasons", json::array()) : json::array();
  if (r.is_array())
    for (auto& id : r)
      if (id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<uint64_t>() <= 30) out.push_back(int(id.get<int64_t>()));
  return out;
}

// Scalar values only (strings, numbers, booleans), as search compares text.
std::vector<std::pair<std::string, std::string>> metadata_rows_of(const json& md) {
  std::vector<std::pair<std::string, std::string>> out;
  if (md.is_object())
    for (auto& [k, v] : md.items())
      if (v.is_string() || v.is_number() || v.is_boolean()) out.emplace_back(k, v.is_string() ? v.get<std::string>() : v.dump());
  return out;
}

int64_t hard_of(const json& md) {
  if (!md.is_object() || !md.contains("@modelarts:hard")) return 0;
  const json& h = md["@modelarts:hard"];
  if (h.is_number()) return h.get<double>() >= 0.5 ? 1 : 0;
  if (h.is_boolean()) return h.get<bool>();
  if (h.is_string()) return h.get<std::string>() == "1" || h.get<std::string>() == "true";
  return 0;
}

// Rows a multi-row INSERT takes at most.
constexpr size_t kRowsPerStatement = 32;

}  // namespace

std::string sample_id(const std::string& ds, int64_t seq) {
  std::string id = crypto::md5_hex(ds).substr(0, 16);
  append_seq_hex(id, seq);
  return id;
}

int64_t sample_seq(const std::string& ds, const std::string& id) {
  if (id.size() != 32 || id.find_first_not_of("0123456789abcdef") != std::string::npos) return -1;
  if (id.compare(0, 16, crypto::md5_hex(ds), 0, 16) != 0) return -1;
  uint64_t seq = std::strtoull(id.c_str() + 16, nullptr, 16);
  return seq > uint64_t(INT64_MAX) ? -1 : int64_t(seq);
}

SampleWriter::~SampleWriter() {
  if (!deltas_.empty() && !std::uncaught_exceptions())
    spdlog::error("SampleWriter for dataset {} dropped counter changes: commit() was not called", ds_);
}

void SampleWriter::commit() {
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

std::vector<SampleWriter::LabelRow> SampleWriter::label_rows_of(const json& labels) {
  std::map<std::pair<int, std::string>, LabelRow> rows;
  if (labels.is_array())
    for (auto& l : labels) {
      if (!l.is_object()) continue;
      int type = label_type_of(l, 0);
      std::string name = label_name_of(l);
      LabelRow& r = rows[{type, name}];
      r.type = type;
      r.name = name;
      ++r.n;
      auto sc = l.find("score");
      if (sc != l.end() && sc->is_number() && (!r.score || sc->get<double>() > *r.score)) r.score = sc->get<double>();
    }
  std::vector<LabelRow> out;
  out.reserve(rows.size());
  for (auto& [k, r] : rows) out.push_back(std::move(r));
  return out;
}

std::vector<SampleWriter::LabelRow> SampleWriter::label_rows_of(const std::vector<std::pair<int, std::string>>& labels) {
  std::vector<LabelRow> out;
  for (auto& [type, name] : labels) {
    auto it = std::find_if(out.begin(), out.end(), [&](const LabelRow& r) { return r.type == type && r.name == name; });
    if (it == out.end()) it = out.insert(out.end(), LabelRow{type, name, 0, std::nullopt});
    ++it->n;
  }
  std::sort(out.begin(), out.end(), [](const LabelRow& a, const LabelRow& b) {
    return std::tie(a.type, a.name) < std::tie(b.type, b.name);
  });
  return out;
}

void SampleWriter::NewSample::derive() {
  labels_text = labels.dump();
  metadata_text = metadata.dump();
  label_rows = label_rows_of(labels);
  labeled = !labels.empty();
  hard = hard_of(metadata);
  hard_reasons = hard ? hard_reasons_of(metadata) : std::vector<int>();
  metadata_rows = metadata_rows_of(metadata);
  derived = true;
}

void SampleWriter::NewSample::trees() {
  if (labels.empty() && labeled) labels = json::parse(labels_text);
  if (metadata.empty() && metadata_text != "{}") metadata = json::parse(metadata_text);
}

// Counter changes of an insert_many, summed by label rather than by counter
// name: a million-row import would otherwise build four names a row.
struct SampleWriter::InsertTotals {
  int64_t total = 0, by_state[3] = {0, 0, 0};  // unannotated, auto, manual
  std::map<std::pair<int, std::string_view>, std::pair<int64_t, int64_t>> by_label;  // (annotations, samples)
};

const std::string& SampleWriter::multi_sql(int table, size_t rows) {
  std::string& q = multi_sql_[{table, rows}];
  if (q.empty()) {
    q = table == 0 ? "INSERT INTO samples (dataset_id, seq, id, name, path, dir, type, state, size, sample_time, labels, "
                     "metadata, annotated_by, usage, hard, created_at, updated_at) VALUES "
                   : "INSERT INTO sample_labels (dataset_id, label_type, label_name, seq, n, score) VALUES ";
    for (size_t r = 0; r < rows; ++r) {
      if (r) q += ',';
      q += table == 0 ? "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" : "(?, ?, ?, ?, ?, ?)";
    }
    if (table == 0) q += " ON CONFLICT (dataset_id, path) DO NOTHING";
  }
  return q;
}

void SampleWriter::bind_sample(store::Params& p, NewSample& s, int64_t seq, int64_t now) {
  if (!s.derived) s.derive();
  s.id = id_prefix_;
  append_seq_hex(s.id, seq);
  const char* state = !s.labeled ? kUnannotated : s.auto_annotation ? kAuto : kManual;
  // The texts are bound where they are, not copied: the batch outlives
  // the statement.
  using store::Value;
  p.push_back(Value::borrowed(ds_));
  p.emplace_back(seq);
  p.push_back(Value::borrowed(s.id));
  p.push_back(Value::borrowed(s.name));
  p.push_back(Value::borrowed(s.path));
  p.push_back(Value::borrowed(s.dir));
  p.emplace_back(s.type);
  p.push_back(Value::borrowed(state));
  p.emplace_back(s.size);
  p.emplace_back(s.sample_time);
  p.push_back(Value::borrowed(s.labels_text));
  p.push_back(Value::borrowed(s.metadata_text));
  p.push_back(s.annotated_by.empty() ? Value() : Value::borrowed(s.annotated_by));
  p.push_back(s.usage.empty() ? Value() : Value::borrowed(s.usage));
  p.emplace_back(s.hard);
  p.emplace_back(now);
  p.emplace_back(now);
}

void SampleWriter::record_inserted(const NewSample& s, int64_t seq, InsertTotals& totals, PendingLabelRows& pending) {
  ++totals.total;
  ++totals.by_state[!s.labeled ? 0 : s.auto_annotation ? 1 : 2];
  for (auto& r : s.label_rows) {
    pending.emplace_back(seq, &r);
    auto& [annotations, samples] = totals.by_label[{r.type, r.name}];
    annotations += r.n;
    ++samples;
  }
  add_metadata_rows(seq, s.metadata_rows);
  if (s.hard) {
    delta("hard", 1);
    for (int r : s.hard_reasons) delta("hr:" + std::to_string(r), 1);
  }
}

void SampleWriter::insert_label_rows(PendingLabelRows& pending, store::Params& p, bool all) {
  while (pending.size() >= (all ? 1 : kRowsPerStatement)) {
    size_t k = std::min(kRowsPerStatement, pending.size());
    p.clear();
    for (size_t i = 0; i < k; ++i) {
      auto& [seq, r] = pending[i];
      p.push_back(store::Value::borrowed(ds_));
      p.emplace_back(r->type);
      p.push_back(store::Value::borrowed(r->name));
      p.emplace_back(seq);
      p.emplace_back(r->n);
      p.emplace_back(r->score ? store::Value(*r->score) : store::Value());
    }
    db_.exec(multi_sql(1, k), p);
    pending.erase(pending.begin(), pending.begin() + std::ptrdiff_t(k));
  }
}

void SampleWriter::add_totals(const InsertTotals& totals) {
  if (totals.total) delta("total", totals.total);
  const char* states[3] = {kUnannotated, kAuto, kManual};
  for (int k = 0; k < 3; ++k)
    if (totals.by_state[k]) delta(std::string("state:") + states[k], totals.by_state[k]);
  for (auto& [label, n] : totals.by_label) {
    std::string name(label.second);
    delta(label_key("lc", label.first, name), n.first);
    delta(label_key("ls", label.first, name), n.second);
  }
}

void SampleWriter::insert_many(const std::vector<NewSample*>& batch, int64_t& seq_counter, std::vector<bool>& inserted) {
  inserted.assign(batch.size(), false);
  if (id_prefix_.empty()) id_prefix_ = sample_id(ds_, 0).substr(0, 16);
  int64_t now = clock::now_ms();
  InsertTotals totals;
  store::Params p, lp;
  PendingLabelRows label_rows;
  for (size_t from = 0; from < batch.size(); from += kRowsPerStatement) {
    size_t k = std::min(kRowsPerStatement, batch.size() - from);
    int64_t first = seq_counter + 1;
    p.clear();
    for (size_t i = 0; i < k; ++i) bind_sample(p, *batch[from + i], first + int64_t(i), now);
    bool all = db_.exec(multi_sql(0, k), p) == int64_t(k);
    for (size_t i = 0; i < k; ++i) {
      int64_t seq = first + int64_t(i);
      if (!all && !db_.query_one("SELECT seq FROM samples WHERE dataset_id = ? AND seq = ?", {ds_, seq})) continue;
      inserted[from + i] = true;
      seq_counter = seq;  // the numbers after the last row inserted stay free
      record_inserted(*batch[from + i], seq, totals, label_rows);
    }
    insert_label_rows(label_rows, lp, false);
  }
  insert_label_rows(label_rows, lp, true);
  add_totals(totals);
}

bool SampleWriter::insert(NewSample& s, int64_t& seq_counter) {
  std::vector<bool> inserted;
  insert_many({&s}, seq_counter, inserted);
  return inserted[0];
}

void SampleWriter::relabel(const store::Row& r, const json& labels, const json* metadata, const std::string& annotated_by,
                           const std::string* usage, bool confirm, bool as_auto) {
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

void SampleWriter::remove(const store::Row& r) {
  int64_t seq = r.i64("seq");
  add_label_rows(seq, json::parse(r.str("labels"), nullptr, false), -1);
  delta("total", -1);
  delta("state:" + r.str("state"), -1);
  delta("deleted", 1);
  add_hard(json::parse(r.str("metadata"), nullptr, false), -1);
  db_.exec("DELETE FROM sample_metadata WHERE dataset_id = ? AND seq = ?", {ds_, seq});
  db_.exec("DELETE FROM samples WHERE dataset_id = ? AND seq = ?", {ds_, seq});
}

void SampleWriter::add_hard(const json& md, int sign) {
  if (!hard_of(md)) return;
  delta("hard", sign);
  for (int r : hard_reasons_of(md)) delta("hr:" + std::to_string(r), sign);
}

void SampleWriter::add_label_rows(int64_t seq, const std::vector<LabelRow>& rows, int sign) {
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

void SampleWriter::add_metadata_rows(int64_t seq, const std::vector<std::pair<std::string, std::string>>& rows) {
  for (auto& [k, v] : rows)
    db_.exec("INSERT INTO sample_metadata (dataset_id, seq, key, value) VALUES (?, ?, ?, ?)", {ds_, seq, k, v});
}

}  // namespace atelier::data
