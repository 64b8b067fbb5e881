// The writes of the IAM admin API: projects, users, groups,
// custom policies, grants and access keys. Each runs in one transaction and
// drops the caches once it has committed, so that no request authorizes from
// what was there before.
#include "common/clock.h"
#include "common/crypto.h"
#include "common/ids.h"
#include "iam/iam.h"

namespace atelier::iam {

// ---------------------------------------------------------------- projects

ApiError Iam::project_name_taken(const std::string& name) {
  return ApiError(409, "IAM.0005", "Conflict occurred when attempting to store project - name " + name + " exists.");
}

std::string Iam::create_project(const std::string& domain_id, const std::string& name, const std::string& parent_id,
                                const std::string& description) {
  std::string id = ids::hex32();
  db_.transaction([&] {
    if (db_.query_one("SELECT 1 FROM iam_projects WHERE domain_id = ? AND name = ?", {domain_id, name}))
      throw project_name_taken(name);
    db_.exec("INSERT INTO iam_projects (id, domain_id, name, parent_id, description, created_at) VALUES (?, ?, ?, ?, ?, ?)",
             {id, domain_id, name, parent_id, description, clock::now_ms()});
  });
  changed();
  return id;
}

void Iam::update_project(const std::string& id, const std::optional<std::string>& name,
                         const std::optional<std::string>& description) {
  db_.transaction([&] {
    if (name && db_.query_one("SELECT 1 FROM iam_projects p JOIN iam_projects q ON q.domain_id = p.domain_id "
                              "WHERE p.id = ? AND q.name = ? AND q.id <> p.id",
                              {id, *name}))
      throw project_name_taken(*name);
    db_.exec("UPDATE iam_projects SET name = COALESCE(?, name), description = COALESCE(?, description) WHERE id = ?",
             {name, description, id});
  });
  changed();
}

// ---------------------------------------------------------------- users

static ApiError user_name_taken(const std::string& name, const std::optional<ApiError>& wording) {
  return wording ? *wording : ApiError(409, "IAM.0005", "Conflict occurred when attempting to store user - name " + name + " exists.");
}

std::string Iam::create_user(const std::string& domain_id, const UserFields& f, const std::optional<ApiError>& name_taken) {
  std::string id = ids::hex32();
  int64_t now = clock::now_ms();
  store::Value hash = f.password ? store::Value(crypto::password_hash(*f.password)) : store::Value();
  db_.transaction([&] {
    if (db_.query_one("SELECT 1 FROM iam_users WHERE domain_id = ? AND name = ?", {domain_id, f.name}))
      throw user_name_taken(*f.name, name_taken);
    if (f.email && db_.query_one("SELECT 1 FROM iam_users WHERE domain_id = ? AND email = ?", {domain_id, *f.email}))
      throw ApiError(400, "1110", "The e-mail address is already used.");
    if (f.phone && db_.query_one("SELECT 1 FROM iam_users WHERE domain_id = ? AND areacode = ? AND phone = ?",
                                 {domain_id, f.areacode, *f.phone}))
      throw ApiError(400, "1111", "The mobile number is already used.");
    db_.exec("INSERT INTO iam_users (id, domain_id, name, password_hash, enabled, email, areacode, phone, description, "
             "access_mode, pwd_status, xuser_type, xuser_id, created_at, updated_at, pwd_changed_at, email_confirmed) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
             {id, domain_id, f.name, hash, f.enabled.value_or(true), f.email, f.areacode, f.phone,
              f.description.value_or(""), f.access_mode.value_or("default"), f.pwd_status.value_or(false), f.xuser_type,
              f.xuser_id, now, now, f.password ? store::Value(now) : store::Value(), bool(f.email)});
  });
  changed();
  return id;
}

void Iam::update_user(const std::string& id, const UserFields& f, bool by_admin, const std::optional<ApiError>& name_taken) {
  int64_t now = clock::now_ms();
  store::Value hash = f.password ? store::Value(crypto::password_hash(*f.password)) : store::Value();
  db_.transaction([&] {
    if (f.name && db_.query_one("SELECT 1 FROM iam_users o JOIN iam_users u ON u.domain_id = o.domain_id "
                                "WHERE u.id = ? AND o.name = ? AND o.id <> u.id",
                                {id, *f.name}))
      throw user_name_taken(*f.name, name_taken);
    db_.exec("UPDATE iam_users SET name = COALESCE(?, name), email = COALESCE(?, email), areacode = COALESCE(?, areacode), "
             "phone = COALESCE(?, phone), access_mode = COALESCE(?, access_mode), description = COALESCE(?, description), "
             "enabled = COALESCE(?, enabled), pwd_status = COALESCE(?, pwd_status), updated_at = ? WHERE id = ?",
             {f.name, f.email, f.areacode, f.phone, f.access_mode, f.description, f.enabled, f.pwd_status, now, id});
    if (f.email) db_.exec("UPDATE iam_users SET email_confirmed = ? WHERE id = ?", {by_admin, id});
    if (f.password)
      db_.exec("UPDATE iam_users SET password_hash = ?, pwd_changed_at = ? WHERE id = ?", {hash, now, id});
  });
  // A new password or a disabled user ends every session: all the user's tokens are revoked.
  if (f.password || (f.enabled && !*f.enabled)) revoke_user_tokens(id);
  changed();
}

void Iam::change_password(const std::string& id, const std::string& password) {
  int64_t now = clock::now_ms();
  db_.exec("UPDATE iam_users SET password_hash = ?, pwd_changed_at = ?, pwd_status = 0, updated_at = ? WHERE id = ?",
           {crypto::password_hash(password), now, now, id});
  revoke_user_tokens(id);
}

void Iam::delete_user(const std::string& id) {
  db_.transaction([&] {
    db_.exec("DELETE FROM iam_group_members WHERE user_id = ?", {id});
    db_.exec("DELETE FROM iam_grants WHERE subject_kind = 'user' AND subject_id = ?", {id});
    db_.exec("DELETE FROM iam_credentials WHERE user_id = ?", {id});
    db_.exec("DELETE FROM iam_tokens WHERE user_id = ?", {id});
    db_.exec("DELETE FROM iam_users WHERE id = ?", {id});
  });
  changed();
}

// ---------------------------------------------------------------- groups

static ApiError group_name_taken(const std::string& name) {
  return ApiError(409, "IAM.0005", "Conflict occurred when attempting to store group - name " + name + " exists.");
}

std::string Iam::create_group(const std::string& domain_id, const std::string& name, const std::string& description) {
  std::string id = ids::hex32();
  db_.transaction([&] {
    if (db_.query_one("SELECT 1 FROM iam_groups WHERE domain_id = ? AND name = ?", {domain_id, name}))
      throw group_name_taken(name);
    db_.exec("INSERT INTO iam_groups (id, domain_id, name, description, created_at) VALUES (?, ?, ?, ?, ?)",
             {id, domain_id, name, description, clock::now_ms()});
  });
  changed();
  return id;
}

void Iam::update_group(const std::string& id, const std::optional<std::string>& name,
                       const std::optional<std::string>& description) {
  db_.transaction([&] {
    if (name && db_.query_one("SELECT 1 FROM iam_groups o JOIN iam_groups g ON g.domain_id = o.domain_id "
                              "WHERE g.id = ? AND o.name = ? AND o.id <> g.id",
                              {id, *name}))
      throw group_name_taken(*name);
    db_.exec("UPDATE iam_groups SET name = COALESCE(?, name), description = COALESCE(?, description) WHERE id = ?",
             {name, description, id});
  });
  changed();
}

void Iam::delete_group(const std::string& id) {
  db_.transaction([&] {
    db_.exec("DELETE FROM iam_grants WHERE subject_kind = 'group' AND subject_id = ?", {id});
    db_.exec("DELETE FROM iam_group_members WHERE group_id = ?", {id});
    db_.exec("DELETE FROM iam_groups WHERE id = ?", {id});
  });
  changed();
}

void Iam::add_group_member(const std::string& group_id, const std::string& user_id) {
  db_.transaction([&] {
    if (!db_.query_one("SELECT 1 FROM iam_group_members WHERE group_id = ? AND user_id = ?", {group_id, user_id}))
      db_.exec("INSERT INTO iam_group_members (group_id, user_id) VALUES (?, ?)", {group_id, user_id});
  });
  changed();
}

bool Iam::remove_group_member(const std::string& group_id, const std::string& user_id) {
  bool removed = db_.exec("DELETE FROM iam_group_members WHERE group_id = ? AND user_id = ?", {group_id, user_id}) > 0;
  changed();
  return removed;
}

// ---------------------------------------------------------------- custom policies and grants

// Inside a transaction: 409 when another policy of the account has r's display name.
static void check_display_name(store::Database& db, const std::string& domain_id, const CustomRole& r,
                               const std::string& except_id) {
  if (db.query_one("SELECT 1 FROM iam_roles WHERE domain_id = ? AND display_name = ? AND id <> ?",
                   {domain_id, r.display_name, except_id}))
    throw ApiError(409, "IAM.0005", "Conflict occurred when attempting to store role - display_name " + r.display_name + " exists.");
}

std::string Iam::create_custom_role(const std::string& domain_id, const CustomRole& r) {
  std::string id = ids::hex32();
  db_.transaction([&] {
    check_display_name(db_, domain_id, r, "");
    db_.exec("UPDATE iam_domains SET policy_seq = policy_seq + 1 WHERE id = ?", {domain_id});
    int64_t n = db_.query_one("SELECT policy_seq FROM iam_domains WHERE id = ?", {domain_id})->i64("policy_seq") - 1;
    int64_t now = clock::now_ms();
    db_.exec("INSERT INTO iam_roles (id, domain_id, name, display_name, catalog, type, flag, description, description_cn, "
             "policy, created_at, updated_at) VALUES (?, ?, ?, ?, 'CUSTOMED', ?, NULL, ?, ?, ?, ?, ?)",
             {id, domain_id, "custom_" + domain_id + "_" + std::to_string(n), r.display_name, r.type, r.description,
              r.description_cn, r.policy, now, now});
  });
  changed();
  return id;
}

void Iam::update_custom_role(const std::string& id, const CustomRole& r) {
  db_.transaction([&] {
    auto cur = db_.query_one("SELECT domain_id FROM iam_roles WHERE id = ?", {id});
    if (cur) check_display_name(db_, cur->str("domain_id"), r, id);
    db_.exec("UPDATE iam_roles SET display_name = ?, type = ?, description = ?, description_cn = ?, policy = ?, updated_at = ? "
             "WHERE id = ?",
             {r.display_name, r.type, r.description, r.description_cn, r.policy, clock::now_ms(), id});
  });
  changed();
}

void Iam::delete_custom_role(const std::string& id) {
  db_.transaction([&] {
    if (db_.query_one("SELECT 1 FROM iam_grants WHERE role_id = ?", {id}))
      throw ApiError(409, "IAM.0005", "Conflict occurred when attempting to delete role - it is still granted; revoke it first.");
    db_.exec("DELETE FROM iam_roles WHERE id = ?", {id});
  });
  changed();
}

void Iam::grant_role(const std::string& domain_id, const std::string& group_id, const std::string& role_id,
                     const std::string& scope_kind, const std::string& scope_id) {
  db_.transaction([&] {
    if (!db_.query_one("SELECT 1 FROM iam_grants WHERE subject_kind = 'group' AND subject_id = ? AND role_id = ? AND "
                       "scope_kind = ? AND scope_id = ?",
                       {group_id, role_id, scope_kind, scope_id}))
      db_.exec("INSERT INTO iam_grants (subject_kind, subject_id, role_id, scope_kind, scope_id, domain_id, created_at) "
               "VALUES ('group', ?, ?, ?, ?, ?, ?)",
               {group_id, role_id, scope_kind, scope_id, domain_id, clock::now_ms()});
  });
  changed();
}

bool Iam::revoke_role(const std::string& group_id, const std::string& role_id, const std::string& scope_kind,
                      const std::string& scope_id) {
  bool revoked = db_.exec("DELETE FROM iam_grants WHERE subject_kind = 'group' AND subject_id = ? AND role_id = ? AND "
                          "scope_kind = ? AND scope_id = ?",
                          {group_id, role_id, scope_kind, scope_id}) > 0;
  changed();
  return revoked;
}

// ---------------------------------------------------------------- access keys

NewAccessKey Iam::create_access_key(const std::string& user_id, const std::string& description) {
  NewAccessKey k{ids::access_key(), ids::secret_key(), clock::now_ms()};
  db_.transaction([&] {
    if (db_.query_one("SELECT COUNT(*) AS n FROM iam_credentials WHERE user_id = ?", {user_id})->i64("n") >= 2)
      throw ApiError(400, "akSkNumExceed", "akSkNumExceed: a user may hold at most 2 access keys.");
    db_.exec("INSERT INTO iam_credentials (access, user_id, secret_sealed, status, description, created_at) "
             "VALUES (?, ?, ?, 'active', ?, ?)",
             {k.access, user_id, seal_secret(k.secret), description, k.created_at});
  });
  changed();
  return k;
}

void Iam::update_access_key(const std::string& access, const std::optional<std::string>& status,
                            const std::optional<std::string>& description) {
  db_.exec("UPDATE iam_credentials SET status = COALESCE(?, status), description = COALESCE(?, description) WHERE access = ?",
           {status, description, access});
  changed();
}

void Iam::delete_access_key(const std::string& access) {
  std::string user;
  db_.transaction([&] {
    if (auto r = db_.query_one("SELECT user_id FROM iam_credentials WHERE access = ?", {access})) user = r->str("user_id");
    db_.exec("DELETE FROM iam_credentials WHERE access = ?", {access});
  });
  if (!user.empty()) revoke_user_tokens(user);
  changed();
}

}  // namespace atelier::iam
