#include "models/models.h"

#include <algorithm>
#include <map>
#include <memory>
#include <regex>
#include <set>

#include "common/clock.h"
#include "common/error.h"
#include "common/ids.h"

namespace atelier::models {

using http::Context;
using http::Response;
using http::Route;
using store::Database;
using store::Row;

namespace {

constexpr const char* kBucket = "models";  // in the registry store

ApiError invalid(const std::string& field, const std::string& why) {
  return ApiError(400, "ModelArts.3037", "Invalid parameter " + field + ": " + why);
}

// Field errors of model bodies: a missing one is 3036, a bad one 3037.
struct ModelFieldErrors : FieldErrorFactory {
  ApiError make(const std::string& field, const std::string& problem) const override {
    if (problem == "is required") return ApiError(400, "ModelArts.3036", "Parameter " + field + " is required.");
    return invalid(field, problem);
  }
};
const ModelFieldErrors kErrors;

ApiError config_error(const std::string& field, const std::string& why) {
  return ApiError(400, "ModelArts.3015", "The model's config.json does not follow the specification: " + field + " " + why);
}

ApiError model_missing(const std::string& id) { return ApiError(404, "ModelArts.3001", "Model " + id + " does not exist."); }

// model_type -> allowed runtimes; empty: any non-empty string.
const std::map<std::string, std::vector<std::string>>& runtimes() {
  static const std::map<std::string, std::vector<std::string>> m = {
      {"tensorflow", {"python2.7", "python3.6", "tf1.13-python2.7-cpu", "tf1.13-python2.7-gpu", "tf1.13-python3.6-cpu",
                      "tf1.13-python3.6-gpu", "tf1.13-python3.7-cpu", "tf1.13-python3.7-gpu", "tf2.1-python3.7"}},
      {"mxnet", {"python2.7", "python3.6", "python3.7"}},
      {"caffe", {"python2.7", "python3.6", "python3.7", "python2.7-cpu", "python2.7-gpu", "python3.6-cpu", "python3.6-gpu",
                 "python3.7-cpu", "python3.7-gpu"}},
      {"spark_mllib", {"python2.7", "python3.6"}},
      {"scikit_learn", {"python2.7", "python3.6"}},
      {"xgboost", {"python2.7", "python3.6"}},
      {"pytorch", {"python2.7", "python3.6", "python3.7", "pytorch1.4-python3.7"}},
      {"mindspore", {}},
      {"image", {}},
      {"template", {}}};
  return m;
}

std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Letters, Chinese, digits, '-', '_' in model names. Beyond ASCII a character is
// taken for a letter unless it lies in a block of spaces, punctuation,
// symbols, emoji or private use.
bool name_chars(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (c < 0x80) {
      if (!(std::isalnum(c) || c == '-' || c == '_')) return false;
      ++i;
      continue;
    }
    int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
    if (i + size_t(n) >= s.size()) return false;
    uint32_t cp = c & (0x3F >> n);
    for (int k = 1; k <= n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + size_t(k)]) & 0x3F);
    i += size_t(n) + 1;
    static const std::pair<uint32_t, uint32_t> not_letters[] = {
        {0x80, 0xBF},     {0xD7, 0xD7},     {0xF7, 0xF7},     {0x37E, 0x37E},   {0x387, 0x387},   {0x2000, 0x2BFF},
        {0x2E00, 0x2E7F}, {0x3000, 0x303F}, {0x30FB, 0x30FB}, {0xE000, 0xF8FF}, {0xFE10, 0xFE1F}, {0xFE30, 0xFE6F},
        {0xFF00, 0xFF0F}, {0xFF1A, 0xFF20}, {0xFF3B, 0xFF40}, {0xFF5B, 0xFF65}, {0xFFF0, 0xFFFF}, {0x1F000, 0x1FFFF},
        {0xE0000, 0x10FFFF}};
    for (auto& [lo, hi] : not_letters)
      if (cp >= lo && cp <= hi) return false;
  }
  return true;
}

bool no_specials(const std::string& s) { return s.find_first_of("&!'\"<>=") == std::string::npos; }

// "/bucket/dir/", "obs://bucket/dir/", "s3://..." or
// "https://<bucket>.obs.<region>.myhuaweicloud.com/dir" -> a folder path.
obs::ObsPath source_folder(const JsonIn& in, const char* key) {
  std::string raw = in.str(key);
  obs::ObsPath p;
  try {
    p = obs::parse_location(raw, in.field(key));
  } catch (const ApiError& e) {
    throw ApiError(400, "ModelArts.3037", e.what());  // the family's code for a bad value
  }
  if (!p.key.empty() && p.key.back() != '/') p.key += '/';
  return p;
}

void check_param(const JsonIn& p) {
  std::string url = p.str("url");
  p.enum_str("method", {"post", "get"});
  p.enum_str("protocol", {"http", "https"});
  std::string name = p.str("param_name");
  if (name.size() > 64) p.fail("param_name", "must be at most 64 characters");
  std::string type = p.enum_str("param_type", {"int", "string", "float", "timestamp", "date", "file", "object", "box"});
  for (const char* k : {"min", "max"})
    if (p.has(k)) {
      if (!p.node()[k].is_number()) p.fail(k, "must be a number");
      if (type != "int" && type != "float") p.fail(k, "applies to int and float parameters only");
    }
  if (p.has("min") && p.has("max") && p.node()["min"].get<double>() > p.node()["max"].get<double>())
    p.fail("min", "must not be more than max");
  if (auto d = p.opt_str("param_desc"); d && utf8_length(*d) > 100) p.fail("param_desc", "must be at most 100 characters");
}

void check_dependencies(const json& deps, const std::string& path, const std::function<ApiError(std::string, std::string)>& err) {
  if (!deps.is_array()) throw err(path, "must be an array");
  for (size_t i = 0; i < deps.size(); ++i) {
    std::string at = path + "[" + std::to_string(i) + "]";
    const json& d = deps[i];
    if (!d.is_object()) throw err(at, "must be an object");
    if (!d.contains("installer") || d["installer"] != "pip") throw err(at + ".installer", "must be pip");
    if (!d.contains("packages") || !d["packages"].is_array() || d["packages"].empty())
      throw err(at + ".packages", "must be a non-empty array");
    for (size_t k = 0; k < d["packages"].size(); ++k) {
      const json& p = d["packages"][k];
      std::string pat = at + ".packages[" + std::to_string(k) + "]";
      if (!p.is_object() || !p.contains("package_name") || !p["package_name"].is_string() ||
          p["package_name"].get<std::string>().empty())
        throw err(pat + ".package_name", "is required");
      bool version = p.contains("package_version") && p["package_version"].is_string() &&
                     !p["package_version"].get<std::string>().empty();
      bool restraint = p.contains("restraint") && !p["restraint"].is_null();
      if (version != restraint)
        throw ApiError(400, "ModelArts.3041", "Invalid parameter " + pat + ": a package_version needs a restraint and a restraint a version.");
      if (restraint && !(p["restraint"] == "EXACT" || p["restraint"] == "ATLEAST" || p["restraint"] == "ATMOST"))
        throw err(pat + ".restraint", "must be EXACT, ATLEAST or ATMOST");
    }
  }
}

void check_apis(const json& apis, const std::string& path, const std::function<ApiError(std::string, std::string)>& err,
                bool config) {
  if (!apis.is_array()) throw err(path, "must be an array");
  for (size_t i = 0; i < apis.size(); ++i) {
    std::string at = path + "[" + std::to_string(i) + "]";
    const json& a = apis[i];
    if (!a.is_object()) throw err(at, "must be an object");
    for (const char* k : {"url", "method", "protocol"})
      if (a.contains(k) && !a[k].is_string()) throw err(at + "." + k, "must be a string");
    if (a.contains("method") && !(a["method"] == "post" || a["method"] == "get")) throw err(at + ".method", "must be post or get");
    const std::vector<const char*> schemas = config ? std::vector<const char*>{"request", "response"}
                                                    : std::vector<const char*>{"input_params", "output_params"};
    for (const char* k : schemas)
      if (a.contains(k) && !a[k].is_object()) throw err(at + "." + k, "must be an object");
  }
}

// The model's config.json (in the package's model/ folder), validated; returns it.
json check_config(const std::string& text, const std::string& model_type) {
  json c = parse_json_limited(text);
  if (c.is_discarded() || !c.is_object()) throw config_error("the file", "is not a JSON object");
  auto err = [](std::string f, std::string why) { return config_error(f, why); };
  for (const char* k : {"model_algorithm", "model_type", "runtime", "swr_location"})
    if (c.contains(k) && !c[k].is_string()) throw config_error(k, "must be a string");
  if (c.contains("model_type") && lower(c["model_type"]) != lower(model_type))
    throw config_error("model_type", "'" + c["model_type"].get<std::string>() + "' differs from the model_type of the request");
  if (c.contains("runtime")) {
    auto& allowed = runtimes().at(lower(model_type));
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), c["runtime"].get<std::string>()) == allowed.end())
      throw config_error("runtime", "'" + c["runtime"].get<std::string>() + "' is not a runtime of " + model_type);
  }
  if (c.contains("metrics")) {
    if (!c["metrics"].is_object()) throw config_error("metrics", "must be an object");
    for (auto& [k, v] : c["metrics"].items())
      if (!v.is_number()) throw config_error("metrics." + k, "must be a number");
  }
  if (c.contains("apis")) check_apis(c["apis"], "apis", err, true);
  if (c.contains("dependencies")) check_dependencies(c["dependencies"], "dependencies", err);
  if (c.contains("health") && !c["health"].is_object()) throw config_error("health", "must be an object");
  return c;
}

json string_or(const std::string& s, json fallback) {
  json j = json::parse(s, nullptr, false);
  return j.is_discarded() ? fallback : j;
}

// A model as the list shows it.
json model_summary(const Row& r) {
  json f = string_or(r.str("fields"), json::object());
  return json{{"model_id", r.str("id")},
              {"model_name", r.str("name")},
              {"model_version", r.str("version")},
              {"model_status", r.str("status")},
              {"model_type", r.str("type")},
              {"model_size", r.i64("size")},
              {"tenant", r.str("domain_id")},
              {"project", r.str("project_id")},
              {"owner", r.str("owner")},
              {"create_at", r.i64("created_at")},
              {"description", r.str("description")},
              {"source_type", f.value("source_type", "")},
              {"workspace_id", r.str("workspace_id")},
              {"model_source", "custom"},
              {"tunable", false},
              {"market_flag", false},
              {"publishable_flag", true},
              {"install_type", string_or(r.str("install_type"), json::array())},
              {"subscription_id", ""},
              {"extra", ""},
              {"specification", {{"min_cpu", ""}, {"min_gpu", ""}, {"min_memory", ""}, {"min_ascend", ""}}}};
}

// What a create request asks for, checked field by field in the order the
// errors are reported.
struct NewModel {
  std::string name, version, type, runtime, desc, algorithm, workspace;
  int64_t version_key = 0;
  obs::ObsPath source;
  json fields = json::object();  // the optional descriptive fields, kept as given
  json install;
  std::string config_text, code;  // from the package (or initial_config)
};

// The model's identity: name, version, type, runtime, source folder, description, algorithm.
void read_identity(const JsonIn& in, NewModel& m) {
  m.name = in.str("model_name");
  if (utf8_length(m.name) > 64 || !name_chars(m.name)) in.fail("model_name", "must be 1-64 letters, digits, '-' or '_'");
  m.version = in.str("model_version");
  static const std::regex ver(R"(^(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)\.(0|[1-9][0-9]?)$)");
  std::smatch vm;
  if (!std::regex_match(m.version, vm, ver))
    in.fail("model_version", "must be X.Y.Z, each part 0-99 without a leading zero (e.g. 1.0.0)");
  // Sorting by version is by number: 1.0.9 before 1.0.10.
  m.version_key = std::stoll(vm[1]) * 10000 + std::stoll(vm[2]) * 100 + std::stoll(vm[3]);
  m.type = in.str("model_type");
  auto rt = runtimes().find(lower(m.type));
  if (rt == runtimes().end())
    in.fail("model_type", "must be one of TensorFlow, MXNet, Caffe, Spark_MLlib, Scikit_Learn, XGBoost, PyTorch, "
                          "MindSpore, Image, Template");
  if (lower(m.type) == "image")
    in.fail("model_type", "Image models (an SWR image) are not supported here: import the model's files from OBS");
  if (lower(m.type) == "template") {
    if (!in.has("template")) throw ApiError(400, "ModelArts.3034", "A Template model requires the template field.");
    auto t = in.obj("template");
    throw ApiError(400, "ModelArts.3029", "Template " + t.str("template_id") + " does not exist.");
  }
  m.runtime = in.opt_str("runtime").value_or(rt->second.empty() ? "" : "python2.7");
  if (!rt->second.empty() && std::find(rt->second.begin(), rt->second.end(), m.runtime) == rt->second.end())
    in.fail("runtime", "'" + m.runtime + "' is not a runtime of " + m.type);
  if (rt->second.empty() && m.runtime.empty()) in.fail("runtime", "is required for " + m.type);
  m.source = source_folder(in, "source_location");
  m.desc = in.opt_str("description").value_or("");
  if (utf8_length(m.desc) > 100 || !no_specials(m.desc))
    in.fail("description", "must be at most 100 characters, without & ! ' \" < > =");
  m.algorithm = in.opt_str("model_algorithm").value_or("");
  static const std::regex alg(R"(^[A-Za-z][A-Za-z0-9_\-]{0,35}$)");
  if (!m.algorithm.empty() && !std::regex_match(m.algorithm, alg))
    in.fail("model_algorithm", "must start with a letter and be at most 36 letters, digits, '_' or '-'");
  if (in.has("source_type") && in.str("source_type") != "auto") in.fail("source_type", "may only be auto");
}

// The descriptive fields: parameters, dependencies, APIs, metrics, documents, install types.
void read_fields(const JsonIn& in, NewModel& m) {
  json& fields = m.fields;
  for (const char* k : {"input_params", "output_params"})
    if (in.has(k)) {
      const json& ps = in.arr(k);
      for (size_t i = 0; i < ps.size(); ++i)
        check_param(JsonIn(ps[i], in.field(k) + "[" + std::to_string(i) + "]", &kErrors));
      fields[k] = ps;
    }
  auto err = [](std::string f, std::string why) { return invalid(f, why); };
  if (in.has("dependencies")) check_dependencies(in.node()["dependencies"], "dependencies", err), fields["dependencies"] = in.node()["dependencies"];
  if (in.has("apis")) check_apis(in.node()["apis"], "apis", err, false), fields["apis"] = in.node()["apis"];
  if (in.has("model_metrics")) {
    std::string mm = in.str("model_metrics");
    json metrics = parse_json_limited(mm);
    if (!metrics.is_object()) in.fail("model_metrics", "must be a JSON-encoded object of numbers");
    for (auto& [k, v] : metrics.items())
      if (!v.is_number()) in.fail("model_metrics", "'" + k + "' must be a number");
    fields["model_metrics"] = mm;
  }
  if (in.has("model_docs")) {
    const json& docs = in.arr("model_docs");
    if (docs.size() > 3) in.fail("model_docs", "at most 3 documents");
    static const std::regex doc(R"(^[A-Za-z\x80-\xff][A-Za-z0-9_\-\x80-\xff]{0,47}$)");
    for (size_t i = 0; i < docs.size(); ++i) {
      JsonIn d(docs[i], in.field("model_docs") + "[" + std::to_string(i) + "]", &kErrors);
      if (!std::regex_match(d.str("doc_name"), doc)) d.fail("doc_name", "must be 1-48 letters, digits, '-' or '_', starting with a letter");
      std::string url = d.str("doc_url");
      if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) d.fail("doc_url", "must be an http or https URL");
    }
    fields["model_docs"] = docs;
  }
  m.install = json::array({"real-time", "batch", "edge"});
  if (in.has("install_type")) {
    m.install = in.arr("install_type");
    for (auto& t : m.install)
      if (!(t == "real-time" || t == "realtime" || t == "batch" || t == "edge"))
        in.fail("install_type", "values must be real-time, batch or edge (lower case)");
  }
  for (const char* k : {"source_job_id", "source_job_version", "source_type", "workspace_id"})
    if (in.has(k)) fields[k] = in.str(k);
  m.workspace = in.opt_str("workspace_id").value_or("0");
}

}  // namespace

std::vector<store::Migration> migrations() {
  return {{"models/001_models", R"SQL(
CREATE TABLE models (
  id TEXT PRIMARY KEY, project_id TEXT NOT NULL, domain_id TEXT NOT NULL, owner TEXT NOT NULL,
  name TEXT NOT NULL, version TEXT NOT NULL, type TEXT NOT NULL, runtime TEXT NOT NULL, status TEXT NOT NULL,
  size BIGINT NOT NULL DEFAULT 0, description TEXT NOT NULL, source_location TEXT NOT NULL,
  model_algorithm TEXT NOT NULL, execution_code TEXT NOT NULL, workspace_id TEXT NOT NULL,
  version_key INTEGER NOT NULL,
  install_type TEXT NOT NULL, fields TEXT NOT NULL, config TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL, UNIQUE (project_id, name, version));
CREATE INDEX models_project ON models (project_id, created_at);
)SQL"}};
}

namespace {

// The handlers of models and the publishing task.
class ModelsApi {
 public:
  ModelsApi(Database& db, obs::ObjectStore& objects, obs::ObjectStore& registry, tasks::Queue& queue)
      : db_(db), objects_(objects), registry_(registry), queue_(queue) {}

  Response create(Context& ctx);  // a new model, publishing from its source folder
  Response list(Context& ctx);    // a page of the project's models, filtered and sorted
  Response get(Context& ctx);     // one model, in full
  Response remove(Context& ctx);  // a model (cascade: and the other versions of its name) with its files
  // The publish task: the source folder's files copied into the registry.
  json publish(tasks::TaskContext& tc);

 private:
  void read_package(const JsonIn& in, NewModel& m);

  Database& db_;
  obs::ObjectStore& objects_;
  obs::ObjectStore& registry_;
  tasks::Queue& queue_;
};

}  // namespace

std::vector<Route> routes(Database& db, obs::ObjectStore& objects, obs::ObjectStore& registry, tasks::Queue& queue) {
  using A = ModelsApi;
  auto api = std::make_shared<A>(db, objects, registry, queue);
  auto h = [&api](Response (A::*fn)(Context&)) { return http::handler(api, fn); };
  // Resumable: copying again gives the same files, so an interrupted publish resumes.
  queue.handle("model-publish", [api](tasks::TaskContext& tc) { return api->publish(tc); }, /*resumable=*/true);
  const std::vector<std::string> obs = {"obs:bucket:ListAllMybuckets", "obs:object:PutObjectAcl", "obs:bucket:ListBucket",
                                        "obs:bucket:HeadBucket", "obs:object:GetObject", "obs:object:PutObject"};
  return http::route_table("/v1/{project_id}/models", http::ErrorShape::kModelArts, {
      {"POST", "", "modelarts:model:create", obs, h(&A::create)},
      {"GET", "", "modelarts:model:list", {}, h(&A::list)},
      {"GET", "/{model_id}", "modelarts:model:get", {}, h(&A::get)},
      {"DELETE", "/{model_id}", "modelarts:model:delete", {}, h(&A::remove)},
  });
}

json ModelsApi::publish(tasks::TaskContext& tc) {
  const std::string& id = tc.task().resource_id;
  auto m = db_.query_one("SELECT * FROM models WHERE id = ?", {id});
  if (!m) return json::object();  // deleted meanwhile
  try {
    auto src = obs::parse_path(m->str("source_location"));
    registry_.create_bucket(kBucket);
    int64_t size = 0, files = 0;
    objects_.each(src.bucket, src.key, [&](const obs::ObjectInfo& o) {
      std::string rel = o.key.substr(src.key.size());
      if (rel.empty() || rel.back() == '/') return;
      auto r = objects_.get(obs::ObsPath{src.bucket, o.key});
      if (!r) return;
      registry_.put(obs::ObsPath{kBucket, id + "/" + rel},
                    [&r](char* buf, size_t cap) { return r->read(buf, cap); }, obs::ObjectStore::Durability::kDeferred);
      size += int64_t(o.size);
      if (++files % 100 == 0) tc.progress({{"files", files}});
    });
    registry_.sync();
    if (files == 0) throw ApiError(400, "ModelArts.3017", "The source folder " + src.str() + " holds no files any more.");
    if (db_.exec("UPDATE models SET status = 'published', size = ? WHERE id = ? AND status = 'publishing'", {size, id}) == 0 &&
        !db_.query_one("SELECT id FROM models WHERE id = ?", {id}))  // deleted while it was copied
      registry_.each(kBucket, id + "/", [&](const obs::ObjectInfo& o) { registry_.remove(obs::ObsPath{kBucket, o.key}); });
    return {{"files", files}, {"size", size}};
  } catch (const ApiError& e) {
    db_.exec("UPDATE models SET status = 'failed', reason = ? WHERE id = ?", {std::string(e.what()), id});
    throw;
  } catch (const std::exception& e) {
    db_.exec("UPDATE models SET status = 'failed', reason = ? WHERE id = ?", {std::string(e.what()), id});
    throw;
  }
}

// The package: <source>/model/ with the files, config.json optional; fills
// in the runtime and algorithm the request leaves to config.json, and the
// execution code.
void ModelsApi::read_package(const JsonIn& in, NewModel& m) {
  const obs::ObsPath& src = m.source;
  auto listing = objects_.list(src.bucket, src.key + "model/", "", "", 1);
  if (listing.objects.empty())
    throw ApiError(400, "ModelArts.3017",
                   "source_location " + src.str() + " does not follow the package layout: it has no model/ folder with the model's files.");
  if (in.has("initial_config")) m.config_text = in.str("initial_config");
  else if (auto c = objects_.get_all(obs::ObsPath{src.bucket, src.key + "model/config.json"})) m.config_text = *c;
  if (!m.config_text.empty()) {
    json c = check_config(m.config_text, m.type);
    if (!in.has("runtime") && c.contains("runtime")) m.runtime = c["runtime"];
    if (m.algorithm.empty() && c.contains("model_algorithm")) m.algorithm = c["model_algorithm"];
  }
  if (in.has("execution_code")) {
    obs::ObsPath p;
    try {
      p = obs::parse_path(in.str("execution_code"), in.field("execution_code"));
    } catch (const ApiError& e) {
      throw ApiError(400, "ModelArts.3037", e.what());
    }
    if (p.str().rfind(src.str() + "model/", 0) != 0) in.fail("execution_code", "must be a file inside " + src.str() + "model/");
    if (!objects_.head(p)) in.fail("execution_code", p.str() + " does not exist");
    m.code = p.str();
  } else if (objects_.head(obs::ObsPath{src.bucket, src.key + "model/customize_service.py"})) {
    m.code = src.str() + "model/customize_service.py";
  }
}

Response ModelsApi::create(Context& ctx) {
  JsonIn in(ctx.body(), "", &kErrors);
  NewModel m;
  read_identity(in, m);
  read_fields(in, m);
  read_package(in, m);
  std::string id = ids::uuid();
  db_.transaction([&] {
    if (db_.query_one("SELECT id FROM models WHERE project_id = ? AND name = ? AND version = ?",
                      {ctx.caller.project_id, m.name, m.version}))
      throw ApiError(409, "ModelArts.3002", "Model " + m.name + " of version " + m.version + " already exists.");
    db_.exec("INSERT INTO models (id, project_id, domain_id, owner, name, version, version_key, type, runtime, status, "
             "description, source_location, model_algorithm, execution_code, workspace_id, install_type, fields, config, "
             "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'publishing', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
             {id, ctx.caller.project_id, ctx.caller.domain_id, ctx.caller.user_id, m.name, m.version, m.version_key, m.type,
              m.runtime, m.desc, m.source.str(), m.algorithm, m.code, m.workspace, m.install.dump(), m.fields.dump(),
              m.config_text, clock::now_ms()});
    queue_.submit("model-publish", ctx.caller.project_id, id, json::object());
  });
  return http::json_response(200, {{"model_id", id}});
}

Response ModelsApi::list(Context& ctx) {
  auto q = [&](const char* k) -> std::optional<std::string> {
    const std::string* v = ctx.req.query_param(k);
    return v ? std::optional<std::string>(*v) : std::nullopt;
  };
  std::string where = " WHERE project_id = ? AND workspace_id = ?";
  store::Params ps{ctx.caller.project_id, q("workspace_id").value_or("0")};
  if (auto n = q("model_name"); n && !n->empty()) {
    std::string exact = lower(q("exact_match").value_or("false"));
    if (exact != "true" && exact != "false") throw invalid("exact_match", "must be true or false");
    where += exact == "true" ? " AND name = ?" : " AND " + store::contains_ci("name");
    ps.push_back(exact == "true" ? *n : store::contains_ci_pattern(*n));
  }
  if (auto v = q("model_version"); v && !v->empty()) where += " AND version = ?", ps.push_back(*v);
  if (auto s = q("model_status"); s && !s->empty()) {
    static const std::set<std::string> ok = {"publishing", "published", "failed", "building", "building_failed"};
    if (!ok.count(*s)) throw invalid("model_status", "must be publishing, published, failed, building or building_failed");
    where += " AND status = ?", ps.push_back(*s);
  }
  auto t = q("model_type"), nt = q("not_model_type");
  if (t && !t->empty() && nt && !nt->empty()) throw invalid("model_type", "cannot be given with not_model_type");
  if (t && !t->empty()) where += " AND LOWER(type) = ?", ps.push_back(lower(*t));
  if (nt && !nt->empty()) where += " AND LOWER(type) <> ?", ps.push_back(lower(*nt));
  if (auto d = q("description"); d && !d->empty()) where += " AND " + store::contains_ci("description"), ps.push_back(store::contains_ci_pattern(*d));
  auto num = [&](const char* k, int64_t def, int64_t lo, int64_t hi) -> int64_t {
    auto v = q(k);
    if (!v || v->empty()) return def;
    if (v->size() > 9 || v->find_first_not_of("0123456789") != std::string::npos || std::stoll(*v) < lo || std::stoll(*v) > hi)
      throw invalid(k, "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
    return std::stoll(*v);
  };
  int64_t offset = num("offset", 0, 0, 100000000), limit = num("limit", 1000, 1, 1000);
  static const std::map<std::string, std::string> cols = {
      {"create_at", "created_at"}, {"model_version", "version_key"}, {"model_size", "size"}};
  auto col = cols.find(q("sort_by").value_or("create_at"));
  if (col == cols.end()) throw invalid("sort_by", "must be create_at, model_version or model_size");
  std::string order = q("order").value_or("desc");
  if (order != "asc" && order != "desc") throw invalid("order", "must be asc or desc");
  int64_t total = db_.query_one("SELECT COUNT(*) AS n FROM models" + where, ps)->i64("n");
  ps.push_back(limit);
  ps.push_back(offset * limit);  // offset is a page index, not a row count
  json models = json::array();
  for (auto& r : db_.query("SELECT * FROM models" + where + " ORDER BY " + col->second + " " + order + ", id " + order +
                               " LIMIT ? OFFSET ?",
                           ps))
    models.push_back(model_summary(r));
  return http::json_response(200, {{"total_count", total}, {"count", models.size()}, {"models", models}});
}

Response ModelsApi::get(Context& ctx) {
  auto r = db_.query_one("SELECT * FROM models WHERE id = ? AND project_id = ?", {ctx.param("model_id"), ctx.caller.project_id});
  if (!r) throw model_missing(ctx.param("model_id"));
  json j = model_summary(*r);
  json f = string_or(r->str("fields"), json::object());
  json config = string_or(r->str("config"), json::object());
  j["source_location"] = r->str("source_location");
  j["source_job_id"] = f.value("source_job_id", "");
  j["source_job_version"] = f.value("source_job_version", "");
  j["runtime"] = r->str("runtime");
  j["execution_code"] = r->str("execution_code");
  j["schema_doc"] = "";
  j["image_address"] = "";
  j["input_params"] = f.value("input_params", json::array());
  j["output_params"] = f.value("output_params", json::array());
  j["dependencies"] = f.contains("dependencies") ? f["dependencies"] : config.value("dependencies", json::array());
  j["model_metrics"] = f.contains("model_metrics") ? f["model_metrics"].get<std::string>()
                                                    : config.value("metrics", json::object()).dump();
  j["apis"] = (f.contains("apis") ? f["apis"] : config.value("apis", json::array())).dump();
  j["model_docs"] = f.value("model_docs", json::array());
  j["health"] = config.value("health", json::object());
  j["model_algorithm"] = r->str("model_algorithm");
  j["model_labels"] = json::array();
  j["labels_map"] = {{"labels", json::array()}};
  j["config"] = r->str("config");
  if (r->str("status") == "failed") j["failed_reason"] = r->str("reason");
  return http::json_response(200, j);
}

Response ModelsApi::remove(Context& ctx) {
  auto r = db_.query_one("SELECT * FROM models WHERE id = ? AND project_id = ?", {ctx.param("model_id"), ctx.caller.project_id});
  if (!r) throw model_missing(ctx.param("model_id"));
  std::string cascade = lower(ctx.req.query_param("cascade") ? *ctx.req.query_param("cascade") : "false");
  if (cascade != "true" && cascade != "false") throw invalid("cascade", "must be true or false");
  std::vector<std::string> ids = {r->str("id")};
  if (cascade == "true")
    for (auto& o : db_.query("SELECT id FROM models WHERE project_id = ? AND name = ? AND id <> ? ORDER BY created_at LIMIT 19",
                             {ctx.caller.project_id, r->str("name"), r->str("id")}))
      ids.push_back(o.str("id"));
  json ok = json::array();
  for (auto& id : ids) {
    db_.exec("DELETE FROM models WHERE id = ?", {id});
    registry_.each(kBucket, id + "/", [&](const obs::ObjectInfo& o) { registry_.remove(obs::ObsPath{kBucket, o.key}); });
    ok.push_back(id);
  }
  return http::json_response(200, {{"delete_success_list", ok}, {"delete_failed_list", json::array()}});
}

}  // namespace atelier::models
