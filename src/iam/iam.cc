#include "iam/iam.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/error.h"
#include "common/ids.h"

namespace atelier::iam {

std::vector<store::Migration> Iam::migrations() {
  return {{"iam/001_init", R"SQL(
CREATE TABLE iam_domains (
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT NOT NULL DEFAULT '',
  enabled INTEGER NOT NULL DEFAULT 1, policy_seq INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL);
CREATE TABLE iam_users (
  id TEXT PRIMARY KEY, domain_id TEXT NOT NULL REFERENCES iam_domains(id), name TEXT NOT NULL,
  password_hash TEXT, enabled INTEGER NOT NULL DEFAULT 1, is_owner INTEGER NOT NULL DEFAULT 0,
  email TEXT, areacode TEXT, phone TEXT, description TEXT NOT NULL DEFAULT '',
  access_mode TEXT NOT NULL DEFAULT 'default', pwd_status INTEGER NOT NULL DEFAULT 0,
  xuser_type TEXT, xuser_id TEXT, last_project_id TEXT,
  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, last_login_at BIGINT,
  pwd_changed_at BIGINT, UNIQUE (domain_id, name));
CREATE TABLE iam_projects (
  id TEXT PRIMARY KEY, domain_id TEXT NOT NULL REFERENCES iam_domains(id), name TEXT NOT NULL,
  parent_id TEXT NOT NULL, description TEXT NOT NULL DEFAULT '', enabled INTEGER NOT NULL DEFAULT 1,
  created_at BIGINT NOT NULL, UNIQUE (domain_id, name));
CREATE TABLE iam_groups (
  id TEXT PRIMARY KEY, domain_id TEXT NOT NULL REFERENCES iam_domains(id), name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '', created_at BIGINT NOT NULL, UNIQUE (domain_id, name));
CREATE TABLE iam_group_members (
  group_id TEXT NOT NULL REFERENCES iam_groups(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES iam_users(id) ON DELETE CASCADE,
  PRIMARY KEY (group_id, user_id));
CREATE INDEX iam_group_members_user ON iam_group_members (user_id);
CREATE TABLE iam_roles (
  id TEXT PRIMARY KEY, domain_id TEXT, name TEXT NOT NULL, display_name TEXT NOT NULL,
  catalog TEXT NOT NULL, type TEXT NOT NULL, flag TEXT, description TEXT NOT NULL DEFAULT '',
  description_cn TEXT NOT NULL DEFAULT '', policy TEXT NOT NULL,
  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX iam_roles_domain ON iam_roles (domain_id);
CREATE TABLE iam_grants (
  subject_kind TEXT NOT NULL, subject_id TEXT NOT NULL,
  role_id TEXT NOT NULL REFERENCES iam_roles(id),
  scope_kind TEXT NOT NULL, scope_id TEXT NOT NULL, domain_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (subject_kind, subject_id, role_id, scope_kind, scope_id));
CREATE INDEX iam_grants_role ON iam_grants (role_id);
CREATE TABLE iam_enterprise_projects (
  id TEXT NOT NULL, domain_id TEXT NOT NULL REFERENCES iam_domains(id), name TEXT NOT NULL,
  PRIMARY KEY (domain_id, id));
CREATE TABLE iam_credentials (
  access TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES iam_users(id) ON DELETE CASCADE,
  secret_sealed TEXT NOT NULL, status TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL, last_use_at BIGINT);
CREATE INDEX iam_credentials_user ON iam_credentials (user_id);
CREATE TABLE iam_tokens (
  hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES iam_users(id) ON DELETE CASCADE,
  project_id TEXT, methods TEXT NOT NULL, issued_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
CREATE INDEX iam_tokens_user ON iam_tokens (user_id);
)SQL"},
          // One-time links that let a user without a password set one (labeling team members).
          {"iam/002_password_tickets", R"SQL(
CREATE TABLE iam_password_tickets (
  hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES iam_users(id) ON DELETE CASCADE,
  expires_at BIGINT NOT NULL);
CREATE INDEX iam_password_tickets_user ON iam_password_tickets (user_id);
)SQL"},
          // Whose word an e-mail address is (1: an administrator set it, or
          // the platform made the user for it), and which users the platform
          // made (labeling team members): only those get password links.
          {"iam/003_email_confirmed", R"SQL(
ALTER TABLE iam_users ADD COLUMN email_confirmed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE iam_users ADD COLUMN made_for TEXT NOT NULL DEFAULT '';
)SQL"}};
}

Iam::Iam(store::Database& db, IamConfig cfg) : db_(db), cfg_(std::move(cfg)) {
  if (cfg_.master_key.size() != 32) throw std::invalid_argument("IAM master key must be 32 bytes");
}

std::optional<std::string> password_problem(const std::string& pw) {
  if (pw.size() < 6 || pw.size() > 32) return "must be 6 to 32 characters long";
  int kinds = 0;
  bool up = false, lo = false, dig = false, sp = false;
  for (unsigned char c : pw) {
    if (std::isupper(c)) up = true;
    else if (std::islower(c)) lo = true;
    else if (std::isdigit(c)) dig = true;
    else sp = true;
  }
  kinds = up + lo + dig + sp;
  if (kinds < 2) return "must contain at least two of: upper-case letters, lower-case letters, digits, special characters";
  return std::nullopt;
}

// ---------------------------------------------------------------- bootstrap

namespace {
struct SystemRole {
  const char* display_name;
  const char* name;
  const char* catalog;
  const char* type;
  const char* version;
  const char* description;
  const char* statements;  // JSON array
};

// The system roles and policies every account sees (name, id, catalog, type,
// version, description, statements). The statements are this server's
// reading of each role's published description.
const SystemRole kSystemRoles[] = {
    {"FullAccess", "system_all_1001", "BASE", "AA", "1.1", "Full permissions for all services that support policy-based authorization.",
     R"([{"Effect":"Allow","Action":["*:*:*"]}])"},
    {"Tenant Administrator", "te_admin", "BASE", "AA", "1.0", "Administrator of all services except IAM.",
     R"([{"Effect":"Allow","Action":["*:*:*"]},{"Effect":"Deny","Action":["iam:*:*"]}])"},
    {"Tenant Guest", "readonly", "BASE", "AA", "1.0", "Read-only permissions for all services except IAM.",
     R"([{"Effect":"Allow","Action":["*:*:get*","*:*:list*","*:*:head*"]},{"Effect":"Deny","Action":["iam:*:*"]}])"},
    {"Security Administrator", "secu_admin", "BASE", "AX", "1.0", "IAM administrator: users, groups, permissions, access keys.",
     R"([{"Effect":"Allow","Action":["iam:*:*"]}])"},
    {"Agent Operator", "te_agency", "BASE", "AX", "1.0", "May switch roles to access resources of delegating accounts.",
     R"([{"Effect":"Allow","Action":["iam:tokens:assume","iam:agencies:*"]}])"},
    {"ModelArts FullAccess", "system_all_25", "ModelArts", "XA", "1.1", "All permissions for ModelArts.",
     R"([{"Effect":"Allow","Action":["modelarts:*:*"]}])"},
    {"ModelArts CommonOperations", "system_all_26", "ModelArts", "XA", "1.1",
     "All ModelArts operations except managing dedicated resource pools.",
     R"([{"Effect":"Allow","Action":["modelarts:*:*"]},{"Effect":"Deny","Action":["modelarts:pool:create","modelarts:pool:update","modelarts:pool:delete"]}])"},
    {"ModelArts ReadOnlyAccess", "system_all_27", "ModelArts", "XA", "1.1", "Read-only permissions for ModelArts.",
     R"([{"Effect":"Allow","Action":["modelarts:*:get*","modelarts:*:list*"]}])"},
    {"ModelArts Dependency Access", "system_all_112", "ModelArts", "AA", "1.1", "Read access to the services ModelArts depends on.",
     R"([{"Effect":"Allow","Action":["obs:bucket:ListAllMyBuckets","obs:bucket:HeadBucket","obs:bucket:ListBucket","obs:bucket:GetBucketLocation","obs:object:GetObject"]}])"},
    {"OBS Administrator", "system_all_obs_admin", "OBS", "AA", "1.1", "All permissions for OBS.",
     R"([{"Effect":"Allow","Action":["obs:*:*"]}])"},
    {"OBS OperateAccess", "system_all_obs_operate", "OBS", "AA", "1.1", "List buckets, read and write objects.",
     R"([{"Effect":"Allow","Action":["obs:bucket:ListAllMyBuckets","obs:bucket:HeadBucket","obs:bucket:ListBucket","obs:bucket:GetBucketLocation","obs:object:*"]}])"},
    {"OBS ReadOnlyAccess", "system_all_obs_readonly", "OBS", "AA", "1.1", "List buckets and read objects.",
     R"([{"Effect":"Allow","Action":["obs:bucket:ListAllMyBuckets","obs:bucket:HeadBucket","obs:bucket:ListBucket","obs:bucket:GetBucketLocation","obs:object:GetObject","obs:object:GetObjectVersion"]}])"},
};
}  // namespace

Iam::Bootstrap Iam::bootstrap(const std::string& admin_password) {
  Bootstrap out;
  db_.transaction([&] {
    int64_t now = clock::now_ms();
    for (auto& r : kSystemRoles) {
      if (db_.query_one("SELECT 1 FROM iam_roles WHERE domain_id IS NULL AND name = ?", {r.name})) continue;
      json policy = {{"Version", r.version}, {"Statement", json::parse(r.statements)}};
      db_.exec("INSERT INTO iam_roles (id, domain_id, name, display_name, catalog, type, flag, description, "
               "policy, created_at, updated_at) VALUES (?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               {ids::hex32(), r.name, r.display_name, r.catalog, r.type,
                std::string(r.version) == "1.1" ? store::Value("fine_grained") : store::Value(), r.description,
                policy.dump(), now, now});
    }
    if (auto d = domain_id_by_name("admin")) {
      out.domain_id = *d;
      if (auto p = project_by_name(*d, cfg_.region)) out.project_id = p->id;
      return;
    }
    std::string pw = admin_password;
    if (pw.empty()) {
      pw = ids::secret_key().substr(0, 20) + "-1a";
      out.password = pw;
    }
    out.domain_id = create_account_locked("admin", pw);
    out.project_id = project_by_name(out.domain_id, cfg_.region)->id;
    out.created = true;
  });
  changed();
  return out;
}

std::string Iam::create_account(const std::string& name, const std::string& password) {
  std::string id;
  db_.transaction([&] { id = create_account_locked(name, password); });
  changed();
  return id;
}

std::string Iam::create_account_locked(const std::string& name, const std::string& password) {
  if (name.empty() || name.size() > 64) throw bad_request("The account name must be 1 to 64 characters.");
  if (auto why = password_problem(password)) throw bad_request("The password " + *why + ".");
  if (domain_id_by_name(name)) throw ApiError(409, "IAM.0005", "The account " + name + " already exists.");
  int64_t now = clock::now_ms();
  std::string did = ids::hex32(), uid = ids::hex32(), gid = ids::hex32(), pid = ids::hex32();
  db_.exec("INSERT INTO iam_domains (id, name, created_at) VALUES (?, ?, ?)", {did, name, now});
  db_.exec("INSERT INTO iam_users (id, domain_id, name, password_hash, is_owner, created_at, updated_at, "
           "pwd_changed_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
           {uid, did, name, crypto::password_hash(password), now, now, now});
  db_.exec("INSERT INTO iam_groups (id, domain_id, name, description, created_at) VALUES (?, ?, 'admin', "
           "'Administrators of the account: full rights, including IAM.', ?)",
           {gid, did, now});
  db_.exec("INSERT INTO iam_group_members (group_id, user_id) VALUES (?, ?)", {gid, uid});
  db_.exec("INSERT INTO iam_projects (id, domain_id, name, parent_id, created_at) VALUES (?, ?, ?, ?, ?)",
           {pid, did, cfg_.region, did, now});
  db_.exec("INSERT INTO iam_enterprise_projects (id, domain_id, name) VALUES ('0', ?, 'default')", {did});
  return did;
}

std::pair<std::string, bool> Iam::user_for_email(const std::string& domain_id, const std::string& email) {
  std::pair<std::string, bool> out;
  db_.transaction([&] {
    // An address a user set on itself proves nothing (nothing verifies it):
    // only one an administrator set links its user.
    auto held = db_.query("SELECT id, name, email_confirmed FROM iam_users WHERE domain_id = ? AND email = ?", {domain_id, email});
    for (auto& r : held)
      if (!r.flag("email_confirmed") || held.size() > 1)
        throw ApiError(400, "ModelArts.4633", "The e-mail address " + email + " is on user " + r.str("name") +
                                                  " but was not set by an administrator (or is on several users): an administrator "
                                                  "sets it on the one user it belongs to, then the member can be added.");
    if (!held.empty()) {
      out = {held[0].str("id"), false};
      return;
    }
    // The name: the address's local part in the characters a user name may
    // have, made unique in the account with a number.
    std::string base;
    for (char c : email.substr(0, email.find('@')))
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') base.push_back(c);
    if (base.empty() || std::isdigit(static_cast<unsigned char>(base[0]))) base = "worker-" + base;
    base = base.substr(0, 26);
    std::string name = base;
    for (int n = 2; db_.query_one("SELECT 1 FROM iam_users WHERE domain_id = ? AND name = ?", {domain_id, name}); ++n)
      name = base + "-" + std::to_string(n);
    int64_t now = clock::now_ms();
    std::string id = ids::hex32();
    db_.exec("INSERT INTO iam_users (id, domain_id, name, password_hash, email, description, created_at, updated_at, "
             "email_confirmed, made_for) VALUES (?, ?, ?, NULL, ?, 'labeling team member', ?, ?, 1, 'labeling')",
             {id, domain_id, name, email, now, now});
    out = {id, true};
  });
  changed();
  return out;
}

std::optional<std::string> Iam::password_ticket(const std::string& user_id, int64_t ttl_ms) {
  auto u = db_.query_one("SELECT password_hash, made_for FROM iam_users WHERE id = ?", {user_id});
  if (!u || !u->null("password_hash") || u->str("made_for").empty()) return std::nullopt;
  std::string ticket = crypto::random_hex(24);
  int64_t now = clock::now_ms();
  db_.transaction([&] {
    db_.exec("DELETE FROM iam_password_tickets WHERE user_id = ? OR expires_at < ?", {user_id, now});
    db_.exec("INSERT INTO iam_password_tickets (hash, user_id, expires_at) VALUES (?, ?, ?)",
             {crypto::sha256_hex(ticket), user_id, now + ttl_ms});
  });
  return ticket;
}

std::string Iam::redeem_password_ticket(const std::string& ticket, const std::string& password) {
  if (auto why = password_problem(password)) throw bad_request("The password " + *why + ".");
  std::string user;
  db_.transaction([&] {
    auto t = db_.query_one("SELECT user_id FROM iam_password_tickets WHERE hash = ? AND expires_at > ?",
                           {crypto::sha256_hex(ticket), clock::now_ms()});
    if (!t) throw ApiError(401, "IAM.0067", "The link is not valid (used, expired, or never issued).");
    user = t->str("user_id");
    int64_t now = clock::now_ms();
    int64_t set = db_.exec("UPDATE iam_users SET password_hash = ?, pwd_changed_at = ?, updated_at = ? WHERE id = ? AND "
                           "password_hash IS NULL",
                           {crypto::password_hash(password), now, now, user});
    db_.exec("DELETE FROM iam_password_tickets WHERE user_id = ?", {user});
    if (set == 0) throw ApiError(401, "IAM.0067", "The user has a password already; the link is spent.");
  });
  changed();
  return user;
}

// ---------------------------------------------------------------- lookups

static UserRecord user_from(const store::Row& r) {
  UserRecord u;
  u.id = r.str("id");
  u.domain_id = r.str("domain_id");
  u.domain_name = r.str("domain_name");
  u.name = r.str("name");
  u.access_mode = r.str("access_mode");
  u.enabled = r.flag("enabled");
  u.is_owner = r.flag("is_owner");
  u.domain_enabled = r.flag("domain_enabled");
  return u;
}

static const char* kUserSelect =
    "SELECT u.id, u.domain_id, d.name AS domain_name, u.name, u.access_mode, u.enabled, u.is_owner, "
    "d.enabled AS domain_enabled FROM iam_users u JOIN iam_domains d ON d.id = u.domain_id ";

std::shared_ptr<const UserRecord> Iam::user_by_id(const std::string& id) {
  if (auto c = cache_get(users_, id)) return *c;
  static const std::string sql = std::string(kUserSelect) + "WHERE u.id = ?";
  auto r = db_.query_one(sql, {id});
  if (!r) return nullptr;
  auto u = std::make_shared<const UserRecord>(user_from(*r));
  cache_put(users_, id, u);
  return u;
}

std::optional<UserRecord> Iam::user_by_name(const std::string& domain_id, const std::string& name) {
  auto r = db_.query_one(std::string(kUserSelect) + "WHERE u.domain_id = ? AND u.name = ?", {domain_id, name});
  if (!r) return std::nullopt;
  return user_from(*r);
}

static ProjectRecord project_from(const store::Row& r) {
  return ProjectRecord{r.str("id"), r.str("domain_id"), r.str("name"), r.str("parent_id"),
                       r.str("description"), r.flag("enabled")};
}

std::optional<ProjectRecord> Iam::project_by_id(const std::string& id) {
  if (auto c = cache_get(projects_, id)) return c;
  auto r = db_.query_one("SELECT * FROM iam_projects WHERE id = ?", {id});
  if (!r) return std::nullopt;
  auto p = project_from(*r);
  cache_put(projects_, id, p);
  return p;
}

std::optional<ProjectRecord> Iam::project_by_name(const std::string& domain_id, const std::string& name) {
  auto r = db_.query_one("SELECT * FROM iam_projects WHERE domain_id = ? AND name = ?", {domain_id, name});
  if (!r) return std::nullopt;
  return project_from(*r);
}

std::optional<std::string> Iam::domain_id_by_name(const std::string& name) {
  auto r = db_.query_one("SELECT id FROM iam_domains WHERE name = ?", {name});
  if (!r) return std::nullopt;
  return r->str("id");
}

std::string Iam::domain_name(const std::string& domain_id) {
  auto r = db_.query_one("SELECT name FROM iam_domains WHERE id = ?", {domain_id});
  return r ? r->str("name") : "";
}

bool Iam::in_admin_group(const std::string& user_id) {
  if (auto c = cache_get(admins_, user_id)) return *c;
  bool yes = bool(db_.query_one(
      "SELECT 1 FROM iam_group_members m JOIN iam_groups g ON g.id = m.group_id "
      "WHERE m.user_id = ? AND g.name = 'admin'",
      {user_id}));
  cache_put(admins_, user_id, yes);
  return yes;
}

// ---------------------------------------------------------------- caches

template <class T>
std::optional<T> Iam::cache_get(std::unordered_map<std::string, Cached<T>>& m, const std::string& k) {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = m.find(k);
  if (it == m.end() || it->second.epoch != epoch_.load() ||
      clock::now_ms() - it->second.at > cfg_.cache_ttl_ms)
    return std::nullopt;
  return it->second.value;
}

template <class T>
void Iam::cache_put(std::unordered_map<std::string, Cached<T>>& m, const std::string& k, T v) {
  std::unique_lock<std::shared_mutex> l(mu_);
  if (m.size() > 100000) m.clear();  // bound memory; entries are cheap to rebuild
  m[k] = Cached<T>{std::move(v), epoch_.load(), clock::now_ms()};
}

// ---------------------------------------------------------------- passwords and tokens

UserRecord Iam::check_password(const std::string& domain_id, const std::string& user_name,
                               const std::string& user_id, const std::string& password) {
  auto r = user_id.empty()
               ? db_.query_one("SELECT id, password_hash FROM iam_users WHERE domain_id = ? AND name = ?",
                               {domain_id, user_name})
               : db_.query_one("SELECT id, password_hash FROM iam_users WHERE id = ?", {user_id});
  // Hash anyway when the user is unknown, so timing does not tell names apart.
  static const std::string dummy = crypto::password_hash("not-a-real-password-1");
  std::string hash = r && !r->null("password_hash") ? r->str("password_hash") : dummy;
  bool ok = crypto::password_verify(hash, password) && r && !r->null("password_hash");
  if (!ok) throw ApiError(401, "IAM.0062", "The username or password is wrong.");
  auto u = user_by_id(r->str("id"));
  if (!u) throw ApiError(401, "IAM.0062", "The username or password is wrong.");
  return *u;
}

IssuedToken Iam::issue_token(const UserRecord& user, const std::optional<ProjectRecord>& project,
                             std::vector<std::string> methods, int64_t max_expiry_ms) {
  IssuedToken t;
  t.token = "MII" + crypto::base64url(crypto::random_bytes(48));
  t.info.hash = crypto::sha256_hex(t.token);
  t.info.user = user;
  if (project) {
    t.info.project_id = project->id;
    t.info.project_name = project->name;
  }
  t.info.methods = std::move(methods);
  t.info.issued_at = clock::now_ms();
  t.info.expires_at = t.info.issued_at + cfg_.token_ttl_ms;
  if (max_expiry_ms > 0 && t.info.expires_at > max_expiry_ms) t.info.expires_at = max_expiry_ms;
  db_.transaction([&] {
    db_.exec("INSERT INTO iam_tokens (hash, user_id, project_id, methods, issued_at, expires_at) "
             "VALUES (?, ?, ?, ?, ?, ?)",
             {t.info.hash, user.id, project ? store::Value(project->id) : store::Value(),
              json(t.info.methods).dump(), t.info.issued_at, t.info.expires_at});
    db_.exec("UPDATE iam_users SET last_login_at = ?, last_project_id = COALESCE(?, last_project_id) WHERE id = ?",
             {t.info.issued_at, project ? store::Value(project->id) : store::Value(), user.id});
    // Expired tokens are of no use to anyone; sweep a few on each issue.
    db_.exec("DELETE FROM iam_tokens WHERE hash IN (SELECT hash FROM iam_tokens WHERE expires_at < ? LIMIT 100)",
             {t.info.issued_at - 24LL * 3600 * 1000});
  });
  return t;
}

std::shared_ptr<const TokenInfo> Iam::find_token(const std::string& token) {
  std::string hash = crypto::sha256_hex(token);
  if (auto c = cache_get(tokens_, hash)) return *c;
  auto r = db_.query_one(
      "SELECT t.hash, t.project_id, t.methods, t.issued_at, t.expires_at, u.id, u.domain_id, "
      "d.name AS domain_name, u.name, u.access_mode, u.enabled, u.is_owner, d.enabled AS domain_enabled, "
      "p.name AS project_name FROM iam_tokens t JOIN iam_users u ON u.id = t.user_id "
      "JOIN iam_domains d ON d.id = u.domain_id LEFT JOIN iam_projects p ON p.id = t.project_id "
      "WHERE t.hash = ? AND t.revoked = 0",
      {hash});
  if (!r) return nullptr;
  TokenInfo t;
  t.hash = hash;
  t.user = user_from(*r);
  t.project_id = r->str("project_id");
  t.project_name = r->str("project_name");
  json m = json::parse(r->str("methods"), nullptr, false);
  if (m.is_array())
    for (auto& x : m)
      if (x.is_string()) t.methods.push_back(x.get<std::string>());
  t.issued_at = r->i64("issued_at");
  t.expires_at = r->i64("expires_at");
  auto shared = std::make_shared<const TokenInfo>(std::move(t));
  cache_put(tokens_, hash, shared);
  return shared;
}

void Iam::revoke_token(const std::string& hash) {
  db_.exec("UPDATE iam_tokens SET revoked = 1 WHERE hash = ?", {hash});
  changed();
}

void Iam::revoke_user_tokens(const std::string& user_id) {
  db_.exec("UPDATE iam_tokens SET revoked = 1 WHERE user_id = ?", {user_id});
  changed();
}

// ---------------------------------------------------------------- access keys

std::shared_ptr<const Iam::AccessKey> Iam::access_key(const std::string& access) {
  if (auto c = cache_get(keys_, access)) return *c;
  auto r = db_.query_one("SELECT access, user_id, secret_sealed, status, last_use_at FROM iam_credentials WHERE access = ?",
                         {access});
  if (!r) return nullptr;
  AccessKey k{r->str("access"), r->str("user_id"), "", r->str("status"), r->i64("last_use_at")};
  if (!crypto::open(cfg_.master_key, r->str("secret_sealed"), k.secret)) {
    spdlog::error("access key {} cannot be unsealed with this server's master key", access);
    return nullptr;
  }
  auto shared = std::make_shared<const AccessKey>(std::move(k));
  cache_put(keys_, access, shared);
  return shared;
}

void Iam::touch_access_key(const std::string& access, int64_t at) {
  db_.exec("UPDATE iam_credentials SET last_use_at = ? WHERE access = ?", {at, access});
  std::unique_lock<std::shared_mutex> l(mu_);
  if (auto it = keys_.find(access); it != keys_.end()) {
    auto updated = std::make_shared<AccessKey>(*it->second.value);
    updated->last_use_at = at;
    it->second.value = std::move(updated);
  }
}

std::string Iam::seal_secret(const std::string& secret) const { return crypto::seal(cfg_.master_key, secret); }

// ---------------------------------------------------------------- authorization

bool Iam::is_global_service(std::string_view action) {
  auto svc = action.substr(0, action.find(':'));
  return svc == "iam" || svc == "obs";
}

std::shared_ptr<const Iam::PolicySet> Iam::policies_for(const UserRecord& user, const std::string& scope_kind,
                                                       const std::string& scope_id) {
  std::string key = user.id + "|" + scope_kind + "|" + scope_id;
  if (auto c = cache_get(policies_, key)) return *c;
  auto rows = db_.query(
      "SELECT DISTINCT r.id, r.policy FROM iam_grants g JOIN iam_roles r ON r.id = g.role_id "
      "WHERE g.domain_id = ? AND ((g.subject_kind = 'group' AND g.subject_id IN "
      "(SELECT group_id FROM iam_group_members WHERE user_id = ?)) OR "
      "(g.subject_kind = 'user' AND g.subject_id = ?)) AND "
      "((g.scope_kind = ? AND g.scope_id = ?) OR (g.scope_kind = 'inherited' AND g.scope_id = ?))",
      {user.domain_id, user.id, user.id, scope_kind, scope_id, user.domain_id});
  PolicySet set;
  for (auto& r : rows) {
    try {
      set.push_back(std::make_shared<const Policy>(parse_policy(json::parse(r.str("policy")), false)));
    } catch (const std::exception& e) {
      spdlog::warn("role {} has an unreadable policy; ignored: {}", r.str("id"), e.what());
    }
  }
  auto shared = std::make_shared<const PolicySet>(std::move(set));
  cache_put(policies_, key, shared);
  return shared;
}

std::optional<std::string> Iam::first_denied(const UserRecord& user, const ProjectRecord* project,
                                             const std::vector<std::string>& actions,
                                             const std::function<Facts()>& facts,
                                             const std::string& enterprise_project) {
  if (user.is_owner || in_admin_group(user.id)) return std::nullopt;
  std::optional<Facts> known;  // built on first need: most policies have no conditions
  for (auto& a : actions) {
    bool global = !project || is_global_service(a);
    auto set = global ? policies_for(user, "domain", user.domain_id) : policies_for(user, "project", project->id);
    if (!global && !enterprise_project.empty()) {  // grants on the resource's enterprise project count too
      auto ep = policies_for(user, "ep", enterprise_project);
      auto both = std::make_shared<PolicySet>(*set);
      both->insert(both->end(), ep->begin(), ep->end());
      set = both;
    }
    bool conditional = std::any_of(set->begin(), set->end(), [](auto& p) { return p->has_conditions; });
    static const Facts kNone;
    const Facts* f = &kNone;
    Facts with_service;
    if (conditional) {
      if (!known) known = facts();
      with_service = *known;
      with_service["g:ServiceName"] = a.substr(0, a.find(':'));
      f = &with_service;
    }
    if (evaluate(*set, a, *f) != Decision::kAllow) return a;
  }
  return std::nullopt;
}

std::string project_domain(store::Database& db, const std::string& project_id) {
  auto r = db.query_one("SELECT domain_id FROM iam_projects WHERE id = ?", {project_id});
  return r ? r->str("domain_id") : "";
}

}  // namespace atelier::iam
