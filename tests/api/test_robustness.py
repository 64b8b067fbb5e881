"""No client input may produce a 500 or crash the server: every route of the
route table (today's and those added later) is sent hostile bodies, query
strings and path parameters by a caller with full rights, and must answer
with a 4xx (or a success) and keep serving."""
import json
import os
import subprocess

import pytest
import requests

from conftest import BIN

ROUTES = json.loads(subprocess.run([BIN, "routes"], capture_output=True, text=True, check=True).stdout)

BODIES = [
    b"",
    b"{",
    b"[]",
    b"null",
    b"\"text\"",
    b"12",
    b"{\"a\":",
    json.dumps({"user": 1, "group": [], "role": "x", "project": None, "auth": 5, "credential": {"user_id": 7}}).encode(),
    json.dumps({"user": {"name": "\u0000\u202e" * 40, "password": 3, "enabled": "yes", "domain_id": {}},
                "group": {"name": "x" * 5000}, "credential": {"user_id": "../../etc/passwd", "status": 1},
                "role": {"display_name": "d", "type": "XA", "description": "", "policy": {"Version": "1.1",
                         "Statement": [{"Effect": "Allow", "Action": ["a:b:c"], "Condition": {"Bad": 1}}]}},
                "auth": {"identity": {"methods": ["password"], "password": {"user": {"name": 1}}}},
                "project": {"name": 12}}).encode(),
    b"\xff\xfe\x00garbage",
    b"{\"k\":" + b"[" * 5000 + b"]" * 5000 + b"}",
]
PARAMS = ["%00", "..%2F..%2Fetc", "x" * 600, "%E2%80%AE", "%", "0", "-1", "'; DROP TABLE iam_users;--"]
QUERIES = ["", "?page=0&per_page=-1", "?page=abc&per_page=1", "?name=%00&enabled=maybe", "?limit=99999999999999999999&offset=-5",
           "?domain_id=&user_id=&subject=x&scope=y", "?%zz=1"]


def fill(path, value):
    out = []
    for seg in path.split("/"):
        out.append(value if seg.startswith("{") and seg.endswith("}") else seg)
    return "/".join(out)


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r['method']} {r['path']}" for r in ROUTES])
def test_route_never_500(server, admin, route):
    method = route["method"]
    for i, body in enumerate(BODIES):
        param = PARAMS[i % len(PARAMS)]
        path = fill(route["path"], param).replace("{project_id}", server.project_id)
        if "{" in route["path"] and "project_id" in route["path"] and i % 2 == 0:
            path = fill(route["path"].replace("{project_id}", server.project_id), param)
        query = QUERIES[i % len(QUERIES)]
        r = requests.request(method, server.base + path + query, headers={**admin, "Content-Type": "application/json"},
                             data=body, timeout=10)
        assert r.status_code < 500, f"{method} {path}{query} body={body[:80]!r} -> {r.status_code} {r.text[:300]}"
        assert "X-Request-Id" in r.headers
    assert requests.get(server.base + "/health", timeout=5).status_code == 200
