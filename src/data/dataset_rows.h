// A dataset's row (table datasets): creating one, finding it in the caller's
// project, and where its inner folders lie.
#pragma once
#include <string>
#include <vector>

#include "common/error.h"
#include "common/json.h"
#include "data/label_defs.h"
#include "http/router.h"
#include "obs/object_store.h"
#include "store/db.h"

namespace atelier::data {

// 400 ModelArts.4352: the dataset does not exist (or is another project's).
ApiError dataset_missing(const std::string& id);

// The dataset's own folder under its work path: <work_path><name>-<id>/.
std::string inner_work_path(const store::Row& d);

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
std::string insert_dataset(store::Database& db, obs::ObjectStore& objects, const NewDataset& n);

// The dataset of the path, in the caller's project; another project's is invisible (4352).
store::Row dataset_in_project(store::Database& db, const http::Context& ctx);

}  // namespace atelier::data
