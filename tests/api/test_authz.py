"""Authorization matrix generated from the route table (`atelier routes`).

Every route the server declares is collected here at import time, so routes
added later by other capabilities (ModelArts datasets, training jobs, ...) are
covered without editing this file. For each route with access "project" or
"global":

  a      no credentials                                         -> 401
  b      caller allowed everything except the route's action
         (explicit Deny of exactly that action), invalid body    -> 403 naming the action
  b_body same caller, a well-formed body (known IAM routes only)  -> 403
  allow  the same caller without the Deny (control for b)         -> neither 401 nor 403
  c      caller allowed exactly the action + its dependencies     -> neither 401 nor 403
         (known IAM routes: the exact success status)
  d      owner of ANOTHER account, path naming this account's
         objects                                                  -> 404

"member" routes get case a only; "public" routes are not checked here.

The module runs its own server (not the session one) because it creates
hundreds of users, groups, policies and a second account, which must not
disturb the exact-count assertions of the other test modules.
"""
import json
import random
import re
import string
import subprocess
import uuid

import pytest
import requests

from conftest import BIN, Server, make_group, make_policy, make_user, token_for, unique

REGION = "local"
BASE62 = string.digits + string.ascii_letters
GLOBAL_SERVICES = ("iam", "obs")  # evaluated at account (domain) scope
RESOLVABLE = ("project_id", "domain_id", "user_id", "group_id", "role_id", "access_key")
BODY_METHODS = ("POST", "PUT", "PATCH")
INVALID_BODY = b'{"this is": not json'


def _load_routes():
    out = subprocess.run([BIN, "routes"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    routes = json.loads(out.stdout)
    assert isinstance(routes, list) and routes, out.stdout[:500]
    return routes


ROUTES = _load_routes()
# Bodiless PUTs that create a relation (membership, grant): HEAD/DELETE on the
# same path need it to exist first.
RELATION_PATHS = {r["path"] for r in ROUTES if r["method"] == "PUT" and "/groups/{group_id}/" in r["path"]}


def params_of(path):
    return re.findall(r"\{([^}]+)\}", path)


def service(action):
    return action.split(":", 1)[0]


def rid(route):
    return f"{route['method']} {route['path']}"


def random_id():
    return "".join(random.choice(BASE62) for _ in range(19))


def evaluated_at_domain(route, action):
    """Where the gate evaluates an action: global routes and global services at
    account scope, everything else in the {project_id} of the path."""
    return route["access"] == "global" or service(action) in GLOBAL_SERVICES


# ------------------------------------------------------------------ known IAM request shapes
#
# For routes listed here the cases send a well-formed request (body, query,
# headers) so that case c can demand the real success status. Unlisted routes
# (future ones) get a generic request: path ids substituted, body {}.
# Values come from a Resolver `r`, which yields throwaway objects of the first
# account created for the case.

def _user_body(r):
    return {"user": {"name": unique("az"), "password": "User-pass-1"}}


def _role_body(r, type_="XA"):
    return {"role": {"display_name": unique("azpol"), "type": type_, "description": "authz test",
                     "policy": {"Version": "1.1", "Statement": [{"Effect": "Allow", "Action": ["modelarts:dataset:list"]}]}}}


KNOWN = {
    ("GET", "/v3/auth/tokens"): dict(ok=200, headers=lambda r: {"X-Subject-Token": r.subject_token()}, refs=True),
    ("HEAD", "/v3/auth/tokens"): dict(ok=200, headers=lambda r: {"X-Subject-Token": r.subject_token()}, refs=True),
    ("DELETE", "/v3/auth/tokens"): dict(ok=204, headers=lambda r: {"X-Subject-Token": r.subject_token()}, refs=True),
    ("POST", "/v3/projects"): dict(ok=201, body=lambda r: {"project": {"name": f"{REGION}_{uuid.uuid4().hex[:10]}"}}),
    ("PATCH", "/v3/projects/{project_id}"): dict(ok=200, body=lambda r: {"project": {"description": "authz"}}),
    ("GET", "/v3/users/{user_id}/projects"): dict(ok=200),
    ("POST", "/v3.0/OS-USER/users"): dict(ok=201, body=_user_body),
    ("POST", "/v3/users"): dict(ok=201, body=_user_body),
    ("GET", "/v3/users"): dict(ok=200),
    ("GET", "/v3.0/OS-USER/users/{user_id}"): dict(ok=200),
    ("GET", "/v3/users/{user_id}"): dict(ok=200),
    ("PUT", "/v3.0/OS-USER/users/{user_id}"): dict(ok=200, body=lambda r: {"user": {"description": "authz"}}),
    ("PATCH", "/v3/users/{user_id}"): dict(ok=200, body=lambda r: {"user": {"description": "authz"}}),
    ("PUT", "/v3.0/OS-USER/users/{user_id}/info"): dict(ok=204, body=lambda r: {"user": {"email": unique("m") + "@example.com"}}),
    ("POST", "/v3/users/{user_id}/password"): dict(
        ok=204, body=lambda r: {"user": {"original_password": "User-pass-1", "password": "User-pass-2-new"}}),
    ("DELETE", "/v3/users/{user_id}"): dict(ok=204),
    ("POST", "/v3/groups"): dict(ok=201, body=lambda r: {"group": {"name": unique("azg"), "description": "authz"}}),
    ("GET", "/v3/groups"): dict(ok=200),
    ("GET", "/v3/groups/{group_id}"): dict(ok=200),
    ("PATCH", "/v3/groups/{group_id}"): dict(ok=200, body=lambda r: {"group": {"description": "authz2"}}),
    ("DELETE", "/v3/groups/{group_id}"): dict(ok=204),
    ("PUT", "/v3/groups/{group_id}/users/{user_id}"): dict(ok=204),
    ("HEAD", "/v3/groups/{group_id}/users/{user_id}"): dict(ok=204),
    ("DELETE", "/v3/groups/{group_id}/users/{user_id}"): dict(ok=204),
    ("GET", "/v3/groups/{group_id}/users"): dict(ok=200),
    ("GET", "/v3/users/{user_id}/groups"): dict(ok=200),
    ("GET", "/v3/roles"): dict(ok=200),
    ("GET", "/v3/roles/{role_id}"): dict(ok=200),
    ("GET", "/v3.0/OS-ROLE/roles"): dict(ok=200),
    ("GET", "/v3.0/OS-ROLE/roles/{role_id}"): dict(ok=200),
    ("POST", "/v3.0/OS-ROLE/roles"): dict(ok=201, body=_role_body),
    ("PATCH", "/v3.0/OS-ROLE/roles/{role_id}"): dict(ok=200, body=_role_body),
    ("DELETE", "/v3.0/OS-ROLE/roles/{role_id}"): dict(ok=200),
    ("GET", "/v3.0/OS-PERMISSION/role-assignments"): dict(ok=200, query=lambda r: {"domain_id": r.param("domain_id")},
                                                          refs=True),
    ("POST", "/v3.0/OS-CREDENTIAL/credentials"): dict(ok=201, body=lambda r: {"credential": {"user_id": r.param("user_id")}},
                                                      refs=True),
    ("GET", "/v3.0/OS-CREDENTIAL/credentials"): dict(ok=200, query=lambda r: {"user_id": r.param("user_id")}, refs=True),
    ("GET", "/v3.0/OS-CREDENTIAL/credentials/{access_key}"): dict(ok=200),
    ("PUT", "/v3.0/OS-CREDENTIAL/credentials/{access_key}"): dict(
        ok=200, body=lambda r: {"credential": {"status": "inactive", "description": "authz"}}),
    ("DELETE", "/v3.0/OS-CREDENTIAL/credentials/{access_key}"): dict(ok=204),
}
# Grants: every .../groups/{group_id}/roles... route, whatever its scope.
for _r in ROUTES:
    if "/groups/{group_id}/roles" in _r["path"] and (_r["method"], _r["path"]) not in KNOWN:
        KNOWN[(_r["method"], _r["path"])] = dict(ok=200 if _r["method"] == "GET" else 204)
for _p in ("/v3.0/OS-PERMISSION/enterprise-projects/{enterprise_project_id}/groups",
           "/v3.0/OS-PERMISSION/groups/{group_id}/enterprise-projects"):
    KNOWN.setdefault(("GET", _p), dict(ok=200))

# Server bugs found by this file: (case, method, path) -> reason. Kept failing (strict xfail).
BUGS = {}


def role_type_for(path):
    """Custom policy type a grant route accepts: AX at account scope, XA elsewhere."""
    return "AX" if "/domains/{domain_id}/" in path else "XA"


# ------------------------------------------------------------------ the world

class World:
    """One server, the first account's admin, lazily created callers and objects."""

    def __init__(self):
        self.server = Server()
        s = self.server
        tok, body = token_for(s.base, "admin", "Admin-pass-1", "admin", project=REGION)
        s.admin_token = tok
        s.project_id = body["project"]["id"]
        s.domain_id = body["user"]["domain"]["id"]
        self.base = s.base
        self.admin = {"X-Auth-Token": tok}
        self.shared = {}     # first-account objects shared by the 401 cases
        self.callers = {}
        self._allow_all_group = None
        self._foreign = None

    # --- objects -----------------------------------------------------------
    def new_user(self):
        uid, name, pw = make_user(self.server, self.admin)
        return uid, name, pw

    def new_group(self):
        return make_group(self.server, self.admin)

    def new_role(self, type_):
        action = "iam:users:listUsers" if type_ == "AX" else "modelarts:dataset:list"
        return make_policy(self.server, self.admin, [{"Effect": "Allow", "Action": [action]}], type_=type_)

    def new_access_key(self):
        uid, _, _ = self.new_user()
        r = requests.post(self.base + "/v3.0/OS-CREDENTIAL/credentials", headers=self.admin,
                          json={"credential": {"user_id": uid, "description": "authz"}})
        assert r.status_code == 201, r.text
        return r.json()["credential"]["access"]

    def new_subproject(self):
        r = requests.post(self.base + "/v3/projects", headers=self.admin,
                          json={"project": {"name": f"{REGION}_{uuid.uuid4().hex[:12]}", "parent_id": self.server.project_id}})
        assert r.status_code == 201, r.text
        return r.json()["project"]["id"]

    def new_subject_token(self):
        _, name, pw = self.new_user()
        return token_for(self.base, name, pw, "admin", project=REGION)[0]

    # --- callers -----------------------------------------------------------
    def caller(self, group_ids):
        """A user in the given groups, with a token scoped to the region project."""
        uid, name, pw = self.new_user()
        for g in group_ids:
            r = requests.put(f"{self.base}/v3/groups/{g}/users/{uid}", headers=self.admin)
            assert r.status_code == 204, r.text
        tok, body = token_for(self.base, name, pw, "admin", project=REGION)
        assert body["project"]["id"] == self.server.project_id
        return {"X-Auth-Token": tok, "_user_id": uid}

    def grant(self, group, role, at_domain):
        if at_domain:
            url = f"{self.base}/v3/domains/{self.server.domain_id}/groups/{group}/roles/{role}"
        else:
            url = f"{self.base}/v3/projects/{self.server.project_id}/groups/{group}/roles/{role}"
        r = requests.put(url, headers=self.admin)
        assert r.status_code == 204, r.text

    def policy_group(self, statements_domain, statements_project):
        g = self.new_group()
        if statements_domain:
            self.grant(g, make_policy(self.server, self.admin, statements_domain, type_="AX"), True)
        if statements_project:
            self.grant(g, make_policy(self.server, self.admin, statements_project, type_="XA"), False)
        return g

    def allow_all_group(self):
        """AX Allow iam:*:* + obs:*:* at account scope, XA Allow <svc>:*:* on the
        region project for every project-level service in the route table."""
        if self._allow_all_group is None:
            project_services = {"modelarts"}
            for r in ROUTES:
                for a in [r["action"], *r["depends"]]:
                    if a and not evaluated_at_domain(r, a):
                        project_services.add(service(a))
            self._allow_all_group = self.policy_group(
                [{"Effect": "Allow", "Action": ["iam:*:*", "obs:*:*"]}],
                [{"Effect": "Allow", "Action": sorted(f"{s}:*:*" for s in project_services)}])
        return self._allow_all_group

    def denied_caller(self, route):
        """Allowed everything except the route's action (explicit Deny)."""
        a = route["action"]
        key = ("deny", a, evaluated_at_domain(route, a))
        if key not in self.callers:
            deny = [{"Effect": "Deny", "Action": [a]}]
            if evaluated_at_domain(route, a):
                g = self.policy_group(deny, None)
            else:
                g = self.policy_group(None, deny)
            self.callers[key] = self.caller([self.allow_all_group(), g])
        return self.callers[key]

    def allow_all_caller(self):
        if "allow" not in self.callers:
            self.callers["allow"] = self.caller([self.allow_all_group()])
        return self.callers["allow"]

    def exact_caller(self, route):
        """Allowed exactly the route's action and its dependent actions."""
        actions = [route["action"], *route["depends"]]
        key = ("exact", route["access"], tuple(actions))
        if key not in self.callers:
            dom = sorted({a for a in actions if evaluated_at_domain(route, a)})
            proj = sorted({a for a in actions if not evaluated_at_domain(route, a)})
            g = self.policy_group([{"Effect": "Allow", "Action": dom}] if dom else None,
                                  [{"Effect": "Allow", "Action": proj}] if proj else None)
            self.callers[key] = self.caller([g])
        return self.callers[key]

    def foreign_owner(self):
        """The owner of a second account (full rights there), project-scoped."""
        if self._foreign is None:
            name = unique("acct")
            out = self.server.admin_cli("account-create", "--name", name, "--password", "Other-pass-1")
            assert out["domain_id"] != self.server.domain_id
            tok, body = token_for(self.base, name, "Other-pass-1", name, project=REGION)
            assert body["project"]["id"] == out["project_id"] != self.server.project_id
            self._foreign = {"X-Auth-Token": tok}
        return self._foreign


class Resolver:
    """Values for a route's path parameters and known references.

    shared=True: objects of the first account created once (case a).
    shared=False: objects of the first account created for this one case."""

    def __init__(self, world, route, shared):
        self.w, self.route, self.shared = world, route, shared
        self.cache = world.shared if shared else {}

    def _get(self, key, make):
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def param(self, name):
        w, route = self.w, self.route
        if name == "project_id":
            if route["access"] == "project" or self.shared:
                return w.server.project_id
            return self._get("project_id", w.new_subproject)
        if name == "domain_id":
            return w.server.domain_id
        if name == "enterprise_project_id":
            return "0"
        if name == "user_id":
            return self._get("user_id", lambda: w.new_user()[0])
        if name == "group_id":
            return self._get("group_id", w.new_group)
        if name == "role_id":
            t = role_type_for(route["path"])
            return self._get("role_id:" + t, lambda: w.new_role(t))
        if name == "access_key":
            return self._get("access_key", w.new_access_key)
        return self._get("other:" + name, random_id)

    def subject_token(self):
        return self._get("subject_token", self.w.new_subject_token)

    def url(self):
        path = self.route["path"]
        for p in params_of(path):
            path = path.replace("{" + p + "}", requests.utils.quote(self.param(p), safe=""))
        return self.w.base + path


def build_request(world, route, case):
    """(url, extra headers, kwargs for requests.request, KNOWN spec or None)."""
    # Case a never reaches a handler: shared objects. Every other case gets its
    # own objects of the first account, so one case's effect (even a buggy
    # cross-account delete) cannot decide another case's outcome.
    shared = case == "a"
    r = Resolver(world, route, shared)
    spec = KNOWN.get((route["method"], route["path"]))
    url = r.url()
    headers = {}
    kw = {}
    if spec:
        if "headers" in spec:
            headers.update(spec["headers"](r))
        if "query" in spec:
            kw["params"] = spec["query"](r)
    if route["method"] in BODY_METHODS:
        headers["Content-Type"] = "application/json"
        if case == "b":
            kw["data"] = INVALID_BODY
        elif spec and "body" in spec:
            kw["data"] = json.dumps(spec["body"](r)).encode()
        else:
            kw["data"] = b"{}"
    if case in ("c", "allow", "d") and route["method"] in ("HEAD", "DELETE") and route["path"] in RELATION_PATHS:
        # Check/remove something that exists (for d: exists in the first
        # account, so only account isolation can explain a 404): create it first.
        pre = requests.put(url, headers=world.admin)
        assert pre.status_code == 204, (url, pre.status_code, pre.text)
    return url, headers, kw, spec


# ------------------------------------------------------------------ parametrization

def _cases():
    out = []
    for route in ROUTES:
        access = route["access"]
        if access == "public":
            continue
        cases = ["a"]
        if access in ("project", "global"):
            cases += ["b"]
            spec = KNOWN.get((route["method"], route["path"]))
            if spec and "body" in spec:
                cases += ["b_body"]
            cases += ["allow", "c", "d"]
        for case in cases:
            marks = []
            bug = BUGS.get((case, route["method"], route["path"]))
            if bug:
                marks.append(pytest.mark.xfail(strict=True, reason=bug))
            out.append(pytest.param(route, case, id=f"{case}-{rid(route)}", marks=marks))
    return out


CASES = _cases()


@pytest.fixture(scope="module")
def world():
    w = World()
    yield w
    w.server.cleanup()


def test_route_table_declares_actions():
    """Every project/global route names its IAM action; access values are known."""
    assert {r["access"] for r in ROUTES} <= {"public", "member", "project", "global"}
    missing = [rid(r) for r in ROUTES if r["access"] in ("project", "global") and not r["action"]]
    assert missing == [], missing
    bad = [rid(r) for r in ROUTES if r["action"] and len(r["action"].split(":")) != 3]
    assert bad == [], bad
    bad_deps = [rid(r) for r in ROUTES for d in r["depends"] if len(d.split(":")) != 3]
    assert bad_deps == [], bad_deps
    # Project routes are evaluated in the {project_id} of their path.
    no_pid = [rid(r) for r in ROUTES if r["access"] == "project" and "{project_id}" not in r["path"]]
    assert no_pid == [], no_pid
    assert len({(r["method"], r["path"]) for r in ROUTES}) == len(ROUTES)
    assert sum(r["access"] in ("project", "global") for r in ROUTES) >= 50


def _err_text(resp):
    return resp.text if resp.request.method != "HEAD" else ""


@pytest.mark.parametrize("route,case", CASES)
def test_authz(world, route, case):
    method = route["method"]
    if case == "d":
        params = params_of(route["path"])
        spec = KNOWN.get((method, route["path"]))
        refs = [p for p in params if p in RESOLVABLE]
        if route["access"] == "global" and not refs and not (spec and spec.get("refs")):
            pytest.skip(f"no parameter of {rid(route)} names an object of the first account ({params or 'none'})")

    url, headers, kw, spec = build_request(world, route, case)

    if case == "a":
        resp = requests.request(method, url, headers=headers, allow_redirects=False, **kw)
        if route["browser"] and method in ("GET", "HEAD"):  # a person at a browser is sent to sign in
            assert resp.status_code == 303 and resp.headers["Location"].startswith("/login?next=%2F"), (resp.status_code, resp.headers)
            return
        assert resp.status_code == 401, (resp.status_code, resp.text)
        if method != "HEAD":
            assert resp.json().get("error_code"), resp.text
        return

    if case in ("b", "b_body"):
        caller = world.denied_caller(route)
    elif case == "allow":
        caller = world.allow_all_caller()
    elif case == "c":
        caller = world.exact_caller(route)
    else:
        caller = world.foreign_owner()
    h = {k: v for k, v in caller.items() if not k.startswith("_")}
    h.update(headers)
    resp = requests.request(method, url, headers=h, **kw)
    got = (resp.status_code, _err_text(resp)[:400])

    if case in ("b", "b_body"):
        assert resp.status_code == 403, got
        if method != "HEAD":
            # The refusal names the denied action: it is our Deny that fired.
            assert route["action"] in resp.text, got
    elif case in ("allow", "c"):
        assert resp.status_code not in (401, 403), got
        assert resp.status_code < 500, got
        if spec:
            assert resp.status_code == spec["ok"], got
    else:
        assert resp.status_code == 404, got
