"""Mutation sweep (issue 22): every route of the route table (`atelier routes`,
so routes added later are swept too) gets requests whose body is a valid body
of that route with one field at a time replaced by a typed mutation (wrong
type, huge or negative number, NaN string, very long string, NUL, missing)
plus whole-body mutations (deep nesting, invalid UTF-8 bytes, non-objects);
bodiless routes get typed mutations of their common query parameters. No
answer may be a 5xx, and the server must still answer /health after each
route.

Path parameters name real objects of the caller (a dataset with labels and
samples, a version, a labeling team, worker and task, IAM users, groups,
policies and keys) so that handlers get past their lookups to their checks;
routes that remove things get ids of nothing, so the objects stay for the
routes after them. Valid bodies come from what the family tests send; a route
without one here is swept from {}.

Runs its own server: the sweep creates objects the other modules must not see.
"""
import copy
import json
import random
import re
import string
import subprocess
import time
import urllib.parse

import pytest
import requests

from conftest import ADMIN_PASSWORD, BIN, Server, make_group, make_policy, make_user, token_for, unique
from datahelpers import Api

ROUTES = json.loads(subprocess.run([BIN, "routes"], capture_output=True, text=True, check=True, timeout=60).stdout)
BODY_METHODS = ("POST", "PUT", "PATCH")
BASE62 = string.digits + string.ascii_letters
BUCKET = "sweep"

# Typed replacements of one field. Each is sent as JSON.
MUTATIONS = [
    "x", "", "0", "-1", "NaN", "1e-400", "99999999999999999999", "\u0000\u202e../x", "a" * 5000,
    0, -1, 1.5, 2 ** 31, 2 ** 32, 2 ** 63, 2 ** 64, -(2 ** 63) - 1, 1e308,
    True, None, [], ["x"], [[[1]]], {}, {"x": 1}, json.loads("[" * 70 + "]" * 70),
]
MISSING = object()
# Whole bodies that are not a valid body's shape at all.
RAW_BODIES = [
    b"", b"{", b"[]", b"null", b"\"x\"", b"12",
    b"{\"a\":" + b"[" * 100 + b"]" * 100 + b"}",
    b"[" * 70000 + b"]" * 70000,
    b"{\"a\":\"\xff\xfe\"}",
    b"{\"a\":\"\xed\xa0\x80\"}",
]
QUERY_KEYS = ["cascade", "contain_versions", "dataset_type", "delete_policy", "delete_source", "display_name", "domain_id",
              "enabled", "end_time", "engine_id", "export_type", "file_preview", "high_score", "label_name", "label_type",
              "limit", "lines", "low_score", "marker", "name", "offset", "order", "page", "per_page", "project_type",
              "role", "sample_state", "sample_type", "search_conditions", "search_content", "sort_by", "sortBy",
              "start_time", "status", "support_export", "train_evaluate_ratio", "type", "user_id", "version_format",
              "version_id", "with_labels", "worker_id", "workspace_id", "model_name", "model_version", "config_type"]
QUERY_VALUES = ["-1", "0", "2147483648", "99999999999999999999", "nan", "1e-400", "%FF", "x" * 3000,
                "[{\"x\":1},1,null]"]


def rid(route):
    return f"{route['method']} {route['path']}"


def random_id():
    return "".join(random.choice(BASE62) for _ in range(19))


class World:
    """The server and the objects path parameters and bodies name."""

    def __init__(self):
        # Notices go to a port where nothing listens: sending fails at once.
        self.s = Server(extra_env={"ATELIER_NOTEBOOK_VOLUMES": "false", "ATELIER_SMTP_URL": "smtp://127.0.0.1:9"})
        tok, body = token_for(self.s.base, "admin", ADMIN_PASSWORD, "admin", project="local")
        self.s.admin_token = tok
        self.s.project_id = self.pid = body["project"]["id"]
        self.s.domain_id = self.did = body["user"]["domain"]["id"]
        self.h = {"X-Auth-Token": tok}
        self.http = requests.Session()
        self.api = Api(self.s, self.h)
        self._make_iam()
        self._make_data()
        self._make_labeling()
        self.code = f"/{BUCKET}/code/"
        self.s.objects.put(self.code + "train.py", "print('hello')\n")
        self.s.objects.put(f"/{BUCKET}/data/readme.txt", "data\n")
        self._make_training()
        self.s.objects.put(f"/{BUCKET}/model/model/config.json", json.dumps({"model_type": "PyTorch"}))
        self.s.objects.put(f"/{BUCKET}/model/model/customize_service.py", "x = 1\n")

    def _make_iam(self):
        self.user_id = make_user(self.s, self.h)[0]
        self.group_id = make_group(self.s, self.h)
        self.role_xa = make_policy(self.s, self.h, [{"Effect": "Allow", "Action": ["modelarts:dataset:list"]}], "XA")
        self.role_ax = make_policy(self.s, self.h, [{"Effect": "Allow", "Action": ["iam:users:listUsers"]}], "AX")
        r = requests.post(self.s.base + "/v3.0/OS-CREDENTIAL/credentials", headers=self.h,
                          json={"credential": {"user_id": self.user_id}})
        assert r.status_code == 201, r.text
        self.access_key = r.json()["credential"]["access"]

    def _make_data(self):
        self.ds, _ = self.api.create(type_=0, labels=[{"name": "cat"}, {"name": "dog"}], no_source=True)
        self.sample_id = self.api.add_inline(self.ds, "a.jpg", b"hello", labels=[{"name": "cat"}])
        self.api.add_inline(self.ds, "b.jpg", b"hello")
        r = self.api.post(f"/datasets/{self.ds}/versions", json={"train_evaluate_sample_ratio": "0.8"})
        assert r.status_code == 201, r.text
        self.version_id = r.json()["version_id"]

    def _make_labeling(self):
        v2 = f"{self.s.base}/v2/{self.pid}"
        r = requests.post(v2 + "/workforces", headers=self.h, json={"workforce_name": unique("team")})
        assert r.status_code in (200, 201), r.text
        self.team = r.json()["workforce_id"]
        self.worker_email = unique("w") + "@example.com"
        r = requests.post(f"{v2}/workforces/{self.team}/workers", headers=self.h,
                          json={"emails": self.worker_email, "role": 0})
        assert r.status_code == 201, r.text
        workers = requests.get(f"{v2}/workforces/{self.team}/workers", headers=self.h).json()["workers"]
        self.worker_id = workers[0]["worker_id"]
        r = requests.post(f"{v2}/datasets/{self.ds}/workforce-tasks", headers=self.h,
                          json={"task_name": unique("task"), "workforces_config": {"workforces": [{"workforce_id": self.team}]}})
        assert r.status_code == 200, r.text
        self.task_id = r.json()["task_id"]

    def train_config(self):
        return {"worker_server_num": 1, "app_url": self.code, "boot_file_url": self.code + "train.py", "engine_id": 1,
                "spec_id": 1, "data_url": f"/{BUCKET}/data/", "train_url": f"/{BUCKET}/out/",
                "parameter": [{"label": "epochs", "value": "3"}]}

    def _make_training(self):
        v1 = f"{self.s.base}/v1/{self.pid}"
        r = requests.post(v1 + "/training-jobs", headers=self.h, json={"job_name": "sweep-base-job", "config": self.train_config()})
        assert r.status_code == 200, r.text
        self.train_job, self.train_version = r.json()["job_id"], r.json()["version_id"]
        r = requests.post(v1 + "/training-job-configs", headers=self.h,
                          json={"config_name": "sweep-base-config", "config_desc": "d", **self.train_config()})
        assert r.status_code == 200, r.text
        r = requests.post(v1 + "/visualization-jobs", headers=self.h, json={"job_name": "sweep-base-viz", "train_url": f"/{BUCKET}/out/"})
        assert r.status_code == 200, r.text
        self.viz_job = r.json()["job_id"]

    # --- path parameters -------------------------------------------------------
    def param(self, route, name):
        """A value for a path parameter: a real object, except on routes that remove."""
        removes = route["method"] == "DELETE"
        if name == "project_id":
            return self.pid
        if name == "domain_id":
            return self.did
        if name == "enterprise_project_id":
            return "0"
        real = {
            "user_id": self.user_id, "group_id": self.group_id, "access_key": self.access_key,
            "role_id": self.role_ax if "/domains/" in route["path"] else self.role_xa,
            "dataset_id": self.ds, "sample_id": self.sample_id, "version_id": self.version_id, "label_name": "cat",
            "workforce_id": self.team, "worker_id": self.worker_id, "workforce_task_id": self.task_id,
            "task_id": self.task_id, "config_name": "sweep-base-config",
        }
        training = "/training-jobs/" in route["path"]
        if name == "job_id" and ("/visualization-jobs/" in route["path"] or training):
            real["job_id"] = str(self.viz_job if not training else self.train_job)
        if name == "version_id" and training:
            real["version_id"] = str(self.train_version)
        if name in real and not (removes and name in ("dataset_id", "sample_id", "version_id", "label_name", "workforce_id",
                                                      "worker_id", "workforce_task_id", "user_id", "group_id",
                                                      "access_key", "role_id")):
            return real[name]
        return random_id()

    def url(self, route):
        path = route["path"]
        for p in re.findall(r"\{([^}]+)\}", path):
            path = path.replace("{" + p + "}", urllib.parse.quote(self.param(route, p.rstrip("+")), safe=""))
        return self.s.base + path

    def remove_instances(self, timeout=120):
        """Stops and deletes every notebook instance: their supervisors outlive the server."""
        base = f"{self.s.base}/v1/{self.pid}/demanager/instances"
        deadline = time.time() + timeout
        while time.time() < deadline:
            left = self.http.get(base, params={"de_type": "Notebook"}, headers=self.h, timeout=30).json()["instances"]
            if not left:
                return
            for inst in left:
                if inst["status"] == "RUNNING":
                    self.http.post(f"{base}/{inst['id']}/action", json={"action": "stop"}, headers=self.h, timeout=60)
                else:
                    self.http.delete(f"{base}/{inst['id']}", headers=self.h, timeout=60)  # refused until settled
            time.sleep(0.5)
        raise AssertionError(f"notebook instances left running: {left}")

    def cleanup(self):
        """Removes what successful mutations started (jobs, instances), then stops."""
        v1 = f"{self.s.base}/v1/{self.pid}"
        try:
            self.remove_instances()
            for job in self.http.get(v1 + "/training-jobs", headers=self.h, timeout=30).json()["jobs"]:
                self.http.delete(f"{v1}/training-jobs/{job['job_id']}", headers=self.h, timeout=60)
            for job in self.http.get(v1 + "/visualization-jobs", headers=self.h, timeout=30).json()["jobs"]:
                self.http.delete(f"{v1}/visualization-jobs/{job['job_id']}", headers=self.h, timeout=60)
        finally:
            self.s.cleanup()


# Valid bodies of the main routes (from the family tests), by (method, path).
# Names are fixed: once one mutation is accepted, the same name again is a 400
# (exists), so a sweep starts at most a couple of jobs or instances.
def _bodies(w):
    folder = f"/{BUCKET}/f/"
    sweep_role = {"display_name": "sweep-role", "type": "XA", "description": "sweep",
                  "policy": {"Version": "1.1", "Statement": [{"Effect": "Allow", "Action": ["modelarts:dataset:list"],
                                                              "Condition": {"StringEquals": {"g:UserName": ["u"]}}}]}}
    train_cfg = w.train_config()
    return {
        ("POST", "/v3/auth/tokens"): {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "password": ADMIN_PASSWORD, "domain": {"name": "admin"}}}}, "scope": {"project": {"name": "local"}}}},
        ("POST", "/v3/projects"): {"project": {"name": "local_sweep", "parent_id": w.pid, "description": "d"}},
        ("PATCH", "/v3/projects/{project_id}"): {"project": {"description": "sweep"}},
        ("POST", "/v3.0/OS-USER/users"): {"user": {"name": "sweep-user", "password": "User-pass-1", "domain_id": w.did,
                                                   "email": "s@example.com", "enabled": True, "description": "d"}},
        ("POST", "/v3/users"): {"user": {"name": "sweep-user2", "password": "User-pass-1", "domain_id": w.did,
                                         "enabled": True, "description": "d"}},
        ("PUT", "/v3.0/OS-USER/users/{user_id}"): {"user": {"description": "sweep", "enabled": True, "email": "a@example.com"}},
        ("PATCH", "/v3/users/{user_id}"): {"user": {"description": "sweep", "enabled": True}},
        ("PUT", "/v3.0/OS-USER/users/{user_id}/info"): {"user": {"email": "b@example.com", "mobile": "0086-13900000000"}},
        ("POST", "/v3/users/{user_id}/password"): {"user": {"original_password": "User-pass-1", "password": "User-pass-2-new"}},
        ("POST", "/v3/groups"): {"group": {"name": "sweep-group", "description": "d", "domain_id": w.did}},
        ("PATCH", "/v3/groups/{group_id}"): {"group": {"description": "sweep", "name": "sweep-group-2"}},
        ("POST", "/v3.0/OS-ROLE/roles"): {"role": sweep_role},
        ("PATCH", "/v3.0/OS-ROLE/roles/{role_id}"): {"role": {**sweep_role, "display_name": "sweep-role-2"}},
        ("POST", "/v3.0/OS-CREDENTIAL/credentials"): {"credential": {"user_id": w.user_id, "description": "d"}},
        ("PUT", "/v3.0/OS-CREDENTIAL/credentials/{access_key}"): {"credential": {"status": "active", "description": "d"}},
        ("POST", "/login"): {"account": "admin", "user": "admin", "password": "wrong", "project": "local"},
        ("POST", "/v2/{project_id}/datasets"): {
            "dataset_name": "sweep_ds", "dataset_type": 0, "description": "d", "work_path": folder + "out/", "work_path_type": 0,
            "data_sources": [{"data_type": 0, "data_path": folder + "in/"}], "labels": [{"name": "cat", "type": 0,
                                                                                       "property": {"@modelarts:color": "#3399ff"}}]},
        ("PUT", "/v2/{project_id}/datasets/{dataset_id}"): {"dataset_name": unique("sweepds"), "description": "d",
                                                            "add_labels": [{"name": "x1"}], "update_labels": [{"name": "dog"}]},
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels"): {
            "labels": [{"name": "fox", "type": 0, "property": {"@modelarts:color": "#3399ff"}, "attributes": [{"name": "a"}]}]},
        ("PUT", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels"): {
            "labels": [{"name": "dog", "property": {"@modelarts:color": "#112233"}}]},
        ("PUT", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels/{label_name}"): {
            "@modelarts:color": "#112233", "@modelarts:shortcut": "c"},
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels/delete"): {"labels": [{"name": "nolabel"}]},
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples"): {
            "samples": [{"name": "m.jpg", "data": "aGVsbG8=", "labels": [{"name": "cat", "type": 0, "score": 0.5}],
                         "metadata": {"k": "v"}, "sample_type": 0}]},
        ("PUT", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples"): {
            "samples": [{"sample_id": w.sample_id, "labels": [{"name": "cat", "type": 0, "property": {"k": "v"}, "score": 0.9}],
                         "metadata": {"k": "v"}, "sample_usage": "TRAIN"}], "email": "e@example.com"},
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples/delete"): {
            "samples": [random_id()], "delete_source": False},
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/versions"): {
            "version_name": "sweepv", "description": "d", "train_evaluate_sample_ratio": "0.8", "remove_sample_usage": True,
            "clear_hard_property": True, "export_images": False, "version_format": "Default"},
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/import-tasks"): {
            "import_path": folder + "in/", "import_type": "dir", "import_annotations": True,
            "included_labels": [{"name": "cat"}]},
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/export-tasks"): {
            "path": folder + "export/", "export_type": 3, "export_format": 2,
            "train_sample_ratio": "0.8", "search_conditions": [{"label_list": {"labels": [{"name": "cat"}]}}]},
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/sync-data"): {},
        ("POST", "/v2/{project_id}/workforces"): {"workforce_name": "sweep-team", "description": "d"},
        ("PUT", "/v2/{project_id}/workforces/{workforce_id}"): {"workforce_name": unique("team"), "description": "d"},
        ("POST", "/v2/{project_id}/workforces/{workforce_id}/workers"): {"emails": "sweep@example.com", "role": 0,
                                                                         "description": "d"},
        ("PUT", "/v2/{project_id}/workforces/{workforce_id}/workers/{worker_id}"): {"role": 0, "description": "d"},
        ("POST", "/v2/{project_id}/workforces/{workforce_id}/workers/batch-delete"): {"workers": [random_id()]},
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks"): {
            "task_name": "sweep-task", "description": "d", "repetition": 1, "sample_count": 1,
            "workforces_config": {"workforces": [{"workforce_id": w.team, "workers": [{"worker_id": w.worker_id}]}]}},
        ("PUT", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}"): {
            "task_name": unique("task"), "description": "d"},
        ("PUT", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/data-annotations/samples"): {
            "samples": [{"sample_id": w.sample_id, "worker_id": w.worker_id, "labels": [{"name": "cat", "type": 0}]}]},
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/data-annotations/review"): {
            "comments": [{"sample_id": w.sample_id, "worker_id": w.worker_id, "accept": True, "score": "A", "comment": "ok"}]},
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/acceptance"): {
            "sampling_rate": 0.2},
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/acceptance/batch-comment"): {
            "comments": [{"sample_id": w.sample_id, "worker_id": w.worker_id, "accept": True, "score": "A", "comment": ""}]},
        ("PUT", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/acceptance/status"): {"action": 9},
        ("POST", "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks/{workforce_task_id}/notify"): {
            "emails": [w.worker_email]},
        ("POST", "/v1/{project_id}/training-jobs"): {"job_name": "sweep-job", "job_desc": "d", "config": train_cfg},
        ("POST", "/v1/{project_id}/training-jobs/{job_id}/versions"): {"job_desc": "d", "config": train_cfg},
        ("PUT", "/v1/{project_id}/training-jobs/{job_id}"): {"job_desc": "d"},
        ("POST", "/v1/{project_id}/training-job-configs"): {"config_name": "sweep-config", "config_desc": "d", **train_cfg},
        ("PUT", "/v1/{project_id}/training-job-configs/{config_name}"): {"config_desc": "d", **train_cfg},
        ("POST", "/v1/{project_id}/visualization-jobs"): {"job_name": "sweep-viz", "job_desc": "d",
                                                          "train_url": f"/{BUCKET}/out/", "schedule": {"type": "stop",
                                                                                                       "time_unit": "HOURS",
                                                                                                       "duration": 1}},
        ("PUT", "/v1/{project_id}/visualization-jobs/{job_id}"): {"job_desc": "d"},
        ("POST", "/v1/{project_id}/models"): {"model_name": "sweep-model", "model_version": "1.0.0", "model_type": "PyTorch",
                                               "source_location": f"/{BUCKET}/model/", "description": "d",
                                               "runtime": "python3.6", "model_metrics": "{\"f1\": 0.5}",
                                               "dependencies": [{"installer": "pip", "packages": [
                                                   {"package_name": "numpy", "package_version": "1.0",
                                                    "restraint": "EXACT"}]}]},
        ("POST", "/v1/{project_id}/demanager/instances"): {
            "name": "sweep-nb", "description": "d", "profile_id": "Multi-Engine 1.0 (python3)-cpu",
            "flavor": "modelarts.vm.cpu.2u", "spec": {"storage": {"type": "evs", "location": {"volume_size": 5}},
                                                     "auto_stop": {"enable": True, "duration": 3600}}},
        ("PUT", "/v1/{project_id}/demanager/instances/{instance_id}"): {"description": "d"},
        ("POST", "/v1/{project_id}/demanager/instances/{instance_id}/action"): {"action": "stop"},
    }


# ------------------------------------------------------------------ mutating

def field_paths(node, prefix=()):
    """Every path to a value inside a body: object keys and each array's first element."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            out.append(prefix + (k,))
            out += field_paths(v, prefix + (k,))
    elif isinstance(node, list) and node:
        out.append(prefix + (0,))
        out += field_paths(node[0], prefix + (0,))
    return out


def mutated(body, path, value):
    b = copy.deepcopy(body)
    node = b
    for k in path[:-1]:
        node = node[k]
    if value is MISSING:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return b


def body_cases(body):
    """(label, bytes) of each request body of the sweep of one route."""
    cases = [("valid", json.dumps(body).encode())] if body is not None else []
    for raw in RAW_BODIES:
        cases.append((f"raw {raw[:20]!r}", raw))
    base = body if body is not None else {}
    for path in field_paths(base):
        for value in MUTATIONS + [MISSING]:
            label = f"{'.'.join(map(str, path))}={'<missing>' if value is MISSING else repr(value)[:30]}"
            cases.append((label, json.dumps(mutated(base, path, value)).encode()))
    if body is None:  # no known shape: typed values under the usual top-level keys
        for key in ("name", "description", "labels", "samples", "config", "user", "group", "role", "action"):
            for value in MUTATIONS:
                cases.append((f"{key}={repr(value)[:30]}", json.dumps({key: value}).encode()))
    return cases


def query_cases():
    return [(f"?{k}={v[:20]}", f"?{k}={v}") for k in QUERY_KEYS for v in QUERY_VALUES]


@pytest.fixture(scope="module")
def world():
    w = World()
    w.bodies = _bodies(w)
    yield w
    w.cleanup()


def alive(w):
    assert w.s.proc.poll() is None, "the server died"
    r = w.http.get(w.s.base + "/health", timeout=10)
    assert r.status_code == 200


def test_known_bodies_name_real_routes():
    """Every valid body here belongs to a route of the table (no typos, no stale routes)."""
    table = {(r["method"], r["path"]) for r in ROUTES}
    w = type("W", (), {"pid": "p", "did": "d", "code": "/c/", "user_id": "u", "sample_id": "s", "team": "t",
                       "worker_id": "k", "worker_email": "e", "train_config": lambda self: {}})()
    missing = [k for k in _bodies(w) if k not in table]
    assert missing == [], missing


@pytest.mark.parametrize("route", ROUTES, ids=[rid(r) for r in ROUTES])
def test_mutations_never_500(world, route):
    method = route["method"]
    if route["access"] == "public" and route["path"] == "/health":
        pytest.skip("nothing to mutate")
    url = world.url(route)
    headers = {**world.h, "Content-Type": "application/json"}
    failures = []
    started = time.time()
    if method in BODY_METHODS:
        for label, data in body_cases(world.bodies.get((method, route["path"]))):
            r = world.http.request(method, url, data=data, headers=headers, timeout=60, allow_redirects=False)
            if r.status_code >= 500:
                failures.append(f"{label} -> {r.status_code} {r.text[:200]}")
    else:
        for label, q in query_cases():
            r = world.http.request(method, url + q, headers=headers, timeout=60, allow_redirects=False)
            if r.status_code >= 500:
                failures.append(f"{label} -> {r.status_code} {r.text[:200]}")
    if (method, route["path"]) == ("POST", "/v1/{project_id}/demanager/instances"):
        world.remove_instances()  # accepted mutations started Jupyter: not for the rest of the sweep
    alive(world)
    assert failures == [], f"{rid(route)} ({time.time() - started:.1f}s):\n" + "\n".join(failures[:30])
