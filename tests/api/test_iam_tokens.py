"""Tokens: issue by password / token / hw_ak_sk, scopes, body
shape, validate / check / revoke, expiry."""
import datetime
import time

import pytest
import requests

from apihelpers import (HEX32, TOKEN_TIME, admin_group_id, assert_iam_error, make_key,
                        password_token_request, role_id, user_with_token)
from conftest import ADMIN_PASSWORD, Server, make_user, token_for, unique


def parse_time(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")


def test_password_token_scoped_by_project_name(server):
    r = password_token_request(server.base, "admin", ADMIN_PASSWORD, scope={"project": {"name": "local"}})
    assert r.status_code == 201, r.text
    tok = r.headers.get("X-Subject-Token")
    assert tok and tok.startswith("MII") and len(tok) > 40
    t = r.json()["token"]
    assert t["methods"] == ["password"]
    assert TOKEN_TIME.match(t["expires_at"]) and TOKEN_TIME.match(t["issued_at"]), t
    life = parse_time(t["expires_at"]) - parse_time(t["issued_at"])
    assert life == datetime.timedelta(hours=24), life
    assert abs(parse_time(t["issued_at"]) - datetime.datetime.utcnow()) < datetime.timedelta(minutes=1)
    assert t["user"]["name"] == "admin"
    assert HEX32.match(t["user"]["id"])
    assert t["user"]["domain"] == {"id": server.domain_id, "name": "admin"}
    assert "password_expires_at" in t["user"]
    assert t["project"] == {"id": server.project_id, "name": "local",
                            "domain": {"id": server.domain_id, "name": "admin"}}
    assert "domain" not in t
    assert isinstance(t["roles"], list) and {"id": "0", "name": "te_admin"} in t["roles"]
    # the token is never in the body
    assert tok not in r.text


def test_catalog_shape_and_nocatalog(server):
    r = password_token_request(server.base, "admin", ADMIN_PASSWORD, scope={"project": {"name": "local"}})
    assert r.status_code == 201
    cat = r.json()["token"]["catalog"]
    types = {c["type"] for c in cat}
    assert {"modelarts", "iam"} <= types, cat
    for c in cat:
        assert c["id"] and c["name"] == c["type"]
        assert len(c["endpoints"]) >= 1
        for ep in c["endpoints"]:
            assert ep["interface"] == "public"
            assert ep["url"].startswith("http://127.0.0.1:%d" % server.port), ep
            assert ep["region"] == ep["region_id"]
    iam = [c for c in cat if c["type"] == "iam"][0]
    assert iam["endpoints"][0]["region"] == "*"
    ma = [c for c in cat if c["type"] == "modelarts"][0]
    assert ma["endpoints"][0]["region"] == "local"

    r = password_token_request(server.base, "admin", ADMIN_PASSWORD, scope={"project": {"name": "local"}},
                               query="?nocatalog=1")
    assert r.status_code == 201, r.text
    assert r.json()["token"]["catalog"] == []
    assert r.headers["X-Subject-Token"]


def test_password_token_scoped_by_project_id(server):
    r = password_token_request(server.base, "admin", ADMIN_PASSWORD, scope={"project": {"id": server.project_id}})
    assert r.status_code == 201, r.text
    t = r.json()["token"]
    assert t["project"]["id"] == server.project_id and t["project"]["name"] == "local"


def test_domain_scoped_token_without_scope(server, admin):
    r = password_token_request(server.base, "admin", ADMIN_PASSWORD)
    assert r.status_code == 201, r.text
    t = r.json()["token"]
    assert "project" not in t
    assert t["domain"] == {"id": server.domain_id, "name": "admin"}
    # an explicit domain scope gives the same kind of token
    r2 = password_token_request(server.base, "admin", ADMIN_PASSWORD, scope={"domain": {"name": "admin"}})
    assert r2.status_code == 201, r2.text
    assert r2.json()["token"]["domain"]["id"] == server.domain_id
    # a domain token is good for IAM calls (global service)
    h = {"X-Auth-Token": r.headers["X-Subject-Token"]}
    u = requests.get(server.base + "/v3/users", headers=h)
    assert u.status_code == 200 and any(x["name"] == "admin" for x in u.json()["users"])


def test_project_wins_over_domain_in_scope(server):
    r = password_token_request(server.base, "admin", ADMIN_PASSWORD,
                               scope={"project": {"name": "local"}, "domain": {"name": "admin"}})
    assert r.status_code == 201, r.text
    assert r.json()["token"]["project"]["id"] == server.project_id


def test_password_by_user_id_and_domain_id(server):
    uid, name, pw = make_user(server, {"X-Auth-Token": server.admin_token})
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": uid, "password": pw}}}}}
    r = requests.post(server.base + "/v3/auth/tokens", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["token"]["user"]["id"] == uid
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": name, "password": pw, "domain": {"id": server.domain_id}}}}}}
    r = requests.post(server.base + "/v3/auth/tokens", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["token"]["user"]["name"] == name


def test_wrong_password_is_401_keystone_body(server):
    r = password_token_request(server.base, "admin", "Wrong-pass-1", scope={"project": {"name": "local"}})
    body = assert_iam_error(r, 401, "IAM.0062")
    assert body["error"]["title"] == "Unauthorized"
    assert "X-Subject-Token" not in r.headers
    # an unknown user and an unknown account answer the same way
    r2 = password_token_request(server.base, unique("nobody"), "Wrong-pass-1")
    b2 = assert_iam_error(r2, 401, "IAM.0062")
    r3 = password_token_request(server.base, "admin", ADMIN_PASSWORD, domain=unique("nodomain"))
    b3 = assert_iam_error(r3, 401, "IAM.0062")
    assert b2["error"]["message"] == body["error"]["message"] == b3["error"]["message"]


def test_unknown_project_is_404(server):
    r = password_token_request(server.base, "admin", ADMIN_PASSWORD, scope={"project": {"name": "local_nope"}})
    assert_iam_error(r, 404, "IAM.0004")
    r = password_token_request(server.base, "admin", ADMIN_PASSWORD, scope={"project": {"id": "0" * 32}})
    assert_iam_error(r, 404, "IAM.0004")
    r = password_token_request(server.base, "admin", ADMIN_PASSWORD, scope={"domain": {"name": unique("nod")}})
    assert_iam_error(r, 404, "IAM.0004")


def test_project_of_another_account_is_404(server, other_account):
    _, other_pid, _, _ = other_account
    r = password_token_request(server.base, "admin", ADMIN_PASSWORD, scope={"project": {"id": other_pid}})
    assert_iam_error(r, 404, "IAM.0004")


@pytest.mark.parametrize("raw", [
    b"{not json",
    b"",
    b"[]",
    b'{"auth": {}}',
    b'{"auth": {"identity": {"methods": []}}}',
    b'{"auth": {"identity": {"methods": ["password", "token"]}}}',
    b'{"auth": {"identity": {"methods": ["kerberos"], "kerberos": {}}}}',
    b'{"auth": {"identity": {"methods": ["password"]}}}',
    b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin"}}}}}',
])
def test_malformed_token_request_is_400(server, raw):
    r = requests.post(server.base + "/v3/auth/tokens", data=raw, headers={"Content-Type": "application/json"})
    body = assert_iam_error(r, 400)
    assert body["error"]["title"] == "Bad Request"
    assert body["error_code"] in ("IAM.0011", "IAM.0072", "IAM.0073"), body


def test_token_request_ignores_bad_auth_headers(server):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "password": ADMIN_PASSWORD, "domain": {"name": "admin"}}}}}}
    r = requests.post(server.base + "/v3/auth/tokens", json=body,
                      headers={"X-Auth-Token": "garbage", "Authorization": "SDK-HMAC-SHA256 nonsense"})
    assert r.status_code == 201, r.text


def test_hw_ak_sk_method(server, admin):
    uid, name, pw = make_user(server, admin)
    ak, sk = make_key(server, admin, uid)
    body = {"auth": {"identity": {"methods": ["hw_ak_sk"], "hw_ak_sk": {"access": {"key": ak}, "secret": {"key": sk}}},
                     "scope": {"project": {"name": "local"}}}}
    r = requests.post(server.base + "/v3/auth/tokens", json=body)
    assert r.status_code == 201, r.text
    t = r.json()["token"]
    assert t["methods"] == ["hw_ak_sk"]
    assert t["user"]["id"] == uid and t["project"]["id"] == server.project_id
    h = {"X-Auth-Token": r.headers["X-Subject-Token"]}
    me = requests.get(f"{server.base}/v3/users/{uid}", headers=h)
    assert me.status_code == 200 and me.json()["user"]["name"] == name
    # obtaining a token counts as a use of the key
    g = requests.get(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=admin)
    assert g.status_code == 200 and g.json()["credential"]["last_use_time"], g.text

    bad = {"auth": {"identity": {"methods": ["hw_ak_sk"], "hw_ak_sk": {"access": {"key": ak}, "secret": {"key": sk[:-1] + ("x" if sk[-1] != "x" else "y")}}}}}
    assert_iam_error(requests.post(server.base + "/v3/auth/tokens", json=bad), 401)
    unknown = {"auth": {"identity": {"methods": ["hw_ak_sk"], "hw_ak_sk": {"access": {"key": "NOSUCHKEY0000000000"}, "secret": {"key": sk}}}}}
    assert_iam_error(requests.post(server.base + "/v3/auth/tokens", json=unknown), 401)
    # an inactive key cannot be traded for a token
    p = requests.put(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=admin,
                     json={"credential": {"status": "inactive"}})
    assert p.status_code == 200, p.text
    assert_iam_error(requests.post(server.base + "/v3/auth/tokens", json=body), 401)


def test_token_method_rescoping(server, admin):
    uid, name, pw = make_user(server, admin)
    domain_tok, t0 = token_for(server.base, name, pw, "admin")
    assert "project" in t0 or "domain" in t0
    body = {"auth": {"identity": {"methods": ["token"], "token": {"id": domain_tok}},
                     "scope": {"project": {"name": "local"}}}}
    r = requests.post(server.base + "/v3/auth/tokens", json=body)
    assert r.status_code == 201, r.text
    t = r.json()["token"]
    assert t["methods"] == ["token"]
    assert t["user"]["id"] == uid
    assert t["project"]["id"] == server.project_id
    assert parse_time(t["expires_at"]) <= parse_time(t0["expires_at"])
    new_tok = r.headers["X-Subject-Token"]
    assert new_tok != domain_tok
    # both tokens stay valid
    for tok in (domain_tok, new_tok):
        assert requests.get(server.base + "/v3/auth/projects", headers={"X-Auth-Token": tok}).status_code == 200
    # Keystone fallback: token taken from X-Auth-Token when token.id is absent
    body2 = {"auth": {"identity": {"methods": ["token"], "token": {}}, "scope": {"project": {"id": server.project_id}}}}
    r2 = requests.post(server.base + "/v3/auth/tokens", json=body2, headers={"X-Auth-Token": domain_tok})
    assert r2.status_code == 201, r2.text
    assert r2.json()["token"]["user"]["id"] == uid
    # an invalid presented token
    body3 = {"auth": {"identity": {"methods": ["token"], "token": {"id": "MIIbogus"}}}}
    assert_iam_error(requests.post(server.base + "/v3/auth/tokens", json=body3), 401, "IAM.0067")


def test_validate_own_token_get_head(server, admin):
    uid, name, pw, h = user_with_token(server, admin)
    tok = h["X-Auth-Token"]
    r = requests.get(server.base + "/v3/auth/tokens", headers={**h, "X-Subject-Token": tok})
    assert r.status_code == 200, r.text
    assert r.headers["X-Subject-Token"] == tok
    t = r.json()["token"]
    assert t["user"]["id"] == uid and t["methods"] == ["password"]
    assert t["project"]["id"] == server.project_id
    assert isinstance(t["catalog"], list) and t["catalog"]
    r = requests.get(server.base + "/v3/auth/tokens?nocatalog=true", headers={**h, "X-Subject-Token": tok})
    assert r.status_code == 200 and r.json()["token"]["catalog"] == []
    r = requests.head(server.base + "/v3/auth/tokens", headers={**h, "X-Subject-Token": tok})
    assert r.status_code in (200, 204), r.status_code
    assert r.content == b""
    # unknown subject -> 404
    r = requests.get(server.base + "/v3/auth/tokens", headers={**h, "X-Subject-Token": "MIIbogus"})
    assert_iam_error(r, 404, "IAM.0009")
    r = requests.head(server.base + "/v3/auth/tokens", headers={**h, "X-Subject-Token": "MIIbogus"})
    assert r.status_code == 404 and r.content == b""
    # no subject at all -> 404 as well
    r = requests.get(server.base + "/v3/auth/tokens", headers=h)
    assert_iam_error(r, 404)


def test_validate_other_users_token_needs_admin(server, admin):
    _, _, _, h1 = user_with_token(server, admin)
    _, _, _, h2 = user_with_token(server, admin)
    r = requests.get(server.base + "/v3/auth/tokens", headers={**h1, "X-Subject-Token": h2["X-Auth-Token"]})
    assert_iam_error(r, 403)
    r = requests.delete(server.base + "/v3/auth/tokens", headers={**h1, "X-Subject-Token": h2["X-Auth-Token"]})
    assert_iam_error(r, 403)
    assert requests.get(server.base + "/v3/auth/projects", headers=h2).status_code == 200
    # the owner may inspect it
    r = requests.get(server.base + "/v3/auth/tokens", headers={**admin, "X-Subject-Token": h2["X-Auth-Token"]})
    assert r.status_code == 200, r.text


def test_revoke_own_token(server, admin):
    uid, name, pw, h = user_with_token(server, admin)
    other_tok, _ = token_for(server.base, name, pw, "admin", project="local")
    tok = h["X-Auth-Token"]
    r = requests.delete(server.base + "/v3/auth/tokens", headers={**h, "X-Subject-Token": tok})
    assert r.status_code == 204, r.text
    assert r.content == b""
    r = requests.get(server.base + "/v3/auth/projects", headers=h)
    assert_iam_error(r, 401, "IAM.0067")
    r = requests.get(f"{server.base}/v3/users/{uid}", headers=h)
    assert_iam_error(r, 401)
    # the revoked token can no longer be inspected or rescoped
    r = requests.get(server.base + "/v3/auth/tokens", headers={**admin, "X-Subject-Token": tok})
    assert_iam_error(r, 404, "IAM.0009")
    body = {"auth": {"identity": {"methods": ["token"], "token": {"id": tok}}}}
    assert_iam_error(requests.post(server.base + "/v3/auth/tokens", json=body), 401)
    # revoking one token leaves the user's other tokens alone
    assert requests.get(server.base + "/v3/auth/projects", headers={"X-Auth-Token": other_tok}).status_code == 200


def test_admin_revokes_another_users_token(server, admin):
    _, _, _, h = user_with_token(server, admin)
    r = requests.delete(server.base + "/v3/auth/tokens", headers={**admin, "X-Subject-Token": h["X-Auth-Token"]})
    assert r.status_code == 204, r.text
    assert_iam_error(requests.get(server.base + "/v3/auth/projects", headers=h), 401)


def test_subject_token_of_another_account_is_404(server, other_account):
    _, _, other_h, _ = other_account
    r = requests.get(server.base + "/v3/auth/tokens", headers={**other_h, "X-Subject-Token": server.admin_token})
    assert_iam_error(r, 404, "IAM.0009")
    r = requests.delete(server.base + "/v3/auth/tokens", headers={**other_h, "X-Subject-Token": server.admin_token})
    assert_iam_error(r, 404)
    assert requests.get(server.base + "/v3/users", headers={"X-Auth-Token": server.admin_token}).status_code == 200


def test_invalid_token_header_is_401(server):
    assert_iam_error(requests.get(server.base + "/v3/users", headers={"X-Auth-Token": "MIIbogus"}), 401, "IAM.0067")


def test_user_token_roles_reflect_grants(server, admin):
    gid = requests.post(server.base + "/v3/groups", headers=admin, json={"group": {"name": unique("grp")}}).json()["group"]["id"]
    guest = role_id(server, admin, "Tenant Guest")
    assert requests.put(f"{server.base}/v3/projects/{server.project_id}/groups/{gid}/roles/{guest}",
                        headers=admin).status_code == 204
    uid, name, pw = make_user(server, admin, groups=[gid])
    _, t = token_for(server.base, name, pw, "admin", project="local")
    assert {"id": guest, "name": "readonly"} in t["roles"], t["roles"]
    _, td = token_for(server.base, name, pw, "admin")
    assert all(x["name"] != "readonly" for x in td["roles"]), td["roles"]
    assert all(x["name"] != "te_admin" for x in t["roles"])
    # a member of the admin group is shown as te_admin
    uid2, name2, pw2 = make_user(server, admin, groups=[admin_group_id(server, admin)])
    _, t2 = token_for(server.base, name2, pw2, "admin", project="local")
    assert {"id": "0", "name": "te_admin"} in t2["roles"]


@pytest.fixture(scope="module")
def short_ttl():
    s = Server(extra_env={"ATELIER_TOKEN_TTL_S": "1"})
    yield s
    s.cleanup()


def test_expired_token_is_401(short_ttl):
    s = short_ttl
    tok, t = token_for(s.base, "admin", ADMIN_PASSWORD, "admin", project="local")
    life = parse_time(t["expires_at"]) - parse_time(t["issued_at"])
    assert life == datetime.timedelta(seconds=1), life
    h = {"X-Auth-Token": tok}
    assert requests.get(s.base + "/v3/auth/projects", headers=h).status_code == 200
    # a rescoped token can not outlive the one it came from
    body = {"auth": {"identity": {"methods": ["token"], "token": {"id": tok}}}}
    r = requests.post(s.base + "/v3/auth/tokens", json=body)
    assert r.status_code == 201, r.text
    assert parse_time(r.json()["token"]["expires_at"]) <= parse_time(t["expires_at"])
    time.sleep(1.3)
    r = requests.get(s.base + "/v3/auth/projects", headers=h)
    assert_iam_error(r, 401, "IAM.0066")
    assert_iam_error(requests.get(s.base + "/v3/users", headers=h), 401)
    assert_iam_error(requests.post(s.base + "/v3/auth/tokens", json=body), 401)
    # a fresh login still works, and sees the old token as invalid
    tok2, _ = token_for(s.base, "admin", ADMIN_PASSWORD, "admin", project="local")
    h2 = {"X-Auth-Token": tok2}
    assert requests.get(s.base + "/v3/auth/projects", headers=h2).status_code == 200
    assert_iam_error(requests.get(s.base + "/v3/auth/tokens", headers={**h2, "X-Subject-Token": tok}), 404, "IAM.0009")
    assert requests.head(s.base + "/v3/auth/tokens", headers={**h2, "X-Subject-Token": tok}).status_code == 404


def test_revoke_expired_token_204(short_ttl):
    s = short_ttl
    tok, _ = token_for(s.base, "admin", ADMIN_PASSWORD, "admin", project="local")
    time.sleep(1.3)
    tok2, _ = token_for(s.base, "admin", ADMIN_PASSWORD, "admin", project="local")
    r = requests.delete(s.base + "/v3/auth/tokens", headers={"X-Auth-Token": tok2, "X-Subject-Token": tok})
    assert r.status_code == 204, r.text
