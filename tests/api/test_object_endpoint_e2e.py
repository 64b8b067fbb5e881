"""End to end through the object endpoint: boto3 puts training code and a
folder of images (one sub-folder per class) in a bucket; the ModelArts API
imports the folder into an image-classification dataset and runs a training
job (v1) whose code and data are in that bucket; boto3 downloads what the
job wrote to its train_url and checks it against the images it uploaded."""
import binascii
import hashlib
import json
import struct
import zlib

import pytest

from apihelpers import make_key
from conftest import ADMIN_PASSWORD, Server, token_for, unique, wait_until
from datahelpers import Api
from test_object_endpoint import client
from test_training_jobs import COMPLETED, TApi, shutdown

CLASSES = {"cat": 12, "dog": 9}

# Counts the images of each class folder under data_url, and writes
# result.json (the counts and a digest of every image in path order) and
# model.bin (per class, the SHA-256 of its images' bytes in name order)
# to train_url.
TRAIN = """\
import argparse, hashlib, json, os

p = argparse.ArgumentParser()
p.add_argument('--data_url')
p.add_argument('--train_url')
p.add_argument('--tag', default='')
a = p.parse_args()
classes, all_images, model = {}, hashlib.sha256(), b''
for name in sorted(os.listdir(a.data_url)):
    folder = os.path.join(a.data_url, name)
    if not os.path.isdir(folder):
        continue
    h = hashlib.sha256()
    files = sorted(f for f in os.listdir(folder) if f.endswith('.png'))
    for f in files:
        data = open(os.path.join(folder, f), 'rb').read()
        assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n', f
        h.update(data)
        all_images.update(data)
    classes[name] = len(files)
    model += name.encode() + b'\\0' + h.digest()
os.makedirs(a.train_url, exist_ok=True)
with open(os.path.join(a.train_url, 'result.json'), 'w') as out:
    json.dump({'classes': classes, 'total': sum(classes.values()), 'digest': all_images.hexdigest(), 'tag': a.tag}, out)
with open(os.path.join(a.train_url, 'model.bin'), 'wb') as out:
    out.write(model)
print('trained on', sum(classes.values()), 'images', flush=True)
"""


def png(width, height, seed):
    """A complete RGB PNG whose pixels depend on `seed`."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", binascii.crc32(kind + data))
    rows = b"".join(b"\0" + bytes((seed * 31 + x * 7 + y * 3) & 0xFF for x in range(width * 3)) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def srv():
    """A server of this module's own (its object endpoint included) with room for a job."""
    s = Server(extra_env={"ATELIER_TRAIN_CORES": "2", "ATELIER_TRAIN_MEMORY_MB": "4096"})
    s.api = TApi(s)
    yield s
    shutdown(s, s.api)


@pytest.fixture(scope="module")
def s3(srv):
    """boto3 with an access key of the account owner."""
    tok, body = token_for(srv.base, "admin", ADMIN_PASSWORD, "admin", project="local")
    return client(srv, *make_key(srv, {"X-Auth-Token": tok}, body["user"]["id"]))


def test_images_and_code_uploaded_with_boto3_train_a_job(srv, s3, tmp_path):
    bucket = unique("e2e")
    s3.create_bucket(Bucket=bucket)
    images = {}  # key -> bytes
    for cls, n in CLASSES.items():
        for i in range(n):
            images[f"images/{cls}/{cls}-{i:02d}.png"] = png(6 + i % 4, 5 + i % 3, sum(cls.encode()) + 17 * i)
    for key, data in images.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="image/png")
    s3.put_object(Bucket=bucket, Key="code/train.py", Body=TRAIN.encode())
    s3.put_object(Bucket=bucket, Key="code/README.txt", Body=b"beside the boot file")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="images/", Delimiter="/")
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["images/cat/", "images/dog/"]

    # the dataset imports the folder: one sample per image, labelled by its folder
    data = Api(srv, srv.api.h, srv.api.pid)
    r = data.post("/datasets", json={"dataset_name": unique("ds"), "dataset_type": 0,
                                     "work_path": f"/{bucket}/dataset/", "work_path_type": 0})
    assert r.status_code == 201, r.text
    ds = r.json()["dataset_id"]
    r = data.post(f"/datasets/{ds}/import-tasks", json={"import_path": f"/{bucket}/images/", "import_type": "dir"})
    assert r.status_code == 200, r.text
    task = r.json()["task_id"]

    def imported():
        t = data.get(f"/datasets/{ds}/import-tasks/{task}").json()
        assert t["status"] in ("QUEUING", "RUNNING", "COMPLETED"), t
        return t if t["status"] == "COMPLETED" else None
    t = wait_until(imported, 30, what="the import")
    total = sum(CLASSES.values())
    assert (t["total_sample_count"], t["imported_sample_count"], t["failed_sample_count"]) == (total, total, 0), t
    d = data.dataset(ds)
    assert (d["total_sample_count"], d["annotated_sample_count"]) == (total, total), d
    samples = data.all_samples(ds)
    by_label = {}
    for s in samples:
        by_label.setdefault(s["labels"][0]["name"], set()).add(s["sample_name"])
    assert by_label == {c: {k.rsplit("/", 1)[1] for k in images if k.startswith(f"images/{c}/")} for c in CLASSES}

    # a training job whose code and data are in the bucket
    out = f"/{bucket}/output/"
    cfg = {"worker_server_num": 1, "app_url": f"/{bucket}/code/", "boot_file_url": f"/{bucket}/code/train.py",
           "engine_id": 1, "spec_id": 1, "data_url": f"/{bucket}/images/", "train_url": out,
           "parameter": [{"label": "tag", "value": bucket}]}
    r = srv.api.create_raw({"job_name": unique("e2e"), "config": cfg})
    assert r.status_code == 200, r.text
    job = r.json()
    v = srv.api.wait(job["job_id"], job["version_id"], timeout=45)
    assert v["status"] == COMPLETED, (v, srv.api.log(job["job_id"], job["version_id"]))

    # what the job wrote, downloaded with boto3
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="output/")
    assert sorted(o["Key"] for o in listed["Contents"]) == ["output/model.bin", "output/result.json"]
    result = json.loads(s3.get_object(Bucket=bucket, Key="output/result.json")["Body"].read())
    digest = hashlib.sha256(b"".join(images[k] for k in sorted(images))).hexdigest()
    assert result == {"classes": CLASSES, "total": total, "digest": digest, "tag": bucket}, result
    model = tmp_path / "model.bin"
    s3.download_file(bucket, "output/model.bin", str(model))
    want = b"".join(c.encode() + b"\0" + hashlib.sha256(b"".join(images[k] for k in sorted(images)
                                                                 if k.startswith(f"images/{c}/"))).digest()
                    for c in sorted(CLASSES))
    assert model.read_bytes() == want
