#!/usr/bin/python3
"""Writes requests signed by botocore's own S3 signers as JSON (stdout or the
file named by the first argument), for tests/unit/s3_auth_test.cc to verify.

Run with Debian's /usr/bin/python3 (python3-botocore). The clock is frozen,
so the output is the same on every run with the same botocore; the copy in
tests/unit/s3_vectors.json is this script's output.
"""
import datetime
import email.utils
import json
import sys
import types

import botocore.auth
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode
from urllib.parse import urlsplit

NOW = 1715949296  # 2024-05-17T12:34:56Z
ACCESS = "AKIDATELIERTEST00001"
SECRET = "s3cr3t/Key+with=odd~chars0123456789abcd"


class FrozenDateTime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return cls.utcfromtimestamp(NOW)


def frozen_formatdate(timeval=None, localtime=False, usegmt=False):
    return email.utils.formatdate(NOW if timeval is None else timeval, localtime, usegmt)


botocore.auth.datetime = types.SimpleNamespace(datetime=FrozenDateTime)
botocore.auth.formatdate = frozen_formatdate
botocore.auth.time = types.SimpleNamespace(time=lambda: NOW)

CREDS = Credentials(ACCESS, SECRET)


def key_path(bucket, key):
    """The path botocore's S3 client sends for an object key."""
    return "/" + bucket + "/" + percent_encode(key, safe="/~")


def query(pairs):
    return "&".join(k if v is None else percent_encode(k) + "=" + percent_encode(v) for k, v in pairs)


def wire(name, scheme, req, region="", host_bucket="", now=NOW):
    """The request as the server receives it."""
    split = urlsplit(req.url)
    headers = [["Host", split.netloc]] + [[k, v] for k, v in req.headers.items()]
    target = split.path + ("?" + split.query if split.query else "")
    body = req.body if isinstance(req.body, str) else (req.body or b"").decode("utf-8")
    return {"name": name, "scheme": scheme, "region": region, "host_bucket": host_bucket, "method": req.method,
            "target": target, "headers": headers, "body": body, "access": ACCESS, "secret": SECRET,
            "now_ms": now * 1000}


def make(method, url, headers=None, body=b"", auth_path=None):
    req = AWSRequest(method=method, url=url, headers=headers or {}, data=body)
    if auth_path is not None:
        req.auth_path = auth_path
    return req


EP = "http://obs.example.test:8443"
KEYS = [
    "plain.txt",
    "my key with  spaces.txt",
    "\u00fcn\u00efc\u00f8d\u00e9/\u6587\u4ef6.txt",
    "odd%chars+plus~tilde=equals&amp;semi;colon:at@comma,.txt",
    "dir//double/./dot/../up",
    "q?mark#hash!bang*star'quote(paren)$dollar",
]


def v4_header_vectors(out):
    region = "cn-north-4"
    for i, key in enumerate(KEYS):
        req = make("GET", EP + key_path("bucket", key))
        S3SigV4Auth(CREDS, "s3", region).add_auth(req)
        out.append(wire(f"v4 GET key {i}", "v4", req, region))
    body = b"hello, object"
    req = make("PUT", EP + key_path("bucket", "dir/obj.bin"), {
        "Content-Type": "application/octet-stream", "Content-MD5": "XrY7u+Ae7tCTyyK7j1rNww==",
        "x-amz-meta-Spaced": "  several   inner   spaces  ", "x-amz-meta-b": "second", "x-amz-acl": "private",
        "Cache-Control": "no-cache", "x-amz-storage-class": "STANDARD"}, body)
    S3SigV4Auth(CREDS, "s3", region).add_auth(req)
    out.append(wire("v4 PUT many headers", "v4", req, region))
    req = make("GET", EP + "/bucket?" + query([("list-type", "2"), ("prefix", "a b/c+d"), ("max-keys", "10"),
                                                ("delimiter", "/"), ("start-after", "\u00e9=&x")]))
    S3SigV4Auth(CREDS, "s3", region).add_auth(req)
    out.append(wire("v4 list query", "v4", req, region))
    req = make("POST", EP + key_path("bucket", "big file.bin") + "?uploads")
    S3SigV4Auth(CREDS, "s3", region).add_auth(req)
    out.append(wire("v4 initiate multipart", "v4", req, region))
    req = make("PUT", EP + key_path("bucket", "big file.bin") + "?" +
               query([("partNumber", "3"), ("uploadId", "abc+def/ghi==")]), {}, b"part data")
    S3SigV4Auth(CREDS, "s3", region).add_auth(req)
    out.append(wire("v4 upload part", "v4", req, region))
    req = make("GET", EP + key_path("bucket", "by date.txt"), {"Date": "x", "Range": "bytes=0-9"})
    S3SigV4Auth(CREDS, "s3", region).add_auth(req)
    out.append(wire("v4 Date header", "v4", req, region))
    req = make("GET", "https://obs.example.test" + key_path("bucket", "unsigned.txt"))
    S3SigV4Auth(CREDS, "s3", "us-east-1").add_auth(req)
    out.append(wire("v4 https unsigned payload", "v4", req, "us-east-1"))


def v4_query_vectors(out):
    region = "cn-north-4"
    req = make("GET", EP + key_path("bucket", "shared report.pdf") + "?" +
               query([("response-content-disposition", 'attachment; filename="r p.pdf"')]))
    S3SigV4QueryAuth(CREDS, "s3", region, expires=3600).add_auth(req)
    out.append(wire("v4 presigned GET", "v4q", req, region))
    req = make("PUT", EP + key_path("bucket", "\u00fcpload+me.txt"))
    S3SigV4QueryAuth(CREDS, "s3", region, expires=600).add_auth(req)
    out.append(wire("v4 presigned PUT", "v4q", req, region))


def v2_vectors(out):
    for i, key in enumerate(KEYS):
        req = make("GET", EP + key_path("bucket", key))
        HmacV1Auth(CREDS).add_auth(req)
        out.append(wire(f"v2 GET key {i}", "v2", req))
    req = make("PUT", EP + key_path("bucket", "meta.txt"), {
        "Content-Type": "text/plain", "Content-MD5": "XrY7u+Ae7tCTyyK7j1rNww==", "x-amz-meta-Zed": " z ",
        "X-Amz-Meta-alpha": "a", "x-amz-acl": "public-read"}, b"body")
    HmacV1Auth(CREDS).add_auth(req)
    out.append(wire("v2 PUT headers", "v2", req))
    for name, q in [("acl", "acl"), ("upload part", query([("partNumber", "2"), ("uploadId", "xyz+/=")])),
                    ("response override", query([("response-content-disposition", 'attachment; filename="a b"'),
                                                 ("response-content-type", "text/plain")])),
                    ("ordinary query", query([("prefix", "p/"), ("max-keys", "3"), ("marker", "m")])),
                    ("uploads", "uploads")]:
        req = make("GET" if name != "uploads" else "POST", EP + key_path("bucket", "k") + "?" + q)
        HmacV1Auth(CREDS).add_auth(req)
        out.append(wire(f"v2 {name}", "v2", req))
    req = make("GET", "http://bucket.obs.example.test/vh%20key.txt", auth_path="/bucket/vh%20key.txt")
    HmacV1Auth(CREDS).add_auth(req)
    out.append(wire("v2 virtual-hosted", "v2", req, host_bucket="bucket"))
    req = make("GET", EP + key_path("bucket", "shared v2.txt") + "?" + query([("versionId", "v1")]))
    HmacV1QueryAuth(CREDS, expires=600).add_auth(req)
    out.append(wire("v2 presigned GET", "v2q", req))


def main():
    out = []
    v4_header_vectors(out)
    v4_query_vectors(out)
    v2_vectors(out)
    text = json.dumps({"botocore": botocore.__version__, "vectors": out}, indent=1, ensure_ascii=False) + "\n"
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
