"""Legacy training (v1): engines and resource specs, training jobs
run by the local runner (a bubblewrap sandbox per job), their lifecycle
(INIT -> WAITING -> RUNNING -> COMPLETED / FAILED / KILLED), output and log
publication to OBS, aom-log paging and following, versions, validation,
the capacity queue, survival of a server restart, training-job-configs and
the job list.

Every test here uses servers of its own (some need special settings); each
job a test starts is stopped (through the API, and by supervisor PID as a
last resort) before its server goes."""
import json
import os
import shutil
import signal
import subprocess
import textwrap
import time
import uuid

import pytest
import requests

from conftest import ADMIN_PASSWORD, BIN, Server, token_for, wait_until
from datahelpers import Api

INIT, WAITING, RUNNING, KILLING, COMPLETED, FAILED, KILLED, LOST = 1, 7, 8, 9, 10, 11, 12, 14
TERMINAL = {3, 5, 6, 10, 11, 12, 13, 14, 16, 17, 20, 21}
BUCKET = "bkt"
EXIT0 = "[atelier] exit code 0"


def uid(prefix="t"):
    return prefix + uuid.uuid4().hex[:8]


# ------------------------------------------------------------------ servers

class ReusedServer(Server):
    """A server process on the data dir (and port) of an earlier one whose
    process is gone: what an operator's restart looks like."""

    def __init__(self, data_dir, port, extra_env=None):  # noqa: super().__init__ would make a new data dir
        self.data_dir = data_dir
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        env = dict(os.environ)
        env.update({"ATELIER_ADMIN_PASSWORD": ADMIN_PASSWORD, "ATELIER_LOG_FILE": os.path.join(data_dir, "server.log")})
        env.update(extra_env or {})
        self.env = env
        deadline = time.time() + 20
        while True:  # the old process' port may take a moment to be released
            self.proc = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir],
                                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            ok = False
            while time.time() < deadline and self.proc.poll() is None:
                try:
                    if requests.get(self.base + "/health", timeout=1).status_code == 200:
                        ok = True
                        break
                except requests.RequestException:
                    time.sleep(0.05)
            if ok:
                break
            if self.proc.poll() is None:
                self.stop(signal.SIGKILL)
            err = self.proc.stderr.read()
            if time.time() >= deadline:
                raise RuntimeError("restarted server did not become healthy: " + err)
            time.sleep(0.2)
        self.project_id = None
        self.domain_id = None


def process_start(pid):
    """starttime of /proc/<pid>/stat (0 when the process is gone or a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return 0
    rest = s[s.rfind(")") + 2:].split()
    if rest[0] == "Z":
        return 0
    return int(rest[19])


def supervisors(srv):
    """(pid, start) of every job supervisor recorded in the server's data dir."""
    out = []
    root = os.path.join(srv.data_dir, "training")
    if not os.path.isdir(root):
        return out
    for name in os.listdir(root):
        try:
            with open(os.path.join(root, name, "supervisor.json")) as f:
                s = json.load(f)
            out.append((int(s["pid"]), int(s["start"])))
        except (OSError, ValueError, KeyError):
            continue
    return out


def shutdown(srv, tapi=None):
    """Stops every job of the server (through the API when it still answers),
    the server itself, and, by PID, any job supervisor still alive; then
    removes the data dir."""
    sups = supervisors(srv)
    if tapi is not None and srv.proc.poll() is None:
        try:
            for j in tapi.list_jobs(per_page=1000)["jobs"]:
                tapi.delete(f"/training-jobs/{j['job_id']}")
        except Exception:  # teardown must go on
            pass
    deadline = time.time() + 10
    while time.time() < deadline and any(process_start(p) == st for p, st in sups):
        time.sleep(0.05)
    srv.stop()
    sups += supervisors(srv)
    for p, st in sups:
        if process_start(p) == st:
            os.kill(p, signal.SIGTERM)  # the supervisor kills its job's tree on SIGTERM
    deadline = time.time() + 10
    while time.time() < deadline and any(process_start(p) == st for p, st in sups):
        time.sleep(0.05)
    for p, st in sups:
        if process_start(p) == st:
            os.kill(p, signal.SIGKILL)
    shutil.rmtree(srv.data_dir, ignore_errors=True)


# ------------------------------------------------------------------ client

class TApi(Api):
    """Client of /v1/{project_id} (legacy training) for the account owner."""

    def __init__(self, srv):
        self.srv = srv
        self.login()

    def login(self):
        tok, body = token_for(self.srv.base, "admin", ADMIN_PASSWORD, "admin", project="local")
        Api.__init__(self, self.srv, {"X-Auth-Token": tok}, body["project"]["id"])

    @property
    def base(self):
        return f"{self.srv.base}/v1/{self.pid}"

    # ---------------------------------------------------------------- jobs

    def code(self, script, tag=None):
        """Puts `script` as train.py of a fresh code folder; returns (app_url, boot_file_url)."""
        root = f"/{BUCKET}/{tag or uid('c')}/code/"
        self.srv.objects.put(root + "train.py", textwrap.dedent(script))
        return root, root + "train.py"

    def config(self, script="print('hello')\n", params=(), **over):
        """A valid TrainConfig running `script`, with its own code/data/output folders."""
        root = f"/{BUCKET}/{uid('j')}/"
        self.srv.objects.put(root + "code/train.py", textwrap.dedent(script))
        self.srv.objects.put(root + "data/readme.txt", "data\n")
        cfg = {"worker_server_num": 1, "app_url": root + "code/", "boot_file_url": root + "code/train.py",
               "engine_id": 1, "spec_id": 1, "data_url": root + "data/", "train_url": root + "out/",
               "parameter": [{"label": k, "value": str(v)} for k, v in params]}
        cfg.update(over)
        return cfg

    def create_raw(self, body):
        return self.post("/training-jobs", json=body)

    def create(self, script="print('hello')\n", name=None, params=(), desc=None, **over):
        """Creates a job running `script`; returns the create response (with the config under 'config')."""
        cfg = self.config(script, params, **over)
        body = {"job_name": name or uid("job"), "config": cfg}
        if desc is not None:
            body["job_desc"] = desc
        r = self.create_raw(body)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["is_success"] is True, out
        out["config"] = cfg
        return out

    def version(self, job_id, vid):
        r = self.get(f"/training-jobs/{job_id}/versions/{vid}")
        assert r.status_code == 200, r.text
        v = r.json()
        assert v["is_success"] is True, v
        return v

    def wait(self, job_id, vid, until=TERMINAL, timeout=60):
        """Polls the version until its status is in `until`; returns it."""
        last = [None]

        def reached():
            v = last[0] = self.version(job_id, vid)
            return v if v["status"] in until else None
        return wait_until(reached, timeout, what=lambda: f"version {vid} to reach {until}: {last[0]}")

    def stop(self, job_id, vid):
        return self.post(f"/training-jobs/{job_id}/versions/{vid}/stop")

    def log_name(self, job_id, vid):
        r = self.get(f"/training-jobs/{job_id}/versions/{vid}/log/file-names")
        assert r.status_code == 200, r.text
        names = r.json()["log_file_list"]
        assert isinstance(names, list) and len(names) == 1, names
        return names[0]

    def log_name_of(self, job_id, vid, worker):
        r = self.get(f"/training-jobs/{job_id}/versions/{vid}/log/file-names")
        assert r.status_code == 200, r.text
        return r.json()["log_file_list"][worker]

    def log_page_raw(self, job_id, vid, **params):
        return self.get(f"/training-jobs/{job_id}/versions/{vid}/aom-log", params=params)

    def log_page(self, job_id, vid, **params):
        if "log_file" not in params:
            params["log_file"] = self.log_name(job_id, vid)
        r = self.log_page_raw(job_id, vid, **params)
        assert r.status_code == 200, r.text
        p = r.json()
        assert p["is_success"] is True, p
        assert isinstance(p["start_line"], str) and isinstance(p["end_line"], str), p
        return p

    def log(self, job_id, vid):
        """The whole log as a list of lines, read forward page by page."""
        name = self.log_name(job_id, vid)
        lines, base = [], 0
        while True:
            p = self.log_page(job_id, vid, log_file=name, base_line=str(base), order="desc", lines=500)
            if p["lines"] == 0:
                return lines
            lines += p["content"].split("\n")
            base = int(p["end_line"])

    def list_jobs(self, **params):
        r = self.get("/training-jobs", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["is_success"] is True, body
        return body

    def job_count(self):
        return self.list_jobs(per_page=1)["job_total_count"]


def assert_v1_error(r, status, field=None, code=None):
    """The old-style error envelope: is_success false, error_code, error_message naming `field`."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body.get("is_success") is False, body
    assert isinstance(body.get("error_code"), str) and body["error_code"].startswith("ModelArts."), body
    assert isinstance(body.get("error_message"), str) and body["error_message"], body
    if code is not None:
        assert body["error_code"] == code, body
    if field is not None:
        assert field in body["error_message"], (field, body)
    return body


def pgrep(marker):
    """PIDs of the processes whose command line contains `marker`."""
    out = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


# ------------------------------------------------------------------ fixtures

def serving(env):
    """A module's server with its client; every job and process gone after."""
    s = Server(extra_env=env)
    s.api = TApi(s)
    yield s
    shutdown(s, s.api)


@pytest.fixture(scope="module")
def srv():
    """A server with room for several jobs at once."""
    yield from serving({"ATELIER_TRAIN_CORES": "8", "ATELIER_TRAIN_MEMORY_MB": "16384"})


@pytest.fixture(scope="module")
def srv1():
    """A server whose jobs share one core."""
    yield from serving({"ATELIER_TRAIN_CORES": "1", "ATELIER_TRAIN_MEMORY_MB": "8192"})


@pytest.fixture
def tapi1(srv1):
    return srv1.api


SLEEPER = """\
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a stop must not depend on the job's goodwill
marker = [a for a in sys.argv if a.startswith('--marker=')][0].split('=', 1)[1]
child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', marker])
# one that leaves the job's session and process group
daemon = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', marker, 'daemon'],
                          start_new_session=True)
print('started', child.pid, daemon.pid, flush=True)
time.sleep(300)
"""


# ------------------------------------------------------------------ 1. engines and specs

def test_engines_shape(tapi):
    r = tapi.get("/job/ai-engines")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["is_success"] is True
    engines = {e["engine_id"]: e for e in body["engines"]}
    assert set(engines) >= {1, 1001, 601, 901}, engines
    expect = {1: (0, "Python"), 1001: (10, "PyTorch"), 601: (6, "Scikit Learn"), 901: (9, "XGBoost-Sklearn")}
    for eid, (etype, name) in expect.items():
        e = engines[eid]
        assert e["engine_type"] == etype and e["engine_name"] == name, e
        assert isinstance(e["engine_version"], str) and e["engine_version"], e
        assert e["available"] is True, e
    assert tapi.get("/job/ai-engines", params={"job_type": "train"}).status_code == 200
    # no token, no engines
    assert requests.get(tapi.base + "/job/ai-engines").status_code == 401


def test_resource_specs_shape(tapi):
    r = tapi.get("/job/resource-specs")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["is_success"] is True
    assert body["spec_total_count"] == len(body["specs"]) >= 3
    specs = {s["spec_id"]: s for s in body["specs"]}
    assert (specs[1]["core"], specs[1]["cpu"]) == ("1", "2"), specs[1]
    assert (specs[2]["core"], specs[2]["cpu"]) == ("2", "8"), specs[2]
    assert (specs[3]["core"], specs[3]["cpu"]) == ("0.5", "1"), specs[3]
    for s in specs.values():
        for k, t in (("spec_code", str), ("gpu_num", int), ("gpu_type", str), ("max_num", int), ("unit_num", int),
                     ("storage", str), ("interface_type", int), ("no_resource", bool)):
            assert isinstance(s[k], t), (k, s)
        assert s["spec_code"] and s["max_num"] == 1, s
        assert s["no_resource"] is False, s  # 8 cores free on this server, nothing runs


CATALOG = json.dumps({
    "engines": [{"engine_id": 1, "engine_type": 0, "engine_name": "Python", "module": ""},
                {"engine_id": 7, "engine_type": 1, "engine_name": "TensorFlow", "module": "tensorflow"}],
    "flavors": [{"spec_id": 10, "spec_code": "custom.cpu.small", "cores": 1, "memory_mb": 512, "storage": "1GB"}]})

CONNECT = """\
import socket, sys
port = int([a for a in sys.argv if a.startswith('--port=')][0].split('=', 1)[1])
try:
    socket.create_connection(('127.0.0.1', port), timeout=3).close(); print('connected')
except OSError as e:
    print('refused', e)
"""


def test_configured_catalog_unavailable_engine_and_network():
    """Engines and specs come from the configuration: an engine whose Python
    module is not installed is listed as unavailable, with the reason, and
    refused at creation; train_network=true lets jobs reach the network."""
    s = Server(extra_env={"ATELIER_TRAIN_CATALOG": CATALOG, "ATELIER_TRAIN_NETWORK": "true"})
    s.api = TApi(s)
    try:
        tapi = s.api
        engines = {e["engine_id"]: e for e in tapi.get("/job/ai-engines").json()["engines"]}
        assert set(engines) == {1, 7}, engines
        assert engines[1]["available"] is True
        assert engines[7]["available"] is False and "tensorflow" in engines[7]["unavailable_reason"], engines[7]
        specs = tapi.get("/job/resource-specs").json()["specs"]
        assert [(x["spec_id"], x["spec_code"], x["core"], x["cpu"]) for x in specs] == [(10, "custom.cpu.small", "1", "0.5")]
        before = tapi.job_count()
        r = tapi.create_raw({"job_name": uid("tf"), "config": tapi.config(engine_id=7, spec_id=10)})
        assert_v1_error(r, 400, field="config.engine_id")
        assert "not available" in r.json()["error_message"], r.text
        r = tapi.create_raw({"job_name": uid("tf"), "config": tapi.config(spec_id=1)})
        assert_v1_error(r, 400, field="config.spec_id")
        assert tapi.job_count() == before
        c = tapi.create(CONNECT, params=[("port", s.port)], spec_id=10)
        v = tapi.wait(c["job_id"], c["version_id"])
        log = tapi.log(c["job_id"], c["version_id"])
        assert v["status"] == COMPLETED and "connected" in log, log
    finally:
        shutdown(s, s.api)


def specs_free(tapi):
    return {s["spec_id"]: s["no_resource"] for s in tapi.get("/job/resource-specs").json()["specs"]}


def test_no_resource_while_a_job_holds_the_only_core(tapi1):
    """Capacity 1 core: spec 2 never fits; spec 1 and 3 are free until a 1-core job runs,
    then both are sold out; a second job waits (and can be stopped while it waits);
    once the first is stopped they are free again."""
    assert specs_free(tapi1) == {1: False, 2: True, 3: False}
    marker = uid("m")
    a = tapi1.create(SLEEPER, params=[("marker", marker)])
    va = tapi1.wait(a["job_id"], a["version_id"], until={RUNNING} | TERMINAL, timeout=30)
    assert va["status"] == RUNNING, va
    assert specs_free(tapi1) == {1: True, 2: True, 3: True}
    b = tapi1.create("print('b')\n")
    vb = tapi1.wait(b["job_id"], b["version_id"], until={WAITING} | TERMINAL)
    assert vb["status"] == WAITING, vb
    # it stays queued while the core is held (a few scheduler passes)
    deadline = time.time() + 0.6
    while time.time() < deadline:
        assert tapi1.version(b["job_id"], b["version_id"])["status"] == WAITING
        time.sleep(0.1)
    # stopping a queued version ends it without it ever running
    r = tapi1.stop(b["job_id"], b["version_id"])
    assert r.status_code == 200 and r.json()["is_success"] is True, r.text
    vb = tapi1.wait(b["job_id"], b["version_id"], timeout=10)
    assert vb["status"] == KILLED and vb["start_time"] == 0 and vb["duration"] == 0, vb
    # stop the runner of the core; the specs are free again
    assert tapi1.stop(a["job_id"], a["version_id"]).status_code == 200
    assert tapi1.wait(a["job_id"], a["version_id"], timeout=15)["status"] == KILLED
    assert specs_free(tapi1) == {1: False, 2: True, 3: False}
    # and B stayed killed: nothing of it ran later
    assert tapi1.version(b["job_id"], b["version_id"])["status"] == KILLED
    assert "b" not in tapi1.log(b["job_id"], b["version_id"])


# ------------------------------------------------------------------ 2. PyTorch end to end

TORCH_TRAIN = """\
import argparse, os
import torch

p = argparse.ArgumentParser()
p.add_argument('--data_url')
p.add_argument('--train_url')
p.add_argument('--steps', type=int, default=3)
p.add_argument('--lr', type=float, default=0.05)
a = p.parse_args()
rows = []
with open(os.path.join(a.data_url, 'train.csv')) as f:
    for line in f:
        if line.strip():
            rows.append([float(x) for x in line.split(',')])
x = torch.tensor([r[:2] for r in rows])
y = torch.tensor([[r[2]] for r in rows])
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
opt = torch.optim.SGD(model.parameters(), lr=a.lr)
for step in range(a.steps):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    opt.step()
    print('step %d loss %.6f' % (step, loss.item()), flush=True)
torch.save(model.state_dict(), os.path.join(a.train_url, 'model.pt'))
print('rows %d' % len(rows))
"""


def test_pytorch_end_to_end(tapi, srv, tmp_path):
    name = uid("torch")
    root = f"/{BUCKET}/{name}/"
    srv.objects.put(root + "code/train.py", TORCH_TRAIN)
    srv.objects.put(root + "code/helper/unused.py", "x = 1\n")  # the whole app_url is staged
    csv = "".join(f"{i / 10},{(i % 7) / 10},{(i % 3) / 3}\n" for i in range(40))
    srv.objects.put(root + "data/train.csv", csv)
    cfg = {"worker_server_num": 1, "app_url": root + "code/", "boot_file_url": root + "code/train.py",
           "engine_id": 1001, "spec_id": 1, "data_url": root + "data/", "train_url": root + "out/",
           "log_url": root + "logs/", "parameter": [{"label": "steps", "value": "4"}, {"label": "lr", "value": "0.1"}]}
    before = int(time.time() * 1000)
    r = tapi.create_raw({"job_name": name, "job_desc": "tiny mlp", "config": cfg})
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["is_success"] is True and c["job_name"] == name and c["status"] == INIT, c
    assert isinstance(c["job_id"], int) and isinstance(c["version_id"], int), c
    assert c["version_name"] == "V0001" and isinstance(c["resource_id"], str) and c["resource_id"], c
    assert before - 5000 <= c["create_time"] <= int(time.time() * 1000) + 5000, c

    v = tapi.wait(c["job_id"], c["version_id"], timeout=120)
    lines = tapi.log(c["job_id"], c["version_id"])
    assert v["status"] == COMPLETED, (v, lines)
    losses = [l for l in lines if l.startswith("step ")]
    assert [l.split()[1] for l in losses] == ["0", "1", "2", "3"], lines
    for l in losses:
        assert float(l.split()[3]) >= 0, l
    assert "rows 40" in lines, lines
    assert lines[-1] == EXIT0, lines

    # the version as stored
    assert v["job_id"] == c["job_id"] and v["version_id"] == c["version_id"] and v["version_name"] == "V0001"
    assert v["job_name"] == name and v["job_desc"] == "tiny mlp"
    assert (v["engine_id"], v["engine_type"], v["engine_name"]) == (1001, 10, "PyTorch"), v
    assert v["engine_version"], v
    assert (v["spec_id"], v["core"], v["cpu"]) == (1, "1", "2"), v
    assert v["spec_code"] and v["worker_server_num"] == 1
    assert (v["app_url"], v["boot_file_url"]) == (cfg["app_url"], cfg["boot_file_url"])
    assert (v["data_url"], v["train_url"], v["log_url"]) == (cfg["data_url"], cfg["train_url"], cfg["log_url"])
    assert v["parameter"] == cfg["parameter"], v
    assert v["create_time"] == c["create_time"]
    assert v["start_time"] >= v["create_time"], v
    assert v["duration"] > 0, v
    assert v["resource_id"] == c["resource_id"]

    # the output went to train_url and is a loadable state dict
    model = srv.objects.copy_to(root + "out/model.pt", str(tmp_path / "model.pt"))
    assert os.path.getsize(model) > 0
    check = subprocess.run(
        ["/usr/bin/python3", "-c",
         "import sys, torch; sd = torch.load(sys.argv[1]); print(sorted((k, tuple(t.shape)) for k, t in sd.items()))",
         model], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == str([("0.bias", (8,)), ("0.weight", (8, 2)), ("2.bias", (1,)), ("2.weight", (1, 8))])
    # nothing but what the job wrote (no staged code or data)
    assert srv.objects.list(root + "out/") == ["model.pt"]

    # the log went to log_url, the same text
    log_name = tapi.log_name(c["job_id"], c["version_id"])
    assert log_name == f"job-{name}.0"
    assert srv.objects.text(root + "logs/" + log_name).rstrip("\n").split("\n") == lines

    # the list shows it
    jobs = tapi.list_jobs(search_content=name)["jobs"]
    assert len(jobs) == 1 and jobs[0]["status"] == COMPLETED and jobs[0]["version_id"] == c["version_id"], jobs
    assert jobs[0]["duration"] == v["duration"] and jobs[0]["version_count"] == 1, jobs


def test_script_arguments_cwd_and_environment(tapi, srv):
    script = """\
    import os, sys
    print('ARGV ' + ' '.join(sys.argv[1:]))
    print('CWD ' + os.getcwd())
    print('FILES ' + ','.join(sorted(os.listdir(os.path.join(sys.argv[1].split('=', 1)[1])))))
    print('SIBLING ' + open('lib/helper.txt').read().strip())
    """
    cfg = tapi.config(script, params=[("epochs", 2), ("name", "a b")])
    srv.objects.put(cfg["app_url"] + "lib/helper.txt", "beside the boot file\n")
    srv.objects.put(cfg["data_url"] + "sub/x.csv", "1\n")
    app, data = cfg["app_url"], cfg["data_url"]
    # the folders may be given without their trailing '/', the input as a data_source
    cfg["app_url"] = app.rstrip("/")
    del cfg["data_url"]
    cfg["data_source"] = [{"type": "obs", "data_url": data}]
    r = tapi.create_raw({"job_name": uid("args"), "config": cfg})
    assert r.status_code == 200, r.text
    c = r.json()
    v = tapi.wait(c["job_id"], c["version_id"])
    lines = tapi.log(c["job_id"], c["version_id"])
    assert v["status"] == COMPLETED, lines
    assert "ARGV --data_url=/home/work/data/ --train_url=/home/work/output/ --epochs=2 --name=a b" in lines, lines
    cwd = [l for l in lines if l.startswith("CWD ")][0]
    assert cwd.startswith("CWD /home/work/"), lines
    assert "FILES readme.txt,sub" in lines, lines
    assert "SIBLING beside the boot file" in lines, lines
    assert v["app_url"] == app and v["data_url"] == data, v
    assert v["data_source"] == [{"type": "obs", "data_url": data}], v


# ------------------------------------------------------------------ 3. failing script

def test_failing_script_is_failed_with_its_exit_code(tapi, srv):
    c = tapi.create("import sys\nprint('about to fail', flush=True)\nsys.exit(3)\n")
    v = tapi.wait(c["job_id"], c["version_id"])
    lines = tapi.log(c["job_id"], c["version_id"])
    assert v["status"] == FAILED, (v, lines)
    assert "about to fail" in lines, lines
    assert lines[-1] == "[atelier] exit code 3", lines
    # stopping a finished version is refused
    assert_v1_error(tapi.stop(c["job_id"], c["version_id"]), 400, code="ModelArts.0105")
    assert tapi.version(c["job_id"], c["version_id"])["status"] == FAILED


def test_exception_and_stderr_go_to_the_log(tapi):
    c = tapi.create("import sys\nsys.stderr.write('on stderr\\n')\nraise ValueError('boom')\n")
    v = tapi.wait(c["job_id"], c["version_id"])
    lines = tapi.log(c["job_id"], c["version_id"])
    assert v["status"] == FAILED, (v, lines)
    assert "on stderr" in lines, lines
    assert "ValueError: boom" in lines, lines
    assert lines[-1] == "[atelier] exit code 1", lines


# ------------------------------------------------------------------ 4. stop

def test_stop_kills_the_whole_process_tree(tapi):
    marker = uid("mark")
    c = tapi.create(SLEEPER, params=[("marker", marker)])
    jid, vid = c["job_id"], c["version_id"]
    v = tapi.wait(jid, vid, until={RUNNING} | TERMINAL, timeout=30)
    assert v["status"] == RUNNING, (v, tapi.log(jid, vid))
    # the script and its children run (and carry the marker)
    wait_until(lambda: len(pgrep(marker)) >= 3, what="the job and its children")
    wait_until(lambda: any(l.startswith("started") for l in tapi.log(jid, vid)), what="the job's first line")
    t0 = time.time()
    r = tapi.stop(jid, vid)
    assert r.status_code == 200 and r.json()["is_success"] is True, r.text
    v = tapi.wait(jid, vid, timeout=10)
    assert v["status"] == KILLED, v
    assert time.time() - t0 < 5, "stop took too long"
    wait_until(lambda: pgrep(marker) == [], timeout=5, what="every process of the job to be gone")
    lines = tapi.log(jid, vid)
    assert lines[-1].startswith("[atelier] exit code "), lines
    assert v["duration"] > 0 and v["start_time"] >= v["create_time"], v
    # stopping again: it is over
    assert_v1_error(tapi.stop(jid, vid), 400, code="ModelArts.0105")


def test_supervisor_killed_is_lost_and_leaves_nothing(tapi, srv):
    """The supervisor killed (an OOM killer, an operator): the job dies with it
    (the sandbox dies with its parent), the version is LOST with a reason,
    and its processes and cgroups are gone."""
    marker = uid("mark")
    c = tapi.create(SLEEPER, params=[("marker", marker)])
    jid, vid = c["job_id"], c["version_id"]
    assert tapi.wait(jid, vid, until={RUNNING} | TERMINAL, timeout=30)["status"] == RUNNING
    wait_until(lambda: len(pgrep(marker)) >= 3, what="the job and its children")
    folder = os.path.join(srv.data_dir, "training", str(vid))
    with open(os.path.join(folder, "running.json")) as f:
        cgroups = json.load(f)["cgroups"]
    assert cgroups and all(os.path.isdir(d) for d in cgroups), cgroups
    with open(os.path.join(folder, "supervisor.json")) as f:
        os.kill(json.load(f)["pid"], signal.SIGKILL)
    v = tapi.wait(jid, vid, timeout=15)
    assert v["status"] == LOST, v
    wait_until(lambda: pgrep(marker) == [], timeout=10, what="every process of the job to be gone")
    wait_until(lambda: not any(os.path.isdir(d) for d in cgroups), timeout=10, what="the job's cgroups removed")


def test_delete_running_job_kills_it(tapi):
    marker = uid("mark")
    c = tapi.create(SLEEPER, params=[("marker", marker)])
    jid, vid = c["job_id"], c["version_id"]
    assert tapi.wait(jid, vid, until={RUNNING} | TERMINAL, timeout=30)["status"] == RUNNING
    wait_until(lambda: len(pgrep(marker)) >= 3, what="the job and its children")
    r = tapi.delete(f"/training-jobs/{jid}")
    assert r.status_code == 200 and r.json()["is_success"] is True, r.text
    assert_v1_error(tapi.get(f"/training-jobs/{jid}/versions/{vid}"), 400, code="ModelArts.2775")
    wait_until(lambda: pgrep(marker) == [], timeout=10, what="every process of the deleted job to be gone")
    assert_v1_error(tapi.delete(f"/training-jobs/{jid}"), 400, code="ModelArts.2775")


def test_stop_right_after_create(tapi):
    """A version stopped before (or while) it is staged ends KILLED, and nothing of it keeps running."""
    marker = uid("early")
    c = tapi.create(SLEEPER, params=[("marker", marker)])
    jid, vid = c["job_id"], c["version_id"]
    r = tapi.stop(jid, vid)
    assert r.status_code == 200 and r.json()["is_success"] is True, r.text
    # once KILLED it stays KILLED (a stop that lands while the version is
    # being staged must not show it KILLING again when its job starts)
    seen, end = [], time.time() + 4
    while time.time() < end:
        st = tapi.version(jid, vid)["status"]
        if not seen or seen[-1] != st:
            seen.append(st)
        time.sleep(0.02)
    assert seen[-1] == KILLED and KILLED not in seen[:-1], seen
    wait_until(lambda: pgrep(marker) == [], timeout=10, what="nothing of the stopped version to run")
    assert tapi.version(jid, vid)["status"] == KILLED


def test_delete_running_version_kills_it(tapi):
    marker = uid("mark")
    c = tapi.create(SLEEPER, params=[("marker", marker)])
    jid, vid = c["job_id"], c["version_id"]
    assert tapi.wait(jid, vid, until={RUNNING} | TERMINAL, timeout=30)["status"] == RUNNING
    wait_until(lambda: len(pgrep(marker)) >= 3, what="the job and its children")
    r = tapi.delete(f"/training-jobs/{jid}/versions/{vid}")
    assert r.status_code == 200 and r.json()["is_success"] is True, r.text
    wait_until(lambda: pgrep(marker) == [], timeout=10, what="every process of the deleted version to be gone")
    assert_v1_error(tapi.get(f"/training-jobs/{jid}/versions"), 400, code="ModelArts.2775")  # it was the only version


def test_processes_left_behind_end_with_the_job(tapi):
    """A script that exits leaving a background process (even in a session of its own)
    completes, and what it left running is gone."""
    marker = uid("left")
    script = """\
    import subprocess, sys
    marker = [a for a in sys.argv if a.startswith('--marker=')][0].split('=', 1)[1]
    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', marker], start_new_session=True)
    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', marker])
    print('leaving', flush=True)
    """
    c = tapi.create(script, params=[("marker", marker)])
    v = tapi.wait(c["job_id"], c["version_id"], timeout=30)
    lines = tapi.log(c["job_id"], c["version_id"])
    assert v["status"] == COMPLETED, (v, lines)
    assert lines == ["leaving", EXIT0], lines
    wait_until(lambda: pgrep(marker) == [], timeout=5, what="the leftover processes to be gone")


def test_memory_limit_of_the_spec(tapi):
    """Spec 3 has 1024 MB: a job touching 1.5 GB fails, one touching 256 MB completes."""
    hog = """\
    import sys
    n = int([a for a in sys.argv if a.startswith('--mb=')][0][5:]) << 20
    x = bytearray(n)
    for i in range(0, n, 4096):
        x[i] = 1
    print('allocated', flush=True)
    """
    big = tapi.create(hog, params=[("mb", 1536)], spec_id=3)
    small = tapi.create(hog, params=[("mb", 256)], spec_id=3)
    vb = tapi.wait(big["job_id"], big["version_id"], timeout=60)
    lb = tapi.log(big["job_id"], big["version_id"])
    assert vb["status"] == FAILED, (vb, lb)
    assert "allocated" not in lb and lb[-1].startswith("[atelier] exit code ") and lb[-1] != EXIT0, lb
    vs = tapi.wait(small["job_id"], small["version_id"], timeout=60)
    ls = tapi.log(small["job_id"], small["version_id"])
    assert vs["status"] == COMPLETED and ls == ["allocated", EXIT0], (vs, ls)


def test_cpu_limit_of_the_spec(tapi):
    """Spec 3 has half a core: two threads spinning for 2 s get at most about
    half a core's time (the cgroup's quota), however many cores are idle."""
    spin = """\
    import threading, time
    def spin():
        end = time.time() + 2
        while time.time() < end:
            pass
    c0, t0 = time.process_time(), time.time()
    ts = [threading.Thread(target=spin) for _ in range(2)]
    [t.start() for t in ts]; [t.join() for t in ts]
    print('share %.3f' % ((time.process_time() - c0) / (time.time() - t0)))
    """
    c = tapi.create(spin, spec_id=3)
    v = tapi.wait(c["job_id"], c["version_id"], timeout=60)
    log = tapi.log(c["job_id"], c["version_id"])
    assert v["status"] == COMPLETED, log
    share = float([l for l in log if l.startswith("share ")][0].split()[1])
    assert share < 0.7, share


# ------------------------------------------------------------------ 5. aom-log paging

def test_aom_log_paging(tapi):
    c = tapi.create("for i in range(1, 1001):\n    print('line %d' % i)\n")
    jid, vid = c["job_id"], c["version_id"]
    assert tapi.wait(jid, vid)["status"] == COMPLETED
    name = tapi.log_name(jid, vid)
    want = [f"line {i}" for i in range(1, 1001)] + [EXIT0]

    # default: the newest 50 lines
    p = tapi.log_page(jid, vid, log_file=name)
    assert p["lines"] == 50, p
    assert (p["start_line"], p["end_line"]) == ("952", "1001"), p
    assert p["content"].split("\n") == want[-50:], p["content"][-200:]
    # explicit lines, no base_line: the newest N
    p2 = tapi.log_page(jid, vid, log_file=name, lines=3)
    assert p2["content"] == "line 999\nline 1000\n" + EXIT0 and (p2["start_line"], p2["end_line"]) == ("999", "1001")

    # backward (asc) from the first page to the start, with an odd page size
    got = p["content"].split("\n")
    base = p["start_line"]
    pages = 0
    while True:
        q = tapi.log_page(jid, vid, log_file=name, base_line=base, order="asc", lines=137)
        if q["lines"] == 0:
            assert q["content"] == "" and q["start_line"] == q["end_line"] == base, q
            break
        pages += 1
        assert int(q["end_line"]) == int(base) - 1, (base, q)
        assert int(q["end_line"]) - int(q["start_line"]) + 1 == q["lines"] == len(q["content"].split("\n")), q
        got = q["content"].split("\n") + got
        base = q["start_line"]
        assert pages < 20
    assert base == "1"
    assert got == want
    assert pages == 7  # 951 lines before line 952: 6 pages of 137 and one of 129

    # forward (desc) from base_line=0 to the end
    got, base = [], "0"
    while True:
        q = tapi.log_page(jid, vid, log_file=name, base_line=base, order="desc", lines=500)
        if q["lines"] == 0:
            assert q["content"] == "" and q["start_line"] == q["end_line"] == base, q
            break
        assert int(q["start_line"]) == int(base) + 1, (base, q)
        assert q["lines"] == len(q["content"].split("\n")) == int(q["end_line"]) - int(q["start_line"]) + 1, q
        got += q["content"].split("\n")
        base = q["end_line"]
    assert base == "1001" and got == want

    # a window in the middle, both ways
    q = tapi.log_page(jid, vid, log_file=name, base_line="10", order="desc", lines=2)
    assert (q["content"], q["start_line"], q["end_line"], q["lines"]) == ("line 11\nline 12", "11", "12", 2), q
    q = tapi.log_page(jid, vid, log_file=name, base_line="10", order="asc", lines=2)
    assert (q["content"], q["start_line"], q["end_line"], q["lines"]) == ("line 8\nline 9", "8", "9", 2), q
    q = tapi.log_page(jid, vid, log_file=name, base_line="3", order="asc", lines=50)
    assert (q["content"], q["start_line"], q["end_line"]) == ("line 1\nline 2", "1", "2"), q
    q = tapi.log_page(jid, vid, log_file=name, base_line="999", order="desc", lines=50)
    assert (q["content"], q["start_line"], q["end_line"]) == ("line 1000\n" + EXIT0, "1000", "1001"), q
    # past the end
    q = tapi.log_page(jid, vid, log_file=name, base_line="5000", order="desc", lines=5)
    assert (q["content"], q["lines"], q["start_line"], q["end_line"]) == ("", 0, "5000", "5000"), q
    # lines=0: nothing
    q = tapi.log_page(jid, vid, log_file=name, lines=0)
    assert q["content"] == "" and q["lines"] == 0, q
    q = tapi.log_page(jid, vid, log_file=name, base_line="10", order="desc", lines=0)
    assert q["content"] == "" and q["lines"] == 0 and q["start_line"] == q["end_line"] == "10", q
    # lines=500 is allowed
    q = tapi.log_page(jid, vid, log_file=name, lines=500)
    assert q["lines"] == 500 and q["start_line"] == "502", q

    # bad parameters
    for params in ({"lines": "501"}, {"lines": "-1"}, {"lines": "x"}, {"order": "x"}, {"base_line": "abc"},
                   {"base_line": "-3"}):
        r = tapi.log_page_raw(jid, vid, log_file=name, **params)
        assert_v1_error(r, 400)
    assert_v1_error(tapi.log_page_raw(jid, vid, log_file="job-other.0"), 400)
    assert_v1_error(tapi.log_page_raw(jid, vid), 400)  # log_file is required
    assert_v1_error(tapi.log_page_raw(jid, 12345, log_file=name), 400, code="ModelArts.2775")


# ------------------------------------------------------------------ 6. following a running log

def test_follow_running_log(tapi):
    script = """\
    import time
    for i in range(10):
        print('tick %d' % i, flush=True)
        time.sleep(0.3)
    """
    c = tapi.create(script)
    jid, vid = c["job_id"], c["version_id"]
    name = tapi.log_name(jid, vid)
    assert name.endswith(".0")
    tapi.wait(jid, vid, until={RUNNING} | TERMINAL, timeout=30)
    got, base = [], "0"
    pages_while_running = 0
    deadline = time.time() + 30
    while time.time() < deadline:
        status = tapi.version(jid, vid)["status"]
        q = tapi.log_page(jid, vid, log_file=name, base_line=base, order="desc", lines=500)
        if q["lines"]:
            assert int(q["start_line"]) == int(base) + 1, (base, q)
            got += q["content"].split("\n")
            base = q["end_line"]
            if status == RUNNING:
                pages_while_running += 1
        else:
            assert q["start_line"] == q["end_line"] == base, q
            if status in TERMINAL:
                break
        time.sleep(0.1)
    assert got == [f"tick {i}" for i in range(10)] + [EXIT0], got
    assert pages_while_running >= 3, pages_while_running  # read as it was written


# ------------------------------------------------------------------ 7. sandbox

SANDBOX_PROBE = """\
import json, os, socket, sys
args = dict(a[2:].split('=', 1) for a in sys.argv[1:])
res = {'uid': os.getuid(), 'gid': os.getgid()}
for key in ('data_dir', 'db_dir'):
    try:
        res[key] = 'listed: %d entries' % len(os.listdir(args[key]))
    except Exception as e:
        res[key] = type(e).__name__
try:
    with open(args['server_log']) as f:
        res['server_log'] = 'read %d bytes' % len(f.read())
except Exception as e:
    res['server_log'] = type(e).__name__
res['env'] = sorted(k for k in os.environ if k.startswith('ATELIER'))
for key, path in (('etc', '/etc/atelier-probe'), ('usr', '/usr/atelier-probe')):
    try:
        open(path, 'w').write('x')
        res[key] = 'written'
    except Exception as e:
        res[key] = type(e).__name__
s = socket.socket()
s.settimeout(3)
try:
    s.connect(('127.0.0.1', int(args['port'])))
    res['connect'] = 'connected'
except Exception as e:
    res['connect'] = type(e).__name__
with open(os.path.join(args['train_url'], 'probe.json'), 'w') as f:
    json.dump(res, f)
print('RESULT ' + json.dumps(res))
"""


def test_sandbox_user_files_and_network(tapi, srv):
    assert os.path.isdir(srv.data_dir) and os.path.isfile(os.path.join(srv.data_dir, "server.log"))
    c = tapi.create(SANDBOX_PROBE, params=[("data_dir", srv.data_dir),
                                          ("db_dir", srv.objects.local_path("/")),
                                          ("server_log", os.path.join(srv.data_dir, "server.log")),
                                          ("port", srv.port)])
    v = tapi.wait(c["job_id"], c["version_id"])
    lines = tapi.log(c["job_id"], c["version_id"])
    assert v["status"] == COMPLETED, lines
    res = json.loads([l for l in lines if l.startswith("RESULT ")][0][len("RESULT "):])
    assert res["uid"] == 65534 and res["gid"] == 65534, res
    assert not res["data_dir"].startswith("listed"), res
    assert not res["db_dir"].startswith("listed"), res
    assert not res["server_log"].startswith("read"), res
    assert res["connect"] != "connected", res
    assert res["env"] == [], res  # nothing of the server's environment (its admin password...)
    assert res["etc"] != "written" and res["usr"] != "written", res
    assert not os.path.exists("/etc/atelier-probe") and not os.path.exists("/usr/atelier-probe")
    # and what it could write went to train_url
    assert json.loads(srv.objects.text(c["config"]["train_url"] + "probe.json")) == res


def test_output_publication(tapi, srv):
    """Everything the job writes under train_url is published with its relative
    path (nested folders, empty files); links it leaves there are not followed."""
    secret = os.path.join(srv.data_dir, "server.log")
    script = f"""\
    import os
    out = '/home/work/output/'
    os.makedirs(out + 'sub/deeper')
    open(out + 'sub/deeper/f.txt', 'w').write('nested')
    open(out + 'empty.bin', 'w').close()
    open(out + 'ok.txt', 'w').write('fine')
    os.symlink({secret!r}, out + 'leak.txt')
    os.symlink('/etc/passwd', out + 'passwd')
    os.symlink('/etc', out + 'etcdir')
    """
    c = tapi.create(script)
    v = tapi.wait(c["job_id"], c["version_id"])
    assert v["status"] == COMPLETED, tapi.log(c["job_id"], c["version_id"])
    out = c["config"]["train_url"]
    found = srv.objects.list(out)
    assert found == ["empty.bin", "ok.txt", "sub/deeper/f.txt"], found
    assert srv.objects.text(out + "sub/deeper/f.txt") == "nested"
    assert srv.objects.get(out + "empty.bin") == b""


@pytest.mark.parametrize("target", ["/etc", "DATA_DIR"])
def test_output_folder_replaced_by_a_link_publishes_nothing(tapi, srv, target):
    """The job owns its output folder: replacing the folder itself by a link
    (to /etc, or to the server's data dir as the host sees it) must not make
    the server copy what the link points at into train_url."""
    target = srv.data_dir if target == "DATA_DIR" else target
    script = f"""\
    import os, shutil
    shutil.rmtree('/home/work/output')
    os.symlink({target!r}, '/home/work/output')
    print('replaced')
    """
    c = tapi.create(script)
    v = tapi.wait(c["job_id"], c["version_id"])
    assert v["status"] == COMPLETED, tapi.log(c["job_id"], c["version_id"])
    found = srv.objects.list(c["config"]["train_url"])
    assert found == [], found


# ------------------------------------------------------------------ 8. versions

ECHO = "import sys\nprint('ARGS ' + ' '.join(sys.argv[3:]))\nopen('/home/work/output/args.txt', 'w').write(' '.join(sys.argv[3:]))\n"


def test_versions(tapi, srv):
    c = tapi.create(ECHO, params=[("epochs", 2), ("lr", "0.1")], desc="first")
    jid, v1 = c["job_id"], c["version_id"]
    assert tapi.wait(jid, v1)["status"] == COMPLETED
    out2 = c["config"]["train_url"].rstrip("/") + "2/"

    # a new version from V0001, one parameter changed, another output folder
    r = tapi.post(f"/training-jobs/{jid}/versions",
                 json={"job_desc": "second", "config": {"pre_version_id": v1, "train_url": out2,
                                                         "parameter": [{"label": "epochs", "value": "5"},
                                                                       {"label": "lr", "value": "0.1"}]}})
    assert r.status_code == 200, r.text
    n = r.json()
    assert n["is_success"] is True and n["job_id"] == jid and n["version_name"] == "V0002", n
    assert isinstance(n["version_id"], int) and n["version_id"] != v1, n
    v2 = n["version_id"]
    got = tapi.wait(jid, v2)
    assert got["status"] == COMPLETED, tapi.log(jid, v2)
    assert got["pre_version_id"] == v1 and got["version_name"] == "V0002", got
    assert got["parameter"] == [{"label": "epochs", "value": "5"}, {"label": "lr", "value": "0.1"}], got
    for k in ("app_url", "boot_file_url", "data_url", "engine_id", "spec_id", "worker_server_num"):
        assert got[k] == c["config"][k], k
    assert got["train_url"] == out2 and got["job_desc"] == "second", got
    assert "ARGS --epochs=5 --lr=0.1" in tapi.log(jid, v2)
    assert srv.objects.text(out2 + "args.txt") == "--epochs=5 --lr=0.1"
    assert srv.objects.text(c["config"]["train_url"] + "args.txt") == "--epochs=2 --lr=0.1"  # V0001's output untouched

    # a third from V0002, changing the spec only
    r = tapi.post(f"/training-jobs/{jid}/versions",
                 json={"config": {"pre_version_id": v2, "train_url": out2, "spec_id": 3}})
    assert r.status_code == 200, r.text
    v3 = r.json()["version_id"]
    assert r.json()["version_name"] == "V0003"
    got3 = tapi.wait(jid, v3)
    assert got3["status"] == COMPLETED and got3["spec_id"] == 3 and got3["core"] == "0.5", got3
    assert got3["parameter"] == got["parameter"] and got3["pre_version_id"] == v2, got3

    # newest first
    r = tapi.get(f"/training-jobs/{jid}/versions")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["is_success"] is True and body["job_id"] == jid and body["job_name"] == c["job_name"]
    assert body["job_desc"] == "second" and body["version_count"] == 3, body
    assert [x["version_name"] for x in body["versions"]] == ["V0003", "V0002", "V0001"]
    assert [x["version_id"] for x in body["versions"]] == [v3, v2, v1]
    # paged
    body = tapi.get(f"/training-jobs/{jid}/versions", params={"page": 2, "per_page": 2}).json()
    assert [x["version_id"] for x in body["versions"]] == [v1] and body["version_count"] == 3, body
    # the list of jobs shows the newest version
    job = tapi.list_jobs(search_content=c["job_name"])["jobs"][0]
    assert job["version_id"] == v3 and job["version_count"] == 3 and job["job_desc"] == "second", job

    # bad versions
    assert_v1_error(tapi.post(f"/training-jobs/{jid}/versions", json={"config": {"train_url": out2}}), 400,
                    field="pre_version_id")
    assert_v1_error(tapi.post(f"/training-jobs/{jid}/versions", json={"config": {"pre_version_id": 12345, "train_url": out2}}),
                    400, field="pre_version_id")
    assert_v1_error(tapi.post(f"/training-jobs/{jid}/versions",
                             json={"config": {"pre_version_id": v1, "train_url": out2, "engine_id": 4242}}),
                    400, field="config.engine_id")
    assert_v1_error(tapi.post("/training-jobs/12345/versions", json={"config": {"pre_version_id": v1, "train_url": out2}}),
                    400, code="ModelArts.2775")
    assert tapi.get(f"/training-jobs/{jid}/versions").json()["version_count"] == 3

    # delete the middle version
    r = tapi.delete(f"/training-jobs/{jid}/versions/{v2}")
    assert r.status_code == 200 and r.json()["is_success"] is True, r.text
    assert_v1_error(tapi.get(f"/training-jobs/{jid}/versions/{v2}"), 400, code="ModelArts.2775")
    body = tapi.get(f"/training-jobs/{jid}/versions").json()
    assert [x["version_id"] for x in body["versions"]] == [v3, v1] and body["version_count"] == 2, body
    # a version of another job is not found under this one
    other = tapi.create()
    assert_v1_error(tapi.get(f"/training-jobs/{jid}/versions/{other['version_id']}"), 400, code="ModelArts.2775")
    assert_v1_error(tapi.delete(f"/training-jobs/{jid}/versions/{other['version_id']}"), 400, code="ModelArts.2775")
    assert tapi.version(other["job_id"], other["version_id"])["version_id"] == other["version_id"]

    # deleting the last versions deletes the job
    assert tapi.delete(f"/training-jobs/{jid}/versions/{v1}").status_code == 200
    assert tapi.get(f"/training-jobs/{jid}/versions").status_code == 200
    assert tapi.delete(f"/training-jobs/{jid}/versions/{v3}").status_code == 200
    assert_v1_error(tapi.get(f"/training-jobs/{jid}/versions"), 400, code="ModelArts.2775")
    assert tapi.list_jobs(search_content=c["job_name"])["job_total_count"] == 0
    # and its name is free again
    r = tapi.create_raw({"job_name": c["job_name"], "config": tapi.config()})
    assert r.status_code == 200, r.text


def test_update_description_and_unknown_jobs(tapi):
    c = tapi.create(desc="before")
    jid = c["job_id"]
    r = tapi.put(f"/training-jobs/{jid}", json={"job_desc": "after"})
    assert r.status_code == 200 and r.json()["is_success"] is True, r.text
    assert tapi.version(jid, c["version_id"])["job_desc"] == "after"
    assert tapi.list_jobs(search_content=c["job_name"])["jobs"][0]["job_desc"] == "after"
    assert_v1_error(tapi.put(f"/training-jobs/{jid}", json={"job_desc": "x" * 257}), 400, field="job_desc")
    assert_v1_error(tapi.put(f"/training-jobs/{jid}", json={}), 400, field="job_desc")
    assert tapi.version(jid, c["version_id"])["job_desc"] == "after"
    for method, path in (("PUT", "/training-jobs/98765"), ("DELETE", "/training-jobs/98765"),
                         ("GET", "/training-jobs/98765/versions"), ("GET", "/training-jobs/98765/versions/1"),
                         ("POST", "/training-jobs/98765/versions/1/stop"),
                         ("GET", "/training-jobs/98765/versions/1/log/file-names")):
        r = tapi.req(method, path, json={"job_desc": "x"} if method == "PUT" else None)
        assert_v1_error(r, 400, code="ModelArts.2775")


# ------------------------------------------------------------------ 9. validation

def test_create_validation(tapi, srv):
    good = tapi.config()
    other = tapi.config()  # an existing boot file of another app_url
    dup = tapi.create()
    count = tapi.job_count()

    def bad(body, field, code=None):
        r = tapi.create_raw(body)
        assert_v1_error(r, 400, field=field, code=code)
        assert field in r.json()["error_msg"], r.text
        assert tapi.job_count() == count, body

    def with_cfg(**over):
        cfg = dict(good)
        for k, v in over.items():
            if v is None:
                cfg.pop(k, None)
            else:
                cfg[k] = v
        return {"job_name": uid("bad"), "config": cfg}

    bad(with_cfg(boot_file_url=good["app_url"] + "missing.py"), "config.boot_file_url")
    bad(with_cfg(boot_file_url=other["boot_file_url"]), "config.boot_file_url")  # exists, outside app_url
    bad(with_cfg(boot_file_url=good["app_url"]), "config.boot_file_url")  # a folder
    root = good["app_url"][:-len("code/")]
    srv.objects.put(root + "code2/train.py", "print(1)\n")
    bad(with_cfg(app_url=root + "code", boot_file_url=root + "code2/train.py"), "config.boot_file_url")  # a sibling
    bad(with_cfg(boot_file_url=root + "code/../code2/train.py"), "config.boot_file_url")
    bad(with_cfg(train_url="/x/out/"), "config.train_url")  # not a bucket name
    bad(with_cfg(log_url="/x/logs/"), "config.log_url")
    bad(with_cfg(data_source=[{"type": "obs", "data_url": good["data_url"]}]), "config.data_url")  # two inputs
    bad(with_cfg(parameter=[{"label": "a b", "value": "1"}]), "config.parameter")
    bad(with_cfg(worker_server_num=0), "config.worker_server_num")
    bad(with_cfg(worker_server_num=2), "config.worker_server_num")
    bad(with_cfg(worker_server_num=None), "config.worker_server_num")
    bad(with_cfg(user_image_url="100.125.5.235:20202/jobmng/custom-cpu-base:1.0"), "config.user_image_url")
    bad(with_cfg(engine_id=4242), "config.engine_id")
    bad(with_cfg(spec_id=99), "config.spec_id")
    bad(with_cfg(data_url=None), "config.data_url")
    bad(with_cfg(parameter=[{"label": "data_url", "value": "/x/"}]), "config.parameter")
    bad({"job_name": "bad name!", "config": good}, "job_name")
    bad({"job_name": "", "config": good}, "job_name")
    bad({"job_name": "x" * 65, "config": good}, "job_name")
    bad({"config": good}, "job_name")
    bad({"job_name": uid("bad")}, "config")
    bad({"job_name": uid("bad"), "job_desc": "d" * 257, "config": good}, "job_desc")
    bad({"job_name": dup["job_name"], "config": good}, "", code="ModelArts.0103")
    # a 64-character name is fine
    r = tapi.create_raw({"job_name": "N" * 60 + uid("")[-4:], "config": good})
    assert r.status_code == 200, r.text


def test_spec_larger_than_the_capacity_is_refused(tapi1):
    count = tapi1.job_count()
    r = tapi1.create_raw({"job_name": uid("big"), "config": tapi1.config(spec_id=2)})  # 2 cores, capacity 1
    assert_v1_error(r, 400, field="config.spec_id")
    assert tapi1.job_count() == count


# ------------------------------------------------------------------ 10. capacity queue

def test_one_core_runs_jobs_one_at_a_time_in_order(tapi1):
    first = tapi1.create("import time\ntime.sleep(1.5)\nprint('done')\n", name=uid("q1"))
    rest = [tapi1.create("import time\ntime.sleep(0.5)\nprint('done')\n", name=uid(f"q{i}")) for i in (2, 3)]
    jobs = [first] + rest
    v = tapi1.wait(first["job_id"], first["version_id"], until={RUNNING} | TERMINAL, timeout=30)
    assert v["status"] == RUNNING, v
    # while the first holds the core, the others wait
    for j in rest:
        w = tapi1.version(j["job_id"], j["version_id"])
        assert w["status"] in (INIT, WAITING) and w["start_time"] == 0, w
    assert specs_free(tapi1)[1] is True
    done = [tapi1.wait(j["job_id"], j["version_id"], timeout=60) for j in jobs]
    for d in done:
        assert d["status"] == COMPLETED, d
    starts = [d["start_time"] for d in done]
    assert starts == sorted(starts) and len(set(starts)) == 3, starts
    for prev, nxt in zip(done, done[1:]):
        assert nxt["start_time"] >= prev["start_time"] + prev["duration"], (prev, nxt)
    assert done[0]["duration"] >= 1400 and all(d["duration"] >= 400 for d in done[1:]), done


# ------------------------------------------------------------------ 11. restart

def test_job_survives_server_restarts():
    """A job keeps running when its server stops (SIGTERM) or crashes (SIGKILL);
    the server started again on the same data dir follows it, also when it
    ended meanwhile, and publishes its output."""
    env = {"ATELIER_TRAIN_CORES": "2"}
    srv = Server(extra_env=env)
    current = srv
    tapi = TApi(srv)
    try:
        marker = uid("rst")
        script = """\
        import time
        print('begin', flush=True)
        time.sleep(3)
        open('/home/work/output/result.txt', 'w').write('finished')
        print('end', flush=True)
        """
        c = tapi.create(script, params=[("marker", marker)])
        jid, vid = c["job_id"], c["version_id"]
        result = c["config"]["train_url"] + "result.txt"
        assert tapi.wait(jid, vid, until={RUNNING} | TERMINAL, timeout=30)["status"] == RUNNING
        wait_until(lambda: "begin" in tapi.log(jid, vid), what="the job's first line")
        # a 2-core job queued behind it (capacity 2 cores)
        q = tapi.create("print('queued ran')\n", spec_id=2)
        assert tapi.wait(q["job_id"], q["version_id"], until={WAITING} | TERMINAL)["status"] == WAITING

        # a clean stop (SIGTERM): the job goes on without the server, which finds it running again
        current.stop(signal.SIGTERM)
        assert current.proc.returncode is not None
        assert pgrep(marker), "the job ended with the server"
        current = ReusedServer(srv.data_dir, srv.port, extra_env=env)
        tapi.srv = current
        tapi.login()
        v = tapi.version(jid, vid)
        assert v["status"] == RUNNING, v
        assert tapi.version(q["job_id"], q["version_id"])["status"] == WAITING

        # a crash (SIGKILL); the job ends while no server runs
        current.stop(signal.SIGKILL)
        assert pgrep(marker), "the job ended with the server"
        wait_until(lambda: pgrep(marker) == [], timeout=20, what="the job to end while the server is down")
        assert not srv.objects.exists(result)  # publishing is the server's part
        current = ReusedServer(srv.data_dir, srv.port, extra_env=env)
        tapi.srv = current
        tapi.login()
        v = tapi.wait(jid, vid, timeout=30)
        lines = tapi.log(jid, vid)
        assert v["status"] == COMPLETED, (v, lines)
        assert lines == ["begin", "end", EXIT0], lines
        assert srv.objects.text(result) == "finished"
        assert v["duration"] >= 2900, v
        # the queued job ran after it
        vq = tapi.wait(q["job_id"], q["version_id"], timeout=30)
        assert vq["status"] == COMPLETED and tapi.log(q["job_id"], q["version_id"]) == ["queued ran", EXIT0], vq
        assert vq["start_time"] >= v["start_time"] + v["duration"], (v, vq)
        # the restarted server still schedules new jobs
        c2 = tapi.create("print('after restart')\n")
        assert tapi.wait(c2["job_id"], c2["version_id"])["status"] == COMPLETED
    finally:
        shutdown(current, tapi if current.proc.poll() is None else None)


# ------------------------------------------------------------------ 12. configs

def config_body(tapi, name, **over):
    root = f"/{BUCKET}/{uid('cfg')}/"
    body = {"config_name": name, "config_desc": "desc of " + name, "worker_server_num": 1,
            "app_url": root + "code/", "boot_file_url": root + "code/train.py", "engine_id": 1001, "spec_id": 1,
            "data_url": root + "data/", "train_url": root + "out/",
            "parameter": [{"label": "epochs", "value": "3"}]}
    body.update(over)
    return body


def test_sample_configs(tapi):
    r = tapi.get("/training-job-configs", params={"config_type": "sample"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["is_success"] is True and body["config_total_count"] == 3, body
    by = {c["config_name"]: c for c in body["configs"]}
    assert set(by) == {"pytorch-mlp", "sklearn-logistic", "xgboost-classifier"}
    assert (by["pytorch-mlp"]["engine_id"], by["pytorch-mlp"]["engine_name"]) == (1001, "PyTorch")
    assert (by["sklearn-logistic"]["engine_id"], by["sklearn-logistic"]["engine_type"]) == (601, 6)
    assert (by["xgboost-classifier"]["engine_id"], by["xgboost-classifier"]["engine_type"]) == (901, 9)
    for c in body["configs"]:
        for k in ("config_desc", "create_time", "engine_version", "user_image_url", "user_command"):
            assert k in c, (k, c)
    r = tapi.get("/training-job-configs/pytorch-mlp", params={"config_type": "sample"})
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["is_success"] is True and s["config_name"] == "pytorch-mlp" and s["worker_server_num"] == 1, s
    assert s["engine_name"] == "PyTorch" and s["boot_file_url"].startswith(s["app_url"]), s
    assert isinstance(s["parameter"], list) and s["spec_id"] == 1 and s["core"] == "1", s
    # samples are not custom configs and vice versa
    assert_v1_error(tapi.get("/training-job-configs/pytorch-mlp"), 404, code="ModelArts.0015")
    assert_v1_error(tapi.get("/training-job-configs/nope", params={"config_type": "sample"}), 404, code="ModelArts.0015")
    r = tapi.get("/training-job-configs", params={"config_type": "sample", "search_content": "xgb"})
    assert [c["config_name"] for c in r.json()["configs"]] == ["xgboost-classifier"], r.text
    assert_v1_error(tapi.get("/training-job-configs", params={"config_type": "other"}), 400)


def test_config_crud(tapi):
    p = uid("cf") + "-"
    names = [p + "b", p + "a", p + "c"]
    posted = {}
    for i, n in enumerate(names):
        body = config_body(tapi, n, config_desc=f"{3 - i} desc")
        r = tapi.post("/training-job-configs", json=body)  # the boot file does not have to exist yet
        assert r.status_code == 200 and r.json()["is_success"] is True, r.text
        posted[n] = body
        time.sleep(0.002)  # distinct create_time

    # get
    r = tapi.get(f"/training-job-configs/{p}b")
    assert r.status_code == 200, r.text
    g = r.json()
    assert g["is_success"] is True and g["config_name"] == p + "b" and g["config_desc"] == "3 desc", g
    assert g["worker_server_num"] == 1 and g["engine_id"] == 1001 and g["engine_name"] == "PyTorch", g
    assert g["engine_type"] == 10 and g["spec_id"] == 1 and (g["core"], g["cpu"]) == ("1", "2"), g
    assert g["parameter"] == [{"label": "epochs", "value": "3"}] and g["create_time"] > 0, g
    for k in ("app_url", "boot_file_url", "data_url", "train_url"):
        assert g[k] == posted[p + "b"][k], (k, g)

    # duplicate, bad names, bad fields
    assert_v1_error(tapi.post("/training-job-configs", json=config_body(tapi, p + "a")), 400, code="ModelArts.0103")
    assert_v1_error(tapi.post("/training-job-configs", json=config_body(tapi, "bad name")), 400, field="config_name")
    assert_v1_error(tapi.post("/training-job-configs", json=config_body(tapi, p + "e", engine_id=4242)), 400,
                    field="engine_id")
    assert_v1_error(tapi.post("/training-job-configs", json=config_body(tapi, p + "u", user_image_url="x:1/y:2")), 400,
                    field="user_image_url")
    assert_v1_error(tapi.post("/training-job-configs", json=config_body(tapi, p + "w", worker_server_num=2)), 400,
                    field="worker_server_num")

    # list: default order config_name desc
    def listed(**params):
        r = tapi.get("/training-job-configs", params={"search_content": p, **params})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["is_success"] is True and body["config_total_count"] == 3, body
        return [c["config_name"] for c in body["configs"]]

    assert listed() == [p + "c", p + "b", p + "a"]
    assert listed(order="asc") == [p + "a", p + "b", p + "c"]
    assert listed(sortBy="config_desc", order="asc") == [p + "c", p + "a", p + "b"]
    assert listed(sortBy="create_time", order="asc") == names
    assert listed(sortBy="create_time") == names[::-1]
    assert listed(per_page=2, page=2, order="asc") == [p + "c"]
    assert listed(per_page=2, page=3) == []
    item = tapi.get("/training-job-configs", params={"search_content": p + "a"}).json()["configs"][0]
    assert item["engine_name"] == "PyTorch" and item["config_desc"] == "2 desc" and item["create_time"] > 0, item
    assert_v1_error(tapi.get("/training-job-configs", params={"sortBy": "nope"}), 400)

    # update: a full replacement
    upd = config_body(tapi, p + "b", config_desc="new", engine_id=601, spec_id=3)
    upd.pop("config_name")
    upd.pop("parameter")
    r = tapi.put(f"/training-job-configs/{p}b", json=upd)
    assert r.status_code == 200 and r.json()["is_success"] is True, r.text
    g = tapi.get(f"/training-job-configs/{p}b").json()
    assert (g["config_desc"], g["engine_id"], g["engine_name"], g["spec_id"], g["core"]) == ("new", 601, "Scikit Learn", 3, "0.5"), g
    assert g["parameter"] == [] and g["app_url"] == upd["app_url"], g
    no_workers = dict(upd)
    no_workers.pop("worker_server_num")
    assert_v1_error(tapi.put(f"/training-job-configs/{p}b", json=no_workers), 400, field="worker_server_num")
    assert_v1_error(tapi.put(f"/training-job-configs/{p}missing", json=upd), 404, code="ModelArts.0015")
    assert tapi.get(f"/training-job-configs/{p}b").json()["engine_id"] == 601

    # delete
    r = tapi.delete(f"/training-job-configs/{p}b")
    assert r.status_code == 200 and r.json()["is_success"] is True, r.text
    assert_v1_error(tapi.get(f"/training-job-configs/{p}b"), 404, code="ModelArts.0015")
    assert_v1_error(tapi.delete(f"/training-job-configs/{p}b"), 404, code="ModelArts.0015")
    r = tapi.get("/training-job-configs", params={"search_content": p})
    assert r.json()["config_total_count"] == 2 and [c["config_name"] for c in r.json()["configs"]] == [p + "c", p + "a"]


# ------------------------------------------------------------------ 13. list jobs

def test_list_jobs(tapi):
    p = uid("ls")
    specs = [("b", "zeta", "print(1)\n"), ("a", "alpha", "import sys\nsys.exit(2)\n"), ("c", "mid", "print(3)\n"),
             ("x_y", "under", "print(4)\n"), ("xzy", "plain", "print(5)\n")]
    made = {}
    for suffix, desc, script in specs:
        made[suffix] = tapi.create(script, name=f"{p}-{suffix}", desc=desc)
        time.sleep(0.002)
    for m in made.values():
        tapi.wait(m["job_id"], m["version_id"])

    def names(**params):
        body = tapi.list_jobs(search_content=p, **params)
        return body, [j["job_name"][len(p) + 1:] for j in body["jobs"]]

    body, got = names()
    assert got == ["a", "b", "c", "x_y", "xzy"], got  # default: job_name asc
    assert body["job_total_count"] == 5 and isinstance(body["job_count_limit"], int) and body["job_count_limit"] > 0
    assert isinstance(body["quotas"], int)
    j = body["jobs"][0]
    assert set(j) >= {"job_id", "job_name", "version_id", "status", "create_time", "duration", "job_desc",
                      "version_count"}, j
    assert (j["job_id"], j["version_id"], j["status"], j["job_desc"], j["version_count"]) == \
        (made["a"]["job_id"], made["a"]["version_id"], FAILED, "alpha", 1), j
    assert j["create_time"] == made["a"]["create_time"] and j["duration"] > 0, j

    assert names(order="desc")[1] == ["xzy", "x_y", "c", "b", "a"]
    assert names(sortBy="job_desc")[1] == ["a", "c", "xzy", "x_y", "b"]
    assert names(sortBy="create_time", order="desc")[1] == ["xzy", "x_y", "c", "a", "b"]
    assert names(sortBy="status")[1][-1] == "a"  # 11 after the 10s
    # status filter
    body, got = names(status="11")
    assert got == ["a"] and body["job_total_count"] == 1
    body, got = names(status="10|11")
    assert got == ["a", "b", "c", "x_y", "xzy"] and body["job_total_count"] == 5
    body, got = names(status="8|12")
    assert got == [] and body["job_total_count"] == 0
    # paging (1-based)
    body, got = names(per_page=2, page=1)
    assert got == ["a", "b"] and body["job_total_count"] == 5
    assert names(per_page=2, page=3)[1] == ["xzy"]
    assert names(per_page=2, page=4)[1] == []
    # search_content is a plain substring ('_' is not a wildcard)
    body = tapi.list_jobs(search_content=f"{p}-x_y")
    assert [j["job_name"] for j in body["jobs"]] == [f"{p}-x_y"] and body["job_total_count"] == 1, body
    # default page size is 10
    assert len(tapi.list_jobs()["jobs"]) <= 10
    # bad queries
    for params in ({"sortBy": "nope"}, {"order": "up"}, {"status": "abc"}, {"per_page": "0"}, {"per_page": "1001"},
                   {"page": "0"}):
        assert_v1_error(tapi.get("/training-jobs", params=params), 400)


# ------------------------------------------------------------------ details

def test_new_version_requires_train_url(tapi):
    """train_url is required when creating a version (each
    version writes its own output); it is not taken from the parent."""
    c = tapi.create()
    jid, v1 = c["job_id"], c["version_id"]
    r = tapi.post(f"/training-jobs/{jid}/versions", json={"config": {"pre_version_id": v1}})
    assert_v1_error(r, 400, field="train_url")
    assert tapi.get(f"/training-jobs/{jid}/versions").json()["version_count"] == 1


def test_unterminated_last_line_stays_apart_from_the_exit_line(tapi):
    """Output that does not end with a newline is its own log line: the
    server's '[atelier] exit code N' line is not glued onto it."""
    c = tapi.create("import sys\nprint('first')\nsys.stdout.write('partial')\n")
    v = tapi.wait(c["job_id"], c["version_id"])
    lines = tapi.log(c["job_id"], c["version_id"])
    assert v["status"] == COMPLETED, lines
    assert lines == ["first", "partial", EXIT0], lines


def test_jobs_run_without_the_sandbox():
    """ATELIER_TRAIN_SANDBOX=false runs jobs on the host (no bubblewrap):
    they must still run (as an unprivileged user when the server is root),
    with their output published."""
    s = Server(extra_env={"ATELIER_TRAIN_CORES": "2", "ATELIER_TRAIN_SANDBOX": "false"})
    a = TApi(s)
    try:
        script = """\
        import os, sys
        out = [x for x in sys.argv if x.startswith('--train_url=')][0].split('=', 1)[1]
        open(os.path.join(out, 'uid.txt'), 'w').write(str(os.getuid()))
        print('uid', os.getuid())
        """
        c = a.create(script)
        v = a.wait(c["job_id"], c["version_id"], timeout=30)
        lines = a.log(c["job_id"], c["version_id"])
        assert v["status"] == COMPLETED, lines
        assert lines[-1] == EXIT0, lines
        job_uid = int(s.objects.text(c["config"]["train_url"] + "uid.txt"))
        assert job_uid == os.getuid() if os.getuid() != 0 else job_uid != 0, job_uid
    finally:
        shutdown(s, a)
