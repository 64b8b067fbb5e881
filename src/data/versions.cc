// Dataset versions: publishing a manifest of the samples as a task, listing, deleting.
#include "data/api.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <set>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/ids.h"
#include "data/annotation_checks.h"
#include "data/dataset_rows.h"
#include "data/fields.h"
#include "data/label_defs.h"
#include "data/manifest.h"
#include "data/publishing.h"
#include "data/query_params.h"
#include "data/transfer.h"
#include "iam/iam.h"
#include "obs/buckets.h"

#include <spdlog/spdlog.h>

namespace atelier::data {

// Publishing freezes the samples into <inner_annotation_path>Vnnn/Vnnn.manifest
// (plus a VOC file per detection/segmentation sample), reading one snapshot
// of the store; the manifest streams into the object store page by page.
// Writing it again gives the same files, so an interrupted publish resumes.
json DataApi::publish(tasks::TaskContext& tc) {
  const std::string& vid = tc.task().resource_id;
  auto v = db.query_one("SELECT * FROM dataset_versions WHERE id = ?", {vid});
  if (!v) throw ApiError(400, "ModelArts.4353", "Dataset version " + vid + " does not exist.");
  auto d = db.query_one("SELECT * FROM datasets WHERE id = ?", {v->str("dataset_id")});
  if (!d) throw dataset_missing(v->str("dataset_id"));
  std::string ds = d->str("id");
  int type = int(d->i64("type"));
  json params = json::parse(v->str("params"), nullptr, false);
  auto stored_ratio = version_ratio(*v);
  if (!stored_ratio) throw bad_request("The version's train_evaluate_sample_ratio is not a number from 0 to 1.");
  double ratio = *stored_ratio;
  bool clear_hard_fields = params.value("clear_hard_property", true);
  // remove_sample_usage (default): every labeled sample gets the usage of
  // the ratio split; otherwise a sample keeps the usage it has, and only
  // those without one are split.
  bool remove_usage = params.value("remove_sample_usage", true);
  std::string vdir = inner_work_path(*d) + "annotation/" + v->str("name") + "/";
  obs::ObsPath manifest = obs::parse_path(vdir + v->str("name") + ".manifest");
  objects.create_bucket(manifest.bucket);
  int64_t total = 0, annotated = 0;
  std::map<std::pair<int, std::string>, std::pair<int64_t, int64_t>> label_stats;  // count, samples
  bool multi = false;
  json label_defs = json::array();  // the dataset's labels as published
  db.snapshot([&] {
    for (auto& r : dataset_labels(db, ds)) label_defs.push_back(label_json(r));
    int64_t after = 0;
    put_pages(objects, manifest, [&](std::string& pending) {
      auto rows = db.query("SELECT * FROM samples WHERE dataset_id = ? AND seq > ? ORDER BY seq LIMIT 500", {ds, after});
      if (rows.empty()) return false;
      for (auto& r : rows) {
        after = r.i64("seq");
        ManifestSample m = manifest_sample(r, objects, type);
        ++total;
        if (clear_hard_fields) clear_hard(m);
        if (remove_usage) m.usage.clear();
        if (!m.labels.empty()) {
          ++annotated;
          if (m.usage.empty()) m.usage = split_usage(m.id, ratio);
        }
        auto counts = label_counts(m.labels);
        if (counts.size() > 1) multi = true;
        for (auto& [k, n] : counts) {
          label_stats[k].first += n;
          label_stats[k].second += 1;
        }
        pending += manifest_line(m, type, [&](const std::string& xml, std::string_view suffix) {
          obs::ObsPath p = obs::parse_path(vdir + "annotations/" + m.id + std::string(suffix) + ".xml");
          objects.put(p, xml, obs::ObjectStore::Durability::kDeferred);  // synced once below
          return "obs:/" + p.str();
        });
        pending += "\n";
      }
      return true;
    }, [&tc] { return tc.stopping(); });
  });
  objects.sync();  // the VOC files, before the version is marked published
  json ls = json::array();
  for (auto& [k, c] : label_stats) ls.push_back({{"name", k.second}, {"type", k.first}, {"count", c.first}, {"sample_count", c.second}});
  json stats = {{"total_sample_count", total}, {"annotated_sample_count", annotated}, {"label_stats", ls},
                {"label_type", multi ? "multi" : "single"}, {"labels", label_defs}};
  int64_t now = clock::now_ms();
  db.transaction([&] {
    if (!db.exec("UPDATE dataset_versions SET status = 1, stats = ?, updated_at = ? WHERE id = ?", {stats.dump(), now, vid}))
      return;  // deleted meanwhile
    db.exec("UPDATE datasets SET current_version_id = ?, updated_at = ? WHERE id = ?", {vid, now, ds});
  });
  return stats;
}

// A publish that fails leaves its version in status 4 (failed) with the
// reason, never in status 0.
json DataApi::task_dataset_version_publish(tasks::TaskContext& tc) {
  try {
    return publish(tc);
  } catch (const std::exception& e) {
    json why = {{"failed_reason", std::string("Publishing failed: ") + e.what()}};
    db.exec("UPDATE dataset_versions SET status = 4, stats = ?, updated_at = ? WHERE id = ? AND status = 0",
            {why.dump(-1, ' ', false, json::error_handler_t::replace), clock::now_ms(), tc.task().resource_id});
    throw;
  }
}

json DataApi::version_json(const Row& v, const Row& d) {
  json stats = json::parse(v.str("stats"), nullptr, false);
  json params = json::parse(v.str("params"), nullptr, false);
  std::string vdir = inner_work_path(d) + "annotation/" + v.str("name") + "/";
  json j = json::object();
  j["version_id"] = v.str("id");
  j["version_name"] = v.str("name");
  j["version_format"] = v.str("version_format");
  j["description"] = v.str("description");
  j["status"] = v.i64("status");
  j["is_current"] = !d.null("current_version_id") && d.str("current_version_id") == v.str("id");
  j["previous_version_id"] = v.null("previous_version_id") ? "" : v.str("previous_version_id");
  j["create_time"] = v.i64("created_at");
  j["update_time"] = v.i64("updated_at");
  j["total_sample_count"] = stats.value("total_sample_count", int64_t(0));
  j["annotated_sample_count"] = stats.value("annotated_sample_count", int64_t(0));
  j["label_stats"] = stats.value("label_stats", json::array());
  j["label_type"] = stats.value("label_type", std::string("single"));
  if (stats.contains("failed_reason")) j["failed_reason"] = stats["failed_reason"];
  j["manifest_path"] = vdir + v.str("name") + ".manifest";
  j["data_path"] = vdir + "data/";
  j["task_type"] = d.i64("type");
  for (const char* k : {"train_evaluate_sample_ratio", "remove_sample_usage", "clear_hard_property", "export_images",
                        "with_column_header"})
    if (params.contains(k)) j[k] = params[k];
  j["tags"] = json::array();
  (void)db;
  return j;
}

Row DataApi::version_row(const std::string& ds, const std::string& vid) {
  auto r = db.query_one("SELECT * FROM dataset_versions WHERE id = ? AND dataset_id = ?", {vid, ds});
  if (!r) throw ApiError(400, "ModelArts.4353", "Dataset version " + vid + " does not exist.");
  return *r;
}

Response DataApi::list_versions(Context& ctx) {
  auto d = dataset(ctx);
  std::string sql = " FROM dataset_versions WHERE dataset_id = ?";
  store::Params p{d.str("id")};
  if (auto st = query_int(ctx, "status")) {
    sql += " AND status = ?";
    p.push_back(*st);
  }
  if (auto f = query_version_format(ctx)) {
    sql += " AND version_format = ?";
    p.push_back(*f);
  }
  auto ratio = query_ratio_range(ctx);
  auto lim = query_int(ctx, "limit").value_or(1000);
  auto off = query_int(ctx, "offset").value_or(0);
  if (lim < 1 || lim > 1000) throw bad_request("Invalid parameter limit: must be between 1 and 1000");
  if (off < 0) throw bad_request("Invalid parameter offset: must not be negative");
  // A dataset has few versions: filter the split ratio (kept in the publish
  // parameters) here rather than in SQL.
  std::vector<Row> matched;
  for (auto& v : db.query("SELECT *" + sql + " ORDER BY created_at DESC, id DESC", p)) {
    double r = version_ratio(v).value_or(1.0);
    if (!ratio || (r >= ratio->first - 1e-9 && r <= ratio->second + 1e-9)) matched.push_back(v);
  }
  json list = json::array();
  for (size_t i = size_t(off) * size_t(lim); i < matched.size() && list.size() < size_t(lim); ++i)
    list.push_back(version_json(matched[i], d));
  return json_response(200, {{"total_number", matched.size()}, {"versions", list}});
}

Response DataApi::create_version(Context& ctx) {
  auto d = dataset(ctx);
  auto in = ctx.in(/*allow_empty=*/true);
  auto name = in.opt_str("version_name");
  if (name) check_name(in, "version_name", *name, 32);
  std::string format = in.opt_str("version_format").value_or("Default");
  if (format != "Default" && format != "CarbonData" && format != "CSV")
    in.fail("version_format", "must be Default, CarbonData or CSV");
  std::string desc = in.opt_str("description").value_or("");
  check_description(in, desc);
  std::string ratio = in.opt_str("train_evaluate_sample_ratio").value_or("1.00");
  if (!parse_ratio(ratio)) in.fail("train_evaluate_sample_ratio", "must be a number from 0 to 1, e.g. \"0.80\"");
  json params = {{"train_evaluate_sample_ratio", ratio},
                 {"remove_sample_usage", in.opt_bool("remove_sample_usage").value_or(true)},
                 {"clear_hard_property", in.opt_bool("clear_hard_property").value_or(true)},
                 {"export_images", in.opt_bool("export_images").value_or(false)},
                 {"with_column_header", in.opt_bool("with_column_header").value_or(true)}};
  std::string vid = ids::base62_19();
  db.transaction([&] {
    auto cur = db.query_one("SELECT next_version_num, current_version_id FROM datasets WHERE id = ?", {d.str("id")});
    int64_t num = cur->i64("next_version_num");
    char auto_name[16];
    std::snprintf(auto_name, sizeof auto_name, "V%03lld", static_cast<long long>(num));
    std::string vname = name.value_or(auto_name);
    if (db.query_one("SELECT 1 FROM dataset_versions WHERE dataset_id = ? AND name = ?", {d.str("id"), vname}))
      throw ApiError(400, "ModelArts.4371", "Version name " + vname + " already exists.");
    int64_t now = clock::now_ms();
    db.exec("INSERT INTO dataset_versions (id, dataset_id, name, status, description, version_format, previous_version_id, "
            "params, created_at, updated_at) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?)",
            {vid, d.str("id"), vname, desc, format, cur->null("current_version_id") ? store::Value() : store::Value(cur->str("current_version_id")),
             params.dump(), now, now});
    db.exec("UPDATE datasets SET next_version_num = next_version_num + 1 WHERE id = ?", {d.str("id")});
    queue.submit("dataset-version-publish", ctx.caller.project_id, vid, {{"dataset_id", d.str("id")}});
  });
  return json_response(201, {{"version_id", vid}});
}

Response DataApi::get_version(Context& ctx) {
  auto d = dataset(ctx);
  auto v = version_row(d.str("id"), ctx.param("version_id"));
  auto fresh = db.query_one("SELECT * FROM datasets WHERE id = ?", {d.str("id")});
  return json_response(200, version_json(v, *fresh));
}

Response DataApi::delete_version(Context& ctx) {
  auto d = dataset(ctx);
  auto v = version_row(d.str("id"), ctx.param("version_id"));
  db.transaction([&] {
    db.exec("DELETE FROM dataset_versions WHERE id = ?", {v.str("id")});
    // The newest remaining published version becomes current.
    auto prev = db.query_one("SELECT id FROM dataset_versions WHERE dataset_id = ? AND status = 1 "
                             "ORDER BY created_at DESC, id DESC LIMIT 1",
                             {d.str("id")});
    db.exec("UPDATE datasets SET current_version_id = ? WHERE id = ? AND current_version_id = ?",
            {prev ? store::Value(prev->str("id")) : store::Value(), d.str("id"), v.str("id")});
  });
  auto dir = obs::parse_path(inner_work_path(d) + "annotation/" + v.str("name") + "/");
  objects.each(dir.bucket, dir.key, [&](const obs::ObjectInfo& o) { objects.remove(obs::ObsPath{dir.bucket, o.key}); });
  return http::no_content(204);
}

}  // namespace atelier::data
