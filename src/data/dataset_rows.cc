#include "data/dataset_rows.h"

#include "common/clock.h"
#include "common/ids.h"
#include "data/fields.h"
#include "data/label_defs.h"

namespace atelier::data {

ApiError dataset_missing(const std::string& id) { return ApiError(400, "ModelArts.4352", "Dataset " + id + " does not exist."); }

std::string inner_work_path(const store::Row& d) { return d.str("work_path") + d.str("name") + "-" + d.str("id") + "/"; }

std::string insert_dataset(store::Database& db, obs::ObjectStore& objects, const NewDataset& n) {
  std::string id = ids::base62_19();
  int64_t now = clock::now_ms();
  db.transaction([&] {
    if (db.query_one("SELECT 1 FROM datasets WHERE project_id = ? AND name = ?", {n.project_id, n.name}))
      throw ApiError(400, "ModelArts.4351", "Dataset name " + n.name + " already exists.");
    db.exec("INSERT INTO datasets (id, project_id, name, type, description, status, work_path, data_sources, extra, "
            "workspace_id, created_at, updated_at, data_updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)",
            {id, n.project_id, n.name, n.type, n.description, obs_str(n.work_path), n.data_sources.dump(), n.extra.dump(),
             n.workspace_id, now, now, now});
    insert_labels(db, id, n.labels);
    // Buckets of the embedded store come into being on first use.
    objects.create_bucket(n.work_path.bucket);
    for (auto& s : n.data_sources)
      if (s.is_object() && s.contains("data_path") && s["data_path"].is_string())
        objects.create_bucket(obs::parse_path(s["data_path"].get<std::string>()).bucket);
  });
  return id;
}

store::Row dataset_in_project(store::Database& db, const http::Context& ctx) {
  auto r = db.query_one("SELECT * FROM datasets WHERE id = ? AND project_id = ? AND status <> 2",
                        {ctx.param("dataset_id"), ctx.caller.project_id});
  if (!r) throw dataset_missing(ctx.param("dataset_id"));
  return *r;
}

}  // namespace atelier::data
