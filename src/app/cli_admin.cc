// `atelier admin`: IAM and bucket administration of a data dir, through the
// same API handlers the server uses.
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "app/app.h"
#include "app/cli.h"
#include "http/http.h"

namespace atelier::app {

namespace {

// Sends one request through the router as the owner of `account`, with a
// short-lived token that is revoked afterwards. Returns the HTTP status.
int admin_call(App& a, const std::string& account, const std::string& method, const std::string& target,
               const std::string& body, json* out) {
  auto did = a.iam().domain_id_by_name(account);
  if (!did) throw std::runtime_error("no account named " + account);
  auto owner = a.iam().user_by_name(*did, account);
  auto tok = a.iam().issue_token(*owner, std::nullopt, {"password"});
  http::Request req;
  req.method = method;
  req.target = target;
  auto q = target.find('?');
  req.path = target.substr(0, q);
  if (q != std::string::npos) req.raw_query = target.substr(q + 1);
  req.headers.add("X-Auth-Token", tok.token);
  req.headers.add("Host", "localhost");
  req.headers.add("Content-Type", "application/json");
  req.body = body;
  req.request_id = "admin-cli";
  req.remote_addr = "local";
  auto resp = a.router().handle(req);
  a.iam().revoke_token(tok.info.hash);
  if (out) *out = resp.body.empty() ? json() : json::parse(resp.body, nullptr, false);
  return resp.status;
}

// Prints an API answer (its status when it has no body); exit code 1 for an error status.
int print_answer(int st, const json& out) {
  std::cout << (out.is_null() ? json{{"status", st}} : out).dump(1) << std::endl;
  return st < 400 ? 0 : 1;
}

// The id of the entry of a list call whose `field` is `value`; throws when there is none.
std::string find_id(App& a, const std::string& account, const std::string& list_path, const char* key, const char* field,
                    const std::string& value) {
  json out;
  admin_call(a, account, "GET", list_path, "", &out);
  if (out.contains(key))
    for (auto& o : out[key])
      if (o.value(field, "") == value) return o["id"].get<std::string>();
  throw std::runtime_error(std::string("no ") + key + " entry with " + field + " '" + value + "' in account " + account);
}

// A new account's owner password: --password, else ATELIER_NEW_PASSWORD, else none.
std::string new_password(std::string password) {
  if (password.empty() && std::getenv("ATELIER_NEW_PASSWORD")) password = std::getenv("ATELIER_NEW_PASSWORD");
  return password;
}

// `account-create`: a new account with its owner user.
int account_create(App& a, const Config& cfg, const AdminCommand& c) {
  std::string password = new_password(c.password);
  std::string id = a.iam().create_account(c.name, password);
  auto pid = a.iam().project_by_name(id, cfg.region);
  std::cout << json{{"domain_id", id}, {"name", c.name}, {"project_id", pid->id}}.dump() << std::endl;
  return 0;
}

// `bucket-owner`: lists the owners, or gives `bucket` to an account or the platform.
int bucket_owner(App& a, const std::string& bucket, const std::string& account, bool platform) {
  auto name_of = [&a](const std::string& domain) {
    auto n = a.db().query_one("SELECT name FROM iam_domains WHERE id = ?", {domain});
    return n ? n->str("name") : domain;
  };
  if (bucket.empty()) {
    json out = json::array();
    for (auto& e : a.buckets().list())
      out.push_back({{"bucket", e.bucket}, {"owner", name_of(e.owner)}, {"owner_id", e.owner}, {"since", e.since_ms}});
    std::cout << out.dump(1) << std::endl;
    return 0;
  }
  if (!obs::valid_bucket(bucket)) throw std::runtime_error("'" + bucket + "' is not a valid bucket name");
  std::string owner(obs::Buckets::kPlatform);
  if (!platform) {
    if (account.empty()) throw std::runtime_error("name the new owner: --account NAME or --platform");
    auto did = a.iam().domain_id_by_name(account);
    if (!did) throw std::runtime_error("no account named " + account);
    owner = *did;
  }
  a.buckets().set_owner(bucket, owner);
  std::cout << json{{"bucket", bucket}, {"owner", name_of(owner)}, {"owner_id", owner}}.dump() << std::endl;
  return 0;
}

// `user-create`: a user, then its membership of each group named.
int user_create(App& a, const AdminCommand& c) {
  std::string password = new_password(c.password);
  json user = {{"name", c.name}};
  if (!password.empty()) user["password"] = password;
  json out;
  int st = admin_call(a, c.account, "POST", "/v3.0/OS-USER/users", json{{"user", user}}.dump(), &out);
  if (st >= 400) return print_answer(st, out);
  for (auto& g : c.groups) {
    std::string gid = find_id(a, c.account, "/v3/groups?name=" + http::percent_encode(g), "groups", "name", g);
    json ignored;
    int s2 = admin_call(a, c.account, "PUT", "/v3/groups/" + gid + "/users/" + out["user"]["id"].get<std::string>(), "",
                        &ignored);
    if (s2 >= 400) return print_answer(s2, ignored);
  }
  return print_answer(st, out);
}

// `policy-create`: a custom policy from a policy document file.
int policy_create(App& a, const AdminCommand& c) {
  std::ifstream in(c.policy_file);
  if (!in) throw std::runtime_error("cannot read " + c.policy_file);
  json doc = json::parse(in, nullptr, false);
  if (doc.is_discarded()) throw std::runtime_error(c.policy_file + " is not valid JSON");
  json body = {{"role", {{"display_name", c.name}, {"type", c.policy_type}, {"description", c.name}, {"policy", doc}}}};
  json out;
  int st = admin_call(a, c.account, "POST", "/v3.0/OS-ROLE/roles", body.dump(), &out);
  return print_answer(st, out);
}

// `grant`: a policy (system or the account's, by display name) to a group,
// on a project, the account, all projects or an enterprise project.
int grant(App& a, const AdminCommand& c) {
  const std::string& account = c.account;
  std::string gid = find_id(a, account, "/v3/groups?name=" + http::percent_encode(c.group), "groups", "name", c.group);
  std::string rid;
  try {
    rid = find_id(a, account, "/v3/roles?display_name=" + http::percent_encode(c.name), "roles", "display_name", c.name);
  } catch (const std::exception&) {
    auto did = a.iam().domain_id_by_name(account);
    rid = find_id(a, account, "/v3/roles?domain_id=" + *did, "roles", "display_name", c.name);
  }
  auto did = *a.iam().domain_id_by_name(account);
  std::string path;
  if (!c.scope_project.empty()) {
    auto p = a.iam().project_by_name(did, c.scope_project);
    if (!p) throw std::runtime_error("no project " + c.scope_project + " in account " + account);
    path = "/v3/projects/" + p->id + "/groups/" + gid + "/roles/" + rid;
  } else if (c.scope_account) {
    path = "/v3/domains/" + did + "/groups/" + gid + "/roles/" + rid;
  } else if (c.scope_all) {
    path = "/v3/OS-INHERIT/domains/" + did + "/groups/" + gid + "/roles/" + rid + "/inherited_to_projects";
  } else {
    path = "/v3.0/OS-PERMISSION/enterprise-projects/" + http::percent_encode(c.scope_ep) + "/groups/" + gid + "/roles/" + rid;
  }
  json out;
  int st = admin_call(a, account, "PUT", path, "", &out);
  return print_answer(st, out);
}

// `credential-create`: an access key of the user named, printed once.
int credential_create(App& a, const AdminCommand& c) {
  json users;
  admin_call(a, c.account, "GET", "/v3/users?name=" + http::percent_encode(c.name), "", &users);
  if (!users.contains("users") || users["users"].empty())
    throw std::runtime_error("no user " + c.name + " in account " + c.account);
  json out;
  int st = admin_call(a, c.account, "POST", "/v3.0/OS-CREDENTIAL/credentials",
                      json{{"credential", {{"user_id", users["users"][0]["id"]}}}}.dump(), &out);
  std::cout << out.dump(1) << std::endl;
  return st < 400 ? 0 : 1;
}

}  // namespace

int admin(const Config& cfg, AdminCommand c) {
  // stdout carries the command's JSON answer; what the server logs goes to stderr.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("atelier-admin"));
  spdlog::set_level(spdlog::level::warn);
  App a(cfg);
  if (a.bootstrap().created && !a.bootstrap().password.empty())
    std::cerr << "atelier: new data dir: created account admin, user admin, password " << a.bootstrap().password
              << "   <- shown once, keep it" << std::endl;
  switch (c.kind) {
    case AdminCommand::kAccountCreate: return account_create(a, cfg, c);
    case AdminCommand::kBucketOwner: return bucket_owner(a, c.bucket, c.owner_given ? c.account : "", c.to_platform);
    case AdminCommand::kUserCreate: return user_create(a, c);
    case AdminCommand::kGroupCreate: {
      json out;
      int st = admin_call(a, c.account, "POST", "/v3/groups", json{{"group", {{"name", c.name}}}}.dump(), &out);
      return print_answer(st, out);
    }
    case AdminCommand::kPolicyCreate: return policy_create(a, c);
    case AdminCommand::kGrant: return grant(a, c);
    case AdminCommand::kCall: {
      json out;
      int st = admin_call(a, c.account, c.method, c.target, c.body, &out);
      return print_answer(st, out);
    }
    case AdminCommand::kCredentialCreate: return credential_create(a, c);
  }
  return 0;
}

}  // namespace atelier::app
