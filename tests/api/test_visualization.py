"""Visualization jobs v1 and their built-in viewer: the page at
service_url and its data, read from TensorBoard event files (written with
python/atelier_metrics.py) and JSON lines under the job's train_url."""
import importlib.util
import json
import os
import time

import pytest
import requests

from conftest import ROOT, Server
from test_training_jobs import TApi, assert_v1_error, shutdown

HELPER = os.path.join(ROOT, "python", "atelier_metrics.py")


@pytest.fixture(scope="module")
def srv():
    s = Server()
    s.api = TApi(s)
    yield s
    shutdown(s, s.api)


def event_file(tmp_path, points):
    spec = importlib.util.spec_from_file_location("atelier_metrics_v", HELPER)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    with m.SummaryWriter(str(tmp_path)) as w:
        for tag, step, value in points:
            w.add_scalar(tag, value, step)
    return open(w.path, "rb").read(), os.path.basename(w.path)


def create(tapi, name, train_url, **extra):
    r = tapi.post("/visualization-jobs", json={"job_name": name, "train_url": train_url, **extra})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["is_success"] is True and body["status"] == 8, body
    return body


def test_lifecycle_list_and_errors(tapi):
    a = create(tapi, "viz-a", "/vbkt/a/", job_desc="first", schedule=[{"type": "stop", "time_unit": "HOURS", "duration": 2}])
    b = create(tapi, "viz-b", "/vbkt/b", schedule={"type": "stop", "time_unit": "HOURS", "duration": 0})
    g = tapi.get(f"/visualization-jobs/{a['job_id']}").json()
    assert g["job_name"] == "viz-a" and g["job_desc"] == "first" and g["train_url"] == "/vbkt/a/" and g["job_type"] == "tensorboard"
    assert g["service_url"].endswith(f"/visualization-jobs/{a['job_id']}/view") and g["service_url"] == a["service_url"]
    assert 0 < g["remaining_duration"] <= 2 * 3600000
    assert tapi.get(f"/visualization-jobs/{b['job_id']}").json()["remaining_duration"] is None
    # list: sort, filter, search
    lst = tapi.get("/visualization-jobs", params={"sortBy": "job_name", "order": "desc", "search_content": "viz-"}).json()
    assert [j["job_name"] for j in lst["jobs"]][:2] == ["viz-b", "viz-a"] and lst["job_total_count"] >= 2
    # update, stop, restart
    assert tapi.put(f"/visualization-jobs/{a['job_id']}", json={"job_desc": "second"}).json()["is_success"] is True
    assert tapi.post(f"/visualization-jobs/{a['job_id']}/stop").json()["is_success"] is True
    g = tapi.get(f"/visualization-jobs/{a['job_id']}").json()
    assert g["status"] == 12 and g["job_desc"] == "second" and g["remaining_duration"] is None
    assert_v1_error(tapi.post(f"/visualization-jobs/{a['job_id']}/stop"), 400, code="ModelArts.0105")
    assert [j["job_id"] for j in tapi.get("/visualization-jobs", params={"status": "12"}).json()["jobs"]] == [a["job_id"]]
    assert tapi.post(f"/visualization-jobs/{a['job_id']}/restart").json()["is_success"] is True
    assert tapi.get(f"/visualization-jobs/{a['job_id']}").json()["status"] == 8
    assert_v1_error(tapi.post(f"/visualization-jobs/{a['job_id']}/restart"), 400, code="ModelArts.0105")
    # bad input: the field named, nothing created
    before = tapi.get("/visualization-jobs").json()["job_total_count"]
    for body, field in [({"job_name": "x" * 21, "train_url": "/vbkt/a/"}, "job_name"),
                        ({"job_name": "bad name", "train_url": "/vbkt/a/"}, "job_name"),
                        ({"job_name": "ok1"}, "train_url"),
                        ({"job_name": "ok1", "train_url": "/vbkt/../a/"}, "train_url"),
                        ({"job_name": "ok1", "train_url": "/vbkt/a/", "job_type": "tb"}, "job_type"),
                        ({"job_name": "ok1", "train_url": "/vbkt/a/", "schedule": {"type": "stop", "time_unit": "HOURS", "duration": 25}}, "duration"),
                        ({"job_name": "ok1", "train_url": "/vbkt/a/", "schedule": {"type": "stop", "time_unit": "MINUTES", "duration": 1}}, "time_unit"),
                        ({"job_name": "ok1", "train_url": "/vbkt/a/", "schedule": [{}, {}]}, "schedule")]:
        assert_v1_error(tapi.post("/visualization-jobs", json=body), 400, field=field)
    assert_v1_error(tapi.post("/visualization-jobs", json={"job_name": "viz-a", "train_url": "/vbkt/a/"}), 400, code="ModelArts.0103")
    assert tapi.get("/visualization-jobs").json()["job_total_count"] == before
    # delete
    assert tapi.delete(f"/visualization-jobs/{b['job_id']}").json()["is_success"] is True
    assert_v1_error(tapi.get(f"/visualization-jobs/{b['job_id']}"), 400, code="ModelArts.2775")


def test_viewer_page_and_data_follow_the_files(tapi, srv, tmp_path):
    data, name = event_file(tmp_path, [("loss", s, 1.0 / (s + 1)) for s in range(10)] + [("acc", 3, 0.5)])
    srv.objects.put("/vbkt/run1/logs/" + name, data)
    srv.objects.put("/vbkt/run1/metrics.jsonl", b'{"step": 0, "lr": 0.1}\n{"step": 1, "lr": 0.05}\n')
    srv.objects.put("/vbkt/run1/other.txt", b"not metrics")
    j = create(tapi, "viz-run1", "/vbkt/run1/")
    base = f"/visualization-jobs/{j['job_id']}"
    page = tapi.get(base + "/view")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html"), page.text[:200]
    assert "'/data'" in page.text and "<svg" in page.text
    d = tapi.get(base + "/view/data").json()
    assert sorted(d["files"]) == ["logs/" + name, "metrics.jsonl"], d["files"]
    assert [p[0] for p in d["scalars"]["loss"]] == list(range(10))
    assert abs(d["scalars"]["loss"][3][1] - 0.25) < 1e-6
    assert d["scalars"]["acc"] == [[3, 0.5]] and d["scalars"]["lr"] == [[0, 0.1], [1, 0.05]]
    # the job writes more: the next read shows it
    more, _ = event_file(tmp_path / "b", [("loss", 10, 0.01)])
    srv.objects.put("/vbkt/run1/logs/" + name, data + more)
    d = tapi.get(base + "/view/data").json()
    assert [p[0] for p in d["scalars"]["loss"]][-1] == 10, d["scalars"]["loss"]
    # a damaged record is skipped with a warning, the rest still shown
    bad = bytearray(data)
    bad[-10] ^= 0xFF
    srv.objects.put("/vbkt/run1/logs/" + name, bytes(bad))
    d = tapi.get(base + "/view/data").json()
    assert any("CRC" in w for w in d["warnings"]), d["warnings"]
    assert len(d["scalars"]["loss"]) >= 9
    # behind the server's authentication: a browser is sent to sign in first
    for url in (j["service_url"], j["service_url"] + "/data"):
        r = requests.get(url, allow_redirects=False)
        assert r.status_code == 303 and r.headers["Location"].startswith("/login?next=%2Fv1%2F"), (r.status_code, r.headers)
    assert requests.post(j["service_url"] + "/data").status_code == 401
    # a stopped job shows nothing
    tapi.post(base + "/stop")
    assert_v1_error(tapi.get(base + "/view/data"), 400, code="ModelArts.0105")


def test_auto_stop(tapi, srv):
    j = create(tapi, "viz-auto", "/vbkt/auto/", schedule={"type": "stop", "time_unit": "HOURS", "duration": 1})
    assert tapi.get(f"/visualization-jobs/{j['job_id']}").json()["status"] == 8
    # An hour is long for a test: move the job's scheduled stop into the past in the store.
    assert srv.db.execute("UPDATE viz_jobs SET stop_at = ? WHERE id = ?", (j["create_time"] + 1, j["job_id"])) == 1
    listed = {x["job_id"]: x for x in tapi.get("/visualization-jobs", params={"status": "10"}).json()["jobs"]}
    assert j["job_id"] in listed, listed
    g = tapi.get(f"/visualization-jobs/{j['job_id']}").json()
    assert g["status"] == 10 and g["remaining_duration"] is None and g["duration"] > 0, g
    assert_v1_error(tapi.get(f"/visualization-jobs/{j['job_id']}/view"), 400, code="ModelArts.0105")
    # restarted, it runs for its scheduled hour again
    tapi.post(f"/visualization-jobs/{j['job_id']}/restart")
    g = tapi.get(f"/visualization-jobs/{j['job_id']}").json()
    assert g["status"] == 8 and 3500000 < g["remaining_duration"] <= 3600000


def test_view_data_thins_long_series_and_follows_rewrites(tapi, srv):
    lines = "".join(json.dumps({"step": s, "loss": 1.0 / (s + 1)}) + "\n" for s in range(5000))
    srv.objects.put("/vbkt/long/m.jsonl", lines)
    j = create(tapi, "viz-long", "/vbkt/long/")
    url = f"/visualization-jobs/{j['job_id']}/view/data"
    d = tapi.get(url).json()
    loss = d["scalars"]["loss"]
    assert d["counts"]["loss"] == 5000 and len(loss) == 1000
    assert loss[0][0] == 0 and loss[-1][0] == 4999 and [p[0] for p in loss] == sorted(p[0] for p in loss)
    # appended: the new steps come in (parsed from where the last view ended)
    srv.objects.put("/vbkt/long/m.jsonl", lines + json.dumps({"step": 5000, "loss": 0.0}) + "\n")
    d = tapi.get(url).json()
    assert d["counts"]["loss"] == 5001 and d["scalars"]["loss"][-1] == [5000, 0.0]
    # rewritten shorter (a new run): read anew, nothing of the old file left
    time.sleep(0.01)
    srv.objects.put("/vbkt/long/m.jsonl", '{"step": 1, "acc": 0.5}\n')
    d = tapi.get(url).json()
    assert d["scalars"] == {"acc": [[1, 0.5]]} and d["counts"] == {"acc": 1}
    # a file removed drops out
    assert srv.objects.delete("/vbkt/long/m.jsonl")
    d = tapi.get(url).json()
    assert d["files"] == [] and d["scalars"] == {}
