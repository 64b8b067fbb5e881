"""AK/SK request signing (SDK-HMAC-SHA256) as seen from a client: the
conftest signer is written from the SDKs' algorithm, not from the server."""
import datetime
import hashlib
import hmac
import json
import urllib.parse

import pytest
import requests

from apihelpers import admin_group_id, assert_iam_error, make_key
from conftest import make_user, sign_request, signed, unique


@pytest.fixture(scope="module")
def key(server):
    """An access key of a member of the admin group (so IAM admin calls pass)."""
    admin = {"X-Auth-Token": server.admin_token}
    uid, name, _ = make_user(server, admin, name=unique("ak user "), groups=[admin_group_id(server, admin)])
    ak, sk = make_key(server, admin, uid)
    return ak, sk, uid, name


def sdk_date(delta=datetime.timedelta(0)):
    return (datetime.datetime.utcnow() + delta).strftime("%Y%m%dT%H%M%SZ")


def test_signed_get_auth_projects(server, key):
    ak, sk, uid, _ = key
    r = signed("GET", server.base + "/v3/auth/projects", ak, sk)
    assert r.status_code == 200, r.text
    assert server.project_id in [p["id"] for p in r.json()["projects"]]


def test_signed_get_users(server, key):
    ak, sk, uid, name = key
    r = signed("GET", server.base + "/v3/users", ak, sk)
    assert r.status_code == 200, r.text
    assert uid in [u["id"] for u in r.json()["users"]]


def test_signed_query_with_encoded_space(server, key):
    ak, sk, uid, name = key
    assert " " in name
    r = signed("GET", server.base + "/v3/users?name=" + urllib.parse.quote(name), ak, sk)
    assert r.status_code == 200, r.text
    assert [u["id"] for u in r.json()["users"]] == [uid]


def test_signed_post_with_body(server, key):
    ak, sk, _, _ = key
    name = unique("sgrp")
    r = signed("POST", server.base + "/v3/groups", ak, sk, json_body={"group": {"name": name}})
    assert r.status_code == 201, r.text
    assert r.json()["group"]["name"] == name


def test_body_is_part_of_the_signature(server, key):
    ak, sk, _, _ = key
    body = json.dumps({"group": {"name": unique("g")}}).encode()
    h = sign_request("POST", server.base + "/v3/groups", ak, sk, body=body)
    tampered = json.dumps({"group": {"name": unique("evil")}}).encode()
    r = requests.post(server.base + "/v3/groups", headers=h, data=tampered)
    assert_iam_error(r, 401, "IAM.0001")


def test_wrong_secret_401(server, key):
    ak, sk, _, _ = key
    r = signed("GET", server.base + "/v3/users", ak, sk[:-2] + "zz")
    body = assert_iam_error(r, 401, "IAM.0001")
    # unknown key: same answer, no hint which part is wrong
    r2 = signed("GET", server.base + "/v3/users", "NOSUCHACCESSKEY00000", sk)
    body2 = assert_iam_error(r2, 401, "IAM.0001")
    assert body["error"]["message"] == body2["error"]["message"]


def test_old_sdk_date_401(server, key):
    ak, sk, _, _ = key
    r = signed("GET", server.base + "/v3/users", ak, sk, date=sdk_date(-datetime.timedelta(minutes=20)))
    assert_iam_error(r, 401, "IAM.0001")
    r = signed("GET", server.base + "/v3/users", ak, sk, date=sdk_date(datetime.timedelta(minutes=20)))
    assert_iam_error(r, 401, "IAM.0001")
    # within the window (15 min) it is fine
    r = signed("GET", server.base + "/v3/users", ak, sk, date=sdk_date(-datetime.timedelta(minutes=10)))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("date", ["", "2024-01-01T00:00:00Z", "20241301T000000Z", "yesterday"])
def test_bad_sdk_date_401(server, key, date):
    ak, sk, _, _ = key
    h = sign_request("GET", server.base + "/v3/users", ak, sk, date=date or "x")
    if date == "":
        del h["X-Sdk-Date"]
    r = requests.get(server.base + "/v3/users", headers=h)
    assert_iam_error(r, 401, "IAM.0001")


def test_sdk_date_must_be_signed(server, key):
    ak, sk, _, _ = key
    r = signed("GET", server.base + "/v3/users", ak, sk, signed=("content-type", "host"))
    assert_iam_error(r, 401, "IAM.0001")
    r = signed("GET", server.base + "/v3/users", ak, sk, signed=("content-type", "x-sdk-date"))
    assert_iam_error(r, 401, "IAM.0001")
    r = signed("GET", server.base + "/v3/users", ak, sk, signed=("host", "x-sdk-date"))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("auth", [
    "SDK-HMAC-SHA256",
    "SDK-HMAC-SHA256 garbage",
    "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date",
    "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;x-sdk-date, Signature=abc",
    "SDK-HMAC-SHA256 SignedHeaders=host;x-sdk-date, Signature=" + "0" * 64,
    "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host;;x-sdk-date, Signature=" + "0" * 64,
    "Basic YWRtaW46YWRtaW4=",
    "Bearer xyz",
])
def test_malformed_authorization_401(server, auth):
    r = requests.get(server.base + "/v3/users", headers={"Authorization": auth, "X-Sdk-Date": sdk_date()})
    assert_iam_error(r, 401, "IAM.0001")


def test_unsigned_payload(server, key):
    ak, sk, _, _ = key
    body = json.dumps({"group": {"name": unique("up")}}).encode()
    h = sign_request("POST", server.base + "/v3/groups", ak, sk, body=body,
                     headers={"X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"})
    r = requests.post(server.base + "/v3/groups", headers=h, data=body)
    assert r.status_code == 201, r.text
    # with UNSIGNED-PAYLOAD the signature holds whatever the body
    h = sign_request("GET", server.base + "/v3/auth/projects", ak, sk, headers={"X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"})
    r = requests.get(server.base + "/v3/auth/projects", headers=h, data=b'{"ignored": true}')
    assert r.status_code == 200, r.text
    # but the header value itself is part of the canonical request
    h = sign_request("GET", server.base + "/v3/auth/projects", ak, sk, headers={"X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"})
    h["X-Sdk-Content-Sha256"] = hashlib.sha256(b"").hexdigest()[:-1] + "0"
    assert_iam_error(requests.get(server.base + "/v3/auth/projects", headers=h), 401)


def test_query_sent_unsorted_still_verifies(server, key):
    ak, sk, uid, name = key
    url = server.base + "/v3/users?name=" + urllib.parse.quote(name) + "&enabled=true&domain_id=" + server.domain_id
    r = signed("GET", url, ak, sk)
    assert r.status_code == 200, r.text
    assert [u["id"] for u in r.json()["users"]] == [uid]
    # the query is signed: changing it breaks the signature
    h = sign_request("GET", url, ak, sk)
    r = requests.get(url.replace("enabled=true", "enabled=false"), headers=h)
    assert_iam_error(r, 401, "IAM.0001")


def test_get_with_empty_json_body(server, key):
    ak, sk, _, _ = key
    for path in ("/v3/auth/domains", "/v3/projects?name=local", "/v3/users"):
        r = signed("GET", server.base + path, ak, sk, json_body={})
        assert r.request.body == b"{}"
        assert r.status_code == 200, (path, r.text)
    r = signed("GET", server.base + "/v3/projects?name=local", ak, sk, json_body={})
    assert [p["id"] for p in r.json()["projects"]] == [server.project_id]


def test_trailing_slash_and_encoded_path(server, key):
    ak, sk, uid, _ = key
    r = signed("GET", server.base + "/v3/users/", ak, sk)
    assert r.status_code == 200, r.text
    r = signed("GET", f"{server.base}/v3/users/{uid}", ak, sk)
    assert r.status_code == 200 and r.json()["user"]["id"] == uid


def test_signed_with_extra_headers(server, key):
    ak, sk, _, _ = key
    h = {"X-Project-Id": server.project_id, "X-Domain-Id": server.domain_id}
    r = signed("GET", server.base + "/v3/users", ak, sk, headers=h,
               signed=("content-type", "host", "x-domain-id", "x-project-id", "x-sdk-date"))
    assert r.status_code == 200, r.text
    # a signed header changed after signing
    hh = sign_request("GET", server.base + "/v3/users", ak, sk, headers=dict(h),
                      signed=("content-type", "host", "x-project-id", "x-sdk-date"))
    hh["X-Project-Id"] = "0" * 32
    assert_iam_error(requests.get(server.base + "/v3/users", headers=hh), 401)


def test_old_credential_form(server, key):
    ak, sk, _, _ = key
    h = sign_request("GET", server.base + "/v3/auth/projects", ak, sk)
    h["Authorization"] = h["Authorization"].replace(f"Access={ak}", f"Credential={ak}/20240101/local/iam/sdk_request")
    r = requests.get(server.base + "/v3/auth/projects", headers=h)
    assert r.status_code == 200, r.text


def test_x_domain_id_of_another_account_403(server, key, other_account):
    ak, sk, _, _ = key
    other_did, _, _, _ = other_account
    r = signed("GET", server.base + "/v3/users", ak, sk, headers={"X-Domain-Id": other_did},
               signed=("content-type", "host", "x-domain-id", "x-sdk-date"))
    assert_iam_error(r, 403, "IAM.0002")
    # own domain id is fine
    r = signed("GET", server.base + "/v3/users", ak, sk, headers={"X-Domain-Id": server.domain_id},
               signed=("content-type", "host", "x-domain-id", "x-sdk-date"))
    assert r.status_code == 200
    # the same with a token
    r = requests.get(server.base + "/v3/users", headers={"X-Auth-Token": server.admin_token, "X-Domain-Id": other_did})
    assert_iam_error(r, 403, "IAM.0002")


def test_x_domain_id_mismatch_on_member_routes_403(server, key, other_account):
    ak, sk, _, _ = key
    other_did, _, _, _ = other_account
    r = signed("GET", server.base + "/v3/auth/projects", ak, sk, headers={"X-Domain-Id": other_did},
               signed=("content-type", "host", "x-domain-id", "x-sdk-date"))
    assert_iam_error(r, 403, "IAM.0002")


def test_x_project_id_is_informational_on_iam(server, key):
    ak, sk, _, _ = key
    r = signed("GET", server.base + "/v3/users", ak, sk, headers={"X-Project-Id": "0" * 32},
               signed=("content-type", "host", "x-project-id", "x-sdk-date"))
    assert r.status_code == 200, r.text


def test_signed_token_request_and_validation(server, key):
    """The npm SDK signs POST /v3/auth/tokens and GET /v3/auth/tokens."""
    ak, sk, uid, name = key
    admin = {"X-Auth-Token": server.admin_token}
    u2, n2, p2 = make_user(server, admin)
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": n2, "password": p2, "domain": {"name": "admin"}}}}, "scope": {"project": {"name": "local"}}}}
    r = signed("POST", server.base + "/v3/auth/tokens", ak, sk, json_body=body)
    assert r.status_code == 201, r.text
    tok = r.headers["X-Subject-Token"]
    assert r.json()["token"]["user"]["id"] == u2
    r = signed("GET", server.base + "/v3/auth/tokens", ak, sk, headers={"X-Subject-Token": tok},
               signed=("content-type", "host", "x-sdk-date", "x-subject-token"))
    assert r.status_code == 200, r.text
    assert r.json()["token"]["user"]["id"] == u2


def test_inactive_and_deleted_keys(server):
    admin = {"X-Auth-Token": server.admin_token}
    uid, _, _ = make_user(server, admin)
    ak, sk = make_key(server, admin, uid)
    assert signed("GET", server.base + "/v3/auth/projects", ak, sk).status_code == 200
    requests.put(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=admin,
                 json={"credential": {"status": "inactive"}})
    assert_iam_error(signed("GET", server.base + "/v3/auth/projects", ak, sk), 401, "IAM.1107")
    requests.delete(f"{server.base}/v3.0/OS-CREDENTIAL/credentials/{ak}", headers=admin)
    assert_iam_error(signed("GET", server.base + "/v3/auth/projects", ak, sk), 401, "IAM.0001")


def test_signer_matches_spec_example():
    """The conftest signer reproduces the SDKs' canonical request."""
    url = "http://modelarts.example.local/v2/0123456789abcdef0123456789abcdef/datasets?offset=0&limit=10"
    h = sign_request("GET", url, "AK", "SK", date="20210302T091500Z")
    cr = "\n".join(["GET", "/v2/0123456789abcdef0123456789abcdef/datasets/", "limit=10&offset=0",
                    "content-type:application/json\nhost:modelarts.example.local\nx-sdk-date:20210302T091500Z\n",
                    "content-type;host;x-sdk-date",
                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"])
    sts = "SDK-HMAC-SHA256\n20210302T091500Z\n" + hashlib.sha256(cr.encode()).hexdigest()
    sig = hmac.new(b"SK", sts.encode(), hashlib.sha256).hexdigest()
    assert h["Authorization"] == f"SDK-HMAC-SHA256 Access=AK, SignedHeaders=content-type;host;x-sdk-date, Signature={sig}"
