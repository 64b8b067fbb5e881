// Dataset labels: list, add, update, rename and delete, carried into every sample.
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
#include "data/label_defs.h"
#include "data/manifest.h"
#include "data/query_params.h"
#include "data/sample_writer.h"
#include "data/transfer.h"
#include "iam/iam.h"
#include "obs/buckets.h"

#include <spdlog/spdlog.h>

namespace atelier::data {

std::vector<LabelDef> DataApi::read_labels_body(Context& ctx, int type) {
  auto in = ctx.in();
  const json& ls = in.arr("labels");
  std::vector<LabelDef> v;
  for (size_t i = 0; i < ls.size(); ++i) {
    std::string f = "labels[" + std::to_string(i) + "]";
    if (!ls[i].is_object()) in.fail(f.c_str(), "must be an object");
    v.push_back(read_label(JsonIn(ls[i], in.field(f.c_str())), type));
  }
  return v;
}

// Rewrites every sample carrying label (type, name): drop it, or rename it.
// delete_policy: 0 keep samples, 1 delete the samples carrying the
// label, 2 also their files. With only_label_samples, samples go
// only when it was their only label (and their files with policy 2).
void DataApi::rewrite_label(const std::string& ds, int type, const std::string& name, const std::string* rename_to,
                             int delete_policy, std::vector<obs::ObsPath>* files, bool only_label_samples) {
  SampleWriter w(db, ds);
  auto rows = db.query("SELECT s.* FROM samples s JOIN sample_labels l ON l.dataset_id = s.dataset_id AND l.seq = s.seq "
                       "WHERE l.dataset_id = ? AND l.label_type = ? AND l.label_name = ?",
                       {ds, type, name});
  // Files are removed only from the buckets of the dataset's account.
  std::string domain;
  if (delete_policy == 2 && files)
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
      if (delete_policy == 2 && files) {
        try {
          auto p = obs::parse_path(r.str("path"));
          if (owners.owns(domain, p.bucket)) files->push_back(std::move(p));
        } catch (const ApiError&) {
        }
      }
      w.remove(r);
    } else {
      w.relabel(r, kept, nullptr, r.null("annotated_by") ? "" : r.str("annotated_by"), nullptr, /*confirm=*/false);
    }
  }
  w.commit();
}

void DataApi::remove_files(const std::vector<obs::ObsPath>& files) {
  for (auto& p : files) try {
      objects.remove(p);
    } catch (const ApiError&) {
    }
}

Row DataApi::label_row(const std::string& ds, const std::string& name, std::optional<int> type) {
  auto rows = type ? db.query("SELECT * FROM dataset_labels WHERE dataset_id = ? AND name = ? AND type = ?", {ds, name, *type})
                   : db.query("SELECT * FROM dataset_labels WHERE dataset_id = ? AND name = ?", {ds, name});
  if (rows.empty()) throw ApiError(400, "ModelArts.4410", "Label " + name + " does not exist.");
  if (rows.size() > 1) throw bad_request("Label " + name + " exists with several types; give label_type.");
  return rows.front();
}

// Replaces a label's properties; renames it across samples with @modelarts:rename_to.
void DataApi::update_label(const std::string& ds, const Row& cur, json property,
                                           const std::string& where) {
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
}

Response DataApi::list_labels(Context& ctx) {
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
}

Response DataApi::add_labels(Context& ctx) {
  auto d = dataset(ctx);
  auto labels = read_labels_body(ctx, int(d.i64("type")));
  db.transaction([&] {
    insert_labels(db, d.str("id"), labels);
    touch(d.str("id"));
  });
  return json_response(200, {{"success", true}});
}

// Labels of a body found by name (and type when given); properties replaced.
void DataApi::update_labels(const std::string& ds, const JsonIn& in, const char* key) {
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
}

Response DataApi::put_labels(Context& ctx) {
  auto d = dataset(ctx);
  auto in = ctx.in();
  db.transaction([&] {
    update_labels(d.str("id"), in, "labels");
    touch(d.str("id"));
  });
  return json_response(200, {{"success", true}});
}

Response DataApi::delete_labels(Context& ctx) {
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
  std::vector<obs::ObsPath> files;
  db.transaction([&] {
    files.clear();
    for (auto& [name, type] : names) {
      auto cur = label_row(d.str("id"), name, type);
      int t = int(cur.i64("type"));
      rewrite_label(d.str("id"), t, name, nullptr, policy, &files, false);
      db.exec("DELETE FROM dataset_labels WHERE dataset_id = ? AND name = ? AND type = ?", {d.str("id"), name, t});
      db.exec("DELETE FROM dataset_counters WHERE dataset_id = ? AND key IN (?, ?)",
              {d.str("id"), label_key("lc", t, name), label_key("ls", t, name)});
    }
    touch(d.str("id"));
  });
  remove_files(files);
  return json_response(200, {{"success", true}});
}

Response DataApi::put_label(Context& ctx) {
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
}

Response DataApi::delete_label(Context& ctx) {
  auto d = dataset(ctx);
  auto t = query_int(ctx, "label_type");
  bool delete_source = query_bool(ctx, "delete_source", false);
  std::vector<obs::ObsPath> files;
  db.transaction([&] {
    files.clear();
    auto cur = label_row(d.str("id"), ctx.param("label_name"), t);
    int type = int(cur.i64("type"));
    std::string name = cur.str("name");
    // Samples whose only label it was go; the others lose it.
    rewrite_label(d.str("id"), type, name, nullptr, delete_source ? 2 : 0, &files, true);
    db.exec("DELETE FROM dataset_labels WHERE dataset_id = ? AND name = ? AND type = ?", {d.str("id"), name, type});
    db.exec("DELETE FROM dataset_counters WHERE dataset_id = ? AND key IN (?, ?)",
            {d.str("id"), label_key("lc", type, name), label_key("ls", type, name)});
    touch(d.str("id"));
  });
  remove_files(files);
  return http::no_content(204);
}

}  // namespace atelier::data
