"""A server whose object store is another server's S3 endpoint
(object_store = s3://HOST:PORT, docs/object-storage.md "Remote storage"):
files put on the storage server with boto3 are what the API sees, and what
the API writes (exports, uploads through its own endpoint) lands there.

Two servers per module: `storage`, a plain server whose object endpoint
holds the objects, and `app`, the server under test, configured with an
access key of the storage server's admin user. The fixture `server` of
conftest.py is not used: its backends.py view of the object store is the
local folder, which `app` does not have.
"""
import io
import json
import os

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from conftest import ADMIN_PASSWORD, Server, token_for, unique, wait_until
from datahelpers import Api, b64, png

BUCKET = "remote-data"


def s3(base, ak, sk):
    return boto3.client("s3", endpoint_url=base, aws_access_key_id=ak, aws_secret_access_key=sk,
                        region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                      retries={"max_attempts": 1}))


def admin_key(srv):
    cred = srv.admin_cli("credential-create", "--user", "admin")["credential"]
    return cred["access"], cred["secret"]


@pytest.fixture(scope="module")
def storage():
    s = Server()
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def store(storage):
    """boto3 on the storage server's endpoint: what lies behind `app`."""
    ak, sk = admin_key(storage)
    c = s3(storage.obs_base, ak, sk)
    c.create_bucket(Bucket=BUCKET)
    c.keys = (ak, sk)
    return c


@pytest.fixture(scope="module")
def app(storage, store):
    ak, sk = store.keys
    s = Server(extra_env={"ATELIER_OBJECT_STORE": f"s3://127.0.0.1:{storage.obs_port}",
                          "ATELIER_OBJECT_STORE_ACCESS_KEY": ak, "ATELIER_OBJECT_STORE_SECRET_KEY": sk})
    tok, body = token_for(s.base, "admin", ADMIN_PASSWORD, "admin", project="local")
    s.project_id = body["project"]["id"]
    s.admin_token = tok
    s.api = Api(s, {"X-Auth-Token": tok})
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def mine(app):
    """boto3 on the app's own endpoint (a user holds two keys at most: one per module)."""
    return s3(app.obs_base, *admin_key(app))


def wait_task(api, path, done=("COMPLETED", "SUCCESSED"), failed=("FAILED",)):
    def finished():
        t = api.get(path).json()
        return t if t["status"] in done + failed else None
    t = wait_until(finished, 60, interval=0.05, what=f"{path} to finish")
    assert t["status"] in done, t
    return t


def test_no_object_is_in_the_data_dir(app, mine):
    """Objects, the platform's samples among them, are all on the storage server."""
    assert not os.path.exists(os.path.join(app.data_dir, "obs"))
    listed = mine.list_objects_v2(Bucket="samples", MaxKeys=5)
    assert listed["KeyCount"] > 0


def spath(ds, sid=""):
    return f"/datasets/{ds}/data-annotations/samples" + (f"/{sid}" if sid else "")


def test_dataset_from_images_put_on_the_storage_server(app, store):
    api = app.api
    root = unique("ds")
    images = {f"img{i}.png": png(10 + i, 20) for i in range(5)}
    for n, data in images.items():
        store.put_object(Bucket=BUCKET, Key=f"{root}/in/{n}", Body=data, ContentType="image/png")
    ds, inp = api.create(0, data_path=f"/{BUCKET}/{root}/in/", work_path=f"/{BUCKET}/{root}/out/",
                         labels=[{"name": "cat"}])
    samples = api.all_samples(ds)
    assert sorted(s["sample_name"] for s in samples) == sorted(images)
    for s in samples:
        assert s["sample_dir"] == inp
        r = api.get(spath(ds, s["sample_id"]) + "/content")
        assert r.status_code == 200 and r.content == images[s["sample_name"]]

    # Added through the API: written to the storage server.
    r = api.add_raw(ds, [{"name": "inline.png", "data": b64(png(3, 4))}])
    assert r.status_code == 200, r.text
    assert store.get_object(Bucket=BUCKET, Key=f"{root}/in/inline.png")["Body"].read() == png(3, 4)

    # A folder put later, imported by a task (class folders: labels).
    for n in ("cat/a.png", "cat/b.png", "dog/c.png"):
        store.put_object(Bucket=BUCKET, Key=f"{root}/more/{n}", Body=png(8, 8))
    r = api.post(f"/datasets/{ds}/import-tasks", json={"import_path": f"/{BUCKET}/{root}/more/"})
    assert r.status_code == 200, r.text
    wait_task(api, f"/datasets/{ds}/import-tasks/{r.json()['task_id']}")
    assert len(api.all_samples(ds)) == 9

    # Exported: the manifest is written to the storage server and names the samples there.
    r = api.post(f"/datasets/{ds}/export-tasks", json={"path": f"/{BUCKET}/{root}/exp/"})
    assert r.status_code == 200, r.text
    t = wait_task(api, f"/datasets/{ds}/export-tasks/{r.json()['task_id']}")
    bucket, _, key = t["manifest_path"].split("://", 1)[-1].lstrip("/").partition("/")
    assert bucket == BUCKET, t["manifest_path"]
    text = store.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    lines = [json.loads(l) for l in text.splitlines() if l.strip()]
    assert len(lines) == 9
    assert all(f"{BUCKET}/{root}/" in l["source"] for l in lines), lines[0]


def test_the_endpoint_of_the_app_writes_through(mine, store):
    """Uploads to the app's own endpoint, a small one and one in parts, are
    objects of the storage server; what is put there is downloadable here."""
    root = unique("up")
    mine.put_object(Bucket=BUCKET, Key=f"{root}/small.txt", Body=b"hello", Metadata={"who": "app"})
    got = store.get_object(Bucket=BUCKET, Key=f"{root}/small.txt")
    assert got["Body"].read() == b"hello" and got["Metadata"] == {"who": "app"}

    big = bytes(range(256)) * (40 * 1024 * 4 + 7)  # 40 MiB and a bit: parts both ways
    mine.upload_fileobj(io.BytesIO(big), BUCKET, f"{root}/big.bin",
                        Config=TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20))
    assert store.head_object(Bucket=BUCKET, Key=f"{root}/big.bin")["ContentLength"] == len(big)
    assert store.get_object(Bucket=BUCKET, Key=f"{root}/big.bin")["Body"].read() == big

    store.put_object(Bucket=BUCKET, Key=f"{root}/there.txt", Body=b"from the storage side")
    assert mine.get_object(Bucket=BUCKET, Key=f"{root}/there.txt")["Body"].read() == b"from the storage side"
    ranged = mine.get_object(Bucket=BUCKET, Key=f"{root}/big.bin", Range="bytes=20000000-20000009")
    assert ranged["Body"].read() == big[20000000:20000010]
    listed = mine.list_objects_v2(Bucket=BUCKET, Prefix=f"{root}/")
    assert [o["Key"] for o in listed["Contents"]] == [f"{root}/big.bin", f"{root}/small.txt", f"{root}/there.txt"]


# Last in this module: it stops the storage server for good.
def test_an_unreachable_store_is_503(app, mine, storage, store):
    """With the storage server gone, calls that need objects fail with 503
    (after retries) instead of hanging, and the secret shows nowhere."""
    storage.stop()
    r = app.api.get("/datasets")  # the metadata store is the app's own
    assert r.status_code == 200, r.text
    with pytest.raises(Exception) as e:
        mine.head_object(Bucket=BUCKET, Key="anything")
    assert "503" in str(e.value), e.value
    r = app.api.post("/datasets", json={"dataset_name": unique("gone"), "dataset_type": 0,
                                        "work_path": f"/{BUCKET}/gone/out/", "work_path_type": 0,
                                        "data_sources": [{"data_type": 0, "data_path": f"/{BUCKET}/gone/in/"}]})
    assert r.status_code == 503, r.text
    assert "127.0.0.1:%d" % storage.obs_port in r.text
    storage_secret = store.keys[1]
    assert storage_secret not in r.text and storage_secret not in app.log()
