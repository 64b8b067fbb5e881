// The IAM HTTP API: one IamApi serves the routes
// of tokens, projects, users, groups, policies, grants and access keys, and
// the browser sign-in pages (console.cc); each resource's handlers live in
// their own file (api_tokens.cc, api_users.cc, ...), the tables in routes.cc.
// Handlers validate, call an Iam method for every write and render. Internal
// to src/iam.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "http/router.h"
#include "iam/iam.h"

namespace atelier::iam {

using http::Context;
using http::json_response;
using http::no_content;
using http::Response;
using store::Row;

// Where a group's role grant applies; the row of iam_grants says it as
// scope_kind (grant_scope_kind).
enum class GrantScope { kProject, kDomain, kInherited, kEnterpriseProject };
const char* grant_scope_kind(GrantScope s);

struct IamApi {
  Iam& iam;
  store::Database& db;

  // api.cc: the objects a path names, 404 (IAM.0004) when they are not the
  // caller's account's: other accounts' objects are invisible.
  Row user_row(const Context& ctx, const std::string& id);
  Row group_row(const Context& ctx, const std::string& id);
  Row project_row(const Context& ctx, const std::string& id);
  Row role_row(const Context& ctx, const std::string& id);    // system roles, and the account's custom policies
  Row custom_row(const Context& ctx, const std::string& id);  // the account's custom policies only
  Row key_row(const Context& ctx);                            // {access_key}
  std::string enterprise_project_id(const Context& ctx);     // {enterprise_project_id}

  // api_tokens.cc
  // The token body (methods, expires_at, user, scope, roles, ...) for `t`,
  // with the catalog unless ?nocatalog.
  json token_body(const Context& ctx, const TokenInfo& t);
  // The token X-Subject-Token names, of the caller's account (404 IAM.0009 otherwise).
  TokenInfo subject_token(const Context& ctx, bool allow_expired = false);
  // Self check: the subject token is the caller's own (an unknown one is answered 404 by the handler).
  bool owns_subject_token(const Context& ctx);
  Response issue_token(Context& ctx);     // POST /v3/auth/tokens: password, token or hw_ak_sk
  Response validate_token(Context& ctx);  // GET: the subject token's body
  Response check_token(Context& ctx);     // HEAD: 200 when the subject token is valid
  Response revoke_token(Context& ctx);    // DELETE: revokes the subject token, expired or not

  // api_projects.cc
  Response list_projects(Context& ctx);       // filters name, parent_id, domain_id, enabled; paged
  Response get_project(Context& ctx);         // a project of the caller's account
  Response create_project(Context& ctx);      // <region>_<suffix> under the region project
  Response update_project(Context& ctx);      // name or description; a region project keeps its name
  Response list_auth_projects(Context& ctx);  // the enabled projects of the caller's account
  Response list_user_projects(Context& ctx);  // the projects where the user's groups hold a grant
  Response list_auth_domains(Context& ctx);   // the caller's account
  Response list_regions(Context& ctx);        // the one region this server is

  // api_users.cc
  // Creates the user the body describes (both create forms); returns its id.
  std::string add_user(Context& ctx, bool os_form);
  // Updates the user of the path as the body says (both update forms); returns its row after.
  Row change_user(Context& ctx, bool os_form);
  Response create_os_user(Context& ctx);      // POST /v3.0/OS-USER/users
  Response create_user(Context& ctx);         // POST /v3/users
  Response list_users(Context& ctx);          // filters name, enabled
  Response get_os_user(Context& ctx);         // OS-USER form: contact details, times, owner flag
  Response get_user(Context& ctx);            // Keystone form
  Response update_os_user(Context& ctx);      // PUT /v3.0/OS-USER/users/{user_id}
  Response update_user(Context& ctx);         // PATCH /v3/users/{user_id}
  Response update_user_info(Context& ctx);    // e-mail address or mobile number
  Response change_password(Context& ctx);     // given the original password; ends the user's sessions
  Response delete_user(Context& ctx);         // not the account owner

  // api_groups.cc
  Response create_group(Context& ctx);        // 409 on a taken name
  Response list_groups(Context& ctx);         // filter name
  Response get_group(Context& ctx);           // a group of the caller's account
  Response update_group(Context& ctx);        // the group admin keeps its name
  Response delete_group(Context& ctx);        // not the group admin
  Response add_group_member(Context& ctx);    // a member already: 204 too
  Response check_group_member(Context& ctx);  // 204 member, 404 not
  Response remove_group_member(Context& ctx); // the owner stays in admin
  Response list_group_users(Context& ctx);    // the group's members, Keystone form
  Response list_user_groups(Context& ctx);    // the groups the user is in

  // api_policies.cc
  Response list_roles(Context& ctx);          // system roles (or the account's custom ones by domain_id); filtered, paged
  Response get_role(Context& ctx);            // a system role or one of the account's custom policies
  Response list_custom_roles(Context& ctx);   // with how often each is granted; paged
  Response get_custom_role(Context& ctx);     // with how often it is granted
  Response create_custom_role(Context& ctx);  // a validated policy; 409 on a taken display name
  Response update_custom_role(Context& ctx);  // replaces every field
  Response delete_custom_role(Context& ctx);  // 409 while granted

  // api_grants.cc
  // The group and the scope of the path, resolved (404s); returns the scope's id.
  std::string grant_scope_id(const Context& ctx, GrantScope s);
  // The roles granted to the path's group on a scope.
  json granted_roles(const Context& ctx, GrantScope s, const std::string& scope_id);
  Response grant_role(Context& ctx, GrantScope s);         // PUT: granted already: 204 too
  Response check_role(Context& ctx, GrantScope s);         // HEAD: 204 granted, 404 not
  Response revoke_role(Context& ctx, GrantScope s);        // DELETE: 404 when not granted
  Response list_group_roles(Context& ctx, GrantScope s);   // GET on a project, the account or inherited
  Response list_group_roles_on_ep(Context& ctx);           // GET on an enterprise project
  Response list_groups_on_ep(Context& ctx);                // the groups holding grants on an enterprise project
  Response list_eps_for_group(Context& ctx);               // the enterprise projects a group holds grants on
  Response list_role_assignments(Context& ctx);            // filtered by role, one subject and one scope; paged

  // api_credentials.cc
  // Self check: the path's access key is the caller's own.
  bool owns_key(const Context& ctx);
  Response create_credential(Context& ctx);   // the secret is in this answer only
  Response list_credentials(Context& ctx);    // of ?user_id, else the caller's
  Response get_credential(Context& ctx);      // with when it was last used
  Response update_credential(Context& ctx);   // status or description
  Response delete_credential(Context& ctx);   // ends the user's sessions

  // console.cc: the browser sign-in pages
  Response login_page(Context& ctx);          // GET /login
  Response login(Context& ctx);               // POST /login: the session cookie, then on to `next`
  Response session_page(Context& ctx);        // GET /login/session: who the browser is signed in as
  Response password_page(Context& ctx);       // GET /login/password: the form for a one-time ticket
  Response set_password(Context& ctx);        // POST /login/password: redeems the ticket
  Response logout(Context& ctx);              // POST /logout: revokes the session's token
};

// Self checks that need no lookup.
bool is_self_user(const Context& ctx);       // {user_id} is the caller
bool creates_own_key(const Context& ctx);    // the body's credential.user_id is the caller
bool lists_own_keys(const Context& ctx);     // no ?user_id, or the caller's

// ---- shared by the handlers (api.cc)

ApiError not_found_iam(const std::string& what, const std::string& id);
// A 400 with a bare numeric code ("1101"): how both user forms refuse a field.
ApiError user_error(const char* code, const std::string& msg);
std::string self_url(const Context& ctx);
json list_links(const Context& ctx);  // self, previous and next of a list
// {key: value} without the deep copy a nested initializer list makes.
json wrap(const char* key, json value);
// 403 IAM.0002 when the body's <object>.domain_id names another account.
void check_own_domain(const Context& ctx, const JsonIn& in, const char* object);
// Reads ?name as a boolean into `out`; false when absent, 400 IAM.0007 when not one.
bool parse_bool_param(const Context& ctx, const char* name, std::optional<bool>& out);
// page + per_page, both or neither (400 IAM.0007 otherwise); returns {offset, limit} or nullopt.
std::optional<std::pair<int64_t, int64_t>> paging(const Context& ctx, int64_t max_per_page);

// The page of `v` that paging() chose (all of it without paging).
template <class T>
std::vector<T> page_of(std::vector<T> v, const std::optional<std::pair<int64_t, int64_t>>& pg) {
  if (!pg) return v;
  if (pg->first >= int64_t(v.size())) return {};
  auto b = v.begin() + pg->first;
  auto e = pg->first + pg->second >= int64_t(v.size()) ? v.end() : b + pg->second;
  return std::vector<T>(b, e);
}

// Renderers of the stored rows.
json project_json(const Context& ctx, const Row& r);
json user_keystone(const Context& ctx, const Row& r);  // /v3/users form
json user_os(const Context& ctx, const Row& r);        // /v3.0/OS-USER form
json group_json(const Context& ctx, const Row& r);
json role_json(const Context& ctx, const Row& r);
json credential_json(const Row& r, bool with_last_use);

}  // namespace atelier::iam
