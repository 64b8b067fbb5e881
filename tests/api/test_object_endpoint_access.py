"""Who may do what on the object endpoint: the account owner, IAM users with
no OBS policy, OBS ReadOnlyAccess and OBS OperateAccess, and another
account, against every operation. The expected answer of each comes from the
obs:* action the operation needs and the actions each system policy grants."""
import fnmatch
import os

import botocore
import pytest

from apihelpers import make_key, role_id
from conftest import make_group, make_user, grant_domain, second_account, unique
from test_object_endpoint import client

# The action each operation needs (and the dependent ones).
NEEDS = {
    "ListBuckets": ["obs:bucket:ListAllMyBuckets"],
    "HeadBucket": ["obs:bucket:HeadBucket"],
    "GetBucketLocation": ["obs:bucket:GetBucketLocation"],
    "ListObjects": ["obs:bucket:ListBucket"],
    "ListObjectsV2": ["obs:bucket:ListBucket"],
    "ListMultipartUploads": ["obs:bucket:ListBucketMultipartUploads"],
    "CreateBucket": ["obs:bucket:CreateBucket"],
    "DeleteBucket": ["obs:bucket:DeleteBucket"],
    "PutObject": ["obs:object:PutObject"],
    "GetObject": ["obs:object:GetObject"],
    "HeadObject": ["obs:object:GetObject"],
    "CopyObject": ["obs:object:PutObject", "obs:object:GetObject"],
    "DeleteObject": ["obs:object:DeleteObject"],
    "DeleteObjects": ["obs:object:DeleteObject"],
    "CreateMultipartUpload": ["obs:object:PutObject"],
    "UploadPart": ["obs:object:PutObject"],
    "CompleteMultipartUpload": ["obs:object:PutObject"],
    "ListParts": ["obs:object:ListMultipartUploadParts"],
    "AbortMultipartUpload": ["obs:object:AbortMultipartUpload"],
}

# What the system policies grant (as the IAM service defines them).
GRANTS = {
    "OBS ReadOnlyAccess": ["obs:bucket:ListAllMyBuckets", "obs:bucket:HeadBucket", "obs:bucket:ListBucket",
                           "obs:bucket:GetBucketLocation", "obs:object:GetObject", "obs:object:GetObjectVersion"],
    "OBS OperateAccess": ["obs:bucket:ListAllMyBuckets", "obs:bucket:HeadBucket", "obs:bucket:ListBucket",
                          "obs:bucket:GetBucketLocation", "obs:object:*"],
    "OBS Administrator": ["obs:*:*"],
}


def allowed(grants, needs):
    return all(any(fnmatch.fnmatchcase(a, g) for g in grants) for a in needs)


class World:
    """The owner's bucket and what each attempt needs made fresh beforehand."""

    def __init__(self, owner):
        self.owner = owner
        self.bucket = unique("acl")
        owner.create_bucket(Bucket=self.bucket)
        owner.put_object(Bucket=self.bucket, Key="o.txt", Body=b"owned")

    def fresh_upload(self):
        return self.owner.create_multipart_upload(Bucket=self.bucket, Key="mp.bin")["UploadId"]

    def operations(self):
        b = self.bucket

        def put_part(c):
            up = self.fresh_upload()
            c.upload_part(Bucket=b, Key="mp.bin", UploadId=up, PartNumber=1, Body=b"x")

        def complete(c):
            up = self.fresh_upload()
            etag = self.owner.upload_part(Bucket=b, Key="mp.bin", UploadId=up, PartNumber=1, Body=b"x")["ETag"]
            c.complete_multipart_upload(Bucket=b, Key="mp.bin", UploadId=up,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})

        def delete_object(c):
            self.owner.put_object(Bucket=b, Key="victim.txt", Body=b"v")
            c.delete_object(Bucket=b, Key="victim.txt")

        def delete_bucket(c):
            empty = unique("emp")
            self.owner.create_bucket(Bucket=empty)
            c.delete_bucket(Bucket=empty)

        return {
            "ListBuckets": lambda c: c.list_buckets(),
            "HeadBucket": lambda c: c.head_bucket(Bucket=b),
            "GetBucketLocation": lambda c: c.get_bucket_location(Bucket=b),
            "ListObjects": lambda c: c.list_objects(Bucket=b),
            "ListObjectsV2": lambda c: c.list_objects_v2(Bucket=b),
            "ListMultipartUploads": lambda c: c.list_multipart_uploads(Bucket=b),
            "CreateBucket": lambda c: c.create_bucket(Bucket=unique("new")),
            "DeleteBucket": delete_bucket,
            "PutObject": lambda c: c.put_object(Bucket=b, Key="w.txt", Body=b"w"),
            "GetObject": lambda c: c.get_object(Bucket=b, Key="o.txt")["Body"].read(),
            "HeadObject": lambda c: c.head_object(Bucket=b, Key="o.txt"),
            "CopyObject": lambda c: c.copy_object(Bucket=b, Key="c.txt", CopySource={"Bucket": b, "Key": "o.txt"}),
            "DeleteObject": delete_object,
            "DeleteObjects": lambda c: c.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "none.txt"}]}),
            "CreateMultipartUpload": lambda c: c.create_multipart_upload(Bucket=b, Key="mp2.bin"),
            "UploadPart": put_part,
            "CompleteMultipartUpload": complete,
            "ListParts": lambda c: c.list_parts(Bucket=b, Key="mp.bin", UploadId=self.fresh_upload()),
            "AbortMultipartUpload": lambda c: c.abort_multipart_upload(Bucket=b, Key="mp.bin",
                                                                       UploadId=self.fresh_upload()),
        }


def outcome(fn, c):
    try:
        fn(c)
        return "ok"
    except botocore.exceptions.ClientError as e:
        err = e.response["Error"]
        # HEAD answers carry no body: the status tells
        return err.get("Code") if err.get("Code") not in (None, "403") else "AccessDenied"


@pytest.fixture(scope="module")
def world(server):
    admin = {"X-Auth-Token": server.admin_token}
    return World(client(server, *make_key(server, admin, server.admin_user_id)))


def user_client(server, policy=None):
    admin = {"X-Auth-Token": server.admin_token}
    g = make_group(server, admin)
    if policy:
        grant_domain(server, admin, g, role_id(server, admin, policy))
    uid, _, _ = make_user(server, admin, groups=[g])
    return client(server, *make_key(server, admin, uid))


@pytest.mark.parametrize("policy", [None, "OBS ReadOnlyAccess", "OBS OperateAccess", "OBS Administrator"])
def test_iam_users_get_what_their_policies_grant(server, world, policy):
    c = user_client(server, policy)
    grants = GRANTS.get(policy, [])
    wrong = {}
    for name, fn in world.operations().items():
        expect = "ok" if allowed(grants, NEEDS[name]) else "AccessDenied"
        got = outcome(fn, c)
        if got != expect:
            wrong[name] = (expect, got)
    assert wrong == {}, wrong


def test_owner_may_do_everything(server, world):
    wrong = {n: r for n, fn in world.operations().items() if (r := outcome(fn, world.owner)) != "ok"}
    assert wrong == {}, wrong


def test_another_account_is_refused_everywhere(server, world):
    admin = {"X-Auth-Token": server.admin_token}
    _, _, other_headers, _ = second_account(server)
    import requests
    me = requests.get(server.base + "/v3/auth/tokens",
                      headers={**other_headers, "X-Subject-Token": other_headers["X-Auth-Token"]}).json()
    other = client(server, *make_key(server, other_headers, me["token"]["user"]["id"]))
    wrong = {}
    for name, fn in world.operations().items():
        if name in ("ListBuckets", "CreateBucket", "DeleteBucket"):
            continue  # not on the owner's bucket: below
        got = outcome(fn, other)
        if got != "AccessDenied":
            wrong[name] = got
    assert wrong == {}, wrong
    assert world.bucket not in [b["Name"] for b in other.list_buckets()["Buckets"]]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.create_bucket(Bucket=world.bucket)
    assert e.value.response["Error"]["Code"] == "BucketAlreadyExists"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.delete_bucket(Bucket=world.bucket)
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    # its own buckets work, and the owner does not see them
    mine = unique("oth")
    other.create_bucket(Bucket=mine)
    other.put_object(Bucket=mine, Key="k", Body=b"v")
    assert mine not in [b["Name"] for b in world.owner.list_buckets()["Buckets"]]
    assert outcome(lambda c: c.get_object(Bucket=mine, Key="k"), world.owner) == "AccessDenied"


def test_the_matrix_covers_the_operation_table():
    """NEEDS is the endpoint's own table (`atelier routes --object-endpoint`):
    every operation it serves is in the matrix above, with its actions."""
    import json
    import subprocess
    from conftest import BIN
    out = subprocess.run([BIN, "routes", "--object-endpoint"], capture_output=True, text=True, timeout=60, check=True)
    table = {r["operation"]: [r["action"], *r["depends"]] for r in json.loads(out.stdout)}
    matrix = {k: v for k, v in NEEDS.items() if k != "ListObjectsV2"}
    assert table == matrix
