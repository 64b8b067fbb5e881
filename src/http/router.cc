#include "http/router.h"

#include <spdlog/spdlog.h>

#include <strings.h>

#include <map>
#include <stdexcept>

namespace atelier::http {

struct Router::Node {
  std::map<std::string, std::unique_ptr<Node>, std::less<>> literal;
  std::unique_ptr<Node> var;
  std::unique_ptr<Node> rest;  // {name+}: one or more segments to the end
  std::map<std::string, Route*> by_method;
  std::map<std::string, std::vector<std::string>> var_names;  // per method
};

const std::string& PathParams::get(std::string_view name) const {
  static const std::string empty;
  for (auto& [k, v] : items)
    if (k == name) return v;
  return empty;
}

class ShapedFieldErrors : public FieldErrorFactory {
 public:
  explicit ShapedFieldErrors(ErrorShape s) : shape_(s) {}
  ApiError make(const std::string& field, const std::string& problem) const override {
    if (shape_ == ErrorShape::kIam)
      return ApiError(400, "IAM.0073", "Invalid input for field '" + field + "': " + problem + ".");
    return FieldErrorFactory::make(field, problem);
  }

 private:
  ErrorShape shape_;
};

const json& Context::body(bool allow_empty) {
  if (!body_parsed) {
    try {
      parsed = parse_json_body(req.body, allow_empty);
    } catch (const ApiError& e) {
      if (route.errors == ErrorShape::kIam) throw ApiError(400, "IAM.0011", e.what());
      throw;
    }
    body_parsed = true;
  }
  return parsed;
}

std::string Context::base_url() const {
  const std::string& host = req.headers.get("Host");
  return "http://" + (host.empty() ? std::string("localhost") : host);
}

JsonIn Context::in(bool allow_empty) {
  static const ShapedFieldErrors iam(ErrorShape::kIam), ma(ErrorShape::kModelArts);
  return JsonIn(body(allow_empty), "", route.errors == ErrorShape::kIam ? &iam : &ma);
}

static std::vector<std::string> split(std::string_view path) {
  std::vector<std::string> out;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    out.emplace_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

Router::Router(Gatekeeper* gate) : gate_(gate), root_(std::make_unique<Node>()) {}
Router::~Router() = default;

void Router::add(std::vector<Route> routes) {
  for (auto& r : routes) add(std::move(r));
}

void Router::add(Route route) {
  if (route.path.empty() || route.path[0] != '/')
    throw std::logic_error("route path must start with '/': " + route.path);
  Node* n = root_.get();
  std::vector<std::string> names;
  if (route.path != "/") {
    auto segs = split(route.path);
    for (size_t i = 0; i < segs.size(); ++i) {
      const std::string& seg = segs[i];
      if (seg.size() > 3 && seg.front() == '{' && seg.ends_with("+}")) {
        if (i + 1 != segs.size()) throw std::logic_error("{name+} must be the last segment: " + route.path);
        names.push_back(seg.substr(1, seg.size() - 3));
        if (!n->rest) n->rest = std::make_unique<Node>();
        n = n->rest.get();
      } else if (seg.size() > 2 && seg.front() == '{' && seg.back() == '}') {
        names.push_back(seg.substr(1, seg.size() - 2));
        if (!n->var) n->var = std::make_unique<Node>();
        n = n->var.get();
      } else {
        auto& child = n->literal[seg];
        if (!child) child = std::make_unique<Node>();
        n = child.get();
      }
    }
  }
  if (n->by_method.count(route.method))
    throw std::logic_error("duplicate route " + route.method + " " + route.path);
  if ((route.access == Access::kProject || route.access == Access::kGlobal) && route.action.empty())
    throw std::logic_error("route needs an IAM action: " + route.method + " " + route.path);
  routes_.push_back(std::make_unique<Route>(std::move(route)));
  Route* r = routes_.back().get();
  n->by_method[r->method] = r;
  n->var_names[r->method] = std::move(names);
}

bool Router::match(const std::vector<std::string>& segs, size_t i, Node* n, const std::string* method,
                   std::vector<std::string>& vals, Node*& out) const {
  if (i == segs.size()) {
    if (n->by_method.empty() || (method && !n->by_method.count(*method))) return false;
    out = n;
    return true;
  }
  // Literal segments win over variables (/workforces/workers vs /workforces/{id});
  // a literal that does not serve the method falls back to the variable
  // (POST .../labels/delete vs DELETE .../labels/{label_name} named "delete").
  auto it = n->literal.find(segs[i]);
  if (it != n->literal.end() && match(segs, i + 1, it->second.get(), method, vals, out)) return true;
  if (n->var && !segs[i].empty()) {
    vals.push_back(segs[i]);
    if (match(segs, i + 1, n->var.get(), method, vals, out)) return true;
    vals.pop_back();
  }
  if (n->rest && !n->rest->by_method.empty() && (!method || n->rest->by_method.count(*method))) {
    std::string joined;
    for (size_t k = i; k < segs.size(); ++k) joined += (k > i ? "/" : "") + segs[k];
    vals.push_back(std::move(joined));
    out = n->rest.get();
    return true;
  }
  return false;
}

// Calls fn with each "name=value" pair of a Cookie header line, spaces trimmed.
static void each_cookie(std::string_view line, const std::function<void(std::string_view)>& fn) {
  while (!line.empty()) {
    size_t semi = line.find(';');
    std::string_view pair = line.substr(0, semi);
    line = semi == std::string_view::npos ? std::string_view() : line.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (!pair.empty()) fn(pair);
  }
}

std::string cookie_value(const Headers& headers, std::string_view name) {
  std::optional<std::string> found;
  for (const std::string& line : headers.all("Cookie"))
    each_cookie(line, [&](std::string_view pair) {
      size_t eq = pair.find('=');
      if (!found && eq != std::string_view::npos && pair.substr(0, eq) == name) found = std::string(pair.substr(eq + 1));
    });
  return found.value_or("");
}

Headers headers_for_upstream(const Request& req) {
  static const std::string prefix = std::string(kSessionCookie) + "=";
  Headers out;
  for (auto& [name, value] : req.headers.items()) {
    if (strcasecmp(name.c_str(), "X-Auth-Token") == 0 || strcasecmp(name.c_str(), "Authorization") == 0) continue;
    if (strcasecmp(name.c_str(), "Cookie") != 0) {
      out.add(name, value);
      continue;
    }
    std::string kept;  // the other cookies pass (Jupyter's own, say)
    each_cookie(value, [&](std::string_view pair) {
      if (pair.substr(0, prefix.size()) != prefix) kept += (kept.empty() ? "" : "; ") + std::string(pair);
    });
    if (!kept.empty()) out.add(name, kept);
  }
  return out;
}

Route project_route(std::string method, std::string path, std::string action, std::vector<std::string> depends,
                    RouteHandler h, ErrorShape errors) {
  Route r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.action = std::move(action);
  r.depends = std::move(depends);
  r.access = r.action.empty() ? Access::kMember : Access::kProject;
  r.errors = errors;
  r.handler = std::move(h);
  return r;
}

std::vector<Route> route_table(const std::string& prefix, ErrorShape errors, std::vector<RouteRow> rows) {
  std::vector<Route> out;
  out.reserve(rows.size());
  for (auto& row : rows) {
    out.push_back(project_route(std::move(row.method), prefix + row.path, std::move(row.action), std::move(row.depends),
                                std::move(row.handler), errors));
    out.back().browser = row.browser;
    out.back().self = std::move(row.self);
    out.back().restrict = std::move(row.restrict);
  }
  return out;
}

std::vector<Route> route_table(const std::string& prefix, ErrorShape errors, Access access, std::vector<RouteRow> rows) {
  auto out = route_table(prefix, errors, std::move(rows));
  for (auto& r : out)
    if (access == Access::kPublic || !r.action.empty()) r.access = access;
  return out;
}

Response json_response(int status, const json& body) {
  Response r;
  r.status = status;
  r.headers.add("Content-Type", "application/json;charset=UTF-8");
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Response no_content(int status) {
  Response r;
  r.status = status;
  return r;
}

Response error_response(ErrorShape shape, int status, const std::string& code,
                        const std::string& message, const std::string& request_id) {
  json body;
  if (shape == ErrorShape::kIam) {
    body["error"] = {{"code", status}, {"title", reason_phrase(status)}, {"message", message}};
    body["error_code"] = code;
    body["error_msg"] = message;
  } else {
    body["error_code"] = code;
    body["error_msg"] = message;
    body["error_message"] = message;
    if (shape == ErrorShape::kModelArtsV1) body["is_success"] = false;
  }
  body["request_id"] = request_id;
  return json_response(status, body);
}

static Response internal_error_response(ErrorShape shape, const std::string& request_id) {
  return error_response(shape, 500, shape == ErrorShape::kIam ? "IAM.0006" : "ModelArts.0010",
                        "An internal error occurred; see the server log for request " + request_id, request_id);
}

// A JSON string literal for the access log. User and account names were
// checked as UTF-8 when they were stored, so escaping quotes, backslashes
// and control characters is enough.
static std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", int(c));
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

// Handlers see query values and path parameters as UTF-8 text only.
static void require_utf8(const Request& req, const PathParams& params, ErrorShape shape) {
  auto refuse = [&](const std::string& what) {
    throw ApiError(400, shape == ErrorShape::kIam ? "IAM.0007" : "ModelArts.0101", what + " is not valid UTF-8 text.");
  };
  for (auto& [k, v] : req.query())
    if (!valid_utf8(k) || !valid_utf8(v)) refuse(valid_utf8(k) ? "Query parameter " + k : "A query parameter name");
  for (auto& [k, v] : params.items)
    if (!valid_utf8(v)) refuse("Path parameter " + k);
}

static ErrorShape shape_for_path(std::string_view path) {
  return path.rfind("/v3", 0) == 0 ? ErrorShape::kIam : ErrorShape::kModelArts;
}

Response Router::handle(Request& req) {
  auto start = std::chrono::steady_clock::now();
  const Route* route = nullptr;
  std::string user = "-";
  Response resp;
  ErrorShape shape = shape_for_path(req.path);
  try {
    std::string path = req.path;
    if (path.size() > 1 && path.back() == '/') path.pop_back();  // one trailing slash is ignored
    std::vector<std::string> segs;
    if (path != "/") {
      for (auto& raw : split(path)) {
        std::string dec;
        if (!percent_decode(raw, dec) || dec.find('\0') != std::string::npos)
          throw ApiError(400, shape == ErrorShape::kIam ? "IAM.0007" : "ModelArts.0101",
                         "Malformed percent-encoding in the request path.");
        segs.push_back(std::move(dec));
      }
    }
    std::vector<std::string> vals;
    Node* node = nullptr;
    static const std::string kGet = "GET";
    bool head_via_get = false;
    if (!match(segs, 0, root_.get(), &req.method, vals, node)) {
      vals.clear();
      if (req.method == "HEAD" && match(segs, 0, root_.get(), &kGet, vals, node)) {
        head_via_get = true;
      } else {
        vals.clear();
        if (!match(segs, 0, root_.get(), nullptr, vals, node))
          throw ApiError(404, "APIGW.0101", "The API does not exist or has not been published: " +
                                                req.method + " " + req.path);
      }
    }
    auto it = node->by_method.find(head_via_get ? kGet : req.method);
    if (it == node->by_method.end()) {
      std::string allow;
      for (auto& [m, r] : node->by_method) allow += (allow.empty() ? "" : ", ") + m;
      resp = error_response(shape, 405, "APIGW.0105",
                            "Method " + req.method + " is not allowed here; allowed: " + allow,
                            req.request_id);
      resp.headers.add("Allow", allow);
    } else {
      route = it->second;
      shape = route->errors;
      Context ctx{req, *route, {}, {}, false, {}};
      auto& names = node->var_names[it->first];
      for (size_t i = 0; i < names.size(); ++i) ctx.params.items.emplace_back(names[i], vals[i]);
      if (route->access != Access::kPublic) gate_->admit(ctx);
      if (!ctx.caller.user_name.empty()) user = ctx.caller.user_name + "@" + ctx.caller.domain_name;
      require_utf8(req, ctx.params, shape);
      resp = route->handler(ctx);
      if (head_via_get) resp.head_only = true;
    }
  } catch (const ApiError& e) {
    if (route && route->browser && e.status() == 401 && (req.method == "GET" || req.method == "HEAD")) {
      resp.status = 303;  // a person at a browser: sign in first, then come back
      resp.headers.add("Location", "/login?next=" + percent_encode(req.target));
      resp.headers.add("Cache-Control", "no-store");
    } else {
      resp = error_response(shape, e.status(), e.code(), e.what(), req.request_id);
    }
  } catch (const std::exception& e) {
    spdlog::error("request {} failed: {}", req.request_id, e.what());
    resp = internal_error_response(shape, req.request_id);
  } catch (...) {
    spdlog::error("request {} failed: unknown exception", req.request_id);
    resp = internal_error_response(shape, req.request_id);
  }
  if (req.method == "HEAD") resp.head_only = true;
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  // One structured line per request. Never headers or bodies: they carry secrets.
  spdlog::info(R"({{"event":"access","method":"{}","route":"{}","status":{},"ms":{:.3f},"request_id":"{}","user":{},"remote":"{}"}})",
               req.method, route ? route->path : "-", resp.status, ms, req.request_id,
               json_quote(user), req.remote_addr);
  return resp;
}

Route* Router::find(std::string_view method, std::string_view path) const {
  for (auto& r : routes_)
    if (r->method == method && r->path == path) return r.get();
  return nullptr;
}

json Router::describe() const {
  json out = json::array();
  for (auto& r : routes_) {
    const char* access = r->access == Access::kPublic   ? "public"
                         : r->access == Access::kMember ? "member"
                         : r->access == Access::kProject ? "project"
                                                        : "global";
    json paths = json::array();
    for (auto& f : r->object_paths) paths.push_back({{"where", f.where}, {"write", f.write}});
    json row = {{"method", r->method},
                {"path", r->path},
                {"action", r->action},
                {"depends", r->depends},
                {"access", access},
                {"self", bool(r->self)},
                {"browser", r->browser},
                {"object_paths", paths}};
    if (r->restrict) row["restricted"] = true;
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace atelier::http
