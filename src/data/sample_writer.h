// Samples' ids and the one writer of samples (SampleWriter), which keeps the
// side tables (sample_labels, sample_metadata) and every counter of
// counters.h exact within the caller's transaction.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json.h"
#include "store/db.h"

namespace atelier::data {

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
  SampleWriter(store::Database& db, std::string dataset_id) : db_(db), ds_(std::move(dataset_id)) {}
  // Logs counter changes that commit() never wrote (unless unwinding).
  ~SampleWriter();

  // Writes the summed counter changes, and the hour's closing values of the
  // sample counters (for `metrics`).
  void commit();

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
    void derive();
    void trees();
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
  bool insert(NewSample& s, int64_t& seq_counter);

  // Replaces the labels (and optionally metadata) of the sample row `r`.
  // `confirm`: a person annotated it (an auto-annotated sample becomes
  // labeled); otherwise a label rename or removal keeps its state.
  // `as_auto`: the labels are to be confirmed (imports with final_annotation=false).
  void relabel(const store::Row& r, const json& labels, const json* metadata, const std::string& annotated_by,
               const std::string* usage, bool confirm = true, bool as_auto = false);

  void remove(const store::Row& r);

 private:
  struct InsertTotals;
  using PendingLabelRows = std::vector<std::pair<int64_t, const LabelRow*>>;  // (seq, row) to insert

  // The cached multi-row INSERT of `rows` rows into samples (table 0) or sample_labels (1).
  const std::string& multi_sql(int table, size_t rows);
  // Appends the binds of one samples row, deriving the sample and giving it its id first.
  void bind_sample(store::Params& p, NewSample& s, int64_t seq, int64_t now);
  // Counts a sample that became a row and writes its metadata rows; its
  // label rows wait in `pending` for insert_label_rows.
  void record_inserted(const NewSample& s, int64_t seq, InsertTotals& totals, PendingLabelRows& pending);
  // Inserts pending label rows a full statement at a time (`all`: the rest too).
  void insert_label_rows(PendingLabelRows& pending, store::Params& p, bool all);
  // Turns an insert_many's totals into counter changes.
  void add_totals(const InsertTotals& totals);

  // Hard examples: a counter of hard samples and one per hard reason (@modelarts:hard_reasons ids).
  void add_hard(const json& md, int sign);

  // One index row per (label, sample) with the number of annotations and
  // the highest confidence among them (NULL when none has a score).
  void add_label_rows(int64_t seq, const std::vector<LabelRow>& rows, int sign);
  void add_label_rows(int64_t seq, const json& labels, int sign) { add_label_rows(seq, label_rows_of(labels), sign); }

  void delta(const std::string& key, int64_t d) { deltas_[key] += d; }

  void add_metadata_rows(int64_t seq, const std::vector<std::pair<std::string, std::string>>& rows);

  store::Database& db_;
  std::string ds_;
  std::string id_prefix_;  // the dataset's part of its sample ids
  std::map<std::string, int64_t> deltas_;
  std::map<std::pair<int, size_t>, std::string> multi_sql_;  // insert_many's statements: (table, rows)
};

}  // namespace atelier::data
