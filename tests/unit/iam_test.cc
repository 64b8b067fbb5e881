#include "iam/iam.h"

#include <gtest/gtest.h>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/ids.h"
#include "test_util.h"

using namespace atelier;
using namespace atelier::iam;
using atelier::testing::TempDir;

namespace {

IamConfig config() {
  IamConfig c;
  c.master_key = std::string("0123456789abcdef0123456789abcdef");
  return c;
}

class IamTest : public ::testing::Test {
 protected:
  TempDir dir;
  std::unique_ptr<store::Database> db = store::open_sqlite(dir.file("iam.db"));
  std::unique_ptr<Iam> iam;

  void SetUp() override {
    db->migrate(Iam::migrations());
    iam = std::make_unique<Iam>(*db, config());
  }

  int64_t count(const std::string& sql, const store::Params& p = {}) {
    return db->query_one(sql, p)->operator[](0).i64();
  }

  // Direct inserts for what Iam has no API for (users, groups, roles, grants).
  std::string add_user(const std::string& domain_id, const std::string& name, bool enabled = true) {
    std::string id = ids::hex32();
    int64_t now = clock::now_ms();
    db->exec("INSERT INTO iam_users (id, domain_id, name, enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
             {id, domain_id, name, enabled, now, now});
    iam->changed();
    return id;
  }
  std::string add_group(const std::string& domain_id, const std::string& name) {
    std::string id = ids::hex32();
    db->exec("INSERT INTO iam_groups (id, domain_id, name, created_at) VALUES (?, ?, ?, ?)",
             {id, domain_id, name, clock::now_ms()});
    iam->changed();
    return id;
  }
  void add_member(const std::string& group_id, const std::string& user_id) {
    db->exec("INSERT INTO iam_group_members (group_id, user_id) VALUES (?, ?)", {group_id, user_id});
    iam->changed();
  }
  std::string add_role(const std::string& domain_id, const std::string& policy) {
    std::string id = ids::hex32();
    int64_t now = clock::now_ms();
    db->exec("INSERT INTO iam_roles (id, domain_id, name, display_name, catalog, type, policy, created_at, updated_at) "
             "VALUES (?, ?, ?, ?, 'CUSTOMED', 'custom', ?, ?, ?)",
             {id, domain_id, "custom_" + id, "custom " + id, policy, now, now});
    iam->changed();
    return id;
  }
  void grant(const std::string& kind, const std::string& subject, const std::string& role,
             const std::string& scope_kind, const std::string& scope_id, const std::string& domain_id) {
    db->exec("INSERT INTO iam_grants (subject_kind, subject_id, role_id, scope_kind, scope_id, domain_id, created_at) "
             "VALUES (?, ?, ?, ?, ?, ?, ?)",
             {kind, subject, role, scope_kind, scope_id, domain_id, clock::now_ms()});
    iam->changed();
  }
  std::string add_project(const std::string& domain_id, const std::string& name) {
    std::string id = ids::hex32();
    db->exec("INSERT INTO iam_projects (id, domain_id, name, parent_id, created_at) VALUES (?, ?, ?, ?, ?)",
             {id, domain_id, name, domain_id, clock::now_ms()});
    iam->changed();
    return id;
  }
  std::string add_access_key(const std::string& user_id, const std::string& secret, const std::string& status = "active") {
    std::string ak = ids::access_key();
    db->exec("INSERT INTO iam_credentials (access, user_id, secret_sealed, status, created_at) VALUES (?, ?, ?, ?, ?)",
             {ak, user_id, iam->seal_secret(secret), status, clock::now_ms()});
    iam->changed();
    return ak;
  }
};

const char* kDatasetPolicy =
    R"({"Version":"1.1","Statement":[{"Effect":"Allow","Action":["modelarts:dataset:*"]}]})";

}  // namespace

TEST(IamCtor, RequiresA32ByteMasterKey) {
  TempDir dir;
  auto db = store::open_sqlite(dir.file("x.db"));
  IamConfig c;
  c.master_key = "short";
  EXPECT_THROW(Iam(*db, c), std::invalid_argument);
  c.master_key = std::string(33, 'k');
  EXPECT_THROW(Iam(*db, c), std::invalid_argument);
  EXPECT_NO_THROW(Iam(*db, config()));
}

TEST(IamPasswordRules, Problems) {
  EXPECT_TRUE(password_problem("Ab1").has_value());              // too short
  EXPECT_TRUE(password_problem(std::string(33, 'a') + "A1").has_value());  // too long
  EXPECT_TRUE(password_problem("abcdefgh").has_value());         // one kind
  EXPECT_TRUE(password_problem("12345678").has_value());
  EXPECT_FALSE(password_problem("abcdef1").has_value());         // two kinds
  EXPECT_FALSE(password_problem("abc-def").has_value());
  EXPECT_FALSE(password_problem("Abcdef").has_value());
  EXPECT_FALSE(password_problem(std::string(30, 'a') + "A1").has_value());  // 32 is allowed
}

TEST_F(IamTest, MigrationsAreIdempotent) {
  EXPECT_NO_THROW(db->migrate(Iam::migrations()));
  EXPECT_EQ(count("SELECT COUNT(*) FROM schema_migrations"), int64_t(Iam::migrations().size()));
}

TEST_F(IamTest, BootstrapCreatesAdminAccountOnce) {
  Iam::Bootstrap b = iam->bootstrap("Adm1n-pass");
  EXPECT_TRUE(b.created);
  EXPECT_EQ(b.password, "");  // a given password is not echoed
  ASSERT_EQ(b.domain_id.size(), 32u);
  ASSERT_EQ(b.project_id.size(), 32u);
  EXPECT_EQ(iam->domain_id_by_name("admin"), b.domain_id);
  EXPECT_EQ(iam->domain_name(b.domain_id), "admin");

  auto admin = iam->user_by_name(b.domain_id, "admin");
  ASSERT_TRUE(admin);
  EXPECT_TRUE(admin->is_owner);
  EXPECT_TRUE(admin->enabled);
  EXPECT_TRUE(admin->domain_enabled);
  EXPECT_EQ(admin->domain_name, "admin");
  EXPECT_TRUE(iam->in_admin_group(admin->id));

  auto proj = iam->project_by_id(b.project_id);
  ASSERT_TRUE(proj);
  EXPECT_EQ(proj->name, "local");  // the region
  EXPECT_EQ(proj->domain_id, b.domain_id);
  EXPECT_EQ(proj->parent_id, b.domain_id);
  EXPECT_EQ(count("SELECT COUNT(*) FROM iam_enterprise_projects WHERE domain_id = ? AND id = '0'", {b.domain_id}), 1);
  int64_t system_roles = count("SELECT COUNT(*) FROM iam_roles WHERE domain_id IS NULL");
  EXPECT_GE(system_roles, 10);
  EXPECT_EQ(count("SELECT COUNT(*) FROM iam_roles WHERE domain_id IS NULL AND name = 'system_all_25'"), 1);

  // Second bootstrap: nothing new, same ids, the password is not changed.
  Iam::Bootstrap again = iam->bootstrap("Other-pass9");
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.domain_id, b.domain_id);
  EXPECT_EQ(again.project_id, b.project_id);
  EXPECT_EQ(count("SELECT COUNT(*) FROM iam_roles WHERE domain_id IS NULL"), system_roles);
  EXPECT_EQ(count("SELECT COUNT(*) FROM iam_users"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM iam_domains"), 1);
  EXPECT_NO_THROW(iam->check_password(b.domain_id, "admin", "", "Adm1n-pass"));
  EXPECT_API_ERROR(iam->check_password(b.domain_id, "admin", "", "Other-pass9"), 401, "IAM.0062");
}

TEST_F(IamTest, SystemRolesParse) {
  iam->bootstrap("Adm1n-pass");
  for (auto& r : db->query("SELECT name, policy FROM iam_roles WHERE domain_id IS NULL")) {
    EXPECT_NO_THROW(parse_policy(json::parse(r.str("policy")), false)) << r.str("name");
  }
}

TEST_F(IamTest, BootstrapGeneratesAPasswordWhenNoneGiven) {
  Iam::Bootstrap b = iam->bootstrap("");
  ASSERT_TRUE(b.created);
  ASSERT_FALSE(b.password.empty());
  EXPECT_FALSE(password_problem(b.password).has_value()) << b.password;
  UserRecord u = iam->check_password(b.domain_id, "admin", "", b.password);
  EXPECT_EQ(u.name, "admin");
}

TEST_F(IamTest, CreateAccount) {
  std::string did = iam->create_account("acme", "Acme-pass1");
  ASSERT_EQ(did.size(), 32u);
  EXPECT_EQ(iam->domain_id_by_name("acme"), did);
  auto owner = iam->user_by_name(did, "acme");
  ASSERT_TRUE(owner);
  EXPECT_TRUE(owner->is_owner);
  auto proj = iam->project_by_name(did, "local");
  ASSERT_TRUE(proj);
  EXPECT_EQ(proj->parent_id, did);

  EXPECT_API_ERROR(iam->create_account("acme", "Acme-pass2"), 409, "IAM.0005");
  EXPECT_API_ERROR(iam->create_account("weak", "short"), 400, "ModelArts.0101");
  EXPECT_API_ERROR(iam->create_account("weak", "alllowercase"), 400, "ModelArts.0101");
  EXPECT_API_ERROR(iam->create_account("", "Acme-pass1"), 400, "ModelArts.0101");
  EXPECT_API_ERROR(iam->create_account(std::string(65, 'n'), "Acme-pass1"), 400, "ModelArts.0101");
  EXPECT_FALSE(iam->domain_id_by_name("weak").has_value());  // nothing half-created
  EXPECT_EQ(count("SELECT COUNT(*) FROM iam_domains"), 1);
}

TEST_F(IamTest, CheckPassword) {
  std::string did = iam->create_account("acme", "Acme-pass1");
  UserRecord u = iam->check_password(did, "acme", "", "Acme-pass1");
  EXPECT_EQ(u.name, "acme");
  EXPECT_EQ(u.domain_id, did);
  EXPECT_TRUE(u.is_owner);
  // By user id as well.
  EXPECT_EQ(iam->check_password("", "", u.id, "Acme-pass1").id, u.id);

  EXPECT_API_ERROR(iam->check_password(did, "acme", "", "Acme-pass2"), 401, "IAM.0062");
  EXPECT_API_ERROR(iam->check_password(did, "nobody", "", "Acme-pass1"), 401, "IAM.0062");
  EXPECT_API_ERROR(iam->check_password("otherdomain", "acme", "", "Acme-pass1"), 401, "IAM.0062");
  EXPECT_API_ERROR(iam->check_password("", "", "no-such-id", "Acme-pass1"), 401, "IAM.0062");
  // A user without a password (e.g. programmatic only) cannot log in with any password.
  add_user(did, "nopass");
  EXPECT_API_ERROR(iam->check_password(did, "nopass", "", "not-a-real-password-1"), 401, "IAM.0062");
}

TEST_F(IamTest, IssueAndFindToken) {
  std::string did = iam->create_account("acme", "Acme-pass1");
  UserRecord u = *iam->user_by_name(did, "acme");
  auto proj = iam->project_by_name(did, "local");
  int64_t before = clock::now_ms();
  IssuedToken t = iam->issue_token(u, proj, {"password"});
  EXPECT_EQ(t.token.rfind("MII", 0), 0u);
  EXPECT_GT(t.token.size(), 60u);
  EXPECT_EQ(t.info.hash, crypto::sha256_hex(t.token));
  EXPECT_GE(t.info.issued_at, before);
  EXPECT_EQ(t.info.expires_at - t.info.issued_at, config().token_ttl_ms);
  // Only the hash is stored.
  EXPECT_EQ(count("SELECT COUNT(*) FROM iam_tokens WHERE hash = ?", {t.info.hash}), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM iam_tokens WHERE hash = ?", {t.token}), 0);

  auto found = iam->find_token(t.token);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->hash, t.info.hash);
  EXPECT_EQ(found->user.id, u.id);
  EXPECT_EQ(found->user.domain_name, "acme");
  EXPECT_EQ(found->project_id, proj->id);
  EXPECT_EQ(found->project_name, "local");
  EXPECT_EQ(found->methods, std::vector<std::string>{"password"});
  EXPECT_EQ(found->expires_at, t.info.expires_at);

  EXPECT_EQ(iam->find_token("MIIbogus"), nullptr);
  EXPECT_EQ(iam->find_token(t.token + "x"), nullptr);

  // Domain-scoped token.
  IssuedToken d = iam->issue_token(u, std::nullopt, {"password", "totp"});
  auto fd = iam->find_token(d.token);
  ASSERT_TRUE(fd);
  EXPECT_EQ(fd->project_id, "");
  EXPECT_EQ(fd->methods, (std::vector<std::string>{"password", "totp"}));
  EXPECT_NE(d.token, t.token);
}

TEST_F(IamTest, TokenExpiryCapAndExpiredTokensStillFound) {
  std::string did = iam->create_account("acme", "Acme-pass1");
  UserRecord u = *iam->user_by_name(did, "acme");
  int64_t cap = clock::now_ms() + 60000;
  IssuedToken t = iam->issue_token(u, std::nullopt, {"password"}, cap);
  EXPECT_EQ(t.info.expires_at, cap);
  // Already expired (e.g. capped by a parent token that just ran out).
  IssuedToken old = iam->issue_token(u, std::nullopt, {"password"}, clock::now_ms() - 1000);
  auto f = iam->find_token(old.token);
  ASSERT_TRUE(f) << "find_token includes expired tokens; the gate checks expiry";
  EXPECT_LT(f->expires_at, clock::now_ms());
}

TEST_F(IamTest, RevokeTokens) {
  std::string did = iam->create_account("acme", "Acme-pass1");
  UserRecord owner = *iam->user_by_name(did, "acme");
  std::string other_id = add_user(did, "bob");
  UserRecord bob = *iam->user_by_id(other_id);
  IssuedToken t1 = iam->issue_token(owner, std::nullopt, {"password"});
  IssuedToken t2 = iam->issue_token(owner, std::nullopt, {"password"});
  IssuedToken tb = iam->issue_token(bob, std::nullopt, {"password"});
  ASSERT_TRUE(iam->find_token(t1.token));  // now cached
  ASSERT_TRUE(iam->find_token(tb.token));

  iam->revoke_user_tokens(owner.id);
  EXPECT_EQ(iam->find_token(t1.token), nullptr);  // the cache must not keep it alive
  EXPECT_EQ(iam->find_token(t2.token), nullptr);
  EXPECT_NE(iam->find_token(tb.token), nullptr);

  iam->revoke_token(tb.info.hash);
  EXPECT_EQ(iam->find_token(tb.token), nullptr);
}

TEST_F(IamTest, AccessKeys) {
  std::string did = iam->create_account("acme", "Acme-pass1");
  std::string uid = iam->user_by_name(did, "acme")->id;
  std::string secret = ids::secret_key();
  std::string ak = add_access_key(uid, secret);
  // Sealed at rest.
  auto row = db->query_one("SELECT secret_sealed FROM iam_credentials WHERE access = ?", {ak});
  EXPECT_EQ(row->str("secret_sealed").find(secret), std::string::npos);

  auto k = iam->access_key(ak);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->secret, secret);
  EXPECT_EQ(k->user_id, uid);
  EXPECT_EQ(k->status, "active");
  EXPECT_EQ(iam->access_key("NOSUCHKEY"), nullptr);

  iam->touch_access_key(ak, 12345);
  EXPECT_EQ(iam->access_key(ak)->last_use_at, 12345);
  EXPECT_EQ(db->query_one("SELECT last_use_at FROM iam_credentials WHERE access = ?", {ak})->i64("last_use_at"), 12345);

  // A secret sealed with another master key cannot be used.
  std::string foreign = ids::access_key();
  db->exec("INSERT INTO iam_credentials (access, user_id, secret_sealed, status, created_at) VALUES (?, ?, ?, 'active', 0)",
           {foreign, uid, crypto::seal(std::string(32, 'z'), secret)});
  iam->changed();
  EXPECT_EQ(iam->access_key(foreign), nullptr);
}

// ------------------------------------------------------------ authorization

namespace {

class IamAuthzTest : public IamTest {
 protected:
  std::string did, p1, p2, uid;
  UserRecord user;
  ProjectRecord proj1, proj2;

  void SetUp() override {
    IamTest::SetUp();
    did = iam->create_account("acme", "Acme-pass1");
    p1 = iam->project_by_name(did, "local")->id;
    p2 = add_project(did, "local_sub");
    uid = add_user(did, "carol");
    user = *iam->user_by_id(uid);
    proj1 = *iam->project_by_id(p1);
    proj2 = *iam->project_by_id(p2);
  }

  std::optional<std::string> denied(const ProjectRecord* p, std::vector<std::string> actions, Facts f = {},
                                    const std::string& ep = "") {
    return iam->first_denied(user, p, actions, [f] { return f; }, ep);
  }
};

}  // namespace

TEST_F(IamAuthzTest, OwnerPasses) {
  UserRecord owner = *iam->user_by_name(did, "acme");
  EXPECT_FALSE(iam->first_denied(owner, &proj1, {"modelarts:dataset:delete", "iam:users:createUser"}, [] { return Facts{}; }).has_value());
  EXPECT_FALSE(iam->first_denied(owner, nullptr, {"obs:bucket:CreateBucket"}, [] { return Facts{}; }).has_value());
}

TEST_F(IamAuthzTest, UserWithoutGrantsIsDenied) {
  EXPECT_FALSE(user.is_owner);
  EXPECT_EQ(denied(&proj1, {"modelarts:dataset:list", "modelarts:model:list"}), "modelarts:dataset:list");
  EXPECT_EQ(denied(nullptr, {"iam:users:listUsers"}), "iam:users:listUsers");
  EXPECT_EQ(denied(&proj1, {"obs:object:GetObject"}), "obs:object:GetObject");
}

TEST_F(IamAuthzTest, GroupGrantOnOneProject) {
  std::string gid = add_group(did, "data-team");
  add_member(gid, uid);
  std::string role = add_role(did, kDatasetPolicy);
  grant("group", gid, role, "project", p1, did);

  EXPECT_FALSE(denied(&proj1, {"modelarts:dataset:list"}).has_value());
  EXPECT_FALSE(denied(&proj1, {"modelarts:dataset:delete", "modelarts:dataset:getDataset"}).has_value());
  EXPECT_EQ(denied(&proj1, {"modelarts:dataset:list", "modelarts:trainJob:list"}), "modelarts:trainJob:list");
  // Another project of the same account: not granted there.
  EXPECT_EQ(denied(&proj2, {"modelarts:dataset:list"}), "modelarts:dataset:list");
  // Nor at account scope.
  EXPECT_EQ(denied(nullptr, {"modelarts:dataset:list"}), "modelarts:dataset:list");
  // A user not in the group gets nothing from it.
  std::string other = add_user(did, "dave");
  EXPECT_TRUE(iam->first_denied(*iam->user_by_id(other), &proj1, {"modelarts:dataset:list"}, [] { return Facts{}; }).has_value());
}

TEST_F(IamAuthzTest, GrantChangesAreSeenAfterChanged) {
  EXPECT_TRUE(denied(&proj1, {"modelarts:dataset:list"}).has_value());  // caches an empty policy set
  std::string role = add_role(did, kDatasetPolicy);
  grant("user", uid, role, "project", p1, did);  // direct user grant; calls changed()
  EXPECT_FALSE(denied(&proj1, {"modelarts:dataset:list"}).has_value());
}

TEST_F(IamAuthzTest, DenyStatementInAnotherRoleWins) {
  std::string gid = add_group(did, "g");
  add_member(gid, uid);
  grant("group", gid, add_role(did, R"({"Version":"1.1","Statement":[{"Effect":"Allow","Action":["modelarts:*:*"]}]})"),
        "project", p1, did);
  grant("group", gid, add_role(did, R"({"Version":"1.1","Statement":[{"Effect":"Deny","Action":["modelarts:dataset:delete"]}]})"),
        "project", p1, did);
  EXPECT_FALSE(denied(&proj1, {"modelarts:dataset:list"}).has_value());
  EXPECT_EQ(denied(&proj1, {"modelarts:dataset:delete"}), "modelarts:dataset:delete");
}

TEST_F(IamAuthzTest, GlobalServicesEvaluateAtAccountScope) {
  std::string gid = add_group(did, "storage");
  add_member(gid, uid);
  std::string obs_role = add_role(did, R"({"Version":"1.1","Statement":[{"Effect":"Allow","Action":["obs:*:*","iam:users:list*"]}]})");
  // Granted on a project only: obs:/iam: actions do not see it, even with a project in scope.
  grant("group", gid, obs_role, "project", p1, did);
  EXPECT_EQ(denied(&proj1, {"obs:object:GetObject"}), "obs:object:GetObject");
  EXPECT_EQ(denied(&proj1, {"iam:users:listUsers"}), "iam:users:listUsers");
  EXPECT_EQ(denied(nullptr, {"obs:object:GetObject"}), "obs:object:GetObject");

  // Granted on the account (domain): allowed with or without a project.
  grant("group", gid, obs_role, "domain", did, did);
  EXPECT_FALSE(denied(&proj1, {"obs:object:GetObject"}).has_value());
  EXPECT_FALSE(denied(&proj2, {"obs:bucket:ListBucket"}).has_value());
  EXPECT_FALSE(denied(nullptr, {"iam:users:listUsers"}).has_value());
  // A project-level service action still needs a project grant.
  EXPECT_TRUE(denied(&proj1, {"modelarts:dataset:list"}).has_value());
  // Mixed list: the project action is the one refused.
  EXPECT_EQ(denied(&proj1, {"obs:object:GetObject", "modelarts:dataset:list"}), "modelarts:dataset:list");

  EXPECT_TRUE(Iam::is_global_service("obs:object:GetObject"));
  EXPECT_TRUE(Iam::is_global_service("iam:users:listUsers"));
  EXPECT_FALSE(Iam::is_global_service("modelarts:dataset:list"));
  EXPECT_FALSE(Iam::is_global_service("obsx:a:b"));
}

TEST_F(IamAuthzTest, ProjectActionWithoutProjectUsesAccountScope) {
  std::string gid = add_group(did, "g");
  add_member(gid, uid);
  grant("group", gid, add_role(did, kDatasetPolicy), "domain", did, did);
  EXPECT_FALSE(denied(nullptr, {"modelarts:dataset:list"}).has_value());
  EXPECT_TRUE(denied(&proj1, {"modelarts:dataset:list"}).has_value());
}

TEST_F(IamAuthzTest, InheritedGrantCoversAllProjects) {
  std::string gid = add_group(did, "g");
  add_member(gid, uid);
  grant("group", gid, add_role(did, kDatasetPolicy), "inherited", did, did);
  EXPECT_FALSE(denied(&proj1, {"modelarts:dataset:list"}).has_value());
  EXPECT_FALSE(denied(&proj2, {"modelarts:dataset:list"}).has_value());
}

TEST_F(IamAuthzTest, AdminGroupMemberPasses) {
  std::string admin_gid = db->query_one("SELECT id FROM iam_groups WHERE domain_id = ? AND name = 'admin'", {did})->str("id");
  add_member(admin_gid, uid);
  EXPECT_FALSE(denied(&proj1, {"modelarts:dataset:delete", "iam:users:createUser"}).has_value());
}

TEST_F(IamAuthzTest, SystemRoleGrants) {
  iam->bootstrap("Adm1n-pass");  // installs the system policy catalogue
  auto role_id = [&](const char* name) {
    return db->query_one("SELECT id FROM iam_roles WHERE domain_id IS NULL AND name = ?", {name})->str("id");
  };
  std::string gid = add_group(did, "ro");
  add_member(gid, uid);
  grant("group", gid, role_id("system_all_27"), "project", p1, did);  // ModelArts ReadOnlyAccess
  EXPECT_FALSE(denied(&proj1, {"modelarts:dataset:list", "modelarts:dataset:getDataset"}).has_value());
  EXPECT_EQ(denied(&proj1, {"modelarts:dataset:delete"}), "modelarts:dataset:delete");

  grant("group", gid, role_id("te_admin"), "domain", did, did);  // Tenant Administrator: all but IAM
  EXPECT_FALSE(denied(&proj1, {"obs:bucket:CreateBucket"}).has_value());
  EXPECT_EQ(denied(nullptr, {"iam:users:createUser"}), "iam:users:createUser");
}

TEST_F(IamAuthzTest, ConditionsSeeFactsAndServiceName) {
  std::string gid = add_group(did, "g");
  add_member(gid, uid);
  grant("group", gid, add_role(did, R"({"Version":"1.1","Statement":[{"Effect":"Allow","Action":["modelarts:*:*"],
      "Condition":{"StringEquals":{"g:ProjectName":["local"],"g:ServiceName":["modelarts"]}}}]})"),
        "project", p1, did);
  EXPECT_FALSE(denied(&proj1, {"modelarts:dataset:list"}, {{"g:ProjectName", "local"}}).has_value());
  EXPECT_TRUE(denied(&proj1, {"modelarts:dataset:list"}, {{"g:ProjectName", "elsewhere"}}).has_value());
  EXPECT_TRUE(denied(&proj1, {"modelarts:dataset:list"}, {}).has_value());
}

TEST_F(IamAuthzTest, FactsAreBuiltOnlyWhenAConditionNeedsThem) {
  std::string gid = add_group(did, "g");
  add_member(gid, uid);
  std::string plain = add_role(did, kDatasetPolicy);
  grant("group", gid, plain, "project", p1, did);
  int calls = 0;
  auto facts = [&] {
    ++calls;
    return Facts{{"g:ProjectName", "local"}};
  };
  EXPECT_FALSE(iam->first_denied(user, &proj1, {"modelarts:dataset:list", "modelarts:dataset:get"}, facts).has_value());
  EXPECT_EQ(calls, 0);
  grant("group", gid, add_role(did, R"({"Version":"1.1","Statement":[{"Effect":"Deny","Action":["modelarts:*:*"],
      "Condition":{"StringEquals":{"g:ProjectName":["elsewhere"]}}}]})"),
        "project", p1, did);
  EXPECT_FALSE(iam->first_denied(user, &proj1, {"modelarts:dataset:list", "modelarts:dataset:get"}, facts).has_value());
  EXPECT_EQ(calls, 1);  // once per call, not once per action
}

TEST_F(IamAuthzTest, EnterpriseProjectGrants) {
  std::string gid = add_group(did, "g");
  add_member(gid, uid);
  grant("group", gid, add_role(did, R"({"Version":"1.1","Statement":[{"Effect":"Allow","Action":["modelarts:*:*","obs:*:*"]}]})"),
        "ep", "ep-1", did);
  EXPECT_FALSE(denied(&proj1, {"modelarts:dataset:list"}, {}, "ep-1").has_value());
  EXPECT_FALSE(denied(&proj2, {"modelarts:dataset:list"}, {}, "ep-1").has_value());
  EXPECT_TRUE(denied(&proj1, {"modelarts:dataset:list"}, {}, "ep-2").has_value());
  EXPECT_TRUE(denied(&proj1, {"modelarts:dataset:list"}).has_value());
  // Global services are never widened by an enterprise-project grant.
  EXPECT_TRUE(denied(&proj1, {"obs:object:GetObject"}, {}, "ep-1").has_value());
}

TEST_F(IamAuthzTest, GrantsOfAnotherAccountDoNotApply) {
  // A role granted under a different domain id (e.g. a stale row) is ignored.
  std::string gid = add_group(did, "g");
  add_member(gid, uid);
  grant("group", gid, add_role(did, kDatasetPolicy), "project", p1, "another-domain");
  EXPECT_TRUE(denied(&proj1, {"modelarts:dataset:list"}).has_value());
}
