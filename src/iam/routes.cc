// The IAM route tables: one row a route, each handled by a named IamApi
// member (see api.h). Every IAM route words its failures the Keystone way;
// the sign-in pages answer people, in HTML, and fail as ModelArts does.
#include "iam/routes.h"

#include <iterator>
#include <memory>

#include "iam/api.h"

namespace atelier::iam {

namespace {

using A = IamApi;
using S = GrantScope;
using http::Access;
using http::ErrorShape;

const bool page = false;  // no IAM route is a browser page

// Tokens, projects, users, groups, roles and policies.
std::vector<http::Route> directory_routes(const std::shared_ptr<A>& api) {
  auto h = [&api](Response (A::*fn)(Context&)) { return http::handler(api, fn); };
  // On these rows a caller acting on itself needs no action.
  const http::SelfCheck own_token = [api](const Context& ctx) { return api->owns_subject_token(ctx); };
  const http::SelfCheck self = is_self_user;
  auto out = http::route_table("", ErrorShape::kIam, Access::kPublic, {
      {"POST", "/v3/auth/tokens", "", {}, h(&A::issue_token)},
  });
  // Rows without an action are open to any member of the account.
  auto rest = http::route_table("", ErrorShape::kIam, Access::kGlobal, {
      // tokens
      {"GET", "/v3/auth/tokens", "iam:tokens:get", {}, h(&A::validate_token), page, own_token},
      {"HEAD", "/v3/auth/tokens", "iam:tokens:get", {}, h(&A::check_token), page, own_token},
      {"DELETE", "/v3/auth/tokens", "iam:tokens:revoke", {}, h(&A::revoke_token), page, own_token},
      // projects and domains
      {"GET", "/v3/projects", "", {}, h(&A::list_projects)},
      {"GET", "/v3/projects/{project_id}", "", {}, h(&A::get_project)},
      {"POST", "/v3/projects", "iam:projects:createProject", {}, h(&A::create_project)},
      {"PATCH", "/v3/projects/{project_id}", "iam:projects:updateProject", {}, h(&A::update_project)},
      {"GET", "/v3/auth/projects", "", {}, h(&A::list_auth_projects)},
      {"GET", "/v3/users/{user_id}/projects", "iam:projects:listProjectsForUser", {}, h(&A::list_user_projects), page,
       self},
      {"GET", "/v3/auth/domains", "", {}, h(&A::list_auth_domains)},
      {"GET", "/v3/regions", "", {}, h(&A::list_regions)},
      // users
      {"POST", "/v3.0/OS-USER/users", "iam:users:createUser", {}, h(&A::create_os_user)},
      {"POST", "/v3/users", "iam:users:createUser", {}, h(&A::create_user)},
      {"GET", "/v3/users", "iam:users:listUsers", {}, h(&A::list_users)},
      {"GET", "/v3.0/OS-USER/users/{user_id}", "iam:users:getUser", {}, h(&A::get_os_user), page, self},
      {"GET", "/v3/users/{user_id}", "iam:users:getUser", {}, h(&A::get_user), page, self},
      {"PUT", "/v3.0/OS-USER/users/{user_id}", "iam:users:updateUser", {}, h(&A::update_os_user)},
      {"PATCH", "/v3/users/{user_id}", "iam:users:updateUser", {}, h(&A::update_user)},
      {"PUT", "/v3.0/OS-USER/users/{user_id}/info", "iam:users:updateUserInfo", {}, h(&A::update_user_info), page, self},
      {"POST", "/v3/users/{user_id}/password", "iam:users:changePassword", {}, h(&A::change_password), page, self},
      {"DELETE", "/v3/users/{user_id}", "iam:users:deleteUser", {}, h(&A::delete_user)},
      // groups
      {"POST", "/v3/groups", "iam:groups:createGroup", {}, h(&A::create_group)},
      {"GET", "/v3/groups", "iam:groups:listGroups", {}, h(&A::list_groups)},
      {"GET", "/v3/groups/{group_id}", "iam:groups:getGroup", {}, h(&A::get_group)},
      {"PATCH", "/v3/groups/{group_id}", "iam:groups:updateGroup", {}, h(&A::update_group)},
      {"DELETE", "/v3/groups/{group_id}", "iam:groups:deleteGroup", {}, h(&A::delete_group)},
      {"PUT", "/v3/groups/{group_id}/users/{user_id}", "iam:permissions:addUserToGroup", {}, h(&A::add_group_member)},
      {"HEAD", "/v3/groups/{group_id}/users/{user_id}", "iam:permissions:checkUserInGroup", {}, h(&A::check_group_member)},
      {"DELETE", "/v3/groups/{group_id}/users/{user_id}", "iam:permissions:removeUserFromGroup", {},
       h(&A::remove_group_member)},
      {"GET", "/v3/groups/{group_id}/users", "iam:users:listUsersForGroup", {}, h(&A::list_group_users)},
      {"GET", "/v3/users/{user_id}/groups", "iam:groups:listGroupsForUser", {}, h(&A::list_user_groups), page, self},
      // roles and policies
      {"GET", "/v3/roles", "iam:roles:listRoles", {}, h(&A::list_roles)},
      {"GET", "/v3/roles/{role_id}", "iam:roles:getRole", {}, h(&A::get_role)},
      {"GET", "/v3.0/OS-ROLE/roles", "iam:roles:listRoles", {}, h(&A::list_custom_roles)},
      {"GET", "/v3.0/OS-ROLE/roles/{role_id}", "iam:roles:getRole", {}, h(&A::get_custom_role)},
      {"POST", "/v3.0/OS-ROLE/roles", "iam:roles:createRole", {}, h(&A::create_custom_role)},
      {"PATCH", "/v3.0/OS-ROLE/roles/{role_id}", "iam:roles:updateRole", {}, h(&A::update_custom_role)},
      {"DELETE", "/v3.0/OS-ROLE/roles/{role_id}", "iam:roles:deleteRole", {}, h(&A::delete_custom_role)},
  });
  out.insert(out.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
  return out;
}

// Grants of roles to groups, role assignments and access keys.
std::vector<http::Route> permission_routes(const std::shared_ptr<A>& api) {
  auto h = [&api](auto fn, auto... args) { return http::handler(api, fn, args...); };
  // On the access key rows a user managing its own keys needs no action.
  const http::SelfCheck own_key = [api](const Context& ctx) { return api->owns_key(ctx); };
  const http::SelfCheck own_new_key = creates_own_key, own_keys = lists_own_keys;
  const std::string grant_project = "/v3/projects/{project_id}/groups/{group_id}/roles";
  const std::string grant_domain = "/v3/domains/{domain_id}/groups/{group_id}/roles";
  const std::string grant_inherited = "/v3/OS-INHERIT/domains/{domain_id}/groups/{group_id}/roles";
  const std::string inherited = "/inherited_to_projects";
  const std::string grant_ep = "/v3.0/OS-PERMISSION/enterprise-projects/{enterprise_project_id}/groups/{group_id}/roles";
  return http::route_table("", ErrorShape::kIam, Access::kGlobal, {
      // grants and role assignments
      {"PUT", grant_project + "/{role_id}", "iam:permissions:grantRoleToGroupOnProject", {},
       h(&A::grant_role, S::kProject)},
      {"HEAD", grant_project + "/{role_id}", "iam:permissions:checkRoleForGroupOnProject", {},
       h(&A::check_role, S::kProject)},
      {"DELETE", grant_project + "/{role_id}", "iam:permissions:revokeRoleFromGroupOnProject", {},
       h(&A::revoke_role, S::kProject)},
      {"GET", grant_project, "iam:permissions:listRolesForGroupOnProject", {}, h(&A::list_group_roles, S::kProject)},
      {"PUT", grant_domain + "/{role_id}", "iam:permissions:grantRoleToGroupOnDomain", {}, h(&A::grant_role, S::kDomain)},
      {"HEAD", grant_domain + "/{role_id}", "iam:permissions:checkRoleForGroupOnDomain", {}, h(&A::check_role, S::kDomain)},
      {"DELETE", grant_domain + "/{role_id}", "iam:permissions:revokeRoleFromGroupOnDomain", {},
       h(&A::revoke_role, S::kDomain)},
      {"GET", grant_domain, "iam:permissions:listRolesForGroupOnDomain", {}, h(&A::list_group_roles, S::kDomain)},
      {"PUT", grant_inherited + "/{role_id}" + inherited, "iam:permissions:grantRoleToGroup", {},
       h(&A::grant_role, S::kInherited)},
      {"HEAD", grant_inherited + "/{role_id}" + inherited, "iam:permissions:checkRoleForGroup", {},
       h(&A::check_role, S::kInherited)},
      {"DELETE", grant_inherited + "/{role_id}" + inherited, "iam:permissions:revokeRoleFromGroup", {},
       h(&A::revoke_role, S::kInherited)},
      {"GET", grant_inherited + inherited, "iam:permissions:listRolesForGroup", {}, h(&A::list_group_roles, S::kInherited)},
      {"PUT", grant_ep + "/{role_id}", "iam:permissions:grantRoleToGroupOnEnterpriseProject", {},
       h(&A::grant_role, S::kEnterpriseProject)},
      {"DELETE", grant_ep + "/{role_id}", "iam:permissions:revokeRoleFromGroupOnEnterpriseProject", {},
       h(&A::revoke_role, S::kEnterpriseProject)},
      {"GET", grant_ep, "iam:permissions:listRolesForGroupOnEnterpriseProject", {}, h(&A::list_group_roles_on_ep)},
      {"GET", "/v3.0/OS-PERMISSION/enterprise-projects/{enterprise_project_id}/groups",
       "iam:permissions:listGroupsOnEnterpriseProject", {}, h(&A::list_groups_on_ep)},
      {"GET", "/v3.0/OS-PERMISSION/groups/{group_id}/enterprise-projects", "iam:permissions:listEnterpriseProjectsForGroup",
       {}, h(&A::list_eps_for_group)},
      {"GET", "/v3.0/OS-PERMISSION/role-assignments", "iam:permissions:listRoleAssignments", {},
       h(&A::list_role_assignments)},
      // access keys
      {"POST", "/v3.0/OS-CREDENTIAL/credentials", "iam:credentials:createCredential", {}, h(&A::create_credential), page,
       own_new_key},
      {"GET", "/v3.0/OS-CREDENTIAL/credentials", "iam:credentials:listCredentials", {}, h(&A::list_credentials), page,
       own_keys},
      {"GET", "/v3.0/OS-CREDENTIAL/credentials/{access_key}", "iam:credentials:getCredential", {}, h(&A::get_credential),
       page, own_key},
      {"PUT", "/v3.0/OS-CREDENTIAL/credentials/{access_key}", "iam:credentials:updateCredential", {},
       h(&A::update_credential), page, own_key},
      {"DELETE", "/v3.0/OS-CREDENTIAL/credentials/{access_key}", "iam:credentials:deleteCredential", {},
       h(&A::delete_credential), page, own_key},
  });
}

}  // namespace

std::vector<http::Route> routes(Iam& iam) {
  auto api = std::make_shared<A>(A{iam, iam.db()});
  auto out = directory_routes(api);
  auto rest = permission_routes(api);
  out.insert(out.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
  return out;
}

std::vector<http::Route> console_routes(Iam& iam) {
  auto api = std::make_shared<A>(A{iam, iam.db()});
  auto h = [&api](Response (A::*fn)(Context&)) { return http::handler(api, fn); };
  return http::route_table("", ErrorShape::kModelArts, Access::kPublic, {
      {"GET", "/login", "", {}, h(&A::login_page)},
      {"POST", "/login", "", {}, h(&A::login)},
      {"GET", "/login/session", "", {}, h(&A::session_page)},
      {"GET", "/login/password", "", {}, h(&A::password_page)},
      {"POST", "/login/password", "", {}, h(&A::set_password)},
      {"POST", "/logout", "", {}, h(&A::logout)},
  });
}

}  // namespace atelier::iam
