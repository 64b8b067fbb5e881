"""Team labeling tasks: creation and assignment, members signing
in as themselves to annotate their share and review, stats and metrics, and
isolation between members, tasks and projects."""
import json
import urllib.parse

import pytest
import requests

from conftest import ADMIN_PASSWORD, Server, second_account, token_for, unique
from datahelpers import Api

PW = "Worker-pass-1"


@pytest.fixture(scope="module")
def srv():
    s = Server()
    tok, body = token_for(s.base, "admin", ADMIN_PASSWORD, "admin", project="local")
    s.project_id, s.domain_id = body["project"]["id"], body["user"]["domain"]["id"]
    s.h = {"X-Auth-Token": tok}
    s.api = Api(s, s.h)
    yield s
    s.cleanup()


def v2(srv, path):
    return f"{srv.base}/v2/{srv.project_id}{path}"


def team_with(srv, members):
    """A team of (email, role) members whose users get a password; returns (team id, {email: (worker_id, headers)})."""
    r = requests.post(v2(srv, "/workforces"), headers=srv.h, json={"workforce_name": unique("t")})
    t = r.json()["workforce_id"]
    for email, role in members:
        assert requests.post(v2(srv, f"/workforces/{t}/workers"), headers=srv.h, json={"emails": email, "role": role}).status_code == 201
    out = {}
    for w in requests.get(v2(srv, f"/workforces/{t}/workers"), headers=srv.h, params={"limit": 100}).json()["workers"]:
        users = requests.get(f"{srv.base}/v3/users", headers=srv.h, params={"name": w["user_name"]}).json()["users"]
        uid = users[0]["id"]
        r = requests.put(f"{srv.base}/v3.0/OS-USER/users/{uid}", headers=srv.h, json={"user": {"password": PW}})
        assert r.status_code == 200, r.text
        tok, _ = token_for(srv.base, w["user_name"], PW, "admin", project="local")
        out[w["email"]] = (w["worker_id"], {"X-Auth-Token": tok})
    return t, out


def dataset(srv, n):
    ds, _ = srv.api.create(type_=0, labels=[{"name": "cat"}, {"name": "dog"}], no_source=True)
    ids = srv.api.add(ds, [{"name": f"img{i:03d}.jpg", "data": "aGVsbG8="} for i in range(n)])
    return ds, ids


def task_url(srv, ds, tid="", path=""):
    return v2(srv, f"/datasets/{ds}/workforce-tasks" + (f"/{tid}" if tid else "") + path)


def test_assignment_is_even_deterministic_and_follows_the_members(srv):
    ds, ids = dataset(srv, 30)
    t, m = team_with(srv, [(f"l{i}-{unique('a')}@example.com", 0) for i in range(3)] + [(unique("r") + "@example.com", 1)])
    r = requests.post(task_url(srv, ds), headers=srv.h, json={"task_name": "split", "workforces_config": {"workforces": [{"workforce_id": t}]}})
    assert r.status_code == 200, r.text
    tid = r.json()["task_id"]
    g = requests.get(task_url(srv, ds, tid), headers=srv.h).json()
    assert g["status"] == 1 and g["repetition"] == 1 and g["sample_stats"]["total_sample_count"] == 30
    assert g["workforce_stats"] == {"workforce_count": 1, "labeler_count": 3, "reviewer_count": 1}
    shares = {w["email"]: w["sample_stats"]["total"] for w in g["worker_stats"] if w["role"] == 0}
    assert sorted(shares.values()) == [10, 10, 10]
    # each labeler sees exactly their share, the same at every read
    seen = set()
    for email, (wid, h) in m.items():
        if email.startswith("r"):
            continue
        s = requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=h, params={"limit": 100}).json()
        assert s["sample_count"] == 10 and {x["worker_id"] for x in s["samples"]} == {wid}
        mine = {x["sample_id"] for x in s["samples"]}
        assert not (mine & seen)
        seen |= mine
        again = requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=h, params={"limit": 100}).json()
        assert {x["sample_id"] for x in again["samples"]} == mine
    assert seen == set(ids)
    # repetition 2: every sample to two different labelers
    r = requests.post(task_url(srv, ds), headers=srv.h, json={"task_name": "twice", "repetition": 2,
                                                             "workforces_config": {"workforces": [{"workforce_id": t}]}})
    tid2 = r.json()["task_id"]
    items = requests.get(task_url(srv, ds, tid2, "/data-annotations/samples"), headers=srv.h, params={"limit": 100}).json()
    assert items["sample_count"] == 60
    per_sample = {}
    for x in items["samples"]:
        per_sample.setdefault(x["sample_id"], set()).add(x["worker_id"])
    assert all(len(v) == 2 for v in per_sample.values()) and len(per_sample) == 30
    assert requests.post(task_url(srv, ds), headers=srv.h, json={"task_name": "toomany", "repetition": 4,
                                                                "workforces_config": {"workforces": [{"workforce_id": t}]}}).status_code == 400
    # a labeler leaves: their untouched items are dealt among the others, their work stays theirs
    labelers = sorted((e, v) for e, v in m.items() if not e.startswith("r"))
    (e0, (w0, h0)), (e1, (w1, _)), (e2, (w2, _)) = labelers
    first = requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=h0, params={"limit": 1}).json()["samples"][0]
    r = requests.put(task_url(srv, ds, tid, "/data-annotations/samples"), headers=h0,
                     json={"samples": [{"sample_id": first["sample_id"], "labels": [{"name": "cat"}]}]})
    assert r.status_code == 200, r.text
    r = requests.put(task_url(srv, ds, tid), headers=srv.h, json={"workforces_config": {"workforces": [
        {"workforce_id": t, "workers": [{"worker_id": w1}, {"worker_id": w2}]}]}})
    assert r.status_code == 200, r.text
    g = requests.get(task_url(srv, ds, tid), headers=srv.h).json()
    shares = {w["email"]: w["sample_stats"]["total"] for w in g["worker_stats"]}
    assert shares == {e1: 15, e2: 14} or shares == {e1: 14, e2: 15}, shares
    assert g["sample_stats"]["total_sample_count"] == 30  # 29 dealt again + 1 done by the one who left
    assert requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=h0).status_code == 403  # no longer a member
    # a member with work still open in a task cannot leave the team
    r = requests.delete(v2(srv, f"/workforces/{t}/workers/{w1}"), headers=srv.h)
    assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.4628", r.text
    r = requests.post(v2(srv, f"/workforces/{t}/workers/batch-delete"), headers=srv.h, json={"workers": [w1]})
    assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.4628", r.text


def test_labelers_annotate_reviewers_review(srv):
    ds, ids = dataset(srv, 6)
    t, m = team_with(srv, [("ann-" + unique("x") + "@example.com", 0), ("ben-" + unique("x") + "@example.com", 0),
                           ("rev-" + unique("x") + "@example.com", 1)])
    tid = requests.post(task_url(srv, ds), headers=srv.h, json={"task_name": "flow", "workforces_config": {"workforces": [
        {"workforce_id": t}]}}).json()["task_id"]
    (ea, (wa, ha)), (eb, (wb, hb)), (er, (wr, hr)) = sorted(m.items())
    mine = requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=ha, params={"limit": 100}).json()["samples"]
    theirs = requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=hb, params={"limit": 100}).json()["samples"]
    assert len(mine) == len(theirs) == 3 and all(x["sample_status"] == "un_annotation" for x in mine)
    # a labeler cannot see or touch another's items (404), nor anything of the dataset itself
    other = theirs[0]["sample_id"]
    assert requests.get(task_url(srv, ds, tid, f"/data-annotations/samples/{other}"), headers=ha).status_code == 404
    r = requests.put(task_url(srv, ds, tid, "/data-annotations/samples"), headers=ha,
                     json={"samples": [{"sample_id": other, "labels": [{"name": "cat"}]}]})
    assert r.status_code == 404
    assert requests.get(v2(srv, f"/datasets/{ds}/data-annotations/samples"), headers=ha).status_code == 403
    assert requests.get(v2(srv, f"/datasets/{ds}"), headers=ha).status_code == 403
    # annotations are checked like manual ones, and a batch is all or none
    bad = requests.put(task_url(srv, ds, tid, "/data-annotations/samples"), headers=ha, json={"samples": [
        {"sample_id": mine[0]["sample_id"], "labels": [{"name": "cat"}]},
        {"sample_id": mine[1]["sample_id"], "labels": [{"name": "horse"}]}]})
    assert bad.status_code == 400 and "horse" in bad.json()["error_msg"], bad.text
    assert requests.get(task_url(srv, ds, tid, f"/data-annotations/samples/{mine[0]['sample_id']}"), headers=ha).json()["labels"] == []
    r = requests.put(task_url(srv, ds, tid, "/data-annotations/samples"), headers=ha, json={"samples": [
        {"sample_id": x["sample_id"], "labels": [{"name": "cat" if i % 2 == 0 else "dog"}]} for i, x in enumerate(mine)]})
    assert r.status_code == 200, r.text
    got = requests.get(task_url(srv, ds, tid, f"/data-annotations/samples/{mine[1]['sample_id']}"), headers=ha).json()
    assert [l["name"] for l in got["labels"]] == ["dog"] and got["sample_status"] == "unreviewed"
    # the sample filters of the member lists: label name, search conditions
    dogs = requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=hr, params={"label_name": "dog"}).json()
    assert [x["sample_id"] for x in dogs["samples"]] == [mine[1]["sample_id"]] and dogs["sample_count"] == 1
    named = requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=ha,
                         params={"search_conditions": json.dumps([{"sample_name": mine[2]["sample_name"]}])}).json()
    assert [x["sample_id"] for x in named["samples"]] == [mine[2]["sample_id"]], named
    assert requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=ha,
                        params={"search_conditions": "{bad"}).status_code == 400
    # the dataset itself is unchanged until acceptance
    assert srv.api.sample(ds, mine[1]["sample_id"])["labels"] == []
    # stats: the labeler's own, the owner's whole, per member metrics
    assert requests.get(task_url(srv, ds, tid, "/data-annotations/stats"), headers=ha).json()["sample_stats"]["unreviewed"] == 3
    st = requests.get(task_url(srv, ds, tid, "/data-annotations/stats"), headers=srv.h).json()["sample_stats"]
    assert (st["total"], st["un_annotation"], st["unreviewed"]) == (6, 3, 3)
    met = requests.get(task_url(srv, ds, tid, "/metrics"), headers=srv.h).json()["sample_stats"]
    assert met[ea]["unreviewed"] == 3 and met[eb]["un_annotation"] == 3 and er not in met
    # the reviewer sees every item and passes two, rejects one with a comment
    allitems = requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=hr,
                            params={"sample_state": "__unreviewed__", "limit": 100}).json()
    assert allitems["sample_count"] == 3
    r = requests.post(task_url(srv, ds, tid, "/data-annotations/review"), headers=hr, json={"comments": [
        {"sample_id": mine[0]["sample_id"], "worker_id": wa, "accept": True, "score": "A"},
        {"sample_id": mine[1]["sample_id"], "worker_id": wa, "accept": True, "score": "B"},
        {"sample_id": mine[2]["sample_id"], "worker_id": wa, "accept": False, "comment": "not a cat", "score": "D"}]})
    assert r.status_code == 200, r.text
    back = requests.get(task_url(srv, ds, tid, f"/data-annotations/samples/{mine[2]['sample_id']}"), headers=ha).json()
    assert back["sample_status"] == "rejected" and back["review_comment"] == "not a cat"
    # a labeler sees only their own progress; reviewers do not annotate
    g = requests.get(task_url(srv, ds, tid), headers=ha).json()
    assert [w["worker_id"] for w in g["worker_stats"]] == [wa]
    r = requests.put(task_url(srv, ds, tid, "/data-annotations/samples"), headers=hr, json={"samples": [
        {"sample_id": mine[0]["sample_id"], "worker_id": wa, "labels": [{"name": "dog"}]}]})
    assert (r.status_code, r.json()["error_code"]) == (403, "ModelArts.4600"), r.text
    # the role restriction does not hide a missing task
    r = requests.put(task_url(srv, ds, "nosuchtask", "/data-annotations/samples"), headers=hr, json={"samples": []})
    assert r.status_code in (403, 404) and r.json()["error_code"] != "ModelArts.4600", r.text
    # labelers do not review; a reviewed item no longer changes; the rejected one is redone
    r = requests.post(task_url(srv, ds, tid, "/data-annotations/review"), headers=hb, json={"comments": [
        {"sample_id": mine[0]["sample_id"], "worker_id": wa, "accept": True}]})
    assert (r.status_code, r.json()["error_code"]) == (403, "ModelArts.4600"), r.text
    assert requests.put(task_url(srv, ds, tid, "/data-annotations/samples"), headers=ha, json={"samples": [
        {"sample_id": mine[0]["sample_id"], "labels": [{"name": "dog"}]}]}).status_code == 400
    assert requests.put(task_url(srv, ds, tid, "/data-annotations/samples"), headers=ha, json={"samples": [
        {"sample_id": mine[2]["sample_id"], "labels": [{"name": "dog"}]}]}).status_code == 200
    st = requests.get(task_url(srv, ds, tid, "/data-annotations/stats"), headers=srv.h).json()["sample_stats"]
    assert (st["uncheck"], st["unreviewed"], st["un_annotation"], st["rejected"]) == (2, 1, 3, 0)
    # a member's own task list
    wt = requests.get(v2(srv, "/workforces/worker-tasks"), headers=ha).json()
    assert [x["task_id"] for x in wt["worker_tasks"]] == [tid] and wt["worker_tasks"][0]["sample_stats"]["uncheck"] == 2
    # a member taken out of the team (a reviewer holds no items) loses the task at once
    assert requests.delete(v2(srv, f"/workforces/{t}/workers/{wr}"), headers=srv.h).status_code == 204
    assert requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=hr).status_code == 403
    assert requests.get(task_url(srv, ds, tid), headers=hr).status_code == 403


def test_tasks_crud_and_isolation(srv):
    ds, _ = dataset(srv, 4)
    t, m = team_with(srv, [(unique("z") + "@example.com", 0)])
    (email, (wid, h)), = m.items()
    body = {"task_name": "crud", "description": "d", "workforces_config": {"workforces": [{"workforce_id": t}]}}
    tid = requests.post(task_url(srv, ds), headers=srv.h, json=body).json()["task_id"]
    r = requests.post(task_url(srv, ds), headers=srv.h, json=body)
    assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.4620"
    for bad in [{"task_name": "bad name!", "workforces_config": body["workforces_config"]},
                {"task_name": "ok"}, {"task_name": "ok", "workforces_config": {"workforces": []}},
                {"task_name": "ok", "workforces_config": {"workforces": [{"workforce_id": "nope"}]}},
                {"task_name": "ok", "repetition": 0, "workforces_config": body["workforces_config"]},
                {"task_name": "ok", "description": "a<b", "workforces_config": body["workforces_config"]},
                {"task_name": "ok", "sample_conditions": "%7Bnot", "workforces_config": body["workforces_config"]}]:
        assert requests.post(task_url(srv, ds), headers=srv.h, json=bad).status_code == 400, bad
    lst = requests.get(task_url(srv, ds), headers=srv.h).json()
    assert lst["count"] == 1 and lst["tasks"][0]["task_name"] == "crud"
    # selection: unlabeled only and a count
    srv.api.annotate(ds, [{"sample_id": srv.api.list(ds, limit=1)["samples"][0]["sample_id"], "labels": [{"name": "cat"}]}])
    part = requests.post(task_url(srv, ds), headers=srv.h, json={
        "task_name": "part", "labeled_scope": "unlabeled", "sample_count": 2, "workforces_config": body["workforces_config"]})
    assert part.status_code == 200, part.text
    assert requests.get(task_url(srv, ds, part.json()["task_id"]), headers=srv.h).json()["sample_stats"]["total_sample_count"] == 2
    # a share of the samples
    rated = requests.post(task_url(srv, ds), headers=srv.h, json={
        "task_name": "rated", "sample_rate": 0.5, "workforces_config": body["workforces_config"]})
    assert rated.status_code == 200, rated.text
    assert requests.get(task_url(srv, ds, rated.json()["task_id"]), headers=srv.h).json()["sample_stats"]["total_sample_count"] == 2
    assert requests.post(task_url(srv, ds), headers=srv.h, json={"task_name": "rated2", "sample_rate": 1.5,
                                                                "workforces_config": body["workforces_config"]}).status_code == 400
    # synchronize_data: samples added later reach the labelers; without it they do not
    synced = requests.post(task_url(srv, ds), headers=srv.h, json={
        "task_name": "synced", "synchronize_data": True, "workforces_config": body["workforces_config"]}).json()["task_id"]
    before = requests.get(task_url(srv, ds, synced, "/data-annotations/samples"), headers=h).json()["sample_count"]
    srv.api.add(ds, [{"name": f"late{i}.jpg", "data": "aGVsbG8="} for i in range(3)])
    after = requests.get(task_url(srv, ds, synced, "/data-annotations/samples"), headers=h, params={"limit": 100}).json()
    assert after["sample_count"] == before + 3 and {x["sample_name"] for x in after["samples"]} >= {"late0.jpg", "late1.jpg", "late2.jpg"}
    assert requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=h).json()["sample_count"] == 4
    # agency: created, started later by the manager
    ag = requests.post(task_url(srv, ds), headers=srv.h, json={"task_name": "later", "workforces_config": {"agency": email}}).json()["task_id"]
    assert requests.get(task_url(srv, ds, ag), headers=srv.h).json()["status"] == 6
    assert requests.post(task_url(srv, ds, ag), headers=srv.h, json=body).status_code == 200
    assert requests.get(task_url(srv, ds, ag), headers=srv.h).json()["status"] == 1
    assert requests.post(task_url(srv, ds, ag), headers=srv.h, json=body).status_code == 400  # started already
    # update the name; delete
    assert requests.put(task_url(srv, ds, tid), headers=srv.h, json={"task_name": "crud2"}).status_code == 200
    assert requests.get(task_url(srv, ds, tid), headers=srv.h).json()["task_name"] == "crud2"
    # a member of one task is nobody in another task or another dataset
    ds2, _ = dataset(srv, 2)
    assert requests.get(task_url(srv, ds2, tid), headers=h).status_code in (400, 403)
    other_t, other_m = team_with(srv, [(unique("y") + "@example.com", 0)])
    tid3 = requests.post(task_url(srv, ds), headers=srv.h, json={"task_name": "other", "workforces_config": {"workforces": [
        {"workforce_id": other_t}]}}).json()["task_id"]
    assert requests.get(task_url(srv, ds, tid3, "/data-annotations/samples"), headers=h).status_code == 403
    # another account: nothing exists
    _, opid, oh, _ = second_account(srv)
    r = requests.get(f"{srv.base}/v2/{opid}/datasets/{ds}/workforce-tasks/{tid}", headers=oh)
    assert r.status_code in (400, 404)
    assert requests.delete(task_url(srv, ds, tid), headers=srv.h).status_code == 204
    assert requests.get(task_url(srv, ds, tid), headers=srv.h).json()["error_code"] == "ModelArts.4619"
    # deleting the dataset takes its tasks with it, for the owner and the members alike
    before = requests.get(v2(srv, "/workforces/worker-tasks"), headers=h).json()["count"]
    assert before >= 1
    assert requests.delete(v2(srv, f"/datasets/{ds}"), headers=srv.h).status_code in (200, 204)
    assert requests.get(task_url(srv, ds, tid3), headers=srv.h).status_code in (400, 404)
    assert requests.get(v2(srv, "/workforces/worker-tasks"), headers=h).json()["count"] == 0
    assert requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=h).status_code in (400, 403)


def test_full_flow_with_acceptance(srv):
    """Three labelers and a reviewer, signed in as themselves: the whole
    flow down to the dataset's annotations and the report's numbers."""
    n = 30
    ds, ids = dataset(srv, n)
    want = {sid: ("cat" if i % 3 else "dog") for i, sid in enumerate(ids)}
    t, m = team_with(srv, [(f"lab{i}-{unique('f')}@example.com", 0) for i in range(3)] + [("rev-" + unique("f") + "@example.com", 1)])
    labelers = sorted((e, v) for e, v in m.items() if e.startswith("lab"))
    _, (_, hr) = [x for x in m.items() if x[0].startswith("rev")][0]
    tid = requests.post(task_url(srv, ds), headers=srv.h, json={"task_name": "full", "workforces_config": {"workforces": [
        {"workforce_id": t}]}}).json()["task_id"]

    def annotate(h, only=None, wrong=False):
        items = requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=h, params={"limit": 100}).json()["samples"]
        todo = [x for x in items if only is None or x["sample_id"] in only]
        r = requests.put(task_url(srv, ds, tid, "/data-annotations/samples"), headers=h, json={"samples": [
            {"sample_id": x["sample_id"], "labels": [{"name": ("dog" if want[x["sample_id"]] == "cat" else "cat") if wrong else want[x["sample_id"]]}]}
            for x in todo]})
        assert r.status_code == 200, r.text
        return {x["sample_id"]: x["worker_id"] for x in todo}

    def review_all():
        items = requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=hr,
                             params={"sample_state": "__unreviewed__", "limit": 100}).json()["samples"]
        r = requests.post(task_url(srv, ds, tid, "/data-annotations/review"), headers=hr, json={"comments": [
            {"sample_id": x["sample_id"], "worker_id": x["worker_id"], "accept": True, "score": "A"} for x in items]})
        assert r.status_code == 200, r.text
        return len(items)

    owner_of = {}
    sloppy_email, (sloppy, sloppy_h) = labelers[0]
    owner_of.update(annotate(sloppy_h, wrong=True))  # the first labeler gets every label wrong
    for _, (_, h) in labelers[1:]:
        owner_of.update(annotate(h))
    assert review_all() == n
    # acceptance: 20% sampled; the sloppy labeler's sampled items rejected, the others accepted.
    # (A sample without any of the sloppy labeler's items is cancelled and drawn again.)
    for attempt in range(20):
        r = requests.post(task_url(srv, ds, tid, "/acceptance"), headers=srv.h, json={"sampling_rate": 0.2})
        assert r.status_code == 200, r.text
        check = r.json()["task_id"]
        assert requests.get(task_url(srv, ds, tid), headers=srv.h).json()["status"] == 2
        assert requests.post(task_url(srv, ds, tid, "/acceptance"), headers=srv.h, json={"sampling_num": 1}).json()["error_code"] == "ModelArts.4623"
        rep = requests.get(task_url(srv, ds, tid, "/acceptance/report"), headers=srv.h).json()
        assert (rep["checking_stats"]["total_sample_count"], rep["checking_stats"]["sampled_sample_count"],
                rep["checking_stats"]["checked_sample_count"]) == (30, 6, 0)
        assert sum(w["sampled_sample_count"] for w in rep["worker_stats"]) == 6
        if any(w["worker_id"] == sloppy for w in rep["worker_stats"]):
            break
        assert requests.put(task_url(srv, ds, tid, "/acceptance/status"), headers=srv.h, json={"action": 2}).status_code == 200
        assert requests.get(task_url(srv, ds, tid), headers=srv.h).json()["status"] == 1
    # which items were sampled: batch-comment outside the sample is a 404
    comments, sampled_ids = [], []
    for sid in ids:
        c = {"sample_id": sid, "worker_id": owner_of[sid], "accept": owner_of[sid] != sloppy,
             "score": "A" if owner_of[sid] != sloppy else "D", "comment": "" if owner_of[sid] != sloppy else "wrong label"}
        r = requests.post(task_url(srv, ds, tid, "/acceptance/batch-comment"), headers=srv.h, json={"comments": [c]})
        if r.status_code == 200:
            sampled_ids.append(sid)
            comments.append(c)
        else:
            assert r.status_code == 404, r.text
    assert len(sampled_ids) == 6
    n_bad = sum(1 for c in comments if not c["accept"])
    rep = requests.get(task_url(srv, ds, tid, "/acceptance/report"), headers=srv.h, params={"checking_task_id": check}).json()
    cs = rep["checking_stats"]
    assert (cs["checked_sample_count"], cs["accepted_sample_count"], cs["rejected_sample_count"]) == (6, 6 - n_bad, n_bad)
    assert cs["pass_rate"] == pytest.approx((6 - n_bad) / 6) and cs["total_score"] == 4 * (6 - n_bad) + 1 * n_bad
    by_worker = {w["worker_id"]: w for w in rep["worker_stats"]}
    assert by_worker[sloppy]["pass_rate"] == 0 and by_worker[sloppy]["score"] == "D"
    # end it: accepted and unchecked go into the dataset, rejected go back
    r = requests.put(task_url(srv, ds, tid, "/acceptance/status"), headers=srv.h, json={"action": 4})
    assert r.status_code == 200, r.text
    bad_ids = [c["sample_id"] for c in comments if not c["accept"]]
    assert n_bad > 0
    task = requests.get(task_url(srv, ds, tid), headers=srv.h).json()
    assert task["status"] == 4
    assert task["sample_stats"]["accepted_sample_count"] == n - n_bad and task["sample_stats"]["rejected_sample_count"] == n_bad
    for sid in bad_ids:
        back = requests.get(task_url(srv, ds, tid, f"/data-annotations/samples/{sid}"), headers=sloppy_h).json()
        assert back["sample_status"] == "rejected" and back["review_comment"] == "wrong label"
    # the sloppy labeler redoes the rejected ones, the reviewer passes them, a second acceptance accepts all
    annotate(sloppy_h, only=set(bad_ids))
    assert review_all() == n_bad
    assert requests.post(task_url(srv, ds, tid, "/acceptance"), headers=srv.h, json={"sampling_num": n_bad}).status_code == 200
    assert requests.put(task_url(srv, ds, tid, "/acceptance/status"), headers=srv.h, json={"action": 0}).status_code == 200
    task = requests.get(task_url(srv, ds, tid), headers=srv.h).json()
    assert task["status"] == 3 and task["sample_stats"]["accepted_sample_count"] == n
    # the dataset: what each labeler gave, except the sloppy labeler's unchecked items (accepted as they were)
    got = {s["sample_id"]: [l["name"] for l in s["labels"]] for s in srv.api.all_samples(ds)}
    for sid in ids:
        if owner_of[sid] == sloppy and sid not in bad_ids:
            assert got[sid] == [("dog" if want[sid] == "cat" else "cat")], sid
        else:
            assert got[sid] == [want[sid]], sid
    stats = srv.api.stats(ds)
    assert stats["sample_stats"]["manual_annotation"] == n and stats["sample_stats"]["un_annotation"] == 0, stats
    total = requests.get(task_url(srv, ds, tid, "/acceptance/report"), headers=srv.h).json()["total_stats"]
    # over both acceptances: the verdicts given (the second accepted all without any)
    assert (total["sampled_sample_count"], total["checked_sample_count"], total["accepted_sample_count"]) == (6 + n_bad, 6, 6 - n_bad)


class SmtpSink:
    """Debian's aiosmtpd as a local SMTP server writing a maildir; stopped by its PID."""

    def __init__(self, tmp):
        import socket
        import subprocess
        import time
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.maildir = str(tmp / "maildir")
        self.proc = subprocess.Popen(["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
                                      "-c", "aiosmtpd.handlers.Mailbox", self.maildir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the SMTP sink did not start")

    def messages(self):
        import email
        import os
        out = []
        new = os.path.join(self.maildir, "new")
        for name in sorted(os.listdir(new)) if os.path.isdir(new) else []:
            with open(os.path.join(new, name), "rb") as f:
                out.append(email.message_from_bytes(f.read()))
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def test_notify_sends_real_mail(tmp_path):
    import email.header
    sink = SmtpSink(tmp_path)
    s = Server(extra_env={"ATELIER_SMTP_URL": f"smtp://127.0.0.1:{sink.port}", "ATELIER_SMTP_FROM": "labeling@atelier.test",
                          "ATELIER_SMTP_PASSWORD": "smtp-secret-xyz"})
    try:
        tok, body = token_for(s.base, "admin", ADMIN_PASSWORD, "admin", project="local")
        s.project_id, s.domain_id, s.h = body["project"]["id"], body["user"]["domain"]["id"], {"X-Auth-Token": tok}
        s.api = Api(s, s.h)
        ds, _ = dataset(s, 4)
        t, m = team_with(s, [("una@example.com", 0), ("vic@example.com", 1)])
        # a member with no password yet (the platform made their user)
        assert requests.post(v2(s, f"/workforces/{t}/workers"), headers=s.h, json={"emails": "wes@example.com", "role": 0}).status_code == 201
        tid = requests.post(task_url(s, ds), headers=s.h, json={"task_name": "mail-me", "workforces_config": {"workforces": [
            {"workforce_id": t}]}}).json()["task_id"]
        r = requests.post(task_url(s, ds, tid, "/notify"), headers=s.h, json={"emails": ["una@example.com", "vic@example.com"]})
        assert r.status_code == 200 and r.json() == {"success": True, "results": [{"success": True}, {"success": True}]}, r.text
        msgs = sink.messages()
        assert sorted(msg["X-RcptTo"] for msg in msgs) == ["una@example.com", "vic@example.com"]
        una = [msg for msg in msgs if msg["X-RcptTo"] == "una@example.com"][0]
        assert una["X-MailFrom"] == "labeling@atelier.test"
        assert str(email.header.make_header(email.header.decode_header(una["Subject"]))) == "Team labeling task mail-me is waiting for you"
        text = una.get_payload(decode=True).decode()
        assert "a labeler of the team labeling task \"mail-me\"" in text and "2 items, 2 to annotate" in text and s.base + "/login" in text
        # the members' status follows
        wt = requests.get(v2(s, "/workforces/worker-tasks"), headers=m["una@example.com"][1]).json()["worker_tasks"][0]
        assert wt["email_status"] == 3 and wt["last_notify_time"] > 0
        worker = requests.get(v2(s, f"/workforces/{t}/workers/{m['una@example.com'][0]}"), headers=s.h).json()
        assert worker["status"] == 2  # signed in already (the test signed in as the member)
        # again within a minute: refused for that address; an address outside the task: 400, nothing sent
        r = requests.post(task_url(s, ds, tid, "/notify"), headers=s.h, json={"emails": ["una@example.com"]})
        assert r.json()["success"] is False and r.json()["results"][0]["error_code"] == "ModelArts.4627"
        r = requests.post(task_url(s, ds, tid, "/notify"), headers=s.h, json={"emails": ["nobody@example.com"]})
        assert r.status_code == 400 and r.json()["error_code"] == "ModelArts.4604"
        assert len(sink.messages()) == 2
        # the member without a password gets a one-time link to choose one, and then signs in
        # (links point where the server says it is, not at the request's Host)
        r = requests.post(task_url(s, ds, tid, "/notify"), headers={**s.h, "Host": "evil.example"}, json={"emails": ["wes@example.com"]})
        assert r.json()["success"] is True, r.text
        wes = [msg for msg in sink.messages() if msg["X-RcptTo"] == "wes@example.com"][0].get_payload(decode=True).decode()
        import re
        link = re.search(r"(http://\S+/login/password\?ticket=\w+)", wes).group(1)
        assert link.startswith(s.base + "/login/password") and "evil" not in wes
        user = re.search(r"Your user name is (\S+) ", wes).group(1)
        form = requests.get(link)
        assert form.status_code == 200 and 'name="ticket"' in form.text
        ticket = link.split("ticket=")[1]
        r = requests.post(s.base + "/login/password", data={"ticket": ticket, "password": "short", "again": "short"})
        assert r.status_code == 400 and 'id="error"' in r.text
        r = requests.post(s.base + "/login/password", data={"ticket": ticket, "password": "Wes-pass-12", "again": "Wes-pass-12"})
        assert r.status_code == 200 and user in r.text, r.text
        tok_w, _ = token_for(s.base, user, "Wes-pass-12", "admin", project="local")
        mine = requests.get(task_url(s, ds, tid, "/data-annotations/samples"), headers={"X-Auth-Token": tok_w})
        assert mine.status_code == 200 and mine.json()["sample_count"] > 0
        again = requests.post(s.base + "/login/password", data={"ticket": ticket, "password": "Wes-pass-13", "again": "Wes-pass-13"})
        assert again.status_code == 401  # spent
        assert len(sink.messages()) == 3
        # the SMTP password never reaches the log
        assert "smtp-secret-xyz" not in s.log()
        # the sink gone: the member's result says so
        sink.stop()
        assert s.db.execute("UPDATE task_members SET notified_at = 0") > 0  # as if the last mail were long ago
        r = requests.post(task_url(s, ds, tid, "/notify"), headers=s.h, json={"emails": ["vic@example.com"]})
        assert r.json()["success"] is False and "Sending failed" in r.json()["results"][0]["error_msg"], r.text
    finally:
        if sink.proc.poll() is None:
            sink.stop()
        s.cleanup()


def test_notify_without_smtp_is_a_clear_error(srv):
    ds, _ = dataset(srv, 2)
    t, _ = team_with(srv, [(unique("n") + "@example.com", 0)])
    tid = requests.post(task_url(srv, ds), headers=srv.h, json={"task_name": "nomail", "workforces_config": {"workforces": [
        {"workforce_id": t}]}}).json()["task_id"]
    r = requests.post(task_url(srv, ds, tid, "/notify"), headers=srv.h, json={"emails": ["x@example.com"]})
    assert r.status_code == 503 and "SMTP" in r.json()["error_msg"]


def test_redealing_with_repetition_moves_orphaned_items(srv):
    ds, ids = dataset(srv, 6)
    t, m = team_with(srv, [(f"rep{i}-{unique('p')}@example.com", 0) for i in range(3)])
    (ea, (wa, ha)), (eb, (wb, hb)), (ec, (wc, hc)) = sorted(m.items())
    tid = requests.post(task_url(srv, ds), headers=srv.h, json={"task_name": "rep", "repetition": 2, "workforces_config": {
        "workforces": [{"workforce_id": t}]}}).json()["task_id"]
    mine = requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=ha, params={"limit": 100}).json()["samples"]
    assert requests.put(task_url(srv, ds, tid, "/data-annotations/samples"), headers=ha,
                        json={"samples": [{"sample_id": x["sample_id"], "labels": [{"name": "cat"}]} for x in mine]}).status_code == 200
    # b leaves the task: b's untouched items go to whoever does not hold the sample yet
    r = requests.put(task_url(srv, ds, tid), headers=srv.h, json={"workforces_config": {"workforces": [
        {"workforce_id": t, "workers": [{"worker_id": wa}, {"worker_id": wc}]}]}})
    assert r.status_code == 200, r.text
    items = requests.get(task_url(srv, ds, tid, "/data-annotations/samples"), headers=srv.h, params={"limit": 100}).json()["samples"]
    holders = {}
    for x in items:
        holders.setdefault(x["sample_id"], []).append(x["worker_id"])
    assert wb not in {w for ws in holders.values() for w in ws}
    assert all(sorted(ws) == sorted([wa, wc]) for ws in holders.values()), holders
    assert set(holders) == set(ids)
