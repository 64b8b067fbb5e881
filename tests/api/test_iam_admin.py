"""IAM administration: projects, users, groups, policies,
grants, enforcement, access keys and account isolation."""
import time
import urllib.parse

import pytest
import requests

from apihelpers import (HEX32, OS_USER_TIME, TOKEN_TIME, admin_group_id, assert_iam_error, make_key,
                        password_token_request, role_id, user_with_token)
from conftest import ADMIN_PASSWORD, make_group, make_policy, make_user, signed, token_for, unique

ALLOW_LIST_USERS = [{"Effect": "Allow", "Action": ["iam:users:listUsers"]}]


def q(s):
    return urllib.parse.quote(s, safe="")


# ============================================================ projects and domains

def test_projects_by_name_returns_exactly_one(server, admin):
    r = requests.get(server.base + "/v3/projects?name=local", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["projects"]) == 1, body
    p = body["projects"][0]
    assert p["id"] == server.project_id and p["name"] == "local"
    assert p["domain_id"] == server.domain_id and p["parent_id"] == server.domain_id
    assert p["enabled"] is True and p["is_domain"] is False and p["description"] == ""
    assert p["links"]["self"].endswith("/v3/projects/" + server.project_id)
    assert body["links"]["self"].endswith("/v3/projects?name=local")
    assert body["links"]["previous"] is None and body["links"]["next"] is None
    r = requests.get(server.base + "/v3/projects?name=nope_nope", headers=admin)
    assert r.status_code == 200 and r.json()["projects"] == []


def test_projects_list_paging_and_bad_params(server, admin):
    r = requests.get(server.base + "/v3/projects?page=1&per_page=1", headers=admin)
    assert r.status_code == 200 and len(r.json()["projects"]) == 1
    assert_iam_error(requests.get(server.base + "/v3/projects?page=1", headers=admin), 400, "IAM.0007")
    assert_iam_error(requests.get(server.base + "/v3/projects?page=0&per_page=1", headers=admin), 400, "IAM.0007")
    assert_iam_error(requests.get(server.base + "/v3/projects?enabled=maybe", headers=admin), 400, "IAM.0007")


def test_get_project(server, admin):
    r = requests.get(f"{server.base}/v3/projects/{server.project_id}", headers=admin)
    assert r.status_code == 200 and r.json()["project"]["name"] == "local"
    assert_iam_error(requests.get(f"{server.base}/v3/projects/{'f' * 32}", headers=admin), 404, "IAM.0004")


def test_auth_projects_domains_regions_for_any_member(server, admin):
    _, _, _, h = user_with_token(server, admin)  # no rights at all
    r = requests.get(server.base + "/v3/auth/projects", headers=h)
    assert r.status_code == 200, r.text
    names = [p["name"] for p in r.json()["projects"]]
    assert "local" in names
    assert all(p["domain_id"] == server.domain_id for p in r.json()["projects"])
    assert r.json()["links"]["self"].endswith("/v3/auth/projects")

    r = requests.get(server.base + "/v3/auth/domains", headers=h)
    assert r.status_code == 200, r.text
    doms = r.json()["domains"]
    assert len(doms) == 1 and doms[0]["id"] == server.domain_id and doms[0]["name"] == "admin"
    assert doms[0]["enabled"] is True
    assert doms[0]["links"]["self"].endswith("/v3/domains/" + server.domain_id)

    r = requests.get(server.base + "/v3/regions", headers=h)
    assert r.status_code == 200, r.text
    regs = r.json()["regions"]
    assert [x["id"] for x in regs] == ["local"] and regs[0]["type"] == "public"

    r = requests.get(server.base + "/v3/projects?name=local", headers=h)
    assert r.status_code == 200 and len(r.json()["projects"]) == 1


def test_create_sub_project(server, admin):
    name = "local_" + unique("p")
    r = requests.post(server.base + "/v3/projects", headers=admin,
                      json={"project": {"name": name, "parent_id": server.project_id, "domain_id": server.domain_id,
                                        "description": "sub"}})
    assert r.status_code == 201, r.text
    p = r.json()["project"]
    assert HEX32.match(p["id"]) and p["id"] != server.project_id
    assert p["name"] == name and p["parent_id"] == server.project_id and p["domain_id"] == server.domain_id
    assert p["description"] == "sub" and p["enabled"] is True and p["is_domain"] is False
    g = requests.get(f"{server.base}/v3/projects/{p['id']}", headers=admin)
    assert g.status_code == 200 and g.json()["project"]["name"] == name
    listed = requests.get(server.base + "/v3/projects?name=" + name, headers=admin).json()["projects"]
    assert [x["id"] for x in listed] == [p["id"]]
    by_parent = requests.get(server.base + "/v3/projects?parent_id=" + server.project_id, headers=admin).json()["projects"]
    assert p["id"] in [x["id"] for x in by_parent] and server.project_id not in [x["id"] for x in by_parent]
    # a token can be scoped to it
    tok, t = token_for(server.base, "admin", ADMIN_PASSWORD, "admin", project=name)
    assert t["project"]["id"] == p["id"]
    # without parent_id the region project is the parent
    name2 = "local_" + unique("p")
    r = requests.post(server.base + "/v3/projects", headers=admin, json={"project": {"name": name2}})
    assert r.status_code == 201 and r.json()["project"]["parent_id"] == server.project_id


@pytest.mark.parametrize("name", ["other_x", "local", "local_", "localx", "local_" + "a" * 60])
def test_create_project_bad_name_400(server, admin, name):
    body = {"project": {"name": name, "parent_id": server.project_id}}
    assert_iam_error(requests.post(server.base + "/v3/projects", headers=admin, json=body), 400)


def test_create_project_bad_parent_or_domain(server, admin):
    r = requests.post(server.base + "/v3/projects", headers=admin,
                      json={"project": {"name": "local_" + unique("p"), "parent_id": "0" * 32}})
    assert_iam_error(r, 400, "IAM.0007")
    r = requests.post(server.base + "/v3/projects", headers=admin,
                      json={"project": {"name": "local_" + unique("p"), "domain_id": "0" * 32}})
    assert_iam_error(r, 403)
    assert_iam_error(requests.post(server.base + "/v3/projects", headers=admin, json={"project": {}}), 400)


def test_create_project_duplicate_409(server, admin):
    name = "local_" + unique("p")
    body = {"project": {"name": name, "parent_id": server.project_id}}
    assert requests.post(server.base + "/v3/projects", headers=admin, json=body).status_code == 201
    assert_iam_error(requests.post(server.base + "/v3/projects", headers=admin, json=body), 409, "IAM.0005")
    assert len(requests.get(server.base + "/v3/projects?name=" + name, headers=admin).json()["projects"]) == 1


def test_concurrent_creates_and_renames_of_one_project_name(server, admin):
    """Many callers racing for one name: exactly one wins, the others get
    409 IAM.0005, never a 500 (the name is checked where it is written)."""
    from concurrent.futures import ThreadPoolExecutor
    name = "local_" + unique("race")
    body = {"project": {"name": name, "parent_id": server.project_id}}
    with ThreadPoolExecutor(8) as pool:
        rs = list(pool.map(lambda _: requests.post(server.base + "/v3/projects", headers=admin, json=body), range(16)))
    assert sorted(r.status_code for r in rs) == [201] + [409] * 15, [r.text for r in rs if r.status_code != 409]
    # renames of different projects to one new name
    ids = [requests.post(server.base + "/v3/projects", headers=admin, json={"project": {
        "name": "local_" + unique("r"), "parent_id": server.project_id}}).json()["project"]["id"] for _ in range(6)]
    new = "local_" + unique("target")
    with ThreadPoolExecutor(6) as pool:
        rs = list(pool.map(lambda pid: requests.patch(f"{server.base}/v3/projects/{pid}", headers=admin,
                                                      json={"project": {"name": new}}), ids))
    assert sorted(r.status_code for r in rs) == [200] + [409] * 5, [r.text for r in rs]
    assert len(requests.get(server.base + "/v3/projects?name=" + new, headers=admin).json()["projects"]) == 1


def test_region_project_recreate_returns_existing(server, admin):
    r = requests.post(server.base + "/v3/projects", headers=admin,
                      json={"project": {"name": "local", "domain_id": server.domain_id}})
    assert r.status_code == 201, r.text
    assert r.json()["project"]["id"] == server.project_id
    assert len(requests.get(server.base + "/v3/projects?name=local", headers=admin).json()["projects"]) == 1


def test_patch_project(server, admin):
    name = "local_" + unique("p")
    pid = requests.post(server.base + "/v3/projects", headers=admin,
                        json={"project": {"name": name, "parent_id": server.project_id}}).json()["project"]["id"]
    new = "local_" + unique("q")
    r = requests.patch(f"{server.base}/v3/projects/{pid}", headers=admin,
                       json={"project": {"name": new, "description": "renamed"}})
    assert r.status_code == 200, r.text
    p = r.json()["project"]
    assert p["name"] == new and p["description"] == "renamed" and p["extra"] == {}
    assert requests.get(f"{server.base}/v3/projects/{pid}", headers=admin).json()["project"]["name"] == new
    # description only
    r = requests.patch(f"{server.base}/v3/projects/{pid}", headers=admin, json={"project": {"description": "d2"}})
    assert r.status_code == 200 and r.json()["project"]["name"] == new and r.json()["project"]["description"] == "d2"
    assert_iam_error(requests.patch(f"{server.base}/v3/projects/{pid}", headers=admin, json={"project": {}}), 400)
    assert_iam_error(requests.patch(f"{server.base}/v3/projects/{pid}", headers=admin,
                                    json={"project": {"name": "bad"}}), 400)
    # the region project keeps its name
    assert_iam_error(requests.patch(f"{server.base}/v3/projects/{server.project_id}", headers=admin,
                                    json={"project": {"name": "local_renamed"}}), 400)
    # name clash
    other = "local_" + unique("p")
    requests.post(server.base + "/v3/projects", headers=admin, json={"project": {"name": other}})
    assert_iam_error(requests.patch(f"{server.base}/v3/projects/{pid}", headers=admin,
                                    json={"project": {"name": other}}), 409, "IAM.0005")
    assert_iam_error(requests.patch(f"{server.base}/v3/projects/{'0' * 32}", headers=admin,
                                    json={"project": {"description": "x"}}), 404)


def test_project_admin_calls_need_rights(server, admin):
    _, _, _, h = user_with_token(server, admin)
    r = requests.post(server.base + "/v3/projects", headers=h, json={"project": {"name": "local_" + unique("p")}})
    assert_iam_error(r, 403, "IAM.0003")
    r = requests.patch(f"{server.base}/v3/projects/{server.project_id}", headers=h, json={"project": {"description": "x"}})
    assert_iam_error(r, 403, "IAM.0003")


# ============================================================ users

def test_create_user_os_form(server, admin):
    name = unique("osu")
    r = requests.post(server.base + "/v3.0/OS-USER/users", headers=admin, json={"user": {
        "name": name, "password": "User-pass-1", "domain_id": server.domain_id, "email": name + "@example.com",
        "areacode": "0086", "phone": "13800000000", "description": "d", "access_mode": "programmatic"}})
    assert r.status_code == 201, r.text
    u = r.json()["user"]
    assert HEX32.match(u["id"]) and u["name"] == name and u["domain_id"] == server.domain_id
    assert u["enabled"] is True and u["pwd_status"] is True and u["is_domain_owner"] is False
    assert u["email"] == name + "@example.com" and u["areacode"] == "0086" and u["phone"] == "13800000000"
    assert u["access_mode"] == "programmatic" and u["description"] == "d"
    assert OS_USER_TIME.match(u["create_time"]), u["create_time"]
    assert "password" not in u and "User-pass-1" not in r.text
    g = requests.get(f"{server.base}/v3.0/OS-USER/users/{u['id']}", headers=admin)
    assert g.status_code == 200, g.text
    gu = g.json()["user"]
    assert gu["name"] == name and gu["pwd_strength"] in ("Low", "Medium", "Strong", "None")
    assert gu["last_login_time"] is None
    assert gu["links"]["self"].endswith("/v3.0/OS-USER/users/" + u["id"])
    # a programmatic user may get a token
    tok, _ = token_for(server.base, name, "User-pass-1", "admin")
    g = requests.get(f"{server.base}/v3.0/OS-USER/users/{u['id']}", headers=admin)
    assert OS_USER_TIME.match(g.json()["user"]["last_login_time"])


def test_create_user_keystone_form(server, admin):
    name = unique("ksu")
    r = requests.post(server.base + "/v3/users", headers=admin,
                      json={"user": {"name": name, "password": "User-pass-1", "domain_id": server.domain_id,
                                     "description": "k", "enabled": True}})
    assert r.status_code == 201, r.text
    u = r.json()["user"]
    assert HEX32.match(u["id"]) and u["name"] == name and u["description"] == "k"
    assert u["enabled"] is True and u["pwd_status"] is False and u["password_expires_at"] is None
    assert u["links"]["self"].endswith("/v3/users/" + u["id"])
    assert "User-pass-1" not in r.text
    tok, t = token_for(server.base, name, "User-pass-1", "admin", project="local")
    assert t["user"]["id"] == u["id"]
    # a user without password cannot log in
    name2 = unique("nopw")
    r = requests.post(server.base + "/v3/users", headers=admin, json={"user": {"name": name2}})
    assert r.status_code == 201, r.text
    assert_iam_error(password_token_request(server.base, name2, "Anything-1"), 401, "IAM.0062")


@pytest.mark.parametrize("field,value,code", [
    ("name", "1abc", "1101"),
    ("name", " abc", "1101"),
    ("name", "a/b", "1101"),
    ("name", "x" * 33, "1101"),
    ("password", "abcdefgh", "1103"),
    ("password", "Ab1", "1103"),
    ("email", "not-an-email", "1102"),
    ("areacode", "0086", "1106"),
    ("phone", "12345", "1106"),
    ("access_mode", "web", "1120"),
])
def test_create_user_validation(server, admin, field, value, code):
    user = {"name": unique("val"), "password": "User-pass-1", "domain_id": server.domain_id}
    user[field] = value
    r = requests.post(server.base + "/v3.0/OS-USER/users", headers=admin, json={"user": user})
    assert_iam_error(r, 400, code)
    if field != "name":
        assert requests.get(server.base + "/v3/users?name=" + user["name"], headers=admin).json()["users"] == []


def test_user_name_length_boundary(server, admin):
    name = "n" + unique("")[:10]
    name = name + "x" * (32 - len(name))
    r = requests.post(server.base + "/v3.0/OS-USER/users", headers=admin,
                      json={"user": {"name": name, "password": "User-pass-1", "domain_id": server.domain_id}})
    assert r.status_code == 201 and r.json()["user"]["name"] == name
    r = requests.post(server.base + "/v3.0/OS-USER/users", headers=admin,
                      json={"user": {"name": "Zoë " + unique("u"), "password": "User-pass-1", "domain_id": server.domain_id}})
    assert r.status_code == 201, r.text


def test_user_name_counts_characters_not_bytes(server, admin):
    name = "用户" * 6 + unique("")[:4]
    assert len(name) <= 32 < len(name.encode())
    r = requests.post(server.base + "/v3.0/OS-USER/users", headers=admin,
                      json={"user": {"name": name, "password": "User-pass-1", "domain_id": server.domain_id}})
    assert r.status_code == 201, r.text
    assert r.json()["user"]["name"] == name


def test_group_name_counts_characters_not_bytes(server, admin):
    name = unique("")[:4] + "组" * 26
    assert len(name) <= 64 < len(name.encode())
    r = requests.post(server.base + "/v3/groups", headers=admin, json={"group": {"name": name}})
    assert r.status_code == 201, r.text
    assert r.json()["group"]["name"] == name


def test_create_user_missing_name_1100(server, admin):
    r = requests.post(server.base + "/v3.0/OS-USER/users", headers=admin, json={"user": {"password": "User-pass-1"}})
    assert_iam_error(r, 400, "1100")


def test_duplicate_user_names(server, admin):
    uid, name, _ = make_user(server, admin)
    r = requests.post(server.base + "/v3.0/OS-USER/users", headers=admin,
                      json={"user": {"name": name, "password": "User-pass-1", "domain_id": server.domain_id}})
    assert_iam_error(r, 400, "1109")
    r = requests.post(server.base + "/v3/users", headers=admin, json={"user": {"name": name, "password": "User-pass-1"}})
    body = assert_iam_error(r, 409, "IAM.0005")
    assert body["error"]["title"] == "Conflict"
    assert len(requests.get(server.base + "/v3/users?name=" + name, headers=admin).json()["users"]) == 1


def test_user_in_other_domain_id_refused(server, admin):
    r = requests.post(server.base + "/v3.0/OS-USER/users", headers=admin,
                      json={"user": {"name": unique("u"), "password": "User-pass-1", "domain_id": "0" * 32}})
    assert_iam_error(r, 403)


def test_list_get_update_delete_user(server, admin):
    uid, name, pw = make_user(server, admin)
    r = requests.get(server.base + "/v3/users", headers=admin)
    assert r.status_code == 200
    users = r.json()["users"]
    assert uid in [u["id"] for u in users] and "admin" in [u["name"] for u in users]
    assert all(u["domain_id"] == server.domain_id for u in users)
    r = requests.get(server.base + "/v3/users?name=" + name, headers=admin)
    assert [u["id"] for u in r.json()["users"]] == [uid]
    ku = r.json()["users"][0]
    for k in ("id", "name", "domain_id", "enabled", "description", "password_expires_at", "pwd_status",
              "last_project_id", "pwd_strength", "links"):
        assert k in ku, ku
    r = requests.get(f"{server.base}/v3/users/{uid}", headers=admin)
    assert r.status_code == 200 and r.json()["user"]["name"] == name

    # OS-USER update
    new_name = unique("ren")
    r = requests.put(f"{server.base}/v3.0/OS-USER/users/{uid}", headers=admin,
                     json={"user": {"name": new_name, "description": "upd", "email": new_name + "@x.org"}})
    assert r.status_code == 200, r.text
    u = r.json()["user"]
    assert u["name"] == new_name and u["description"] == "upd" and u["email"] == new_name + "@x.org"
    # Keystone update
    r = requests.patch(f"{server.base}/v3/users/{uid}", headers=admin, json={"user": {"description": "ks"}})
    assert r.status_code == 200, r.text
    u = r.json()["user"]
    assert u["description"] == "ks" and u["name"] == new_name and u["extra"]["description"] == "ks"
    assert_iam_error(requests.put(f"{server.base}/v3.0/OS-USER/users/{uid}", headers=admin, json={"user": {}}), 400, "1100")
    assert_iam_error(requests.put(f"{server.base}/v3.0/OS-USER/users/{uid}", headers=admin,
                                  json={"user": {"name": "9bad"}}), 400, "1101")
    assert_iam_error(requests.patch(f"{server.base}/v3/users/{uid}", headers=admin,
                                    json={"user": {"enabled": "no"}}), 400, "IAM.0073")
    # renaming onto an existing name
    assert_iam_error(requests.put(f"{server.base}/v3.0/OS-USER/users/{uid}", headers=admin,
                                  json={"user": {"name": "admin"}}), 400, "1109")
    assert_iam_error(requests.patch(f"{server.base}/v3/users/{uid}", headers=admin,
                                    json={"user": {"name": "admin"}}), 409)
    # new password through admin update must differ
    assert_iam_error(requests.put(f"{server.base}/v3.0/OS-USER/users/{uid}", headers=admin,
                                  json={"user": {"password": pw}}), 400, "1108")

    r = requests.delete(f"{server.base}/v3/users/{uid}", headers=admin)
    assert r.status_code == 204 and r.content == b""
    assert_iam_error(requests.get(f"{server.base}/v3/users/{uid}", headers=admin), 404, "IAM.0004")
    assert_iam_error(requests.delete(f"{server.base}/v3/users/{uid}", headers=admin), 404)
    assert requests.get(server.base + "/v3/users?name=" + new_name, headers=admin).json()["users"] == []
    assert_iam_error(password_token_request(server.base, new_name, pw), 401)


def test_delete_user_ends_its_tokens_and_keys(server, admin):
    uid, name, pw, h = user_with_token(server, admin)
    ak, sk = make_key(server, admin, uid)
    assert signed("GET", server.base + "/v3/auth/projects", ak, sk).status_code == 200
    assert requests.delete(f"{server.base}/v3/users/{uid}", headers=admin).status_code == 204
    assert_iam_error(requests.get(server.base + "/v3/auth/projects", headers=h), 401)
    assert signed("GET", server.base + "/v3/auth/projects", ak, sk).status_code == 401
    assert_iam_error(requests.get(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=admin), 404)


def test_owner_cannot_be_deleted_disabled_or_renamed(server, admin):
    me = requests.get(server.base + "/v3/users?name=admin", headers=admin).json()["users"][0]
    r = requests.delete(f"{server.base}/v3/users/{me['id']}", headers=admin)
    assert_iam_error(r, 400, "1107")
    assert_iam_error(requests.patch(f"{server.base}/v3/users/{me['id']}", headers=admin,
                                    json={"user": {"enabled": False}}), 400)
    assert_iam_error(requests.put(f"{server.base}/v3.0/OS-USER/users/{me['id']}", headers=admin,
                                  json={"user": {"name": unique("owner")}}), 400)
    os_me = requests.get(f"{server.base}/v3.0/OS-USER/users/{me['id']}", headers=admin).json()["user"]
    assert os_me["is_domain_owner"] is True and os_me["enabled"] is True and os_me["name"] == "admin"
    assert requests.get(server.base + "/v3/users", headers=admin).status_code == 200


def test_change_own_password_revokes_tokens(server, admin):
    uid, name, pw, h = user_with_token(server, admin)
    second, _ = token_for(server.base, name, pw, "admin")
    url = f"{server.base}/v3/users/{uid}/password"
    # wrong original password
    assert_iam_error(requests.post(url, headers=h, json={"user": {"password": "New-pass-22", "original_password": "Wrong-1x"}}), 401)
    # same as the old one
    assert_iam_error(requests.post(url, headers=h, json={"user": {"password": pw, "original_password": pw}}), 400, "1108")
    # weak
    assert_iam_error(requests.post(url, headers=h, json={"user": {"password": "weakweak", "original_password": pw}}), 400, "1103")
    # missing field
    assert_iam_error(requests.post(url, headers=h, json={"user": {"password": "New-pass-22"}}), 400)
    assert requests.get(server.base + "/v3/auth/projects", headers=h).status_code == 200

    r = requests.post(url, headers=h, json={"user": {"password": "New-pass-22", "original_password": pw}})
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_iam_error(requests.get(server.base + "/v3/auth/projects", headers=h), 401)
    assert_iam_error(requests.get(server.base + "/v3/auth/projects", headers={"X-Auth-Token": second}), 401)
    assert_iam_error(password_token_request(server.base, name, pw), 401, "IAM.0062")
    tok, _ = token_for(server.base, name, "New-pass-22", "admin", project="local")
    assert requests.get(server.base + "/v3/auth/projects", headers={"X-Auth-Token": tok}).status_code == 200


def test_change_password_of_another_user_needs_rights(server, admin):
    uid1, _, _, h1 = user_with_token(server, admin)
    uid2, _, pw2 = make_user(server, admin)
    r = requests.post(f"{server.base}/v3/users/{uid2}/password", headers=h1,
                      json={"user": {"password": "New-pass-22", "original_password": pw2}})
    assert_iam_error(r, 403)


def test_admin_password_reset_revokes_tokens(server, admin):
    uid, name, pw, h = user_with_token(server, admin)
    r = requests.put(f"{server.base}/v3.0/OS-USER/users/{uid}", headers=admin, json={"user": {"password": "Reset-pass-9"}})
    assert r.status_code == 200, r.text
    assert_iam_error(requests.get(server.base + "/v3/auth/projects", headers=h), 401)
    token_for(server.base, name, "Reset-pass-9", "admin")


def test_disabled_user(server, admin):
    uid, name, pw, h = user_with_token(server, admin)
    ak, sk = make_key(server, admin, uid)
    assert signed("GET", server.base + "/v3/auth/projects", ak, sk).status_code == 200
    r = requests.patch(f"{server.base}/v3/users/{uid}", headers=admin, json={"user": {"enabled": False}})
    assert r.status_code == 200 and r.json()["user"]["enabled"] is False
    # existing tokens stop working
    r = requests.get(server.base + "/v3/auth/projects", headers=h)
    assert r.status_code in (401, 403), r.text
    assert_iam_error(r, r.status_code)
    # no new token
    r = password_token_request(server.base, name, pw, scope={"project": {"name": "local"}})
    assert_iam_error(r, 403, "IAM.0082")
    # its access keys are unusable
    assert_iam_error(signed("GET", server.base + "/v3/auth/projects", ak, sk), 403, "IAM.0082")
    body = {"auth": {"identity": {"methods": ["hw_ak_sk"], "hw_ak_sk": {"access": {"key": ak}, "secret": {"key": sk}}}}}
    assert_iam_error(requests.post(server.base + "/v3/auth/tokens", json=body), 403)
    # enabled again
    assert requests.put(f"{server.base}/v3.0/OS-USER/users/{uid}", headers=admin,
                        json={"user": {"enabled": True}}).status_code == 200
    token_for(server.base, name, pw, "admin", project="local")
    assert signed("GET", server.base + "/v3/auth/projects", ak, sk).status_code == 200


def test_disabled_at_creation(server, admin):
    name = unique("dis")
    r = requests.post(server.base + "/v3/users", headers=admin,
                      json={"user": {"name": name, "password": "User-pass-1", "enabled": False}})
    assert r.status_code == 201 and r.json()["user"]["enabled"] is False
    assert_iam_error(password_token_request(server.base, name, "User-pass-1"), 403, "IAM.0082")


def test_console_user_cannot_get_token(server, admin):
    name = unique("con")
    r = requests.post(server.base + "/v3.0/OS-USER/users", headers=admin, json={"user": {
        "name": name, "password": "User-pass-1", "domain_id": server.domain_id, "access_mode": "console"}})
    assert r.status_code == 201, r.text
    uid = r.json()["user"]["id"]
    assert r.json()["user"]["access_mode"] == "console"
    r = password_token_request(server.base, name, "User-pass-1", scope={"project": {"name": "local"}})
    assert_iam_error(r, 403, "IAM.0081")
    # keys may be created but not used
    ak, sk = make_key(server, admin, uid)
    assert_iam_error(signed("GET", server.base + "/v3/auth/projects", ak, sk), 403, "IAM.0081")
    # switched to default: tokens work
    assert requests.put(f"{server.base}/v3.0/OS-USER/users/{uid}", headers=admin,
                        json={"user": {"access_mode": "default"}}).status_code == 200
    token_for(server.base, name, "User-pass-1", "admin")


def test_update_own_info(server, admin):
    uid, name, pw, h = user_with_token(server, admin)
    r = requests.put(f"{server.base}/v3.0/OS-USER/users/{uid}/info", headers=h,
                     json={"user": {"email": name + "@mail.org", "mobile": "0086-13900000000"}})
    assert r.status_code == 204, r.text
    u = requests.get(f"{server.base}/v3.0/OS-USER/users/{uid}", headers=h).json()["user"]
    assert u["email"] == name + "@mail.org" and u["areacode"] == "0086" and u["phone"] == "13900000000"
    assert_iam_error(requests.put(f"{server.base}/v3.0/OS-USER/users/{uid}/info", headers=h,
                                  json={"user": {"mobile": "13900000000"}}), 400, "1104")
    # not for somebody else
    other, _, _ = make_user(server, admin)
    assert_iam_error(requests.put(f"{server.base}/v3.0/OS-USER/users/{other}/info", headers=h,
                                  json={"user": {"email": "a@b.c"}}), 403)


# ============================================================ groups

def test_group_crud(server, admin):
    name = unique("grp")
    r = requests.post(server.base + "/v3/groups", headers=admin,
                      json={"group": {"name": name, "description": "first", "domain_id": server.domain_id}})
    assert r.status_code == 201, r.text
    g = r.json()["group"]
    gid = g["id"]
    assert HEX32.match(gid) and g["name"] == name and g["description"] == "first"
    assert g["domain_id"] == server.domain_id and isinstance(g["create_time"], int)
    assert abs(g["create_time"] / 1000 - time.time()) < 120
    assert g["links"]["self"].endswith("/v3/groups/" + gid)
    assert_iam_error(requests.post(server.base + "/v3/groups", headers=admin, json={"group": {"name": name}}), 409, "IAM.0005")
    assert_iam_error(requests.post(server.base + "/v3/groups", headers=admin, json={"group": {}}), 400)
    assert_iam_error(requests.post(server.base + "/v3/groups", headers=admin,
                                   json={"group": {"name": "x" * 65}}), 400)

    r = requests.get(server.base + "/v3/groups", headers=admin)
    assert r.status_code == 200 and gid in [x["id"] for x in r.json()["groups"]]
    assert "admin" in [x["name"] for x in r.json()["groups"]]
    r = requests.get(server.base + "/v3/groups?name=" + name, headers=admin)
    assert [x["id"] for x in r.json()["groups"]] == [gid]
    r = requests.get(f"{server.base}/v3/groups/{gid}", headers=admin)
    assert r.status_code == 200 and r.json()["group"]["name"] == name

    new = unique("grp")
    r = requests.patch(f"{server.base}/v3/groups/{gid}", headers=admin, json={"group": {"name": new, "description": "second"}})
    assert r.status_code == 200, r.text
    assert r.json()["group"]["name"] == new and r.json()["group"]["description"] == "second"
    r = requests.patch(f"{server.base}/v3/groups/{gid}", headers=admin, json={"group": {"description": "third"}})
    assert r.status_code == 200 and r.json()["group"]["name"] == new and r.json()["group"]["description"] == "third"
    assert_iam_error(requests.patch(f"{server.base}/v3/groups/{gid}", headers=admin, json={"group": {}}), 400)
    assert_iam_error(requests.patch(f"{server.base}/v3/groups/{gid}", headers=admin,
                                    json={"group": {"name": "admin"}}), 409)

    r = requests.delete(f"{server.base}/v3/groups/{gid}", headers=admin)
    assert r.status_code == 204 and r.content == b""
    assert_iam_error(requests.get(f"{server.base}/v3/groups/{gid}", headers=admin), 404, "IAM.0004")
    assert_iam_error(requests.delete(f"{server.base}/v3/groups/{gid}", headers=admin), 404)


def test_group_membership(server, admin):
    gid = make_group(server, admin)
    uid, name, _ = make_user(server, admin)
    url = f"{server.base}/v3/groups/{gid}/users/{uid}"
    r = requests.head(url, headers=admin)
    assert r.status_code == 404 and r.content == b""
    r = requests.put(url, headers=admin)
    assert r.status_code == 204 and r.content == b""
    assert requests.put(url, headers=admin).status_code == 204  # idempotent
    r = requests.head(url, headers=admin)
    assert r.status_code == 204 and r.content == b""

    r = requests.get(f"{server.base}/v3/groups/{gid}/users", headers=admin)
    assert r.status_code == 200, r.text
    members = r.json()["users"]
    assert [m["id"] for m in members] == [uid]
    assert members[0]["name"] == name and "extra" in members[0]

    r = requests.get(f"{server.base}/v3/users/{uid}/groups", headers=admin)
    assert r.status_code == 200 and [g["id"] for g in r.json()["groups"]] == [gid]

    r = requests.delete(url, headers=admin)
    assert r.status_code == 204
    assert requests.head(url, headers=admin).status_code == 404
    assert_iam_error(requests.delete(url, headers=admin), 404)
    assert requests.get(f"{server.base}/v3/groups/{gid}/users", headers=admin).json()["users"] == []
    assert requests.get(f"{server.base}/v3/users/{uid}/groups", headers=admin).json()["groups"] == []
    # unknown user / group
    assert_iam_error(requests.put(f"{server.base}/v3/groups/{gid}/users/{'0' * 32}", headers=admin), 404)
    assert_iam_error(requests.put(f"{server.base}/v3/groups/{'0' * 32}/users/{uid}", headers=admin), 404)


def test_own_groups_without_rights(server, admin):
    gid = make_group(server, admin)
    uid, _, _, h = user_with_token(server, admin, groups=[gid])
    r = requests.get(f"{server.base}/v3/users/{uid}/groups", headers=h)
    assert r.status_code == 200 and [g["id"] for g in r.json()["groups"]] == [gid]
    other, _, _ = make_user(server, admin)
    assert_iam_error(requests.get(f"{server.base}/v3/users/{other}/groups", headers=h), 403, "IAM.0003")
    assert_iam_error(requests.get(f"{server.base}/v3/groups/{gid}/users", headers=h), 403)
    assert_iam_error(requests.get(server.base + "/v3/groups", headers=h), 403)


def test_admin_group_protected(server, admin):
    agid = admin_group_id(server, admin)
    assert_iam_error(requests.delete(f"{server.base}/v3/groups/{agid}", headers=admin), 400)
    assert_iam_error(requests.patch(f"{server.base}/v3/groups/{agid}", headers=admin,
                                    json={"group": {"name": unique("notadmin")}}), 400)
    # description may change
    r = requests.patch(f"{server.base}/v3/groups/{agid}", headers=admin, json={"group": {"description": "admins"}})
    assert r.status_code == 200 and r.json()["group"]["name"] == "admin"
    owner = requests.get(server.base + "/v3/users?name=admin", headers=admin).json()["users"][0]["id"]
    assert_iam_error(requests.delete(f"{server.base}/v3/groups/{agid}/users/{owner}", headers=admin), 400)
    assert requests.head(f"{server.base}/v3/groups/{agid}/users/{owner}", headers=admin).status_code == 204
    assert requests.get(f"{server.base}/v3/groups/{agid}", headers=admin).json()["group"]["name"] == "admin"


def test_admin_group_member_is_iam_admin(server, admin):
    agid = admin_group_id(server, admin)
    uid, _, _, h = user_with_token(server, admin, groups=[agid])
    assert requests.get(server.base + "/v3/users", headers=h).status_code == 200
    gid = make_group(server, h)
    assert requests.delete(f"{server.base}/v3/groups/{gid}", headers=h).status_code == 204
    # leaving the group takes the rights away
    assert requests.delete(f"{server.base}/v3/groups/{agid}/users/{uid}", headers=admin).status_code == 204
    assert_iam_error(requests.get(server.base + "/v3/users", headers=h), 403)


# ============================================================ roles, custom policies

def test_roles_filters(server, admin):
    r = requests.get(server.base + "/v3/roles", headers=admin)
    assert r.status_code == 200, r.text
    roles = r.json()["roles"]
    assert r.json()["total_number"] == len(roles) >= 8
    names = {x["display_name"]: x for x in roles}
    for dn in ("FullAccess", "Tenant Administrator", "Tenant Guest", "Security Administrator",
               "ModelArts FullAccess", "ModelArts CommonOperations"):
        assert dn in names, dn
    assert names["Security Administrator"]["name"] == "secu_admin" and names["Security Administrator"]["type"] == "AX"
    assert names["Tenant Administrator"]["name"] == "te_admin"
    assert names["ModelArts FullAccess"]["type"] == "XA" and names["ModelArts FullAccess"]["flag"] == "fine_grained"
    assert all(x["domain_id"] is None for x in roles)
    assert all(x["type"] != "XX" for x in roles)
    sa = names["Security Administrator"]
    assert sa["links"]["self"].endswith("/v3/roles/" + sa["id"]) and sa["policy"]["Version"] == "1.0"

    r = requests.get(server.base + "/v3/roles?display_name=Administrator", headers=admin)
    got = {x["display_name"] for x in r.json()["roles"]}
    assert {"Tenant Administrator", "Security Administrator", "OBS Administrator"} <= got
    assert all("Administrator" in d for d in got)
    assert r.json()["total_number"] == len(got)
    r = requests.get(server.base + "/v3/roles?display_name=administrator", headers=admin)
    assert r.json()["roles"] == []  # case-sensitive
    r = requests.get(server.base + "/v3/roles?display_name=Security%20Administrator", headers=admin)
    assert [x["name"] for x in r.json()["roles"]] == ["secu_admin"]

    r = requests.get(server.base + "/v3/roles?type=project", headers=admin)
    types = {x["type"] for x in r.json()["roles"]}
    assert types <= {"AA", "XA"} and "XA" in types and "AA" in types
    r = requests.get(server.base + "/v3/roles?type=domain", headers=admin)
    assert {x["type"] for x in r.json()["roles"]} <= {"AA", "AX"}
    r = requests.get(server.base + "/v3/roles?display_name=ModelArts%20FullAccess&type=project&page=1&per_page=300", headers=admin)
    assert [x["display_name"] for x in r.json()["roles"]] == ["ModelArts FullAccess"]

    r = requests.get(server.base + "/v3/roles?permission_type=policy", headers=admin)
    pol = r.json()["roles"]
    assert pol and all(x["flag"] == "fine_grained" and x["policy"]["Version"] == "1.1" for x in pol)
    r = requests.get(server.base + "/v3/roles?permission_type=role", headers=admin)
    rol = r.json()["roles"]
    assert rol and all(x["flag"] is None and x["policy"]["Version"] == "1.0" for x in rol)
    assert len(pol) + len(rol) == len(roles)
    r = requests.get(server.base + "/v3/roles?name=te_admin", headers=admin)
    assert [x["display_name"] for x in r.json()["roles"]] == ["Tenant Administrator"]
    r = requests.get(server.base + "/v3/roles?catalog=ModelArts", headers=admin)
    assert r.json()["roles"] and all(x["catalog"] == "ModelArts" for x in r.json()["roles"])
    assert_iam_error(requests.get(server.base + "/v3/roles?type=bogus", headers=admin), 400, "IAM.0007")
    assert_iam_error(requests.get(server.base + "/v3/roles?permission_type=bogus", headers=admin), 400)
    assert_iam_error(requests.get(server.base + "/v3/roles?page=1&per_page=301", headers=admin), 400)
    r = requests.get(server.base + "/v3/roles?page=2&per_page=3", headers=admin)
    assert [x["id"] for x in r.json()["roles"]] == [x["id"] for x in roles[3:6]]
    assert r.json()["total_number"] == len(roles)

    r = requests.get(f"{server.base}/v3/roles/{sa['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["role"]["name"] == "secu_admin"
    assert_iam_error(requests.get(f"{server.base}/v3/roles/{'0' * 32}", headers=admin), 404)


def test_roles_display_name_plus_encoded_space(server, admin):
    r = requests.get(server.base + "/v3/roles", headers=admin, params={"display_name": "Security Administrator"})
    assert "+" in r.url
    assert r.status_code == 200
    assert [x["name"] for x in r.json()["roles"]] == ["secu_admin"]


def custom_body(name=None, type_="AX", statements=None, **extra):
    role = {"display_name": name or unique("pol"), "type": type_, "description": "test",
            "policy": {"Version": "1.1", "Statement": statements or ALLOW_LIST_USERS}}
    role.update(extra)
    return {"role": role}


def test_custom_policy_create_get_list_patch_delete(server, admin):
    dn = unique("pol")
    body = custom_body(dn, "XA", [{"Effect": "Allow", "Action": ["modelarts:dataset:list"],
                                   "Condition": {"StringEquals": {"g:ProjectName": ["local"]}}}])
    r = requests.post(server.base + "/v3.0/OS-ROLE/roles", headers=admin, json=body)
    assert r.status_code == 201, r.text
    role = r.json()["role"]
    rid = role["id"]
    assert HEX32.match(rid) and role["display_name"] == dn and role["type"] == "XA"
    assert role["catalog"] == "CUSTOMED" and role["domain_id"] == server.domain_id
    assert role["name"].startswith("custom_" + server.domain_id + "_")
    assert role["references"] == 0 and role["flag"] is None
    assert isinstance(role["created_time"], str) and role["created_time"].isdigit()
    assert isinstance(role["updated_time"], str) and role["updated_time"].isdigit()
    assert role["policy"] == body["role"]["policy"]
    assert role["links"]["self"].endswith("/v3/roles/" + rid)

    r = requests.get(f"{server.base}/v3.0/OS-ROLE/roles/{rid}", headers=admin)
    assert r.status_code == 200 and r.json()["role"]["display_name"] == dn and r.json()["role"]["references"] == 0
    r = requests.get(f"{server.base}/v3/roles/{rid}", headers=admin)
    assert r.status_code == 200 and r.json()["role"]["id"] == rid
    r = requests.get(server.base + "/v3.0/OS-ROLE/roles", headers=admin)
    assert r.status_code == 200 and rid in [x["id"] for x in r.json()["roles"]]
    assert r.json()["total_number"] == len(r.json()["roles"])
    assert all(x["domain_id"] == server.domain_id for x in r.json()["roles"])
    r = requests.get(server.base + "/v3/roles?domain_id=" + server.domain_id, headers=admin)
    assert rid in [x["id"] for x in r.json()["roles"]]
    assert rid not in [x["id"] for x in requests.get(server.base + "/v3/roles", headers=admin).json()["roles"]]

    # names are numbered per account
    r2 = requests.post(server.base + "/v3.0/OS-ROLE/roles", headers=admin, json=custom_body())
    assert r2.status_code == 201
    n1 = int(role["name"].rsplit("_", 1)[1])
    n2 = int(r2.json()["role"]["name"].rsplit("_", 1)[1])
    assert n2 > n1

    # full replacement
    dn2 = unique("pol")
    new = custom_body(dn2, "AX", [{"Effect": "Deny", "Action": ["iam:users:*"]}])
    r = requests.patch(f"{server.base}/v3.0/OS-ROLE/roles/{rid}", headers=admin, json=new)
    assert r.status_code == 200, r.text
    assert r.json()["role"]["display_name"] == dn2 and r.json()["role"]["type"] == "AX"
    assert r.json()["role"]["policy"]["Statement"][0]["Effect"] == "Deny"
    got = requests.get(f"{server.base}/v3.0/OS-ROLE/roles/{rid}", headers=admin).json()["role"]
    assert got["display_name"] == dn2 and got["policy"] == new["role"]["policy"]
    # duplicate display_name
    assert_iam_error(requests.post(server.base + "/v3.0/OS-ROLE/roles", headers=admin, json=custom_body(dn2)), 409)
    bad = custom_body(dn2, "AA")
    assert_iam_error(requests.patch(f"{server.base}/v3.0/OS-ROLE/roles/{rid}", headers=admin, json=bad), 400, "IAM.1009")

    r = requests.delete(f"{server.base}/v3.0/OS-ROLE/roles/{rid}", headers=admin)
    assert r.status_code == 200, r.text
    assert_iam_error(requests.get(f"{server.base}/v3.0/OS-ROLE/roles/{rid}", headers=admin), 404)
    assert_iam_error(requests.get(f"{server.base}/v3/roles/{rid}", headers=admin), 404)
    assert_iam_error(requests.delete(f"{server.base}/v3.0/OS-ROLE/roles/{rid}", headers=admin), 404)
    # system roles are not custom policies
    sa = role_id(server, admin, "Security Administrator")
    assert_iam_error(requests.delete(f"{server.base}/v3.0/OS-ROLE/roles/{sa}", headers=admin), 404)
    assert_iam_error(requests.get(f"{server.base}/v3.0/OS-ROLE/roles/{sa}", headers=admin), 404)


@pytest.mark.parametrize("mutate,code", [
    (lambda b: b["role"].update(type="AA"), "IAM.1009"),
    (lambda b: b["role"].update(type="XX"), "IAM.1009"),
    (lambda b: b["role"]["policy"].update(Version="1.0"), "IAM.1024"),
    (lambda b: b["role"]["policy"].pop("Version"), "IAM.1024"),
    (lambda b: b["role"]["policy"].update(Statement=[]), "IAM.1028"),
    (lambda b: b["role"]["policy"].update(Statement=ALLOW_LIST_USERS * 9), "IAM.1028"),
    (lambda b: b["role"]["policy"]["Statement"][0].update(Effect="Maybe"), "IAM.1029"),
    (lambda b: b["role"]["policy"]["Statement"][0].pop("Effect"), "IAM.1029"),
    (lambda b: b["role"].update(catalog="BASE"), "IAM.1006"),
    (lambda b: b["role"].update(flag="fine_grained"), "IAM.1007"),
    (lambda b: b["role"].update(name="custom_x"), "IAM.1008"),
    (lambda b: b["role"].update(display_name="   "), "IAM.1001"),
    (lambda b: b["role"].update(display_name="x" * 65), "IAM.1002"),
    (lambda b: b["role"].pop("type"), "IAM.1004"),
    (lambda b: b["role"].pop("policy"), "IAM.1020"),
    (lambda b: b["role"]["policy"]["Statement"][0].update(Action=[]), "IAM.1030"),
    (lambda b: b["role"]["policy"]["Statement"][0].update(Action=["iam users list"]), "IAM.1035"),
    (lambda b: b["role"]["policy"]["Statement"][0].update(Action=["iam:users:" + "x" * 130]), "IAM.1034"),
    (lambda b: b["role"]["policy"].update(Depends=[]), "IAM.1025"),
    (lambda b: b["role"]["policy"]["Statement"][0].update(Condition={"StringSortOf": {"g:UserName": ["a"]}}), "IAM.1059"),
])
def test_custom_policy_validation(server, admin, mutate, code):
    body = custom_body(statements=[{"Effect": "Allow", "Action": ["iam:users:listUsers"]}])
    mutate(body)
    r = requests.post(server.base + "/v3.0/OS-ROLE/roles", headers=admin, json=body)
    assert_iam_error(r, 400, code)
    dn = body["role"].get("display_name")
    if isinstance(dn, str) and dn.strip():
        listed = requests.get(server.base + "/v3.0/OS-ROLE/roles", headers=admin).json()["roles"]
        assert dn not in [x["display_name"] for x in listed]


def test_custom_policy_not_an_object(server, admin):
    assert_iam_error(requests.post(server.base + "/v3.0/OS-ROLE/roles", headers=admin, json={"role": "x"}), 400, "IAM.1000")
    assert_iam_error(requests.post(server.base + "/v3.0/OS-ROLE/roles", headers=admin, data=b"{oops"), 400, "IAM.0011")


def test_policy_delete_while_granted_409(server, admin):
    rid = make_policy(server, admin, ALLOW_LIST_USERS, type_="AX")
    gid = make_group(server, admin)
    grant_url = f"{server.base}/v3/domains/{server.domain_id}/groups/{gid}/roles/{rid}"
    assert requests.put(grant_url, headers=admin).status_code == 204
    r = requests.get(f"{server.base}/v3.0/OS-ROLE/roles/{rid}", headers=admin)
    assert r.json()["role"]["references"] == 1
    assert_iam_error(requests.delete(f"{server.base}/v3.0/OS-ROLE/roles/{rid}", headers=admin), 409, "IAM.0005")
    assert requests.get(f"{server.base}/v3.0/OS-ROLE/roles/{rid}", headers=admin).status_code == 200
    assert requests.delete(grant_url, headers=admin).status_code == 204
    assert requests.delete(f"{server.base}/v3.0/OS-ROLE/roles/{rid}", headers=admin).status_code == 200


# ============================================================ grants

def test_project_grants(server, admin):
    gid = make_group(server, admin)
    rid = make_policy(server, admin, [{"Effect": "Allow", "Action": ["modelarts:*:*"]}], type_="XA")
    base = f"{server.base}/v3/projects/{server.project_id}/groups/{gid}/roles"
    assert requests.head(f"{base}/{rid}", headers=admin).status_code == 404
    r = requests.put(f"{base}/{rid}", headers=admin)
    assert r.status_code == 204 and r.content == b""
    assert requests.put(f"{base}/{rid}", headers=admin).status_code == 204  # idempotent
    r = requests.head(f"{base}/{rid}", headers=admin)
    assert r.status_code == 204 and r.content == b""
    r = requests.get(base, headers=admin)
    assert r.status_code == 200 and [x["id"] for x in r.json()["roles"]] == [rid]
    assert r.json()["roles"][0]["display_name"]
    # a system role too
    ma = role_id(server, admin, "ModelArts FullAccess")
    assert requests.put(f"{base}/{ma}", headers=admin).status_code == 204
    assert sorted(x["id"] for x in requests.get(base, headers=admin).json()["roles"]) == sorted([rid, ma])
    r = requests.delete(f"{base}/{rid}", headers=admin)
    assert r.status_code == 204
    assert requests.head(f"{base}/{rid}", headers=admin).status_code == 404
    assert_iam_error(requests.delete(f"{base}/{rid}", headers=admin), 404)
    assert [x["id"] for x in requests.get(base, headers=admin).json()["roles"]] == [ma]
    # AX roles are granted at account scope only
    sa = role_id(server, admin, "Security Administrator")
    assert_iam_error(requests.put(f"{base}/{sa}", headers=admin), 409, "IAM.0005")
    # unknown project / group / role
    assert_iam_error(requests.put(f"{server.base}/v3/projects/{'0' * 32}/groups/{gid}/roles/{ma}", headers=admin), 404)
    assert_iam_error(requests.put(f"{server.base}/v3/projects/{server.project_id}/groups/{'0' * 32}/roles/{ma}", headers=admin), 404)
    assert_iam_error(requests.put(f"{base}/{'0' * 32}", headers=admin), 404)


def test_domain_grants(server, admin):
    gid = make_group(server, admin)
    sa = role_id(server, admin, "Security Administrator")
    base = f"{server.base}/v3/domains/{server.domain_id}/groups/{gid}/roles"
    assert requests.head(f"{base}/{sa}", headers=admin).status_code == 404
    assert requests.put(f"{base}/{sa}", headers=admin).status_code == 204
    assert requests.head(f"{base}/{sa}", headers=admin).status_code == 204
    r = requests.get(base, headers=admin)
    assert r.status_code == 200 and [x["name"] for x in r.json()["roles"]] == ["secu_admin"]
    # project grants are separate
    assert requests.get(f"{server.base}/v3/projects/{server.project_id}/groups/{gid}/roles", headers=admin).json()["roles"] == []
    # XA roles are for projects only
    ma = role_id(server, admin, "ModelArts FullAccess")
    assert_iam_error(requests.put(f"{base}/{ma}", headers=admin), 409)
    assert requests.delete(f"{base}/{sa}", headers=admin).status_code == 204
    assert requests.head(f"{base}/{sa}", headers=admin).status_code == 404
    assert requests.get(base, headers=admin).json()["roles"] == []
    # another domain id
    assert_iam_error(requests.put(f"{server.base}/v3/domains/{'0' * 32}/groups/{gid}/roles/{sa}", headers=admin), 404)


def test_inherited_grants(server, admin):
    gid = make_group(server, admin)
    sa = role_id(server, admin, "Security Administrator")
    item = f"{server.base}/v3/OS-INHERIT/domains/{server.domain_id}/groups/{gid}/roles/{sa}/inherited_to_projects"
    lst = f"{server.base}/v3/OS-INHERIT/domains/{server.domain_id}/groups/{gid}/roles/inherited_to_projects"
    assert requests.head(item, headers=admin).status_code == 404
    assert requests.put(item, headers=admin).status_code == 204
    assert requests.head(item, headers=admin).status_code == 204
    r = requests.get(lst, headers=admin)
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["roles"]] == [sa] and r.json()["total_number"] == 1
    # not a plain domain grant
    assert requests.head(f"{server.base}/v3/domains/{server.domain_id}/groups/{gid}/roles/{sa}", headers=admin).status_code == 404
    assert requests.delete(item, headers=admin).status_code == 204
    assert requests.head(item, headers=admin).status_code == 404
    assert requests.get(lst, headers=admin).json()["roles"] == []
    assert_iam_error(requests.delete(item, headers=admin), 404)


def test_enterprise_project_grants(server, admin):
    gid = make_group(server, admin)
    rid = make_policy(server, admin, [{"Effect": "Allow", "Action": ["modelarts:dataset:list"]}], type_="XA")
    base = f"{server.base}/v3.0/OS-PERMISSION/enterprise-projects/0/groups/{gid}/roles"
    r = requests.put(f"{base}/{rid}", headers=admin)
    assert r.status_code == 204, r.text
    r = requests.get(base, headers=admin)
    assert r.status_code == 200 and [x["id"] for x in r.json()["roles"]] == [rid]
    r = requests.get(f"{server.base}/v3.0/OS-PERMISSION/enterprise-projects/0/groups", headers=admin)
    assert r.status_code == 200
    mine = [g for g in r.json()["groups"] if g["id"] == gid]
    assert len(mine) == 1 and set(mine[0]) >= {"createTime", "description", "domainId", "id", "name"}
    assert mine[0]["domainId"] == server.domain_id
    r = requests.get(f"{server.base}/v3.0/OS-PERMISSION/groups/{gid}/enterprise-projects", headers=admin)
    assert r.status_code == 200 and r.json()["enterprise-projects"] == [{"projectId": "0"}]
    # system roles (Version 1.0) cannot be granted on enterprise projects
    sa = role_id(server, admin, "Security Administrator")
    assert_iam_error(requests.put(f"{base}/{sa}", headers=admin), 400, "IAM.0077")
    # fine-grained system policies can
    ma = role_id(server, admin, "ModelArts FullAccess")
    assert requests.put(f"{base}/{ma}", headers=admin).status_code == 204
    assert requests.delete(f"{base}/{ma}", headers=admin).status_code == 204
    # unknown enterprise project
    unknown = f"{server.base}/v3.0/OS-PERMISSION/enterprise-projects/{unique('ep')}/groups/{gid}/roles/{rid}"
    assert_iam_error(requests.put(unknown, headers=admin), 404)
    r = requests.delete(f"{base}/{rid}", headers=admin)
    assert r.status_code == 204
    assert requests.get(base, headers=admin).json()["roles"] == []
    assert_iam_error(requests.delete(f"{base}/{rid}", headers=admin), 404)
    assert requests.get(f"{server.base}/v3.0/OS-PERMISSION/groups/{gid}/enterprise-projects",
                        headers=admin).json()["enterprise-projects"] == []


def test_role_assignments(server, admin):
    gid = make_group(server, admin)
    uid, _, _ = make_user(server, admin, groups=[gid])
    sa = role_id(server, admin, "Security Administrator")
    ma = role_id(server, admin, "ModelArts FullAccess")
    guest = role_id(server, admin, "Tenant Guest")
    assert requests.put(f"{server.base}/v3/domains/{server.domain_id}/groups/{gid}/roles/{sa}", headers=admin).status_code == 204
    assert requests.put(f"{server.base}/v3/projects/{server.project_id}/groups/{gid}/roles/{ma}", headers=admin).status_code == 204
    assert requests.put(f"{server.base}/v3/OS-INHERIT/domains/{server.domain_id}/groups/{gid}/roles/{guest}/inherited_to_projects",
                        headers=admin).status_code == 204
    url = f"{server.base}/v3.0/OS-PERMISSION/role-assignments?domain_id={server.domain_id}"
    r = requests.get(url + "&subject.group_id=" + gid, headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total_num"] == 3 and len(body["role_assignments"]) == 3
    by_role = {a["role"]["id"]: a for a in body["role_assignments"]}
    assert by_role[sa] == {"role": {"id": sa}, "group": {"id": gid}, "scope": {"domain": {"id": server.domain_id}},
                           "is_inherited": False}
    assert by_role[ma]["scope"] == {"project": {"id": server.project_id}} and by_role[ma]["is_inherited"] is False
    assert by_role[guest]["scope"] == {"domain": {"id": server.domain_id}} and by_role[guest]["is_inherited"] is True

    r = requests.get(url + "&subject.group_id=" + gid + "&scope=project", headers=admin)
    assert [a["role"]["id"] for a in r.json()["role_assignments"]] == [ma]
    r = requests.get(url + "&subject.group_id=" + gid + "&scope.domain_id=" + server.domain_id, headers=admin)
    assert [a["role"]["id"] for a in r.json()["role_assignments"]] == [sa]
    r = requests.get(url + "&subject.group_id=" + gid + "&scope.domain_id=" + server.domain_id + "&is_inherited=true", headers=admin)
    assert [a["role"]["id"] for a in r.json()["role_assignments"]] == [guest]
    r = requests.get(url + "&subject.user_id=" + uid, headers=admin)
    assert sorted(a["role"]["id"] for a in r.json()["role_assignments"]) == sorted([sa, ma, guest])
    r = requests.get(url + "&subject.user_id=" + uid + "&include_group=false", headers=admin)
    assert r.json()["role_assignments"] == [] and r.json()["total_num"] == 0
    r = requests.get(url + "&subject.group_id=" + gid + "&role_id=" + ma, headers=admin)
    assert [a["role"]["id"] for a in r.json()["role_assignments"]] == [ma]
    r = requests.get(url + "&subject.group_id=" + gid + "&page=1&per_page=2", headers=admin)
    assert len(r.json()["role_assignments"]) == 2 and r.json()["total_num"] == 3
    # errors
    assert_iam_error(requests.get(f"{server.base}/v3.0/OS-PERMISSION/role-assignments", headers=admin), 400, "IAM.0072")
    assert_iam_error(requests.get(url + "&subject.group_id=" + gid + "&subject.user_id=" + uid, headers=admin), 400)
    assert_iam_error(requests.get(url + "&scope=galaxy", headers=admin), 400)
    assert_iam_error(requests.get(f"{server.base}/v3.0/OS-PERMISSION/role-assignments?domain_id={'0' * 32}", headers=admin), 404)
    # deleting the group drops its grants
    assert requests.delete(f"{server.base}/v3/groups/{gid}", headers=admin).status_code == 204
    r = requests.get(url + "&subject.group_id=" + gid, headers=admin)
    assert r.json()["role_assignments"] == []


def test_user_projects(server, admin):
    gid = make_group(server, admin)
    uid, _, _, h = user_with_token(server, admin, groups=[gid])
    r = requests.get(f"{server.base}/v3/users/{uid}/projects", headers=h)
    assert r.status_code == 200 and r.json()["projects"] == []
    ma = role_id(server, admin, "ModelArts FullAccess")
    grant = f"{server.base}/v3/projects/{server.project_id}/groups/{gid}/roles/{ma}"
    assert requests.put(grant, headers=admin).status_code == 204
    r = requests.get(f"{server.base}/v3/users/{uid}/projects", headers=h)
    assert [p["id"] for p in r.json()["projects"]] == [server.project_id]
    other, _, _ = make_user(server, admin)
    assert_iam_error(requests.get(f"{server.base}/v3/users/{other}/projects", headers=h), 403)


# ============================================================ enforcement

def test_user_without_rights_is_403_then_security_admin_allows(server, admin):
    gid = make_group(server, admin)
    uid, _, _, h = user_with_token(server, admin, groups=[gid])
    r = requests.get(server.base + "/v3/users", headers=h)
    body = assert_iam_error(r, 403, "IAM.0003", in_message="iam:users:listUsers")
    assert body["error"]["title"] == "Forbidden"
    assert_iam_error(requests.post(server.base + "/v3/groups", headers=h, json={"group": {"name": unique("g")}}), 403)
    assert_iam_error(requests.get(server.base + "/v3/roles", headers=h), 403)
    sa = role_id(server, admin, "Security Administrator")
    assert requests.put(f"{server.base}/v3/domains/{server.domain_id}/groups/{gid}/roles/{sa}", headers=admin).status_code == 204
    # same token, effective at once
    r = requests.get(server.base + "/v3/users", headers=h)
    assert r.status_code == 200, r.text
    assert uid in [u["id"] for u in r.json()["users"]]
    g2 = make_group(server, h)
    assert requests.delete(f"{server.base}/v3/groups/{g2}", headers=h).status_code == 204
    # revoked again
    assert requests.delete(f"{server.base}/v3/domains/{server.domain_id}/groups/{gid}/roles/{sa}", headers=admin).status_code == 204
    assert_iam_error(requests.get(server.base + "/v3/users", headers=h), 403)


def test_tenant_administrator_has_no_iam_rights(server, admin):
    gid = make_group(server, admin)
    _, _, _, h = user_with_token(server, admin, groups=[gid])
    te = role_id(server, admin, "Tenant Administrator")
    assert requests.put(f"{server.base}/v3/domains/{server.domain_id}/groups/{gid}/roles/{te}", headers=admin).status_code == 204
    assert_iam_error(requests.get(server.base + "/v3/users", headers=h), 403, "IAM.0003")


def test_custom_allow_then_deny_wins(server, admin):
    gid = make_group(server, admin)
    _, _, _, h = user_with_token(server, admin, groups=[gid])
    allow = make_policy(server, admin, ALLOW_LIST_USERS, type_="AX")
    deny = make_policy(server, admin, [{"Effect": "Deny", "Action": ["iam:users:listUsers"]}], type_="AX")
    dom = f"{server.base}/v3/domains/{server.domain_id}/groups/{gid}/roles"
    assert requests.put(f"{dom}/{allow}", headers=admin).status_code == 204
    r = requests.get(server.base + "/v3/users", headers=h)
    assert r.status_code == 200, r.text
    # only that action
    assert_iam_error(requests.get(server.base + "/v3/groups", headers=h), 403)
    assert requests.put(f"{dom}/{deny}", headers=admin).status_code == 204
    assert_iam_error(requests.get(server.base + "/v3/users", headers=h), 403, "IAM.0003")
    # deny wins over a broad allow as well
    sa = role_id(server, admin, "Security Administrator")
    assert requests.put(f"{dom}/{sa}", headers=admin).status_code == 204
    assert_iam_error(requests.get(server.base + "/v3/users", headers=h), 403)
    assert requests.get(server.base + "/v3/groups", headers=h).status_code == 200
    assert requests.delete(f"{dom}/{deny}", headers=admin).status_code == 204
    assert requests.get(server.base + "/v3/users", headers=h).status_code == 200


def test_deny_in_same_policy_wins(server, admin):
    gid = make_group(server, admin)
    _, _, _, h = user_with_token(server, admin, groups=[gid])
    rid = make_policy(server, admin, [{"Effect": "Allow", "Action": ["iam:users:*"]},
                                      {"Effect": "Deny", "Action": ["iam:users:listUsers"]}], type_="AX")
    assert requests.put(f"{server.base}/v3/domains/{server.domain_id}/groups/{gid}/roles/{rid}", headers=admin).status_code == 204
    assert_iam_error(requests.get(server.base + "/v3/users", headers=h), 403)
    other, _, _ = make_user(server, admin)
    assert requests.get(f"{server.base}/v3/users/{other}", headers=h).status_code == 200


def test_policy_edit_takes_effect_immediately(server, admin):
    gid = make_group(server, admin)
    _, _, _, h = user_with_token(server, admin, groups=[gid])
    rid = make_policy(server, admin, ALLOW_LIST_USERS, type_="AX")
    assert requests.put(f"{server.base}/v3/domains/{server.domain_id}/groups/{gid}/roles/{rid}", headers=admin).status_code == 204
    assert requests.get(server.base + "/v3/users", headers=h).status_code == 200
    body = custom_body(unique("pol"), "AX", [{"Effect": "Allow", "Action": ["iam:groups:listGroups"]}])
    assert requests.patch(f"{server.base}/v3.0/OS-ROLE/roles/{rid}", headers=admin, json=body).status_code == 200
    assert_iam_error(requests.get(server.base + "/v3/users", headers=h), 403)
    assert requests.get(server.base + "/v3/groups", headers=h).status_code == 200


def test_project_grant_does_not_give_iam_rights(server, admin):
    gid = make_group(server, admin)
    _, _, _, h = user_with_token(server, admin, groups=[gid])
    full = role_id(server, admin, "FullAccess")
    assert requests.put(f"{server.base}/v3/projects/{server.project_id}/groups/{gid}/roles/{full}", headers=admin).status_code == 204
    assert_iam_error(requests.get(server.base + "/v3/users", headers=h), 403)
    assert requests.put(f"{server.base}/v3/domains/{server.domain_id}/groups/{gid}/roles/{full}", headers=admin).status_code == 204
    assert requests.get(server.base + "/v3/users", headers=h).status_code == 200


def test_self_routes_need_no_rights(server, admin):
    uid, name, _, h = user_with_token(server, admin)
    other, _, _ = make_user(server, admin)
    r = requests.get(f"{server.base}/v3/users/{uid}", headers=h)
    assert r.status_code == 200 and r.json()["user"]["name"] == name
    r = requests.get(f"{server.base}/v3.0/OS-USER/users/{uid}", headers=h)
    assert r.status_code == 200 and r.json()["user"]["id"] == uid
    assert_iam_error(requests.get(f"{server.base}/v3/users/{other}", headers=h), 403, "IAM.0003")
    assert_iam_error(requests.get(f"{server.base}/v3.0/OS-USER/users/{other}", headers=h), 403)
    # update is an admin action even on oneself
    assert_iam_error(requests.patch(f"{server.base}/v3/users/{uid}", headers=h, json={"user": {"description": "x"}}), 403)


def test_inherited_grant_gives_iam_rights(server, admin):
    gid = make_group(server, admin)
    _, _, _, h = user_with_token(server, admin, groups=[gid])
    assert_iam_error(requests.get(server.base + "/v3/users", headers=h), 403)
    sa = role_id(server, admin, "Security Administrator")
    item = f"{server.base}/v3/OS-INHERIT/domains/{server.domain_id}/groups/{gid}/roles/{sa}/inherited_to_projects"
    assert requests.put(item, headers=admin).status_code == 204
    assert requests.get(server.base + "/v3/users", headers=h).status_code == 200
    assert requests.delete(item, headers=admin).status_code == 204
    assert_iam_error(requests.get(server.base + "/v3/users", headers=h), 403)


def test_iam_admin_by_custom_policy_can_grant(server, admin):
    """A delegated admin manages groups through its own policy."""
    gid = make_group(server, admin)
    _, _, _, h = user_with_token(server, admin, groups=[gid])
    rid = make_policy(server, admin, [{"Effect": "Allow", "Action": ["iam:groups:*", "iam:permissions:*"]}], type_="AX")
    assert requests.put(f"{server.base}/v3/domains/{server.domain_id}/groups/{gid}/roles/{rid}", headers=admin).status_code == 204
    g2 = make_group(server, h)
    guest = role_id(server, admin, "Tenant Guest")
    # iam:roles:* is not granted, but grants only need iam:permissions:*
    assert requests.put(f"{server.base}/v3/projects/{server.project_id}/groups/{g2}/roles/{guest}", headers=h).status_code == 204
    assert_iam_error(requests.get(server.base + "/v3/roles", headers=h), 403)
    assert_iam_error(requests.get(server.base + "/v3/users", headers=h), 403)


# ============================================================ access keys

def test_access_key_lifecycle(server, admin):
    uid, _, _ = make_user(server, admin)
    r = requests.post(server.base + "/v3.0/OS-CREDENTIAL/credentials", headers=admin,
                      json={"credential": {"user_id": uid, "description": "ci"}})
    assert r.status_code == 201, r.text
    c = r.json()["credential"]
    ak, sk = c["access"], c["secret"]
    assert len(ak) >= 16 and ak.isalnum() and len(sk) >= 30
    assert c["user_id"] == uid and c["status"] == "active" and c["description"] == "ci"
    assert TOKEN_TIME.match(c["create_time"]), c

    r = requests.get(server.base + "/v3.0/OS-CREDENTIAL/credentials?user_id=" + uid, headers=admin)
    assert r.status_code == 200, r.text
    creds = r.json()["credentials"]
    assert [x["access"] for x in creds] == [ak]
    assert "secret" not in creds[0] and sk not in r.text
    assert creds[0]["status"] == "active" and creds[0]["description"] == "ci"

    r = requests.get(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=admin)
    assert r.status_code == 200, r.text
    g = r.json()["credential"]
    assert g["access"] == ak and g["user_id"] == uid and "secret" not in g and sk not in r.text
    assert g["last_use_time"] is None

    s = signed("GET", server.base + "/v3/auth/projects", ak, sk)
    assert s.status_code == 200, s.text
    g = requests.get(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=admin).json()["credential"]
    assert g["last_use_time"] and TOKEN_TIME.match(g["last_use_time"]), g

    # a second key is fine, a third is not
    ak2, _ = make_key(server, admin, uid)
    r = requests.post(server.base + "/v3.0/OS-CREDENTIAL/credentials", headers=admin, json={"credential": {"user_id": uid}})
    body = assert_iam_error(r, 400)
    assert "akSkNumExceed" in body["error"]["message"] or body.get("error_code") == "akSkNumExceed"
    assert len(requests.get(server.base + "/v3.0/OS-CREDENTIAL/credentials?user_id=" + uid, headers=admin).json()["credentials"]) == 2

    # deactivate
    r = requests.put(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=admin,
                     json={"credential": {"status": "inactive", "description": "off"}})
    assert r.status_code == 200, r.text
    assert r.json()["credential"]["status"] == "inactive" and r.json()["credential"]["description"] == "off"
    assert "secret" not in r.json()["credential"]
    assert_iam_error(signed("GET", server.base + "/v3/auth/projects", ak, sk), 401, "IAM.1107")
    assert_iam_error(requests.put(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=admin,
                                  json={"credential": {"status": "paused"}}), 400)
    r = requests.put(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=admin,
                     json={"credential": {"status": "active"}})
    assert r.status_code == 200 and r.json()["credential"]["description"] == "off"
    assert signed("GET", server.base + "/v3/auth/projects", ak, sk).status_code == 200

    r = requests.delete(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=admin)
    assert r.status_code == 204 and r.content == b""
    assert_iam_error(requests.get(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=admin), 404)
    assert_iam_error(requests.delete(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=admin), 404)
    assert signed("GET", server.base + "/v3/auth/projects", ak, sk).status_code == 401
    assert [x["access"] for x in requests.get(server.base + "/v3.0/OS-CREDENTIAL/credentials?user_id=" + uid,
                                              headers=admin).json()["credentials"]] == [ak2]
    # room for a new one again
    make_key(server, admin, uid)


def test_deleting_a_key_revokes_owner_tokens(server, admin):
    uid, _, _, h = user_with_token(server, admin)
    ak, sk = make_key(server, admin, uid)
    assert requests.get(server.base + "/v3/auth/projects", headers=h).status_code == 200
    assert requests.delete(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=admin).status_code == 204
    assert_iam_error(requests.get(server.base + "/v3/auth/projects", headers=h), 401)


def test_access_key_bad_requests(server, admin):
    assert_iam_error(requests.post(server.base + "/v3.0/OS-CREDENTIAL/credentials", headers=admin,
                                   json={"credential": {}}), 400)
    assert_iam_error(requests.post(server.base + "/v3.0/OS-CREDENTIAL/credentials", headers=admin,
                                   json={"credential": {"user_id": "0" * 32}}), 404)
    assert_iam_error(requests.get(server.base + "/v3.0/OS-CREDENTIAL/credentials/NOSUCHKEY", headers=admin), 404)


def test_access_keys_self_service(server, admin):
    uid, _, _, h = user_with_token(server, admin)
    other, _, _ = make_user(server, admin)
    ak, sk = make_key(server, h, uid)  # own key without any rights
    r = requests.get(server.base + "/v3.0/OS-CREDENTIAL/credentials", headers=h)
    assert r.status_code == 200 and [x["access"] for x in r.json()["credentials"]] == [ak]
    assert requests.get(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=h).status_code == 200
    assert requests.put(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=h,
                        json={"credential": {"description": "mine"}}).status_code == 200
    # not for another user
    assert_iam_error(requests.post(server.base + "/v3.0/OS-CREDENTIAL/credentials", headers=h,
                                   json={"credential": {"user_id": other}}), 403)
    assert_iam_error(requests.get(server.base + "/v3.0/OS-CREDENTIAL/credentials?user_id=" + other, headers=h), 403)
    oak, _ = make_key(server, admin, other)
    assert_iam_error(requests.get(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{oak}", headers=h), 403)
    assert_iam_error(requests.delete(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{oak}", headers=h), 403)
    assert requests.get(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{oak}", headers=admin).status_code == 200
    # the key signs as its owner
    r = signed("GET", f"{server.base}/v3/users/{uid}", ak, sk)
    assert r.status_code == 200 and r.json()["user"]["id"] == uid
    assert signed("GET", f"{server.base}/v3/users/{other}", ak, sk).status_code == 403
    assert requests.delete(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=h).status_code == 204


# ============================================================ account isolation

def test_account_isolation(server, admin, other_account):
    other_did, other_pid, oh, other_name = other_account
    assert other_did != server.domain_id and other_pid != server.project_id
    # objects of the first account
    gid = make_group(server, admin)
    uid, uname, _ = make_user(server, admin, groups=[gid])
    rid = make_policy(server, admin, ALLOW_LIST_USERS, type_="AX")
    ak, _ = make_key(server, admin, uid)
    sub = "local_" + unique("iso")
    spid = requests.post(server.base + "/v3/projects", headers=admin, json={"project": {"name": sub}}).json()["project"]["id"]

    b = server.base
    for url in (f"/v3/users/{uid}", f"/v3.0/OS-USER/users/{uid}", f"/v3/groups/{gid}", f"/v3/groups/{gid}/users",
                f"/v3/users/{uid}/groups", f"/v3/users/{uid}/projects",
                f"/v3.0/OS-ROLE/roles/{rid}", f"/v3/roles/{rid}", f"/v3.0/OS-CREDENTIAL/credentials/{ak}",
                f"/v3.0/OS-CREDENTIAL/credentials?user_id={uid}",
                f"/v3/projects/{server.project_id}", f"/v3/projects/{spid}",
                f"/v3/projects/{server.project_id}/groups/{gid}/roles",
                f"/v3/domains/{server.domain_id}/groups/{gid}/roles",
                f"/v3.0/OS-PERMISSION/role-assignments?domain_id={server.domain_id}"):
        assert_iam_error(requests.get(b + url, headers=oh), 404)
    # writes are 404 too and have no effect
    assert_iam_error(requests.delete(f"{b}/v3/users/{uid}", headers=oh), 404)
    assert_iam_error(requests.patch(f"{b}/v3/users/{uid}", headers=oh, json={"user": {"description": "pwned"}}), 404)
    assert_iam_error(requests.delete(f"{b}/v3/groups/{gid}", headers=oh), 404)
    assert_iam_error(requests.delete(f"{b}/v3.0/OS-ROLE/roles/{rid}", headers=oh), 404)
    assert_iam_error(requests.put(f"{b}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=oh,
                                  json={"credential": {"status": "inactive"}}), 404)
    assert_iam_error(requests.delete(f"{b}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=oh), 404)
    assert_iam_error(requests.post(f"{b}/v3.0/OS-CREDENTIAL/credentials", headers=oh,
                                   json={"credential": {"user_id": uid}}), 404)
    assert_iam_error(requests.patch(f"{b}/v3/projects/{spid}", headers=oh, json={"project": {"description": "x"}}), 404)
    ogid = make_group(server, oh)
    assert_iam_error(requests.put(f"{b}/v3/groups/{ogid}/users/{uid}", headers=oh), 404)
    assert_iam_error(requests.put(f"{b}/v3/groups/{gid}/users/{uid}", headers=oh), 404)
    assert_iam_error(requests.put(f"{b}/v3/projects/{server.project_id}/groups/{ogid}/roles/{rid}", headers=oh), 404)
    assert_iam_error(requests.put(f"{b}/v3/domains/{other_did}/groups/{ogid}/roles/{rid}", headers=oh), 404)
    assert_iam_error(requests.put(f"{b}/v3/domains/{server.domain_id}/groups/{ogid}/roles/{role_id(server, oh, 'Security Administrator')}",
                                  headers=oh), 404)
    # lists show none of the first account's objects
    users = requests.get(b + "/v3/users", headers=oh).json()["users"]
    assert [u["name"] for u in users] == [other_name]
    assert requests.get(b + "/v3/users?domain_id=" + server.domain_id, headers=oh).json()["users"] == []
    assert requests.get(b + "/v3/users?name=" + uname, headers=oh).json()["users"] == []
    groups = requests.get(b + "/v3/groups", headers=oh).json()["groups"]
    assert gid not in [g["id"] for g in groups] and "admin" in [g["name"] for g in groups]
    assert all(g["domain_id"] == other_did for g in groups)
    assert requests.get(b + "/v3.0/OS-ROLE/roles", headers=oh).json()["roles"] == []
    assert requests.get(b + "/v3/roles?domain_id=" + server.domain_id, headers=oh).json()["roles"] == []
    for path in ("/v3/projects", "/v3/auth/projects"):
        projs = requests.get(b + path, headers=oh).json()["projects"]
        assert [p["id"] for p in projs] == [other_pid], (path, projs)
    assert requests.get(b + "/v3/projects?name=" + sub, headers=oh).json()["projects"] == []
    assert requests.get(b + "/v3.0/OS-CREDENTIAL/credentials", headers=oh).json()["credentials"] == []
    doms = requests.get(b + "/v3/auth/domains", headers=oh).json()["domains"]
    assert [d["id"] for d in doms] == [other_did]
    r = requests.get(f"{b}/v3.0/OS-PERMISSION/role-assignments?domain_id={other_did}", headers=oh)
    assert r.status_code == 200 and all(a["group"]["id"] != gid for a in r.json()["role_assignments"])
    # the same names may exist in both accounts
    r = requests.post(b + "/v3/users", headers=oh, json={"user": {"name": uname, "password": "User-pass-1"}})
    assert r.status_code == 201 and r.json()["user"]["id"] != uid
    # and the first account's objects are untouched
    assert requests.get(f"{b}/v3/users/{uid}", headers=admin).json()["user"]["description"] == ""
    assert requests.get(f"{b}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=admin).json()["credential"]["status"] == "active"
    assert requests.head(f"{b}/v3/groups/{gid}/users/{uid}", headers=admin).status_code == 204
    # a user of the other account logging into the first account fails
    assert_iam_error(password_token_request(server.base, other_name, "Other-pass-1", domain="admin"), 401)


def test_second_account_owner_is_admin_of_its_own(server, other_account):
    other_did, other_pid, oh, other_name = other_account
    r = requests.get(server.base + "/v3/users", headers=oh)
    assert r.status_code == 200
    gid = make_group(server, oh)
    r = requests.get(f"{server.base}/v3/groups/{gid}", headers=oh)
    assert r.json()["group"]["domain_id"] == other_did
    assert_iam_error(requests.get(f"{server.base}/v3/groups/{gid}", headers={"X-Auth-Token": server.admin_token}), 404)


def test_admin_cli_call_and_credential(server, admin, other_account):
    _, _, _, other_name = other_account
    out = server.admin_cli("call", "--account", other_name, "GET", "/v3/auth/domains")
    assert out["domains"][0]["name"] == other_name
    uid, name, _ = make_user(server, admin)
    cred = server.admin_cli("credential-create", "--user", name)
    c = cred["credential"]
    assert c["user_id"] == uid and c["secret"]
    r = signed("GET", f"{server.base}/v3/users/{uid}", c["access"], c["secret"])
    assert r.status_code == 200 and r.json()["user"]["name"] == name
