#include "data/render.h"

#include "data/counters.h"
#include "data/dataset_rows.h"
#include "data/label_defs.h"
#include "data/types.h"

namespace atelier::data {

json dataset_json(store::Database& db, const store::Row& d, bool with_labels) {
  auto c = counters(db, d.str("id"));
  auto get = [&](const std::string& k) { return c.count(k) ? c[k] : 0; };
  std::string inner = inner_work_path(d);
  json j = json::object();
  j["dataset_id"] = d.str("id");
  j["dataset_name"] = d.str("name");
  j["dataset_type"] = d.i64("type");
  j["dataset_format"] = d.i64("type") == 400 ? 1 : 0;
  json extra = json::parse(d.str("extra"), nullptr, false);
  j["data_format"] = extra.value("data_format", std::string("Default"));
  j["description"] = d.str("description");
  j["status"] = d.i64("status");
  j["create_time"] = d.i64("created_at");
  j["update_time"] = d.i64("updated_at");
  j["data_update_time"] = d.i64("data_updated_at");
  j["data_sources"] = json::parse(d.str("data_sources"), nullptr, false);
  j["work_path"] = d.str("work_path");
  j["work_path_type"] = 0;
  j["inner_work_path"] = inner;
  j["inner_annotation_path"] = inner + "annotation/";
  j["inner_data_path"] = inner + "data/";
  j["inner_log_path"] = inner + "logs/";
  j["inner_temp_path"] = inner + "temp/";
  j["inner_task_path"] = inner + "task/";
  j["current_version_id"] = d.null("current_version_id") ? "" : d.str("current_version_id");
  auto cv = d.null("current_version_id") ? std::nullopt
                                         : db.query_one("SELECT name FROM dataset_versions WHERE id = ?", {d.str("current_version_id")});
  j["current_version_name"] = cv ? cv->str("name") : "";
  j["next_version_num"] = d.i64("next_version_num");
  j["dataset_version_count"] = db.query_one("SELECT COUNT(*) AS n FROM dataset_versions WHERE dataset_id = ?", {d.str("id")})->i64("n");
  j["total_sample_count"] = get("total");
  j["annotated_sample_count"] = get(std::string("state:") + kManual) + get(std::string("state:") + kAuto);
  j["unconfirmed_sample_count"] = get(std::string("state:") + kAuto);
  j["deleted_sample_count"] = get("deleted");
  j["loading_sample_count"] = 0;
  j["total_sub_sample_count"] = 0;
  j["annotated_sub_sample_count"] = 0;
  j["enterprise_project_id"] = d.str("enterprise_project_id");
  j["workspace_id"] = d.str("workspace_id");
  j["label_task_count"] = 0;
  j["workforce_task_count"] = 0;
  j["exist_workforce_task"] = false;
  j["feature_supports"] = json::array({"0"});
  j["managed"] = extra.value("managed", false);
  j["dataset_version"] = "v2";
  j["ai_project"] = "default-ai-project";
  for (const char* k : {"label_format", "schema", "import_data", "content_labeling"})
    if (extra.contains(k)) j[k] = extra[k];
  if (with_labels) {
    json labels = json::array();
    for (auto& r : dataset_labels(db, d.str("id"))) labels.push_back(label_json(r));
    j["labels"] = labels;
  }
  return j;
}

json with_running_tasks(const http::Context& ctx, store::Database& db, tasks::Queue& queue, const store::Row& d, json j) {
  auto v = ctx.req.query_param("check_running_task");
  if (!v || (*v != "true" && *v != "True")) return j;
  std::vector<std::string> resources{d.str("id")};
  for (auto& r : db.query("SELECT id FROM dataset_versions WHERE dataset_id = ?", {d.str("id")})) resources.push_back(r.str("id"));
  auto ids = queue.active_ids(resources);
  j["exist_running_task"] = !ids.empty();
  j["running_tasks_id"] = ids;
  return j;
}

json sample_json(const http::Context& ctx, const store::Row& r, bool labels) {
  json j = json::object();
  j["sample_id"] = r.str("id");
  j["sample_name"] = r.str("name");
  j["sample_type"] = r.i64("type");
  j["sample_status"] = r.str("state");
  j["source"] = ctx.base_url() + "/v2/" + ctx.param("project_id") +
                "/datasets/" + ctx.param("dataset_id") + "/data-annotations/samples/" + r.str("id") + "/content";
  j["sample_dir"] = r.str("dir");
  j["sample_size"] = r.i64("size");
  j["sample_time"] = r.i64("sample_time");
  if (labels) j["labels"] = json::parse(r.str("labels"), nullptr, false);
  j["metadata"] = json::parse(r.str("metadata"), nullptr, false);
  if (!r.null("annotated_by")) j["annotated_by"] = r.str("annotated_by");
  if (!r.null("usage")) j["sample_usage"] = r.str("usage");
  return j;
}

json preview_files(const http::Context& ctx, store::Database& db, const store::Row& d) {
  json out = json::array();
  std::string ds = d.str("id");
  for (auto& r : db.query("SELECT id, name, type, size, created_at FROM samples WHERE dataset_id = ? ORDER BY seq LIMIT 4", {ds}))
    out.push_back({{"file_id", r.str("id")},
                   {"file_Name", r.str("name")},
                   {"file_type", r.i64("type")},
                   {"url", ctx.base_url() + "/v2/" + ctx.param("project_id") + "/datasets/" + ds +
                               "/data-annotations/samples/" + r.str("id") + "/content"},
                   {"create_time", r.i64("created_at")},
                   {"dataset_id", ds},
                   {"size", r.i64("size")},
                   {"tags", json::object()}});
  return out;
}

}  // namespace atelier::data
