#include "data/data.h"

#include "data/core.h"
#include "data/manifest.h"
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


// ================================================================== routes

std::vector<Route> routes(Database& db, obs::ObjectStore& objects, tasks::Runner& runner) {
  std::vector<Route> out;
  auto add = [&](std::string method, std::string path, std::string action, std::vector<std::string> depends,
                 http::RouteHandler h) {
    out.push_back(v2_route(std::move(method), std::move(path), std::move(action), std::move(depends), std::move(h)));
  };
  auto dataset = [&db](const Context& ctx) { return dataset_in_project(db, ctx); };
  auto touch = [&db](const std::string& ds) {
    int64_t now = clock::now_ms();
    db.exec("UPDATE datasets SET data_updated_at = ?, updated_at = ? WHERE id = ?", {now, now, ds});
  };

  // Brings the files under a folder in as samples (dataset creation, sync).
  // One transaction per listing page, so a large folder does not hold the
  // write lock; inside a caller's transaction the pages join it.
  // New files also bring the annotations their folder layout gives them
  // (class folders, labels or VOC beside them; §1.2.1 "new files and
  // annotations") unless the dataset was created with import_annotations
  // false. A file whose annotations do not fit comes in unlabeled (§5.4);
  // files already samples are left as they are.
  auto scan_folder = [&db, &objects](const std::string& ds, int type, const obs::ObsPath& folder, int64_t& added,
                                     const std::function<bool()>& stop = nullptr) {
    bool annotations = type == 0 || type == 200 || type == 1 || type == 3;
    if (annotations) {
      auto d = db.query_one("SELECT extra FROM datasets WHERE id = ?", {ds});
      json extra = d ? json::parse(d->str("extra"), nullptr, false) : json();
      if (extra.is_object() && extra.contains("import_annotations") && extra["import_annotations"] == false) annotations = false;
    }
    std::string marker;
    for (;;) {
      if (stop && stop()) return;
      auto page = objects.list(folder.bucket, folder.key, "", marker, 1000);
      // Annotations are read (outside the write lock) for the files that are new.
      std::map<std::string, std::pair<json, json>> found;  // key -> labels, metadata
      if (annotations) {
        std::set<std::string> known;
        store::Params probe{ds};
        std::string in;
        for (auto& o : page.objects)
          if (extension_fits(type, o.key)) {
            in += in.empty() ? "?" : ", ?";
            probe.push_back("/" + folder.bucket + "/" + o.key);
          }
        if (!in.empty())
          for (auto& r : db.query("SELECT path FROM samples WHERE dataset_id = ? AND path IN (" + in + ")", probe))
            known.insert(r.str("path"));
        auto scan = objects.scanner();
        for (auto& o : page.objects) {
          if (!extension_fits(type, o.key) || known.count("/" + folder.bucket + "/" + o.key)) continue;
          json md = json::object();
          try {
            json labels = folder_annotations(*scan, folder.bucket, folder.key, o.key, type, md);
            if (!labels.empty()) found[o.key] = {std::move(labels), std::move(md)};
          } catch (const ManifestError&) {
          }
        }
      }
      db.transaction([&] {
        int64_t seq = db.query_one("SELECT sample_seq FROM datasets WHERE id = ?", {ds})->i64("sample_seq");
        SampleWriter w(db, ds);
        auto defined = found.empty() ? std::set<std::pair<int, std::string>>() : defined_labels(db, ds);
        for (auto& o : page.objects) {
          if (!extension_fits(type, o.key)) continue;
          SampleWriter::NewSample s;
          if (auto f = found.find(o.key); f != found.end()) {
            try {
              SampleFacts facts{type, int64_t(o.size), f->second.second};
              s.labels = adopt_labels(db, ds, type, f->second.first, facts, defined, "human");
              s.metadata = f->second.second;
              s.annotated_by = "human";
            } catch (const ApiError&) {
              s.labels = json::array();  // does not fit: the file comes in unlabeled
              s.metadata = json::object();
              s.annotated_by.clear();
            }
          }
          std::string uri = "/" + folder.bucket + "/" + o.key;
          s.path = uri;
          s.name = o.key.substr(o.key.rfind('/') + 1);
          s.dir = "/" + folder.bucket + "/" + o.key.substr(0, o.key.rfind('/') + 1);
          s.type = sample_type_for(type);
          s.size = int64_t(o.size);
          s.sample_time = o.mtime_ms;
          if (is_text_type(type)) {
            auto text = objects.get_all(obs::ObsPath{folder.bucket, o.key});
            if (text) s.size = int64_t(utf8_length(*text));
          }
          if (w.insert(s, seq)) ++added;
        }
        w.commit();
        db.exec("UPDATE datasets SET sample_seq = ? WHERE id = ?", {seq, ds});
      });
      if (!page.truncated) break;
      marker = page.next_marker;
    }
  };

  // ---------------------------------------------------------------- versions (§1.3)

  // Publishing freezes the samples into <inner_annotation_path>Vnnn/Vnnn.manifest
  // (plus a VOC file per detection/segmentation sample), reading one snapshot
  // of the store; the manifest streams into the object store page by page.
  // Writing it again gives the same files, so an interrupted publish resumes.
  auto publish = [&db, &objects](tasks::TaskContext& tc) -> json {
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
  };
  // A publish that fails leaves its version in status 4 (failed) with the
  // reason, never in status 0.
  runner.handle("dataset-version-publish", [&db, publish](tasks::TaskContext& tc) -> json {
    try {
      return publish(tc);
    } catch (const std::exception& e) {
      json why = {{"failed_reason", std::string("Publishing failed: ") + e.what()}};
      db.exec("UPDATE dataset_versions SET status = 4, stats = ?, updated_at = ? WHERE id = ? AND status = 0",
              {why.dump(-1, ' ', false, json::error_handler_t::replace), clock::now_ms(), tc.task().resource_id});
      throw;
    }
  }, /*resumable=*/true);

  auto version_json = [&db](const Row& v, const Row& d) {
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
  };
  auto version_row = [&db](const std::string& ds, const std::string& vid) {
    auto r = db.query_one("SELECT * FROM dataset_versions WHERE id = ? AND dataset_id = ?", {vid, ds});
    if (!r) throw ApiError(400, "ModelArts.4353", "Dataset version " + vid + " does not exist.");
    return *r;
  };

  add("GET", "/datasets/{dataset_id}/versions", "modelarts:dataset:get", {}, [&db, dataset, version_json](Context& ctx) {
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
  });
  add("POST", "/datasets/{dataset_id}/versions", "modelarts:dataset:publishVersion", {"obs:object:PutObject"},
      [&db, &runner, dataset](Context& ctx) {
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
          runner.submit("dataset-version-publish", ctx.caller.project_id, vid, {{"dataset_id", d.str("id")}});
        });
        return json_response(201, {{"version_id", vid}});
      });
  add("GET", "/datasets/{dataset_id}/versions/{version_id}", "modelarts:dataset:get", {},
      [&db, dataset, version_row, version_json](Context& ctx) {
        auto d = dataset(ctx);
        auto v = version_row(d.str("id"), ctx.param("version_id"));
        auto fresh = db.query_one("SELECT * FROM datasets WHERE id = ?", {d.str("id")});
        return json_response(200, version_json(v, *fresh));
      });
  add("DELETE", "/datasets/{dataset_id}/versions/{version_id}", "modelarts:dataset:deleteVersion",
      {"obs:bucket:ListAllMyBuckets", "obs:bucket:ListBucket", "obs:object:DeleteObject"},
      [&db, &objects, dataset, version_row](Context& ctx) {
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
      });

  // ---------------------------------------------------------------- sync (§1.2)

  // Rescans the input folders: new files become samples, samples whose file
  // is gone are removed. Safe to run again, so an interrupted sync resumes.
  runner.handle("dataset-sync", [&db, &objects, scan_folder](tasks::TaskContext& tc) -> json {
    const std::string& ds = tc.task().resource_id;
    auto d = db.query_one("SELECT * FROM datasets WHERE id = ?", {ds});
    if (!d) throw dataset_missing(ds);
    int type = int(d->i64("type"));
    int64_t added = 0, removed = 0, after = 0;
    for (;;) {
      if (tc.stopping()) return json::object();
      auto rows = db.query("SELECT * FROM samples WHERE dataset_id = ? AND seq > ? ORDER BY seq LIMIT 1000", {ds, after});
      if (rows.empty()) break;
      std::vector<Row> gone;
      for (auto& r : rows) {
        after = r.i64("seq");
        bool present = false;
        try {
          present = bool(objects.head(obs::parse_path(r.str("path"))));
        } catch (const ApiError&) {
        }
        if (!present) gone.push_back(r);
      }
      if (!gone.empty()) {
        db.transaction([&] {
          SampleWriter w(db, ds);
          for (auto& r : gone) w.remove(r);
          w.commit();
        });
        removed += int64_t(gone.size());
      }
      tc.progress({{"added", added}, {"removed", removed}});
    }
    json sources = json::parse(d->str("data_sources"), nullptr, false);
    if (sources.is_array())
      for (auto& s : sources) {
        if (!s.is_object() || !s.contains("data_path") || !s["data_path"].is_string()) continue;
        scan_folder(ds, type, obs::parse_path(s["data_path"].get<std::string>()), added, [&tc] { return tc.stopping(); });
        tc.progress({{"added", added}, {"removed", removed}});
      }
    if (added || removed) {
      int64_t now = clock::now_ms();
      db.exec("UPDATE datasets SET data_updated_at = ?, updated_at = ? WHERE id = ?", {now, now, ds});
    }
    auto c = db.query_one("SELECT value FROM dataset_counters WHERE dataset_id = ? AND key = 'total'", {ds});
    return {{"add_sample_count", added}, {"deleted_sample_count", removed}, {"total_sample_count", c ? c->i64("value") : 0}};
  }, /*resumable=*/true);

  add("POST", "/datasets/{dataset_id}/sync-data", "modelarts:dataset:updateDataset",
      {"obs:bucket:ListBucket", "obs:bucket:ListAllMyBuckets"}, [&runner, dataset](Context& ctx) {
        auto d = dataset(ctx);
        if (runner.active("dataset-sync", d.str("id")))
          throw ApiError(400, "ModelArts.4355", "A synchronisation of dataset " + d.str("id") + " is already running.");
        std::string id = runner.submit("dataset-sync", ctx.caller.project_id, d.str("id"), json::object());
        return json_response(200, {{"task_id", id}});
      });
  add("GET", "/datasets/{dataset_id}/sync-data/status", "modelarts:dataset:getDataset", {}, [&runner, dataset](Context& ctx) {
    auto d = dataset(ctx);
    auto t = runner.latest("dataset-sync", d.str("id"));
    if (!t) return json_response(200, {{"dataset_id", d.str("id")}, {"status", "NOT_EXIST"}});
    std::string status = t->status == "QUEUING" ? "QUEUING" : t->status;
    int64_t end = t->ended_at ? t->ended_at : clock::now_ms();
    json body = {{"task_id", t->id},
                 {"dataset_id", d.str("id")},
                 {"status", status},
                 {"create_time", t->created_at},
                 {"duration_time", t->started_at ? end - t->started_at : 0}};
    const json& counts = t->status == "COMPLETED" ? t->result : t->progress;
    body["add_sample_count"] = counts.value("add_sample_count", counts.value("added", int64_t(0)));
    body["deleted_sample_count"] = counts.value("deleted_sample_count", counts.value("removed", int64_t(0)));
    if (counts.contains("total_sample_count")) body["total_sample_count"] = counts["total_sample_count"];
    if (t->status == "FAILED") {
      body["error_code"] = t->error_code;
      body["error_msg"] = t->error_msg;
    }
    return json_response(200, body);
  });

  // ---------------------------------------------------------------- datasets (§1.1)

  add("POST", "/datasets", "modelarts:dataset:create",
      {"obs:bucket:HeadBucket", "obs:bucket:ListBucket", "obs:object:PutObject", "obs:bucket:ListAllMyBuckets"},
      [&db, &objects, &runner](Context& ctx) {
        auto in = ctx.in();
        std::string name = in.str("dataset_name");
        check_name(in, "dataset_name", name, 100);
        int type = int(in.opt_int("dataset_type", 0, 100000).value_or(0));
        if (!kDatasetTypes.count(type)) in.fail("dataset_type", "must be one of 0, 1, 3, 100, 101, 102, 200, 201, 202, 400, 600, 900");
        std::string desc = in.opt_str("description").value_or("");
        check_description(in, desc);
        if (auto t = in.opt_int("work_path_type", 0, 100); t && *t != 0) in.fail("work_path_type", "must be 0 (OBS)");
        obs::ObsPath work = folder_path(in, "work_path", in.str("work_path"));
        json sources = json::array();
        std::vector<obs::ObsPath> inputs;
        if (in.has("data_sources")) {
          const json& ds = in.arr("data_sources");
          for (size_t i = 0; i < ds.size(); ++i) {
            std::string f = "data_sources[" + std::to_string(i) + "]";
            if (!ds[i].is_object()) in.fail(f.c_str(), "must be an object");
            JsonIn src(ds[i], in.field(f.c_str()));
            if (auto t = src.opt_int("data_type", 0, 6); t && *t != 0) src.fail("data_type", "only 0 (OBS) is supported");
            auto p = folder_path(src, "data_path", src.str("data_path"));
            std::string wp = obs_str(work), ip = obs_str(p);
            if (wp.rfind(ip, 0) == 0) in.fail("work_path", "must not be the input path or inside it");
            inputs.push_back(p);
            json s = ds[i];
            s["data_type"] = 0;
            sources.push_back(s);
          }
        }
        std::vector<LabelDef> labels;
        if (in.has("labels")) {
          const json& ls = in.arr("labels");
          for (size_t i = 0; i < ls.size(); ++i) {
            std::string f = "labels[" + std::to_string(i) + "]";
            if (!ls[i].is_object()) in.fail(f.c_str(), "must be an object");
            labels.push_back(read_label(JsonIn(ls[i], in.field(f.c_str())), type));
          }
        }
        json extra = json::object();
        for (const char* k : {"label_format", "schema", "import_annotations", "import_data", "data_format", "managed",
                              "content_labeling", "workforce_information"})
          if (in.has(k)) extra[k] = in.node()[k];
        if (extra.contains("data_format")) {
          if (!extra["data_format"].is_string() || (extra["data_format"] != "Default" && extra["data_format"] != "CarbonData"))
            in.fail("data_format", "must be Default or CarbonData");
        }
        if (extra.contains("managed") && !extra["managed"].is_boolean()) in.fail("managed", "must be a boolean");
        std::string workspace = in.opt_str("workspace_id").value_or("0");
        std::string id = insert_dataset(db, objects, NewDataset{ctx.caller.project_id, name, type, desc, work, sources,
                                                                labels, extra, workspace});
        json out = {{"dataset_id", id}};
        // Files already in the input folders come in through a sync task.
        if (!inputs.empty()) out["import_task_id"] = runner.submit("dataset-sync", ctx.caller.project_id, id, json::object());
        return json_response(201, out);
      });

  add("GET", "/datasets", "modelarts:dataset:list", {}, [&db, &runner](Context& ctx) {
    std::string sql = " FROM datasets WHERE project_id = ? AND status <> 2";
    store::Params p{ctx.caller.project_id};
    if (auto v = qp(ctx, "search_content"); v && !v->empty()) {
      sql += " AND " + store::contains_ci("name");
      p.push_back(store::contains_ci_pattern(*v));
    }
    if (auto t = query_int(ctx, "dataset_type")) {
      sql += " AND type = ?";
      p.push_back(*t);
    }
    if (query_bool(ctx, "support_export", false)) sql += " AND type IN (0, 1, 900)";
    if (query_bool(ctx, "contain_versions", false))
      sql += " AND EXISTS (SELECT 1 FROM dataset_versions v WHERE v.dataset_id = datasets.id)";
    if (auto w = qp(ctx, "workspace_id")) {
      sql += " AND workspace_id = ?";
      p.push_back(*w);
    }
    if (auto f = query_version_format(ctx)) {
      sql += " AND EXISTS (SELECT 1 FROM dataset_versions v WHERE v.dataset_id = datasets.id AND v.version_format = ?)";
      p.push_back(*f);
    }
    if (auto ratio = query_ratio_range(ctx)) {
      // Datasets with a version whose split lies in the range; the ratio lives
      // in the versions' publish parameters, so it is matched here.
      std::set<std::string> ids;
      for (auto& v : db.query("SELECT v.dataset_id, v.params FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id "
                              "WHERE d.project_id = ?", {ctx.caller.project_id})) {
        double r = version_ratio(v).value_or(1.0);
        if (r >= ratio->first - 1e-9 && r <= ratio->second + 1e-9) ids.insert(v.str("dataset_id"));
      }
      sql += " AND id IN (NULL";
      for (auto& id : ids) {
        sql += ", ?";
        p.push_back(id);
      }
      sql += ")";
    }
    if (auto dv = qp(ctx, "dataset_version")) {
      // Every dataset here is of the decoupled (v2) generation.
      if (*dv != "v1" && *dv != "v2" && *dv != "all") throw bad_request("Invalid parameter dataset_version: must be v1, v2 or all");
      if (*dv == "v1") sql += " AND 1 = 0";
    }
    std::string sort = qp(ctx, "sort_by") ? *qp(ctx, "sort_by") : "create_time";
    if (sort != "create_time" && sort != "dataset_name") throw bad_request("Invalid parameter sort_by: must be create_time or dataset_name");
    std::string order = qp(ctx, "order") ? *qp(ctx, "order") : "desc";
    if (order != "asc" && order != "desc") throw bad_request("Invalid parameter order: must be asc or desc");
    bool with_labels = query_bool(ctx, "with_labels", false);
    bool file_preview = query_bool(ctx, "file_preview", false);
    auto [skip, limit] = page(ctx, 10, 100);
    int64_t total = db.query_one("SELECT COUNT(*) AS n" + sql, p)->i64("n");
    p.push_back(limit);
    p.push_back(skip);
    json list = json::array();
    for (auto& r : db.query("SELECT *" + sql + " ORDER BY " + (sort == "create_time" ? "created_at" : "name") + " " + order +
                                ", id " + order + " LIMIT ? OFFSET ?",
                            p)) {
      json j = with_running_tasks(ctx, db, runner, r, dataset_json(db, r, with_labels));
      if (file_preview) j["samples"] = preview_files(ctx, db, r);
      list.push_back(std::move(j));
    }
    return json_response(200, {{"total_number", total}, {"datasets", list}});
  });

  add("GET", "/datasets/{dataset_id}", "modelarts:dataset:get", {}, [&db, &runner, dataset](Context& ctx) {
    auto d = dataset(ctx);
    return json_response(200, with_running_tasks(ctx, db, runner, d, dataset_json(db, d, true)));
  });

  add("DELETE", "/datasets/{dataset_id}", "modelarts:dataset:delete",
      {"obs:bucket:ListAllMyBuckets", "obs:bucket:ListBucket", "obs:object:DeleteObject"},
      [&db, &objects, dataset](Context& ctx) {
        auto d = dataset(ctx);
        std::string id = d.str("id");
        db.transaction([&] {
          db.exec("DELETE FROM sample_labels WHERE dataset_id = ?", {id});
          db.exec("DELETE FROM sample_metadata WHERE dataset_id = ?", {id});
          db.exec("DELETE FROM samples WHERE dataset_id = ?", {id});
          db.exec("DELETE FROM dataset_counters WHERE dataset_id = ?", {id});
          db.exec("DELETE FROM dataset_labels WHERE dataset_id = ?", {id});
          db.exec("DELETE FROM datasets WHERE id = ?", {id});
        });
        // The work files go with the dataset; the source data stays (§1.1.5).
        auto inner = obs::parse_path(inner_work_path(d));
        objects.each(inner.bucket, inner.key, [&](const obs::ObjectInfo& o) { objects.remove(obs::ObsPath{inner.bucket, o.key}); });
        return http::no_content(204);
      });

  add("GET", "/datasets/{dataset_id}/data-annotations/stats", "modelarts:dataset:get", {}, [&db, dataset](Context& ctx) {
    auto d = dataset(ctx);
    auto c = counters(db, d.str("id"));
    auto get = [&](const std::string& k) { return c.count(k) ? c[k] : 0; };
    int64_t manual = get(std::string("state:") + kManual), autos = get(std::string("state:") + kAuto);
    int64_t total = get("total");
    json sample_stats = {{"all", total},
                         {"total", total},
                         {"un_annotation", get(std::string("state:") + kUnannotated)},
                         {"manual_annotation", manual},
                         {"auto_annotation", autos},
                         {"deleted", get("deleted")},
                         {"lefted", total}};
    json label_stats = json::array();
    json grouped = json::object();
    for (auto& r : dataset_labels(db, d.str("id"))) {
      json l = label_json(r);
      int t = int(r.i64("type"));
      l["count"] = get(label_key("lc", t, r.str("name")));
      l["sample_count"] = get(label_key("ls", t, r.str("name")));
      grouped[std::to_string(t)].push_back(l);
      label_stats.push_back(std::move(l));
    }
    int64_t hard = get("hard");
    // Reasons of §1.0.8 seen on hard samples, with how often.
    static const char* kReasons[] = {
        "no target object recognised", "low prediction confidence",
        "clustering result on training set disagrees with prediction",
        "prediction differs strongly from same-class training data",
        "predictions of consecutive similar images disagree", "image resolution deviates from training-set distribution",
        "image aspect ratio deviates", "image brightness deviates", "image saturation deviates",
        "image colourfulness deviates", "image sharpness deviates", "number of boxes deviates",
        "std-dev of box areas deviates", "box aspect ratio deviates", "box area ratio deviates",
        "box edge (marginalisation) deviates", "box brightness deviates", "box sharpness deviates",
        "box stacking (overlap) deviates", "gaussianblur augmentation prediction disagrees with original",
        "fliplr augmentation disagrees", "crop augmentation disagrees", "flipud augmentation disagrees",
        "scale augmentation disagrees", "translate augmentation disagrees", "shear augmentation disagrees",
        "superpixels augmentation disagrees", "sharpen augmentation disagrees", "add augmentation disagrees",
        "invert augmentation disagrees", "sample predicted as an outlier"};
    static const char* kReasonsZh[] = {
        "未识别出目标", "预测置信度偏低", "训练集聚类结果与预测结果不一致", "预测结果与同类别训练数据差异较大",
        "连续相似图片的预测结果不一致", "图像分辨率与训练集分布偏离", "图像宽高比偏离", "图像亮度偏离",
        "图像饱和度偏离", "图像色彩丰富度偏离", "图像清晰度偏离", "框的数量偏离", "框面积标准差偏离",
        "框宽高比偏离", "框面积占比偏离", "框边缘化程度偏离", "框亮度偏离", "框清晰度偏离", "框堆叠程度偏离",
        "gaussianblur 数据增强后的预测结果与原图不一致", "fliplr 数据增强后的预测结果不一致",
        "crop 数据增强后的预测结果不一致", "flipud 数据增强后的预测结果不一致", "scale 数据增强后的预测结果不一致",
        "translate 数据增强后的预测结果不一致", "shear 数据增强后的预测结果不一致",
        "superpixels 数据增强后的预测结果不一致", "sharpen 数据增强后的预测结果不一致",
        "add 数据增强后的预测结果不一致", "invert 数据增强后的预测结果不一致", "样本被预测为离群点"};
    const char* const* reasons = kReasons;
    if (auto loc = qp(ctx, "locale")) {
      std::string l = *loc;
      for (char& c : l) c = char(std::tolower(static_cast<unsigned char>(c)));
      if (l == "zh-cn") reasons = kReasonsZh;
      else if (l != "en-us") throw bad_request("Invalid parameter locale: must be en-us or zh-cn");
    }
    json hard_details = json::object();
    for (int i = 0; i <= 30; ++i) {
      int64_t n = get("hr:" + std::to_string(i));
      if (n > 0)
        hard_details[std::to_string(i)] = {{"key", n},
                                           {"value", {{"id", i}, {"alo_name", ""}, {"reason", reasons[i]}, {"suggestion", ""}}}};
    }
    json body = {{"label_stats", label_stats},
                 {"grouped_label_stats", grouped},
                 {"sample_stats", sample_stats},
                 {"key_sample_stats", {{"total", total}, {"key_sample", hard}, {"non_key_sample", total - hard}}},
                 {"hard_detail_stats", hard_details},
                 {"metadata_stats", json::object()},
                 {"deletion_stats", json::object()},
                 {"data_path", inner_work_path(d) + "data/"},
                 {"data_spliting_enable", manual + autos > 0}};
    return json_response(200, body);
  });

  add("GET", "/datasets/{dataset_id}/metrics", "modelarts:dataset:get", {}, [&db, dataset](Context& ctx) {
    auto d = dataset(ctx);
    auto s = qp(ctx, "start_time"), e = qp(ctx, "end_time");
    if (!s || !e) throw bad_request(std::string("Invalid parameter ") + (s ? "end_time" : "start_time") + ": is required");
    auto num = [&](const char* k, const std::string& v) {
      if (v.empty() || v.size() > 15 || v.find_first_not_of("0123456789") != std::string::npos)
        throw bad_request(std::string("Invalid parameter ") + k + ": must be epoch milliseconds");
      return int64_t(std::stoll(v));
    };
    int64_t from = num("start_time", *s), to = num("end_time", *e);
    if (to < from) throw bad_request("Invalid parameter end_time: must not be before start_time");
    // Values per hour (the hour's last value), keyed by the hour's start.
    json metrics = {{"total", json::object()}, {"un_annotation", json::object()}, {"manual_annotation", json::object()}};
    // Auto-labeling queue metrics: no smart tasks run here, so they stay empty
    // (the spec allows empty maps) rather than missing.
    for (const char* k : {"queuing", "success", "unfinished", "failed", "failed_user", "failed_system"}) metrics[k] = json::object();
    for (auto& r : db.query("SELECT hour, key, value FROM dataset_metrics WHERE dataset_id = ? AND hour >= ? AND hour <= ? "
                            "ORDER BY hour",
                            {d.str("id"), from / 3600000 * 3600000, to}))
      metrics[r.str("key") == "total" ? "total" : r.str("key") == "state:UN_ANNOTATION" ? "un_annotation" : "manual_annotation"]
             [std::to_string(r.i64("hour"))] = r.i64("value");
    return json_response(200, {{"metrics", metrics}});
  });

  // ---------------------------------------------------------------- labels (§1.5)

  auto read_labels_body = [](Context& ctx, int type) {
    auto in = ctx.in();
    const json& ls = in.arr("labels");
    std::vector<LabelDef> v;
    for (size_t i = 0; i < ls.size(); ++i) {
      std::string f = "labels[" + std::to_string(i) + "]";
      if (!ls[i].is_object()) in.fail(f.c_str(), "must be an object");
      v.push_back(read_label(JsonIn(ls[i], in.field(f.c_str())), type));
    }
    return v;
  };
  // Rewrites every sample carrying label (type, name): drop it, or rename it.
  // delete_policy (§1.5.4): 0 keep samples, 1 delete the samples carrying the
  // label, 2 also their files. With only_label_samples (§1.5.6), samples go
  // only when it was their only label (and their files with policy 2).
  auto rewrite_label = [&db](const std::string& ds, int type, const std::string& name, const std::string* rename_to,
                             int delete_policy, obs::ObjectStore* objects, bool only_label_samples) {
    SampleWriter w(db, ds);
    auto rows = db.query("SELECT s.* FROM samples s JOIN sample_labels l ON l.dataset_id = s.dataset_id AND l.seq = s.seq "
                         "WHERE l.dataset_id = ? AND l.label_type = ? AND l.label_name = ?",
                         {ds, type, name});
    // Files are removed only from the buckets of the dataset's account.
    std::string domain;
    if (delete_policy == 2 && objects)
      if (auto p = db.query_one("SELECT project_id FROM datasets WHERE id = ?", {ds})) domain = iam::project_domain(db, p->str("project_id"));
    obs::Buckets owners(db);
    for (auto& r : rows) {
      json labels = json::parse(r.str("labels"), nullptr, false);
      json kept = json::array();
      bool others = false;
      for (auto& l : labels) {
        bool hit = l.value("type", 0) == type && l.value("name", std::string()) == name;
        if (hit && rename_to) {
          json c = l;
          c["name"] = *rename_to;
          kept.push_back(c);
        } else if (!hit) {
          kept.push_back(l);
          others = true;
        }
      }
      bool delete_sample = !rename_to && (only_label_samples ? !others : delete_policy >= 1);
      if (delete_sample) {
        if (delete_policy == 2 && objects) {
          try {
            auto p = obs::parse_path(r.str("path"));
            if (owners.owns(domain, p.bucket)) objects->remove(p);
          } catch (const ApiError&) {
          }
        }
        w.remove(r);
      } else {
        w.relabel(r, kept, nullptr, r.null("annotated_by") ? "" : r.str("annotated_by"), nullptr, /*confirm=*/false);
      }
    }
    w.commit();
  };
  auto label_row = [&db](const std::string& ds, const std::string& name, std::optional<int> type) {
    auto rows = type ? db.query("SELECT * FROM dataset_labels WHERE dataset_id = ? AND name = ? AND type = ?", {ds, name, *type})
                     : db.query("SELECT * FROM dataset_labels WHERE dataset_id = ? AND name = ?", {ds, name});
    if (rows.empty()) throw ApiError(400, "ModelArts.4410", "Label " + name + " does not exist.");
    if (rows.size() > 1) throw bad_request("Label " + name + " exists with several types; give label_type.");
    return rows.front();
  };
  // Replaces a label's properties; renames it across samples with @modelarts:rename_to.
  auto update_label = [&db, rewrite_label](const std::string& ds, const Row& cur, json property,
                                           const std::string& where = "property") {
    std::string name = cur.str("name");
    int type = int(cur.i64("type"));
    {
      json checked = property;
      if (checked.is_object()) checked.erase("@modelarts:rename_to");
      check_property(checked, type, where);
    }
    std::optional<std::string> rename;
    if (property.contains("@modelarts:rename_to")) {
      if (!property["@modelarts:rename_to"].is_string() || property["@modelarts:rename_to"].get<std::string>().empty())
        throw bad_request("Invalid parameter property[@modelarts:rename_to]: must be a non-empty string");
      rename = property["@modelarts:rename_to"].get<std::string>();
      property.erase("@modelarts:rename_to");
      if (*rename != name && db.query_one("SELECT 1 FROM dataset_labels WHERE dataset_id = ? AND name = ? AND type = ?",
                                          {ds, *rename, type}))
        throw ApiError(400, "ModelArts.4411", "Label " + *rename + " already exists.");
    }
    if (property.contains("@modelarts:shortcut")) {
      for (auto& r : db.query("SELECT name, type, property FROM dataset_labels WHERE dataset_id = ?", {ds})) {
        if (r.str("name") == name && r.i64("type") == type) continue;
        json p = json::parse(r.str("property"), nullptr, false);
        if (p.is_object() && p.value("@modelarts:shortcut", json()) == property["@modelarts:shortcut"])
          throw ApiError(400, "ModelArts.4412", "The shortcut of label " + name + " is used by label " + r.str("name") + ".");
      }
    }
    db.exec("UPDATE dataset_labels SET property = ?, name = ? WHERE dataset_id = ? AND name = ? AND type = ?",
            {property.dump(), rename.value_or(name), ds, name, type});
    if (rename && *rename != name) {
      rewrite_label(ds, type, name, &*rename, 0, nullptr, false);
      for (const char* k : {"lc", "ls"}) {
        auto old = db.query_one("SELECT value FROM dataset_counters WHERE dataset_id = ? AND key = ?", {ds, label_key(k, type, name)});
        if (old && old->i64("value") != 0) {
          bump(db, ds, label_key(k, type, name), -old->i64("value"));
          bump(db, ds, label_key(k, type, *rename), old->i64("value"));
        }
      }
    }
  };

  add("GET", "/datasets/{dataset_id}/data-annotations/labels", "modelarts:dataset:getDataset", {}, [&db, dataset](Context& ctx) {
    auto d = dataset(ctx);
    auto [skip, limit] = page(ctx, 100000, 100000);
    (void)skip;
    json all = json::array();
    if (auto vid = qp(ctx, "version_id")) {
      // A version's labels are the ones frozen when it was published.
      auto v = db.query_one("SELECT status, stats FROM dataset_versions WHERE id = ? AND dataset_id = ?", {*vid, d.str("id")});
      if (!v) throw ApiError(400, "ModelArts.4353", "Dataset version " + *vid + " does not exist.");
      json st = json::parse(v->str("stats"), nullptr, false);
      if (v->i64("status") != 1 || !st.is_object() || !st.contains("labels"))
        throw ApiError(400, "ModelArts.4824", "Dataset version " + *vid + " is not in normal status (not published yet).");
      all = st["labels"];
    } else {
      for (auto& r : dataset_labels(db, d.str("id"))) all.push_back(label_json(r));
    }
    json labels = json::array();
    int64_t off = query_int(ctx, "offset").value_or(0);
    for (int64_t i = off; i < int64_t(all.size()) && i < off + limit; ++i) labels.push_back(all[size_t(i)]);
    return json_response(200, {{"labels", labels}});
  });
  add("POST", "/datasets/{dataset_id}/data-annotations/labels", "modelarts:dataset:updateDataset", {},
      [&db, dataset, read_labels_body, touch](Context& ctx) {
        auto d = dataset(ctx);
        auto labels = read_labels_body(ctx, int(d.i64("type")));
        db.transaction([&] {
          insert_labels(db, d.str("id"), labels);
          touch(d.str("id"));
        });
        return json_response(200, {{"success", true}});
      });
  // Labels of a body found by name (and type when given); properties replaced.
  auto update_labels = [&db, label_row, update_label](const std::string& ds, const JsonIn& in, const char* key) {
    const json& ls = in.arr(key);
    for (size_t i = 0; i < ls.size(); ++i) {
      std::string f = std::string(key) + "[" + std::to_string(i) + "]";
      if (!ls[i].is_object()) in.fail(f.c_str(), "must be an object");
      JsonIn l(ls[i], in.field(f.c_str()));
      auto t = l.opt_int("type", 0, 1000);
      auto cur = label_row(ds, l.str("name"), t ? std::optional<int>(int(*t)) : std::nullopt);
      json prop = l.has("property") ? ls[i]["property"] : json::object();
      update_label(ds, cur, prop, l.field("property"));
      if (l.has("attributes")) {
        const json& a = l.arr("attributes");
        db.exec("UPDATE dataset_labels SET attributes = ? WHERE dataset_id = ? AND name = ? AND type = ?",
                {a.dump(), ds, prop.is_object() ? prop.value("@modelarts:rename_to", cur.str("name")) : cur.str("name"),
                 cur.i64("type")});
      }
    }
  };
  add("PUT", "/datasets/{dataset_id}", "modelarts:dataset:update", {}, [&db, &objects, dataset, update_labels, rewrite_label, label_row, touch](Context& ctx) {
    auto d = dataset(ctx);
    auto in = ctx.in();
    auto name = in.opt_str("dataset_name");
    if (name) check_name(in, "dataset_name", *name, 100);
    auto desc = in.opt_str("description");
    if (desc) check_description(in, *desc);
    auto switch_to = in.opt_str("current_version_id");
    if (switch_to && !db.query_one("SELECT 1 FROM dataset_versions WHERE id = ? AND dataset_id = ? AND status = 1",
                                   {*switch_to, d.str("id")}))
      throw ApiError(400, "ModelArts.4353", "Dataset version " + *switch_to + " does not exist.");
    int type = int(d.i64("type"));
    auto read_list = [&](const char* k) {
      std::vector<LabelDef> v;
      if (!in.has(k)) return v;
      const json& ls = in.arr(k);
      for (size_t i = 0; i < ls.size(); ++i) {
        std::string f = std::string(k) + "[" + std::to_string(i) + "]";
        if (!ls[i].is_object()) in.fail(f.c_str(), "must be an object");
        v.push_back(read_label(JsonIn(ls[i], in.field(f.c_str())), type));
      }
      return v;
    };
    auto add_l = read_list("add_labels");
    db.transaction([&] {
      if (name && *name != d.str("name") &&
          db.query_one("SELECT 1 FROM datasets WHERE project_id = ? AND name = ?", {ctx.caller.project_id, *name}))
        throw ApiError(400, "ModelArts.4351", "Dataset name " + *name + " already exists.");
      db.exec("UPDATE datasets SET name = COALESCE(?, name), description = COALESCE(?, description), "
              "current_version_id = COALESCE(?, current_version_id), updated_at = ? WHERE id = ?",
              {name, desc, switch_to, clock::now_ms(), d.str("id")});
      insert_labels(db, d.str("id"), add_l);
      // Label changes reach every sample, as on the label endpoints.
      if (in.has("update_labels")) update_labels(d.str("id"), in, "update_labels");
      if (in.has("delete_labels")) {
        const json& ls = in.arr("delete_labels");
        for (size_t i = 0; i < ls.size(); ++i) {
          std::string f = "delete_labels[" + std::to_string(i) + "]";
          if (!ls[i].is_object()) in.fail(f.c_str(), "must be an object");
          JsonIn l(ls[i], in.field(f.c_str()));
          auto t = l.opt_int("type", 0, 1000);
          auto cur = label_row(d.str("id"), l.str("name"), t ? std::optional<int>(int(*t)) : std::nullopt);
          int type = int(cur.i64("type"));
          rewrite_label(d.str("id"), type, cur.str("name"), nullptr, 0, &objects, false);
          db.exec("DELETE FROM dataset_labels WHERE dataset_id = ? AND name = ? AND type = ?", {d.str("id"), cur.str("name"), type});
          db.exec("DELETE FROM dataset_counters WHERE dataset_id = ? AND key IN (?, ?)",
                  {d.str("id"), label_key("lc", type, cur.str("name")), label_key("ls", type, cur.str("name"))});
        }
      }
      if (in.has("update_labels") || in.has("delete_labels")) touch(d.str("id"));
    });
    return json_response(200, {{"dataset_id", d.str("id")}});
  });

  add("PUT", "/datasets/{dataset_id}/data-annotations/labels", "modelarts:dataset:updateDataset", {},
      [&db, dataset, update_labels, touch](Context& ctx) {
        auto d = dataset(ctx);
        auto in = ctx.in();
        db.transaction([&] {
          update_labels(d.str("id"), in, "labels");
          touch(d.str("id"));
        });
        return json_response(200, {{"success", true}});
      });
  add("POST", "/datasets/{dataset_id}/data-annotations/labels/delete", "modelarts:dataset:updateDataset", {},
      [&db, &objects, dataset, label_row, rewrite_label, touch](Context& ctx) {
        auto d = dataset(ctx);
        int policy = query_int(ctx, "delete_policy").value_or(0);
        if (policy < 0 || policy > 2) throw bad_request("Invalid parameter delete_policy: must be 0, 1 or 2");
        auto in = ctx.in();
        const json& ls = in.arr("labels");
        std::vector<std::pair<std::string, std::optional<int>>> names;
        for (size_t i = 0; i < ls.size(); ++i) {
          std::string f = "labels[" + std::to_string(i) + "]";
          if (!ls[i].is_object()) in.fail(f.c_str(), "must be an object");
          JsonIn l(ls[i], in.field(f.c_str()));
          auto t = l.opt_int("type", 0, 1000);
          names.emplace_back(l.str("name"), t ? std::optional<int>(int(*t)) : std::nullopt);
        }
        db.transaction([&] {
          for (auto& [name, type] : names) {
            auto cur = label_row(d.str("id"), name, type);
            int t = int(cur.i64("type"));
            rewrite_label(d.str("id"), t, name, nullptr, policy, &objects, false);
            db.exec("DELETE FROM dataset_labels WHERE dataset_id = ? AND name = ? AND type = ?", {d.str("id"), name, t});
            db.exec("DELETE FROM dataset_counters WHERE dataset_id = ? AND key IN (?, ?)",
                    {d.str("id"), label_key("lc", t, name), label_key("ls", t, name)});
          }
          touch(d.str("id"));
        });
        return json_response(200, {{"success", true}});
      });
  add("PUT", "/datasets/{dataset_id}/data-annotations/labels/{label_name}", "modelarts:dataset:updateDataset", {},
      [&db, dataset, label_row, update_label, touch](Context& ctx) {
        auto d = dataset(ctx);
        const json& body = ctx.body();
        for (auto& [k, v] : body.items())
          if (!v.is_string()) throw bad_request("Invalid parameter " + k + ": must be a string");
        auto t = query_int(ctx, "label_type");
        db.transaction([&] {
          auto cur = label_row(d.str("id"), ctx.param("label_name"), t);
          json prop = json::parse(cur.str("property"), nullptr, false);
          for (auto& [k, v] : body.items()) prop[k] = v;
          update_label(d.str("id"), cur, prop);
          touch(d.str("id"));
        });
        return http::no_content(204);
      });
  add("DELETE", "/datasets/{dataset_id}/data-annotations/labels/{label_name}", "modelarts:dataset:updateDataset",
      {"obs:object:DeleteObject"}, [&db, &objects, dataset, label_row, rewrite_label, touch](Context& ctx) {
        auto d = dataset(ctx);
        auto t = query_int(ctx, "label_type");
        bool delete_source = query_bool(ctx, "delete_source", false);
        db.transaction([&] {
          auto cur = label_row(d.str("id"), ctx.param("label_name"), t);
          int type = int(cur.i64("type"));
          std::string name = cur.str("name");
          // Samples whose only label it was go; the others lose it (§1.5.6).
          rewrite_label(d.str("id"), type, name, nullptr, delete_source ? 2 : 0, &objects, true);
          db.exec("DELETE FROM dataset_labels WHERE dataset_id = ? AND name = ? AND type = ?", {d.str("id"), name, type});
          db.exec("DELETE FROM dataset_counters WHERE dataset_id = ? AND key IN (?, ?)",
                  {d.str("id"), label_key("lc", type, name), label_key("ls", type, name)});
          touch(d.str("id"));
        });
        return http::no_content(204);
      });

  // ---------------------------------------------------------------- samples (§1.4)

  add("POST", "/datasets/{dataset_id}/data-annotations/samples", "modelarts:sample:addSamples", {"obs:object:PutObject"},
      [&db, &objects, dataset, touch](Context& ctx) {
        auto d = dataset(ctx);
        std::string ds = d.str("id");
        int type = int(d.i64("type"));
        auto in = ctx.in();
        bool final_annotation = in.opt_bool("final_annotation").value_or(true);
        const json& samples = in.has("samples") ? in.arr("samples") : json::array();
        if (samples.size() > 10000) in.fail("samples", "at most 10000 samples per request");
        // Inline data lands in the first input folder, else in the dataset's data folder.
        json sources = json::parse(d.str("data_sources"), nullptr, false);
        obs::ObsPath upload_dir = sources.is_array() && !sources.empty() && sources[0].contains("data_path")
                                      ? obs::parse_path(sources[0]["data_path"].get<std::string>())
                                      : obs::parse_path(inner_work_path(d) + "data/");
        auto defined = defined_labels(db, ds);
        std::string who = "human/" + ctx.caller.user_name + "/" + ctx.caller.user_name;
        // Validate everything first: the batch applies whole or not at all.
        struct Pending {
          SampleWriter::NewSample s;
          std::string data;  // decoded inline content
          bool upload = false;
        };
        std::vector<Pending> pending;
        std::set<std::string> ids_seen;
        for (size_t i = 0; i < samples.size(); ++i) {
          std::string f = "samples[" + std::to_string(i) + "]";
          if (!samples[i].is_object()) in.fail(f.c_str(), "must be an object");
          JsonIn s(samples[i], in.field(f.c_str()));
          Pending p;
          if (s.has("data")) {
            std::string name = s.str("name");
            if (name.find('/') != std::string::npos || name == "." || name == ".." || utf8_length(name) > 1024 ||
                name.find_first_of("!<>=&\"'") != std::string::npos)
              s.fail("name", "must be a file name without '/' or any of !<>=&\"'");
            auto data = s.opt_str("data");
            if (!crypto::base64_decode(*data, p.data)) s.fail("data", "must be Base64");
            p.upload = true;
            p.s.path = "/" + upload_dir.bucket + "/" + upload_dir.key + name;
            p.s.name = name;
            p.s.dir = "/" + upload_dir.bucket + "/" + upload_dir.key;
            p.s.size = is_text_type(type) ? int64_t(utf8_length(p.data)) : int64_t(p.data.size());
            p.s.sample_time = clock::now_ms();
          } else {
            auto src = s.obj("data_source");
            std::string path = src.str("data_path");
            auto op = obs::parse_path(path, src.field("data_path"));
            if (op.key.empty() || op.key.back() == '/') src.fail("data_path", "must name a file");
            p.s.path = "/" + op.bucket + "/" + op.key;
            p.s.name = s.opt_str("name").value_or(op.key.substr(op.key.rfind('/') + 1));
            p.s.dir = "/" + op.bucket + "/" + op.key.substr(0, op.key.rfind('/') + 1);
            auto info = objects.head(op);
            p.s.size = info ? int64_t(info->size) : 0;
            p.s.sample_time = info ? info->mtime_ms : clock::now_ms();
            if (info && is_text_type(type)) {
              if (auto text = objects.get_all(op)) p.s.size = int64_t(utf8_length(*text));
            }
          }
          // The path is what makes a sample unique; its id comes with its row.
          if (!ids_seen.insert(p.s.path).second) s.fail("name", "names a file already in this batch");
          p.s.type = sample_type_for(type);
          if (s.has("sample_type")) {
            auto st = s.opt_int("sample_type", 0, 9);
            if (*st != p.s.type && type != 900) s.fail("sample_type", "does not fit the dataset type");
            p.s.type = int(*st);
          }
          if (s.has("metadata")) {
            if (!samples[i]["metadata"].is_object()) s.fail("metadata", "must be an object");
            p.s.metadata = samples[i]["metadata"];
          }
          if (s.has("labels")) {
            SampleFacts facts{type, p.s.size, p.s.metadata};
            p.s.labels = checked_labels(samples[i]["labels"], facts, in.field(f.c_str()) + ".labels", defined, who);
            p.s.auto_annotation = !final_annotation;
            p.s.annotated_by = p.s.labels.empty() ? "" : who;
          }
          pending.push_back(std::move(p));
        }
        json results = json::array();
        db.transaction([&] {
          int64_t seq = db.query_one("SELECT sample_seq FROM datasets WHERE id = ?", {ds})->i64("sample_seq");
          SampleWriter w(db, ds);
          for (auto& p : pending) {
            if (!w.insert(p.s, seq))
              throw ApiError(400, "ModelArts.4422", "Sample " + p.s.path + " already exists in the dataset.");
            json item = json::object();
            item["success"] = true;
            item["name"] = p.s.path;
            item["info"] = p.s.id;
            results.push_back(std::move(item));
          }
          w.commit();
          db.exec("UPDATE datasets SET sample_seq = ? WHERE id = ?", {seq, ds});
          touch(ds);
          // Files are written last: a failed write rolls the rows back.
          for (auto& p : pending) {
            if (!p.upload) continue;
            objects.create_bucket(upload_dir.bucket);
            objects.put(obs::parse_path(p.s.path), p.data);
          }
        });
        return json_response(200, {{"success", true}, {"results", results}});
      });

  add("GET", "/datasets/{dataset_id}/data-annotations/samples", "modelarts:sample:listSamples", {"obs:object:GetObject"},
      [&db, &objects, dataset](Context& ctx) {
        auto d = dataset(ctx);
        if (auto vid = qp(ctx, "version_id")) return json_response(200, list_version_samples(ctx, db, objects, d, *vid));
        std::string ds = d.str("id");
        std::string from = " FROM samples s";
        std::string where = " WHERE s.dataset_id = ?";
        store::Params p{ds};
        // The total comes from the counters when they answer the filter exactly.
        std::optional<std::string> count_key = std::string("total");
        bool by_label = false;
        if (auto v = qp(ctx, "sample_state")) {
          std::string st = *v;
          for (char& c : st) c = char(std::toupper(static_cast<unsigned char>(c)));
          // One state: its counter is the total; labeled (two states) is counted.
          count_key.reset();
          if (st == "__ALL__") {
            where += " AND s.state IN ('MANUAL_ANNOTATION', 'AUTO_ANNOTATION')";
          } else if (st == "__NONE__" || st == "UN_ANNOTATION") {
            where += " AND s.state = 'UN_ANNOTATION'";
            count_key = std::string("state:") + kUnannotated;
          } else if (st == "__AUTO_ANNOTATION__" || st == "AUTO_ANNOTATION") {
            where += " AND s.state = 'AUTO_ANNOTATION'";
            count_key = std::string("state:") + kAuto;
          } else if (st == "MANUAL_ANNOTATION") {
            where += " AND s.state = 'MANUAL_ANNOTATION'";
            count_key = std::string("state:") + kManual;
          }
          else if (st.size() > 4 && st.rfind("__", 0) == 0) where += " AND 1 = 0";  // team states: none without team tasks
          else throw bad_request("Invalid parameter sample_state: " + *v);
        }
        if (auto t = query_int(ctx, "sample_type")) {
          count_key.reset();
          where += " AND s.type = ?";
          p.push_back(*t);
        }
        if (auto v = qp(ctx, "label_name")) {
          auto t = query_int(ctx, "label_type");
          if (!t) {
            // The usual case: the name has one type in the dataset. Knowing it
            // keeps one join row per sample and the counters exact.
            auto types = db.query("SELECT type FROM dataset_labels WHERE dataset_id = ? AND name = ?", {ds, *v});
            if (types.size() == 1) t = int(types[0].i64("type"));
          }
          by_label = true;
          bool unfiltered = count_key && *count_key == "total";
          count_key = unfiltered && t ? std::optional<std::string>(label_key("ls", *t, *v)) : std::nullopt;
          from += " JOIN sample_labels l ON l.dataset_id = s.dataset_id AND l.seq = s.seq";
          where += " AND l.label_name = ?";
          p.push_back(*v);
          if (t) {
            where += " AND l.label_type = ?";
            p.push_back(*t);
          } else {
            // Several types share the name: one row per sample all the same.
            where += " AND l.label_type = (SELECT MIN(y.label_type) FROM sample_labels y WHERE y.dataset_id = l.dataset_id "
                     "AND y.label_name = l.label_name AND y.seq = l.seq)";
          }
        } else if (auto t = query_int(ctx, "label_type")) {
          count_key.reset();
          where += " AND EXISTS (SELECT 1 FROM sample_labels l WHERE l.dataset_id = s.dataset_id AND l.seq = s.seq AND l.label_type = ?)";
          p.push_back(*t);
        }
        if (qp(ctx, "high_score") || qp(ctx, "low_score")) {
          // The confidence window (§1.4.1); the default 0..1 filters nothing.
          auto bound = [&](const char* k, double def) {
            auto v = qp(ctx, k);
            if (!v) return def;
            auto d = parse_ratio(*v);
            if (!d) throw bad_request(std::string("Invalid parameter ") + k + ": must be a number from 0 to 1");
            return *d;
          };
          double lo = bound("low_score", 0), hi = bound("high_score", 1);
          if (lo > hi) throw bad_request("Invalid parameter low_score: must not exceed high_score");
          if (lo > 0 || hi < 1) {
            count_key.reset();
            where += " AND " + score_window_sql(lo, hi, p);
          }
        }
        if (auto v = qp(ctx, "search_conditions"); v && !v->empty()) {
          count_key.reset();
          json conds = parse_json_limited(*v);
          if (!conds.is_array()) throw bad_request("Invalid parameter search_conditions: must be a JSON array");
          for (auto& c : conds) {  // ANDed on this endpoint (§1.4.7)
            where += " AND (" + condition_sql(c, p) + ")";
          }
        }
        std::string order = qp(ctx, "order") ? *qp(ctx, "order") : "desc";
        if (order != "asc" && order != "desc") throw bad_request("Invalid parameter order: must be asc or desc");
        auto [skip, limit] = page(ctx, 10, 100);
        int64_t total;
        if (count_key) {
          auto c = db.query_one("SELECT value FROM dataset_counters WHERE dataset_id = ? AND key = ?", {ds, *count_key});
          total = c ? c->i64("value") : 0;
        } else {
          total = db.query_one("SELECT COUNT(*) AS n" + from + where, p)->i64("n");
        }
        // With a label filter, walk the label index in seq order.
        std::string seq_col = by_label ? "l.seq" : "s.seq";
        // A continuation marker (the last seq seen) keeps deep pages cheap.
        if (auto m = qp(ctx, "marker"); m && !m->empty()) {
          if (m->find_first_not_of("0123456789") != std::string::npos || m->size() > 18)
            throw bad_request("Invalid parameter marker");
          where += order == "desc" ? " AND " + seq_col + " < ?" : " AND " + seq_col + " > ?";
          p.push_back(int64_t(std::stoll(*m)));
          skip = 0;
        }
        p.push_back(limit);
        p.push_back(skip);
        json list = json::array();
        int64_t last = -1;
        std::string sql = "SELECT s.*" + from + where + " ORDER BY " + seq_col + " " + order + " LIMIT ? OFFSET ?";
        if (by_label && count_key) {
          // Only a label filter: page through the label index alone and read
          // just the page's samples, so a deep offset skips index entries
          // instead of whole sample rows.
          std::string label_where = where;
          label_where.replace(label_where.find("s.dataset_id"), 12, "l.dataset_id");
          sql = "SELECT s.* FROM samples s JOIN (SELECT l.seq FROM sample_labels l" + label_where + " ORDER BY l.seq " + order +
                " LIMIT ? OFFSET ?) k ON s.seq = k.seq WHERE s.dataset_id = ? ORDER BY s.seq " + order;
          p.push_back(ds);
        }
        for (auto& r : db.query(sql, p)) {
          list.push_back(sample_json(ctx, r));
          last = r.i64("seq");
        }
        json body = {{"sample_count", total}, {"samples", list}};
        if (int64_t(list.size()) == limit && last >= 0) body["next_marker"] = std::to_string(last);
        return json_response(200, body);
      });

  auto sample_row = [&db](const std::string& ds, const std::string& id) {
    int64_t seq = sample_seq(ds, id);
    auto r = seq < 0 ? std::nullopt : db.query_one("SELECT * FROM samples WHERE dataset_id = ? AND seq = ?", {ds, seq});
    if (!r) throw ApiError(400, "ModelArts.4420", "Sample " + id + " does not exist.");
    return *r;
  };
  // Many samples by id in a few queries: ids of `items[i][key]` -> rows, in
  // chunks of 100 (padded, so one prepared statement serves every chunk).
  auto sample_rows = [&db](const std::string& ds, const std::vector<std::string>& ids) {
    std::map<int64_t, Row> by_seq;
    std::vector<int64_t> seqs;
    for (auto& id : ids) {
      int64_t seq = sample_seq(ds, id);
      if (seq < 0) throw ApiError(400, "ModelArts.4420", "Sample " + id + " does not exist.");
      seqs.push_back(seq);
    }
    static const std::string sql = [] {
      std::string s = "SELECT * FROM samples WHERE dataset_id = ? AND seq IN (?";
      for (int i = 1; i < 100; ++i) s += ", ?";
      return s + ")";
    }();
    for (size_t at = 0; at < seqs.size(); at += 100) {
      store::Params p;
      p.reserve(101);
      p.emplace_back(ds);
      for (size_t i = 0; i < 100; ++i) p.emplace_back(seqs[std::min(at + i, seqs.size() - 1)]);
      for (auto& r : db.query(sql, p)) by_seq.emplace(r.i64("seq"), r);
    }
    std::vector<Row> out;
    for (size_t i = 0; i < ids.size(); ++i) {
      auto it = by_seq.find(seqs[i]);
      if (it == by_seq.end()) throw ApiError(400, "ModelArts.4420", "Sample " + ids[i] + " does not exist.");
      out.push_back(it->second);
    }
    return out;
  };
  add("GET", "/datasets/{dataset_id}/data-annotations/samples/{sample_id}", "modelarts:sample:getSample",
      {"obs:object:GetObject"}, [dataset, sample_row](Context& ctx) {
        auto d = dataset(ctx);
        return json_response(200, sample_json(ctx, sample_row(d.str("id"), ctx.param("sample_id"))));
      });
  // The sample's bytes, for clients that preview or label them (not in the
  // spec: the real service hands out presigned OBS URLs instead).
  add("GET", "/datasets/{dataset_id}/data-annotations/samples/{sample_id}/content", "modelarts:sample:getSample",
      {"obs:object:GetObject"}, [&objects, dataset, sample_row](Context& ctx) {
        auto d = dataset(ctx);
        auto r = sample_row(d.str("id"), ctx.param("sample_id"));
        auto data = objects.get_all(obs::parse_path(r.str("path")));
        if (!data) throw ApiError(404, "ModelArts.0015", "The file of sample " + r.str("id") + " is missing: " + r.str("path"));
        Response resp;
        resp.status = 200;
        std::string n = r.str("name");
        std::string ext = n.rfind('.') == std::string::npos ? "" : n.substr(n.rfind('.') + 1);
        for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
        static const std::map<std::string, std::string> types = {
            {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"png", "image/png"}, {"bmp", "image/bmp"}, {"gif", "image/gif"},
            {"webp", "image/webp"}, {"txt", "text/plain; charset=utf-8"}, {"csv", "text/csv"}, {"wav", "audio/wav"},
            {"mp3", "audio/mpeg"}, {"mp4", "video/mp4"}};
        resp.headers.add("Content-Type", types.count(ext) ? types.at(ext) : "application/octet-stream");
        resp.body = std::move(*data);
        return resp;
      });

  add("POST", "/datasets/{dataset_id}/data-annotations/samples/delete", "modelarts:sample:deleteSamples",
      {"obs:object:DeleteObject"}, [&db, &objects, dataset, sample_row, touch](Context& ctx) {
        auto d = dataset(ctx);
        auto in = ctx.in();
        const json& ids = in.arr("samples");
        bool delete_source = in.opt_bool("delete_source").value_or(false) && !is_text_type(int(d.i64("type")));
        for (size_t i = 0; i < ids.size(); ++i)
          if (!ids[i].is_string()) in.fail("samples", "must hold sample ids (strings)");
        // The rows are read inside the transaction that removes them, so a
        // concurrent change of the same samples is counted once.
        std::vector<Row> rows;
        json results = json::array();
        db.transaction([&] {
          rows.clear();
          for (size_t i = 0; i < ids.size(); ++i) rows.push_back(sample_row(d.str("id"), ids[i].get<std::string>()));
          SampleWriter w(db, d.str("id"));
          std::set<std::string> done;
          for (auto& r : rows) {
            if (!done.insert(r.str("id")).second) continue;
            w.remove(r);
            results.push_back({{"success", true}});
          }
          w.commit();
          touch(d.str("id"));
        });
        // A sample's file is removed only from a bucket of the caller's
        // account: a sample may name a file it only reads (a platform sample).
        if (delete_source) {
          obs::Buckets owners(db);
          for (auto& r : rows) {
            try {
              auto p = obs::parse_path(r.str("path"));
              if (owners.owns(ctx.caller.domain_id, p.bucket)) objects.remove(p);
            } catch (const ApiError&) {
            }
          }
        }
        return json_response(200, {{"success", true}, {"results", results}});
      });

  add("GET", "/datasets/{dataset_id}/data-annotations/search-condition", "modelarts:sample:listSamples", {},
      [&db, dataset](Context& ctx) {
        auto d = dataset(ctx);
        json labels = json::array();
        for (auto& r : dataset_labels(db, d.str("id"))) labels.push_back(label_json(r));
        json labelers = json::array();
        for (auto& r : db.query("SELECT DISTINCT annotated_by FROM samples WHERE dataset_id = ? AND annotated_by IS NOT NULL "
                                "ORDER BY annotated_by LIMIT 1000",
                                {d.str("id")}))
          labelers.push_back(r.str("annotated_by"));
        // Metadata keys and values seen on the most recent samples.
        std::map<std::string, std::set<std::string>> md;
        for (auto& r : db.query("SELECT metadata FROM samples WHERE dataset_id = ? AND metadata <> '{}' ORDER BY seq DESC LIMIT 1000",
                                {d.str("id")})) {
          json m = json::parse(r.str("metadata"), nullptr, false);
          if (!m.is_object()) continue;
          for (auto& [k, v] : m.items())
            if (md[k].size() < 100) md[k].insert(v.is_string() ? v.get<std::string>() : v.dump());
        }
        json metadata = json::object();
        for (auto& [k, vs] : md) metadata[k] = json(std::vector<std::string>(vs.begin(), vs.end()));
        return json_response(200, {{"labels", labels}, {"metadata", metadata}, {"labelers", labelers}});
      });

  // ---------------------------------------------------------------- manual annotation (§1.4.6)

  add("PUT", "/datasets/{dataset_id}/data-annotations/samples", "modelarts:dataset:updateDataset", {"obs:object:GetObject"},
      [&db, dataset, sample_rows, touch](Context& ctx) {
        auto d = dataset(ctx);
        std::string ds = d.str("id");
        int type = int(d.i64("type"));
        auto in = ctx.in();
        const json& items = in.arr("samples");
        std::vector<std::string> wanted;
        for (size_t i = 0; i < items.size(); ++i) {
          std::string f = "samples[" + std::to_string(i) + "]";
          if (!items[i].is_object()) in.fail(f.c_str(), "must be an object");
          wanted.push_back(JsonIn(items[i], in.field(f.c_str())).str("sample_id"));
        }
        if (items.size() > 10000) in.fail("samples", "at most 10000 samples per request");
        std::string who = "human/" + ctx.caller.user_name + "/" + ctx.caller.user_name;
        if (auto e = in.opt_str("email")) who = "human/" + *e;
        struct Change {
          Row row;
          json labels, metadata;
          bool has_metadata = false;
          std::optional<std::string> usage;
        };
        // Each change is decided on the sample as it is inside the
        // transaction that applies it: a concurrent relabel of the same
        // sample commits before or after, never in between (the counters
        // move by the difference from the labels really replaced).
        json results = json::array();
        db.transaction([&] {
          auto rows = sample_rows(ds, wanted);
          // Labels must already be defined in the dataset (the issue's rule;
          // the spec would create them): a typo must not mint a new class.
          auto defined = defined_labels(db, ds);
          std::vector<Change> changes;
          std::set<std::string> seen;
          for (size_t i = 0; i < items.size(); ++i) {
            std::string f = "samples[" + std::to_string(i) + "]";
            JsonIn s(items[i], in.field(f.c_str()));
            std::string id = s.str("sample_id");
            if (!seen.insert(id).second) s.fail("sample_id", "appears twice in the batch");
            Change c{rows[i], json::array(), json::object(), false, std::nullopt};
            c.metadata = json::parse(c.row.str("metadata"), nullptr, false);
            if (s.has("metadata")) {
              if (!items[i]["metadata"].is_object()) s.fail("metadata", "must be an object");
              for (auto& [k, v] : items[i]["metadata"].items()) c.metadata[k] = v;
              c.has_metadata = true;
            }
            if (s.has("sample_usage")) c.usage = s.enum_str("sample_usage", {"TRAIN", "EVAL", "TEST", "INFERENCE"});
            SampleFacts facts{type, c.row.i64("size"), c.metadata};
            c.labels = checked_labels(s.has("labels") ? items[i]["labels"] : json::array(), facts,
                                      in.field(f.c_str()) + ".labels", defined, who);
            changes.push_back(std::move(c));
          }
          SampleWriter w(db, ds);
          for (auto& c : changes) {
            w.relabel(c.row, c.labels, c.has_metadata ? &c.metadata : nullptr, c.labels.empty() ? "" : who,
                      c.usage ? &*c.usage : nullptr);
            results.push_back({{"success", true}});
          }
          w.commit();
          touch(ds);
        });
        return json_response(200, {{"success", true}, {"results", results}});
      });

  for (auto& r : transfer_routes(db, objects, runner)) out.push_back(std::move(r));
  return out;
}

}  // namespace atelier::data
