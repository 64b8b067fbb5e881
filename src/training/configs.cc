// Training configurations (TrainConfig): their validation, and the saved
// ones of a project and the samples.
#include <algorithm>
#include <set>

#include "common/clock.h"
#include "training/training_impl.h"
#include "training/v1_query.h"

namespace atelier::training {

namespace {

// Sample configurations (config_type=sample), one per engine family.
constexpr const char* kSampleConfigs = R"JSON([
  {"config_name": "pytorch-mlp", "config_desc": "PyTorch: train a small MLP on the data folder and save model.pt",
   "worker_server_num": 1, "engine_id": 1001, "spec_id": 1, "app_url": "/samples/pytorch-mlp/code/",
   "boot_file_url": "/samples/pytorch-mlp/code/train.py", "data_url": "/samples/pytorch-mlp/data/",
   "parameter": [{"label": "epochs", "value": "5"}, {"label": "lr", "value": "0.01"}]},
  {"config_name": "sklearn-logistic", "config_desc": "Scikit-learn: logistic regression on a CSV",
   "worker_server_num": 1, "engine_id": 601, "spec_id": 1, "app_url": "/samples/sklearn/code/",
   "boot_file_url": "/samples/sklearn/code/train.py", "data_url": "/samples/sklearn/data/",
   "parameter": [{"label": "C", "value": "1.0"}]},
  {"config_name": "xgboost-classifier", "config_desc": "XGBoost: gradient boosted trees on a CSV",
   "worker_server_num": 1, "engine_id": 901, "spec_id": 1, "app_url": "/samples/xgboost/code/",
   "boot_file_url": "/samples/xgboost/code/train.py", "data_url": "/samples/xgboost/data/",
   "parameter": [{"label": "rounds", "value": "50"}]}
])JSON";

}  // namespace

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

std::string folder_path(const JsonIn& in, const char* key) {
  std::string raw = in.str(key);
  auto p = obs::parse_path(raw, in.field(key));
  if (!p.key.empty() && p.key.back() != '/') p.key += '/';
  return p.str();
}

// Validates an effective TrainConfig (a job's or version's config) and returns it normalized.
json Service::Impl::parse_config(const json& cfg, const std::string& path, Mode mode) {
  JsonIn in(cfg, path);
  json out = json::object();
  auto field = [&](const char* k) { return in.field(k); };
  if (in.has("user_image_url") || in.has("user_command"))
    in.fail("user_image_url", "custom images are not supported by the " + runner->name() +
                                  " runner; run code from app_url with one of the engines of GET /v1/{project_id}/job/ai-engines");
  if (in.has("model_id")) in.fail("model_id", "built-in algorithm " + in.node()["model_id"].dump() + " does not exist");
  if (in.has("pool_id")) in.fail("pool_id", "dedicated pools do not exist here; choose a spec_id of GET /v1/{project_id}/job/resource-specs");
  if (in.has("volumes") && !(in.node()["volumes"].is_array() && in.node()["volumes"].empty()))
    in.fail("volumes", "extra volumes are not supported by the " + runner->name() + " runner");
  if (in.has("dataset_id") || in.has("dataset_version_id"))
    in.fail("dataset_id", "dataset inputs are not supported yet; pass the dataset's folder as data_url");

  const Flavor* flavor = nullptr;
  if (!in.has("spec_id")) {
    if (mode != Mode::kConfig || in.has("worker_server_num")) in.fail("spec_id", "is required");
  } else {
    int64_t id = *in.opt_int("spec_id", 0, INT64_MAX);
    flavor = catalog.flavor(id);
    if (!flavor) in.fail("spec_id", std::to_string(id) + " is not a resource spec of GET /v1/{project_id}/job/resource-specs");
    auto cap = capacity();
    if (flavor->cores > cap.cores || flavor->memory_mb > cap.memory_mb)
      in.fail("spec_id", "spec " + flavor->code + " needs more than the " + runner->name() + " runner's capacity for jobs");
    out["spec_id"] = id;
  }
  if (!in.has("worker_server_num")) in.fail("worker_server_num", "is required");
  int64_t workers = *in.opt_int("worker_server_num", 1, 1024);
  if (workers > 1 && !settings.network)
    in.fail("worker_server_num", std::to_string(workers) +
                                     " workers need the network between them, and this server runs jobs without it "
                                     "(train_network is false)");
  if (workers > runner->max_nodes())
    in.fail("worker_server_num", std::to_string(workers) + " nodes: the " + runner->name() + " runner runs at most " +
                                     std::to_string(runner->max_nodes()) + " node(s) per job" +
                                     (runner->name() == "local" ? "; multi-node jobs need the Slurm runner" : ""));
  out["worker_server_num"] = workers;

  int64_t engine_id = in.has("engine_id") ? *in.opt_int("engine_id", 0, INT64_MAX) : 1;
  const Engine* e = engines().engine(engine_id);
  if (!e) in.fail("engine_id", std::to_string(engine_id) + " is not an engine of GET /v1/{project_id}/job/ai-engines");
  if (!e->available) in.fail("engine_id", "engine " + e->name + " (" + std::to_string(engine_id) + ") is not available on this server: " + e->why);
  out["engine_id"] = engine_id;

  std::string app = folder_path(in, "app_url");
  std::string boot = in.str("boot_file_url");
  auto bp = obs::parse_path(boot, field("boot_file_url"));
  if (bp.key.empty() || bp.key.back() == '/') in.fail("boot_file_url", "must name a file");
  if (bp.str().rfind(app, 0) != 0) in.fail("boot_file_url", "must be a file inside app_url " + app);
  if (mode != Mode::kConfig && !objects.head(bp))
    in.fail("boot_file_url", bp.str() + " does not exist");
  out["app_url"] = app;
  out["boot_file_url"] = bp.str();

  int inputs = in.has("data_url") + in.has("data_source");
  if (inputs > 1) in.fail("data_url", "give exactly one of data_url and data_source");
  if (in.has("data_url")) {
    out["data_url"] = folder_path(in, "data_url");
  } else if (in.has("data_source")) {
    const json& ds = in.arr("data_source");
    if (ds.size() != 1) in.fail("data_source", "give exactly one input");
    JsonIn d(ds[0], field("data_source") + "[0]");
    d.enum_str("type", {"obs"});
    out["data_url"] = folder_path(d, "data_url");
  } else if (mode != Mode::kConfig || in.has("worker_server_num")) {
    in.fail("data_url", "is required (or data_source)");
  }
  for (const char* k : {"train_url", "log_url"})
    if (in.has(k)) out[k] = folder_path(in, k);
  if (mode == Mode::kVersion && !out.contains("train_url")) in.fail("train_url", "is required for a new version");

  json params = json::array();
  if (in.has("parameter")) {
    const json& ps = in.arr("parameter");
    if (ps.size() > 100) in.fail("parameter", "at most 100 parameters");
    std::set<std::string> seen;
    for (size_t i = 0; i < ps.size(); ++i) {
      JsonIn p(ps[i], field("parameter") + "[" + std::to_string(i) + "]");
      std::string label = p.str("label");
      auto value = p.opt_str("value").value_or("");
      if (label.size() > 64 || !std::all_of(label.begin(), label.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
          }))
        p.fail("label", "must be 1-64 of letters, digits, '_', '-', '.'");
      if (label == "data_url" || label == "train_url") p.fail("label", label + " is set by the service");
      if (!seen.insert(label).second) p.fail("label", "'" + label + "' is given twice");
      if (value.size() > 4096 || value.find('\0') != std::string::npos) p.fail("value", "must be at most 4096 characters");
      params.push_back({{"label", label}, {"value", value}});
    }
  }
  out["parameter"] = params;
  return out;
}

json Service::Impl::config_body(Context& ctx, bool create) {
  auto in = ctx.in();
  json top = in.node();
  for (const char* k : {"config_name", "config_desc"}) top.erase(k);
  if (!create && !in.has("worker_server_num")) in.fail("worker_server_num", "is required");
  return parse_config(top, "", Mode::kConfig);
}

json Service::Impl::sample_configs() { return json::parse(kSampleConfigs); }

std::string Service::Impl::config_type(const Context& ctx) {
  std::string t = query(ctx, "config_type").value_or("custom");
  if (t != "custom" && t != "sample") throw bad_request("config_type must be custom or sample");
  return t;
}

Response Service::Impl::create_config(Context& ctx) {
  auto in = ctx.in();
  std::string name = in.str("config_name");
  if (!valid_name(name)) in.fail("config_name", "must be 1-64 of letters, digits, '_' and '-'");
  std::string desc = in.max_len("config_desc", in.opt_str("config_desc").value_or(""), 256);
  json cfg = config_body(ctx, true);
  db.transaction([&] {
    if (db.query_one("SELECT name FROM train_configs WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name}))
      throw ApiError(400, "ModelArts.0103", "Config name:" + name + " is existed");
    db.exec("INSERT INTO train_configs (project_id, name, description, config, created_at) VALUES (?, ?, ?, ?, ?)",
            {ctx.caller.project_id, name, desc, cfg.dump(), clock::now_ms()});
  });
  return ok(json::object());
}

Response Service::Impl::list_configs(Context& ctx) {
  std::string type = config_type(ctx);
  auto [per_page, page, column, order, search] =
      list_query(ctx, {{"config_name", "name"}, {"config_desc", "description"}, {"create_time", "created_at"}}, "desc");
  json configs = json::array();
  int64_t total = 0;
  if (type == "sample") {
    if (query(ctx, "sortBy")) throw bad_request("sortBy is not allowed with config_type=sample");
    for (auto& c : sample_configs()) {
      std::string n = c["config_name"];
      if (!search.empty() && n.find(search) == std::string::npos) continue;
      if (total++ < (page - 1) * per_page || int64_t(configs.size()) >= per_page) continue;
      json item = {{"config_name", n}, {"config_desc", c["config_desc"]}, {"create_time", 0},
                   {"user_image_url", ""}, {"user_command", ""}};
      engine_fields(item, c);
      for (const char* k : {"spec_code", "core", "cpu", "gpu_num", "gpu_type"}) item.erase(k);
      configs.push_back(item);
    }
  } else {
    std::string where = " WHERE project_id = ?";
    store::Params ps{ctx.caller.project_id};
    if (!search.empty()) {
      where += " AND " + store::contains_ci("name");
      ps.push_back(store::contains_ci_pattern(search));
    }
    total = db.query_one("SELECT COUNT(*) AS n FROM train_configs" + where, ps)->i64("n");
    ps.push_back(per_page);
    ps.push_back((page - 1) * per_page);
    for (auto& r : db.query("SELECT * FROM train_configs" + where + " ORDER BY " + column + " " + order +
                                ", name " + order + " LIMIT ? OFFSET ?",
                            ps))
      configs.push_back(config_json(r, false));
  }
  return ok({{"config_total_count", total}, {"configs", configs}});
}

Response Service::Impl::get_config(Context& ctx) {
  const std::string& name = ctx.param("config_name");
  if (config_type(ctx) == "sample") {
    for (auto& c : sample_configs())
      if (c["config_name"] == name) {
        json j = c;
        j["create_time"] = 0;
        engine_fields(j, c);
        return ok(j);
      }
    throw ApiError(404, "ModelArts.0015", "Sample config " + name + " does not exist.");
  }
  auto r = db.query_one("SELECT * FROM train_configs WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name});
  if (!r) throw ApiError(404, "ModelArts.0015", "Config " + name + " does not exist.");
  return ok(config_json(*r, true));
}

Response Service::Impl::update_config(Context& ctx) {
  const std::string& name = ctx.param("config_name");
  auto in = ctx.in();
  std::optional<std::string> desc;
  if (in.has("config_desc")) desc = in.max_len("config_desc", *in.opt_str("config_desc"), 256);
  json cfg = config_body(ctx, false);
  int64_t n = db.exec(desc ? "UPDATE train_configs SET config = ?, description = ? WHERE project_id = ? AND name = ?"
                           : "UPDATE train_configs SET config = ? WHERE project_id = ? AND name = ?",
                      desc ? store::Params{cfg.dump(), *desc, ctx.caller.project_id, name}
                           : store::Params{cfg.dump(), ctx.caller.project_id, name});
  if (n == 0) throw ApiError(404, "ModelArts.0015", "Config " + name + " does not exist.");
  return ok(json::object());
}

Response Service::Impl::delete_config(Context& ctx) {
  const std::string& name = ctx.param("config_name");
  if (db.exec("DELETE FROM train_configs WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name}) == 0)
    throw ApiError(404, "ModelArts.0015", "Config " + name + " does not exist.");
  return ok(json::object());
}

json Service::Impl::config_json(const Row& r, bool detail) {
  json cfg = json::parse(r.str("config"), nullptr, false);
  if (!cfg.is_object()) cfg = json::object();
  json j = {{"config_name", r.str("name")}, {"config_desc", r.str("description")}, {"create_time", r.i64("created_at")},
            {"user_image_url", ""}, {"user_command", ""}};
  engine_fields(j, cfg);
  if (!detail) {
    for (const char* k : {"spec_code", "core", "cpu", "gpu_num", "gpu_type"}) j.erase(k);
    return j;
  }
  for (const char* k : {"worker_server_num", "app_url", "boot_file_url", "parameter", "spec_id", "data_url", "train_url", "log_url"})
    j[k] = cfg.contains(k) ? cfg[k] : json("");
  if (!cfg.contains("parameter")) j["parameter"] = json::array();
  j["model_id"] = nullptr;
  j["dataset_id"] = j["dataset_version_id"] = j["dataset_name"] = j["dataset_version_name"] = "";
  j["data_source"] = cfg.contains("data_url") ? json::array({{{"type", "obs"}, {"data_url", cfg["data_url"]}}}) : json::array();
  j["pool_id"] = j["pool_name"] = j["nas_mount_path"] = j["nas_share_addr"] = j["nas_type"] = "";
  j["volumes"] = json::array();
  return j;
}

}  // namespace atelier::training
