// Identity and access: accounts (domains), users, groups, projects, policies,
// grants, access keys and tokens, kept in the metadata store. Iam owns the
// caches that make per-request authentication and authorization cheap; every
// write through it bumps an epoch that drops them, and entries also expire
// after a few seconds so that `atelier admin` edits of the same data dir are
// seen by a running server.
#pragma once
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "common/json.h"
#include "iam/policy.h"
#include "store/db.h"

namespace atelier::iam {

struct IamConfig {
  std::string region = "local";            // names the default project of every account
  int64_t token_ttl_ms = 24LL * 3600 * 1000;
  int64_t max_clock_skew_ms = 15LL * 60 * 1000;
  std::string master_key;                  // 32 bytes; seals secret keys at rest
  int64_t cache_ttl_ms = 5000;
};

struct UserRecord {
  std::string id, domain_id, domain_name, name, access_mode;
  bool enabled = true, is_owner = false, domain_enabled = true;
};

struct ProjectRecord {
  std::string id, domain_id, name, parent_id, description;
  bool enabled = true;
};

// A validated token.
struct TokenInfo {
  std::string hash;
  UserRecord user;
  std::string project_id, project_name;  // empty for a domain-scoped token
  std::vector<std::string> methods;
  int64_t issued_at = 0, expires_at = 0;
};

struct IssuedToken {
  std::string token;  // the secret; returned once, stored only as a hash
  TokenInfo info;
};

// The fields of a user that the admin API writes. On creation an unset field
// takes its default (enabled, access_mode "default", description ""); on an
// update it is left as it is.
struct UserFields {
  std::optional<std::string> name, password, email, areacode, phone, access_mode, description, xuser_type, xuser_id;
  std::optional<bool> enabled, pwd_status;
};

// A custom policy as the admin API validated it.
struct CustomRole {
  std::string display_name, type, description, description_cn;
  std::string policy;  // JSON text
};

// A new access key: the secret is handed out this once.
struct NewAccessKey {
  std::string access, secret;
  int64_t created_at = 0;
};

class Iam {
 public:
  Iam(store::Database& db, IamConfig cfg);

  static std::vector<store::Migration> migrations();

  struct Bootstrap {
    bool created = false;
    std::string password;  // set when generated
    std::string domain_id, project_id;
  };
  // On an empty store: the system policy catalogue, the account "admin" with
  // its owner "admin", group "admin", the region project and enterprise
  // project "0". Does nothing when the account exists.
  Bootstrap bootstrap(const std::string& admin_password);
  // A new account with owner user, admin group, region project, EP "0".
  // Returns the domain id. Throws ApiError on a taken name or weak password.
  std::string create_account(const std::string& name, const std::string& password);

  // ---- lookups
  std::shared_ptr<const UserRecord> user_by_id(const std::string& id);  // nullptr when unknown
  std::optional<UserRecord> user_by_name(const std::string& domain_id, const std::string& name);
  std::optional<ProjectRecord> project_by_id(const std::string& id);
  std::optional<ProjectRecord> project_by_name(const std::string& domain_id, const std::string& name);
  std::optional<std::string> domain_id_by_name(const std::string& name);
  std::string domain_name(const std::string& domain_id);
  bool in_admin_group(const std::string& user_id);

  // The user of the account with this e-mail address, made when there is
  // none (a labeling team's member acts as a user of the account): named
  // after the address, without a password until the account's administrator
  // sets one, and in no group, so it has no permission of its own. A user
  // whose address was not set by an administrator is not linked (a 400):
  // anyone may put any address on itself. Returns {user id, made now}.
  std::pair<std::string, bool> user_for_email(const std::string& domain_id, const std::string& email);

  // A one-time secret with which a user the platform made, that has no
  // password yet, sets one (redeem_password_ticket), valid `ttl_ms`;
  // replaces an earlier one. nullopt for any other user.
  std::optional<std::string> password_ticket(const std::string& user_id, int64_t ttl_ms = 7 * 24 * 3600 * 1000LL);
  // Sets the password of the ticket's user and spends the ticket; returns
  // the user id. Throws ApiError: 401 for a bad ticket, 400 for a weak password.
  std::string redeem_password_ticket(const std::string& ticket, const std::string& password);

  // ---- passwords and tokens
  // Checks a password; throws ApiError(401) on a mismatch without saying which part was wrong.
  UserRecord check_password(const std::string& domain_id, const std::string& user_name,
                            const std::string& user_id, const std::string& password);
  IssuedToken issue_token(const UserRecord& user, const std::optional<ProjectRecord>& project,
                          std::vector<std::string> methods, int64_t max_expiry_ms = 0);
  // Includes expired tokens (the caller tells expiry apart); nullptr when unknown or revoked.
  std::shared_ptr<const TokenInfo> find_token(const std::string& token);
  void revoke_token(const std::string& hash);
  void revoke_user_tokens(const std::string& user_id);

  // ---- access keys
  struct AccessKey {
    std::string access, user_id, secret, status;
    int64_t last_use_at = 0;
  };
  std::shared_ptr<const AccessKey> access_key(const std::string& access);  // nullptr when unknown
  void touch_access_key(const std::string& access, int64_t last_use_at);
  std::string seal_secret(const std::string& secret) const;

  // ---- writes of the admin API. Each runs in one transaction and drops the
  // caches. The conflicts they throw (ApiError) are checked inside that
  // transaction, so that two callers cannot both pass.

  // The conflict of a project name already used in the account (409).
  static ApiError project_name_taken(const std::string& name);
  std::string create_project(const std::string& domain_id, const std::string& name, const std::string& parent_id,
                             const std::string& description);  // returns the id
  void update_project(const std::string& id, const std::optional<std::string>& name,
                      const std::optional<std::string>& description);

  // A user of the account; returns its id. When the account has a user of
  // that name: 409 IAM.0005, or `name_taken` when given (the OS-USER API's
  // wording); "1110" / "1111" when another user has the e-mail address / the
  // mobile number.
  std::string create_user(const std::string& domain_id, const UserFields& f,
                          const std::optional<ApiError>& name_taken = std::nullopt);
  // Writes the fields given. A new e-mail address counts as confirmed when an
  // administrator (`by_admin`), not the user itself, set it. A new password or
  // disabling the user ends its sessions. A new name another user of the
  // account has: as create_user.
  void update_user(const std::string& id, const UserFields& f, bool by_admin,
                   const std::optional<ApiError>& name_taken = std::nullopt);
  // The user's own new password, which ends its sessions; it no longer has to
  // change it (pwd_status 0).
  void change_password(const std::string& id, const std::string& password);
  // The user with its group memberships, grants, access keys and tokens.
  void delete_user(const std::string& id);

  // A group of the account; returns its id. 409 IAM.0005 on a taken name.
  std::string create_group(const std::string& domain_id, const std::string& name, const std::string& description);
  // 409 IAM.0005 when another group of the account has the new name.
  void update_group(const std::string& id, const std::optional<std::string>& name,
                    const std::optional<std::string>& description);
  void delete_group(const std::string& id);  // with its memberships and grants
  void add_group_member(const std::string& group_id, const std::string& user_id);  // a member already: no change
  bool remove_group_member(const std::string& group_id, const std::string& user_id);  // false: was no member

  // A custom policy of the account, named custom_<account id>_<n>; returns
  // its id. 409 IAM.0005 when another of the account has the display name.
  std::string create_custom_role(const std::string& domain_id, const CustomRole& r);
  void update_custom_role(const std::string& id, const CustomRole& r);  // conflicts as create_custom_role
  void delete_custom_role(const std::string& id);  // 409 IAM.0005 while it is granted
  // Grants a role to a group on a scope (iam_grants.scope_kind: project,
  // domain, inherited, ep); granted already: no change.
  void grant_role(const std::string& domain_id, const std::string& group_id, const std::string& role_id,
                  const std::string& scope_kind, const std::string& scope_id);
  bool revoke_role(const std::string& group_id, const std::string& role_id, const std::string& scope_kind,
                   const std::string& scope_id);  // false: was not granted

  // A user holds at most 2 access keys (400 akSkNumExceed).
  NewAccessKey create_access_key(const std::string& user_id, const std::string& description);
  void update_access_key(const std::string& access, const std::optional<std::string>& status,
                         const std::optional<std::string>& description);
  // Deletes the key and ends its user's sessions.
  void delete_access_key(const std::string& access);

  // ---- authorization
  // Verdict for `actions` of `user` in a project (project-level services) or
  // at account scope (global services, or when project_id is empty). Owners
  // and members of the group "admin" pass. Returns the first action not
  // allowed, or nullopt when all are. `facts` is called only when a policy
  // in play has conditions.
  std::optional<std::string> first_denied(const UserRecord& user, const ProjectRecord* project,
                                          const std::vector<std::string>& actions,
                                          const std::function<Facts()>& facts,
                                          const std::string& enterprise_project = "");
  static bool is_global_service(std::string_view action);

  // Drops every cache. Iam's writes call it themselves; code that writes the
  // IAM tables directly (test fixtures) calls it after.
  void changed() { epoch_.fetch_add(1); }

  store::Database& db() { return db_; }
  const IamConfig& config() const { return cfg_; }

 private:
  using PolicySet = std::vector<std::shared_ptr<const Policy>>;
  std::shared_ptr<const PolicySet> policies_for(const UserRecord& user, const std::string& scope_kind,
                         const std::string& scope_id);
  std::string create_account_locked(const std::string& name, const std::string& password);

  store::Database& db_;
  IamConfig cfg_;
  std::atomic<uint64_t> epoch_{1};

  template <class T>
  struct Cached {
    T value;
    uint64_t epoch;
    int64_t at;
  };
  std::shared_mutex mu_;
  std::unordered_map<std::string, Cached<std::shared_ptr<const TokenInfo>>> tokens_;
  std::unordered_map<std::string, Cached<std::shared_ptr<const AccessKey>>> keys_;
  std::unordered_map<std::string, Cached<std::shared_ptr<const PolicySet>>> policies_;
  std::unordered_map<std::string, Cached<bool>> admins_;
  std::unordered_map<std::string, Cached<ProjectRecord>> projects_;
  std::unordered_map<std::string, Cached<std::shared_ptr<const UserRecord>>> users_;
  template <class T>
  std::optional<T> cache_get(std::unordered_map<std::string, Cached<T>>& m, const std::string& k);
  template <class T>
  void cache_put(std::unordered_map<std::string, Cached<T>>& m, const std::string& k, T v);
};

// The IAM password rules: 6-32 characters, at least two of upper-case, lower-case, digit, special.
// Returns an explanation when `pw` is not acceptable.
std::optional<std::string> password_problem(const std::string& pw);

// The account (domain) id of a project; "" when there is no such project.
// For work outside a request (tasks) that acts for the project's account.
std::string project_domain(store::Database& db, const std::string& project_id);

}  // namespace atelier::iam
