#include "http/router.h"

#include <gtest/gtest.h>

#include <optional>

#include "test_util.h"

using namespace atelier::http;
using atelier::ApiError;
using atelier::json;

namespace {

struct FakeGate : Gatekeeper {
  std::vector<std::string> admitted;           // "METHOD path-template" per admit
  std::vector<PathParams> params_seen;         // params visible to the gatekeeper
  std::optional<ApiError> refuse;
  void admit(Context& ctx) override {
    admitted.push_back(ctx.route.method + " " + ctx.route.path);
    params_seen.push_back(ctx.params);
    if (refuse) throw *refuse;
    ctx.caller.user_name = "alice";
    ctx.caller.domain_name = "acme";
  }
};

// A handler that echoes what it saw.
RouteHandler echo(std::string tag) {
  return [tag](Context& ctx) {
    json params = json::object();
    for (auto& [k, v] : ctx.params.items) params[k] = v;
    return json_response(200, {{"tag", tag}, {"params", params}, {"user", ctx.caller.user_name}});
  };
}

Route route(std::string method, std::string path, std::string tag, Access access = Access::kProject,
            ErrorShape shape = ErrorShape::kModelArts) {
  Route r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.action = access == Access::kProject || access == Access::kGlobal ? "svc:res:op" : "";
  r.access = access;
  r.errors = shape;
  r.handler = echo(std::move(tag));
  return r;
}

Request request(std::string method, std::string target, std::string body = "") {
  Request r;
  r.method = std::move(method);
  r.target = target;
  auto q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) r.raw_query = target.substr(q + 1);
  r.body = std::move(body);
  r.request_id = "req-123";
  r.remote_addr = "127.0.0.1";
  return r;
}

json body_of(const Response& r) { return json::parse(r.body); }

class RouterTest : public ::testing::Test {
 protected:
  FakeGate gate;
  Router router{&gate};

  Response call(std::string method, std::string target, std::string body = "") {
    Request r = request(std::move(method), std::move(target), std::move(body));
    return router.handle(r);
  }
};

}  // namespace

TEST_F(RouterTest, LiteralSegmentsWinOverVariables) {
  // Registered variable-first, so the order of add() cannot be what decides.
  router.add(route("GET", "/v2/{project_id}/workforces/{workforce_id}", "byid"));
  router.add(route("GET", "/v2/{project_id}/workforces/workers", "workers"));
  router.add(route("GET", "/v2/{project_id}/workforces/worker-tasks", "tasks"));

  Response r = call("GET", "/v2/p1/workforces/workers");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["tag"], "workers");
  EXPECT_EQ(body_of(r)["params"], json({{"project_id", "p1"}}));

  r = call("GET", "/v2/p1/workforces/worker-tasks");
  EXPECT_EQ(body_of(r)["tag"], "tasks");

  r = call("GET", "/v2/p1/workforces/wf42");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r)["tag"], "byid");
  EXPECT_EQ(body_of(r)["params"], json({{"project_id", "p1"}, {"workforce_id", "wf42"}}));
}

TEST_F(RouterTest, BacktracksFromDeadEndLiteral) {
  router.add(route("GET", "/a/b/c", "literal"));
  router.add(route("GET", "/a/{x}/d", "var"));
  Response r = call("GET", "/a/b/d");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["tag"], "var");
  EXPECT_EQ(body_of(r)["params"]["x"], "b");
  EXPECT_EQ(body_of(call("GET", "/a/b/c"))["tag"], "literal");
}

TEST_F(RouterTest, LiteralWithoutTheMethodFallsBackToVariableRoute) {
  // A literal segment beside a variable one: POST .../labels/delete vs PUT/DELETE .../labels/{label_name}.
  // A label literally named "delete" must still be reachable by DELETE.
  router.add(route("POST", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels/delete", "batchdel"));
  router.add(route("DELETE", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels/{label_name}", "del"));
  Response r = call("DELETE", "/v2/p/datasets/d/data-annotations/labels/delete");
  EXPECT_EQ(r.status, 200) << r.body;
  if (r.status == 200) {
    EXPECT_EQ(body_of(r)["tag"], "del");
    EXPECT_EQ(body_of(r)["params"]["label_name"], "delete");
  }
  EXPECT_EQ(body_of(call("POST", "/v2/p/datasets/d/data-annotations/labels/delete"))["tag"], "batchdel");
}

TEST_F(RouterTest, TrailingSlashIsStripped) {
  router.add(route("POST", "/v1/{project_id}/training-jobs/{job_id}/versions", "versions"));
  Response r = call("POST", "/v1/p/training-jobs/10/versions/");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["tag"], "versions");
  EXPECT_EQ(body_of(r)["params"]["job_id"], "10");
}

TEST_F(RouterTest, EncodedSlashStaysInsideTheParameter) {
  router.add(route("GET", "/v2/{project_id}/labels/{label_name}", "label"));
  Response r = call("GET", "/v2/p/labels/a%2Fb");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(body_of(r)["params"]["label_name"], "a/b");
  // UTF-8 label names arrive percent-encoded and are decoded once.
  r = call("GET", "/v2/p/labels/%E7%8C%AB%2520x");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r)["params"]["label_name"], "\xe7\x8c\xab%20x");
  // A real '/' is a separator, so this is a different (unknown) path.
  EXPECT_EQ(call("GET", "/v2/p/labels/a/b").status, 404);
}

TEST_F(RouterTest, MalformedPathEncodingIs400) {
  router.add(route("GET", "/v2/{project_id}/labels/{label_name}", "label"));
  for (const char* t : {"/v2/p/labels/a%2", "/v2/p/labels/%zz", "/v2/p/labels/a%00b"}) {
    Response r = call("GET", t);
    EXPECT_EQ(r.status, 400) << t;
    EXPECT_EQ(body_of(r)["error_code"], "ModelArts.0101") << t;
  }
  EXPECT_TRUE(gate.admitted.empty());
}

TEST_F(RouterTest, EmptySegmentDoesNotBindAVariable) {
  router.add(route("GET", "/a/{x}/b", "x"));
  EXPECT_EQ(call("GET", "/a//b").status, 404);
  EXPECT_EQ(call("GET", "/a/1/b").status, 200);
}

TEST_F(RouterTest, UnknownPathIs404InGatewayShape) {
  router.add(route("GET", "/v2/{project_id}/datasets", "list"));
  Response r = call("GET", "/v2/p/nothing-here");
  EXPECT_EQ(r.status, 404);
  json b = body_of(r);
  EXPECT_EQ(b["error_code"], "APIGW.0101");
  ASSERT_TRUE(b["error_msg"].is_string());
  EXPECT_EQ(b["error_msg"], b["error_message"]);
  EXPECT_NE(b["error_msg"].get<std::string>().find("/v2/p/nothing-here"), std::string::npos);
  EXPECT_EQ(b["request_id"], "req-123");
  EXPECT_FALSE(b.contains("is_success"));
  EXPECT_EQ(r.headers.get("content-type").rfind("application/json", 0), 0u);
  EXPECT_TRUE(gate.admitted.empty());
  // An intermediate node with no route of its own is not a match either.
  EXPECT_EQ(call("GET", "/v2/p").status, 404);
  EXPECT_EQ(call("GET", "/v2/p/datasets/extra").status, 404);
}

TEST_F(RouterTest, UnknownIamPathIs404InKeystoneShape) {
  Response r = call("GET", "/v3/nowhere");
  EXPECT_EQ(r.status, 404);
  json b = body_of(r);
  EXPECT_EQ(b["error"]["code"], 404);
  EXPECT_EQ(b["error"]["title"], "Not Found");
  EXPECT_EQ(b["error_code"], "APIGW.0101");
}

TEST_F(RouterTest, WrongMethodIs405WithAllow) {
  router.add(route("GET", "/v2/{project_id}/datasets/{dataset_id}", "get"));
  router.add(route("DELETE", "/v2/{project_id}/datasets/{dataset_id}", "del"));
  router.add(route("PUT", "/v2/{project_id}/datasets/{dataset_id}", "put"));
  Response r = call("POST", "/v2/p/datasets/d1");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers.get("Allow"), "DELETE, GET, PUT");
  json b = body_of(r);
  EXPECT_EQ(b["error_code"], "APIGW.0105");
  EXPECT_EQ(b["error_msg"], b["error_message"]);
  EXPECT_TRUE(gate.admitted.empty());
}

TEST_F(RouterTest, HeadFallsBackToGet) {
  router.add(route("GET", "/v1/{project_id}/models/{model_id}", "get", Access::kPublic));
  Response r = call("HEAD", "/v1/p/models/m1");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.head_only);
  EXPECT_EQ(body_of(r)["tag"], "get");  // body kept so the server can send its length
  // GET itself is not head_only.
  EXPECT_FALSE(call("GET", "/v1/p/models/m1").head_only);
}

TEST_F(RouterTest, ExplicitHeadRouteWins) {
  router.add(route("GET", "/obj", "get", Access::kPublic));
  router.add(route("HEAD", "/obj", "head", Access::kPublic));
  Response r = call("HEAD", "/obj");
  EXPECT_EQ(body_of(r)["tag"], "head");
  EXPECT_TRUE(r.head_only);
}

TEST_F(RouterTest, HeadWithoutGetIs405AndHeadOnly) {
  router.add(route("POST", "/only-post", "post", Access::kPublic));
  Response r = call("HEAD", "/only-post");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers.get("allow"), "POST");
  EXPECT_TRUE(r.head_only);
}

TEST_F(RouterTest, GateApiErrorInModelArtsShape) {
  router.add(route("GET", "/v2/{project_id}/datasets", "list"));
  gate.refuse = ApiError(403, "ModelArts.0210", "project id in the URL does not match the token");
  Response r = call("GET", "/v2/p/datasets");
  EXPECT_EQ(r.status, 403);
  json b = body_of(r);
  EXPECT_EQ(b["error_code"], "ModelArts.0210");
  EXPECT_EQ(b["error_msg"], "project id in the URL does not match the token");
  EXPECT_EQ(b["error_message"], "project id in the URL does not match the token");
  EXPECT_EQ(b["request_id"], "req-123");
  EXPECT_FALSE(b.contains("is_success"));
  EXPECT_FALSE(b.contains("error"));
  ASSERT_EQ(gate.admitted.size(), 1u);
  EXPECT_EQ(gate.admitted[0], "GET /v2/{project_id}/datasets");
}

TEST_F(RouterTest, HandlerApiErrorInModelArtsV1Shape) {
  Route r = route("GET", "/v1/{project_id}/training-jobs", "list", Access::kProject, ErrorShape::kModelArtsV1);
  r.handler = [](Context&) -> Response { throw ApiError(400, "ModelArts.0104", "Parameter error."); };
  router.add(std::move(r));
  Response resp = call("GET", "/v1/p/training-jobs");
  EXPECT_EQ(resp.status, 400);
  json b = body_of(resp);
  ASSERT_TRUE(b.contains("is_success"));
  EXPECT_EQ(b["is_success"], false);
  EXPECT_EQ(b["error_code"], "ModelArts.0104");
  EXPECT_EQ(b["error_msg"], "Parameter error.");
  EXPECT_EQ(b["error_message"], "Parameter error.");
}

TEST_F(RouterTest, ApiErrorInIamShape) {
  router.add(route("GET", "/v3/users/{user_id}", "user", Access::kGlobal, ErrorShape::kIam));
  gate.refuse = ApiError(403, "IAM.0003", "Policy doesn't allow iam:users:getUser to be performed.");
  Response r = call("GET", "/v3/users/u1");
  EXPECT_EQ(r.status, 403);
  json b = body_of(r);
  ASSERT_TRUE(b["error"].is_object()) << r.body;
  EXPECT_EQ(b["error"]["code"], 403);
  EXPECT_EQ(b["error"]["title"], "Forbidden");
  EXPECT_EQ(b["error"]["message"], "Policy doesn't allow iam:users:getUser to be performed.");
  EXPECT_EQ(b["error_code"], "IAM.0003");
  EXPECT_EQ(b["error_msg"], "Policy doesn't allow iam:users:getUser to be performed.");
}

TEST_F(RouterTest, StdExceptionBecomes500WithoutLeakingDetails) {
  Route r = route("GET", "/v2/{project_id}/boom", "boom");
  r.handler = [](Context&) -> Response { throw std::runtime_error("secret db detail"); };
  router.add(std::move(r));
  Response resp = call("GET", "/v2/p/boom");
  EXPECT_EQ(resp.status, 500);
  json b = body_of(resp);
  EXPECT_EQ(b["error_code"], "ModelArts.0010");
  EXPECT_EQ(b["error_msg"], b["error_message"]);
  EXPECT_EQ(resp.body.find("secret db detail"), std::string::npos);
  EXPECT_NE(b["error_msg"].get<std::string>().find("req-123"), std::string::npos);
}

TEST_F(RouterTest, StdExceptionOnIamRouteIsIam0006) {
  Route r = route("GET", "/v3/boom", "boom", Access::kPublic, ErrorShape::kIam);
  r.handler = [](Context&) -> Response { throw std::logic_error("bad"); };
  router.add(std::move(r));
  Response resp = call("GET", "/v3/boom");
  EXPECT_EQ(resp.status, 500);
  json b = body_of(resp);
  EXPECT_EQ(b["error_code"], "IAM.0006");
  EXPECT_EQ(b["error"]["code"], 500);
  EXPECT_EQ(b["error"]["title"], "Internal Server Error");
}

TEST_F(RouterTest, DuplicateRouteThrows) {
  router.add(route("GET", "/v2/{project_id}/datasets", "a"));
  EXPECT_THROW(router.add(route("GET", "/v2/{project_id}/datasets", "b")), std::logic_error);
  // Same shape with a different variable name is still the same route.
  EXPECT_THROW(router.add(route("GET", "/v2/{pid}/datasets", "c")), std::logic_error);
  EXPECT_NO_THROW(router.add(route("POST", "/v2/{project_id}/datasets", "d")));
  EXPECT_EQ(router.routes().size(), 2u);
}

TEST_F(RouterTest, ProjectOrGlobalRouteWithoutActionThrows) {
  Route p = route("GET", "/v2/{project_id}/x", "x", Access::kProject);
  p.action.clear();
  EXPECT_THROW(router.add(p), std::logic_error);
  Route g = route("GET", "/v3/x", "x", Access::kGlobal);
  g.action.clear();
  EXPECT_THROW(router.add(g), std::logic_error);
  EXPECT_NO_THROW(router.add(route("GET", "/v3/auth/tokens", "m", Access::kMember)));
  EXPECT_NO_THROW(router.add(route("GET", "/health", "h", Access::kPublic)));
  EXPECT_THROW(router.add(route("GET", "no-slash", "x", Access::kPublic)), std::logic_error);
  EXPECT_THROW(router.add(route("GET", "", "x", Access::kPublic)), std::logic_error);
}

TEST_F(RouterTest, PublicRoutesSkipGatekeeper) {
  router.add(route("GET", "/health", "health", Access::kPublic));
  router.add(route("GET", "/v3/auth/projects", "member", Access::kMember));
  router.add(route("GET", "/v3/users", "global", Access::kGlobal));
  gate.refuse = ApiError(401, "ModelArts.0201", "no credentials");
  EXPECT_EQ(call("GET", "/health").status, 200);
  EXPECT_TRUE(gate.admitted.empty());
  EXPECT_EQ(call("GET", "/v3/auth/projects").status, 401);
  EXPECT_EQ(call("GET", "/v3/users").status, 401);
  EXPECT_EQ(gate.admitted.size(), 2u);
}

TEST_F(RouterTest, GatekeeperSeesParamsAndSetsCaller) {
  router.add(route("GET", "/v2/{project_id}/datasets/{dataset_id}", "get"));
  Response r = call("GET", "/v2/proj9/datasets/ds%201");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(gate.params_seen.size(), 1u);
  EXPECT_EQ(gate.params_seen[0].get("project_id"), "proj9");
  EXPECT_EQ(gate.params_seen[0].get("dataset_id"), "ds 1");
  EXPECT_EQ(gate.params_seen[0].get("nope"), "");
  EXPECT_EQ(body_of(r)["user"], "alice");
}

TEST_F(RouterTest, RootRoute) {
  router.add(route("GET", "/", "root", Access::kPublic));
  EXPECT_EQ(body_of(call("GET", "/"))["tag"], "root");
  EXPECT_EQ(call("GET", "/x").status, 404);
}

TEST_F(RouterTest, BodyErrorsFollowRouteShape) {
  Route ma = route("POST", "/v2/{project_id}/datasets", "create");
  ma.handler = [](Context& ctx) {
    auto in = ctx.in();
    return json_response(200, {{"name", in.obj("dataset").str("name")}});
  };
  router.add(std::move(ma));
  Route iam = route("POST", "/v3/users", "create", Access::kGlobal, ErrorShape::kIam);
  iam.handler = [](Context& ctx) {
    auto in = ctx.in();
    return json_response(201, {{"name", in.obj("user").str("name")}});
  };
  router.add(std::move(iam));

  Response r = call("POST", "/v2/p/datasets", "{bad");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body_of(r)["error_code"], "ModelArts.0101");

  r = call("POST", "/v2/p/datasets", R"({"dataset": {"name": 5}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(body_of(r)["error_msg"].get<std::string>().find("dataset.name"), std::string::npos) << r.body;

  r = call("POST", "/v2/p/datasets", R"({"dataset": {"name": "ok"}})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body_of(r)["name"], "ok");

  r = call("POST", "/v3/users", "[1]");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body_of(r)["error_code"], "IAM.0011");
  EXPECT_EQ(body_of(r)["error"]["code"], 400);

  r = call("POST", "/v3/users", R"({"user": {}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body_of(r)["error_code"], "IAM.0073");
  EXPECT_NE(body_of(r)["error_msg"].get<std::string>().find("user.name"), std::string::npos) << r.body;
}

TEST_F(RouterTest, DescribeListsRoutes) {
  Route r = route("GET", "/v3/users/{user_id}", "u", Access::kGlobal, ErrorShape::kIam);
  r.depends = {"iam:groups:list"};
  r.self = [](const Context&) { return true; };
  router.add(std::move(r));
  router.add(route("GET", "/health", "h", Access::kPublic));
  json d = router.describe();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0]["method"], "GET");
  EXPECT_EQ(d[0]["path"], "/v3/users/{user_id}");
  EXPECT_EQ(d[0]["action"], "svc:res:op");
  EXPECT_EQ(d[0]["access"], "global");
  EXPECT_EQ(d[0]["depends"], json({"iam:groups:list"}));
  EXPECT_EQ(d[0]["self"], true);
  EXPECT_EQ(d[1]["access"], "public");
  EXPECT_EQ(d[1]["self"], false);
}

TEST(ErrorResponse, Shapes) {
  Response r = error_response(ErrorShape::kModelArts, 400, "ModelArts.4352", "Dataset does not exist", "rid");
  EXPECT_EQ(r.status, 400);
  json b = json::parse(r.body);
  EXPECT_EQ(b, json({{"error_code", "ModelArts.4352"},
                     {"error_msg", "Dataset does not exist"},
                     {"error_message", "Dataset does not exist"},
                     {"request_id", "rid"}}));
  b = json::parse(error_response(ErrorShape::kModelArtsV1, 400, "C", "m", "rid").body);
  EXPECT_EQ(b["is_success"], false);
  b = json::parse(error_response(ErrorShape::kIam, 401, "IAM.0001", "m", "rid").body);
  EXPECT_EQ(b["error"], json({{"code", 401}, {"title", "Unauthorized"}, {"message", "m"}}));
  EXPECT_EQ(b["error_code"], "IAM.0001");
  EXPECT_FALSE(b.contains("error_message"));
}

TEST(JsonResponse, SerialisesAndLabels) {
  Response r = json_response(201, {{"a", 1}});
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, R"({"a":1})");
  EXPECT_EQ(r.headers.get("Content-Type"), "application/json;charset=UTF-8");
  // Invalid UTF-8 from stored data must not throw while rendering.
  Response bad;
  EXPECT_NO_THROW(bad = json_response(200, {{"s", std::string("\xff\xfe")}}));
  EXPECT_EQ(no_content().status, 204);
  EXPECT_TRUE(no_content().body.empty());
}

TEST_F(RouterTest, RestParameterTakesTheRemainingSegments) {
  router.add(route("GET", "/v1/{p}/jobs/{id}/view", "view"));
  router.add(route("GET", "/v1/{p}/jobs/{id}/view/data", "data"));
  router.add(route("GET", "/v1/{p}/jobs/{id}/view/{path+}", "rest"));
  EXPECT_EQ(body_of(call("GET", "/v1/p/jobs/7/view"))["tag"], "view");
  EXPECT_EQ(body_of(call("GET", "/v1/p/jobs/7/view/"))["tag"], "view");
  EXPECT_EQ(body_of(call("GET", "/v1/p/jobs/7/view/data"))["tag"], "data");  // a literal still wins
  json r = body_of(call("GET", "/v1/p/jobs/7/view/data/plugin/scalars?tag=x"));
  EXPECT_EQ(r["tag"], "rest");
  EXPECT_EQ(r["params"]["path"], "data/plugin/scalars");
  EXPECT_EQ(r["params"]["id"], "7");
  EXPECT_EQ(body_of(call("GET", "/v1/p/jobs/7/view/a%2Fb/c"))["params"]["path"], "a/b/c");
  EXPECT_EQ(call("POST", "/v1/p/jobs/7/view/x").status, 405);
  EXPECT_THROW(router.add(route("GET", "/v1/{rest+}/more", "bad")), std::logic_error);
}

TEST_F(RouterTest, BrowserRouteSendsAnUnauthenticatedGetToSignIn) {
  Route r = route("GET", "/v1/{p}/view", "view");
  r.browser = true;
  router.add(std::move(r));
  Route post = route("POST", "/v1/{p}/view", "view");
  post.browser = true;
  router.add(std::move(post));
  router.add(route("GET", "/v1/{p}/api", "api"));
  gate.refuse = ApiError(401, "ModelArts.0201", "no credentials");
  Response g = call("GET", "/v1/p/view?x=1");
  EXPECT_EQ(g.status, 303);
  EXPECT_EQ(g.headers.get("Location"), "/login?next=%2Fv1%2Fp%2Fview%3Fx%3D1");
  EXPECT_EQ(call("POST", "/v1/p/view").status, 401);  // not for what a form or a script sends
  EXPECT_EQ(call("GET", "/v1/p/api").status, 401);    // nor for the API
  gate.refuse = ApiError(403, "ModelArts.0108", "denied");
  EXPECT_EQ(call("GET", "/v1/p/view").status, 403);  // signed in but not allowed: the reason, not a loop
}

TEST(CookieValue, FindsTheNamedCookie) {
  Headers h;
  h.add("Cookie", "a=1; atelier_session=tok; b=2");
  h.add("Cookie", "c=3");
  EXPECT_EQ(cookie_value(h, "atelier_session"), "tok");
  EXPECT_EQ(cookie_value(h, "c"), "3");
  EXPECT_EQ(cookie_value(h, "atelier"), "");
  EXPECT_EQ(cookie_value(Headers(), "a"), "");
}

TEST(RouteTable, AccessKindOfRowsWithAndWithoutAnAction) {
  auto global = route_table("/v3", ErrorShape::kIam, Access::kGlobal, {
      {"GET", "/users", "iam:users:listUsers", {}, echo("list")},
      {"GET", "/regions", "", {}, echo("regions")},
  });
  ASSERT_EQ(global.size(), 2u);
  EXPECT_EQ(global[0].path, "/v3/users");
  EXPECT_EQ(global[0].access, Access::kGlobal);
  EXPECT_EQ(global[0].errors, ErrorShape::kIam);
  EXPECT_EQ(global[1].access, Access::kMember);
  auto open = route_table("", ErrorShape::kModelArts, Access::kPublic, {{"GET", "/login", "", {}, echo("login")}});
  EXPECT_EQ(open[0].access, Access::kPublic);
  auto project = route_table("/v2/{project_id}", ErrorShape::kModelArts, {
      {"GET", "/datasets", "modelarts:dataset:list", {}, echo("ds")},
      {"GET", "/workers", "", {}, echo("w")},
  });
  EXPECT_EQ(project[0].access, Access::kProject);
  EXPECT_EQ(project[1].access, Access::kMember);
}

namespace {
struct Api {
  Response tagged(Context&, std::string tag) { return json_response(200, {{"tag", tag}}); }
};
}  // namespace

TEST(RouteHandler, PassesItsArgumentsAfterTheContext) {
  auto api = std::make_shared<Api>();
  RouteHandler h = handler(api, &Api::tagged, std::string("one"));
  Request req = request("GET", "/x");
  Route r;
  Context ctx{req, r, {}, {}, false, {}};
  EXPECT_EQ(body_of(h(ctx))["tag"], "one");
}
