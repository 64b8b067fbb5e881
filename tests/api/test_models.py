"""Model management (v1): import (POST /models) with the package
layout and config.json checks, asynchronous publishing into the registry
(<data_dir>/registry/models/<model_id>/...), list filters / sorting / paging,
get, and delete (single and cascade).

A model is produced by a real PyTorch training job and imported from its
train_url. The module uses a server of its own; every job it starts is
stopped and the server shut down by `shutdown` of the training tests.
Errors of this family are {"error_code", "error_msg", "error_message"}
without an is_success envelope."""
import json
import os
import time
import uuid

import pytest
import requests

from conftest import ADMIN_PASSWORD, Server, token_for, wait_until
from test_training_jobs import COMPLETED, TERMINAL, ReusedServer, TApi, shutdown

MBUCKET = "mdl"
SUMMARY_KEYS = {"model_id", "model_name", "model_version", "model_status", "model_type", "model_size", "tenant",
                "project", "owner", "create_at", "description", "source_type", "workspace_id", "model_source", "tunable",
                "market_flag", "publishable_flag", "install_type", "subscription_id", "extra", "specification"}
DETAIL_KEYS = SUMMARY_KEYS | {"source_location", "source_job_id", "source_job_version", "runtime", "execution_code",
                              "input_params", "output_params", "dependencies", "model_metrics", "apis", "model_docs",
                              "health", "model_algorithm", "model_labels", "labels_map", "config"}


def uid(prefix="m"):
    return prefix + uuid.uuid4().hex[:8]


# ------------------------------------------------------------------ fixtures and helpers

ENV = {"ATELIER_TRAIN_CORES": "4"}


@pytest.fixture(scope="module")
def srv():
    s = Server(extra_env=ENV)
    s.api = TApi(s)
    yield s
    shutdown(s, s.api)


@pytest.fixture
def mapi(srv):
    """The module server's client. A server a previous test crashed is started
    again on the same data dir, so that one crash fails one test only."""
    if srv.proc.poll() is not None:
        again = ReusedServer(srv.data_dir, srv.port, extra_env=ENV)
        srv.proc = again.proc
        srv.api.login()
    return srv.api


def registry_dir(srv, mid):
    return os.path.join(srv.data_dir, "registry", "models", mid)


def registry_files(srv, mid):
    """{relative path: bytes} of every file the registry holds for the model."""
    root = registry_dir(srv, mid)
    out = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            full = os.path.join(d, f)
            with open(full, "rb") as fh:
                out[os.path.relpath(full, root)] = fh.read()
    return out


def package(srv, files, root=None):
    """Writes {relative path: content} under a fresh folder; returns the folder ("/mdl/<x>/")."""
    root = root or f"/{MBUCKET}/{uid('p')}/"
    for rel, data in files.items():
        srv.objects.put(root + rel, data)
    return root


def simple_package(srv, size=10, extra=None):
    files = {"model/weights.bin": b"w" * size}
    files.update(extra or {})
    return package(srv, files)


def assert_err(r, status, code=None, field=None):
    """An error of the model family: status, error_code, error_msg (and error_message) naming `field`."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert "is_success" not in body, body
    assert isinstance(body.get("error_code"), str) and body["error_code"].startswith("ModelArts."), body
    assert isinstance(body.get("error_msg"), str) and body["error_msg"], body
    assert body.get("error_message") == body["error_msg"], body
    if code is not None:
        if isinstance(code, (set, tuple)):
            assert body["error_code"] in code, body
        else:
            assert body["error_code"] == code, body
    if field is not None:
        assert field in body["error_msg"], (field, body)
    return body


def body_for(src, name=None, version="1.0.0", type_="PyTorch", **extra):
    b = {"model_name": uid("m") if name is None else name, "model_version": version, "model_type": type_, "source_location": src}
    for k, v in extra.items():
        if v is None:
            b.pop(k, None)
        else:
            b[k] = v
    return b


def import_raw(mapi, body):
    try:
        return mapi.post("/models", json=body)
    except requests.ConnectionError as e:
        time.sleep(0.5)
        code = mapi.srv.proc.poll()
        raise AssertionError(f"the server died (exit status {code}) on POST /models {json.dumps(body)}: {e}") from None


def import_model(mapi, src, **kw):
    body = body_for(src, **kw)
    r = import_raw(mapi, body)
    assert r.status_code == 200, r.text
    mid = r.json()["model_id"]
    assert isinstance(mid, str)
    uuid.UUID(mid)  # a UUID string
    return mid


def get_model(mapi, mid):
    r = mapi.get(f"/models/{mid}")
    assert r.status_code == 200, r.text
    return r.json()


def wait_status(mapi, mid, until=("published", "failed"), timeout=30):
    last = [None]

    def reached():
        m = last[0] = get_model(mapi, mid)
        if m["model_status"] in until:
            return m
        assert m["model_status"] == "publishing", m
    return wait_until(reached, timeout, interval=0.02, what=lambda: f"model {mid} to reach {until}: {last[0]}")


def published(mapi, mid, timeout=30):
    m = wait_status(mapi, mid, timeout=timeout)
    assert m["model_status"] == "published", m
    return m


def listing(mapi, **params):
    r = mapi.get("/models", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"total_count", "count", "models"}, body
    assert body["count"] == len(body["models"]), body
    return body


def total(mapi):
    return listing(mapi, limit=1)["total_count"]


def delete(mapi, mid, **params):
    return mapi.delete(f"/models/{mid}", params=params)


# ------------------------------------------------------------------ 1. a model from a real training job

TRAIN = r'''
import argparse, json, os
import torch

p = argparse.ArgumentParser()
p.add_argument('--data_url')
p.add_argument('--train_url')
a, _ = p.parse_known_args()
torch.manual_seed(0)
x = torch.randn(64, 2)
y = (x[:, :1] * 2 - x[:, 1:] + 0.5)
model = torch.nn.Linear(2, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(50):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
final = float(loss.item())
print('final loss %.6f' % final, flush=True)
out = os.path.join(a.train_url, 'model')
os.makedirs(out, exist_ok=True)
torch.save(model.state_dict(), os.path.join(out, 'model.pt'))
config = {
    "model_algorithm": "predict_analysis",
    "model_type": "PyTorch",
    "runtime": "python3.6",
    "metrics": {"f1": 0.5, "recall": 0.25, "precision": 0.75, "accuracy": round(1.0 - min(final, 1.0), 6)},
    "apis": [{"protocol": "http", "url": "/", "method": "post",
              "request": {"Content-type": "application/json",
                          "data": {"type": "object", "properties": {"x": {"type": "array"}}}},
              "response": {"Content-type": "application/json",
                           "data": {"type": "object", "properties": {"y": {"type": "number"}}}}}],
    "dependencies": [{"installer": "pip", "packages": [
        {"package_name": "numpy", "package_version": "1.17.0", "restraint": "ATLEAST"},
        {"package_name": "six"}]}],
}
with open(os.path.join(out, 'config.json'), 'w') as f:
    json.dump(config, f, indent=2)
with open(os.path.join(out, 'customize_service.py'), 'w') as f:
    f.write("import torch\n\nclass Service:\n    def _inference(self, data):\n        return data\n")
with open(os.path.join(a.train_url, 'train_log.txt'), 'w') as f:
    f.write('final loss %.6f\n' % final)
'''


@pytest.fixture(scope="module")
def trained(srv):
    """A completed PyTorch training job whose train_url holds a model package:
    model/model.pt, model/config.json, model/customize_service.py, train_log.txt."""
    mapi = srv.api
    c = mapi.create(TRAIN, engine_id=1001)
    v = mapi.wait(c["job_id"], c["version_id"], until=TERMINAL, timeout=120)
    assert v["status"] == COMPLETED, (v, mapi.log(c["job_id"], c["version_id"]))
    train_url = c["config"]["train_url"]
    files = {name: srv.objects.get(train_url + name) for name in srv.objects.list(train_url)}
    assert set(files) == {"model/model.pt", "model/config.json", "model/customize_service.py", "train_log.txt"}, files
    assert files["model/model.pt"][:2] == b"PK", files["model/model.pt"][:8]  # torch.save's zip format
    return {"job": c, "version": v, "train_url": train_url, "files": files, "models": {}}


def import_trained(mapi, srv, trained, version, **extra):
    """Imports the job's train_url, waits for 'published' and checks what does
    not depend on the config used; returns the model."""
    c, v, train_url, files = trained["job"], trained["version"], trained["train_url"], trained["files"]
    name = trained.setdefault("name", uid("trained"))
    before = int(time.time() * 1000)
    mid = import_model(mapi, train_url, name=name, version=version, type_="PyTorch",
                       source_job_id=str(c["job_id"]), source_job_version=v["version_name"],
                       description="from a training job", **extra)
    m = get_model(mapi, mid)
    assert m["model_status"] in ("publishing", "published"), m
    m = published(mapi, mid)
    assert DETAIL_KEYS <= set(m), DETAIL_KEYS - set(m)
    assert (m["model_id"], m["model_name"], m["model_version"], m["model_type"]) == (mid, name, version, "PyTorch"), m
    assert m["source_location"] == train_url, m
    assert (m["source_job_id"], m["source_job_version"]) == (str(c["job_id"]), "V0001"), m
    assert m["execution_code"] == train_url + "model/customize_service.py", m  # auto-detected
    assert m["model_size"] == sum(len(b) for b in files.values()), (m["model_size"], {k: len(b) for k, b in files.items()})
    assert m["description"] == "from a training job"
    _, tok = token_for(srv.base, "admin", ADMIN_PASSWORD, "admin", project="local")
    assert (m["project"], m["tenant"], m["owner"]) == (mapi.pid, tok["user"]["domain"]["id"], tok["user"]["id"]), m
    assert m["workspace_id"] == "0" and m["model_source"] == "custom" and m["source_type"] == "", m
    assert sorted(m["install_type"]) == sorted(["real-time", "batch", "edge"]), m
    assert before - 5000 <= m["create_at"] <= int(time.time() * 1000) + 5000, m
    assert (m["input_params"], m["output_params"], m["model_docs"]) == ([], [], []), m
    # the summary in the list agrees
    got = listing(mapi, model_name=name, exact_match="true", model_version=version)
    assert got["total_count"] == 1 and got["models"][0]["model_id"] == mid, got
    s = got["models"][0]
    assert set(s) == SUMMARY_KEYS, set(s) ^ SUMMARY_KEYS
    assert {k: s[k] for k in SUMMARY_KEYS} == {k: m[k] for k in SUMMARY_KEYS}, (s, m)
    # every file of train_url is in the registry, byte for byte
    assert registry_files(srv, mid) == files
    trained["models"][mid] = m
    return m


def test_model_from_training_job(mapi, srv, trained):
    """The job's own model/config.json (with apis, metrics, dependencies)."""
    config_text = trained["files"]["model/config.json"].decode()
    config = json.loads(config_text)
    m = import_trained(mapi, srv, trained, "1.0.0")
    assert m["runtime"] == "python3.6", m  # from config.json: the request gave none
    assert m["config"] == config_text, m
    assert isinstance(m["apis"], str) and json.loads(m["apis"]) == config["apis"], m
    assert isinstance(m["model_metrics"], str) and json.loads(m["model_metrics"]) == config["metrics"], m
    assert m["dependencies"] == config["dependencies"], m
    assert m["model_algorithm"] == "predict_analysis", m


def test_model_from_training_job_outlives_its_source(mapi, srv, trained):
    """The same output imported with an initial_config (no apis) that replaces
    the package's config.json; then the source files are removed from the object
    store: the published models and their registry copies stay."""
    config = json.loads(trained["files"]["model/config.json"])
    config.pop("apis")
    config["runtime"] = "pytorch1.4-python3.7"
    init = json.dumps(config)
    m = import_trained(mapi, srv, trained, "1.0.1", initial_config=init)
    assert m["runtime"] == "pytorch1.4-python3.7", m  # from initial_config
    assert m["config"] == init, m
    assert m["apis"] == "[]" or json.loads(m["apis"]) == [], m
    assert json.loads(m["model_metrics"]) == config["metrics"], m
    assert m["dependencies"] == config["dependencies"], m

    assert srv.objects.delete_all(trained["train_url"]) == len(trained["files"])
    assert not srv.objects.exists(trained["train_url"])
    time.sleep(0.3)
    assert trained["models"], trained
    for mid, before in trained["models"].items():
        now = get_model(mapi, mid)
        assert now["model_status"] == "published" and now["model_size"] == before["model_size"], now
        assert now == before, (now, before)
        assert registry_files(srv, mid) == trained["files"]
    # the source is gone: a new import of it is refused
    assert_err(import_raw(mapi, body_for(trained["train_url"], name=trained["name"], version="1.0.2")), 400,
               "ModelArts.3017", "source_location")


# ------------------------------------------------------------------ 2. list filters, sorting and paging

def test_list_filters_sorting_and_paging(mapi, srv):
    base = uid("ls")
    a_name, b_name, c_name = base + "_net", base + "_netx", base + "Xnet"
    specs = [  # (name, version, type, description, size)
        (a_name, "1.0.0", "PyTorch", f"first of {base}", 30),
        (a_name, "1.0.1", "pytorch", "second one", 10),
        (a_name, "2.0.0", "PyTorch", "", 50),
        (b_name, "1.0.0", "TensorFlow", f"first of the other {base}", 20),
        (c_name, "3.1.4", "Scikit_Learn", "third 100% dXp", 40),
    ]
    ids = []
    for name, ver, typ, desc, size in specs:
        ids.append(import_model(mapi, simple_package(srv, size), name=name, version=ver, type_=typ, description=desc))
        time.sleep(0.01)  # distinct create_at
    for mid in ids:
        published(mapi, mid)
    a1, a2, a3, b1, c1 = ids
    by_id = dict(zip(ids, specs))

    def found(**params):
        body = listing(mapi, **params)
        assert body["total_count"] == body["count"], body  # everything on one page here
        return [m["model_id"] for m in body["models"]]

    # default: newest first
    assert found(model_name=base) == [c1, b1, a3, a2, a1]
    assert found(model_name=base, order="asc") == [a1, a2, a3, b1, c1]
    every = listing(mapi, model_name=base)
    for m in every["models"]:
        assert set(m) == SUMMARY_KEYS, set(m) ^ SUMMARY_KEYS
        name, ver, typ, desc, size = by_id[m["model_id"]]
        assert (m["model_name"], m["model_version"], m["model_type"], m["description"], m["model_size"]) == \
            (name, ver, typ, desc, size), m  # the type as given
        assert m["model_status"] == "published", m
    # fuzzy name: '_' is a literal underscore, not "any character"
    assert set(found(model_name=a_name)) == {a1, a2, a3, b1}
    assert set(found(model_name=base + "_")) == {a1, a2, a3, b1}
    assert set(found(model_name=a_name, exact_match="false")) == {a1, a2, a3, b1}
    assert set(found(model_name=a_name, exact_match="true")) == {a1, a2, a3}
    assert set(found(model_name=b_name, exact_match="true")) == {b1}
    assert found(model_name=base, exact_match="true") == []
    assert set(found(model_name="Xnet")) >= {c1} and not set(found(model_name="Xnet")) & {a1, a2, a3, b1}
    # version, status
    assert set(found(model_name=base, model_version="1.0.0")) == {a1, b1}
    assert set(found(model_name=base, model_version="3.1.4")) == {c1}
    assert found(model_name=base, model_version="9.9.9") == []
    assert set(found(model_name=base, model_status="published")) == set(ids)
    assert found(model_name=base, model_status="failed") == []
    assert found(model_name=base, model_status="publishing") == []
    # type (case-insensitive) and its negation
    assert set(found(model_name=base, model_type="PyTorch")) == {a1, a2, a3}
    assert set(found(model_name=base, model_type="pytorch")) == {a1, a2, a3}
    assert set(found(model_name=base, model_type="TensorFlow")) == {b1}
    assert set(found(model_name=base, not_model_type="PyTorch")) == {b1, c1}
    assert set(found(model_name=base, not_model_type="tensorflow")) == {a1, a2, a3, c1}
    assert_err(mapi.get("/models", params={"model_name": base, "model_type": "PyTorch", "not_model_type": "TensorFlow"}),
               400, "ModelArts.3037", "model_type")
    # description (fuzzy)
    assert set(found(model_name=base, description="first of")) == {a1, b1}
    assert set(found(description=base)) == {a1, b1}
    assert set(found(model_name=base, description="thir")) == {c1}
    assert found(model_name=base, description="nothing like it") == []
    assert set(found(model_name=base, description="%")) == {c1}  # a literal '%'
    assert set(found(model_name=base, description="d_p")) == set()  # '_' literal in descriptions too
    # sort by version and size
    assert found(model_name=a_name, exact_match="true", sort_by="model_version", order="asc") == [a1, a2, a3]
    assert found(model_name=a_name, exact_match="true", sort_by="model_version", order="desc") == [a3, a2, a1]
    assert found(model_name=a_name, exact_match="true", sort_by="model_version") == [a3, a2, a1]  # desc by default
    assert found(model_name=base, sort_by="model_size", order="asc") == [a2, b1, a1, c1, a3]
    assert found(model_name=base, sort_by="model_size", order="desc") == [a3, c1, a1, b1, a2]
    assert found(model_name=base, sort_by="create_at", order="asc") == [a1, a2, a3, b1, c1]

    # paging: offset is a page index; total_count counts every match, count this page
    pages = []
    for page in range(4):
        body = listing(mapi, model_name=base, limit=2, offset=page, order="asc")
        assert body["total_count"] == 5, body
        pages.append([m["model_id"] for m in body["models"]])
    assert [len(p) for p in pages] == [2, 2, 1, 0], pages
    assert sum(pages, []) == [a1, a2, a3, b1, c1]
    body = listing(mapi, model_name=base, limit=1, offset=4, order="asc")
    assert (body["total_count"], body["count"], [m["model_id"] for m in body["models"]]) == (5, 1, [c1]), body
    body = listing(mapi, model_name=base, limit=1000)
    assert (body["total_count"], body["count"]) == (5, 5), body
    # the whole project without filters
    body = listing(mapi)
    assert body["total_count"] >= 5 and body["count"] == body["total_count"], body

    # bad query values
    for params, field in (({"limit": "0"}, "limit"), ({"limit": "1001"}, "limit"), ({"limit": "x"}, "limit"),
                          ({"offset": "-1"}, "offset"), ({"sort_by": "model_name"}, "sort_by"),
                          ({"order": "up"}, "order"), ({"model_status": "ready"}, "model_status"),
                          ({"model_name": base, "exact_match": "yes"}, "exact_match")):
        assert_err(mapi.get("/models", params=params), 400, "ModelArts.3037", field)


def test_sort_by_model_version_is_by_version_number(mapi, srv):
    """Versions are X.Y.Z numbers: 1.0.9 < 1.0.10 < 2.0.0 < 10.0.0 (not string order)."""
    name = uid("vs")
    ids = {}
    for ver in ("10.0.0", "1.0.10", "2.0.0", "1.0.9"):
        ids[ver] = import_model(mapi, simple_package(srv), name=name, version=ver)
    want = ["1.0.9", "1.0.10", "2.0.0", "10.0.0"]
    got = {}
    for order in ("asc", "desc"):
        body = listing(mapi, model_name=name, exact_match="true", sort_by="model_version", order=order)
        got[order] = [m["model_version"] for m in body["models"]]
    assert got == {"asc": want, "desc": want[::-1]}, got


# ------------------------------------------------------------------ 3. delete

def test_cascade_and_single_delete(mapi, srv):
    name = uid("del")
    other = name + "x"  # shares the prefix: a fuzzy cascade would take it too
    vs = [import_model(mapi, simple_package(srv, 5 + i), name=name, version=f"1.0.{i}") for i in range(3)]
    o1 = import_model(mapi, simple_package(srv, 7), name=other, version="1.0.0")
    for mid in vs + [o1]:
        published(mapi, mid)
        assert registry_files(srv, mid), mid
    o1_files = registry_files(srv, o1)
    count = total(mapi)

    assert_err(delete(mapi, vs[1], cascade="perhaps"), 400, "ModelArts.3037", "cascade")
    assert total(mapi) == count

    r = delete(mapi, vs[1], cascade="true")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"delete_success_list", "delete_failed_list"}, body
    assert sorted(body["delete_success_list"]) == sorted(vs) and len(body["delete_success_list"]) == 3, body
    assert body["delete_failed_list"] == [], body
    for mid in vs:
        assert_err(mapi.get(f"/models/{mid}"), 404, "ModelArts.3001")
        assert not os.path.exists(registry_dir(srv, mid)), os.listdir(registry_dir(srv, mid))
    assert total(mapi) == count - 3
    assert listing(mapi, model_name=name, exact_match="true")["total_count"] == 0
    # the other name is untouched
    assert get_model(mapi, o1)["model_status"] == "published"
    assert registry_files(srv, o1) == o1_files
    assert listing(mapi, model_name=other, exact_match="true")["total_count"] == 1

    # without cascade only that version goes
    w1 = import_model(mapi, simple_package(srv), name=name, version="2.0.0")
    w2 = import_model(mapi, simple_package(srv), name=name, version="2.0.1")
    published(mapi, w1), published(mapi, w2)
    r = delete(mapi, w1)
    assert r.status_code == 200, r.text
    assert r.json() == {"delete_success_list": [w1], "delete_failed_list": []}, r.text
    assert_err(mapi.get(f"/models/{w1}"), 404, "ModelArts.3001")
    assert not os.path.exists(registry_dir(srv, w1))
    assert get_model(mapi, w2)["model_status"] == "published" and registry_files(srv, w2)
    r = delete(mapi, w2, cascade="false")
    assert r.status_code == 200 and r.json()["delete_success_list"] == [w2], r.text
    assert get_model(mapi, o1)["model_status"] == "published"
    # deleted twice
    assert_err(delete(mapi, w2), 404, "ModelArts.3001")
    # a name may be imported again once deleted
    again = import_model(mapi, simple_package(srv), name=name, version="1.0.0")
    published(mapi, again)


def test_cascade_deletes_at_most_20(mapi, srv):
    name = uid("many")
    src = simple_package(srv)
    ids = [import_model(mapi, src, name=name, version=f"1.0.{i}") for i in range(22)]
    r = delete(mapi, ids[0], cascade="true")
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["delete_success_list"]) == 20 and ids[0] in body["delete_success_list"], body
    assert len(set(body["delete_success_list"])) == 20 and set(body["delete_success_list"]) <= set(ids), body
    assert listing(mapi, model_name=name, exact_match="true")["total_count"] == 2
    rest = [m["model_id"] for m in listing(mapi, model_name=name, exact_match="true")["models"]]
    r = delete(mapi, rest[0], cascade="true")
    assert r.status_code == 200 and sorted(r.json()["delete_success_list"]) == sorted(rest), r.text
    assert listing(mapi, model_name=name, exact_match="true")["total_count"] == 0


# ------------------------------------------------------------------ 4. bad imports

def test_bad_imports_create_nothing(mapi, srv):
    good = simple_package(srv, extra={"model/customize_service.py": "x = 1\n", "other.py": "y = 2\n"})
    no_model = package(srv, {"weights.bin": b"w", "modelx/a.bin": b"a"})
    missing = f"/{MBUCKET}/{uid('missing')}/"

    def cfg_pkg(text):
        return package(srv, {"model/weights.bin": b"w", "model/config.json": text})

    before_registry = set(os.listdir(os.path.join(srv.data_dir, "registry", "models"))) \
        if os.path.isdir(os.path.join(srv.data_dir, "registry", "models")) else set()
    count = total(mapi)

    def bad(body, status, code, field):
        r = import_raw(mapi, body)
        try:
            assert_err(r, status, code, field)
        except AssertionError as e:
            raise AssertionError(f"{json.dumps(body, ensure_ascii=False)} -> {e}") from None
        assert total(mapi) == count, body

    g = lambda **kw: body_for(good, **kw)  # noqa: E731

    # the package layout
    bad(g(source_location=missing), 400, "ModelArts.3017", "source_location")
    bad(g(source_location=no_model), 400, "ModelArts.3017", "source_location")
    bad(g(source_location=f"/{uid('nobkt')}/x/"), 400, "ModelArts.3017", "source_location")
    # required fields
    for f in ("model_name", "model_version", "model_type", "source_location"):
        bad(g(**{f: None}), 400, "ModelArts.3036", f)
    # names
    for name in ("", "bad name", "a.b", "a/b", "x" * 65, "模" * 65, "tab\tname", "a+b", "a@b"):
        bad(g(name=name), 400, "ModelArts.3037", "model_name")
    # versions
    for ver in ("01.0.0", "1.0", "100.0.0", "1.0.0.0", "1.a.0", "1.00.0", "v1.0.0", "-1.0.0", ""):
        bad(g(version=ver), 400, "ModelArts.3037", "model_version")
    # types and runtimes
    bad(g(type_="Keras"), 400, "ModelArts.3037", "model_type")
    bad(g(type_="Image"), 400, "ModelArts.3037", "model_type")
    bad(g(type_="Template"), 400, "ModelArts.3034", "template")
    bad(g(type_="Template", template={"template_id": "tpl-nope", "template_inputs": [{"input_id": "in", "input": good}]}),
        400, "ModelArts.3029", "tpl-nope")
    bad(g(runtime="python3.8"), 400, "ModelArts.3037", "runtime")
    bad(g(type_="TensorFlow", runtime="pytorch1.4-python3.7"), 400, "ModelArts.3037", "runtime")
    bad(g(type_="XGBoost", runtime="python3.7"), 400, "ModelArts.3037", "runtime")
    bad(g(type_="MindSpore"), 400, ("ModelArts.3036", "ModelArts.3037"), "runtime")
    # description and other plain fields
    bad(g(description="a <b>"), 400, "ModelArts.3037", "description")
    for ch in "&!'\"=>":
        bad(g(description="x" + ch), 400, "ModelArts.3037", "description")
    bad(g(description="d" * 101), 400, "ModelArts.3037", "description")
    bad(g(model_algorithm="1abc"), 400, "ModelArts.3037", "model_algorithm")
    bad(g(model_metrics='{"f1": "high"}'), 400, "ModelArts.3037", "model_metrics")
    bad(g(model_metrics="not json"), 400, "ModelArts.3037", "model_metrics")
    bad(g(install_type=["online"]), 400, "ModelArts.3037", "install_type")
    bad(g(model_docs=[{"doc_name": "d%d" % i, "doc_url": "https://x.example/d"} for i in range(4)]), 400,
        "ModelArts.3037", "model_docs")
    bad(g(model_docs=[{"doc_name": "doc", "doc_url": "ftp://x.example/d"}]), 400, "ModelArts.3037", "doc_url")
    bad(g(model_docs=[{"doc_name": "1doc", "doc_url": "https://x.example/d"}]), 400, "ModelArts.3037", "doc_name")
    param = {"url": "/", "method": "post", "protocol": "http", "param_name": "x", "param_type": "int"}
    bad(g(input_params=[dict(param, method="put")]), 400, "ModelArts.3037", "method")
    bad(g(input_params=[dict(param, protocol="ftp")]), 400, "ModelArts.3037", "protocol")
    bad(g(output_params=[dict(param, param_type="string", min=1)]), 400, "ModelArts.3037", "min")
    bad(g(input_params=[{k: v for k, v in param.items() if k != "param_name"}]), 400, "ModelArts.3036", "param_name")
    # dependencies
    dep = lambda **p: [{"installer": "pip", "packages": [dict({"package_name": "numpy"}, **p)]}]  # noqa: E731
    bad(g(dependencies=dep(package_version="1.17.0")), 400, "ModelArts.3041", "dependencies")
    bad(g(dependencies=dep(package_version="1.17.0", restraint="MAYBE")), 400, "ModelArts.3037", "restraint")
    bad(g(dependencies=[{"installer": "conda", "packages": [{"package_name": "numpy"}]}]), 400, "ModelArts.3037",
        "installer")
    # execution_code
    bad(g(execution_code=good + "other.py"), 400, "ModelArts.3037", "execution_code")  # exists, outside model/
    bad(g(execution_code=good + "model/missing.py"), 400, "ModelArts.3037", "execution_code")
    bad(g(execution_code=no_model + "weights.bin"), 400, "ModelArts.3037", "execution_code")
    # config.json in the package (or initial_config)
    bad(g(source_location=cfg_pkg("{not json")), 400, "ModelArts.3015", "config.json")
    bad(g(source_location=cfg_pkg("[1, 2]")), 400, "ModelArts.3015", "config.json")
    bad(g(source_location=cfg_pkg(json.dumps({"model_type": "TensorFlow"}))), 400, "ModelArts.3015", "model_type")
    bad(g(source_location=cfg_pkg(json.dumps({"model_type": "PyTorch", "runtime": "python3.9"}))), 400,
        "ModelArts.3015", "runtime")
    bad(g(source_location=cfg_pkg(json.dumps({"metrics": {"f1": "high"}}))), 400, "ModelArts.3015", "metrics")
    bad(g(source_location=cfg_pkg(json.dumps({"apis": [{"method": "put"}]}))), 400, "ModelArts.3015", "apis")
    bad(g(source_location=cfg_pkg(json.dumps({"dependencies": [{"installer": "yum", "packages": []}]}))), 400,
        "ModelArts.3015", "dependencies")
    bad(g(initial_config=json.dumps({"model_type": "MXNet"})), 400, "ModelArts.3015", "model_type")
    bad(g(initial_config=json.dumps({"metrics": {"accuracy": [1]}})), 400, "ModelArts.3015", "metrics")

    # a good one, then its duplicate
    name = uid("dup")
    mid = import_model(mapi, good, name=name, version="1.0.0")
    count += 1
    assert total(mapi) == count
    bad(g(name=name, version="1.0.0"), 409, "ModelArts.3002", name)
    bad(body_for(simple_package(srv), name=name, version="1.0.0", type_="TensorFlow"), 409, "ModelArts.3002", name)
    published(mapi, mid)
    # nothing else reached the registry
    after = set(os.listdir(os.path.join(srv.data_dir, "registry", "models")))
    assert after - before_registry == {mid}, after - before_registry


def test_model_name_non_ascii_must_be_letters(mapi, srv):
    """Non-ASCII is allowed for letters (Chinese and other scripts) only:
    punctuation, symbols and emoji are not letters, digits, '-' or '_'."""
    src = simple_package(srv)
    ok = [n + uid("") for n in ("模型", "Modèle", "модель", "नमूना")]
    for name in ok:
        r = import_raw(mapi, body_for(src, name=name))
        assert r.status_code == 200, (name, r.text)
    count = total(mapi)
    accepted = []
    for name in ("名字，", "a😀", "a—b", "a€", "a\u00a0b", "模型。", "a·b", "a\u200bb"):
        r = import_raw(mapi, body_for(src, name=name))
        if r.status_code == 200:
            accepted.append(name)
        else:
            assert_err(r, 400, "ModelArts.3037", "model_name")
    assert accepted == [], f"names that are not letters/digits/-/_ were accepted: {accepted!r}"
    assert total(mapi) == count


def test_malformed_paths_are_invalid_parameters(mapi, srv):
    """A source_location or execution_code that is not an OBS path is an
    invalid parameter of this API (400 ModelArts.3037 naming the field)."""
    good = simple_package(srv, extra={"model/customize_service.py": "x = 1\n"})
    count = total(mapi)
    wrong = []
    for body, field in ((body_for(good.lstrip("/")), "source_location"),
                        (body_for("/Bad_Bucket/x/"), "source_location"),
                        (body_for(good + "../x/"), "source_location"),
                        (body_for("https://example.com/bucket/dir/"), "source_location"),
                        (body_for(good, execution_code=good + "model/../model/customize_service.py"), "execution_code"),
                        (body_for(good, execution_code="customize_service.py"), "execution_code")):
        r = import_raw(mapi, body)
        try:
            assert_err(r, 400, "ModelArts.3037", field)
        except AssertionError:
            wrong.append((body[field], r.status_code, r.json().get("error_code")))
    assert total(mapi) == count
    assert wrong == [], f"(value, status, error_code) instead of 400 ModelArts.3037: {wrong}"


def test_concurrent_duplicates_create_one_model(mapi, srv):
    """Eight simultaneous imports of one (name, version): one 200, seven 409 ModelArts.3002."""
    import concurrent.futures
    src = simple_package(srv)
    name = uid("race")
    body = body_for(src, name=name, version="1.0.0")
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(lambda _: import_raw(mapi, body), range(8)))
    ok = [r for r in rs if r.status_code == 200]
    assert len(ok) == 1, [(r.status_code, r.text) for r in rs]
    for r in rs:
        if r.status_code != 200:
            assert_err(r, 409, "ModelArts.3002", name)
    got = listing(mapi, model_name=name, exact_match="true")
    assert [m["model_id"] for m in got["models"]] == [ok[0].json()["model_id"]], got


def test_accepted_import_forms(mapi, srv):
    """Names with non-ASCII letters, bounds of versions, names and descriptions,
    the three source_location forms, a case-insensitive model_type, MindSpore
    with a runtime, initial_config, explicit fields."""
    src = simple_package(srv, 12, extra={"model/sub/extra.txt": "abc", "readme.md": "hi"})
    size = 12 + 3 + 2
    bucket, rest = src.strip("/").split("/", 1)
    cases = [
        dict(name="模型_v-1" + uid("")),
        dict(name="N" * 56 + uid("")[-8:], version="0.0.0"),
        dict(version="99.99.99", description="d" * 100),
        dict(source=f"obs://{bucket}/{rest}"),
        dict(source=f"https://{bucket}.obs.cn-north-4.myhuaweicloud.com/{rest.rstrip('/')}"),
        dict(source=src.rstrip("/")),
        dict(type_="tensorflow", runtime="tf2.1-python3.7"),
        dict(type_="MindSpore", runtime="mindspore1.2-python3.7"),
        dict(type_="Caffe", runtime="python3.6-gpu"),
    ]
    ids = []
    for cs in cases:
        kw = dict(cs)
        source = kw.pop("source", src)
        ids.append((import_model(mapi, source, **kw), cs))
    for mid, cs in ids:
        m = published(mapi, mid)
        assert m["source_location"] == src, (cs, m)
        assert m["model_size"] == size, (cs, m)
        if "name" in cs:
            assert m["model_name"] == cs["name"], m
        if "runtime" in cs:
            assert m["runtime"] == cs["runtime"], m
        else:
            assert m["runtime"] == "python2.7", m  # the default
        if "type_" in cs:
            assert m["model_type"] == cs["type_"], m  # stored as given
        assert set(registry_files(srv, mid)) == {"model/weights.bin", "model/sub/extra.txt", "readme.md"}
        assert m["execution_code"] == "", m  # no customize_service.py in model/



def test_explicit_fields_win_and_come_back_as_given(mapi, srv):
    cfg = {"model_type": "PyTorch", "runtime": "python3.7", "model_algorithm": "object_detection",
           "metrics": {"accuracy": 0.5}, "dependencies": [{"installer": "pip", "packages": [{"package_name": "six"}]}]}
    pkg = package(srv, {"model/w.bin": b"1234", "model/code/service.py": "pass\n", "model/customize_service.py": "",
                        "model/config.json": json.dumps(cfg)})
    params = [{"url": "/", "method": "post", "protocol": "https", "param_name": "images", "param_type": "file"},
              {"url": "/", "method": "get", "protocol": "http", "param_name": "n", "param_type": "int", "min": 1, "max": 9,
               "param_desc": "how many"}]
    outs = [{"url": "/", "method": "post", "protocol": "https", "param_name": "score", "param_type": "float", "min": 0.5}]
    deps = [{"installer": "pip", "packages": [{"package_name": "numpy", "package_version": "1.17.0", "restraint": "EXACT"},
                                              {"package_name": "torch", "package_version": "1.4", "restraint": "ATMOST"},
                                              {"package_name": "six"}]}]
    docs = [{"doc_name": "guide", "doc_url": "https://example.com/guide"}, {"doc_name": "说明-1", "doc_url": "http://e.x/y"}]
    metrics = '{"f1": 0.9, "recall": 0.8, "precision": 1, "accuracy": 0.85}'
    mid = import_model(mapi, pkg, version="1.2.3", runtime="pytorch1.4-python3.7", model_algorithm="image_classification",
                       execution_code=pkg + "model/code/service.py", input_params=params, output_params=outs,
                       dependencies=deps, model_metrics=metrics, model_docs=docs, install_type=["real-time", "batch"],
                       workspace_id="0")
    m = published(mapi, mid)
    assert m["runtime"] == "pytorch1.4-python3.7" and m["model_algorithm"] == "image_classification", m
    assert m["execution_code"] == pkg + "model/code/service.py", m  # not the auto-detected one
    assert m["input_params"] == params and m["output_params"] == outs, m
    assert m["dependencies"] == deps, m
    assert m["model_metrics"] == metrics, m
    assert m["model_docs"] == docs, m
    assert m["install_type"] == ["real-time", "batch"], m
    assert m["config"] == json.dumps(cfg), m
    assert m["model_size"] == 4 + 5 + len(json.dumps(cfg)), m

    # initial_config replaces the package's config.json
    init = json.dumps({"model_type": "PyTorch", "runtime": "python3.6", "metrics": {"f1": 0.25}})
    mid = import_model(mapi, pkg, version="1.2.4", initial_config=init)
    m = published(mapi, mid)
    assert m["config"] == init and m["runtime"] == "python3.6", m
    assert json.loads(m["model_metrics"]) == {"f1": 0.25}, m
    assert m["execution_code"] == pkg + "model/customize_service.py", m


def test_apis_in_the_request_or_the_config(mapi, srv):
    """apis (request Api objects, or config.json's apis) are accepted and come
    back as a JSON-encoded string; the request's win over the config's."""
    cfg_apis = [{"protocol": "http", "url": "/", "method": "post",
                 "request": {"Content-type": "application/json", "data": {"type": "object"}},
                 "response": {"Content-type": "application/json", "data": {"type": "object"}}}]
    pkg = package(srv, {"model/w.bin": b"1", "model/config.json": json.dumps({"apis": cfg_apis})})
    req_apis = [{"url": "/x", "method": "post", "protocol": "https",
                 "input_params": {"type": "object", "properties": {"images": {"type": "file"}}},
                 "output_params": {"type": "object", "properties": {"score": {"type": "number"}}}}]
    a = import_model(mapi, simple_package(srv), apis=req_apis)
    m = published(mapi, a)
    assert isinstance(m["apis"], str) and json.loads(m["apis"]) == req_apis, m
    b = import_model(mapi, pkg)
    m = published(mapi, b)
    assert json.loads(m["apis"]) == cfg_apis, m
    c = import_model(mapi, pkg, version="1.0.1", apis=req_apis)
    m = published(mapi, c)
    assert json.loads(m["apis"]) == req_apis, m


# ------------------------------------------------------------------ 5. publishing that cannot finish, and deletion during publishing

def blocker(srv, n):
    """A package of n small files: its publication keeps the server's one task
    worker busy for a while (n * 1000 bytes to copy, file by file)."""
    root = f"/{MBUCKET}/{uid('big')}/"
    srv.objects.put_many([f"{root}model/part{i:05d}.bin" for i in range(n)], b"z" * 1000)
    return root


def publish_task(srv, mid):
    """(status, progress) of the model's publication in the server's task queue:
    QUEUING (its copy has not started), RUNNING, COMPLETED or FAILED, and the
    files copied so far (recorded every 100). The API does not show when a
    publication starts, so the tests read it from the metadata database."""
    row = srv.db.query_one("SELECT status, progress FROM tasks WHERE kind = 'model-publish' AND resource_id = ? "
                           "ORDER BY created_at DESC", (mid,))
    assert row is not None, f"no publish task for {mid}"
    return row[0], json.loads(row[1] or "{}")


def registry_has_files(srv, mid):
    """Whether the registry holds any file of the model yet (cheaper than registry_files)."""
    return any(fs for _, _, fs in os.walk(registry_dir(srv, mid)))


BLOCKER_FILES = 3000  # the first attempt's blocker; each further attempt's is four times larger
assert BLOCKER_FILES % 100 == 0  # the progress of a copy is recorded every 100 files: a whole copy shows them all
ATTEMPTS = 4


def test_source_gone_before_the_copy_fails_the_model(mapi, srv):
    """Publications run one at a time, in order (one task worker). While a big
    one is copied, the next model's source is removed before its copy starts:
    that model ends 'failed' with nothing in the registry.

    That the removal came first is not left to timing: it is read from the
    task queue after the removal (the model's publication still QUEUING). On a
    machine where the big copy was already over by then, the model's copy
    may have run before or during the removal; what it published is checked
    (whole files of its package, or nothing and 'failed'), and the attempt is
    made again behind a blocker four times larger."""
    n = BLOCKER_FILES
    files = {"model/weights.bin": b"w" * 10, "model/config.json": json.dumps({"runtime": "python3.6"}).encode()}
    for _ in range(ATTEMPTS):
        big_src = blocker(srv, n)
        victim_src = package(srv, files)
        big = import_model(mapi, big_src, name=uid("blk"))
        victim = import_model(mapi, victim_src, name=uid("victim"))
        assert srv.objects.delete_all(victim_src) == len(files)
        state, _ = publish_task(srv, victim)
        if state == "QUEUING":
            break
        # The victim's copy had begun: whatever it published is whole files of its package, counted in its size.
        m = wait_status(mapi, victim, timeout=60)
        got = registry_files(srv, victim)
        assert all(files[k] == v for k, v in got.items()), (set(got), set(files))
        if m["model_status"] == "published":
            assert got and m["model_size"] == sum(len(v) for v in got.values()), (m, set(got))
        else:
            assert got == {} and m["model_size"] == 0, (m, set(got))
        published(mapi, big, timeout=60)
        for mid in (victim, big):
            assert delete(mapi, mid).status_code == 200
        n *= 4
    else:
        raise AssertionError(f"the victim's publication started before its source was removed in all {ATTEMPTS} "
                             f"attempts, the last behind {n // 4} files")
    m = wait_status(mapi, victim, timeout=60)
    assert m["model_status"] == "failed", m
    assert m["model_size"] == 0, m
    assert registry_files(srv, victim) == {}
    assert m["runtime"] == "python3.6", m  # the config was read at import time
    body = listing(mapi, model_status="failed", model_name=m["model_name"], exact_match="true")
    assert [x["model_id"] for x in body["models"]] == [victim], body
    b = published(mapi, big, timeout=60)
    assert b["model_size"] == n * 1000, b
    # a failed model can be deleted
    r = delete(mapi, victim)
    assert r.status_code == 200 and r.json()["delete_success_list"] == [victim], r.text
    assert_err(mapi.get(f"/models/{victim}"), 404, "ModelArts.3001")
    assert delete(mapi, big).status_code == 200


def test_delete_while_publishing_leaves_no_registry_files(mapi, srv):
    """A model deleted while its files are being copied into the registry must
    leave nothing there once the copy has stopped.

    The delete is sent once the copy has put files in the registry. That it
    came before the copy ended is not left to timing: read from the task
    queue after the delete returned, the publication still runs and its
    progress is short of all files. A model whose copy was already over was
    deleted after publishing instead; nothing may be left of it either, and
    the attempt is made again with a blocker four times larger."""
    n = BLOCKER_FILES
    for _ in range(ATTEMPTS):
        big = import_model(mapi, blocker(srv, n), name=uid("blk"))
        sentinel = import_model(mapi, simple_package(srv), name=uid("sentinel"))  # published after big's copy
        wait_until(lambda: registry_has_files(srv, big) or publish_task(srv, big)[0] not in ("QUEUING", "RUNNING"),
                   timeout=30, interval=0.005, what="the copy to begin")
        r = delete(mapi, big)
        state, progress = publish_task(srv, big)
        during = state == "RUNNING" and progress.get("files", 0) < n
        assert r.status_code == 200 and r.json()["delete_success_list"] == [big], r.text
        published(mapi, sentinel, timeout=60)
        assert_err(mapi.get(f"/models/{big}"), 404, "ModelArts.3001")
        left = registry_files(srv, big)
        assert left == {}, f"{len(left)} files of the deleted model {big} are left in the registry"
        assert listing(mapi, model_name=big, exact_match="true")["total_count"] == 0
        if during:
            return
        n *= 4
    raise AssertionError(f"the copy was over before the delete in all {ATTEMPTS} attempts, the last of {n // 4} files")


# ------------------------------------------------------------------ 6. unknown models

def test_unknown_model(mapi):
    for mid in (str(uuid.uuid4()), "not-a-uuid"):
        assert_err(mapi.get(f"/models/{mid}"), 404, "ModelArts.3001", mid)
        assert_err(mapi.delete(f"/models/{mid}"), 404, "ModelArts.3001", mid)
        assert_err(mapi.delete(f"/models/{mid}", params={"cascade": "true"}), 404, "ModelArts.3001", mid)


def test_requires_a_token(srv, mapi):
    r = requests.get(f"{srv.base}/v1/{mapi.pid}/models")
    assert r.status_code == 401, r.text
