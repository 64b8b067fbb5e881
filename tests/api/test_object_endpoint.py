"""The object endpoint (S3/OBS protocol) driven by Debian's boto3: buckets,
objects, listing, copy, multi-delete, multipart, presigned URLs, signatures,
and the same store the ModelArts API sees."""
import base64
import email.utils
import hashlib
import hmac
import io
import os
import time
import urllib.parse
import xml.etree.ElementTree as ET

import boto3
import botocore
import pytest
import requests
from botocore.config import Config

from apihelpers import connect, make_key, read_until_closed
from conftest import unique


def client(server, ak, sk, **cfg):
    return boto3.client("s3", endpoint_url=server.obs_base, aws_access_key_id=ak, aws_secret_access_key=sk,
                        region_name="local",
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                      retries={"max_attempts": 1}, **cfg))


@pytest.fixture(scope="module")
def owner_key(server):
    return make_key(server, {"X-Auth-Token": server.admin_token}, server.admin_user_id)


@pytest.fixture(scope="module")
def s3(server, owner_key):
    return client(server, *owner_key)


@pytest.fixture
def bucket(s3):
    name = unique("bk")
    s3.create_bucket(Bucket=name)
    return name


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_bucket_lifecycle(s3, server):
    name = unique("bk")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "local"})
    assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "local"
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.create_bucket(Bucket=name)
    assert error_code(e) == "BucketAlreadyOwnedByYou"
    s3.put_object(Bucket=name, Key="a.txt", Body=b"x")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert error_code(e) == "BucketNotEmpty"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    s3.delete_object(Bucket=name, Key="a.txt")
    s3.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_bucket_errors(s3):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.create_bucket(Bucket=unique("bk"), CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert error_code(e) == "InvalidLocationConstraint"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_objects_v2(Bucket=unique("nob"))
    assert error_code(e) == "NoSuchBucket"
    r = requests.get(s3.meta.endpoint_url + "/Bad_Bucket")
    assert r.status_code == 400 and "<Code>InvalidBucketName</Code>" in r.text


def test_put_get_head_with_metadata(s3, bucket):
    body = os.urandom(100_000)
    r = s3.put_object(Bucket=bucket, Key="dir/data.bin", Body=body, ContentType="application/x-test",
                      Metadata={"Origin": "camera-7", "note": "a b"})
    assert r["ETag"] == '"' + hashlib.md5(body).hexdigest() + '"'
    got = s3.get_object(Bucket=bucket, Key="dir/data.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"origin": "camera-7", "note": "a b"}
    assert got["ETag"] == r["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dir/data.bin")
    assert head["ContentLength"] == len(body) and head["Metadata"]["origin"] == "camera-7"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="dir/missing.bin")
    assert error_code(e) == "NoSuchKey"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket=bucket, Key="dir/missing.bin")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_content_md5_is_checked(s3, bucket, server):
    import base64
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="md5.txt", Body=b"content", ContentMD5=wrong)
    assert error_code(e) == "BadDigest"
    assert server.objects.get(f"/{bucket}/md5.txt") is None
    right = base64.b64encode(hashlib.md5(b"content").digest()).decode()
    s3.put_object(Bucket=bucket, Key="md5.txt", Body=b"content", ContentMD5=right)
    assert server.objects.get(f"/{bucket}/md5.txt") == b"content"


def test_range_conditions_and_overrides(s3, bucket, server, owner_key):
    body = bytes(range(256)) * 4
    etag = s3.put_object(Bucket=bucket, Key="r.bin", Body=body)["ETag"]
    part = s3.get_object(Bucket=bucket, Key="r.bin", Range="bytes=10-19")
    assert part["Body"].read() == body[10:20] and part["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert s3.get_object(Bucket=bucket, Key="r.bin", Range="bytes=-5")["Body"].read() == body[-5:]
    assert s3.get_object(Bucket=bucket, Key="r.bin", Range="bytes=1000-")["Body"].read() == body[1000:]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r.bin", Range=f"bytes={len(body)}-")
    assert error_code(e) == "InvalidRange"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r.bin", IfNoneMatch=etag)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r.bin", IfMatch='"0000"')
    assert error_code(e) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="r.bin", IfMatch=etag)["Body"].read() == body
    got = s3.get_object(Bucket=bucket, Key="r.bin", ResponseContentType="text/plain",
                        ResponseContentDisposition="attachment; filename=r.bin")
    assert got["ContentType"] == "text/plain" and got["ContentDisposition"] == "attachment; filename=r.bin"


def test_listing_v1_v2_delimiter_paging(s3, bucket):
    keys = [f"img/{i:03d}.jpg" for i in range(25)] + ["img/sub/x.jpg", "top.txt", "z/a b%.txt"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [c["Prefix"] for c in r["CommonPrefixes"]] == ["img/", "z/"]
    assert [o["Key"] for o in r["Contents"]] == ["top.txt"]
    seen, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, Prefix="img/", MaxKeys=10, **kw)
        seen += [o["Key"] for o in page.get("Contents", [])]
        assert page["KeyCount"] <= 10
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == sorted(k for k in keys if k.startswith("img/"))
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="img/020.jpg", Prefix="img/")
    assert [o["Key"] for o in after["Contents"]] == ["img/021.jpg", "img/022.jpg", "img/023.jpg", "img/024.jpg",
                                                      "img/sub/x.jpg"]
    paginator = s3.get_paginator("list_objects")
    v1 = [o["Key"] for p in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 7}) for o in
          p.get("Contents", [])]
    assert v1 == sorted(keys)
    # boto3 asks for encoding-type=url and decodes it
    r = s3.list_objects(Bucket=bucket, Prefix="z/")
    assert [o["Key"] for o in r["Contents"]] == ["z/a b%.txt"]
    assert r["Contents"][0]["ETag"] == '"' + hashlib.md5(b"z/a b%.txt").hexdigest() + '"'
    raw = requests.get(s3.meta.endpoint_url + f"/{bucket}", params={"prefix": "z/", "encoding-type": "url"},
                       auth=None)
    assert raw.status_code == 403  # unsigned: refused


def test_copy_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src.txt", Body=b"copy me", ContentType="text/plain", Metadata={"a": "1"})
    r = s3.copy_object(Bucket=bucket, Key="dst.txt", CopySource={"Bucket": bucket, "Key": "src.txt"})
    assert r["CopyObjectResult"]["ETag"] == '"' + hashlib.md5(b"copy me").hexdigest() + '"'
    got = s3.get_object(Bucket=bucket, Key="dst.txt")
    assert got["Body"].read() == b"copy me" and got["Metadata"] == {"a": "1"} and got["ContentType"] == "text/plain"
    s3.copy_object(Bucket=bucket, Key="dst.txt", CopySource={"Bucket": bucket, "Key": "src.txt"},
                   MetadataDirective="REPLACE", Metadata={"b": "2"}, ContentType="text/x-new")
    got = s3.head_object(Bucket=bucket, Key="dst.txt")
    assert got["Metadata"] == {"b": "2"} and got["ContentType"] == "text/x-new"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="src.txt", CopySource={"Bucket": bucket, "Key": "src.txt"})
    assert error_code(e) == "InvalidRequest"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x.txt", CopySource={"Bucket": bucket, "Key": "nothing.txt"})
    assert error_code(e) == "NoSuchKey"


def test_delete_objects(s3, bucket):
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"d/{i}", Body=b"x")
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"d/{i}"} for i in range(3)] + [{"Key": "d/none"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == ["d/0", "d/1", "d/2", "d/none"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["d/3", "d/4"]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d/3"}], "Quiet": True})
    assert "Deleted" not in r
    assert s3.delete_object(Bucket=bucket, Key="d/absent")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_multipart_with_upload_file(s3, bucket, tmp_path, server):
    from boto3.s3.transfer import TransferConfig
    data = os.urandom(12 * 1024 * 1024 + 12345)
    f = tmp_path / "big.bin"
    f.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024, max_concurrency=3)
    s3.upload_file(str(f), bucket, "big/file.bin", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="big/file.bin")
    digests = b"".join(hashlib.md5(data[i:i + 5 * 1024 * 1024]).digest() for i in range(0, len(data), 5 * 1024 * 1024))
    assert head["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-3"'
    assert head["ContentLength"] == len(data)
    out = tmp_path / "back.bin"
    s3.download_file(bucket, "big/file.bin", str(out), Config=cfg)
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_multipart_by_hand(s3, bucket, server):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp.bin", ContentType="application/x-mp")["UploadId"]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mp.bin", up)]
    p1, p2 = os.urandom(5 * 1024 * 1024), b"tail"
    # out of order, and part 2 uploaded twice (the second replaces the first)
    e2 = s3.upload_part(Bucket=bucket, Key="mp.bin", UploadId=up, PartNumber=2, Body=b"first try")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="mp.bin", UploadId=up, PartNumber=2, Body=p2)["ETag"]
    e1 = s3.upload_part(Bucket=bucket, Key="mp.bin", UploadId=up, PartNumber=1, Body=p1)["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key="mp.bin", UploadId=up)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, len(p1)), (2, len(p2))]
    assert server.objects.get(f"/{bucket}/mp.bin") is None  # nothing visible before completion
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp.bin", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    assert error_code(e) == "InvalidPartOrder"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="mp.bin", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": '"0123"'}]})
    assert error_code(e) == "InvalidPart"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mp.bin", UploadId=up, PartNumber=10001, Body=b"x")
    assert error_code(e) == "InvalidArgument"
    s3.complete_multipart_upload(Bucket=bucket, Key="mp.bin", UploadId=up, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    got = s3.get_object(Bucket=bucket, Key="mp.bin")
    assert got["Body"].read() == p1 + p2 and got["ContentType"] == "application/x-mp"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="mp.bin", UploadId=up)
    assert error_code(e) == "NoSuchUpload"


def test_multipart_abort_and_too_small(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="small.bin")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="small.bin", UploadId=up, PartNumber=1, Body=b"a" * 100)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="small.bin", UploadId=up, PartNumber=2, Body=b"b")["ETag"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="small.bin", UploadId=up, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert error_code(e) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small.bin", UploadId=up)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.abort_multipart_upload(Bucket=bucket, Key="small.bin", UploadId=up)
    assert error_code(e) == "NoSuchUpload"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_presigned_urls(s3, bucket, server, owner_key):
    s3.put_object(Bucket=bucket, Key="p.txt", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p.txt"}, ExpiresIn=60)
    r = requests.get(url)
    assert r.status_code == 200 and r.content == b"presigned"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=60)
    assert requests.put(put_url, data=b"via presigned put").status_code == 200
    assert server.objects.get(f"/{bucket}/up.txt") == b"via presigned put"
    short = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p.txt"}, ExpiresIn=1)
    time.sleep(2.1)
    r = requests.get(short)
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text and "<RequestId>" in r.text


def test_signature_failures(server, s3, bucket, owner_key):
    ak, sk = owner_key
    bad = client(server, ak, sk[:-1] + ("A" if sk[-1] != "A" else "B"))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad.list_objects_v2(Bucket=bucket)
    assert error_code(e) == "SignatureDoesNotMatch"
    unknown = client(server, "AKIANOSUCHKEY0000000", sk)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        unknown.list_buckets()
    assert error_code(e) == "InvalidAccessKeyId"
    r = requests.get(f"{server.obs_base}/{bucket}/x")
    assert r.status_code == 403 and "<Code>AccessDenied</Code>" in r.text
    assert r.headers.get("x-amz-request-id")


def test_one_store_with_the_api(s3, bucket, server):
    s3.put_object(Bucket=bucket, Key="shared/from-s3.txt", Body=b"hello from s3")
    assert server.objects.get(f"/{bucket}/shared/from-s3.txt") == b"hello from s3"
    server.objects.put(f"/{bucket}/shared/from-api.txt", b"written by the server")
    assert s3.get_object(Bucket=bucket, Key="shared/from-api.txt")["Body"].read() == b"written by the server"


def test_keys_and_bad_input(s3, bucket, server, owner_key):
    for key in ["spaces and %25 percent.txt", "unicode/数据/ä.txt", "a+b=c&d.txt", "a/../b", "./x", "a//b", "/lead",
                "~~esc", "..", "dots/."]:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "unicode/数据/ä.txt" in listed and "spaces and %25 percent.txt" in listed
    assert {"a/../b", "./x", "a//b", "/lead", "~~esc", "..", "dots/."} <= set(listed)
    # nothing reached outside the bucket's folder on disk
    root = os.path.join(server.data_dir, "obs")
    assert sorted(os.listdir(root)) == sorted(set(os.listdir(root)) - {"b", "x", "lead"})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert error_code(e) == "KeyTooLongError"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": []})
    assert error_code(e) in ("MalformedXML",)


def test_access_log_names_operations_and_no_secrets(s3, bucket, server, owner_key):
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "logged.txt"}, ExpiresIn=60)
    assert requests.put(url, data=b"x").status_code == 200
    signature = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["X-Amz-Signature"][0]

    def logged():
        lines = [l for l in server.log().splitlines() if '"listener":"obs"' in l and '"operation":"PutObject"' in l]
        return lines
    from conftest import wait_until
    assert wait_until(logged, timeout=5)
    log = server.log()
    assert signature not in log and owner_key[1] not in log


def test_a_full_disk_answers_503_and_leaves_nothing(tmp_path):
    """The object store on a 8 MiB tmpfs: an upload that does not fit is
    refused with 503 InsufficientStorage, and nothing of it stays."""
    import subprocess
    from conftest import Server, ADMIN_PASSWORD, token_for
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    srv = None
    try:
        srv = Server(extra_env={"ATELIER_OBJECT_STORE": f"file://{mnt}/obs"})
        tok, body = token_for(srv.base, "admin", ADMIN_PASSWORD, "admin", project="local")
        c = client(srv, *make_key(srv, {"X-Auth-Token": tok}, body["user"]["id"]))
        c.create_bucket(Bucket="tiny")
        before = os.statvfs(mnt).f_bfree
        with pytest.raises(botocore.exceptions.ClientError) as e:
            c.put_object(Bucket="tiny", Key="big.bin", Body=os.urandom(12 * 1024 * 1024))
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert error_code(e) == "InsufficientStorage"
        assert c.list_objects_v2(Bucket="tiny").get("KeyCount") == 0
        assert os.statvfs(mnt).f_bfree == before
        c.put_object(Bucket="tiny", Key="small.bin", Body=b"fits")  # the space is usable again
        assert c.get_object(Bucket="tiny", Key="small.bin")["Body"].read() == b"fits"
    finally:
        if srv:
            srv.cleanup()
        subprocess.run(["umount", str(mnt)])


def test_virtual_hosted_style_with_obs_domain():
    """With obs_domain set, a Host of <bucket>.<obs_domain> names the bucket
    (signed by botocore for that host, sent to the loopback address)."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from conftest import Server, ADMIN_PASSWORD, token_for
    srv = Server(extra_env={"ATELIER_OBS_DOMAIN": "obs.example.test"})
    try:
        tok, body = token_for(srv.base, "admin", ADMIN_PASSWORD, "admin", project="local")
        ak, sk = make_key(srv, {"X-Auth-Token": tok}, body["user"]["id"])
        client(srv, ak, sk).create_bucket(Bucket="vhost")

        def send(method, key, data=b""):
            host = f"vhost.obs.example.test:{srv.obs_port}"
            req = AWSRequest(method=method, url=f"http://{host}/{key}", data=data)
            S3SigV4Auth(Credentials(ak, sk), "s3", "local").add_auth(req)
            headers = {**dict(req.headers), "Host": host}
            return requests.request(method, f"{srv.obs_base}/{key}", headers=headers, data=data)
        assert send("PUT", "dir/v.txt", b"virtual").status_code == 200
        r = send("GET", "dir/v.txt")
        assert r.status_code == 200 and r.content == b"virtual"
        listing = send("GET", "")
        assert listing.status_code == 200 and "<Key>dir/v.txt</Key>" in listing.text
        # path style keeps working beside it
        assert client(srv, ak, sk).get_object(Bucket="vhost", Key="dir/v.txt")["Body"].read() == b"virtual"
    finally:
        srv.cleanup()


def test_signature_v2_header_and_query(server, bucket, owner_key):
    """AWS Signature V2, as botocore's legacy 's3' signer sends it."""
    ak, sk = owner_key
    v2 = boto3.client("s3", endpoint_url=server.obs_base, aws_access_key_id=ak, aws_secret_access_key=sk,
                      region_name="local", config=Config(s3={"addressing_style": "path"}, signature_version="s3",
                                                         retries={"max_attempts": 1}))
    v2.put_object(Bucket=bucket, Key="v2/a b.txt", Body=b"signed v2", Metadata={"k": "v"})
    assert v2.get_object(Bucket=bucket, Key="v2/a b.txt")["Body"].read() == b"signed v2"
    assert [o["Key"] for o in v2.list_objects(Bucket=bucket, Prefix="v2/")["Contents"]] == ["v2/a b.txt"]
    url = v2.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v2/a b.txt"}, ExpiresIn=60)
    assert "Signature=" in url and "AWSAccessKeyId=" in url
    assert requests.get(url).content == b"signed v2"
    bad = boto3.client("s3", endpoint_url=server.obs_base, aws_access_key_id=ak, aws_secret_access_key=sk + "x",
                       region_name="local", config=Config(s3={"addressing_style": "path"}, signature_version="s3",
                                                          retries={"max_attempts": 1}))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        bad.get_object(Bucket=bucket, Key="v2/a b.txt")
    assert error_code(e) == "SignatureDoesNotMatch"


def obs_headers(ak, sk, method, resource, content_type=""):
    """Headers of a request signed with the OBS signature (Authorization:
    OBS AK:signature), written here from OBS's algorithm; `resource` is the
    path as sent with its sub-resource, e.g. "/bucket?location"."""
    date = email.utils.formatdate(usegmt=True)
    sts = f"{method}\n\n{content_type}\n{date}\n{resource}"
    sig = base64.b64encode(hmac.new(sk.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    headers = {"Date": date, "Authorization": f"OBS {ak}:{sig}"}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def test_obs_dialect_names_the_region_location(server, owner_key):
    ak, sk = owner_key
    name = unique("bk")

    def create(region):
        body = f"<CreateBucketConfiguration><Location>{region}</Location></CreateBucketConfiguration>"
        return requests.put(f"{server.obs_base}/{name}", data=body.encode(),
                            headers=obs_headers(ak, sk, "PUT", f"/{name}", "application/xml"))
    r = create("elsewhere-1")
    assert r.status_code == 400 and r.headers["x-obs-error-code"] == "InvalidLocationConstraint", r.text
    r = create("local")
    assert r.status_code == 200 and r.headers["x-obs-request-id"], r.text
    r = requests.get(f"{server.obs_base}/{name}?location", headers=obs_headers(ak, sk, "GET", f"/{name}?location"))
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    assert root.tag.rsplit("}", 1)[-1] == "Location" and root.text == "local", r.text


def test_head_answers_have_no_body(server, bucket, owner_key):
    """Errors of HEAD requests (refused, of a missing bucket or key) carry
    status and headers only: nothing follows the header block."""
    ak, sk = owner_key

    def head(target, headers):
        sock = connect(server.obs_port)
        try:
            lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            sock.sendall(f"HEAD {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}Connection: close\r\n\r\n".encode())
            head, sep, rest = read_until_closed(sock).partition(b"\r\n\r\n")
        finally:
            sock.close()
        assert sep and rest == b"", (head, rest)
        status_line, *fields = head.decode().split("\r\n")
        pairs = (f.split(": ", 1) for f in fields)
        return int(status_line.split()[1]), {k.lower(): v for k, v in pairs}

    assert head(f"/{bucket}/missing.txt", {})[0] == 403  # unsigned
    key = f"/{bucket}/missing.txt"
    status, h = head(key, obs_headers(ak, sk, "HEAD", key))
    assert status == 404 and h["x-obs-error-code"] == "NoSuchKey", h
    missing = "/" + unique("nob")
    status, h = head(missing, obs_headers(ak, sk, "HEAD", missing))
    assert status == 404 and h["x-obs-error-code"] == "NoSuchBucket", h


def _streaming_put(server, ak, sk, bucket, key, data, chunk=64 * 1024, tamper=None):
    """PUT with STREAMING-AWS4-HMAC-SHA256-PAYLOAD, signed here as the
    AWS documentation describes it: the seed signature by botocore's
    signer, each chunk's signature chained to the one before."""
    import hmac
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    host = f"127.0.0.1:{server.obs_port}"
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] + [b""]
    length = sum(len(f"{len(p):x};chunk-signature=") + 64 + 4 + len(p) for p in pieces)
    req = AWSRequest(method="PUT", url=f"http://{host}/{bucket}/{key}", headers={
        "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "x-amz-decoded-content-length": str(len(data)), "Content-Encoding": "aws-chunked",
        "Content-Length": str(length)})
    SigV4Auth(Credentials(ak, sk), "s3", "local").add_auth(req)  # signs the header's value as the payload
    seed = req.headers["Authorization"].rsplit("Signature=", 1)[1]
    amz_date = req.headers["X-Amz-Date"]
    day = amz_date[:8]

    def h(k, m):
        return hmac.new(k, m.encode(), hashlib.sha256).digest()
    key_bytes = h(h(h(h(("AWS4" + sk).encode(), day), "local"), "s3"), "aws4_request")
    scope = f"{day}/local/s3/aws4_request"
    body, prev = b"", seed
    empty = hashlib.sha256(b"").hexdigest()
    for i, p in enumerate(pieces):
        sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, empty, hashlib.sha256(p).hexdigest()])
        prev = sig = hmac.new(key_bytes, sts.encode(), hashlib.sha256).hexdigest()
        if tamper is not None and i == tamper:
            p = bytes([p[0] ^ 1]) + p[1:]
        body += f"{len(p):x};chunk-signature={sig}\r\n".encode() + p + b"\r\n"
    return requests.put(f"{server.obs_base}/{bucket}/{key}", data=body, headers={**dict(req.headers), "Host": host})


def test_signed_streaming_upload(server, s3, bucket, owner_key):
    data = os.urandom(300 * 1024 + 7)
    r = _streaming_put(server, *owner_key, bucket, "stream/ok.bin", data)
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"' + hashlib.md5(data).hexdigest() + '"'
    assert s3.get_object(Bucket=bucket, Key="stream/ok.bin")["Body"].read() == data
    # a chunk altered on the way: refused, and nothing of it is stored
    r = _streaming_put(server, *owner_key, bucket, "stream/bad.bin", data, tamper=2)
    assert r.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in r.text
    assert server.objects.get(f"/{bucket}/stream/bad.bin") is None


def test_unfinished_uploads_expire():
    from conftest import Server, ADMIN_PASSWORD, token_for
    srv = Server(extra_env={"ATELIER_OBS_UPLOAD_EXPIRY_S": "1"})
    try:
        tok, body = token_for(srv.base, "admin", ADMIN_PASSWORD, "admin", project="local")
        c = client(srv, *make_key(srv, {"X-Auth-Token": tok}, body["user"]["id"]))
        c.create_bucket(Bucket="expiring")
        up = c.create_multipart_upload(Bucket="expiring", Key="left.bin")["UploadId"]
        c.upload_part(Bucket="expiring", Key="left.bin", UploadId=up, PartNumber=1, Body=b"x" * 1000)
        assert len(c.list_multipart_uploads(Bucket="expiring")["Uploads"]) == 1
        time.sleep(1.2)
        srv.stop()
        srv.restart()  # the server aborts expired uploads when it starts (and every hour)
        c = client(srv, *c._request_signer._credentials.get_frozen_credentials()[:2])
        from conftest import wait_until
        wait_until(lambda: not c.list_multipart_uploads(Bucket="expiring").get("Uploads"), timeout=10,
                   what="the expired upload to go")
        assert os.listdir(os.path.join(srv.data_dir, "uploads")) == []
    finally:
        srv.cleanup()


def test_upload_part_copy_is_refused_not_mistaken(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src.bin", Body=b"s" * 100)
    up = s3.create_multipart_upload(Bucket=bucket, Key="pc.bin")["UploadId"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part_copy(Bucket=bucket, Key="pc.bin", UploadId=up, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src.bin"})
    assert error_code(e) == "NotImplemented"
    assert s3.list_parts(Bucket=bucket, Key="pc.bin", UploadId=up).get("Parts", []) == []
