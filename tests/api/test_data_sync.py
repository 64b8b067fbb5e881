"""Dataset synchronisation: a task that rescans the input folders,
adds new files as samples and removes samples whose file is gone, with its
progress and result on sync-data/status; it survives a server restart."""

import requests

from conftest import ADMIN_PASSWORD, Server, token_for, wait_until
from datahelpers import assert_err, assert_stats_exact


def wait_done(api, ds, timeout=20):
    def finished():
        r = api.get(f"/datasets/{ds}/sync-data/status")
        assert r.status_code == 200, r.text
        st = r.json()
        return st if st["status"] in ("COMPLETED", "FAILED") else None
    return wait_until(finished, timeout, what=f"the sync of {ds} to finish")


def test_status_before_any_sync(api):
    ds, _ = api.create(type_=0, no_source=True)
    r = api.get(f"/datasets/{ds}/sync-data/status")
    assert r.status_code == 200 and r.json()["status"] == "NOT_EXIST", r.text


def test_sync_adds_new_files_and_removes_vanished_ones(api, server):
    ds, src = api.create(type_=0, import_annotations=False)  # sub/ is not a class here
    assert api.wait_sync(ds)["total_sample_count"] == 0  # the import of the (empty) folder at creation
    server.objects.put(src + "a.jpg", b"a")
    server.objects.put(src + "sub/b.png", b"bb")
    server.objects.put(src + "notes.txt", b"not an image")  # filtered out by extension
    r = api.post(f"/datasets/{ds}/sync-data")
    assert r.status_code == 200, r.text
    st = wait_done(api, ds)
    assert st["status"] == "COMPLETED", st
    assert (st["add_sample_count"], st["deleted_sample_count"], st["total_sample_count"]) == (2, 0, 2), st
    names = sorted(s["sample_name"] for s in api.all_samples(ds))
    assert names == ["a.jpg", "b.png"]
    # a file disappears, another appears
    assert server.objects.delete(src + "a.jpg")
    server.objects.put(src + "c.jpeg", b"ccc")
    assert api.post(f"/datasets/{ds}/sync-data").status_code == 200
    st = wait_done(api, ds)
    assert (st["add_sample_count"], st["deleted_sample_count"], st["total_sample_count"]) == (1, 1, 2), st
    assert sorted(s["sample_name"] for s in api.all_samples(ds)) == ["b.png", "c.jpeg"]
    stats = api.get(f"/datasets/{ds}/data-annotations/stats").json()["sample_stats"]
    assert stats["total"] == 2 and stats["un_annotation"] == 2, stats
    assert st["duration_time"] >= 0 and st["task_id"]


def test_sync_of_unknown_dataset(server, admin):
    r = requests.post(f"{server.base}/v2/{server.project_id}/datasets/NoSuchDataset000000/sync-data", headers=admin)
    assert_err(r, 400, "ModelArts.4352")


def test_second_sync_while_one_runs_is_refused(api, server):
    ds, src = api.create(type_=900)
    api.wait_sync(ds)
    for i in range(3000):
        server.objects.put(src + f"f{i:05d}.bin", b"x")
    tid = api.post(f"/datasets/{ds}/sync-data").json()["task_id"]
    r = api.post(f"/datasets/{ds}/sync-data")
    assert_err(r, 400, "ModelArts.4355")
    busy = api.get(f"/datasets/{ds}?check_running_task=true").json()
    assert busy["exist_running_task"] is True and busy["running_tasks_id"] == [tid], busy
    assert wait_done(api, ds, timeout=60)["total_sample_count"] == 3000
    idle = api.get(f"/datasets/{ds}?check_running_task=true").json()
    assert idle["exist_running_task"] is False and idle["running_tasks_id"] == []
    assert "exist_running_task" not in api.get(f"/datasets/{ds}").json()


def test_interrupted_sync_resumes_after_restart():
    s = Server()
    try:
        tok, body = token_for(s.base, "admin", ADMIN_PASSWORD, "admin", project="local")
        h = {"X-Auth-Token": tok}
        base = f"{s.base}/v2/{body['project']['id']}"
        r = requests.post(base + "/datasets", headers=h, json={"dataset_name": "resume", "dataset_type": 900,
                                                               "work_path": "/rsbkt/out/", "data_sources": [{"data_path": "/rsbkt/in/"}]})
        assert r.status_code == 201, r.text
        ds = r.json()["dataset_id"]
        status = lambda: requests.get(base + f"/datasets/{ds}/sync-data/status", headers=h).json()["status"]  # noqa: E731
        wait_until(lambda: status() == "COMPLETED", 10, interval=0.02, what="the creation's sync")
        n = 20000
        s.objects.put_many([f"/rsbkt/in/f{i:05d}.bin" for i in range(n)], b"x")
        assert requests.post(base + f"/datasets/{ds}/sync-data", headers=h).status_code == 200
        wait_until(lambda: status() == "RUNNING", 10, interval=0.01, what="the sync to run")
        s.stop()  # SIGTERM while the sync runs
        (left,) = s.db.query_one("SELECT status FROM tasks WHERE kind = 'dataset-sync' ORDER BY created_at DESC LIMIT 1")
        assert left == "RUNNING", left  # interrupted, not finished: the restart must pick it up
        # Same data dir, new process: the sync is resumed, not left RUNNING.
        s.restart()
        base2 = f"{s.base}/v2/{body['project']['id']}"

        def finished():
            st = requests.get(base2 + f"/datasets/{ds}/sync-data/status", headers=h).json()
            return st if st["status"] in ("COMPLETED", "FAILED") else None
        st = wait_until(finished, 60, interval=0.1, what="the resumed sync to finish")
        assert st["status"] == "COMPLETED", st
        assert st["total_sample_count"] == n, st
    finally:
        s.cleanup()



def test_creation_and_sync_bring_folder_layout_annotations(api, server):
    from datahelpers import folder as mkfolder
    src = mkfolder("lay") + "in/"
    server.objects.put(src + "cat/a.jpg", b"a")
    server.objects.put(src + "dog/b.jpg", b"b")
    server.objects.put(src + "c.jpg", b"c")  # at the root: unlabeled
    server.objects.put(src + "x/d.jpg", b"d")
    server.objects.put(src + "x/d.txt", b"bird\nfish\n")  # labels beside the file win over the folder
    ds, _ = api.create(type_=0, labels=[{"name": "cat"}], data_path=src)
    got = {s["sample_name"]: sorted(l["name"] for l in s["labels"]) for s in api.all_samples(ds)}
    assert got == {"a.jpg": ["cat"], "b.jpg": ["dog"], "c.jpg": [], "d.jpg": ["bird", "fish"]}
    assert {l["name"] for l in api.get(f"/datasets/{ds}/data-annotations/labels").json()["labels"]} == \
        {"cat", "dog", "bird", "fish"}
    assert_stats_exact(api, ds)
    # a manual relabel survives a sync; a new file in a class folder comes labeled
    ids = {s["sample_name"]: s["sample_id"] for s in api.all_samples(ds)}
    r = api.put(f"/datasets/{ds}/data-annotations/samples",
                json={"samples": [{"sample_id": ids["a.jpg"], "labels": [{"name": "dog", "type": 0}]}]})
    assert r.status_code == 200, r.text
    server.objects.put(src + "cat/e.jpg", b"e")
    assert api.post(f"/datasets/{ds}/sync-data").status_code == 200
    assert wait_done(api, ds)["status"] == "COMPLETED"
    got = {s["sample_name"]: sorted(l["name"] for l in s["labels"]) for s in api.all_samples(ds)}
    assert got["a.jpg"] == ["dog"] and got["e.jpg"] == ["cat"]
    assert_stats_exact(api, ds)
    # detection: a VOC beside the image; a broken one leaves its image unlabeled
    vsrc = mkfolder("layv") + "in/"
    server.objects.put(vsrc + "p.jpg", b"p")
    server.objects.put(vsrc + "p.xml", "<annotation><size><width>100</width><height>80</height><depth>3</depth></size>"
             "<object><name>car</name><difficult>0</difficult><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax>"
             "<ymax>40</ymax></bndbox></object></annotation>")
    server.objects.put(vsrc + "q.jpg", b"q")
    server.objects.put(vsrc + "q.xml", "<annotation><object><name>car</name>")
    det, _ = api.create(type_=1, data_path=vsrc)
    got = {s["sample_name"]: s for s in api.all_samples(det)}
    assert [l["property"]["@modelarts:feature"] for l in got["p.jpg"]["labels"]] == [[[1, 2], [30, 40]]]
    assert got["p.jpg"]["metadata"]["@modelarts:size"][:2] == [100, 80]
    assert got["q.jpg"]["labels"] == []
    assert_stats_exact(api, det)
