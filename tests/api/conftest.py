"""Black-box fixtures: a real `atelier serve` on a free port below 32768 with a
temporary data dir, and independent clients (python3-requests, an AK/SK signer
written from the SDKs' algorithm) to talk to it. Run with /usr/bin/python3 -m pytest.

Shared by every test file:
  server          the session's server (a Server); server.objects and
                  server.db reach its object store and database past the API
                  (backends.py), as do the fixtures `objects` and `db`
  admin           headers of its account owner, scoped to the region project
  api             a datahelpers.Api (/v2/{project_id}) of that owner
  tapi            the v1 training client srv.api of a module's own server `srv`
  second_project  (project_id, headers): a second project of the same account
  other_account   (domain_id, project_id, owner headers, name) of another account
  wait_until(fn, timeout, ...)  polls fn until it returns something truthy
"""
import datetime
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import pytest
import requests

from backends import LocalObjectStore, SqliteDatabase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("ATELIER_BIN", os.path.join(ROOT, "build", "atelier"))
ADMIN_PASSWORD = "Admin-pass-1"


def free_port():
    for _ in range(200):
        port = random.randint(20000, 32000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port below 32768")


class Server:
    """One running server process. Stopped by its PID."""

    def __init__(self, extra_env=None, args=()):
        self.data_dir = tempfile.mkdtemp(prefix="atelier-test-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update({"ATELIER_ADMIN_PASSWORD": ADMIN_PASSWORD, "ATELIER_LOG_FILE": os.path.join(self.data_dir, "server.log")})
        env.update(extra_env or {})
        self.env = env
        self.args = args
        self._start()
        self.project_id = None
        self.domain_id = None

    def restart(self):
        """A new process on this data dir, on new ports (stop the old one first)."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._start()

    def _start(self):
        # The object endpoint (S3/OBS protocol) on a port of its own.
        self.obs_port = free_port()
        while self.obs_port == self.port:
            self.obs_port = free_port()
        self.obs_base = f"http://127.0.0.1:{self.obs_port}"
        self.proc = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", self.data_dir,
                                      "--obs-listen", f"127.0.0.1:{self.obs_port}", *self.args], env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: " + self.proc.stderr.read())
            try:
                if requests.get(self.base + "/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.05)
        else:
            raise RuntimeError("server did not become healthy")

    def log(self):
        with open(os.path.join(self.data_dir, "server.log")) as f:
            return f.read()

    def running(self):
        """Whether this server's process is up."""
        return getattr(self, "proc", None) is not None and self.proc.poll() is None

    @property
    def objects(self):
        """This server's object store, past the API (backends.py)."""
        return LocalObjectStore.of_data_dir(self.data_dir)

    @property
    def db(self):
        """This server's metadata database, past the API (backends.py)."""
        return SqliteDatabase.of_data_dir(self.data_dir, running=self.running)

    def admin_cli(self, *args):
        """Runs `atelier admin` on this server's data dir; returns parsed JSON output."""
        out = subprocess.run([BIN, "admin", "--data-dir", self.data_dir, *args], env=self.env,
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"atelier admin {args} failed: {out.stdout} {out.stderr}")
        return json.loads(out.stdout)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def token_for(base, user, password, domain, project=None, project_id=None):
    scope = {}
    if project_id:
        scope = {"project": {"id": project_id}}
    elif project:
        scope = {"project": {"name": project}}
    body = {"auth": {"identity": {"methods": ["password"],
                                  "password": {"user": {"name": user, "password": password, "domain": {"name": domain}}}}}}
    if scope:
        body["auth"]["scope"] = scope
    r = requests.post(base + "/v3/auth/tokens", json=body)
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"], r.json()["token"]


# ---- AK/SK signing, written from the SDKs' algorithm independently of the server code.

def _enc(s):
    return urllib.parse.quote(s, safe="-_.~")


def sign_request(method, url, ak, sk, headers=None, body=b"", date=None, signed=("content-type", "host", "x-sdk-date")):
    """Returns the headers to send with an SDK-HMAC-SHA256 signature."""
    u = urllib.parse.urlsplit(url)
    headers = dict(headers or {})
    headers.setdefault("Content-Type", "application/json")
    headers["Host"] = u.netloc
    headers["X-Sdk-Date"] = date or datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ")
    path = urllib.parse.unquote(u.path)
    canon_uri = "/".join(_enc(seg) for seg in path.split("/"))
    if not canon_uri.endswith("/"):
        canon_uri += "/"
    pairs = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
    canon_q = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted((k, v) for k, v in pairs))
    lower = {k.lower(): v for k, v in headers.items()}
    names = sorted(n for n in signed if n in lower)
    canon_h = "".join(f"{n}:{lower[n].strip()}\n" for n in names)
    if isinstance(body, str):
        body = body.encode()
    payload = lower.get("x-sdk-content-sha256") or hashlib.sha256(body or b"").hexdigest()
    cr = "\n".join([method, canon_uri, canon_q, canon_h, ";".join(names), payload])
    sts = "SDK-HMAC-SHA256\n" + headers["X-Sdk-Date"] + "\n" + hashlib.sha256(cr.encode()).hexdigest()
    sig = hmac.new(sk.encode(), sts.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = f"SDK-HMAC-SHA256 Access={ak}, SignedHeaders={';'.join(names)}, Signature={sig}"
    return headers


def signed(method, url, ak, sk, json_body=None, **kw):
    body = json.dumps(json_body).encode() if json_body is not None else b""
    h = sign_request(method, url, ak, sk, body=body, **kw)
    return requests.request(method, url, headers=h, data=body)


@pytest.fixture(scope="session")
def server():
    s = Server()
    tok, body = token_for(s.base, "admin", ADMIN_PASSWORD, "admin", project="local")
    s.admin_token = tok
    s.project_id = body["project"]["id"]
    s.domain_id = body["user"]["domain"]["id"]
    s.admin_user_id = body["user"]["id"]
    yield s
    s.cleanup()


@pytest.fixture
def admin(server):
    """Headers of the account owner, project-scoped to the region project."""
    return {"X-Auth-Token": server.admin_token}


@pytest.fixture
def objects(server):
    """The session server's object store, past the API (backends.py)."""
    return server.objects


@pytest.fixture
def db(server):
    """The session server's metadata database, past the API (backends.py)."""
    return server.db


@pytest.fixture
def api(server, admin):
    """The account owner's client of /v2/{project_id} (data management) on the session server."""
    from datahelpers import Api  # datahelpers imports this module
    return Api(server, admin)


@pytest.fixture
def tapi(srv):
    """The training-family (v1) client `srv.api` of the module's own server:
    for the modules that start one as their fixture `srv` (training jobs,
    Slurm, visualization)."""
    return srv.api


@pytest.fixture(scope="session")
def second_project(server):
    """A second project (local_x) of the session server's account, nothing
    granted in it: (project_id, the owner's headers scoped to it)."""
    h = {"X-Auth-Token": server.admin_token}
    r = requests.post(server.base + "/v3/projects", headers=h, json={"project": {"name": "local_x"}})
    assert r.status_code == 201, r.text
    pid = r.json()["project"]["id"]
    tok, body = token_for(server.base, "admin", ADMIN_PASSWORD, "admin", project="local_x")
    assert body["project"]["id"] == pid != server.project_id
    return pid, {"X-Auth-Token": tok}


_second_accounts = {}


def second_account(server):
    """Another account on `server` (made once per server): (domain_id,
    project_id, owner headers, name)."""
    key = server.base
    if key not in _second_accounts:
        name = unique("acct")
        pw = "Other-pass-1"
        out = server.admin_cli("account-create", "--name", name, "--password", pw)
        assert re.fullmatch(r"[0-9a-f]{32}", out["domain_id"]) and out["name"] == name, out
        tok, body = token_for(server.base, name, pw, name, project="local")
        assert body["project"]["id"] == out["project_id"]
        _second_accounts[key] = (out["domain_id"], out["project_id"], {"X-Auth-Token": tok}, name)
    return _second_accounts[key]


@pytest.fixture
def other_account(server):
    """Another account on the session server: (domain_id, project_id, owner headers, name)."""
    return second_account(server)


def wait_until(fn, timeout=20, interval=0.05, what=None):
    """Calls fn every `interval` seconds until it returns something truthy, and
    returns that. Fails the test (AssertionError) when `timeout` seconds pass
    first, naming `what` (a text, or a function giving one then, e.g. with the
    last state seen) and fn's last value; fn is called once more at the
    deadline. An assertion fn makes on the way fails the test at once."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() >= deadline:
            name = what() if callable(what) else what or getattr(fn, "__name__", "a condition")
            raise AssertionError(f"timed out after {timeout} s waiting for {name} (last: {v!r})")
        time.sleep(interval)


def unique(prefix="u"):
    return prefix + uuid.uuid4().hex[:10]


def make_user(server, headers, name=None, password="User-pass-1", groups=()):
    name = name or unique("user")
    r = requests.post(server.base + "/v3.0/OS-USER/users", headers=headers,
                      json={"user": {"name": name, "password": password, "domain_id": server.domain_id}})
    assert r.status_code == 201, r.text
    uid = r.json()["user"]["id"]
    for g in groups:
        assert requests.put(f"{server.base}/v3/groups/{g}/users/{uid}", headers=headers).status_code == 204
    return uid, name, password


def make_group(server, headers, name=None):
    r = requests.post(server.base + "/v3/groups", headers=headers, json={"group": {"name": name or unique("grp")}})
    assert r.status_code == 201, r.text
    return r.json()["group"]["id"]


def make_policy(server, headers, statements, type_="XA", name=None):
    r = requests.post(server.base + "/v3.0/OS-ROLE/roles", headers=headers,
                      json={"role": {"display_name": name or unique("pol"), "type": type_, "description": "test",
                                     "policy": {"Version": "1.1", "Statement": statements}}})
    assert r.status_code == 201, r.text
    return r.json()["role"]["id"]


def grant_project(server, headers, group_id, role_id, project_id=None):
    r = requests.put(f"{server.base}/v3/projects/{project_id or server.project_id}/groups/{group_id}/roles/{role_id}",
                     headers=headers)
    assert r.status_code == 204, r.text


def grant_domain(server, headers, group_id, role_id):
    r = requests.put(f"{server.base}/v3/domains/{server.domain_id}/groups/{group_id}/roles/{role_id}", headers=headers)
    assert r.status_code == 204, r.text
