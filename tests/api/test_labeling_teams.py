"""Labeling teams and their members: CRUD, lists, the
ModelArts error codes, and members as users of the account."""
import requests
import pytest

from conftest import ADMIN_PASSWORD, Server, second_account, token_for, unique


@pytest.fixture(scope="module")
def srv():
    s = Server()
    tok, body = token_for(s.base, "admin", ADMIN_PASSWORD, "admin", project="local")
    s.project_id, s.domain_id = body["project"]["id"], body["user"]["domain"]["id"]
    s.h = {"X-Auth-Token": tok}
    yield s
    s.cleanup()


def url(srv, path="", pid=None):
    return f"{srv.base}/v2/{pid or srv.project_id}/workforces{path}"


def err(r, status, code):
    assert r.status_code == status and r.json()["error_code"] == code, (r.status_code, r.text)
    return r.json()


def team(srv, name=None, **kw):
    r = requests.post(url(srv), headers=srv.h, json={"workforce_name": name or unique("team"), **kw})
    assert r.status_code == 201, r.text
    return r.json()["workforce_id"]


def test_teams_crud_and_lists(srv):
    a = team(srv, "team-alpha", description="first")
    b = team(srv, "team-beta")
    g = requests.get(url(srv, "/" + a), headers=srv.h).json()
    assert g["workforce_name"] == "team-alpha" and g["description"] == "first" and g["worker_count"] == 0
    assert g["workspace_id"] == "0" and g["create_time"] > 0 and g["update_time"] >= g["create_time"]
    err(requests.post(url(srv), headers=srv.h, json={"workforce_name": "team-alpha"}), 400, "ModelArts.4602")
    for body, field in [({}, "workforce_name"), ({"workforce_name": "bad name"}, "workforce_name"),
                        ({"workforce_name": "x" * 65}, "workforce_name"),
                        ({"workforce_name": "okname", "description": "a<b"}, "description"),
                        ({"workforce_name": "okname", "description": "d" * 257}, "description")]:
        r = requests.post(url(srv), headers=srv.h, json=body)
        assert r.status_code == 400 and field in r.json()["error_msg"], (body, r.text)
    lst = requests.get(url(srv), headers=srv.h, params={"sort_by": "workforce_name", "order": "asc", "search_content": "team-"}).json()
    names = [w["workforce_name"] for w in lst["workforces"]]
    assert names[:2] == ["team-alpha", "team-beta"] and lst["total_number"] >= 2
    page = requests.get(url(srv), headers=srv.h, params={"sort_by": "workforce_name", "order": "asc", "search_content": "team-",
                                                         "limit": 1, "offset": 1}).json()
    assert [w["workforce_name"] for w in page["workforces"]] == ["team-beta"]
    assert requests.get(url(srv), headers=srv.h, params={"search_content": "%"}).json()["total_number"] == 0  # literal %
    for params in [{"sort_by": "name"}, {"order": "up"}, {"limit": 0}, {"limit": 101}, {"offset": -1}]:
        assert requests.get(url(srv), headers=srv.h, params=params).status_code == 400, params
    assert requests.put(url(srv, "/" + b), headers=srv.h, json={"workforce_name": "team-gamma", "description": "renamed"}).json() == {}
    g = requests.get(url(srv, "/" + b), headers=srv.h).json()
    assert g["workforce_name"] == "team-gamma" and g["description"] == "renamed"
    err(requests.put(url(srv, "/" + b), headers=srv.h, json={"workforce_name": "team-alpha"}), 400, "ModelArts.4602")
    assert requests.delete(url(srv, "/" + b), headers=srv.h).status_code == 204
    err(requests.get(url(srv, "/" + b), headers=srv.h), 400, "ModelArts.4601")
    err(requests.delete(url(srv, "/" + b), headers=srv.h), 400, "ModelArts.4601")


def test_members_crud_lists_and_batches(srv):
    t = team(srv)
    r = requests.post(url(srv, f"/{t}/workers"), headers=srv.h, json={"emails": "Ann@Example.com", "role": "2", "description": "lead"})
    assert r.status_code == 201 and r.json() == {}, r.text
    r = requests.post(url(srv, f"/{t}/workers"), headers=srv.h, json={"emails": "bob@example.com, cid@example.com", "role": 0})
    assert r.status_code == 201, r.text
    r = requests.post(url(srv, f"/{t}/workers"), headers=srv.h, json={"emails": ["dee@example.com"], "role": 1})
    assert r.status_code == 201, r.text
    ws = requests.get(url(srv, f"/{t}/workers"), headers=srv.h, params={"sort_by": "email", "order": "asc"}).json()
    assert ws["total_number"] == 4
    assert [(w["email"], w["role"]) for w in ws["workers"]] == [("ann@example.com", 2), ("bob@example.com", 0),
                                                                 ("cid@example.com", 0), ("dee@example.com", 1)]
    ann = ws["workers"][0]
    assert ann["description"] == "lead" and ann["workforce_id"] == t and ann["status"] == 0 and len(ann["worker_id"]) == 32
    assert requests.get(url(srv, "/" + t), headers=srv.h).json()["worker_count"] == 4
    # all or none: one taken or bad address adds nobody
    err(requests.post(url(srv, f"/{t}/workers"), headers=srv.h, json={"emails": "new1@example.com,bob@example.com", "role": 0}),
        400, "ModelArts.4605")
    for body, field in [({"emails": "new1@example.com,not-an-address", "role": 0}, "emails"),
                        ({"emails": "new1@example.com,new1@example.com", "role": 0}, "emails"),
                        ({"emails": "new1@example.com"}, "role"), ({"emails": "new1@example.com", "role": 3}, "role"),
                        ({"emails": "new1@example.com", "role": "x"}, "role"), ({"role": 0}, "emails"),
                        ({"emails": "", "role": 0}, "emails"), ({"emails": 5, "role": 0}, "emails"),
                        ({"emails": "new1@example.com", "role": 0, "description": "a=b"}, "description")]:
        r = requests.post(url(srv, f"/{t}/workers"), headers=srv.h, json=body)
        assert r.status_code == 400 and field in r.json()["error_msg"], (body, r.text)
    assert requests.get(url(srv, f"/{t}/workers"), headers=srv.h).json()["total_number"] == 4
    # across teams, with the role filter
    t2 = team(srv)
    requests.post(url(srv, f"/{t2}/workers"), headers=srv.h, json={"emails": "bob@example.com", "role": 1})
    every = requests.get(url(srv, "/workers"), headers=srv.h, params={"limit": 100}).json()
    assert sum(w["email"] == "bob@example.com" for w in every["workers"]) == 2
    reviewers = requests.get(url(srv, "/workers"), headers=srv.h, params={"role": 1, "limit": 100}).json()["workers"]
    assert {w["email"] for w in reviewers} >= {"dee@example.com", "bob@example.com"} and all(w["role"] == 1 for w in reviewers)
    # get, update, delete
    bob = [w for w in ws["workers"] if w["email"] == "bob@example.com"][0]
    g = requests.get(url(srv, f"/{t}/workers/{bob['worker_id']}"), headers=srv.h).json()
    assert g["email"] == "bob@example.com" and g["role"] == 0
    assert requests.put(url(srv, f"/{t}/workers/{bob['worker_id']}"), headers=srv.h, json={"role": 1, "description": "now reviews"}).json() == {}
    g = requests.get(url(srv, f"/{t}/workers/{bob['worker_id']}"), headers=srv.h).json()
    assert g["role"] == 1 and g["description"] == "now reviews"
    assert requests.put(url(srv, f"/{t}/workers/{bob['worker_id']}"), headers=srv.h, json={"role": 9}).status_code == 400
    # one manager a team (ann is it)
    err(requests.put(url(srv, f"/{t}/workers/{bob['worker_id']}"), headers=srv.h, json={"role": 2}), 400, "ModelArts.4617")
    err(requests.post(url(srv, f"/{t}/workers"), headers=srv.h, json={"emails": "boss@example.com", "role": 2}), 400, "ModelArts.4617")
    err(requests.get(url(srv, f"/{t2}/workers/{bob['worker_id']}"), headers=srv.h), 400, "ModelArts.4604")  # another team's
    assert requests.delete(url(srv, f"/{t}/workers/{bob['worker_id']}"), headers=srv.h).status_code == 204
    err(requests.get(url(srv, f"/{t}/workers/{bob['worker_id']}"), headers=srv.h), 400, "ModelArts.4604")
    # batch delete: all or none
    rest = [w["worker_id"] for w in requests.get(url(srv, f"/{t}/workers"), headers=srv.h).json()["workers"]]
    err(requests.post(url(srv, f"/{t}/workers/batch-delete"), headers=srv.h, json={"workers": rest + ["nope"]}), 400, "ModelArts.4604")
    assert requests.get(url(srv, f"/{t}/workers"), headers=srv.h).json()["total_number"] == 3
    r = requests.post(url(srv, f"/{t}/workers/batch-delete"), headers=srv.h, json={"workers": rest[:2]})
    assert r.status_code == 200 and r.json() == {"success": True, "results": [{"success": True}, {"success": True}]}
    assert requests.get(url(srv, f"/{t}/workers"), headers=srv.h).json()["total_number"] == 1
    # deleting a team deletes its members
    assert requests.delete(url(srv, "/" + t), headers=srv.h).status_code == 204
    assert all(w["workforce_id"] != t for w in requests.get(url(srv, "/workers"), headers=srv.h, params={"limit": 100}).json()["workers"])


def test_members_are_users_of_the_account(srv):
    t = team(srv)
    # an IAM user with the address already: linked, not duplicated
    r = requests.post(f"{srv.base}/v3.0/OS-USER/users", headers=srv.h, json={"user": {
        "name": "erin", "password": "Erin-pass-1", "domain_id": srv.domain_id, "email": "erin@example.com"}})
    assert r.status_code == 201, r.text
    requests.post(url(srv, f"/{t}/workers"), headers=srv.h, json={"emails": "erin@example.com,frank.o@example.com", "role": 0})
    ws = {w["email"]: w for w in requests.get(url(srv, f"/{t}/workers"), headers=srv.h).json()["workers"]}
    assert ws["erin@example.com"]["user_name"] == "erin"
    frank = ws["frank.o@example.com"]["user_name"]
    assert frank == "frank.o"
    users = requests.get(f"{srv.base}/v3/users", headers=srv.h).json()["users"]
    made = [u for u in users if u["name"] == frank]
    assert len(made) == 1 and sum(u["name"] == "erin" for u in users) == 1
    # the made user has no password until the administrator sets one
    r = requests.post(f"{srv.base}/v3/auth/tokens", json={"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": frank, "password": "", "domain": {"name": "admin"}}}}}})
    assert r.status_code in (400, 401)
    # an address a user put on itself links nobody until an administrator sets it
    r = requests.post(f"{srv.base}/v3.0/OS-USER/users", headers=srv.h, json={"user": {
        "name": "mal", "password": "Mal-pass-12", "domain_id": srv.domain_id}})
    mal_id = r.json()["user"]["id"]
    mal_tok, _ = token_for(srv.base, "mal", "Mal-pass-12", "admin")
    assert requests.put(f"{srv.base}/v3.0/OS-USER/users/{mal_id}/info", headers={"X-Auth-Token": mal_tok},
                        json={"user": {"email": "boss@corp.test"}}).status_code == 204
    err(requests.post(url(srv, f"/{t}/workers"), headers=srv.h, json={"emails": "boss@corp.test", "role": 0}), 400, "ModelArts.4633")
    assert requests.put(f"{srv.base}/v3.0/OS-USER/users/{mal_id}", headers=srv.h, json={"user": {"email": "boss@corp.test"}}).status_code == 200
    assert requests.post(url(srv, f"/{t}/workers"), headers=srv.h, json={"emails": "boss@corp.test", "role": 0}).status_code == 201
    # a second team with the same address links the same user
    t2 = team(srv)
    requests.post(url(srv, f"/{t2}/workers"), headers=srv.h, json={"emails": "frank.o@example.com", "role": 1})
    assert requests.get(url(srv, f"/{t2}/workers"), headers=srv.h).json()["workers"][0]["user_name"] == frank
    # signing in shows in the member's status; a member has no permission of its own
    assert ws["erin@example.com"]["status"] == 0
    tok, _ = token_for(srv.base, "erin", "Erin-pass-1", "admin", project="local")
    assert requests.get(url(srv, f"/{t}/workers/{ws['erin@example.com']['worker_id']}"), headers=srv.h).json()["status"] == 2
    assert requests.get(f"{srv.base}/v2/{srv.project_id}/datasets", headers={"X-Auth-Token": tok}).status_code == 403
    assert requests.get(url(srv), headers={"X-Auth-Token": tok}).status_code == 403


def test_other_accounts_see_nothing(srv):
    t = team(srv)
    _, other_pid, other_h, _ = second_account(srv)
    err(requests.get(url(srv, "/" + t, pid=other_pid), headers=other_h), 400, "ModelArts.4601")
    err(requests.post(url(srv, f"/{t}/workers", pid=other_pid), headers=other_h, json={"emails": "x@example.com", "role": 0}),
        400, "ModelArts.4601")
    assert requests.get(url(srv, pid=other_pid), headers=other_h).json()["total_number"] == 0
    assert requests.get(url(srv, "/workers", pid=other_pid), headers=other_h).json()["total_number"] == 0
    assert requests.get(url(srv, "/" + t), headers=other_h).status_code in (403, 404)
