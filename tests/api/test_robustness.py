"""No client input may produce a 500 or crash the server: every route of the
route table (today's and those added later) is sent hostile bodies, query
strings and path parameters by a caller with full rights, and must answer
with a 4xx (or a success) and keep serving."""
import json
import os
import subprocess

import pytest
import requests

from conftest import BIN, wait_until

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


# ---------------------------------------------------------------- reproducers of issue 22 (one request, no crash, no 500)

from apihelpers import connect, parse_raw, read_until_closed  # noqa: E402
from conftest import Server  # noqa: E402


def alive(srv):
    assert srv.proc.poll() is None, "the server died"
    assert requests.get(srv.base + "/health", timeout=5).status_code == 200


def raw_exchange(srv, data, timeout=5.0):
    """Sends raw bytes on a fresh connection; returns (status, headers, body) of the
    answer, which must be followed by the server closing the connection."""
    s = connect(srv.port, timeout)
    try:
        s.sendall(data)
        got = read_until_closed(s, timeout)
    finally:
        s.close()
    return parse_raw(got)


CHUNKED_HEAD = b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.fixture(scope="module")
def strict():
    s = Server(extra_env={"ATELIER_READ_TIMEOUT_MS": "600"})
    yield s
    s.cleanup()


def test_oversized_trailer_is_431_not_a_crash(strict):
    st, hd, body = raw_exchange(strict, CHUNKED_HEAD + b"2\r\n{}\r\n0\r\nX-T: " + b"t" * 70000 + b"\r\n\r\n")
    assert st == 431, body
    assert hd.get("x-request-id") and json.loads(body)["error_code"] == "APIGW.0202"
    alive(strict)
    # many small trailer fields count together
    st, _, _ = raw_exchange(strict, CHUNKED_HEAD + b"2\r\n{}\r\n0\r\n" + b"X-A: aaaaaaaaaa\r\n" * 2000 + b"\r\n")
    assert st == 431
    alive(strict)


def test_trailer_within_limit_is_served(strict):
    s = connect(strict.port)
    try:
        s.sendall(CHUNKED_HEAD.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") +
                  b"2\r\n{}\r\n0\r\nX-T: " + b"t" * 1000 + b"\r\n\r\n")
        st, _, body = parse_raw(read_until_closed(s))
    finally:
        s.close()
    assert st == 200, body


def test_endless_trailer_or_chunk_line_is_refused(strict):
    # no end of trailer in sight: refused once the buffer limit is reached, not read for ever
    s = connect(strict.port)
    try:
        s.sendall(CHUNKED_HEAD + b"2\r\n{}\r\n0\r\nX-T: ")
        for _ in range(40):
            try:
                s.sendall(b"t" * 8192)
            except OSError:
                break
        st, _, _ = parse_raw(read_until_closed(s))
    finally:
        s.close()
    assert st == 431
    st, _, _ = raw_exchange(strict, CHUNKED_HEAD + b"1;" + b"e" * 300000 + b"\r\nx\r\n0\r\n\r\n")
    assert st in (400, 431)
    alive(strict)


@pytest.mark.parametrize("size", [b"zz", b"-1", b"fffffffffffffffffffffff", b"", b" 2"])
def test_malformed_chunk_size_is_400(strict, size):
    st, _, body = raw_exchange(strict, CHUNKED_HEAD + size + b"\r\n{}\r\n0\r\n\r\n")
    assert st in (400, 413), body
    alive(strict)


def test_stalled_chunked_body_is_408(strict):
    s = connect(strict.port)
    try:
        s.sendall(CHUNKED_HEAD + b"2\r\n{}\r\n")  # no last chunk
        st, _, _ = parse_raw(read_until_closed(s, timeout=5))
    finally:
        s.close()
    assert st == 408
    alive(strict)


# ---------------------------------------------------------------- deep JSON

from datahelpers import Api  # noqa: E402


def deep(n):
    return "[" * n + "]" * n


def deep_body(template, n):
    """`template` is JSON text with the placeholder "DEEP" (quoted) where the nesting goes."""
    return template.replace('"DEEP"', deep(n)).encode()


def post_raw(server, admin, method, path, data):
    return requests.request(method, server.base + path, data=data, timeout=60,
                            headers={**admin, "Content-Type": "application/json"})


@pytest.fixture(scope="module")
def data_ds(server):
    api = Api(server, {"X-Auth-Token": server.admin_token})
    ds, _ = api.create(type_=0, labels=[{"name": "cat"}, {"name": "dog"}], no_source=True)
    sid = api.add_inline(ds, "deep.jpg", b"hello")
    return api, ds, sid


@pytest.mark.parametrize("n", [65, 60000])
def test_deeply_nested_json_is_400(server, admin, data_ds, n):
    api, ds, sid = data_ds
    v2 = f"/v2/{server.project_id}/datasets/{ds}"
    cases = [
        ("POST", v2 + "/data-annotations/samples", '{"samples":[{"name":"a.jpg","data":"aGVsbG8=","metadata":{"k":"DEEP"}}]}'),
        ("PUT", v2 + "/data-annotations/samples", '{"samples":[{"sample_id":"%s","metadata":{"k":"DEEP"}}]}' % sid),
        ("PUT", v2 + "/data-annotations/samples",
         '{"samples":[{"sample_id":"%s","labels":[{"name":"cat","property":{"k":"DEEP"}}]}]}' % sid),
        ("POST", v2 + "/data-annotations/labels", '{"labels":[{"name":"deep","property":{"k":"DEEP"}}]}'),
        ("POST", "/v3.0/OS-ROLE/roles", '{"role":{"display_name":"deep","type":"XA","description":"d","policy":{"Version":"1.1",'
                                         '"Statement":[{"Effect":"Allow","Action":["modelarts:dataset:list"],'
                                         '"Condition":{"StringEquals":{"g:UserName":"DEEP"}}}]}}}'),
    ]
    for method, path, template in cases:
        r = post_raw(server, admin, method, path, deep_body(template, n if "ROLE" not in path or n < 100 else 100000))
        assert r.status_code == 400, (method, path, r.status_code, r.text[:300])
        assert "deeper than 64" in r.text, r.text[:300]
        alive(server)
    assert api.sample(ds, sid)["metadata"] == {} or "k" not in api.sample(ds, sid)["metadata"]
    assert "deep" not in {l["name"] for l in api.labels(ds)}


def test_nesting_at_the_limit_is_accepted(server, admin, data_ds):
    api, ds, sid = data_ds
    r = post_raw(server, admin, "PUT", f"/v2/{server.project_id}/datasets/{ds}/data-annotations/samples",
                 deep_body('{"samples":[{"sample_id":"%s","metadata":{"k":"DEEP"}}]}' % sid, 60))
    assert r.status_code == 200, r.text[:300]
    assert api.sample(ds, sid)["metadata"]["k"] == json.loads(deep(60))


def test_deep_search_condition_query_is_400(server, data_ds):
    api, ds, _ = data_ds
    r = api.list_raw(ds, search_conditions="[" + deep(2000) + "]")
    assert r.status_code == 400, r.text[:300]
    alive(server)


# ---------------------------------------------------------------- annotation types, ranges and limits

from conftest import unique  # noqa: E402
from datahelpers import assert_err  # noqa: E402


@pytest.mark.parametrize("bad", ["0", None, "", [], {}, "NaN", "%00", 1.5, True, 4294967296, 9223372036854775808,
                                 -1, 18446744073709551615])
def test_annotation_label_type_checked(data_ds, bad):
    api, ds, sid = data_ds
    before = api.sample(ds, sid)
    r = api.annotate_raw(ds, [{"sample_id": sid, "labels": [{"name": "cat", "type": bad}]}])
    assert_err(r, 400, "ModelArts.0101", "labels[0].type")
    assert api.sample(ds, sid) == before


@pytest.mark.parametrize("bad", [4294967296, 9223372036854775808, -4294967296, "0"])
def test_label_definition_type_checked(data_ds, bad):
    api, ds, _ = data_ds
    r = api.post(f"/datasets/{ds}/data-annotations/labels", json={"labels": [{"name": unique("big"), "type": bad}]})
    assert_err(r, 400, "ModelArts.0101", "type")
    assert all(l["type"] == 0 for l in api.labels(ds))


def test_labels_per_sample_limit(data_ds):
    api, ds, sid = data_ds
    r = api.annotate_raw(ds, [{"sample_id": sid, "labels": [{"name": "cat"}] * 1001}])
    assert_err(r, 400, "ModelArts.0101", "at most 1000 labels")
    r = api.add_raw(ds, [{"name": "many.jpg", "data": "aGVsbG8=", "labels": [{"name": "cat"}] * 1001}])
    assert_err(r, 400, "ModelArts.0101", "at most 1000 labels")
    api.annotate(ds, [{"sample_id": sid, "labels": [{"name": "cat"}] * 1000}])
    assert len(api.sample(ds, sid)["labels"]) == 1000
    api.annotate(ds, [{"sample_id": sid, "labels": []}])


# ---------------------------------------------------------------- invalid UTF-8 in query values and path parameters

def test_invalid_utf8_query_values_are_400(server, admin, data_ds):
    api, ds, _ = data_ds
    v2 = f"{server.base}/v2/{server.project_id}"
    r = requests.post(v2 + "/workforces", headers=admin, json={"workforce_name": unique("t")})
    assert r.status_code in (200, 201), r.text
    team = r.json()["workforce_id"]
    r = requests.post(f"{v2}/workforces/{team}/workers", headers=admin, json={"emails": unique("w") + "@example.com", "role": 0})
    assert r.status_code == 201, r.text
    r = requests.post(f"{v2}/datasets/{ds}/workforce-tasks", headers=admin,
                      json={"task_name": unique("t"), "workforces_config": {"workforces": [{"workforce_id": team}]}})
    assert r.status_code == 200, r.text
    task = r.json()["task_id"]
    urls = [("GET", f"{v2}/datasets/{ds}/workforce-tasks/{task}/data-annotations/samples?label_name=%FF"),
            ("GET", f"{v2}/datasets/{ds}/workforce-tasks/{task}/data-annotations/samples?label_name=%C0%AF"),
            ("GET", f"{v2}/datasets/{ds}/data-annotations/samples?label_name=%ED%A0%80"),
            ("GET", f"{v2}/datasets?search_content=%FF%FE"),
            ("DELETE", f"{v2}/datasets/{ds}/data-annotations/labels/%FF"),
            ("GET", f"{server.base}/v3/users?name=%FF")]
    for method, url in urls:
        r = requests.request(method, url, headers=admin, timeout=30)
        assert r.status_code == 400, (url, r.status_code, r.text[:300])
        assert "UTF-8" in r.text, r.text
    r = requests.get(urls[0][1].replace("%FF", "%C3%A9"), headers=admin)  # é, well-formed
    assert r.status_code == 200, r.text
    alive(server)


# ---------------------------------------------------------------- numeric strings; a task that fails ends failed



@pytest.mark.parametrize("ratio", ["1e-400", "1e-320", "nan", "NaN", "inf", "-0.5", "1.5", " 0.5", "0x1p-3", "", "0.5e0"])
def test_version_ratio_checked_at_the_request(data_ds, ratio):
    api, ds, _ = data_ds
    n = len(api.get(f"/datasets/{ds}/versions").json()["versions"])
    r = api.post(f"/datasets/{ds}/versions", json={"train_evaluate_sample_ratio": ratio})
    assert_err(r, 400, "ModelArts.0101", "train_evaluate_sample_ratio")
    assert len(api.get(f"/datasets/{ds}/versions").json()["versions"]) == n


def wait_version(api, ds, vid, timeout=30):
    def settled():
        v = api.get(f"/datasets/{ds}/versions/{vid}").json()
        return v if v["status"] != 0 else None
    return wait_until(settled, timeout, what=f"version {vid} to leave status 0")


def test_failed_publish_ends_failed_with_reason(server):
    api = Api(server, {"X-Auth-Token": server.admin_token})
    ds, _ = api.create(type_=0, labels=[{"name": "cat"}], no_source=True)
    api.add_inline(ds, "a.jpg", b"hello")
    inner = api.dataset(ds)["inner_annotation_path"]
    server.objects.put(inner.rstrip("/"), b"a file where the version folder must go")
    r = api.post(f"/datasets/{ds}/versions", json={"train_evaluate_sample_ratio": "0.8"})
    assert r.status_code == 201, r.text
    v = wait_version(api, ds, r.json()["version_id"])
    assert v["status"] == 4, v
    assert v["failed_reason"], v
    alive(server)


def test_folder_import_of_a_file_name_that_is_not_utf8(server):
    """File names need not be UTF-8; the import's resume position (JSON) must still be written."""
    api = Api(server, {"X-Auth-Token": server.admin_token})
    ds, _ = api.create(type_=0, labels=[{"name": "cat"}], no_source=True)
    folder = f"/dtest/{unique('raw')}/"
    server.objects.put(folder + "ok.jpg", b"hello")
    # a name that is no UTF-8 can only be made in the embedded backend's folder
    with open(server.objects.local_path(folder).encode() + b"\xff\xfe.jpg", "wb") as f:
        f.write(b"hello")
    r = api.post(f"/datasets/{ds}/import-tasks", json={"import_path": folder, "import_type": "dir"})
    assert r.status_code == 200, r.text
    def finished():
        t = api.get(f"/datasets/{ds}/import-tasks/{r.json()['task_id']}").json()
        return t if t["status"] in ("COMPLETED", "FAILED") else None
    t = wait_until(finished, 30, what="the import to finish")
    assert t["status"] == "COMPLETED", t
    assert api.list(ds)["sample_count"] == 2
    alive(server)
