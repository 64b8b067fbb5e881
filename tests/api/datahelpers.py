"""Helpers for the data-management (v2 datasets / labels / samples / annotation)
black-box tests. Everything goes through HTTP; files that were already in OBS
before a dataset was created are put with `server.objects` (backends.py)."""
import base64
import re
import urllib.parse

import requests

from conftest import unique, wait_until

BUCKET = "dtest"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def assert_err(r, status, code=None, field=None):
    """A ModelArts error body: status, error_code, error_msg naming `field`."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert isinstance(body.get("error_msg"), str) and body["error_msg"], body
    if code is not None:
        assert body.get("error_code") == code, body
    if field is not None:
        assert field in body["error_msg"], (field, body)
    return body


def folder(tag="f"):
    """A fresh folder path /dtest/<unique>/ (no trailing part)."""
    return f"/{BUCKET}/{unique(tag)}/"


def q(name):
    return urllib.parse.quote(name, safe="")


class Api:
    """Thin client of /v2/{project_id} for one caller."""

    def __init__(self, server, headers, project_id=None):
        self.server = server
        self.h = dict(headers)
        self.pid = project_id or server.project_id

    @property
    def base(self):
        return f"{self.server.base}/v2/{self.pid}"

    def req(self, method, path, **kw):
        headers = dict(self.h)
        headers.update(kw.pop("headers", {}))
        return requests.request(method, self.base + path, headers=headers, timeout=60, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, **kw):
        return self.req("POST", path, **kw)

    def put(self, path, **kw):
        return self.req("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)

    # ------------------------------------------------------------ datasets

    def create_raw(self, **body):
        return self.post("/datasets", json=body)

    def create(self, type_=0, labels=None, name=None, data_path=None, work_path=None, no_source=False, **extra):
        """Creates a dataset; returns (dataset_id, input folder or None)."""
        root = folder("ds")
        if data_path is None and not no_source:
            data_path = root + "in/"
        body = {"dataset_name": name or unique("ds"), "dataset_type": type_,
                "work_path": work_path or root + "out/", "work_path_type": 0}
        if data_path:
            body["data_sources"] = [{"data_type": 0, "data_path": data_path}]
        if labels is not None:
            body["labels"] = labels
        body.update(extra)
        r = self.create_raw(**body)
        assert r.status_code == 201, r.text
        ds = r.json()["dataset_id"]
        assert isinstance(ds, str) and ds
        if data_path:  # creation imports the input folder through a sync task; let it finish
            assert self.wait_sync(ds)["status"] == "COMPLETED"
        return ds, data_path

    def wait_sync(self, ds, timeout=30):
        """Waits for the dataset's sync (e.g. the import started at creation) to finish."""
        def finished():
            st = self.get(f"/datasets/{ds}/sync-data/status").json()
            return st if st["status"] in ("COMPLETED", "FAILED", "NOT_EXIST") else None
        return wait_until(finished, timeout, interval=0.02, what=f"the sync of {ds} to finish")

    def dataset(self, ds):
        r = self.get(f"/datasets/{ds}")
        assert r.status_code == 200, r.text
        return r.json()

    # ------------------------------------------------------------ labels

    def labels(self, ds):
        r = self.get(f"/datasets/{ds}/data-annotations/labels")
        assert r.status_code == 200, r.text
        return r.json()["labels"]

    # ------------------------------------------------------------ samples

    def add_raw(self, ds, samples, **extra):
        body = {"samples": samples}
        body.update(extra)
        return self.post(f"/datasets/{ds}/data-annotations/samples", json=body)

    def add(self, ds, samples, **extra):
        """Adds samples; returns their ids in order."""
        r = self.add_raw(ds, samples, **extra)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["success"] is True, body
        assert len(body["results"]) == len(samples), body
        for x in body["results"]:
            assert x["success"] is True, body
        return [x["info"] for x in body["results"]]

    def add_inline(self, ds, name, data, labels=None, metadata=None, **kw):
        s = {"name": name, "data": b64(data)}
        if labels is not None:
            s["labels"] = labels
        if metadata is not None:
            s["metadata"] = metadata
        s.update(kw)
        return self.add(ds, [s])[0]

    def list_raw(self, ds, **params):
        return self.get(f"/datasets/{ds}/data-annotations/samples", params=params)

    def list(self, ds, **params):
        r = self.list_raw(ds, **params)
        assert r.status_code == 200, r.text
        return r.json()

    def all_samples(self, ds, **params):
        """Every matching sample, paging with offset (a page index) and limit 100."""
        out = []
        page = 0
        while True:
            body = self.list(ds, offset=page, limit=100, **params)
            out.extend(body["samples"])
            if len(body["samples"]) < 100:
                total = body["sample_count"]
                assert total == len(out), (total, len(out))
                return out
            page += 1

    def sample(self, ds, sid):
        r = self.get(f"/datasets/{ds}/data-annotations/samples/{sid}")
        assert r.status_code == 200, r.text
        return r.json()

    def annotate_raw(self, ds, items, **extra):
        body = {"samples": items}
        body.update(extra)
        return self.put(f"/datasets/{ds}/data-annotations/samples", json=body)

    def annotate(self, ds, items, **extra):
        r = self.annotate_raw(ds, items, **extra)
        assert r.status_code == 200, r.text
        assert r.json()["success"] is True, r.text
        return r.json()

    def delete_samples(self, ds, ids, **extra):
        body = {"samples": ids}
        body.update(extra)
        return self.post(f"/datasets/{ds}/data-annotations/samples/delete", json=body)

    def stats(self, ds):
        r = self.get(f"/datasets/{ds}/data-annotations/stats")
        assert r.status_code == 200, r.text
        return r.json()


def label_stats(stats):
    """{(type, name): (count, sample_count)} of a stats body."""
    return {(l["type"], l["name"]): (l["count"], l["sample_count"]) for l in stats["label_stats"]}


def recount(api, ds):
    """Counts computed from a full listing: (sample_stats subset, per-label dict)."""
    samples = api.all_samples(ds)
    states = {"UN_ANNOTATION": 0, "MANUAL_ANNOTATION": 0, "AUTO_ANNOTATION": 0}
    per_label = {}
    for s in samples:
        states[s["sample_status"]] = states.get(s["sample_status"], 0) + 1
        seen = set()
        for l in s["labels"]:
            k = (l["type"], l["name"])
            c, sc = per_label.get(k, (0, 0))
            per_label[k] = (c + 1, sc + (0 if k in seen else 1))
            seen.add(k)
    return len(samples), states, per_label


def assert_stats_exact(api, ds):
    """Compares data-annotations/stats and the dataset counters with a full recount."""
    total, states, per_label = recount(api, ds)
    st = api.stats(ds)
    ss = st["sample_stats"]
    assert ss["all"] == total, (ss, total)
    assert ss["un_annotation"] == states["UN_ANNOTATION"], (ss, states)
    assert ss["manual_annotation"] == states["MANUAL_ANNOTATION"], (ss, states)
    assert ss["auto_annotation"] == states["AUTO_ANNOTATION"], (ss, states)
    defined = {(l["type"], l["name"]) for l in api.labels(ds)}
    got = label_stats(st)
    assert set(got) == defined, (got, defined)
    for k in defined:
        assert got[k] == per_label.get(k, (0, 0)), (k, got[k], per_label.get(k))
    # every annotation on a sample names a defined label
    assert set(per_label) <= defined, (per_label, defined)
    d = api.dataset(ds)
    assert d["total_sample_count"] == total
    assert d["annotated_sample_count"] == states["MANUAL_ANNOTATION"] + states["AUTO_ANNOTATION"]
    return st


def png(width, height):
    """The first bytes of a PNG of that size: enough for its size to be read."""
    return b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + b"IHDR" + width.to_bytes(4, "big") + \
        height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
