// Import and export tasks: their routes, the task kinds
// they run, and the schema of import failures. What the tasks do:
// import_manifest.cc, import_folders.cc, export.cc.
#include "data/api.h"
#include "data/dataset_rows.h"
#include "data/fields.h"
#include "data/query_params.h"
#include "data/search.h"
#include "data/transfer_internal.h"

namespace atelier::data {

std::vector<store::Migration> transfer_migrations() {
  return {{"data/005_import_failures", R"SQL(
CREATE TABLE dataset_import_failures (
  task_id TEXT NOT NULL, n INTEGER NOT NULL, item TEXT NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (task_id, n));
)SQL"}};
}

json DataApi::task_import(tasks::TaskContext& tc) {
  auto d = db.query_one("SELECT * FROM datasets WHERE id = ?", {tc.task().resource_id});
  if (!d) throw dataset_missing(tc.task().resource_id);
  ImportOptions opt = ImportOptions::from(tc.task().params);
  json extra = json::parse(d->str("extra"), nullptr, false);
  if (extra.is_object() && extra.contains("schema") && extra["schema"].is_array())
    opt.table_columns = extra["schema"].size();
  if (opt.manifest) return run_manifest(db, objects, tc, *d, opt);
  if (opt.yolo) return run_yolo(db, objects, tc, *d, opt);
  return opt.coco ? run_coco(db, objects, tc, *d, opt) : run_folder(db, objects, tc, *d, opt);
}

Response DataApi::create_import(Context& ctx) {
  auto d = dataset(ctx);
  auto in = ctx.in();
  std::string path = in.max_len("import_path", in.str("import_path"), 1024);
  obs::ObsPath p = obs::parse_path(path, "import_path");
  std::string origin = in.opt_str("import_origin").value_or("obs");
  if (origin != "obs") in.fail("import_origin", "only obs is supported by this server");
  std::string itype;
  if (in.has("import_type")) {
    const json& v = in.node()["import_type"];
    if (v == "dir" || v == 0) itype = "dir";
    else if (v == "manifest" || v == 1) itype = "manifest";
    else in.fail("import_type", "must be dir or manifest");
  } else {
    itype = p.key.empty() || p.key.back() == '/' ? "dir" : "manifest";
  }
  if (itype == "manifest" && (p.key.empty() || p.key.back() == '/'))
    in.fail("import_path", "must name a manifest file for import_type manifest");
  if (!objects.bucket_exists(p.bucket))
    throw ApiError(400, "ModelArts.4374", "import_path: bucket " + p.bucket + " does not exist");
  if (itype == "manifest" && !objects.head(p))
    throw ApiError(400, "ModelArts.4374", "import_path: the manifest file " + obs_str(p) + " does not exist");
  json params = {{"import_path", obs_str(p)}, {"import_type", itype}};
  if (auto f = in.opt_str("annotation_format")) {
    if (*f != "VOC" && *f != "COCO" && *f != "YOLO") in.fail("annotation_format", "must be VOC, COCO or YOLO");
    if (*f != "VOC" && (itype != "dir" || d.i64("type") != 1))
      in.fail("annotation_format", *f + " is read from a folder into an object detection dataset");
    if (*f != "VOC") params["annotation_format"] = *f;
  }
  for (const char* k : {"import_annotations", "import_samples", "final_annotation", "difficult_only"})
    if (auto b = in.opt_bool(k)) params[k] = *b;
  auto label_names = [&](const char* k) {
    json names = json::array();
    if (!in.has(k)) return names;
    const json& arr = in.arr(k);
    for (size_t i = 0; i < arr.size(); ++i) {
      std::string f = std::string(k) + "[" + std::to_string(i) + "]";
      if (arr[i].is_string()) names.push_back(arr[i]);
      else if (arr[i].is_object() && arr[i].contains("name") && arr[i]["name"].is_string()) names.push_back(arr[i]["name"]);
      else in.fail(f.c_str(), "must be a label object with a name");
    }
    return names;
  };
  json inc = label_names("included_labels");
  for (auto& n : label_names("included_tags")) inc.push_back(n);  // an alias some clients send
  if (!inc.empty()) params["included_labels"] = inc;
  if (json exc = label_names("excluded_labels"); !exc.empty()) params["excluded_labels"] = exc;
  if (auto f = in.opt_str("import_folder")) {
    std::string folder = in.max_len("import_folder", *f, 256);
    while (!folder.empty() && folder.back() == '/') folder.pop_back();
    if (folder.empty() || folder[0] == '/' || !obs::valid_key(folder + "/"))
      in.fail("import_folder", "must be a folder name inside the dataset's storage, without '..' or empty segments");
    if (d.i64("type") == 400) in.fail("import_folder", "is not for table datasets");
    params["import_folder"] = folder;
  }
  if (auto b = in.opt_bool("with_column_header")) {
    if (d.i64("type") != 400) in.fail("with_column_header", "is for table datasets");
    params["with_column_header"] = *b;
  }
  if (auto lf = in.opt_obj("label_format")) {
    if (d.i64("type") != 100) in.fail("label_format", "is for text classification datasets");
    json f = json::object();
    if (lf->has("label_type")) {
      const json& t = lf->node()["label_type"];
      if (t == "0" || t == 0) f["label_type"] = 0;
      else if (t == "1" || t == 1) f["label_type"] = 1;
      else lf->fail("label_type", "must be 0 (separate files) or 1 (text and labels combined)");
    } else {
      f["label_type"] = 1;
    }
    static const std::string kAllowed = "!@#$%^&*_=|?/':.;,\t";
    for (const char* k : {"text_sample_separator", "text_label_separator"}) {
      auto v = lf->opt_str(k);
      if (!v) continue;
      char c = (*v)[0];
      if (v->size() != 1 || !(std::isalnum(static_cast<unsigned char>(c)) || kAllowed.find(c) != std::string::npos))
        lf->fail(k, "must be one character: a letter, a digit, a tab or one of !@#$%^&*_=|?/':.;,");
      f[k] = *v;
    }
    params["label_format"] = f;
  }
  if (queue.active(kKind, d.str("id")))
    throw ApiError(400, "ModelArts.4356", "An import task is already running on dataset " + d.str("id") + ".");
  std::string id = queue.submit(kKind, ctx.caller.project_id, d.str("id"), params);
  return json_response(200, {{"task_id", id}});
}

Response DataApi::list_imports(Context& ctx) {
  auto d = dataset(ctx);
  auto [skip, limit] = page(ctx, 10, 100);
  auto [list, total] = queue.list(kKind, d.str("id"), skip, limit);
  json items = json::array();
  for (auto& t : list) items.push_back(import_task_json(db, t));
  return json_response(200, {{"total_count", total}, {"import_tasks", items}});
}

Response DataApi::get_import(Context& ctx) {
  auto d = dataset(ctx);
  auto t = queue.get(ctx.param("task_id"));
  if (!t || t->kind != kKind || t->resource_id != d.str("id"))
    // ModelArts has no code for a missing import task; the export one's is the nearest.
    throw ApiError(400, "ModelArts.4359", "Import task " + ctx.param("task_id") + " does not exist.");
  return json_response(200, import_task_json(db, *t));
}

json DataApi::task_export(tasks::TaskContext& tc) {
  auto d = db.query_one("SELECT * FROM datasets WHERE id = ?", {tc.task().resource_id});
  if (!d) throw dataset_missing(tc.task().resource_id);
  return run_export(db, objects, queue, tc, *d);
}

Response DataApi::create_export(Context& ctx) {
  auto d = dataset(ctx);
  auto in = ctx.in(/*allow_empty=*/true);
  int type = int(d.i64("type"));
  if (type != 0 && type != 1 && type != 900)
    throw ApiError(400, "ModelArts.4384", "Only image classification, object detection and free-format datasets can be exported.");
  json params = json::object();
  auto ep = in.opt_obj("export_params");
  std::string dest = ep ? ep->opt_str("export_dest").value_or("DIR") : "DIR";
  if (dest != "DIR" && dest != "NEW_DATASET") ep->fail("export_dest", "must be DIR or NEW_DATASET");
  std::string path = in.max_len("path", in.str("path"), 1024);
  obs::ObsPath dir = obs::parse_path(path, "path");
  if (!dir.key.empty() && dir.key.back() != '/') dir.key += '/';
  if (!objects.bucket_exists(dir.bucket)) throw ApiError(400, "ModelArts.4358", "path: bucket " + dir.bucket + " does not exist");
  params["path"] = obs_str(dir);
  if (dest == "NEW_DATASET") {
    std::string name = ep->str("export_new_dataset_name");
    check_name(*ep, "export_new_dataset_name", name, 100);
    obs::ObsPath work = folder_path(*ep, "export_new_dataset_work_path", ep->str("export_new_dataset_work_path"));
    if (obs_str(work).rfind(obs_str(dir), 0) == 0)
      ep->fail("export_new_dataset_work_path", "must not be the export path or inside it");
    if (db.query_one("SELECT 1 FROM datasets WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name}))
      throw ApiError(400, "ModelArts.4351", "export_params.export_new_dataset_name: dataset name " + name + " already exists.");
    params["new_dataset"] = {{"name", name}, {"work_path", obs_str(work)}};
  }
  if (auto t = in.opt_int("export_type", 0, 3)) params["export_type"] = *t;
  if (auto f = in.opt_int("export_format", 1, 2)) params["export_format"] = *f;
  if (auto f = in.opt_str("annotation_format")) {
    if (*f != "VOC" && *f != "COCO" && *f != "YOLO") in.fail("annotation_format", "must be VOC, COCO or YOLO");
    if (type != 1) in.fail("annotation_format", *f + " export is for object detection datasets");
    params["annotation_format"] = *f;
  }
  if (auto h = in.opt_str("source_type_header")) {
    if (*h != "obs://" && *h != "s3://") in.fail("source_type_header", "must be obs:// or s3://");
    params["source_type_header"] = *h;
  }
  if (auto v = in.opt_str("version_id")) {
    auto row = db.query_one("SELECT status FROM dataset_versions WHERE id = ? AND dataset_id = ?", {*v, d.str("id")});
    if (!row) throw ApiError(400, "ModelArts.4353", "version_id: dataset version " + *v + " does not exist.");
    if (row->i64("status") != 1) throw ApiError(400, "ModelArts.4824", "version_id: dataset version " + *v + " is not published yet.");
    if (params.contains("annotation_format"))
      in.fail("annotation_format", "a published version exports as its manifest; VOC, COCO and YOLO export are for the working copy");
    params["version_id"] = *v;
  }
  auto state = [&](const JsonIn& j) -> std::optional<std::string> {
    auto s = j.opt_str("sample_state");
    if (!s) return std::nullopt;
    if (*s != "UN_ANNOTATION" && *s != "MANUAL_ANNOTATION" && *s != "AUTO_ANNOTATION")
      j.fail("sample_state", "must be UN_ANNOTATION, MANUAL_ANNOTATION or AUTO_ANNOTATION");
    return s;
  };
  if (auto s = state(in)) params["sample_state"] = *s;
  json echo = json::object();
  if (ep) {
    echo = ep->node();
    if (auto s = state(*ep)) params["sample_state"] = *s;
    if (ep->has("samples")) {
      const json& ids = ep->arr("samples");
      for (size_t i = 0; i < ids.size(); ++i)
        if (!ids[i].is_string()) ep->fail(("samples[" + std::to_string(i) + "]").c_str(), "must be a sample id");
      params["samples"] = ids;
    }
    if (ep->has("search_conditions")) {
      const json& conds = ep->arr("search_conditions");
      store::Params probe;
      for (auto& c : conds) condition_sql(c, probe);  // validates now, not in the task
      params["search_conditions"] = conds;
    }
    if (auto r = ep->opt_str("train_sample_ratio")) {
      if (!parse_ratio(*r)) ep->fail("train_sample_ratio", "must be a number from 0 to 1, e.g. \"0.80\"");
      params["train_sample_ratio"] = *r;
    }
    for (const char* k : {"ratio_sample_usage", "clear_hard_property"})
      if (auto b = ep->opt_bool(k)) params[k] = *b;
  }
  if (params.value("export_type", 2) == 3 && !params.contains("search_conditions"))
    in.fail("export_params", "export_type 3 needs export_params.search_conditions");
  if (params.contains("version_id"))
    for (const char* k : {"sample_state", "samples", "search_conditions"})
      if (params.contains(k))
        throw ApiError(400, "ModelArts.4384", std::string(k) + ": a published version is exported whole (export_type 0, 1 or 2 only)");
  if (params.contains("version_id") && params.value("export_type", 2) == 3)
    in.fail("export_type", "a published version is exported whole (export_type 0, 1 or 2 only)");
  params["export_params"] = echo;
  // The time names the export; a short random tail keeps two exports in the same second apart.
  params["manifest_path"] = obs_str(dir) + d.str("name") + "-" + compact_time(clock::now_ms()) + "-" +
                            ids::hex32().substr(26) + ".manifest";
  std::string id = queue.submit(kExportKind, ctx.caller.project_id, d.str("id"), params);
  return json_response(200, {{"task_id", id}});
}

Response DataApi::list_exports(Context& ctx) {
  auto d = dataset(ctx);
  auto type = query_int(ctx, "export_type");
  auto [skip, limit] = page(ctx, 10, 100);
  json items = json::array();
  int64_t total = 0;
  if (!type) {
    auto [list, n] = queue.list(kExportKind, d.str("id"), skip, limit);
    total = n;
    for (auto& t : list) items.push_back(export_task_json(t));
  } else {
    // Filtering by type: a dataset has few export tasks.
    auto [list, n] = queue.list(kExportKind, d.str("id"), 0, 100000);
    for (auto& t : list)
      if (t.params.value("export_type", 2) == *type && total++ >= skip && int64_t(items.size()) < limit)
        items.push_back(export_task_json(t));
  }
  return json_response(200, {{"total_count", total}, {"export_tasks", items}});
}

Response DataApi::get_export(Context& ctx) {
  auto d = dataset(ctx);
  auto t = queue.get(ctx.param("task_id"));
  if (!t || t->kind != kExportKind || t->resource_id != d.str("id"))
    throw ApiError(400, "ModelArts.4359", "Export task " + ctx.param("task_id") + " does not exist.");
  return json_response(200, export_task_json(*t));
}

}  // namespace atelier::data
