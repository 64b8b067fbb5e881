"""Buckets have owners: every object path a request names is checked against
the caller's account before anything is read, written, listed or started.

The matrix walks the route table: every (route, field) that the table
declares as an object path is sent by account B naming a bucket of account A,
and must be refused with 403 ModelArts.4310 naming the field, with nothing
created and nothing written in A's bucket. The same request naming a bucket
nobody owns succeeds and makes that bucket B's; the platform's `samples`
bucket may be read by everyone and written by no one."""
import json
import subprocess
import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, BIN, Server, token_for, unique, wait_until
from datahelpers import b64


class Account:
    """One account on the server: its owner's token and project."""

    def __init__(self, srv, name, password):
        tok, body = token_for(srv.base, name, password, name, project="local")
        self.srv, self.name = srv, name
        self.h = {"X-Auth-Token": tok}
        self.pid = body["project"]["id"]
        self.domain_id = body["user"]["domain"]["id"]

    def req(self, method, path, **kw):
        ver = "/v2/" if path.startswith("/datasets") else "/v1/"
        return requests.request(method, self.srv.base + ver + self.pid + path, headers=self.h, timeout=60, **kw)


@pytest.fixture(scope="module")
def env():
    srv = Server()
    srv.admin_cli("account-create", "--name", "acme", "--password", "Acme-pass-1")
    srv.admin_cli("account-create", "--name", "bravo", "--password", "Bravo-pass-1")
    a = Account(srv, "acme", "Acme-pass-1")
    b = Account(srv, "bravo", "Bravo-pass-1")
    # A's bucket, claimed by A's first call, with a secret in it.
    srv.objects.put("/acme-private/secret/secret.txt", "the secret of acme\n")
    srv.objects.put("/acme-private/secret/train.py", "print(open('/home/work/data/secret.txt').read())\n")
    srv.objects.put("/acme-private/models/m/model/config.json", json.dumps({"model_type": "PyTorch"}))
    srv.objects.put("/acme-private/models/m/model/customize_service.py", "x = 1\n")
    srv.objects.put("/acme-private/manifest/a.manifest", json.dumps({"source": "/acme-private/secret/secret.txt"}) + "\n")
    r = a.req("POST", "/datasets", json={"dataset_name": "acme_ds", "dataset_type": 100,
                                         "work_path": "/acme-private/work/",
                                         "data_sources": [{"data_type": 0, "data_path": "/acme-private/secret/"}]})
    assert r.status_code == 201, r.text
    yield srv, a, b
    srv.cleanup()


def tree(srv, bucket):
    """Every object of a bucket with its size and modification time: what must not change."""
    return {name: srv.objects.head(f"/{bucket}/{name}") for name in srv.objects.list(f"/{bucket}/")}


def owners(srv):
    return {e["bucket"]: e["owner"] for e in srv.admin_cli("bucket-owner")}


# ---------------------------------------------------------------- request builders
# Each builds B's request whose field `where` names path `p` (the other
# fields name paths in B's own bucket). They return (method, path, body).

def b_dataset(b, tag):
    """A dataset of B's in B's own bucket (for the routes under a dataset)."""
    r = b.req("POST", "/datasets", json={"dataset_name": unique("bds"), "dataset_type": 0,
                                         "work_path": f"/bravo-own/{tag}/work/"})
    assert r.status_code == 201, r.text
    return r.json()["dataset_id"]


def b_code(srv, tag):
    root = f"/bravo-own/{tag}/"
    srv.objects.put(root + "code/train.py", "print('hello')\n")
    srv.objects.put(root + "data/d.txt", "d\n")
    return root


def train_config(srv, tag, where, p):
    root = b_code(srv, tag)
    cfg = {"worker_server_num": 1, "engine_id": 1, "spec_id": 1, "app_url": root + "code/",
           "boot_file_url": root + "code/train.py", "data_url": root + "data/", "train_url": root + "out/"}
    key = where.rsplit("/", 1)[1]
    if where.endswith("/data_source/*/data_url"):
        del cfg["data_url"]
        cfg["data_source"] = [{"type": "obs", "data_url": p}]
    elif key == "app_url":
        cfg["app_url"], cfg["boot_file_url"] = p, p + "train.py"
    elif key == "boot_file_url":  # outside app_url too: the bucket is refused before that is checked
        cfg["boot_file_url"] = p
    else:
        cfg[key] = p
    return cfg


def b_job(b, srv, tag):
    cfg = train_config(srv, tag, "/config/train_url", f"/bravo-own/{tag}/out/")
    r = b.req("POST", "/training-jobs", json={"job_name": unique("bj"), "config": cfg})
    assert r.status_code == 200, r.text
    return r.json()["job_id"], r.json()["version_id"]


def build(srv, b, route, where, p, file_p):
    """B's request for (route, where) naming folder `p` (or file `file_p`)."""
    method, path = route
    tag = unique("t")
    if path == "/v2/{project_id}/datasets":
        body = {"dataset_name": unique("bds"), "dataset_type": 0, "work_path": f"/bravo-own/{tag}/work/",
                "data_sources": [{"data_type": 0, "data_path": f"/bravo-own/{tag}/in/"}]}
        if where == "/work_path":
            body["work_path"] = p
        else:
            body["data_sources"][0]["data_path"] = p
        return method, "/datasets", body
    if path.endswith("/data-annotations/samples"):
        ds = b_dataset(b, tag)
        return method, f"/datasets/{ds}/data-annotations/samples", {"samples": [{"data_source": {"data_path": file_p}}]}
    if path.endswith("/import-tasks"):
        ds = b_dataset(b, tag)
        return method, f"/datasets/{ds}/import-tasks", {"import_path": p}
    if path.endswith("/export-tasks"):
        ds = b_dataset(b, tag)
        body = {"path": f"/bravo-own/{tag}/export/"}
        if where == "/path":
            body["path"] = p
        else:
            body["export_params"] = {"export_dest": "NEW_DATASET", "export_new_dataset_name": unique("nds"),
                                     "export_new_dataset_work_path": p}
        return method, f"/datasets/{ds}/export-tasks", body
    if path == "/v1/{project_id}/training-jobs":
        target = file_p if where.endswith("boot_file_url") else p
        return method, "/training-jobs", {"job_name": unique("bj"), "config": train_config(srv, tag, where, target)}
    if path.endswith("/versions"):
        job, vid = b_job(b, srv, tag)
        target = file_p if where.endswith("boot_file_url") else p
        cfg = train_config(srv, tag + "v", where, target)
        cfg["pre_version_id"] = vid
        return method, f"/training-jobs/{job}/versions", {"config": cfg}
    if path.startswith("/v1/{project_id}/training-job-configs"):
        target = file_p if where.endswith("boot_file_url") else p
        cfg = train_config(srv, tag, "/config" + where, target)
        if method == "PUT":
            name = unique("bc")
            r = b.req("POST", "/training-job-configs", json={"config_name": name, **train_config(srv, tag, "/config/train_url", f"/bravo-own/{tag}/out/")})
            assert r.status_code == 200, r.text
            return method, f"/training-job-configs/{name}", cfg
        return method, "/training-job-configs", {"config_name": unique("bc"), **cfg}
    if path == "/v1/{project_id}/visualization-jobs":
        return method, "/visualization-jobs", {"job_name": unique("v")[:20], "train_url": p}
    if path == "/v1/{project_id}/models":
        root = f"/bravo-own/{tag}/model-src/"
        srv.objects.put(root + "model/customize_service.py", "x = 1\n")
        body = {"model_name": unique("m"), "model_version": "0.0.1", "model_type": "PyTorch", "source_location": root,
                "runtime": "python3.6"}
        if where == "/source_location":
            body["source_location"] = p
        else:
            body["execution_code"] = file_p
        return method, "/models", body
    if path == "/v1/{project_id}/demanager/instances":
        return method, "/demanager/instances", {
            "name": unique("nb"), "profile_id": "Python3-cpu", "flavor": "modelarts.kat1.xlarge",
            "spec": {"storage": {"type": "obs", "location": {"path": p}}}}
    raise AssertionError(f"no request builder for {method} {path} {where}: add one")


def declared(srv):
    out = subprocess.run([BIN, "routes"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    routes = json.loads(out.stdout)
    return [((r["method"], r["path"]), f["where"], f["write"]) for r in routes for f in r["object_paths"]]


def test_route_table_declares_every_path_field():
    """The routes known to take object paths all declare them (a route added
    without its declaration makes this list shorter, not the matrix)."""
    got = {(m, p, w) for (m, p), w, _ in declared(None)}
    expected = {
        ("POST", "/v2/{project_id}/datasets", "/work_path"),
        ("POST", "/v2/{project_id}/datasets", "/data_sources/*/data_path"),
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples", "/samples/*/data_source/data_path"),
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/import-tasks", "/import_path"),
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/export-tasks", "/path"),
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/export-tasks", "/export_params/export_new_dataset_work_path"),
        ("POST", "/v1/{project_id}/visualization-jobs", "/train_url"),
        ("POST", "/v1/{project_id}/models", "/source_location"),
        ("POST", "/v1/{project_id}/models", "/execution_code"),
        ("POST", "/v1/{project_id}/demanager/instances", "/spec/storage/location/path"),
    }
    for m, p, at in (("POST", "/v1/{project_id}/training-jobs", "/config"),
                     ("POST", "/v1/{project_id}/training-jobs/{job_id}/versions", "/config"),
                     ("POST", "/v1/{project_id}/training-job-configs", ""),
                     ("PUT", "/v1/{project_id}/training-job-configs/{config_name}", "")):
        for f in ("app_url", "boot_file_url", "data_url", "data_source/*/data_url", "train_url", "log_url"):
            expected.add((m, p, f"{at}/{f}"))
    assert got == expected, (got - expected, expected - got)


MATRIX = declared(None)


@pytest.mark.parametrize("route,where,write", MATRIX, ids=[f"{m} {p} {w}" for (m, p), w, _ in MATRIX])
def test_other_accounts_bucket_is_refused(env, route, where, write):
    srv, a, b = env
    before = tree(srv, "acme-private")
    method, path, body = build(srv, b, route, where, "/acme-private/secret/", "/acme-private/secret/train.py")
    counts = b_counts(b)
    r = b.req(method, path, json=body)
    assert r.status_code == 403, (r.status_code, r.text)
    err = r.json()
    assert err["error_code"] == "ModelArts.4310", err
    field = where.strip("/").split("/")[-1]
    assert field in (err.get("error_msg") or err.get("error_message")), err
    assert "acme-private" in (err.get("error_msg") or err.get("error_message")), err
    time.sleep(0.2)  # anything started would have begun writing by now
    assert tree(srv, "acme-private") == before
    assert b_counts(b) == counts
    assert owners(srv)["acme-private"] == "acme"


def b_counts(b):
    """What B's requests could have created."""
    out = {}
    r = b.req("GET", "/datasets", params={"limit": 100})
    out["datasets"] = r.json()["total_number"]
    r = b.req("GET", "/training-jobs", params={"per_page": 1})
    out["jobs"] = r.json()["job_total_count"]
    r = b.req("GET", "/training-job-configs", params={"per_page": 1})
    out["configs"] = r.json()["config_total_count"]
    r = b.req("GET", "/visualization-jobs", params={"per_page": 1})
    out["viz"] = r.json()["job_total_count"]
    r = b.req("GET", "/models")
    out["models"] = r.json()["total_count"]
    return out


def test_unowned_bucket_is_claimed_by_the_first_account(env):
    srv, a, b = env
    assert "bravo-fresh" not in owners(srv)
    r = b.req("POST", "/datasets", json={"dataset_name": unique("bds"), "dataset_type": 0, "work_path": "/bravo-fresh/w/"})
    assert r.status_code == 201, r.text
    assert owners(srv)["bravo-fresh"] == "bravo"
    r = a.req("POST", "/datasets", json={"dataset_name": unique("ads"), "dataset_type": 0, "work_path": "/bravo-fresh/x/"})
    assert r.status_code == 403 and r.json()["error_code"] == "ModelArts.4310", r.text
    # obs:// and s3:// spellings name the same bucket.
    for p in ("obs://bravo-fresh/y/", "s3://bravo-fresh/z/"):
        r = a.req("POST", "/datasets", json={"dataset_name": unique("ads"), "dataset_type": 0, "work_path": p})
        assert r.status_code == 403, (p, r.text)


def test_model_source_as_obs_url_is_checked(env):
    srv, a, b = env
    r = b.req("POST", "/models", json={"model_name": unique("m"), "model_version": "0.0.1", "model_type": "PyTorch",
                                       "runtime": "python3.6",
                                       "source_location": "https://acme-private.obs.cn-north-4.myhuaweicloud.com/models/m/"})
    assert r.status_code == 403 and r.json()["error_code"] == "ModelArts.4310", r.text


def test_manifest_lines_naming_another_accounts_files_fail(env):
    srv, a, b = env
    ds = b_dataset(b, unique("t"))
    srv.objects.put("/bravo-own/m/own.txt", "mine\n")
    lines = [{"source": "/acme-private/secret/secret.txt"},
             {"source": "/bravo-own/m/own.txt"},
             {"source": "/bravo-own/m/own.txt", "annotation": [{"type": 0, "name": "x", "annotation-loc": "/acme-private/secret/a.xml"}]}]
    srv.objects.put("/bravo-own/m/in.manifest", "".join(json.dumps(l) + "\n" for l in lines))
    r = b.req("POST", f"/datasets/{ds}/import-tasks", json={"import_path": "/bravo-own/m/in.manifest", "import_type": 1})
    assert r.status_code == 200, r.text
    task = r.json()["task_id"]

    def finished():
        t = b.req("GET", f"/datasets/{ds}/import-tasks/{task}").json()
        return t if t["status"] in ("COMPLETED", "FAILED") else None
    t = wait_until(finished, 30, interval=0.1, what=f"import {task} to finish")
    assert t["status"] == "COMPLETED", t
    samples = b.req("GET", f"/datasets/{ds}/data-annotations/samples").json()["samples"]
    assert [s["source"].split("/")[-1] for s in samples] == ["content"] and len(samples) == 1, samples
    assert "acme" not in json.dumps(samples)


def test_platform_samples_bucket_is_read_only(env):
    srv, a, b = env
    assert owners(srv)["samples"] == "platform"
    for acct in (a, b):
        r = acct.req("POST", "/training-jobs", json={"job_name": unique("j"), "config": {
            "worker_server_num": 1, "engine_id": 1, "spec_id": 1, "app_url": "/samples/sklearn/code/",
            "boot_file_url": "/samples/sklearn/code/train.py", "data_url": "/samples/sklearn/data/",
            "train_url": "/samples/pytorch-mlp/code/"}})
        assert r.status_code == 403 and r.json()["error_code"] == "ModelArts.4310", r.text
        assert "read-only" in r.json()["error_message"], r.text
    # A dataset may read platform files as samples, but deleting them with
    # delete_source leaves the files.
    ds = b_dataset(b, unique("t"))
    r = b.req("POST", f"/datasets/{ds}/data-annotations/samples",
              json={"samples": [{"data_source": {"data_path": "/samples/sklearn/data/train.csv"}}]})
    assert r.status_code == 200, r.text
    listed = b.req("GET", f"/datasets/{ds}/data-annotations/samples").json()["samples"]
    assert len(listed) == 1, listed
    sid = listed[0]["sample_id"]
    r = b.req("POST", f"/datasets/{ds}/data-annotations/samples/delete", json={"samples": [sid], "delete_source": True})
    assert r.status_code == 200, r.text
    assert srv.objects.exists("/samples/sklearn/data/train.csv")


def test_sample_config_runs_the_shipped_code(env):
    srv, a, b = env
    r = a.req("GET", "/training-job-configs/sklearn-logistic", params={"config_type": "sample"})
    assert r.status_code == 200, r.text
    cfg = {k: r.json()[k] for k in ("worker_server_num", "engine_id", "spec_id", "app_url", "boot_file_url", "data_url")}
    cfg["train_url"] = "/acme-private/out-sample/"
    cfg["parameter"] = [{"label": "C", "value": "0.5"}]
    r = a.req("POST", "/training-jobs", json={"job_name": unique("sj"), "config": cfg})
    assert r.status_code == 200, r.text
    job, vid = r.json()["job_id"], r.json()["version_id"]

    def ended():
        v = a.req("GET", f"/training-jobs/{job}/versions/{vid}").json()
        return v if v["status"] in (10, 3, 11, 12, 13) else None  # terminal
    v = wait_until(ended, 120, interval=0.2, what=f"job {job} to end")
    assert v["status"] == 10, v
    assert srv.objects.exists("/acme-private/out-sample/model.pkl")


def test_existing_data_dir_gets_owners():
    """A data dir from before owners: each bucket goes to the account whose
    resources use it, unused ones to the administrator, and one used by two
    accounts is locked until `atelier admin bucket-owner` names its owner."""
    srv = Server()
    try:
        srv.admin_cli("account-create", "--name", "acme", "--password", "Acme-pass-1")
        srv.admin_cli("account-create", "--name", "bravo", "--password", "Bravo-pass-1")
        a, b = Account(srv, "acme", "Acme-pass-1"), Account(srv, "bravo", "Bravo-pass-1")
        for acct, bucket in ((a, "old-acme"), (b, "old-bravo"), (a, "old-shared")):
            r = acct.req("POST", "/datasets", json={"dataset_name": unique("d"), "dataset_type": 0,
                                                   "work_path": f"/{bucket}/w/"})
            assert r.status_code == 201, r.text
        bds = b.req("GET", "/datasets").json()["datasets"][0]["dataset_id"]
        srv.objects.put("/old-loose/f.txt", "nobody's\n")
        srv.stop()
        # Back to the state of an older server: no owners, B's dataset also in the shared bucket.
        srv.db.execute("DELETE FROM bucket_owners")
        srv.db.execute("DELETE FROM bucket_owner_pass")
        assert srv.db.execute("UPDATE datasets SET data_sources = ? WHERE id = ?",
                              (json.dumps([{"data_type": 0, "data_path": "/old-shared/in/"}]), bds)) == 1
        srv.restart()
        srv2 = srv
        got = owners(srv2)
        assert got["old-acme"] == "acme" and got["old-bravo"] == "bravo", got
        assert got["old-loose"] == "admin" and got["old-shared"] == "disputed" and got["samples"] == "platform", got
        log = srv2.log()
        assert "old-shared" in log and bds in log, log
        a, b = Account(srv2, "acme", "Acme-pass-1"), Account(srv2, "bravo", "Bravo-pass-1")
        for acct in (a, b):
            r = acct.req("POST", "/datasets", json={"dataset_name": unique("d"), "dataset_type": 0, "work_path": "/old-shared/x/"})
            assert r.status_code == 403 and "administrator" in r.json()["error_msg"], r.text
        srv2.admin_cli("bucket-owner", "--bucket", "old-shared", "--account", "acme")
        # The server sees another process's change within its snapshot age (50 ms).
        def allowed():
            r = a.req("POST", "/datasets", json={"dataset_name": unique("d"), "dataset_type": 0, "work_path": "/old-shared/x/"})
            return (r,) if r.status_code != 403 else None  # (a failed Response is falsy)
        (r,) = wait_until(allowed, 2, what="the new owner to be seen")
        assert r.status_code == 201, r.text
        r = b.req("POST", "/datasets", json={"dataset_name": unique("d"), "dataset_type": 0, "work_path": "/old-shared/y/"})
        assert r.status_code == 403, r.text
    finally:
        srv.cleanup()

