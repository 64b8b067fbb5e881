"""Helpers shared by the IAM / HTTP black-box tests (the shared fixtures, and
second_account, are in conftest.py)."""
import json
import re
import socket
import time
import urllib.parse

import requests

from conftest import make_user, token_for

HEX32 = re.compile(r"^[0-9a-f]{32}$")
TOKEN_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
OS_USER_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$")


def assert_iam_error(r, status, code=None, in_message=None):
    """Checks an IAM-family error: status, Keystone body {"error":{code,title,message}},
    the Huawei error_code/error_msg pair, and the request id."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers.get("X-Request-Id"), r.headers
    body = r.json()
    err = body.get("error")
    assert isinstance(err, dict), body
    assert err["code"] == status, body
    assert isinstance(err["title"], str) and err["title"], body
    assert isinstance(err["message"], str) and err["message"], body
    if code is not None:
        assert body.get("error_code") == code, body
    assert body.get("error_msg") == err["message"], body
    assert body.get("request_id") == r.headers["X-Request-Id"], body
    if in_message is not None:
        assert in_message in err["message"], body
    return body


def admin_group_id(server, admin):
    r = requests.get(server.base + "/v3/groups?name=admin", headers=admin)
    assert r.status_code == 200, r.text
    groups = r.json()["groups"]
    assert len(groups) == 1 and groups[0]["name"] == "admin", groups
    return groups[0]["id"]


def role_id(server, admin, display_name):
    # %20, not '+': the npm SDK encodes spaces that way
    r = requests.get(server.base + "/v3/roles?display_name=" + urllib.parse.quote(display_name), headers=admin)
    assert r.status_code == 200, r.text
    hits = [x for x in r.json()["roles"] if x["display_name"] == display_name]
    assert len(hits) == 1, r.json()
    return hits[0]["id"]


def user_with_token(server, admin, groups=(), project="local", **kw):
    """A fresh user (optionally in groups) and a project-scoped token for it."""
    uid, name, pw = make_user(server, admin, groups=groups, **kw)
    tok, _ = token_for(server.base, name, pw, "admin", project=project)
    return uid, name, pw, {"X-Auth-Token": tok}


def make_key(server, headers, user_id, description=""):
    r = requests.post(server.base + "/v3.0/OS-CREDENTIAL/credentials", headers=headers,
                      json={"credential": {"user_id": user_id, "description": description}})
    assert r.status_code == 201, r.text
    c = r.json()["credential"]
    return c["access"], c["secret"]


def password_token_request(base, user, password, domain="admin", scope=None, query=""):
    body = {"auth": {"identity": {"methods": ["password"],
                                  "password": {"user": {"name": user, "password": password,
                                                        "domain": {"name": domain}}}}}}
    if scope is not None:
        body["auth"]["scope"] = scope
    return requests.post(base + "/v3/auth/tokens" + query, json=body)


# ---- raw sockets

def connect(port, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def read_until_closed(sock, timeout=5.0):
    """Reads until the peer closes (or times out); returns the bytes."""
    sock.settimeout(timeout)
    data = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def read_response(sock, timeout=5.0):
    """Reads exactly one HTTP response (header + Content-Length body) from a
    keep-alive socket. Returns (status, headers dict lower-case, body bytes)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before a response header: %r" % data)
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    status, headers = parse_head(head)
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:n]


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    assert parts[0].startswith("HTTP/1."), lines[0]
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(parts[1]), headers


def parse_raw(data):
    """Parses one whole HTTP response from bytes read until close."""
    assert b"\r\n\r\n" in data, data
    head, body = data.split(b"\r\n\r\n", 1)
    status, headers = parse_head(head)
    return status, headers, body


def access_lines(server, settle=1.5):
    """The access-log entries (parsed JSON) of a server, after the async logger flushed."""
    time.sleep(settle)
    out = []
    for line in server.log().splitlines():
        i = line.find("{")
        if i < 0:
            continue
        try:
            j = json.loads(line[i:])
        except ValueError:
            continue
        if j.get("event") == "access":
            out.append(j)
    return out

