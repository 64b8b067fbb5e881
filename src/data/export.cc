// Export tasks: a manifest (filtered by state, ids or search
// conditions), a PASCAL VOC, COCO or YOLO folder, from a published version,
// or into a new dataset.
#include "data/transfer_internal.h"

#include "data/dataset_rows.h"
#include "data/fields.h"
#include "data/label_defs.h"
#include "data/line_reader.h"
#include "data/publishing.h"
#include "data/query_params.h"
#include "data/search.h"

namespace atelier::data {

namespace {

// The samples an export selects: the WHERE clause over samples `s`.
// GCC 12 reports a false -Wmaybe-uninitialized inside std::vector<Value>'s
// reallocation (moving std::variant alternatives) for the binds below.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
std::string export_where(const json& p, store::Params& binds) {
  std::string where = " WHERE s.dataset_id = ?";
  int type = p.value("export_type", 2);
  if (type == 0) where += " AND s.state <> 'UN_ANNOTATION'";
  if (type == 1) where += " AND s.state = 'UN_ANNOTATION'";
  if (p.contains("sample_state")) {
    where += " AND s.state = ?";
    const std::string& state = p["sample_state"].get_ref<const std::string&>();
    binds.push_back(state);
  }
  if (p.contains("samples")) {
    where += " AND s.id IN (NULL";
    for (auto& id : p["samples"]) {
      where += ", ?";
      binds.push_back(id.get_ref<const std::string&>());
    }
    where += ")";
  }
  if (p.contains("search_conditions") && !p["search_conditions"].empty()) {  // ORed for exports, ANDed in sample lists
    std::string any;
    for (auto& c : p["search_conditions"]) any += (any.empty() ? "(" : " OR (") + condition_sql(c, binds) + ")";
    where += " AND (" + any + ")";
  }
  return where;
}
#pragma GCC diagnostic pop

// Writes the selected samples as a manifest (and, for annotation_format VOC,
// each image with its VOC file beside it) under the export path. Writing
// again gives the same files, so an interrupted export simply runs again.
// Exports a published version: its manifest's lines, filtered by
// export_type, with sources in the requested scheme.
json run_version_export(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d) {
  const json& p = tc.task().params;
  auto v = db.query_one("SELECT name, status FROM dataset_versions WHERE id = ? AND dataset_id = ?",
                        {p["version_id"].get<std::string>(), d.str("id")});
  if (!v || v->i64("status") != 1)
    throw ApiError(400, "ModelArts.4353", "Dataset version " + p["version_id"].get<std::string>() + " does not exist.");
  std::string name = v->str("name");
  auto src = objects.get(obs::parse_path(inner_work_path(d) + "annotation/" + name + "/" + name + ".manifest"));
  if (!src) throw ApiError(400, "ModelArts.4710", "The manifest of dataset version " + name + " is missing.");
  bool s3 = p.value("source_type_header", "obs://") == "s3://";
  int type = p.value("export_type", 2);
  auto rescheme = [&](json& j, const char* key) {
    if (s3 && j.contains(key) && j[key].is_string()) {
      std::string u = j[key];
      if (u.rfind("obs://", 0) == 0) j[key] = "s3://" + u.substr(6);
    }
  };
  LineReader lines(std::move(src));
  std::string line;
  bool too_long = false;
  int64_t done = 0;
  obs::ObsPath manifest = obs::parse_path(p["manifest_path"].get<std::string>());
  put_pages(objects, manifest, [&](std::string& out) {
    for (int k = 0; k < 500; ++k) {
      if (!lines.next(line, too_long)) return !out.empty();
      json j = parse_json_limited(line);
      if (too_long || !j.is_object()) continue;  // we wrote this manifest; skip what we cannot read
      bool labeled = j.contains("annotation") && j["annotation"].is_array() && !j["annotation"].empty();
      if ((type == 0 && !labeled) || (type == 1 && labeled)) continue;
      rescheme(j, "source");
      if (j.contains("annotation") && j["annotation"].is_array())
        for (auto& a : j["annotation"]) {
          rescheme(a, "annotation-loc");
          rescheme(a, "annotation_loc");
        }
      out += j.dump() + "\n";
      ++done;
    }
    tc.progress({{"total", done}, {"finished", done}});
    return true;
  }, [&tc] { return tc.stopping(); });
  return {{"total", done}, {"finished", done}};
}

json run_export_files(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d);

// Runs the file writes an export gathers page by page on two threads while
// the next page is read: creating files (a VOC document per detection
// sample) is most of an export's cost. A failed write surfaces at the next
// flush() or wait().
class ExportWriters {
 public:
  ~ExportWriters() {
    for (auto& f : running_)
      if (f.valid()) f.wait();
  }
  void add(std::function<void()> job) { jobs_.push_back(std::move(job)); }
  // Waits for the writes started before, then starts those gathered since.
  void flush() {
    wait();
    auto jobs = std::make_shared<std::vector<std::function<void()>>>(std::move(jobs_));
    jobs_.clear();
    size_t n = jobs->size(), half = (n + 1) / 2;
    for (size_t from = 0; from < n; from += half)
      running_.push_back(std::async(std::launch::async, [jobs, from, to = std::min(n, from + half)] {
        for (size_t i = from; i < to; ++i) (*jobs)[i]();
      }));
  }
  void wait() {
    for (auto& f : running_) f.get();
    running_.clear();
  }

 private:
  std::vector<std::function<void()>> jobs_;
  std::vector<std::future<void>> running_;
};

// The file name a sample's copy takes in a flat export folder: its own, or
// prefixed with its id when an earlier sample took that name or its stem
// (img.jpg and img.png would share img.xml or img.txt).
std::string unique_file_name(std::set<std::string>& taken_stems, const std::string& name, const std::string& id) {
  std::string file = taken_stems.insert(stem(name)).second ? name : id + "_" + name;
  taken_stems.insert(stem(file));
  return file;
}

// The COCO box [x, y, width, height] around a label's shape, and for a
// polygon its outline as a COCO segmentation; false for labels without
// geometry or whose box would be empty (a point).
bool coco_geometry(const json& label, json& bbox, json& segmentation) {
  const json& prop = label.value("property", json::object());
  if (!prop.is_object() || !prop.contains("@modelarts:feature")) return false;
  std::string shape = prop.value("@modelarts:shape", std::string());
  const json& f = prop["@modelarts:feature"];
  double x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  if (shape == "circle") {  // [[cx, cy], [r]]
    if (!f.is_array() || f.size() != 2 || !f[0].is_array() || f[0].size() != 2 || !f[1].is_array() || f[1].size() != 1 ||
        !f[0][0].is_number() || !f[0][1].is_number() || !f[1][0].is_number())
      return false;
    double cx = f[0][0], cy = f[0][1], r = f[1][0];
    x1 = cx - r, y1 = cy - r, x2 = cx + r, y2 = cy + r;
  } else {
    if (!f.is_array() || f.empty()) return false;
    bool first = true;
    json outline = json::array();
    for (auto& pt : f) {
      if (!pt.is_array() || pt.size() != 2 || !pt[0].is_number() || !pt[1].is_number()) return false;
      double x = pt[0], y = pt[1];
      x1 = first ? x : std::min(x1, x), y1 = first ? y : std::min(y1, y);
      x2 = first ? x : std::max(x2, x), y2 = first ? y : std::max(y2, y);
      first = false;
      outline.push_back(pt[0]);
      outline.push_back(pt[1]);
    }
    if (shape == "polygon") segmentation = json::array({outline});
  }
  if (x2 <= x1 || y2 <= y1) return false;  // a point, or a line along an axis: no box
  bbox = json::array({x1, y1, x2 - x1, y2 - y1});
  return true;
}

// The class list of a detection export: the dataset's detection labels in
// their order; names met on samples but not defined are added as they come.
struct Categories {
  std::map<std::string, int64_t> index;  // name -> 0-based position
  std::vector<std::string> order;
  Categories(Database& db, const std::string& ds) {
    for (auto& l : dataset_labels(db, ds))
      if (l.i64("type") == 1) of(l.str("name"));
  }
  int64_t of(const std::string& name) {
    auto [it, fresh] = index.emplace(name, int64_t(order.size()));
    if (fresh) order.push_back(name);
    return it->second;
  }
};

// YOLO exports put EVAL and TEST samples in the valid subset, the rest in train.
bool yolo_valid(const std::string& usage) { return usage == "EVAL" || usage == "TEST"; }

// A sample's YOLO label file: one `class x_center y_center width height`
// line per shape, in fractions of the image (its @modelarts:size), the box
// around the shape for shapes other than boxes. Without a size there is
// nothing to divide by, and the file stays empty.
std::string yolo_lines(const ManifestSample& m, Categories& cats) {
  const json& size = m.metadata.is_object() ? m.metadata.value("@modelarts:size", json()) : json();
  if (!size.is_array() || size.size() < 2 || !size[0].is_number() || !size[1].is_number()) return "";
  double W = size[0], H = size[1];
  if (W <= 0 || H <= 0) return "";
  std::string out;
  for (auto& l : m.labels) {
    json bbox, seg;
    if (!l.is_object() || !coco_geometry(l, bbox, seg)) continue;
    double x = bbox[0], y = bbox[1], w = bbox[2], h = bbox[3];
    char line[160];
    std::snprintf(line, sizeof line, "%lld %.10g %.10g %.10g %.10g\n", static_cast<long long>(cats.of(l.value("name", ""))),
                  (x + w / 2) / W, (y + h / 2) / H, w / W, h / H);
    out += line;
  }
  return out;
}

// annotation_format YOLO, after the images and label files: obj.names,
// obj.data and the train and valid lists (darknet's "data/" paths, as CVAT
// writes them), each list from its own pass over the exported samples.
void write_yolo_lists(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const std::string& where,
                      const store::Params& binds, const std::string& dir, const Categories& cats,
                      const std::function<std::string(const Row&)>& usage_of) {
  std::string names;
  for (auto& n : cats.order) names += n + "\n";
  objects.put(obs::parse_path(dir + "obj.names"), names, obs::ObjectStore::Durability::kDeferred);
  objects.put(obs::parse_path(dir + "obj.data"),
              "classes = " + std::to_string(cats.order.size()) +
                  "\nnames = data/obj.names\ntrain = data/train.txt\nvalid = data/valid.txt\nbackup = backup/\n",
              obs::ObjectStore::Durability::kDeferred);
  for (bool valid : {false, true}) {
    int64_t after = 0;
    std::set<std::string> taken;
    put_pages(objects, obs::parse_path(dir + (valid ? "valid.txt" : "train.txt")), [&](std::string& page) {
      store::Params pb = binds;
      pb.push_back(after);
      auto rows = db.query("SELECT s.* FROM samples s" + where + " AND s.seq > ? ORDER BY s.seq LIMIT 500", pb);
      for (auto& r : rows) {
        after = r.i64("seq");
        std::string file = unique_file_name(taken, r.str("name"), r.str("id"));
        if (yolo_valid(usage_of(r)) == valid) page += std::string("data/") + (valid ? "obj_valid_data/" : "obj_train_data/") + file + "\n";
      }
      return !rows.empty();
    }, [&tc] { return tc.stopping(); });
  }
}

// annotation_format COCO: <path>annotations/instances_default.json, read in
// two passes over the selected samples (images, then annotations) so memory
// stays flat. Image ids are the samples' sequence numbers; categories are
// the dataset's detection labels in their order, then any other name met.
// Boxes come back exactly on import; other shapes are written as their
// bounding box (polygons also as segmentation), which an import reads as a box.
void write_coco(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const std::string& ds,
                const std::string& where, const store::Params& binds, const std::string& dir) {
  std::map<std::string, int64_t> categories;
  std::vector<std::string> order;
  for (auto& l : dataset_labels(db, ds))
    if (l.i64("type") == 1 && !categories.count(l.str("name"))) {
      categories[l.str("name")] = int64_t(order.size()) + 1;
      order.push_back(l.str("name"));
    }
  int phase = 0;  // 0 header, 1 images, 2 annotations, 3 done
  int64_t after = 0, annotation_id = 0;
  bool first = true;
  std::set<std::string> names;
  put_pages(objects, obs::parse_path(dir + "annotations/instances_default.json"), [&](std::string& page) {
    if (phase == 0) {
      page += R"({"info":{"description":"exported by Atelier"},"licenses":[],"images":[)";
      phase = 1;
      return true;
    }
    if (phase == 3) return false;
    store::Params pb = binds;
    pb.push_back(after);
    auto rows = db.query("SELECT s.seq, s.id, s.name, s.labels, s.metadata FROM samples s" + where +
                         " AND s.seq > ? ORDER BY s.seq LIMIT 500", pb);
    if (rows.empty()) {
      if (phase == 1) {
        page += R"(],"annotations":[)";
        phase = 2, after = 0, first = true;
        names.clear();
        return true;
      }
      json cats = json::array();
      for (size_t i = 0; i < order.size(); ++i) cats.push_back({{"id", int64_t(i) + 1}, {"name", order[i]}, {"supercategory", ""}});
      page += "],\"categories\":" + cats.dump(-1, ' ', false, json::error_handler_t::replace) + "}";
      phase = 3;
      return true;
    }
    for (auto& r : rows) {
      after = r.i64("seq");
      if (phase == 1) {
        json im = {{"id", after}, {"file_name", unique_file_name(names, r.str("name"), r.str("id"))}};
        json md = json::parse(r.str("metadata"), nullptr, false);
        const json& size = md.is_object() ? md.value("@modelarts:size", json()) : json();
        if (size.is_array() && size.size() >= 2 && size[0].is_number() && size[1].is_number())
          im["width"] = size[0], im["height"] = size[1];
        page += (first ? "" : ",") + im.dump(-1, ' ', false, json::error_handler_t::replace);
        first = false;
        continue;
      }
      json labels = json::parse(r.str("labels"), nullptr, false);
      if (!labels.is_array()) continue;
      for (auto& l : labels) {
        json bbox, seg = json::array();
        if (!l.is_object() || !coco_geometry(l, bbox, seg)) continue;
        std::string name = l.value("name", std::string());
        if (!categories.count(name)) {
          categories[name] = int64_t(order.size()) + 1;
          order.push_back(name);
        }
        json a = {{"id", ++annotation_id},          {"image_id", after}, {"category_id", categories[name]},
                  {"bbox", bbox},                    {"area", bbox[2].get<double>() * bbox[3].get<double>()},
                  {"segmentation", seg},             {"iscrowd", 0}};
        if (l.contains("score") && l["score"].is_number()) a["score"] = l["score"];
        page += (first ? "" : ",") + a.dump(-1, ' ', false, json::error_handler_t::replace);
        first = false;
      }
    }
    return true;
  }, [&tc] { return tc.stopping(); });
}

json run_export_files(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d) {
  const json& p = tc.task().params;
  std::string ds = d.str("id");
  int type = int(d.i64("type"));
  std::string dir = p["path"].get<std::string>();
  std::string scheme = p.value("source_type_header", "obs://");
  bool voc = p.value("annotation_format", "") == "VOC";
  bool coco = p.value("annotation_format", "") == "COCO";
  bool yolo = p.value("annotation_format", "") == "YOLO";
  bool clear_hard = p.value("clear_hard_property", true);
  bool ratio_usage = p.value("ratio_sample_usage", false);
  double ratio = parse_ratio(p.value("train_sample_ratio", std::string("1.00"))).value_or(1.0);
  obs::ObsPath manifest = obs::parse_path(p["manifest_path"].get<std::string>());
  objects.create_bucket(manifest.bucket);
  int64_t total = 0, done = 0;
  // Pages are read one by one (each a consistent read) rather than in one
  // snapshot: progress is written as the export goes, and a write may not
  // happen inside a snapshot. Samples are taken in seq order, so a sample
  // added meanwhile is either in or out, never half.
  {
    store::Params b{ds};
    std::string where = export_where(p, b);
    total = db.query_one("SELECT COUNT(*) AS n FROM samples s" + where, b)->i64("n");
    tc.progress({{"total", total}, {"finished", 0}});
    int64_t after = 0;
    std::set<std::string> names;  // VOC, COCO and YOLO exports: file names used in the flat layout
    Categories yolo_classes(db, ds);
    ExportWriters writers;
    put_pages(objects, manifest, [&](std::string& pending) {
      store::Params pb = b;
      pb.push_back(after);
      auto rows = db.query("SELECT s.* FROM samples s" + where + " AND s.seq > ? ORDER BY s.seq LIMIT 500", pb);
      if (rows.empty()) {
        writers.wait();  // every file the manifest names exists before the manifest does
        return false;
      }
      for (auto& r : rows) {
        after = r.i64("seq");
        ManifestSample m = manifest_sample(r, objects, type);
        if (clear_hard) data::clear_hard(m);
        if (ratio_usage && !m.labels.empty()) m.usage = split_usage(m.id, ratio);
        std::string file = r.str("name");
        if (voc || coco || yolo) {
          // Flat PASCAL VOC layout: the image and <stem>.xml side by side;
          // COCO: the images in images/; YOLO: the image and <stem>.txt in
          // obj_train_data/ or obj_valid_data/.
          file = unique_file_name(names, file, m.id);
          std::string sub = coco ? "images/" : !yolo ? "" : yolo_valid(m.usage) ? "obj_valid_data/" : "obj_train_data/";
          if (yolo) {
            obs::ObsPath txt = obs::parse_path(dir + sub + stem(file) + ".txt");
            writers.add([&objects, txt, lines = yolo_lines(m, yolo_classes)] {
              objects.put(txt, lines, obs::ObjectStore::Durability::kDeferred);
            });
          }
          obs::ObsPath from = obs::parse_path(m.path);
          if (objects.exists(from)) {
            obs::ObsPath dst = obs::parse_path(dir + sub + file);
            writers.add([&objects, from, dst] {  // opened by the writer: no descriptor waits in the queue
              auto src = objects.get(from);
              if (!src) throw ApiError(400, "ModelArts.4362", "source " + from.str() + " disappeared during the export");
              objects.put(dst, [&](char* buf, size_t cap) { return src->read(buf, cap); },
                          obs::ObjectStore::Durability::kDeferred);
            });
            m.path = obs_str(dst);  // the exported folder stands on its own
          }
        }
        pending += manifest_line(m, type, [&](const std::string& xml, std::string_view suffix) {
          obs::ObsPath x = obs::parse_path(dir + (voc ? stem(file) : "annotations/" + m.id) + std::string(suffix) + ".xml");
          writers.add([&objects, x, xml] { objects.put(x, xml, obs::ObjectStore::Durability::kDeferred); });
          return scheme + x.bucket + "/" + x.key;
        }, scheme);
        pending += "\n";
        ++done;
      }
      writers.flush();
      tc.progress({{"total", total}, {"finished", done}});
      return true;
    }, [&tc] { return tc.stopping(); });
    writers.wait();
    if (coco) {  // over the same samples: those up to the last one exported
      store::Params upto = b;
      upto.push_back(after);
      write_coco(db, objects, tc, ds, where + " AND s.seq <= ?", upto, dir);
    }
    if (yolo) {
      store::Params upto = b;
      upto.push_back(after);
      write_yolo_lists(db, objects, tc, where + " AND s.seq <= ?", upto, dir, yolo_classes, [&](const Row& r) {
        bool labeled = r.str("labels") != "[]";
        return ratio_usage && labeled ? split_usage(r.str("id"), ratio) : r.null("usage") ? std::string() : r.str("usage");
      });
    }
  }
  objects.sync();  // the copies and VOC files, before the task reports success
  return {{"total", done}, {"finished", done}};
}

const char* status_of(const std::string& s) {
  if (s == "QUEUING") return "QUEUING";
  if (s == "RUNNING") return "RUNNING";
  if (s == "COMPLETED") return "COMPLETED";
  return "FAILED";
}

}  // namespace

std::string compact_time(int64_t ms) {
  time_t t = time_t(ms / 1000);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return buf;
}


// export_dest NEW_DATASET: the export's folder becomes the input of a new
// dataset (same type and labels) that imports the manifest. Re-running after
// an interruption finds the dataset it created by the task id it carries.
json run_export(Database& db, obs::ObjectStore& objects, tasks::Queue& queue, tasks::TaskContext& tc, const Row& d) {
  const json& p = tc.task().params;
  json result = p.contains("version_id") ? run_version_export(db, objects, tc, d) : run_export_files(db, objects, tc, d);
  if (!p.contains("new_dataset")) return result;
  const json& nd = p["new_dataset"];
  std::string name = nd["name"];
  std::string id;
  if (auto r = db.query_one("SELECT id, extra FROM datasets WHERE project_id = ? AND name = ?", {tc.task().project_id, name})) {
    json extra = json::parse(r->str("extra"), nullptr, false);
    if (!extra.is_object() || extra.value("export_task_id", "") != tc.task().id)
      throw ApiError(400, "ModelArts.4351", "Dataset name " + name + " already exists.");
    id = r->str("id");
  } else {
    NewDataset n;
    n.project_id = tc.task().project_id;
    n.name = name;
    n.type = int(d.i64("type"));
    n.description = "Exported from dataset " + d.str("name");
    n.work_path = obs::parse_path(nd["work_path"].get<std::string>());
    n.data_sources = json::array({{{"data_path", p["path"]}, {"data_type", 0}}});
    for (auto& r : dataset_labels(db, d.str("id")))
      n.labels.push_back(LabelDef{r.str("name"), int(r.i64("type")), json::parse(r.str("property"), nullptr, false),
                                  json::parse(r.str("attributes"), nullptr, false)});
    n.extra = {{"export_task_id", tc.task().id}};
    n.workspace_id = d.str("workspace_id");
    id = insert_dataset(db, objects, n);
  }
  std::string import_id;
  if (auto t = queue.latest(kKind, id)) import_id = t->id;
  else import_id = queue.submit(kKind, tc.task().project_id, id, {{"import_path", p["manifest_path"]}, {"import_type", "manifest"}});
  result["new_dataset_id"] = id;
  result["import_task_id"] = import_id;
  return result;
}

json export_task_json(const tasks::Task& t) {
  json prog = t.status == "COMPLETED" && t.result.is_object() && !t.result.empty() ? t.result : t.progress;
  int64_t total = prog.value("total", int64_t(0)), done = prog.value("finished", int64_t(0));
  const char* status = t.status == "QUEUING"     ? "INIT"
                       : t.status == "RUNNING"   ? "RUNNING"
                       : t.status == "COMPLETED" ? "SUCCESSED"  // sic, as the service spells it
                                                 : "FAILED";
  double progress = t.status == "COMPLETED" ? 100.0 : total > 0 ? 100.0 * double(done) / double(total) : 0.0;
  json params = t.params.value("export_params", json::object());
  json j = {{"task_id", t.id},
          {"dataset_id", t.resource_id},
          {"path", t.params.value("path", "")},
          {"manifest_path", t.params.value("manifest_path", "")},
          {"export_type", t.params.value("export_type", 2)},
          {"export_format", t.params.value("export_format", 2)},
          {"annotation_format", t.params.value("annotation_format", "")},
          {"export_params", params},
          {"status", status},
          {"progress", progress},
          {"total_sample_count", total},
          {"finished_sample_count", done},
          {"create_time", t.created_at},
          {"update_time", t.ended_at ? t.ended_at : t.started_at ? clock::now_ms() : t.created_at},
          {"error_code", t.error_code},
          {"error_msg", t.error_msg}};
  for (const char* k : {"new_dataset_id", "import_task_id"})
    if (t.result.is_object() && t.result.contains(k)) j[k] = t.result[k];
  return j;
}

json import_task_json(Database& db, const tasks::Task& t) {
  Progress g = Progress::from(t.status == "COMPLETED" && t.result.is_object() && !t.result.empty() ? t.result : t.progress);
  int64_t now = clock::now_ms();
  int64_t end = t.ended_at ? t.ended_at : now;
  json j = {{"task_id", t.id},
            {"dataset_id", t.resource_id},
            {"import_path", t.params.value("import_path", "")},
            {"import_type", t.params.value("import_type", "dir") == "manifest" ? 1 : 0},
            {"import_origin", "obs"},
            {"status", status_of(t.status)},
            {"create_time", t.created_at},
            {"update_ms", t.ended_at ? t.ended_at : (t.started_at ? now : t.created_at)},
            {"elapsed_time", t.started_at ? (end - t.started_at) / 1000 : 0},
            {"total_sample_count", std::max<int64_t>(g.total, 0)},
            {"processed_sample_count", g.processed},
            {"imported_sample_count", g.imported},
            {"updated_sample_count", g.updated},
            {"annotated_sample_count", g.annotated},
            {"unconfirmed_sample_count", g.unconfirmed},
            {"failed_sample_count", g.failed},
            {"total_sub_sample_count", 0},
            {"imported_sub_sample_count", 0},
            {"total_file_count", std::max<int64_t>(g.total, 0)},
            {"finished_file_count", g.processed},
            {"total_file_size", g.bytes_total},
            {"finished_file_size", g.bytes_done},
            {"file_statistics",
             {{"file_num_finished", g.processed}, {"file_num_total", std::max<int64_t>(g.total, 0)},
              {"file_size_finished", g.bytes_done}, {"file_size_total", g.bytes_total}}},
            {"error_code", t.error_code},
            {"error_msg", t.error_msg}};
  json fails = json::array();
  for (auto& r : db.query("SELECT item, reason FROM dataset_import_failures WHERE task_id = ? ORDER BY n LIMIT 100", {t.id}))
    fails.push_back({{"file", r.str("item")}, {"reason", r.str("reason")}});
  j["failures"] = fails;
  return j;
}

}  // namespace atelier::data
