// atelier: one binary. `serve` runs the server; `admin` edits a data dir
// through the same API handlers the server uses; `routes` prints the route
// table (the authorization test walks it).
#include <CLI/CLI.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <thread>

#include "app/app.h"
#include "runtime/runner.h"
#include "training/metrics.h"
#include "common/clock.h"
#include "http/server.h"

using namespace atelier;

// Synchronous logging into a buffered stream: a hand-off to a logger thread
// costs a futex wake per line, more than the write itself. Lines reach the
// file within a second; warnings and errors are flushed at once.
static void setup_logging(const app::Config& cfg) {
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (cfg.log_file.empty()) {
    static char buf[1 << 16];
    setvbuf(stderr, buf, _IOFBF, sizeof buf);
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(cfg.log_file);
  }
  auto logger = std::make_shared<spdlog::logger>("atelier", sink);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  logger->set_level(spdlog::level::from_str(cfg.log_level));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
}

static int serve(app::Config cfg) {
  // Signals go to one watcher thread; block them before any thread (the
  // logger's included) starts, so every thread inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  setup_logging(cfg);
  std::string host;
  uint16_t port;
  cfg.listen_parts(host, port);

  app::App a(cfg);
  a.start_tasks();
  http::ServerOptions so;
  so.host = host;
  so.port = port;
  so.threads = std::max(1, cfg.threads);
  so.max_body_bytes = uint64_t(cfg.max_body_bytes);
  so.max_header_bytes = uint32_t(cfg.max_header_bytes);
  so.read_timeout_ms = int(cfg.read_timeout_ms);
  so.idle_timeout_ms = int(cfg.idle_timeout_ms);
  so.max_connections = int(cfg.max_connections);
  http::Server server(so, [&a](http::Request& r) { return a.router().handle(r); });
  server.start();

  auto& b = a.bootstrap();
  std::string endpoint = "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                         std::to_string(server.port());
  std::cout << "Atelier is listening on " << endpoint << "\n"
            << "  data dir: " << cfg.data_dir << "   region/project: " << cfg.region << "\n"
            << "  account (domain): admin   user: admin   password: "
            << (b.created ? (b.password.empty() ? "(from ATELIER_ADMIN_PASSWORD)" : b.password + "   <- shown once, keep it")
                          : "(set at first start)")
            << "\n"
            << "  token: curl -si " << endpoint
            << "/v3/auth/tokens -H 'Content-Type: application/json' -d "
               "'{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"admin\",\"password\":\"<password>\","
               "\"domain\":{\"name\":\"admin\"}}}},\"scope\":{\"project\":{\"name\":\""
            << cfg.region << "\"}}}}' | grep -i x-subject-token" << std::endl;
  spdlog::info(R"({{"event":"started","listen":"{}","pid":{}}})", endpoint, getpid());

  // The watcher is the only thread that ends the server, so joining it is
  // waiting for the server to stop.
  std::thread watcher([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    spdlog::info(R"({{"event":"stopping","signal":{}}})", sig);
    server.stop();
  });
  watcher.join();
  spdlog::info("{}", R"({"event":"stopped"})");
  spdlog::shutdown();
  return 0;
}

// Sends one request through the router as the owner of `account`, with a
// short-lived token that is revoked afterwards. Returns the HTTP status.
static int admin_call(app::App& a, const std::string& account, const std::string& method,
                      const std::string& target, const std::string& body, json* out) {
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

// `atelier admin bucket-owner`: lists the owners, or gives `bucket` to an
// account or the platform.
static int bucket_owner(app::App& a, const std::string& bucket, const std::string& account, bool platform) {
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

// `atelier metrics FILE...`: what the visualization viewer reads from them.
static int print_metrics(const std::vector<std::string>& files) {
  json out = json::array();
  for (auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      std::cerr << "atelier: cannot read " << f << std::endl;
      return 1;
    }
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<training::Scalar> scalars;
    auto r = f.find("tfevents") != std::string::npos ? training::read_tfevents(data, scalars) : training::read_jsonl(data, scalars);
    json list = json::array();
    for (auto& s : scalars) list.push_back({{"tag", s.tag}, {"step", s.step}, {"wall_time", s.wall_time}, {"value", s.value}});
    out.push_back({{"file", f}, {"records", r.records}, {"skipped", r.skipped}, {"warnings", r.warnings}, {"scalars", list}});
  }
  std::cout << out.dump(1) << std::endl;
  return 0;
}

int main(int argc, char** argv) {
  CLI::App cli{"Atelier: a self-hosted AI development platform that speaks the ModelArts API"};
  cli.require_subcommand(1);
  app::Config cfg;
  std::string config_file, listen, data_dir;

  auto* serve_cmd = cli.add_subcommand("serve", "Run the server");
  serve_cmd->add_option("--listen", listen, "HOST:PORT (env ATELIER_LISTEN)");
  serve_cmd->add_option("--data-dir", data_dir, "data directory (env ATELIER_DATA_DIR)");
  serve_cmd->add_option("--config", config_file, "JSON config file");

  auto* routes_cmd = cli.add_subcommand("routes", "Print the route table as JSON");

  auto* admin = cli.add_subcommand("admin", "Administer a data dir (the server may be running)");
  admin->require_subcommand(1);
  admin->add_option("--data-dir", data_dir, "data directory (env ATELIER_DATA_DIR)");
  admin->add_option("--config", config_file, "JSON config file");
  std::string account = "admin", name, password, method, target, body;
  auto* acct = admin->add_subcommand("account-create", "Create an account (domain) with its owner user");
  acct->add_option("--name", name)->required();
  acct->add_option("--password", password, "owner password (env ATELIER_NEW_PASSWORD)");
  auto* call = admin->add_subcommand("call", "Send one IAM API request as the account owner; prints the JSON answer");
  call->add_option("--account", account, "account name (default admin)");
  call->add_option("method", method)->required();
  call->add_option("path", target)->required();
  call->add_option("--body", body, "JSON body");
  auto* cred = admin->add_subcommand("credential-create", "Create an access key for a user; prints access and secret");
  cred->add_option("--account", account);
  cred->add_option("--user", name)->required();
  std::vector<std::string> groups;
  auto* ucreate = admin->add_subcommand("user-create", "Create a user, optionally in groups");
  ucreate->add_option("--account", account);
  ucreate->add_option("--name", name)->required();
  ucreate->add_option("--password", password, "(env ATELIER_NEW_PASSWORD)");
  ucreate->add_option("--group", groups, "group name; repeatable");
  auto* gcreate = admin->add_subcommand("group-create", "Create a group");
  gcreate->add_option("--account", account);
  gcreate->add_option("--name", name)->required();
  std::string policy_type = "XA", policy_file, group, scope_project, scope_ep;
  bool scope_account = false, scope_all = false;
  auto* pcreate = admin->add_subcommand("policy-create", "Create a custom policy from a policy document (Version 1.1)");
  pcreate->add_option("--account", account);
  pcreate->add_option("--name", name, "display name")->required();
  pcreate->add_option("--type", policy_type, "XA (project services, default) or AX (global services: iam, obs)");
  pcreate->add_option("--file", policy_file, "JSON file with {\"Version\":\"1.1\",\"Statement\":[...]}")->required();
  auto* grant = admin->add_subcommand("grant", "Grant a policy (by display name) to a group");
  grant->add_option("--account", account);
  grant->add_option("--group", group)->required();
  grant->add_option("--policy", name, "display name, e.g. 'ModelArts FullAccess'")->required();
  auto* where = grant->add_option_group("scope")->require_option(1);
  where->add_option("--project", scope_project, "project name");
  where->add_flag("--account-scope", scope_account, "the account (global services such as IAM, OBS)");
  where->add_flag("--all-projects", scope_all, "all projects, including later ones");
  where->add_option("--enterprise-project", scope_ep, "enterprise project id");

  std::string bucket;
  bool to_platform = false;
  auto* bowner = admin->add_subcommand("bucket-owner", "Give a bucket to an account (or the platform); without one, list owners");
  bowner->add_option("--bucket", bucket, "bucket name");
  auto* bwho = bowner->add_option_group("owner");
  bwho->add_option("--account", account, "account name");
  bwho->add_flag("--platform", to_platform, "the platform: every account may read it, none may write");

  std::string supervise_dir;
  bool supervise_fg = false;
  auto* supervise_cmd = cli.add_subcommand("supervise", "Run one training job's process tree (started by the server)");
  supervise_cmd->group("");  // internal: not listed in --help
  supervise_cmd->add_option("dir", supervise_dir, "job folder holding spec.json")->required();
  supervise_cmd->add_flag("--foreground", supervise_fg, "stay attached (Slurm)");
  bool supervise_rank = false;
  supervise_cmd->add_flag("--slurm-rank", supervise_rank, "one worker of several, numbered by SLURM_PROCID");

  std::vector<std::string> metric_files;
  auto* metrics_cmd = cli.add_subcommand("metrics", "Print the scalars of TensorBoard event files or JSON-lines metric files");
  metrics_cmd->add_option("files", metric_files, "files")->required();

  CLI11_PARSE(cli, argc, argv);
  if (*metrics_cmd) return print_metrics(metric_files);
  if (*supervise_cmd) return runtime::supervise(supervise_dir, supervise_fg, supervise_rank);
  try {
    if (!config_file.empty()) cfg.load_file(config_file);
    cfg.load_env();
    if (!listen.empty()) cfg.listen = listen;
    if (!data_dir.empty()) cfg.data_dir = data_dir;

    if (*serve_cmd) return serve(cfg);
    if (*routes_cmd) {
      spdlog::set_level(spdlog::level::warn);
      app::App a(cfg, /*memory=*/true);
      std::cout << a.router().describe().dump(1) << std::endl;
      return 0;
    }
    // stdout carries the command's JSON answer; what the server logs goes to stderr.
    spdlog::set_default_logger(spdlog::stderr_logger_mt("atelier-admin"));
    spdlog::set_level(spdlog::level::warn);
    app::App a(cfg);
    if (a.bootstrap().created && !a.bootstrap().password.empty())
      std::cerr << "atelier: new data dir: created account admin, user admin, password " << a.bootstrap().password
                << "   <- shown once, keep it" << std::endl;
    if (*acct) {
      if (password.empty() && std::getenv("ATELIER_NEW_PASSWORD")) password = std::getenv("ATELIER_NEW_PASSWORD");
      std::string id = a.iam().create_account(name, password);
      auto pid = a.iam().project_by_name(id, cfg.region);
      std::cout << json{{"domain_id", id}, {"name", name}, {"project_id", pid->id}}.dump() << std::endl;
      return 0;
    }
    if (*bowner) return bucket_owner(a, bucket, bowner->get_option_group("owner")->count_all() ? account : "",
                                     to_platform);
    // Looks up one object by a list call; throws when absent.
    auto find_id = [&](const std::string& list_path, const char* key, const char* field, const std::string& value) {
      json out;
      admin_call(a, account, "GET", list_path, "", &out);
      if (out.contains(key))
        for (auto& o : out[key])
          if (o.value(field, "") == value) return o["id"].get<std::string>();
      throw std::runtime_error(std::string("no ") + key + " entry with " + field + " '" + value + "' in account " + account);
    };
    auto print = [](int st, const json& out) {
      std::cout << (out.is_null() ? json{{"status", st}} : out).dump(1) << std::endl;
      return st < 400 ? 0 : 1;
    };
    if (*ucreate) {
      if (password.empty() && std::getenv("ATELIER_NEW_PASSWORD")) password = std::getenv("ATELIER_NEW_PASSWORD");
      json user = {{"name", name}};
      if (!password.empty()) user["password"] = password;
      json out;
      int st = admin_call(a, account, "POST", "/v3.0/OS-USER/users", json{{"user", user}}.dump(), &out);
      if (st >= 400) return print(st, out);
      for (auto& g : groups) {
        std::string gid = find_id("/v3/groups?name=" + http::percent_encode(g), "groups", "name", g);
        json ignored;
        int s2 = admin_call(a, account, "PUT", "/v3/groups/" + gid + "/users/" + out["user"]["id"].get<std::string>(), "", &ignored);
        if (s2 >= 400) return print(s2, ignored);
      }
      return print(st, out);
    }
    if (*gcreate) {
      json out;
      int st = admin_call(a, account, "POST", "/v3/groups", json{{"group", {{"name", name}}}}.dump(), &out);
      return print(st, out);
    }
    if (*pcreate) {
      std::ifstream in(policy_file);
      if (!in) throw std::runtime_error("cannot read " + policy_file);
      json doc = json::parse(in, nullptr, false);
      if (doc.is_discarded()) throw std::runtime_error(policy_file + " is not valid JSON");
      json body = {{"role", {{"display_name", name}, {"type", policy_type}, {"description", name}, {"policy", doc}}}};
      json out;
      int st = admin_call(a, account, "POST", "/v3.0/OS-ROLE/roles", body.dump(), &out);
      return print(st, out);
    }
    if (*grant) {
      std::string gid = find_id("/v3/groups?name=" + http::percent_encode(group), "groups", "name", group);
      std::string rid;
      try {
        rid = find_id("/v3/roles?display_name=" + http::percent_encode(name), "roles", "display_name", name);
      } catch (const std::exception&) {
        auto did = a.iam().domain_id_by_name(account);
        rid = find_id("/v3/roles?domain_id=" + *did, "roles", "display_name", name);
      }
      auto did = *a.iam().domain_id_by_name(account);
      std::string path;
      if (!scope_project.empty()) {
        auto p = a.iam().project_by_name(did, scope_project);
        if (!p) throw std::runtime_error("no project " + scope_project + " in account " + account);
        path = "/v3/projects/" + p->id + "/groups/" + gid + "/roles/" + rid;
      } else if (scope_account) {
        path = "/v3/domains/" + did + "/groups/" + gid + "/roles/" + rid;
      } else if (scope_all) {
        path = "/v3/OS-INHERIT/domains/" + did + "/groups/" + gid + "/roles/" + rid + "/inherited_to_projects";
      } else {
        path = "/v3.0/OS-PERMISSION/enterprise-projects/" + http::percent_encode(scope_ep) + "/groups/" + gid + "/roles/" + rid;
      }
      json out;
      int st = admin_call(a, account, "PUT", path, "", &out);
      return print(st, out);
    }
    if (*call) {
      json out;
      int st = admin_call(a, account, method, target, body, &out);
      return print(st, out);
    }
    if (*cred) {
      json users;
      admin_call(a, account, "GET", "/v3/users?name=" + http::percent_encode(name), "", &users);
      if (!users.contains("users") || users["users"].empty()) throw std::runtime_error("no user " + name + " in account " + account);
      json out;
      int st = admin_call(a, account, "POST", "/v3.0/OS-CREDENTIAL/credentials", json{{"credential", {{"user_id", users["users"][0]["id"]}}}}.dump(), &out);
      std::cout << out.dump(1) << std::endl;
      return st < 400 ? 0 : 1;
    }
  } catch (const ApiError& e) {
    std::cerr << "atelier: " << e.code() << ": " << e.what() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "atelier: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
