#include "data/data.h"

#include "data/label_defs.h"
#include "data/manifest.h"
#include "data/sample_writer.h"
#include "data/transfer.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <set>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/ids.h"
#include "iam/iam.h"
#include "obs/buckets.h"

#include <spdlog/spdlog.h>

namespace atelier::data {

using http::Access;
using http::Context;
using http::json_response;
using http::Response;
using http::Route;
using store::Database;
using store::Row;

std::vector<store::Migration> migrations() {
  std::vector<store::Migration> all = {{"data/001_datasets", R"SQL(
CREATE TABLE datasets (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, name TEXT NOT NULL, type INTEGER NOT NULL,
  description TEXT NOT NULL DEFAULT '', status INTEGER NOT NULL, work_path TEXT NOT NULL,
  data_sources TEXT NOT NULL, extra TEXT NOT NULL, enterprise_project_id TEXT NOT NULL DEFAULT '0',
  workspace_id TEXT NOT NULL DEFAULT '0', next_version_num INTEGER NOT NULL DEFAULT 1,
  current_version_id TEXT, sample_seq INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, data_updated_at BIGINT NOT NULL,
  UNIQUE (project_id, name));
CREATE INDEX datasets_project ON datasets (project_id, created_at);
CREATE TABLE dataset_labels (
  dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE, name TEXT NOT NULL,
  type INTEGER NOT NULL, property TEXT NOT NULL, attributes TEXT NOT NULL, pos INTEGER NOT NULL,
  PRIMARY KEY (dataset_id, name, type));
CREATE TABLE samples (
  dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE, seq INTEGER NOT NULL,
  id TEXT NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL, dir TEXT NOT NULL, type INTEGER NOT NULL,
  state TEXT NOT NULL, size BIGINT NOT NULL, sample_time BIGINT NOT NULL, labels TEXT NOT NULL,
  metadata TEXT NOT NULL, annotated_by TEXT, usage TEXT, hard INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
  PRIMARY KEY (dataset_id, seq));
CREATE UNIQUE INDEX samples_path ON samples (dataset_id, path);
CREATE INDEX samples_state ON samples (dataset_id, state, seq);
CREATE TABLE sample_labels (
  dataset_id TEXT NOT NULL, label_type INTEGER NOT NULL, label_name TEXT NOT NULL, seq INTEGER NOT NULL,
  n INTEGER NOT NULL, PRIMARY KEY (dataset_id, label_name, seq, label_type));
CREATE INDEX sample_labels_seq ON sample_labels (dataset_id, seq);
CREATE TABLE dataset_counters (
  dataset_id TEXT NOT NULL, key TEXT NOT NULL, value INTEGER NOT NULL, PRIMARY KEY (dataset_id, key));
)SQL"},
          // Scalar sample metadata, one row per key, for metadata search conditions.
          {"data/002_sample_metadata", R"SQL(
CREATE TABLE sample_metadata (
  dataset_id TEXT NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY (dataset_id, seq, key));
CREATE INDEX sample_metadata_kv ON sample_metadata (dataset_id, key, value, seq);
)SQL"},
          {"data/003_versions", R"SQL(
CREATE TABLE dataset_versions (
  id TEXT PRIMARY KEY, dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE, name TEXT NOT NULL,
  status INTEGER NOT NULL, description TEXT NOT NULL DEFAULT '', version_format TEXT NOT NULL,
  previous_version_id TEXT, params TEXT NOT NULL, stats TEXT NOT NULL DEFAULT '{}',
  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, UNIQUE (dataset_id, name));
)SQL"},
          // Hourly closing values of the sample counters, for the metrics call.
          {"data/004_metrics", R"SQL(
CREATE TABLE dataset_metrics (
  dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE, hour INTEGER NOT NULL, key TEXT NOT NULL,
  value INTEGER NOT NULL, PRIMARY KEY (dataset_id, key, hour));
)SQL"}};
  for (auto& m : transfer_migrations()) all.push_back(std::move(m));
  // The best confidence of a label on a sample, for the score window filters.
  all.push_back({"data/006_label_scores", "ALTER TABLE sample_labels ADD COLUMN score REAL;"});
  // sample_labels without its rowid (SQLite's WITHOUT ROWID): the primary
  // key is the table, so each label row is one b-tree insert fewer (of
  // seven a labeled sample costs) and ~6% fewer bytes written. Other
  // backends have no rowid to drop: for them the migration is a no-op.
  all.push_back({"data/007_sample_labels_without_rowid", "SELECT 1;", {{"sqlite", R"SQL(
CREATE TABLE sample_labels_new (
  dataset_id TEXT NOT NULL, label_type INTEGER NOT NULL, label_name TEXT NOT NULL, seq INTEGER NOT NULL,
  n INTEGER NOT NULL, score REAL, PRIMARY KEY (dataset_id, label_name, seq, label_type)) WITHOUT ROWID;
INSERT INTO sample_labels_new (dataset_id, label_type, label_name, seq, n, score)
  SELECT dataset_id, label_type, label_name, seq, n, score FROM sample_labels;
DROP TABLE sample_labels;
ALTER TABLE sample_labels_new RENAME TO sample_labels;
CREATE INDEX sample_labels_seq ON sample_labels (dataset_id, seq);
)SQL"}}});
  return all;
}

}  // namespace atelier::data
