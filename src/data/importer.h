// The Importer: prepares and applies batches of import items to one dataset
// (crash safety: see transfer_internal.h). Internal to src/data.
#pragma once
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "data/transfer_internal.h"
#include "obs/buckets.h"

namespace atelier::data {

// Prepares and applies batches of items to one dataset. prepare() works out
// all an item needs that the database does not know (filters, checked
// labels, the row's values) and may run on several threads at once;
// apply() writes a prepared batch in one transaction.
class Importer {
 public:
  Importer(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, ImportOptions opt);

  // Where import_folder copies go: the dataset's input folder, or (with
  // none) its inner data folder. ModelArts speaks of "the dataset storage dir";
  // the input folder is what a ModelArts user sees as that, and a later sync
  // finds the copies already imported.
  static std::string storage_dir(const Row& d);

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
  void prepare(Item& it, obs::Scanner& scan) const;

  // Applies one batch in one transaction: the items, the items that could
  // not be read (origin, reason), the progress and the resume position.
  void apply(std::vector<Item>& items, Progress& g, const json& cursor_update);
  // The same for items kept where their readers made them.
  void apply(const std::vector<Item*>& batch, Progress& g, const json& cursor_update);

  // Counts an item as failed and stores the reason (the first kMaxStoredFailures).
  void fail(Progress& g, const std::string& origin, const std::string& reason);

 private:
  void prepare_one(Item& it, obs::Scanner& scan) const;
  // The data: an object that must exist, or inline text kept in the
  // dataset's storage under a name made of its content (written by apply,
  // which knows the dataset still exists).
  void locate(Item& it, obs::Scanner& scan) const;
  // The row's fields other than labels and metadata.
  void fill_row(Item& it, bool labeled, std::string usage) const;
  // Writes the item's file before its row: an inline text under its
  // content's name, or the import_folder copy (the row then names the copy).
  // A source already inside the folder (a folder import of the storage
  // itself reaches the copies it made) is taken as it is; importing into the
  // same folder again updates the same samples.
  void materialize(Item& it, std::vector<obs::ObsPath>& written);
  // The batch's rows, counters, failures and progress: the body of apply's transaction.
  void write_batch(const std::vector<Item*>& batch, Progress& g, const json& cursor_update);
  // Runs `step` for the item; an ApiError, or labels that cannot be stored,
  // fails the item with the reason instead.
  template <class Step>
  void or_fail(Item& it, Progress& g, Step step);
  // New label names join the dataset's label set.
  void define_new_labels(SampleWriter::NewSample& s);
  // An item whose sample exists: its labels (and usage) replace the
  // sample's; without one, an import that only updates passes it by.
  void update_one(Item& it, SampleWriter& w, Progress& g);

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

}  // namespace atelier::data
