"""Browser sessions (/login, /logout) and the routes a browser opens: the
visualization viewer, and the TensorBoard a visualization job runs when the
host has one.

TensorBoard is not installable here (Debian has no package, there is no
PyPI), so the launcher and the proxy are checked with a stand-in program
under that name: it takes TensorBoard's flags, serves HTTP under
--path_prefix and answers what it sees (its flags, the files of --logdir,
the headers that reached it)."""
import os
import re
import stat
import textwrap
import time

import pytest
import requests

from conftest import ADMIN_PASSWORD, Server, make_user, token_for
from test_training_jobs import TApi, assert_v1_error, shutdown
from test_visualization import create, event_file

STAND_IN = textwrap.dedent('''\
    #!/usr/bin/python3
    # A stand-in for tensorboard (see the test module's docstring).
    import argparse, http.server, json, os, sys
    ap = argparse.ArgumentParser()
    for f in ("--logdir", "--host", "--path_prefix", "--reload_interval"):
        ap.add_argument(f)
    ap.add_argument("--port", type=int)
    a = ap.parse_args()
    if os.environ.get("STAND_IN_FAIL"):
        print("stand-in: cannot start: no logdir access", file=sys.stderr)
        sys.exit(3)

    class H(http.server.BaseHTTPRequestHandler):
        def answer(self, body):
            if not self.path.startswith(a.path_prefix):
                self.send_error(404)
                return
            rest = self.path[len(a.path_prefix):]
            if rest == "":
                self.send_response(301)
                self.send_header("Location", a.path_prefix + "/")
                self.end_headers()
                return
            files = []
            for d, _, names in os.walk(a.logdir):
                files += [os.path.relpath(os.path.join(d, n), a.logdir) for n in names]
            out = json.dumps({"pid": os.getpid(), "argv": sys.argv[1:], "path": rest, "method": self.command,
                              "files": sorted(files), "body": body,
                              "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.send_header("X-Stand-In", "1")
            self.end_headers()
            self.wfile.write(out)

        def do_GET(self):
            self.answer(None)

        def do_POST(self):
            self.answer(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer((a.host, a.port), H).serve_forever()
''')


@pytest.fixture(scope="module")
def srv():
    s = Server()
    s.api = TApi(s)
    yield s
    shutdown(s, s.api)


def login(base, next_path, account="admin", user="admin", password=ADMIN_PASSWORD):
    """Signs in like a browser; returns (session, response of POST /login)."""
    s = requests.Session()
    r = s.post(base + "/login", data={"account": account, "user": user, "password": password, "next": next_path},
               allow_redirects=False)
    return s, r


def test_sign_in_scopes_a_cookie_to_the_page_and_signs_out(srv):
    api = srv.api
    j = create(api, "sess-a", "/vbkt/sess/")
    url = j["service_url"]
    path = url[len(srv.base):]
    # no credentials: sent to the sign-in page, which carries the way back
    r = requests.get(url, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == "/login?next=" + requests.utils.quote(path, safe=""), r.headers
    form = requests.get(srv.base + r.headers["Location"])
    assert form.status_code == 200 and form.headers["Content-Type"].startswith("text/html")
    assert re.search(r'name="next" value="([^"]*)"', form.text).group(1) == path
    assert "frame-ancestors 'none'" in form.headers["Content-Security-Policy"]
    # wrong password: the form again, with an error, and no cookie
    s, r = login(srv.base, path, password="Wrong-pass-1")
    assert r.status_code == 401 and 'id="error"' in r.text and "Set-Cookie" not in r.headers
    s, r = login(srv.base, path, account="nosuchaccount")
    assert r.status_code == 401 and "Set-Cookie" not in r.headers
    s, r = login(srv.base, path, password="")
    assert r.status_code == 400 and "Set-Cookie" not in r.headers
    # right password: an HttpOnly cookie and back to the page
    s, r = login(srv.base, path)
    assert r.status_code == 303 and r.headers["Location"] == path, r.headers
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("atelier_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    page = s.get(url)
    assert page.status_code == 200 and "<svg" in page.text
    assert s.get(url + "/data").json()["job_name"] == "sess-a"
    who = s.get(srv.base + "/login/session")
    assert who.status_code == 200 and "admin of account admin, project local" in who.text
    # the cookie is for pages only: the API still wants a token or a signature
    assert s.get(f"{srv.base}/v1/{api.pid}/visualization-jobs").status_code == 401
    assert s.post(f"{srv.base}/v1/{api.pid}/visualization-jobs/{j['job_id']}/stop").status_code == 401
    # a token in the header wins over the cookie
    assert s.get(url + "/data", headers={"X-Auth-Token": "bogus"}, allow_redirects=False).status_code == 303
    assert s.post(url + "/data", headers={"X-Auth-Token": "bogus"}).status_code == 401
    # signing out revokes the token behind the cookie
    value = s.cookies.get("atelier_session")
    r = s.post(srv.base + "/logout", allow_redirects=False)
    assert r.status_code == 303 and "Max-Age=0" in r.headers["Set-Cookie"]
    stale = requests.get(url, cookies={"atelier_session": value}, allow_redirects=False)
    assert stale.status_code == 303 and stale.headers["Location"].startswith("/login?next=")


def test_next_stays_on_this_server(srv):
    for bad in ["//evil.example/x", "/\\evil.example", "http://evil.example/", "evil", "/a\r\nSet-Cookie: x=1"]:
        s, r = login(srv.base, bad)
        assert r.status_code == 303 and r.headers["Location"] == "/login/session", (bad, r.headers)
        form = requests.get(srv.base + "/login", params={"next": bad})
        assert re.search(r'name="next" value="([^"]*)"', form.text).group(1) == "", bad
    # what a page shows is escaped
    form = requests.get(srv.base + "/login", params={"next": '/v1/"><script>alert(1)</script>'})
    assert "<script>alert(1)" not in form.text and "&lt;script&gt;" in form.text
    s, r = login(srv.base, "/", account='<b>x</b>')
    assert r.status_code == 401 and "<b>x</b>" not in r.text
    # a form that is not one
    r = requests.post(srv.base + "/login", data=b"%zz=%%&&==", headers={"Content-Type": "application/x-www-form-urlencoded"},
                      allow_redirects=False)
    assert r.status_code == 400


def test_who_may_sign_in_and_what_they_see(srv):
    api = srv.api
    j = create(api, "sess-b", "/vbkt/sessb/")
    path = j["service_url"][len(srv.base):]
    admin = {"X-Auth-Token": api.h["X-Auth-Token"]}
    srv.domain_id = token_for(srv.base, "admin", ADMIN_PASSWORD, "admin")[1]["user"]["domain"]["id"]

    def user(mode):
        r = requests.post(srv.base + "/v3.0/OS-USER/users", headers=admin, json={"user": {
            "name": "web" + mode[:4] + str(time.time_ns())[-6:], "password": "User-pass-1", "domain_id": srv.domain_id,
            "access_mode": mode}})
        assert r.status_code == 201, r.text
        return r.json()["user"]["name"]

    # a console-only user signs in (it may not use the API), and without a
    # grant is refused the page with the reason
    s, r = login(srv.base, path, user=user("console"), password="User-pass-1")
    assert r.status_code == 303, r.text
    denied = s.get(srv.base + path)
    assert_v1_error(denied, 403, code="ModelArts.0108")
    assert "modelarts:tensorboard:get" in denied.json()["error_message"]
    # a programmatic-only user may not sign in
    s, r = login(srv.base, path, user=user("programmatic"), password="User-pass-1")
    assert r.status_code == 403 and "programmatic" in r.text and "Set-Cookie" not in r.headers
    # disabled user
    uid, name, pw = make_user(srv, admin)
    assert requests.put(f"{srv.base}/v3.0/OS-USER/users/{uid}", headers=admin, json={"user": {"enabled": False}}).status_code == 200
    s, r = login(srv.base, path, user=name, password=pw)
    assert r.status_code in (401, 403) and "Set-Cookie" not in r.headers


def stand_in(tmp_path):
    exe = tmp_path / "bin" / "tensorboard"
    exe.parent.mkdir()
    exe.write_text(STAND_IN)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(exe)


def gone(pid, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True  # dead, not yet reaped by the server
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_tensorboard_is_launched_and_proxied(tmp_path):
    s = Server(extra_env={"ATELIER_TENSORBOARD": stand_in(tmp_path)})
    api = TApi(s)
    try:
        data, name = event_file(tmp_path, [("loss", 0, 1.0), ("loss", 1, 0.5)])
        s.objects.put("/vbkt/tb/logs/" + name, data)
        s.objects.put("/vbkt/tb/notes.txt", b"not an event file")
        j = create(api, "tb-a", "/vbkt/tb/")
        url = j["service_url"]
        prefix = url[len(s.base):]
        h = {"X-Auth-Token": api.h["X-Auth-Token"]}
        # the service_url itself: TensorBoard's redirect to its folder passes through
        r = requests.get(url, headers=h, allow_redirects=False)
        assert r.status_code == 301 and r.headers["Location"].endswith(prefix + "/"), (r.status_code, r.headers, r.text)
        r = requests.get(url + "/data/runs?x=1", headers={**h, "Cookie": "theirs=1; atelier_session=secret"})
        assert r.status_code == 200 and r.headers.get("X-Stand-In") == "1", r.text
        seen = r.json()
        argv = seen["argv"]
        assert argv[argv.index("--path_prefix") + 1] == prefix and argv[argv.index("--host") + 1] == "127.0.0.1"
        assert seen["path"] == "/data/runs?x=1"
        # only the event files are mirrored for it, in their folders
        assert seen["files"] == ["logs/" + name], seen["files"]
        # the caller's credentials stay with the server; other cookies pass; the Host is the one the client used
        assert "x-auth-token" not in seen["headers"] and "authorization" not in seen["headers"]
        assert seen["headers"]["cookie"] == "theirs=1" and seen["headers"]["host"] == s.base[len("http://"):]
        r = requests.post(url + "/data/plugin/scalars/scalars_multirun", headers=h, data="tags=loss")
        assert r.json()["method"] == "POST" and r.json()["body"] == "tags=loss"
        # view/data stays the built-in JSON
        assert requests.get(url + "/data", headers=h).json()["scalars"]["loss"] == [[0, 1.0], [1, 0.5]]
        # a new event file reaches the mirror within the sync period
        s.objects.put("/vbkt/tb/logs/eval/events.out.tfevents.2.host", data)
        time.sleep(2.2)
        assert requests.get(url + "/x", headers=h).json()["files"] == ["logs/eval/events.out.tfevents.2.host", "logs/" + name]
        pid = seen["pid"]
        assert requests.get(url + "/y", headers=h).json()["pid"] == pid  # one process per job
        # stopping the job stops its TensorBoard; a restarted job gets a new one
        assert api.post(f"/visualization-jobs/{j['job_id']}/stop").json()["is_success"] is True
        assert gone(pid), "the stand-in still runs after the job stopped"
        assert_v1_error(requests.get(url + "/x", headers=h), 400, code="ModelArts.0105")
        assert api.post(f"/visualization-jobs/{j['job_id']}/restart").json()["is_success"] is True
        pid2 = requests.get(url + "/x", headers=h).json()["pid"]
        assert pid2 != pid
        # a TensorBoard that dies is started again on the next view
        os.kill(pid2, 9)
        assert gone(pid2)
        pid3 = requests.get(url + "/x", headers=h).json()["pid"]
        assert pid3 not in (pid, pid2)
        # deleting the job stops it too
        assert api.delete(f"/visualization-jobs/{j['job_id']}").json()["is_success"] is True
        assert gone(pid3)
        # browser routes: signed in by cookie, the proxy serves the page
        j2 = create(api, "tb-b", "/vbkt/tb/")
        sess, r = login(s.base, j2["service_url"][len(s.base):] + "/")
        assert r.status_code == 303
        r = sess.get(j2["service_url"] + "/")
        assert r.status_code == 200 and r.json()["path"] == "/" and "cookie" not in r.json()["headers"]
        # stopping the server stops every TensorBoard it started
        last = r.json()["pid"]
        s.stop()
        assert gone(last)
    finally:
        shutdown(s)


def test_tensorboard_that_cannot_start_is_reported(tmp_path):
    s = Server(extra_env={"ATELIER_TENSORBOARD": stand_in(tmp_path), "STAND_IN_FAIL": "1"})
    api = TApi(s)
    try:
        j = create(api, "tb-fail", "/vbkt/tbf/")
        r = requests.get(j["service_url"] + "/", headers={"X-Auth-Token": api.h["X-Auth-Token"]})
        assert_v1_error(r, 503)
        assert "cannot start: no logdir access" in r.json()["error_message"]
        # without any tensorboard the built-in viewer serves
        assert requests.get(j["service_url"] + "/data", headers={"X-Auth-Token": api.h["X-Auth-Token"]}).status_code == 200
    finally:
        shutdown(s)
