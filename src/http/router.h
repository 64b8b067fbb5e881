// Routes are data. Each capability declares its routes (method, path template,
// IAM action, dependent actions, who may call, error wording, handler) and adds
// them to the Router. The Router matches the path, has the Gatekeeper resolve
// the caller, the project and the authorization exactly once from that
// declaration, runs the handler, renders failures, and writes the access log.
// Handlers never check permissions themselves.
#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "common/json.h"
#include "http/http.h"

namespace atelier::http {

// Who may call a route.
enum class Access {
  kPublic,   // no credentials (health, token issue)
  kMember,   // any authenticated, enabled user of an account
  kProject,  // project-level action, evaluated in the {project_id} of the path
  kGlobal,   // global-service action (IAM), evaluated at account scope
};

// How failures on a route are worded.
enum class ErrorShape {
  kModelArts,    // {"error_code","error_msg","error_message"}
  kModelArtsV1,  // the same plus "is_success": false (legacy training family)
  kIam,          // Keystone {"error":{code,title,message}} plus error_code/error_msg
};

// The authenticated caller, resolved by the Gatekeeper.
struct Caller {
  std::string user_id, user_name;
  std::string domain_id, domain_name;
  std::string project_id, project_name;  // the project in scope, if any
  std::string auth_method;               // "token" | "session" (browser cookie) | "aksk" | "" (public)
  std::string access_key;                // for AK/SK callers
  std::string token_hash;                // for token callers
  bool is_owner = false;                 // account owner
};

struct PathParams {
  std::vector<std::pair<std::string, std::string>> items;  // decoded values
  const std::string& get(std::string_view name) const;
};

// An object-storage path a request names, and what the route does there
// (the Gatekeeper checks that the caller's account may use its bucket).
struct ObjectPathField {
  // A JSON pointer into the body, where "*" stands for every element of an
  // array ("/data_sources/*/data_path"), or "?name" for a query parameter.
  std::string where;
  bool write = false;
};

struct Route;

// What a handler sees.
struct Context {
  Request& req;
  const Route& route;
  PathParams params;
  Caller caller;

  const std::string& param(std::string_view name) const { return params.get(name); }
  // "http://<Host header>", for links and URLs the response hands out.
  std::string base_url() const;
  // The JSON body, parsed once. A malformed body is a 400 in the route's shape.
  // `allow_empty`: an empty body reads as {} (for bodies that are all optional).
  const json& body(bool allow_empty = false);
  JsonIn in(bool allow_empty = false);  // view on body() that names fields in errors
  bool body_parsed = false;
  json parsed;
};

using RouteHandler = std::function<Response(Context&)>;
// True when the request is the caller acting on itself (own profile, own keys,
// on project routes its own part of a resource: a team member's task): such
// calls pass without the route's action. Called once the caller (and, on
// project routes, the project) is known.
using SelfCheck = std::function<bool(const Context&)>;
// Narrows who may call a route among the callers the grants (or the self
// check) admit, by their relation to the resource: only a notebook's owner
// opens it, a reviewer does not annotate. Throws ApiError (403) to refuse;
// returns when the caller may go on, and when the resource does not exist
// (the handler answers that with its 404). Called once the caller and the
// project are known and authorized.
using Restriction = std::function<void(const Context&)>;

struct Route {
  std::string method;
  std::string path;  // template, e.g. /v2/{project_id}/datasets/{dataset_id}; a last {name+} takes the rest
  std::string action;                // IAM action; empty for public/member routes
  std::vector<std::string> depends;  // further IAM actions the caller must also be allowed
  Access access = Access::kProject;
  ErrorShape errors = ErrorShape::kModelArts;
  RouteHandler handler;
  SelfCheck self;
  Restriction restrict;
  // For project routes on resources that belong to an enterprise project:
  // returns that project's id (empty when none), so grants on the
  // enterprise project count too. Called after the caller is known.
  std::function<std::string(const Context&)> enterprise_project;
  // A page (or what a page fetches) that people open in a browser: the
  // caller may also be named by the session cookie that /login sets, and a
  // GET without credentials is redirected to /login.
  bool browser = false;
  // Every object path the request may name (read or written by the route,
  // or by the work it starts).
  std::vector<ObjectPathField> object_paths;
};

// The cookie that carries a browser session's token (HttpOnly, SameSite=Lax).
inline constexpr const char* kSessionCookie = "atelier_session";
// The value of cookie `name` in a Cookie header, "" when absent.
std::string cookie_value(const Headers& headers, std::string_view name);

// Authenticates and authorizes a matched request; throws ApiError to refuse.
class Gatekeeper {
 public:
  virtual ~Gatekeeper() = default;
  virtual void admit(Context& ctx) = 0;
};

class Router {
 public:
  explicit Router(Gatekeeper* gate);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Throws std::logic_error on a duplicate (method, path) or a bad template.
  void add(Route route);
  void add(std::vector<Route> routes);

  Response handle(Request& req);
  const std::vector<std::unique_ptr<Route>>& routes() const { return routes_; }
  // The route declared with exactly this method and template; nullptr if none.
  Route* find(std::string_view method, std::string_view path) const;
  json describe() const;  // the route table, for `atelier routes` and the tests

 private:
  struct Node;
  struct Match;
  // Finds the route node for `segs`; with a method, only nodes that serve it.
  bool match(const std::vector<std::string>& segs, size_t i, Node* n, const std::string* method,
             std::vector<std::string>& vals, Node*& out) const;

  Gatekeeper* gate_;
  std::unique_ptr<Node> root_;
  std::vector<std::unique_ptr<Route>> routes_;
};

// A route evaluated in the {project_id} of its path (the shape of every
// ModelArts route); with no action, any member of the account may call it.
Route project_route(std::string method, std::string path, std::string action, std::vector<std::string> depends,
                    RouteHandler h, ErrorShape errors = ErrorShape::kModelArts);

// One row of a family's route table (see route_table).
struct RouteRow {
  std::string method;
  std::string path;  // below the table's prefix
  std::string action;
  std::vector<std::string> depends;
  RouteHandler handler;
  bool browser = false;  // Route::browser
  SelfCheck self = nullptr;  // Route::self
  Restriction restrict = nullptr;  // Route::restrict
};

// A family's routes: each row a project_route under `prefix`, its failures
// worded as `errors`.
std::vector<Route> route_table(const std::string& prefix, ErrorShape errors, std::vector<RouteRow> rows);
// The same for routes of another access kind: a row with an action is of kind
// `access`, one without is a member route (public on a kPublic table).
std::vector<Route> route_table(const std::string& prefix, ErrorShape errors, Access access, std::vector<RouteRow> rows);

// A handler that runs the member function `fn` of a family's shared `api`
// (kept alive by the route), so that tables name their handlers. `args` are
// passed after the context: one member may serve several rows, told apart.
template <class Api, class... Args>
RouteHandler handler(const std::shared_ptr<Api>& api, Response (Api::*fn)(Context&, Args...),
                     std::type_identity_t<Args>... args) {
  return [api, fn, args...](Context& ctx) { return ((*api).*fn)(ctx, args...); };
}

// Response builders.
Response json_response(int status, const json& body);
Response no_content(int status = 204);
// Renders an error in the shape of a family.
Response error_response(ErrorShape shape, int status, const std::string& code,
                        const std::string& message, const std::string& request_id);

}  // namespace atelier::http
