// atelier: one binary. `serve` runs the server; `admin` edits a data dir
// through the same API handlers the server uses; `routes` prints the route
// table (the authorization test walks it); `supervise` and `metrics` serve
// training jobs. This file reads the command line; src/app/cli_*.cc run the
// commands.
#include <CLI/CLI.hpp>

#include <iostream>
#include <map>

#include "app/cli.h"
#include "common/error.h"
#include "runtime/runner.h"

using namespace atelier;

namespace {

// What the command line says: the options of every command, and the
// subcommands to tell which one was chosen.
struct CommandLine {
  std::string config_file, listen, obs_listen, data_dir;
  CLI::App* serve = nullptr;
  CLI::App* routes = nullptr;
  bool object_routes = false;
  app::AdminCommand admin;
  std::map<const CLI::App*, app::AdminCommand::Kind> admin_kinds;
  CLI::App* bucket_owner = nullptr;
  CLI::App* supervise = nullptr;
  std::string supervise_dir;
  bool supervise_fg = false, supervise_rank = false;
  CLI::App* metrics = nullptr;
  std::vector<std::string> metric_files;
};

// `serve` and `routes`.
void add_server_commands(CLI::App& cli, CommandLine& c) {
  c.serve = cli.add_subcommand("serve", "Run the server");
  c.serve->add_option("--listen", c.listen, "HOST:PORT (env ATELIER_LISTEN)");
  c.serve->add_option("--obs-listen", c.obs_listen, "HOST:PORT of the S3/OBS object endpoint (env ATELIER_OBS_LISTEN)");
  c.serve->add_option("--data-dir", c.data_dir, "data directory (env ATELIER_DATA_DIR)");
  c.serve->add_option("--config", c.config_file, "JSON config file");
  c.routes = cli.add_subcommand("routes", "Print the route table as JSON");
  c.routes->add_flag("--object-endpoint", c.object_routes, "the object endpoint's operations (S3/OBS) instead");
}

// `admin` and its subcommands for accounts, users, groups and calls.
CLI::App* add_admin_commands(CLI::App& cli, CommandLine& c) {
  app::AdminCommand& a = c.admin;
  auto* admin = cli.add_subcommand("admin", "Administer a data dir (the server may be running)");
  admin->require_subcommand(1);
  admin->add_option("--data-dir", c.data_dir, "data directory (env ATELIER_DATA_DIR)");
  admin->add_option("--config", c.config_file, "JSON config file");
  auto* acct = admin->add_subcommand("account-create", "Create an account (domain) with its owner user");
  acct->add_option("--name", a.name)->required();
  acct->add_option("--password", a.password, "owner password (env ATELIER_NEW_PASSWORD)");
  auto* call = admin->add_subcommand("call", "Send one IAM API request as the account owner; prints the JSON answer");
  call->add_option("--account", a.account, "account name (default admin)");
  call->add_option("method", a.method)->required();
  call->add_option("path", a.target)->required();
  call->add_option("--body", a.body, "JSON body");
  auto* cred = admin->add_subcommand("credential-create", "Create an access key for a user; prints access and secret");
  cred->add_option("--account", a.account);
  cred->add_option("--user", a.name)->required();
  auto* ucreate = admin->add_subcommand("user-create", "Create a user, optionally in groups");
  ucreate->add_option("--account", a.account);
  ucreate->add_option("--name", a.name)->required();
  ucreate->add_option("--password", a.password, "(env ATELIER_NEW_PASSWORD)");
  ucreate->add_option("--group", a.groups, "group name; repeatable");
  auto* gcreate = admin->add_subcommand("group-create", "Create a group");
  gcreate->add_option("--account", a.account);
  gcreate->add_option("--name", a.name)->required();
  c.admin_kinds = {{acct, app::AdminCommand::kAccountCreate},
                   {call, app::AdminCommand::kCall},
                   {cred, app::AdminCommand::kCredentialCreate},
                   {ucreate, app::AdminCommand::kUserCreate},
                   {gcreate, app::AdminCommand::kGroupCreate}};
  return admin;
}

// The `admin` subcommands for policies, grants and bucket owners.
void add_admin_policy_commands(CLI::App& admin, CommandLine& c) {
  app::AdminCommand& a = c.admin;
  auto* pcreate = admin.add_subcommand("policy-create", "Create a custom policy from a policy document (Version 1.1)");
  pcreate->add_option("--account", a.account);
  pcreate->add_option("--name", a.name, "display name")->required();
  pcreate->add_option("--type", a.policy_type, "XA (project services, default) or AX (global services: iam, obs)");
  pcreate->add_option("--file", a.policy_file, "JSON file with {\"Version\":\"1.1\",\"Statement\":[...]}")->required();
  auto* grant = admin.add_subcommand("grant", "Grant a policy (by display name) to a group");
  grant->add_option("--account", a.account);
  grant->add_option("--group", a.group)->required();
  grant->add_option("--policy", a.name, "display name, e.g. 'ModelArts FullAccess'")->required();
  auto* where = grant->add_option_group("scope")->require_option(1);
  where->add_option("--project", a.scope_project, "project name");
  where->add_flag("--account-scope", a.scope_account, "the account (global services such as IAM, OBS)");
  where->add_flag("--all-projects", a.scope_all, "all projects, including later ones");
  where->add_option("--enterprise-project", a.scope_ep, "enterprise project id");

  c.bucket_owner = admin.add_subcommand("bucket-owner", "Give a bucket to an account (or the platform); without one, list owners");
  c.bucket_owner->add_option("--bucket", a.bucket, "bucket name");
  auto* bwho = c.bucket_owner->add_option_group("owner");
  bwho->add_option("--account", a.account, "account name");
  bwho->add_flag("--platform", a.to_platform, "the platform: every account may read it, none may write");
  c.admin_kinds[pcreate] = app::AdminCommand::kPolicyCreate;
  c.admin_kinds[grant] = app::AdminCommand::kGrant;
  c.admin_kinds[c.bucket_owner] = app::AdminCommand::kBucketOwner;
}

// `supervise` (internal) and `metrics`, which serve training jobs.
void add_job_commands(CLI::App& cli, CommandLine& c) {
  c.supervise = cli.add_subcommand("supervise", "Run one training job's process tree (started by the server)");
  c.supervise->group("");  // internal: not listed in --help
  c.supervise->add_option("dir", c.supervise_dir, "job folder holding spec.json")->required();
  c.supervise->add_flag("--foreground", c.supervise_fg, "stay attached (Slurm)");
  c.supervise->add_flag("--slurm-rank", c.supervise_rank, "one worker of several, numbered by SLURM_PROCID");
  c.metrics = cli.add_subcommand("metrics", "Print the scalars of TensorBoard event files or JSON-lines metric files");
  c.metrics->add_option("files", c.metric_files, "files")->required();
}

// The configuration: the file, then the environment, then the flags.
app::Config load_config(const CommandLine& c) {
  app::Config cfg;
  if (!c.config_file.empty()) cfg.load_file(c.config_file);
  cfg.load_env();
  if (!c.listen.empty()) cfg.listen = c.listen;
  if (!c.obs_listen.empty()) cfg.obs_listen = c.obs_listen;
  if (!c.data_dir.empty()) cfg.data_dir = c.data_dir;
  return cfg;
}

// The admin subcommand chosen, with its options.
app::AdminCommand admin_command(const CommandLine& c) {
  app::AdminCommand a = c.admin;
  for (auto& [sub, kind] : c.admin_kinds)
    if (*sub) a.kind = kind;
  a.owner_given = c.bucket_owner->get_option_group("owner")->count_all() > 0;
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Atelier: a self-hosted AI development platform that speaks the ModelArts API"};
  cli.require_subcommand(1);
  CommandLine c;
  add_server_commands(cli, c);
  add_admin_policy_commands(*add_admin_commands(cli, c), c);
  add_job_commands(cli, c);

  CLI11_PARSE(cli, argc, argv);
  if (*c.metrics) return app::print_metrics(c.metric_files);
  if (*c.supervise) return runtime::supervise(c.supervise_dir, c.supervise_fg, c.supervise_rank);
  try {
    app::Config cfg = load_config(c);
    if (*c.serve) return app::serve(cfg);
    if (*c.routes) return app::print_routes(cfg, c.object_routes);
    return app::admin(cfg, admin_command(c));
  } catch (const ApiError& e) {
    std::cerr << "atelier: " << e.code() << ": " << e.what() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "atelier: " << e.what() << std::endl;
    return 1;
  }
}
