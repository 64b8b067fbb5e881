// Import tasks (spec §1.8, manifest-format.md §3, §5): a manifest file or an
// OBS folder brought into a dataset as a resumable task.
//
// Crash safety: the task reads its source in batches; each batch's samples,
// labels, counters, failure reasons and the task's progress (with the resume
// position) commit in one transaction. After a kill the task resumes at the
// last committed position, so no batch is half applied or applied twice.
// Re-importing a path that is already a sample updates its annotations
// instead of adding a second sample.
#include "data/transfer.h"

#include "common/ids.h"
#include "data/core.h"

namespace atelier::data {

using http::Access;
using http::json_response;
using http::Route;

namespace {

constexpr size_t kBatch = 500;
constexpr int64_t kMaxStoredFailures = 1000;
const char* kKind = "dataset-import";

// What the import applies to each source item (validated at creation).
struct ImportOptions {
  bool manifest = false;
  obs::ObsPath path;
  bool import_annotations = true, import_samples = true, final_annotation = true, difficult_only = false;
  std::set<std::string> included, excluded;

  static ImportOptions from(const json& p) {
    ImportOptions o;
    o.manifest = p.value("import_type", "dir") == "manifest";
    o.path = obs::parse_path(p.value("import_path", ""));
    o.import_annotations = p.value("import_annotations", true);
    o.import_samples = p.value("import_samples", true);
    o.final_annotation = p.value("final_annotation", true);
    o.difficult_only = p.value("difficult_only", false);
    for (auto& n : p.value("included_labels", json::array())) o.included.insert(n.get<std::string>());
    for (auto& n : p.value("excluded_labels", json::array())) o.excluded.insert(n.get<std::string>());
    return o;
  }
};

// One item read from the source, before it is applied.
struct Item {
  std::string origin;  // manifest line number or object key, for failure reasons
  ManifestSample m;
  int64_t size = 0, mtime = 0;
};

// Counters kept in the task's progress, with the resume position.
struct Progress {
  int64_t total = -1, processed = 0, imported = 0, updated = 0, annotated = 0, unconfirmed = 0, failed = 0;
  int64_t bytes_done = 0, bytes_total = 0;
  uint64_t offset = 0;  // manifest: byte offset of the next line
  std::string marker;   // folder: last key handled

  static Progress from(const json& p) {
    Progress g;
    if (!p.is_object()) return g;
    g.total = p.value("total", int64_t(-1));
    g.processed = p.value("processed", int64_t(0));
    g.imported = p.value("imported", int64_t(0));
    g.updated = p.value("updated", int64_t(0));
    g.annotated = p.value("annotated", int64_t(0));
    g.unconfirmed = p.value("unconfirmed", int64_t(0));
    g.failed = p.value("failed", int64_t(0));
    g.bytes_done = p.value("bytes_done", int64_t(0));
    g.bytes_total = p.value("bytes_total", int64_t(0));
    g.offset = p.value("offset", uint64_t(0));
    g.marker = p.value("marker", std::string());
    return g;
  }
  json to_json() const {
    return {{"total", total},         {"processed", processed}, {"imported", imported},     {"updated", updated},
            {"annotated", annotated}, {"unconfirmed", unconfirmed}, {"failed", failed},     {"bytes_done", bytes_done},
            {"bytes_total", bytes_total}, {"offset", offset}, {"marker", marker}};
  }
};

std::string basename(const std::string& key) { return key.substr(key.rfind('/') + 1); }
std::string stem(const std::string& key) {
  std::string b = basename(key);
  size_t dot = b.rfind('.');
  return dot == std::string::npos ? b : b.substr(0, dot);
}
std::string lower_ext(const std::string& key) {
  std::string b = basename(key);
  size_t dot = b.rfind('.');
  std::string e = dot == std::string::npos ? "" : b.substr(dot + 1);
  for (char& c : e) c = char(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

// Applies batches of items to one dataset.
class Importer {
 public:
  Importer(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, ImportOptions opt)
      : db_(db), objects_(objects), tc_(tc), ds_(d.str("id")), type_(int(d.i64("type"))),
        data_dir_(inner_work_path(d) + "data/"), opt_(std::move(opt)) {}

  // Applies one batch in one transaction: the items, the items that could
  // not be read (origin, reason), the progress and the resume position.
  void apply(std::vector<Item>& items, std::vector<std::pair<std::string, std::string>>& bad, Progress& g,
             const json& cursor_update) {
    db_.transaction([&] {
      defined_ = defined_labels(db_, ds_);
      int64_t seq = db_.query_one("SELECT sample_seq FROM datasets WHERE id = ?", {ds_})->i64("sample_seq");
      SampleWriter w(db_, ds_);
      for (auto& [origin, reason] : bad) {
        ++g.processed;
        fail(g, origin, reason);
      }
      for (auto& it : items) {
        ++g.processed;
        try {
          apply_one(it, w, seq, g);
        } catch (const ApiError& e) {
          fail(g, it.origin, e.what());
        } catch (const ManifestError& e) {
          fail(g, it.origin, e.what());
        }
      }
      w.commit();
      db_.exec("UPDATE datasets SET sample_seq = ?, data_updated_at = ?, updated_at = ? WHERE id = ?",
               {seq, clock::now_ms(), clock::now_ms(), ds_});
      json p = g.to_json();
      for (auto& [k, v] : cursor_update.items()) p[k] = v;
      tc_.progress(p);
    });
    items.clear();
    bad.clear();
  }

  void fail(Progress& g, const std::string& origin, const std::string& reason) {
    ++g.failed;
    if (g.failed <= kMaxStoredFailures)
      db_.exec("INSERT INTO dataset_import_failures (task_id, n, item, reason) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (task_id, n) DO NOTHING",
               {tc_.task().id, g.failed, origin, reason.substr(0, 1000)});
  }

 private:
  void apply_one(Item& it, SampleWriter& w, int64_t& seq, Progress& g) {
    ManifestSample& m = it.m;
    if (opt_.difficult_only && !(m.metadata.contains("@modelarts:hard") && m.metadata["@modelarts:hard"].is_number() &&
                                 m.metadata["@modelarts:hard"].get<double>() > 0))
      return;  // filtered out, not a failure
    json labels = opt_.import_annotations ? m.labels : json::array();
    std::set<std::string> names;
    for (auto& l : labels) names.insert(l.value("name", ""));
    if (!opt_.included.empty() && std::none_of(names.begin(), names.end(), [&](auto& n) { return opt_.included.count(n); }))
      return;
    if (std::any_of(names.begin(), names.end(), [&](auto& n) { return opt_.excluded.count(n) > 0; })) return;

    // The data: an object that must exist, or inline text kept in the dataset's storage.
    if (m.path.empty()) {
      std::string key_path = data_dir_ + crypto::md5_hex(m.text) + ".txt";
      auto p = obs::parse_path(key_path);
      if (!objects_.head(p)) objects_.put(p, m.text);
      m.path = obs_str(p);
      it.size = int64_t(utf8_length(m.text));
    } else if (it.mtime == 0) {
      auto info = objects_.head(obs::parse_path(m.path));
      if (!info) throw ApiError(400, "ModelArts.4362", "source " + m.path + ": the file does not exist");
      it.size = int64_t(info->size);
      it.mtime = info->mtime_ms;
    }
    int64_t text_length = it.size;
    if (is_text_type(type_) && !m.text.empty()) text_length = int64_t(utf8_length(m.text));
    else if (is_text_type(type_)) text_length = int64_t(utf8_length(objects_.get_all(obs::parse_path(m.path)).value_or("")));

    // Annotation kinds must fit the dataset; new label names join its label set (§5.5).
    // New labels are added only once the item is known to be good.
    const auto& allowed = label_types_for(type_);
    std::vector<LabelDef> new_labels;
    auto defined = defined_;
    for (size_t i = 0; i < labels.size(); ++i) {
      int t = labels[i].value("type", -1);
      std::string where = "annotation[" + std::to_string(i) + "]";
      if (!allowed.count(t))
        throw ApiError(400, "ModelArts.4362", where + ": label type " + std::to_string(t) + " does not fit dataset type " +
                                                  std::to_string(type_));
      std::string name = labels[i].value("name", "");
      if (name.empty() || defined.count({t, name})) continue;
      json def = {{"name", name}, {"type", t}};
      new_labels.push_back(read_label(JsonIn(def, where), type_));
      defined.insert({t, name});
    }
    SampleFacts facts{type_, text_length, m.metadata};
    labels = checked_labels(labels, facts, "annotation", defined, "human");
    if (!new_labels.empty()) {
      insert_labels(db_, ds_, new_labels);
      defined_ = std::move(defined);
    }
    bool auto_labels = !opt_.final_annotation && !labels.empty();

    auto existing = db_.query_one("SELECT * FROM samples WHERE dataset_id = ? AND path = ?", {ds_, m.path});
    if (existing) {
      if (labels.empty() && !m.usage.empty())
        db_.exec("UPDATE samples SET usage = ? WHERE dataset_id = ? AND seq = ?", {m.usage, ds_, existing->i64("seq")});
      if (!labels.empty()) {
        std::string* usage = m.usage.empty() ? nullptr : &m.usage;
        w.relabel(*existing, labels, &m.metadata, "human", usage, opt_.final_annotation);
        ++g.annotated;
      }
      ++g.updated;
      return;
    }
    if (!opt_.import_samples) return;
    SampleWriter::NewSample s;
    s.path = m.path;
    s.name = basename(m.path);
    s.dir = m.path.substr(0, m.path.rfind('/') + 1);
    s.type = sample_type_for(type_);
    s.size = it.size;
    s.sample_time = it.mtime;
    s.labels = labels;
    s.metadata = m.metadata;
    s.auto_annotation = auto_labels;
    if (!labels.empty()) s.annotated_by = "human";
    if (!w.insert(s, seq)) return;
    if (!m.usage.empty())
      db_.exec("UPDATE samples SET usage = ? WHERE dataset_id = ? AND seq = ?", {m.usage, ds_, seq});
    ++g.imported;
    if (!labels.empty()) ++(auto_labels ? g.unconfirmed : g.annotated);
  }

  Database& db_;
  obs::ObjectStore& objects_;
  tasks::TaskContext& tc_;
  std::string ds_;
  int type_;
  std::string data_dir_;
  ImportOptions opt_;
  std::set<std::pair<int, std::string>> defined_;
};

json run_manifest(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt) {
  Progress g = Progress::from(tc.task().progress);
  int type = int(d.i64("type"));
  auto info = objects.head(opt.path);
  if (!info) throw ApiError(400, "ModelArts.4374", "The manifest " + obs_str(opt.path) + " does not exist.");
  if (g.total < 0) {  // first run: count the lines for visible progress
    LineReader counter(objects.get(opt.path));
    std::string line;
    bool too_long;
    int64_t n = 0;
    while (counter.next(line, too_long))
      if (too_long || line.find_first_not_of(" \t") != std::string::npos) ++n;
    g.total = n;
    g.bytes_total = int64_t(info->size);
    tc.progress(g.to_json());
  }
  LineReader lines(objects.get(opt.path));
  if (!lines.skip(g.offset)) return g.to_json();
  Importer imp(db, objects, tc, d, opt);
  auto read_file = [&objects](const std::string& path) -> std::optional<std::string> {
    try {
      return objects.get_all(obs::parse_path(path));
    } catch (const ApiError&) {
      return std::nullopt;
    }
  };
  std::vector<Item> batch;
  std::vector<std::pair<std::string, std::string>> bad;  // parse failures of this batch
  std::string line;
  bool too_long = false;
  int64_t line_no = g.processed;  // numbering continues from the resume point
  auto flush = [&] {
    g.bytes_done = int64_t(lines.offset());
    g.offset = lines.offset();
    imp.apply(batch, bad, g, {{"offset", lines.offset()}});
  };
  while (lines.next(line, too_long)) {
    if (tc.stopping()) return g.to_json();
    if (!too_long && line.find_first_not_of(" \t") == std::string::npos) continue;
    std::string origin = "line " + std::to_string(++line_no);
    if (too_long) {
      bad.emplace_back(origin, "the line is longer than " + std::to_string(kMaxManifestLine) + " bytes");
    } else {
      try {
        Item it;
        it.origin = origin;
        it.m = parse_manifest_line(line, type, read_file);
        batch.push_back(std::move(it));
      } catch (const ManifestError& e) {
        bad.emplace_back(origin, e.what());
      }
    }
    if (batch.size() + bad.size() >= kBatch) flush();
  }
  flush();
  return g.to_json();
}

// Folder layouts (manifest-format.md §3): class sub-folders or a .txt beside
// each file for classification (0) and sound classification (200); a PASCAL
// VOC .xml beside each image for detection (1) and segmentation (3); other
// types import the files unlabeled.
json run_folder(Database& db, obs::ObjectStore& objects, tasks::TaskContext& tc, const Row& d, const ImportOptions& opt) {
  Progress g = Progress::from(tc.task().progress);
  int type = int(d.i64("type"));
  std::string root = opt.path.key;
  if (!root.empty() && root.back() != '/') root += '/';
  if (g.total < 0) {
    int64_t n = 0, bytes = 0;
    std::string marker;
    for (;;) {
      auto page = objects.list(opt.path.bucket, root, "", marker, 1000);
      for (auto& o : page.objects)
        if (extension_fits(type, o.key)) {
          ++n;
          bytes += int64_t(o.size);
        }
      if (!page.truncated) break;
      marker = page.next_marker;
    }
    g.total = n;
    g.bytes_total = bytes;
    tc.progress(g.to_json());
  }
  Importer imp(db, objects, tc, d, opt);
  bool classify = type == 0 || type == 200;
  bool voc = type == 1 || type == 3;
  for (;;) {
    if (tc.stopping()) return g.to_json();
    auto page = objects.list(opt.path.bucket, root, "", g.marker, int(kBatch));
    std::vector<Item> items;
    std::vector<std::pair<std::string, std::string>> bad;
    std::string last;
    for (auto& o : page.objects) {
      last = o.key;
      if (!extension_fits(type, o.key)) continue;
      Item it;
      it.origin = o.key;
      it.m.path = "/" + opt.path.bucket + "/" + o.key;
      it.size = int64_t(o.size);
      it.mtime = o.mtime_ms;
      std::string dir = o.key.substr(0, o.key.rfind('/') + 1);
      std::string sibling = dir + stem(o.key);
      try {
        if (classify && opt.import_annotations) {
          auto txt = lower_ext(o.key) == "txt" ? std::nullopt
                                               : objects.get_all(obs::ObsPath{opt.path.bucket, sibling + ".txt"});
          std::vector<std::string> names;
          if (txt) {
            size_t pos = 0;
            while (pos <= txt->size()) {
              size_t nl = txt->find('\n', pos);
              std::string n = txt->substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
              while (!n.empty() && (n.back() == '\r' || n.back() == ' ' || n.back() == '\t')) n.pop_back();
              while (!n.empty() && (n.front() == ' ' || n.front() == '\t')) n.erase(0, 1);
              if (!n.empty()) names.push_back(n);
              if (nl == std::string::npos) break;
              pos = nl + 1;
            }
          } else if (dir.size() > root.size()) {
            // imageNet layout: the deepest folder names the label.
            std::string parent = dir.substr(0, dir.size() - 1);
            names.push_back(parent.substr(parent.rfind('/') + 1));
          }
          for (auto& n : names) it.m.labels.push_back({{"name", n}, {"type", type}});
        } else if (voc && opt.import_annotations) {
          auto xml = objects.get_all(obs::ObsPath{opt.path.bucket, sibling + ".xml"});
          if (xml) {
            auto v = parse_voc(*xml, type == 3);
            it.m.labels = v.labels;
            if (!v.size.is_null()) it.m.metadata["@modelarts:size"] = v.size;
          }
        }
        items.push_back(std::move(it));
      } catch (const ManifestError& e) {
        bad.emplace_back(o.key, e.what());
      }
    }
    for (auto& it : items) g.bytes_done += it.size;
    g.marker = last;
    if (!last.empty()) imp.apply(items, bad, g, {{"marker", last}});
    if (!page.truncated) break;
  }
  return g.to_json();
}

const char* status_of(const std::string& s) {
  if (s == "QUEUING") return "QUEUING";
  if (s == "RUNNING") return "RUNNING";
  if (s == "COMPLETED") return "COMPLETED";
  return "FAILED";
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

}  // namespace

std::vector<store::Migration> transfer_migrations() {
  return {{"data/005_import_failures", R"SQL(
CREATE TABLE dataset_import_failures (
  task_id TEXT NOT NULL, n INTEGER NOT NULL, item TEXT NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (task_id, n));
)SQL"}};
}

std::vector<Route> transfer_routes(Database& db, obs::ObjectStore& objects, tasks::Runner& runner) {
  std::vector<Route> out;
  auto add = [&](std::string method, std::string path, std::string action, http::RouteHandler h) {
    Route r;
    r.method = std::move(method);
    r.path = "/v2/{project_id}" + path;
    r.action = std::move(action);
    r.access = Access::kProject;
    r.handler = std::move(h);
    out.push_back(std::move(r));
  };
  auto dataset = [&db](const Context& ctx) {
    auto r = db.query_one("SELECT * FROM datasets WHERE id = ? AND project_id = ? AND status <> 2",
                          {ctx.param("dataset_id"), ctx.caller.project_id});
    if (!r) throw dataset_missing(ctx.param("dataset_id"));
    return *r;
  };

  runner.handle(kKind, [&db, &objects](tasks::TaskContext& tc) -> json {
    auto d = db.query_one("SELECT * FROM datasets WHERE id = ?", {tc.task().resource_id});
    if (!d) throw dataset_missing(tc.task().resource_id);
    ImportOptions opt = ImportOptions::from(tc.task().params);
    return opt.manifest ? run_manifest(db, objects, tc, *d, opt) : run_folder(db, objects, tc, *d, opt);
  }, /*resumable=*/true);

  add("POST", "/datasets/{dataset_id}/import-tasks", "modelarts:dataset:createImportTask", [&db, &objects, &runner, dataset](Context& ctx) {
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
    if (auto f = in.opt_str("annotation_format"); f && *f != "VOC")
      in.fail("annotation_format", *f == "COCO" ? "COCO is not supported by this server; use VOC" : "must be VOC or COCO");
    json params = {{"import_path", obs_str(p)}, {"import_type", itype}};
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
    for (auto& n : label_names("included_tags")) inc.push_back(n);  // alias seen in the reference examples
    if (!inc.empty()) params["included_labels"] = inc;
    if (json exc = label_names("excluded_labels"); !exc.empty()) params["excluded_labels"] = exc;
    if (auto f = in.opt_str("import_folder")) params["import_folder"] = in.max_len("import_folder", *f, 256);
    if (runner.active(kKind, d.str("id")))
      throw ApiError(400, "ModelArts.4356", "An import task is already running on dataset " + d.str("id") + ".");
    std::string id = runner.submit(kKind, ctx.caller.project_id, d.str("id"), params);
    return json_response(200, {{"task_id", id}});
  });

  add("GET", "/datasets/{dataset_id}/import-tasks", "modelarts:dataset:getDataset", [&db, &runner, dataset](Context& ctx) {
    auto d = dataset(ctx);
    auto [skip, limit] = page(ctx, 10, 100);
    auto [list, total] = runner.list(kKind, d.str("id"), skip, limit);
    json items = json::array();
    for (auto& t : list) items.push_back(import_task_json(db, t));
    return json_response(200, {{"total_count", total}, {"import_tasks", items}});
  });

  add("GET", "/datasets/{dataset_id}/import-tasks/{task_id}", "modelarts:dataset:getDataset", [&db, &runner, dataset](Context& ctx) {
    auto d = dataset(ctx);
    auto t = runner.get(ctx.param("task_id"));
    if (!t || t->kind != kKind || t->resource_id != d.str("id"))
      // The spec has no code for a missing import task; the export one's is the nearest.
      throw ApiError(400, "ModelArts.4359", "Import task " + ctx.param("task_id") + " does not exist.");
    return json_response(200, import_task_json(db, *t));
  });
  return out;
}

}  // namespace atelier::data
