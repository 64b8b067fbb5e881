// Dataset sync: the input folders rescanned as a resumable task.
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
#include "data/label_defs.h"
#include "data/manifest.h"
#include "data/sample_writer.h"
#include "data/transfer.h"
#include "data/types.h"
#include "iam/iam.h"
#include "obs/buckets.h"

#include <spdlog/spdlog.h>

namespace atelier::data {

// Brings the files under a folder in as samples (dataset creation, sync).
// One transaction per listing page, so a large folder does not hold the
// write lock; inside a caller's transaction the pages join it.
// New files also bring the annotations their folder layout gives them
// (class folders, labels or VOC beside them: a sync brings in new files
// with their annotations) unless the dataset was created with
// import_annotations false. A file whose annotations do not fit comes in
// unlabeled; files already samples are left as they are.
void DataApi::scan_folder(const std::string& ds, int type, const obs::ObsPath& folder, int64_t& added,
                                     const std::function<bool()>& stop) {
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
}

// Rescans the input folders: new files become samples, samples whose file
// is gone are removed. Safe to run again, so an interrupted sync resumes.
json DataApi::task_dataset_sync(tasks::TaskContext& tc) {
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
        present = objects.exists(obs::parse_path(r.str("path")));
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
}

Response DataApi::sync(Context& ctx) {
  auto d = dataset(ctx);
  if (queue.active("dataset-sync", d.str("id")))
    throw ApiError(400, "ModelArts.4355", "A synchronisation of dataset " + d.str("id") + " is already running.");
  std::string id = queue.submit("dataset-sync", ctx.caller.project_id, d.str("id"), json::object());
  return json_response(200, {{"task_id", id}});
}

Response DataApi::sync_status(Context& ctx) {
  auto d = dataset(ctx);
  auto t = queue.latest("dataset-sync", d.str("id"));
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
}

}  // namespace atelier::data
