// The commands of the `atelier` binary. src/main.cc reads the command line
// and runs one of them; each returns the process's exit code.
#pragma once
#include <string>
#include <vector>

#include "app/config.h"

namespace atelier::app {

// `atelier serve`: runs the server on `cfg` until SIGTERM or SIGINT, then
// stops gracefully.
int serve(Config cfg);

// `atelier routes`: the route table as JSON on stdout (the authorization test
// walks it); with `object_endpoint`, the object endpoint's operation table.
int print_routes(const Config& cfg, bool object_endpoint = false);

// `atelier metrics FILE...`: what the visualization viewer reads from
// TensorBoard event files and JSON-lines metric files.
int print_metrics(const std::vector<std::string>& files);

// One `atelier admin` subcommand with its options.
struct AdminCommand {
  enum Kind { kAccountCreate, kCall, kCredentialCreate, kUserCreate, kGroupCreate, kPolicyCreate, kGrant, kBucketOwner };
  Kind kind = kCall;
  std::string account = "admin", name, password, method, target, body;
  std::vector<std::string> groups;                                   // user-create
  std::string policy_type = "XA", policy_file;                       // policy-create
  std::string group, scope_project, scope_ep;                        // grant
  bool scope_account = false, scope_all = false;                     // grant
  std::string bucket;                                                // bucket-owner
  bool to_platform = false;                                          // bucket-owner
  bool owner_given = false;  // bucket-owner: --account or --platform names a new owner
};

// `atelier admin`: runs `c` on the data dir of `cfg` through the same API
// handlers the server uses (the server may be running). Its JSON answer goes
// to stdout; errors throw.
int admin(const Config& cfg, AdminCommand c);

}  // namespace atelier::app
