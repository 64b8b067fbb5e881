// Datasets: create, list, get, update, delete, statistics and metrics.
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
#include "data/counters.h"
#include "data/dataset_rows.h"
#include "data/fields.h"
#include "data/label_defs.h"
#include "data/manifest.h"
#include "data/publishing.h"
#include "data/query_params.h"
#include "data/render.h"
#include "data/transfer.h"
#include "data/types.h"
#include "iam/iam.h"
#include "obs/buckets.h"

#include <spdlog/spdlog.h>

namespace atelier::data {

Row DataApi::dataset(const Context& ctx) {
  return dataset_in_project(db, ctx); 
}

void DataApi::touch(const std::string& ds) {
  int64_t now = clock::now_ms();
  db.exec("UPDATE datasets SET data_updated_at = ?, updated_at = ? WHERE id = ?", {now, now, ds});
}

Response DataApi::create_dataset(Context& ctx) {
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
  if (!inputs.empty()) out["import_task_id"] = queue.submit("dataset-sync", ctx.caller.project_id, id, json::object());
  return json_response(201, out);
}

Response DataApi::list_datasets(Context& ctx) {
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
    json j = with_running_tasks(ctx, db, queue, r, dataset_json(db, r, with_labels));
    if (file_preview) j["samples"] = preview_files(ctx, db, r);
    list.push_back(std::move(j));
  }
  return json_response(200, {{"total_number", total}, {"datasets", list}});
}

Response DataApi::get_dataset(Context& ctx) {
  auto d = dataset(ctx);
  return json_response(200, with_running_tasks(ctx, db, queue, d, dataset_json(db, d, true)));
}

Response DataApi::delete_dataset(Context& ctx) {
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
  // The work files go with the dataset; the source data stays.
  auto inner = obs::parse_path(inner_work_path(d));
  objects.each(inner.bucket, inner.key, [&](const obs::ObjectInfo& o) { objects.remove(obs::ObsPath{inner.bucket, o.key}); });
  return http::no_content(204);
}

Response DataApi::stats(Context& ctx) {
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
  // Hard-example reasons (ids 0-30, the index in the tables below) seen on
  // hard samples, with how often.
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
}

Response DataApi::metrics(Context& ctx) {
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
  // (an empty map is a valid value) rather than missing.
  for (const char* k : {"queuing", "success", "unfinished", "failed", "failed_user", "failed_system"}) metrics[k] = json::object();
  for (auto& r : db.query("SELECT hour, key, value FROM dataset_metrics WHERE dataset_id = ? AND hour >= ? AND hour <= ? "
                          "ORDER BY hour",
                          {d.str("id"), from / 3600000 * 3600000, to}))
    metrics[r.str("key") == "total" ? "total" : r.str("key") == "state:UN_ANNOTATION" ? "un_annotation" : "manual_annotation"]
           [std::to_string(r.i64("hour"))] = r.i64("value");
  return json_response(200, {{"metrics", metrics}});
}

Response DataApi::update_dataset(Context& ctx) {
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
        rewrite_label(d.str("id"), type, cur.str("name"), nullptr, 0, nullptr, false);
        db.exec("DELETE FROM dataset_labels WHERE dataset_id = ? AND name = ? AND type = ?", {d.str("id"), cur.str("name"), type});
        db.exec("DELETE FROM dataset_counters WHERE dataset_id = ? AND key IN (?, ?)",
                {d.str("id"), label_key("lc", type, cur.str("name")), label_key("ls", type, cur.str("name"))});
      }
    }
    if (in.has("update_labels") || in.has("delete_labels")) touch(d.str("id"));
  });
  return json_response(200, {{"dataset_id", d.str("id")}});
}

}  // namespace atelier::data
