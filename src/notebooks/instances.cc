// Notebook instances: their handlers, and how the API shows them.
#include <algorithm>
#include <filesystem>
#include <limits>
#include <set>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/ids.h"
#include "notebooks/notebooks_impl.h"

namespace fs = std::filesystem;

namespace atelier::notebooks {

namespace {

// The notebook family's field errors: ModelArts.6335 for a missing property,
// 6336 for a bad value.
struct FieldErrors : FieldErrorFactory {
  ApiError make(const std::string& field, const std::string& problem) const override {
    bool missing = problem.rfind("is required", 0) == 0;
    return ApiError(400, missing ? "ModelArts.6335" : "ModelArts.6336",
                    "Invalid parameter " + field + ": " + problem + ".");
  }
};
const FieldErrors kFieldErrors;

// A missing instance answers 404 with ModelArts.6309, not 400: a missing
// resource is a 404 in every family, so clients can tell it from a bad request.
ApiError missing_instance(const std::string& id) {
  return ApiError(404, "ModelArts.6309", "The instance " + id + " does not exist.");
}

// No character ModelArts forbids in names and descriptions (6334).
void check_text(const JsonIn& in, const char* key, const std::string& v) {
  if (v.find_first_of("&<>\"'/") != std::string::npos)
    throw ApiError(400, "ModelArts.6334", "Invalid parameter " + in.field(key) + ": must not contain & < > \" ' /.");
}

}  // namespace

Row Service::Impl::instance_row(const Context& ctx) {
  auto r = db.query_one("SELECT * FROM notebooks WHERE id = ? AND project_id = ?", {ctx.param("instance_id"), ctx.caller.project_id});
  if (!r) throw missing_instance(ctx.param("instance_id"));
  return *r;
}

void Service::Impl::only_its_owner(const Context& ctx) {
  if (ctx.caller.is_owner) return;
  auto r = db.query_one("SELECT user_id FROM notebooks WHERE id = ? AND project_id = ?",
                        {ctx.param("instance_id"), ctx.caller.project_id});
  if (r && r->str("user_id") != ctx.caller.user_id)
    throw ApiError(403, "ModelArts.0108", "Only the instance's owner may open it.");
}

std::shared_ptr<std::atomic<int64_t>> Service::Impl::traffic_of(const std::string& id) {
  std::lock_guard lk(mu);
  auto& t = traffic[id];
  if (!t) t = std::make_shared<std::atomic<int64_t>>(clock::now_ms());
  return t;
}

std::string Service::Impl::base_path(const Row& r) const {
  return "/v1/" + r.str("project_id") + "/demanager/instances/" + r.str("id") + "/jupyter/";
}

// ---------------------------------------------------------------- rendering

json Service::Impl::instance_json(const Context& ctx, const Row& r) {
  json spec = json::parse(r.str("spec"), nullptr, false);
  if (!spec.is_object()) spec = json::object();
  const std::string st = r.str("status");
  json auto_stop = spec.value("auto_stop", json::object());
  if (st == "RUNNING" && r.i64("stop_at") > 0) {
    auto_stop["stop_timestamp"] = r.i64("stop_at");
    auto_stop["remain_time"] = std::max<int64_t>(0, (r.i64("stop_at") - clock::now_ms()) / 1000);
  }
  json annotations = spec.value("annotations", json::object());
  annotations["target_domain"] = ctx.base_url();
  annotations["url"] = st == "RUNNING" ? ctx.base_url() + base_path(r) : "";
  json storage = spec.value("storage", json::object());
  if (storage.value("type", "") == "evs")
    storage["location"] = {{"path", "/home/ma-user/work"}, {"volume_size", storage["location"].value("volume_size", 5)}};
  json out_spec = {{"storage", storage},
                   {"auto_stop", auto_stop},
                   {"annotations", annotations},
                   {"extend_params", nullptr},
                   {"extend_storage", nullptr},
                   {"failed_reasons", nullptr}};
  if (spec.contains("idle_stop")) out_spec["idle_stop"] = spec["idle_stop"];
  if (!r.str("reason").empty())
    out_spec["failed_reasons"] = {{"code", r.str("error_code")},
                                  {"message", r.str("reason")},
                                  {"detail", json::object()}};
  const Flavor* f = catalog.flavor(r.str("flavor"));
  const Profile* p = catalog.profile(r.str("profile_id"));
  json j = {{"id", r.str("id")},
            {"name", r.str("name")},
            {"description", r.str("description")},
            {"status", st},
            {"creation_timestamp", std::to_string(r.i64("created_at"))},
            {"latest_update_timestamp", std::to_string(r.i64("updated_at"))},
            {"profile", p ? profile_json(*p) : json{{"id", r.str("profile_id")}}},
            {"flavor", r.str("flavor")},
            {"flavor_details", f ? flavor_json(*f, instances_of(r.str("user_id"), f->name)) : json{{"name", r.str("flavor")}}},
            {"spec", out_spec},
            {"workspace", {{"id", r.str("workspace_id")}}},
            {"ai_project", {{"id", "default-ai-project"}}},
            {"user", {{"id", r.str("user_id")}, {"name", r.str("user_name")}}},
            {"error_code", r.str("error_code")},
            {"pool", r.str("pool").empty() ? json(nullptr)
                                           : json{{"id", r.str("pool")},
                                                  {"name", pool(r.str("pool")) ? pool(r.str("pool"))->name : r.str("pool")},
                                                  {"type", "USER_DEFINED"},
                                                  {"owner", {{"project_id", r.str("project_id")}}}}},
            {"repository", nullptr}};
  if (queued(st)) {
    auto rank = db.query_one("SELECT COUNT(*) AS n FROM notebooks WHERE status IN ('CREATE_QUEUING', 'START_QUEUING') "
                             "AND flavor = ? AND queued_at <= ?",
                             {r.str("flavor"), r.i64("queued_at")});
    j["queuing_info"] = {{"id", r.str("id")},
                         {"name", r.str("name")},
                         {"de_type", "Notebook"},
                         {"flavor", r.str("flavor")},
                         {"flavor_details", j["flavor_details"]},
                         {"status", st == "CREATE_QUEUING" ? "CREATE_QUEUING" : "START_QUEUING"},
                         {"begin_timestamp", r.i64("queued_at")},
                         {"end_timestamp", 0},
                         {"remain_time", 0},
                         {"rank", rank ? rank->i64("n") : 1}};
  }
  return j;
}

int64_t Service::Impl::instances_of(const std::string& user_id, const std::string& flavor) {
  auto r = db.query_one("SELECT COUNT(*) AS n FROM notebooks WHERE user_id = ? AND flavor = ?", {user_id, flavor});
  return r ? r->i64("n") : 0;
}

// ---------------------------------------------------------------- validation

// auto_stop of a request ({enable, duration, prompt}), normalized.
json Service::Impl::parse_auto_stop(const JsonIn& in, const Flavor& f) {
  json a = {{"enable", false}, {"prompt", true}};
  if (in.has("auto_stop")) {
    auto as = in.obj("auto_stop");
    bool enable = as.opt_bool("enable").value_or(false);
    a["enable"] = enable;
    a["prompt"] = as.opt_bool("prompt").value_or(true);
    if (enable) {
      if (!as.has("duration")) as.fail("duration", "is required when enable is true");
      a["duration"] = *as.opt_int("duration", kMinAutoStopS, kMaxAutoStopS);
    } else if (as.has("duration")) {
      a["duration"] = *as.opt_int("duration", kMinAutoStopS, kMaxAutoStopS);
    }
  }
  if (f.duration_s && (!a["enable"].get<bool>() || a.value("duration", int64_t(0)) > f.duration_s)) {
    a["enable"] = true;  // a free flavor stops after its duration whatever was asked
    a["duration"] = f.duration_s;
  }
  return a;
}

json Service::Impl::parse_idle_stop(const JsonIn& in) {
  if (!in.has("idle_stop")) {
    if (settings.idle_stop_s > 0) return {{"enable", true}, {"duration", settings.idle_stop_s}};
    return {{"enable", false}};
  }
  auto is = in.obj("idle_stop");
  bool enable = is.opt_bool("enable").value_or(false);
  json out = {{"enable", enable}};
  if (enable) {
    if (!is.has("duration")) is.fail("duration", "is required when enable is true");
    out["duration"] = *is.opt_int("duration", kMinIdleStopS, kMaxAutoStopS);
  }
  return out;
}

Response Service::Impl::create(Context& ctx) {
  JsonIn in(ctx.body(), "", &kFieldErrors);
  std::string name = in.str("name");
  if (name.size() > 64 || name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
                              std::string::npos)
    throw ApiError(400, "ModelArts.6334", "Invalid parameter name: at most 64 letters, digits, '-' and '_'.");
  std::string desc = in.opt_str("description").value_or("");
  if (desc.size() > 512) in.fail("description", "is longer than 512 characters");
  check_text(in, "description", desc);
  std::string profile_id = in.str("profile_id");
  const Profile* p = catalog.profile(profile_id);
  if (!p) {
    std::string ids;
    for (auto& x : catalog.profiles) ids += (ids.empty() ? "" : ", ") + x.id;
    in.fail("profile_id", "'" + profile_id + "' is not offered here (one of: " + ids + ")");
  }
  std::string flavor = in.str("flavor");
  const Flavor* f = catalog.flavor(flavor);
  if (!f) throw ApiError(400, "ModelArts.6323", "The flavor " + flavor + " is not supported.");
  if (f->type != p->flavor_type)
    throw ApiError(400, "ModelArts.6330", "The profile " + p->id + " runs on " + p->flavor_type + " flavors; " + f->name +
                                              " is a " + f->type + " flavor.");
  if (f->sold_out) throw ApiError(400, "ModelArts.6329", "The flavor " + f->name + " is sold out: this host has no GPU.");
  if (!in.has("spec")) throw ApiError(400, "ModelArts.6316", "The parameter spec.storage is missing.");
  auto spec_in = in.obj("spec");
  if (!spec_in.has("storage")) throw ApiError(400, "ModelArts.6316", "The parameter spec.storage is missing.");
  auto storage = spec_in.obj("storage");
  std::string type = storage.str("type");
  if (type != "evs")
    throw ApiError(400, "ModelArts.6324",
                   "The storage type " + type + " is not supported here: use evs (a volume of the instance's own).");
  int64_t gb = kMinVolumeGb;
  if (auto loc = storage.opt_obj("location"))
    if (loc->has("volume_size")) {
      auto v = loc->node()["volume_size"];
      if (!v.is_number_integer() || v.get<int64_t>() < kMinVolumeGb || v.get<int64_t>() > kMaxVolumeGb)
        throw ApiError(400, "ModelArts.6331", "Invalid parameter spec.storage.location.volume_size: an integer of " +
                                                  std::to_string(kMinVolumeGb) + ".." + std::to_string(kMaxVolumeGb) + " GB.");
      gb = v.get<int64_t>();
    }
  json spec = {{"storage", {{"type", "evs"}, {"location", {{"volume_size", gb}}}}},
               {"auto_stop", parse_auto_stop(spec_in, *f)},
               {"idle_stop", parse_idle_stop(spec_in)},
               {"annotations", json::object()}};
  if (spec_in.has("annotations")) {
    const json& a = spec_in.node()["annotations"];
    if (!a.is_object()) spec_in.fail("annotations", "must be an object of strings");
    for (auto& [k, v] : a.items()) {
      if (!v.is_string()) spec_in.fail("annotations", "must be an object of strings");
      if (k != "url" && k != "target_domain") spec["annotations"][k] = v;
    }
  }
  std::string workspace = "0";
  if (auto w = in.opt_obj("workspace")) workspace = w->opt_str("id").value_or("0");
  if (workspace != "0") in.fail("workspace", "only the default workspace \"0\" exists here");
  std::string pool_id;
  if (auto pl = in.opt_obj("pool")) {
    pool_id = pl->str("id");
    if (!pool(pool_id)) {
      std::string ids;
      for (auto& x : settings.pools) ids += (ids.empty() ? "" : ", ") + x.id;
      pl->fail("id", "'" + pool_id + "' is not a dedicated pool here" + (ids.empty() ? std::string(" (none is configured)") : " (one of: " + ids + ")"));
    }
  }

  std::string id = "DE-" + ids::uuid();
  int64_t now = clock::now_ms();
  bool wait = f->free;
  db.transaction([&] {
    auto n = db.query_one("SELECT COUNT(*) AS n FROM notebooks WHERE project_id = ?", {ctx.caller.project_id});
    if (n && n->i64("n") >= settings.max_per_project)
      throw ApiError(400, "ModelArts.6302", "The project has the most notebook instances it may have (" +
                                                std::to_string(settings.max_per_project) + ").");
    if (db.query_one("SELECT id FROM notebooks WHERE project_id = ? AND name = ?", {ctx.caller.project_id, name}))
      throw ApiError(400, "ModelArts.6301", "A notebook instance named " + name + " already exists.");
    db.exec("INSERT INTO notebooks (id, project_id, name, description, status, profile_id, flavor, user_id, user_name, "
            "workspace_id, spec, pool, secret, created_at, updated_at, queued_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            {id, ctx.caller.project_id, name, desc, wait ? "CREATE_QUEUING" : "CREATING", p->id, f->name,
             ctx.caller.user_id, ctx.caller.user_name, workspace, spec.dump(), pool_id, crypto::random_hex(24), now,
             now, now});
  });
  poke();
  auto r = db.query_one("SELECT * FROM notebooks WHERE id = ?", {id});
  return http::json_response(200, instance_json(ctx, *r));
}

Response Service::Impl::list(Context& ctx) {
  const std::string* de_type = ctx.req.query_param("de_type");
  if (!de_type) throw ApiError(400, "ModelArts.6335", "The query parameter de_type is required (Notebook).");
  if (*de_type != "Notebook") throw ApiError(400, "ModelArts.6336", "Invalid parameter de_type: must be Notebook.");
  if (auto v = ctx.req.query_param("provision_type"); v && *v != "Docker")
    throw ApiError(400, "ModelArts.6336", "Invalid parameter provision_type: must be Docker.");
  std::string sql = "SELECT * FROM notebooks WHERE project_id = ?";
  store::Params params{ctx.caller.project_id};
  if (auto v = ctx.req.query_param("status")) {
    static const std::set<std::string> known = {"CREATE_QUEUING", "CREATING", "CREATE_FAILED", "START_QUEUING", "READY_TO_START",
                                                "STARTING", "RESTARTING", "START_FAILED", "RUNNING", "STOPPING", "STOPPED",
                                                "UNAVAILABLE", "DELETED", "RESIZING", "RESIZE_FAILED"};
    if (!known.count(*v)) throw ApiError(400, "ModelArts.6336", "Invalid parameter status: " + *v + " is not an instance status.");
    sql += " AND status = ?";
    params.push_back(*v);
  }
  if (auto v = ctx.req.query_param("workspace_id"); v && *v != "0") sql += " AND 0 = 1";  // only workspace 0 exists
  if (auto v = ctx.req.query_param("pool_id"); v && !v->empty()) {
    sql += " AND pool = ?";
    params.push_back(*v);
  }
  bool show_self = true;
  if (auto v = ctx.req.query_param("show_self")) {
    if (*v == "true" || *v == "True") show_self = true;
    else if (*v == "false" || *v == "False") show_self = false;
    else throw ApiError(400, "ModelArts.6336", "Invalid parameter show_self: true or false.");
  }
  if (show_self) {
    sql += " AND user_id = ?";
    params.push_back(ctx.caller.user_id);
  }
  std::string sortby = "name";
  if (auto v = ctx.req.query_param("sortby")) {
    if (*v != "name" && *v != "creation_timestamp")
      throw ApiError(400, "ModelArts.6303", "Sorting by " + *v + " is not supported: use name or creation_timestamp.");
    sortby = *v;
  }
  std::string order = "asc";
  if (auto v = ctx.req.query_param("order")) {
    if (*v != "asc" && *v != "desc") throw ApiError(400, "ModelArts.6336", "Invalid parameter order: asc or desc.");
    order = *v;
  }
  auto number = [&](const char* key) -> int64_t {
    auto v = ctx.req.query_param(key);
    if (!v) return 0;
    if (v->empty() || v->size() > 9 || v->find_first_not_of("0123456789") != std::string::npos)
      throw ApiError(400, "ModelArts.6332", std::string("Invalid parameter ") + key + ": a non-negative integer.");
    return std::stoll(*v);
  };
  int64_t offset = number("offset"), limit = number("limit");
  auto total = db.query_one("SELECT COUNT(*) AS n FROM (" + sql + ") t", params);
  sql += std::string(" ORDER BY ") + (sortby == "name" ? "name" : "created_at") + (order == "asc" ? " ASC" : " DESC") + ", id";
  if (limit > 0 || offset > 0) {  // an offset alone: no limit (the largest one, portably)
    sql += " LIMIT ? OFFSET ?";
    params.push_back(limit > 0 ? limit : std::numeric_limits<int64_t>::max());
    params.push_back(offset);
  }
  json list = json::array();
  for (auto& r : db.query(sql, params)) list.push_back(instance_json(ctx, r));
  return http::json_response(200, {{"total_count", total ? total->i64("n") : 0}, {"instances", list}});
}

Response Service::Impl::get(Context& ctx) {
  return http::json_response(200, instance_json(ctx, instance_row(ctx)));
}

Response Service::Impl::update(Context& ctx) {
  auto r = instance_row(ctx);
  JsonIn in(ctx.body(), "", &kFieldErrors);
  json spec = json::parse(r.str("spec"));
  std::string desc = r.str("description");
  if (in.has("description")) {
    desc = in.opt_str("description").value_or("");
    if (desc.size() > 512) in.fail("description", "is longer than 512 characters");
    check_text(in, "description", desc);
  }
  if (in.has("spec")) {
    auto s = in.obj("spec");
    const Flavor* f = catalog.flavor(r.str("flavor"));
    if (s.has("auto_stop") && f) spec["auto_stop"] = parse_auto_stop(s, *f);
    if (s.has("idle_stop")) spec["idle_stop"] = parse_idle_stop(s);
  }
  // A changed auto_stop counts from the next start, not from now; idle_stop at once.
  db.exec("UPDATE notebooks SET description = ?, spec = ?, updated_at = ? WHERE id = ?",
          {desc, spec.dump(), clock::now_ms(), r.str("id")});
  return http::json_response(200, instance_json(ctx, instance_row(ctx)));
}

Response Service::Impl::remove(Context& ctx) {
  auto r = instance_row(ctx);
  const std::string st = r.str("status");
  if (!settled(st) && !queued(st))
    throw ApiError(400, "ModelArts.6304", "The instance is " + st + ": stop it before deleting it.");
  if (db.exec("DELETE FROM notebooks WHERE id = ? AND status = ?", {r.str("id"), st}) == 0)
    throw ApiError(400, "ModelArts.6304", "The instance changed its status meanwhile; stop it before deleting it.");
  release_workspace(r.str("id"));
  std::error_code ec;
  fs::remove_all(dir_of(r.str("id")), ec);
  return http::json_response(200, {{"instance_id", r.str("id")}});
}

Response Service::Impl::action(Context& ctx) {
  auto r = instance_row(ctx);
  JsonIn in(ctx.body(), "", &kFieldErrors);
  std::string action = in.enum_str("action", {"start", "stop", "restart", "queue", "dequeue"});
  const std::string st = r.str("status"), id = r.str("id");
  const Flavor* f = catalog.flavor(r.str("flavor"));
  auto busy = [&](const std::string& what) -> ApiError {
    if (st == "STOPPING") return ApiError(400, "ModelArts.6308", "The instance is stopping; " + what + " it once it has stopped.");
    if (starting(st) || st == "READY_TO_START")
      return ApiError(400, "ModelArts.6306", "The instance is starting; other operations are refused until it runs.");
    return ApiError(400, "ModelArts.6336", "The instance cannot " + what + " while " + st + ".");
  };
  std::string next;
  if (action == "start" || action == "queue") {
    if (action == "queue" && !(f && f->free))
      throw ApiError(400, "ModelArts.6336", "Invalid parameter action: queue is only for instances of a free flavor.");
    if (st == "RUNNING") throw ApiError(400, "ModelArts.6305", "The instance is already running.");
    if (!settled(st)) throw busy("start");
    next = f && f->free ? "START_QUEUING" : "STARTING";
    db.exec("UPDATE notebooks SET status = ?, handle = '', queued_at = ?, reason = '', error_code = '', updated_at = ? "
            "WHERE id = ? AND status = ?",
            {next, clock::now_ms(), clock::now_ms(), id, st});
  } else if (action == "stop") {
    if (st == "STOPPED") throw ApiError(400, "ModelArts.6307", "The instance is already stopped.");
    if (st == "STOPPING") throw ApiError(400, "ModelArts.6308", "The instance is stopping.");
    if (queued(st)) {
      next = "STOPPED";
      set_status(id, st, next);
    } else if (st == "RUNNING" || starting(st)) {
      next = "STOPPING";
      request_stop(r, "", "");
    } else {
      throw ApiError(400, "ModelArts.6307", "The instance is not running (" + st + ").");
    }
  } else if (action == "restart") {
    if (st != "RUNNING") throw ApiError(400, "ModelArts.6327", "The instance is not running (" + st + "); start it first.");
    next = "RESTARTING";
    db.exec("UPDATE notebooks SET status = 'RESTARTING', want = 'RESTART', reason = '', error_code = '', updated_at = ? "
            "WHERE id = ? AND status = 'RUNNING'",
            {clock::now_ms(), id});
    runner(r).cancel(r.str("handle"), dir_of(id));
  } else {  // dequeue
    if (!queued(st)) throw ApiError(400, "ModelArts.6336", "Invalid parameter action: the instance is not queuing (" + st + ").");
    next = "STOPPED";
    set_status(id, st, next);
  }
  poke();
  return http::json_response(200, {{"current_status", next}, {"previous_state", st}});
}

// A token for opening the instance's url: the caller's own identity,
// scoped to the project, valid for an hour. Programs send it as
// X-Auth-Token; a browser signs in at /login.
Response Service::Impl::token(Context& ctx) {
  auto r = instance_row(ctx);
  auto user = iam.user_by_id(ctx.caller.user_id);
  auto project = iam.project_by_id(ctx.caller.project_id);
  if (!user || !project) throw ApiError(401, "ModelArts.0203", "The caller is no longer known.");
  auto issued = iam.issue_token(*user, project, {"token"}, clock::now_ms() + 3600 * 1000);
  return http::json_response(200, {{"token", issued.token}});
}

// The proxy: Jupyter under the instance's url, for its owner (or the
// account's owner). Jupyter's token is added here and never leaves.
Response Service::Impl::proxy(Context& ctx) {
  auto r = instance_row(ctx);
  if (r.str("status") != "RUNNING")
    throw ApiError(400, "ModelArts.6327", "The instance is not running (" + r.str("status") + "); start it first.");
  auto up = std::make_shared<http::Upstream>();
  up->host = r.str("host");
  up->port = uint16_t(r.i64("port"));
  up->target = ctx.req.target;
  up->headers = http::headers_for_upstream(ctx.req);
  up->headers.add("Authorization", "token " + r.str("secret"));
  up->error_code = "ModelArts.6327";
  auto t = traffic_of(r.str("id"));
  t->store(clock::now_ms());
  up->on_traffic = [t] { t->store(clock::now_ms()); };
  Response resp;
  resp.upstream = std::move(up);
  return resp;
}

}  // namespace atelier::notebooks
