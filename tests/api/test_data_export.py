"""Export tasks: the selection filters
(labeled / unlabeled / all, sample_state, explicit samples, ORed
search_conditions), the flat PASCAL VOC layout, the source_type_header
scheme, ratio-based usage, clear_hard_property, listing / paging / the
export_type filter, validation, cross-project isolation, progress and counts;
and the round trip: for every annotation kind, export a dataset, import the
manifest into a new dataset of the same type and get every sample and every
annotation back."""
import json
import os
import re
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from conftest import wait_until
from datahelpers import Api, assert_err, assert_stats_exact, b64, folder, label_stats, png


# ------------------------------------------------------------------ helpers

def export_path(ds, tid=None):
    p = f"/datasets/{ds}/export-tasks"
    return p if tid is None else f"{p}/{tid}"


def start_export(api, ds, **body):
    r = api.post(export_path(ds), json=body)
    assert r.status_code == 200, r.text
    tid = r.json()["task_id"]
    assert isinstance(tid, str) and tid
    return tid


def wait_export(api, ds, tid, timeout=30):
    last = [None]

    def finished():
        r = api.get(export_path(ds, tid))
        assert r.status_code == 200, r.text
        t = last[0] = r.json()
        if t["status"] in ("SUCCESSED", "FAILED"):
            return t
        assert t["status"] in ("INIT", "RUNNING"), t
    return wait_until(finished, timeout, interval=0.02, what=lambda: f"export {tid} to finish: {last[0]}")


def run_export(api, ds, **body):
    """Starts an export (path defaults to a fresh folder), waits, checks it SUCCESSED."""
    body.setdefault("path", folder("exp"))
    t = wait_export(api, ds, start_export(api, ds, **body))
    assert t["status"] == "SUCCESSED", t
    assert t["progress"] == 100
    assert t["total_sample_count"] == t["finished_sample_count"], t
    return t


def manifest(server, t):
    """The lines of an export task's manifest, parsed."""
    text = server.objects.text(t["manifest_path"])
    assert text == "" or text.endswith("\n")
    lines = [json.loads(l) for l in text.split("\n") if l.strip()]
    assert len(lines) == t["total_sample_count"], (len(lines), t)
    return lines


def line_name(line):
    return line["source"].rsplit("/", 1)[1]


def exported_names(api, server, ds, **body):
    t = run_export(api, ds, **body)
    return sorted(line_name(l) for l in manifest(server, t))


def run_import(api, ds, path, **body):
    r = api.post(f"/datasets/{ds}/import-tasks", json={"import_path": path, **body})
    assert r.status_code == 200, r.text
    tid = r.json()["task_id"]

    def finished():
        t = api.get(f"/datasets/{ds}/import-tasks/{tid}").json()
        return t if t["status"] in ("COMPLETED", "FAILED") else None
    t = wait_until(finished, 30, interval=0.02, what=f"import {tid} to finish")
    assert t["status"] == "COMPLETED", t
    return t


GEOMETRY = (1, 3)


def norm_label(l):
    """What the manifest format carries of an annotation. Detection and
    segmentation (VOC) labels lose their id, create_time and annotated_by;
    the others keep annotated_by and create_time to the second; triplet
    entities and relations keep their ids (the relations refer to them)."""
    out = {"name": l["name"], "type": l["type"]}
    if l.get("property"):
        out["property"] = l["property"]
    if "score" in l:
        out["score"] = l["score"]
    if l["type"] not in GEOMETRY:
        out["annotated_by"] = l["annotated_by"]
        out["create_s"] = l["create_time"] // 1000
        if l["type"] in (102, 103):
            out["id"] = l["id"]
    return out


def sample_view(s):
    labels = s["labels"]
    return {
        "status": s["sample_status"],
        "usage": s.get("sample_usage"),
        "metadata": s["metadata"],
        # VOC geometry travels in one XML per sample, written after the other
        # annotations: the order is kept within each group.
        "other": [norm_label(l) for l in labels if l["type"] not in GEOMETRY],
        "geometry": [norm_label(l) for l in labels if l["type"] in GEOMETRY],
    }


def by_name(api, ds):
    samples = api.all_samples(ds)
    out = {s["sample_name"]: s for s in samples}
    assert len(out) == len(samples), [s["sample_name"] for s in samples]
    return out


def assert_same_samples(api, src, dst):
    a, b = by_name(api, src), by_name(api, dst)
    assert sorted(a) == sorted(b)
    for name in a:
        assert sample_view(b[name]) == sample_view(a[name]), name
    # per-label counters agree for every label the new dataset has
    sa, sb = label_stats(api.stats(src)), label_stats(api.stats(dst))
    for k, v in sb.items():
        assert sa.get(k) == v, (k, sa.get(k), v)
    assert {k for k, v in sa.items() if v != (0, 0)} <= set(sb)
    return a, b


def round_trip(api, server, ds, type_, new_labels=None, **export_body):
    """Exports `ds` (hard properties kept), imports the manifest into a new
    dataset of `type_`, and compares every sample and annotation."""
    export_body.setdefault("export_params", {"clear_hard_property": False})
    t = run_export(api, ds, **export_body)
    n = len(api.all_samples(ds))
    assert t["total_sample_count"] == n
    ds2, _ = api.create(type_, no_source=True, labels=new_labels)
    it = run_import(api, ds2, t["manifest_path"])
    assert it["failures"] == [], it["failures"]
    assert (it["total_sample_count"], it["imported_sample_count"], it["failed_sample_count"]) == (n, n, 0), it
    a, b = assert_same_samples(api, ds, ds2)
    assert_stats_exact(api, ds2)
    return ds2, t, a, b


def lab(name, type_=None, score=None, **prop):
    l = {"name": name}
    if type_ is not None:
        l["type"] = type_
    if prop:
        l["property"] = {("@modelarts:" + k if not k.startswith("x_") else k[2:]): v for k, v in prop.items()}
    if score is not None:
        l["score"] = score
    return l


def shape(label, kind, feature, type_=1, **extra):
    prop = {"@modelarts:shape": kind, "@modelarts:feature": feature}
    prop.update(extra)
    return {"name": label, "type": type_, "property": prop}


def set_usage(api, ds, ids_usage):
    """Sets sample_usage without touching labels: re-sends each sample's labels."""
    items = []
    for sid, usage in ids_usage.items():
        s = api.sample(ds, sid)
        items.append({"sample_id": sid, "labels": s["labels"], "sample_usage": usage})
    api.annotate(ds, items)


SIZE = {"@modelarts:size": [100, 80, 3]}


# ------------------------------------------------------------------ round trip, per annotation kind

def test_round_trip_image_classification_single(api, server):
    ds, _ = api.create(0, labels=[lab("cat"), lab("dog")])
    ids = api.add(ds, [
        {"name": "a.jpg", "data": b64(b"a"), "labels": [lab("cat")], "metadata": {"camera": "x1"}},
        {"name": "b.jpg", "data": b64(b"b"), "labels": [lab("dog", 0, score=0.875, x_fur="grey")]},
        {"name": "c.jpg", "data": b64(b"c")},
    ])
    set_usage(api, ds, {ids[0]: "TRAIN", ids[1]: "EVAL", ids[2]: "INFERENCE"})
    ds2, t, a, b = round_trip(api, server, ds, 0)
    assert b["b.jpg"]["labels"][0]["score"] == 0.875
    assert b["b.jpg"]["labels"][0]["property"] == {"fur": "grey"}
    assert [b[n].get("sample_usage") for n in ("a.jpg", "b.jpg", "c.jpg")] == ["TRAIN", "EVAL", "INFERENCE"]
    assert b["a.jpg"]["metadata"] == {"camera": "x1"}
    assert b["c.jpg"]["labels"] == [] and b["c.jpg"]["sample_status"] == "UN_ANNOTATION"
    assert {(l["name"], l["type"]) for l in api.labels(ds2)} == {("cat", 0), ("dog", 0)}


def test_round_trip_image_classification_multi(api, server):
    ds, _ = api.create(0, labels=[lab("cat"), lab("dog"), lab("mammal")])
    ids = api.add(ds, [
        {"name": "a.jpg", "data": b64(b"a"), "labels": [lab("cat"), lab("mammal", score=0.5)]},
        {"name": "b.png", "data": b64(b"b"), "labels": [lab("dog"), lab("cat"), lab("mammal")]},
        {"name": "c.bmp", "data": b64(b"c"), "labels": [lab("mammal")]},
    ])
    set_usage(api, ds, {ids[0]: "TEST"})
    ds2, t, a, b = round_trip(api, server, ds, 0)
    assert [l["name"] for l in b["b.png"]["labels"]] == ["dog", "cat", "mammal"]
    assert label_stats(api.stats(ds2)) == {(0, "cat"): (2, 2), (0, "dog"): (1, 1), (0, "mammal"): (3, 3)}


DETECTION_SHAPES = [
    shape("car", "bndbox", [[10, 10], [50, 40]]),
    shape("person", "polygon", [[1, 1], [20, 1], [10, 30]]),
    shape("car", "circle", [[50, 40], [10]]),
    shape("person", "line", [[0, 0], [100, 80]]),
    shape("person", "dashed", [[5, 5], [6, 70]]),
    shape("car", "point", [[99.5, 79]]),
    shape("person", "polyline", [[0, 0], [10, 10], [20, 5], [30, 30]]),
]


def test_round_trip_detection_every_shape(api, server):
    ds, _ = api.create(1, labels=[lab("car", 1), lab("person", 1)])
    hard_box = shape("car", "bndbox", [[2.5, 3], [60, 70.25]], **{"@modelarts:hard": "1",
                                                                    "@modelarts:hard_coefficient": "0.6",
                                                                    "color": "red"})
    hard_box["score"] = 0.75
    ids = api.add(ds, [
        {"name": "all.jpg", "data": b64(b"all"), "metadata": SIZE, "labels": DETECTION_SHAPES},
        {"name": "hard.jpg", "data": b64(b"hard"), "metadata": {"@modelarts:size": [64, 72]}, "labels": [hard_box]},
        {"name": "none.jpg", "data": b64(b"none"), "metadata": SIZE},
    ])
    set_usage(api, ds, {ids[0]: "TRAIN", ids[1]: "EVAL"})
    ds2, t, a, b = round_trip(api, server, ds, 1)
    got = b["all.jpg"]["labels"]
    assert [(l["name"], l["type"], l["property"]) for l in got] == \
        [(l["name"], 1, l["property"]) for l in DETECTION_SHAPES]
    (h,) = b["hard.jpg"]["labels"]
    assert h["score"] == 0.75 and h["property"] == hard_box["property"]
    assert b["hard.jpg"]["metadata"] == {"@modelarts:size": [64, 72]}
    # without annotation_format, the VOC files go to <path>annotations/<sample id>.xml
    for line in manifest(server, t):
        for ann in line.get("annotation", []):
            assert ann["type"] == "modelarts/object_detection" and ann["annotation-format"] == "PASCAL VOC"
            assert ann["annotation-loc"] == "obs:/" + t["path"] + "annotations/" + line["id"] + ".xml"
            assert server.objects.exists(t["path"] + "annotations/" + line["id"] + ".xml")


def test_round_trip_segmentation_polygon(api, server):
    ds, _ = api.create(900, labels=[lab("leaf", 3), lab("stem", 3)])
    api.add(ds, [
        {"name": "l1.jpg", "data": b64(b"l1"), "metadata": SIZE,
         "labels": [shape("leaf", "polygon", [[1, 1], [40, 2], [30, 50], [2, 45]], type_=3),
                    shape("stem", "polygon", [[50, 50], [60, 50], [55, 79]], type_=3)]},
        {"name": "l2.jpg", "data": b64(b"l2"), "metadata": SIZE,
         "labels": [shape("leaf", "polygon", [[0, 0], [99, 0], [99, 79.5]], type_=3)]},
    ])
    ds2, t, a, b = round_trip(api, server, ds, 900)
    assert all(l["type"] == 3 for s in b.values() for l in s["labels"])
    kinds = {ann["type"] for line in manifest(server, t) for ann in line["annotation"]}
    assert kinds == {"modelarts/image_segmentation"}


def test_round_trip_text_classification(api, server):
    ds, _ = api.create(900, labels=[lab("positive", 100), lab("negative", 100), lab("long", 100)])
    ids = api.add(ds, [
        {"name": "r1.txt", "data": b64("The battery lasts two full days"), "labels": [lab("positive", 100), lab("long", 100)]},
        {"name": "r2.txt", "data": b64("Broke after a week"), "labels": [lab("negative", 100, score=0.25)]},
        {"name": "r3.txt", "data": b64("no opinion")},
    ])
    set_usage(api, ds, {ids[1]: "EVAL"})
    round_trip(api, server, ds, 900)


def test_round_trip_named_entities(api, server):
    ds, _ = api.create(900, labels=[lab("Person", 101), lab("City", 101)])
    text = "Ada Lovelace was born in London."
    api.add(ds, [
        {"name": "a.txt", "data": b64(text), "labels": [lab("Person", 101, start_index=0, end_index=12),
                                                        lab("City", 101, start_index=25, end_index=31)]},
        {"name": "b.txt", "data": b64("London calling"), "labels": [lab("City", 101, start_index=0, end_index=6)]},
    ])
    ds2, t, a, b = round_trip(api, server, ds, 900)
    assert [(l["property"]["@modelarts:start_index"], l["property"]["@modelarts:end_index"])
            for l in b["a.txt"]["labels"]] == [(0, 12), (25, 31)]


TRIPLET_LABELS = [lab("City", 103), lab("Country", 103),
                  {"name": "capital_of", "type": 102,
                   "property": {"@modelarts:from_type": "City", "@modelarts:to_type": "Country"}}]


def triplet_dataset(api):
    ds, _ = api.create(900, labels=TRIPLET_LABELS)
    text = "Rivertown is the capital of Valeland."
    api.add(ds, [
        {"name": "t.txt", "data": b64(text),
         "labels": [dict(lab("City", 103, start_index=0, end_index=9), id="E1"),
                    dict(lab("Country", 103, start_index=28, end_index=36), id="E2"),
                    dict(lab("capital_of", 102, **{"from": "E1", "to": "E2"}), id="R1")]},
        {"name": "u.txt", "data": b64("Ashford, Brevia"),
         "labels": [dict(lab("capital_of", 102, **{"from": "E7", "to": "E3"}), id="R9"),
                    dict(lab("Country", 103, start_index=9, end_index=15), id="E3"),
                    dict(lab("City", 103, start_index=0, end_index=7), id="E7")]},
    ])
    return ds


def test_round_trip_text_triplets(api, server):
    """The manifest carries entity and relation ids; it cannot carry the
    relation label's from_type / to_type, so the new dataset defines it."""
    ds = triplet_dataset(api)
    ds2, t, a, b = round_trip(api, server, ds, 900, new_labels=TRIPLET_LABELS)
    assert [(l["id"], l["type"]) for l in b["t.txt"]["labels"]] == [("E1", 103), ("E2", 103), ("R1", 102)]
    assert b["t.txt"]["labels"][2]["property"] == {"@modelarts:from": "E1", "@modelarts:to": "E2"}


def test_round_trip_text_triplets_into_empty_dataset(api, server):
    ds = triplet_dataset(api)
    ds2, t, a, b = round_trip(api, server, ds, 900)
    assert {(l["name"], l["type"]) for l in api.labels(ds2)} == {("City", 103), ("Country", 103), ("capital_of", 102)}


def test_round_trip_audio_classification(api, server):
    ds, _ = api.create(900, labels=[lab("doorbell", 200), lab("dog", 200)])
    ids = api.add(ds, [
        {"name": "bell.wav", "data": b64(b"RIFF1"), "labels": [lab("doorbell", 200), lab("dog", 200, score=0.3)]},
        {"name": "quiet.wav", "data": b64(b"RIFF2")},
    ])
    set_usage(api, ds, {ids[0]: "TRAIN"})
    round_trip(api, server, ds, 900)


def test_round_trip_speech_content(api, server):
    ds, _ = api.create(900, labels=[lab("speech", 201)])
    api.add(ds, [
        {"name": "n.wav", "data": b64(b"RIFF1"), "labels": [lab("speech", 201, content="meeting moved to friday")]},
        {"name": "m.wav", "data": b64(b"RIFF2"), "labels": [lab("speech", 201, content="Grüße, naïve café ☕")]},
    ])
    ds2, t, a, b = round_trip(api, server, ds, 900)
    assert b["m.wav"]["labels"][0]["property"] == {"@modelarts:content": "Grüße, naïve café ☕"}


def test_round_trip_speech_paragraph(api, server):
    ds, _ = api.create(900, labels=[lab("seg", 202)])
    segs = [lab("seg", 202, start_time="00:00:02.250", end_time="00:00:04.900", source="agent", content="good morning"),
            lab("seg", 202, start_time="00:00:05.100", end_time="01:02:03.000", source="caller", content="hi there")]
    ids = api.add(ds, [{"name": "call.wav", "data": b64(b"RIFF1"), "labels": segs},
                       {"name": "b.wav", "data": b64(b"RIFF2"), "labels": [segs[0]]}])
    set_usage(api, ds, {ids[0]: "TRAIN", ids[1]: "EVAL"})
    ds2, t, a, b = round_trip(api, server, ds, 900)
    assert [l["property"] for l in b["call.wav"]["labels"]] == [s["property"] for s in segs]


def test_round_trip_free_format_mixed(api, server):
    """One free-format dataset holding many kinds, image classification and
    detection on the same sample, and hard-example metadata kept."""
    ds, _ = api.create(900, labels=[lab("img", 0), lab("box", 1), lab("txt", 100), lab("snd", 200)])
    hard = {"@modelarts:hard": 1, "@modelarts:hard_coefficient": 0.4, "@modelarts:hard_reasons": [1, 3], "k": "v"}
    ids = api.add(ds, [
        {"name": "f.jpg", "data": b64(b"f"), "metadata": dict(SIZE, **hard),
         "labels": [lab("img", 0), shape("box", "bndbox", [[1, 1], [9, 9]]), shape("box", "point", [[3, 4]])]},
        {"name": "g.txt", "data": b64("some text"), "labels": [lab("txt", 100)]},
        {"name": "h.wav", "data": b64(b"RIFF"), "labels": [lab("snd", 200)]},
        {"name": "i.bin", "data": b64(b"\x00\x01")},
    ])
    set_usage(api, ds, {ids[0]: "TRAIN", ids[3]: "INFERENCE"})
    ds2, t, a, b = round_trip(api, server, ds, 900)
    assert b["f.jpg"]["metadata"] == dict(SIZE, **hard)
    assert [(l["name"], l["type"]) for l in b["f.jpg"]["labels"]] == [("img", 0), ("box", 1), ("box", 1)]


def test_round_trip_detection_and_segmentation_on_one_sample(api, server):
    ds, _ = api.create(900, labels=[lab("car", 1), lab("road", 3)])
    api.add(ds, [{"name": "m.jpg", "data": b64(b"m"), "metadata": SIZE,
                  "labels": [shape("car", "bndbox", [[1, 1], [9, 9]]),
                             shape("road", "polygon", [[0, 50], [99, 50], [99, 79]], type_=3)]}])
    round_trip(api, server, ds, 900)


def test_round_trip_free_format_keeps_sample_type(api, server):
    ds, _ = api.create(900, labels=[lab("txt", 100)])
    api.add(ds, [{"name": "g.txt", "data": b64("some text"), "sample_type": 1, "labels": [lab("txt", 100)]},
                 {"name": "h.jpg", "data": b64(b"h"), "sample_type": 0}])
    ds2, t, a, b = round_trip(api, server, ds, 900)
    assert {n: s["sample_type"] for n, s in b.items()} == {"g.txt": 1, "h.jpg": 0}


def test_round_trip_s3_scheme(api, server):
    ds, _ = api.create(1, labels=[lab("car", 1)])
    api.add(ds, [{"name": "a.jpg", "data": b64(b"a"), "metadata": SIZE,
                  "labels": [shape("car", "bndbox", [[1, 2], [30, 40]])]},
                 {"name": "b.jpg", "data": b64(b"b")}])
    ds2, t, a, b = round_trip(api, server, ds, 1, source_type_header="s3://")
    raw = server.objects.text(t["manifest_path"])
    assert "obs://" not in raw
    lines = manifest(server, t)
    assert all(l["source"].startswith("s3://dtest/") for l in lines)
    locs = [ann["annotation-loc"] for l in lines for ann in l.get("annotation", [])]
    assert len(locs) == 1 and locs[0].startswith("s3://" + t["path"][1:])
    # the default is obs://
    t2 = run_export(api, ds)
    assert all(l["source"].startswith("obs://dtest/") for l in manifest(server, t2))
    r = api.post(export_path(ds), json={"path": folder(), "source_type_header": "obs://"})
    assert r.status_code == 200, r.text


# ------------------------------------------------------------------ VOC layout

def test_voc_export_flat_layout(api, server):
    ds, _ = api.create(1, labels=[lab("car", 1), lab("person", 1)])
    ext = folder("ext")
    server.objects.put(ext + "one/x.jpg", b"x-one")
    server.objects.put(ext + "two/x.jpg", b"x-two")
    ids = api.add(ds, [
        {"name": "a.jpg", "data": b64(b"image-a"), "metadata": {"@modelarts:size": [640, 480, 3]},
         "labels": [shape("car", "bndbox", [[32, 210], [190, 330]]),
                    shape("person", "polygon", [[200, 400], [460, 395], [470, 470]], **{"@modelarts:hard": "1"})]},
        {"name": "b.png", "data": b64(b"image-b"), "metadata": SIZE,
         "labels": [dict(shape("car", "circle", [[50, 40], [10]]), score=0.5)]},
        {"name": "c.jpg", "data": b64(b"image-c"), "metadata": SIZE},
        {"data_source": {"data_path": ext + "one/x.jpg"}, "metadata": SIZE,
         "labels": [shape("car", "point", [[1, 2]])]},
        {"data_source": {"data_path": ext + "two/x.jpg"}, "metadata": SIZE,
         "labels": [shape("person", "point", [[3, 4]])]},
    ])
    out = folder("voc")
    t = run_export(api, ds, path=out, annotation_format="VOC", export_params={"clear_hard_property": False})
    assert t["path"] == out and t["total_sample_count"] == 5
    assert re.fullmatch(re.escape(out) + r"ds[0-9a-f]+-\d{14}-[0-9a-f]{6}\.manifest", t["manifest_path"]), t["manifest_path"]
    clash = ids[4] + "_x.jpg"  # the second x.jpg gets its sample id as a prefix
    expect_files = {"a.jpg": b"image-a", "b.png": b"image-b", "c.jpg": b"image-c", "x.jpg": b"x-one", clash: b"x-two"}
    for name, data in expect_files.items():
        assert server.objects.get(out + name) == data, name
    stems = {"a", "b", "x", ids[4] + "_x"}
    on_disk = set(server.objects.list(out))
    assert on_disk == set(expect_files) | {s + ".xml" for s in stems} | {t["manifest_path"].rsplit("/", 1)[1]}
    lines = {line_name(l): l for l in manifest(server, t)}
    assert set(lines) == set(expect_files)
    for name, l in lines.items():
        assert l["source"] == "obs:/" + out + name
        anns = l.get("annotation", [])
        if name == "c.jpg":
            assert anns == []
            continue
        (ann,) = anns
        assert ann["annotation-loc"] == "obs:/" + out + name.rsplit(".", 1)[0] + ".xml"
    assert lines["x.jpg"]["id"] == ids[3] and lines[clash]["id"] == ids[4]
    # the XML beside a.jpg
    root = ET.fromstring(server.objects.text(out + "a.xml"))
    assert root.tag == "annotation" and root.findtext("filename") == "a.jpg"
    assert (root.findtext("size/width"), root.findtext("size/height"), root.findtext("size/depth")) == ("640", "480", "3")
    assert root.findtext("segmented") == "0"
    objs = root.findall("object")
    assert [o.findtext("name") for o in objs] == ["car", "person"]
    box = objs[0].find("bndbox")
    assert [box.findtext(k) for k in ("xmin", "ymin", "xmax", "ymax")] == ["32", "210", "190", "330"]
    assert objs[0].findtext("difficult") == "0" and objs[1].findtext("difficult") == "1"
    # By default (clear_hard_property) the labels' hard marks are left out too.
    t2 = run_export(api, ds, annotation_format="VOC")
    assert [o.findtext("difficult") for o in ET.fromstring(server.objects.text(t2["path"] + "a.xml")).findall("object")] == ["0", "0"]
    poly = objs[1].find("polygon")
    assert [poly.findtext(k) for k in ("x1", "y1", "x2", "y2", "x3", "y3")] == ["200", "400", "460", "395", "470", "470"]
    b_obj = ET.fromstring(server.objects.text(out + "b.xml")).find("object")
    assert [b_obj.find("circle").findtext(k) for k in ("cx", "cy", "r")] == ["50", "40", "10"]
    assert b_obj.findtext("confidence") == "0.5"
    x2 = ET.fromstring(server.objects.text(out + ids[4] + "_x.xml"))
    assert x2.findtext("object/name") == "person" and x2.findtext("object/point/x") == "3"
    # the source dataset is untouched; the export imports as a manifest ...
    assert sorted(s["sample_name"] for s in api.all_samples(ds)) == ["a.jpg", "b.png", "c.jpg", "x.jpg", "x.jpg"]
    ds2, _ = api.create(1, no_source=True)
    it = run_import(api, ds2, t["manifest_path"])
    assert it["failures"] == [] and it["imported_sample_count"] == 5
    got = by_name(api, ds2)
    assert set(got) == set(expect_files)
    assert all(s["sample_dir"] == out for s in got.values())
    orig = {s["sample_id"]: s for s in api.all_samples(ds)}
    name_of_id = {ids[0]: "a.jpg", ids[1]: "b.png", ids[2]: "c.jpg", ids[3]: "x.jpg", ids[4]: clash}
    for sid, name in name_of_id.items():
        assert sample_view(got[name]) == sample_view(orig[sid]), name
    assert_stats_exact(api, ds2)
    # ... and as a PASCAL VOC folder (it stands on its own)
    ds3, _ = api.create(1, no_source=True)
    it = run_import(api, ds3, out, import_type="dir", annotation_format="VOC")
    assert it["failures"] == [] and it["imported_sample_count"] == 5
    got3 = by_name(api, ds3)
    for sid, name in name_of_id.items():
        v3, v1 = sample_view(got3[name]), sample_view(orig[sid])
        assert v3["geometry"] == v1["geometry"], name
        if v1["geometry"]:  # the image size travels in the XML, which unlabeled images lack
            assert v3["metadata"] == v1["metadata"], name


def test_voc_only_for_detection(api, server):
    ds, _ = api.create(0, labels=[lab("cat")])
    out = folder("bad")
    assert_err(api.post(export_path(ds), json={"path": out, "annotation_format": "VOC"}), 400, "ModelArts.0101",
               "annotation_format")
    ds1, _ = api.create(1, labels=[lab("car", 1)])
    for f in ("DARKNET", "voc", "coco"):
        assert_err(api.post(export_path(ds1), json={"path": out, "annotation_format": f}), 400, "ModelArts.0101",
                   "annotation_format")
    assert api.get(export_path(ds)).json()["total_count"] == 0
    assert api.get(export_path(ds1)).json()["total_count"] == 0
    assert not server.objects.exists(out)


# ------------------------------------------------------------------ selection filters

@pytest.fixture
def filt(api):
    ds, _ = api.create(0, labels=[lab("cat"), lab("dog"), lab("bird")])
    ids = api.add(ds, [
        {"name": "a.jpg", "data": b64(b"a"), "labels": [lab("cat")], "metadata": {"color": "red"}},
        {"name": "b.jpg", "data": b64(b"b"), "labels": [lab("dog")], "metadata": {"color": "blue"}},
        {"name": "c.jpg", "data": b64(b"c"), "labels": [lab("cat"), lab("dog")]},
        {"name": "e.jpg", "data": b64(b"e")},
        {"name": "f.jpg", "data": b64(b"f"), "metadata": {"color": "red"}},
    ])
    ids += api.add(ds, [{"name": "d.jpg", "data": b64(b"d"), "labels": [lab("bird")]}], final_annotation=False)
    assert api.sample(ds, ids[-1])["sample_status"] == "AUTO_ANNOTATION"
    return ds, dict(zip("abcefd", ids))


def test_export_type_filters(api, server, filt):
    ds, ids = filt
    allnames = ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg"]
    assert exported_names(api, server, ds) == allnames
    assert exported_names(api, server, ds, export_type=2) == allnames
    assert exported_names(api, server, ds, export_type=0) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    assert exported_names(api, server, ds, export_type=1) == ["e.jpg", "f.jpg"]
    # every line names its sample and carries its annotations
    t = run_export(api, ds, export_type=0)
    lines = {line_name(l): l for l in manifest(server, t)}
    assert {n: l["id"] for n, l in lines.items()} == {n + ".jpg": ids[n] for n in "abcd"}
    assert [(a["type"], a["name"]) for a in lines["c.jpg"]["annotation"]] == \
        [("modelarts/image_classification", "cat"), ("modelarts/image_classification", "dog")]
    assert lines["a.jpg"]["property"] == {"color": "red"}
    assert t["export_type"] == 0 and t["total_sample_count"] == 4


def test_sample_state_filters(api, server, filt):
    ds, ids = filt
    assert exported_names(api, server, ds, sample_state="MANUAL_ANNOTATION") == ["a.jpg", "b.jpg", "c.jpg"]
    assert exported_names(api, server, ds, sample_state="AUTO_ANNOTATION") == ["d.jpg"]
    assert exported_names(api, server, ds, export_params={"sample_state": "UN_ANNOTATION"}) == ["e.jpg", "f.jpg"]
    assert exported_names(api, server, ds, export_params={"sample_state": "AUTO_ANNOTATION"}) == ["d.jpg"]
    # with export_type: both apply
    t = run_export(api, ds, export_type=0, sample_state="UN_ANNOTATION")
    assert t["total_sample_count"] == 0 and manifest(server, t) == []
    assert exported_names(api, server, ds, export_type=1, sample_state="UN_ANNOTATION") == ["e.jpg", "f.jpg"]


def test_samples_filter(api, server, filt):
    ds, ids = filt
    pick = {"samples": [ids["a"], ids["e"], "0" * 32]}
    assert exported_names(api, server, ds, export_params=pick) == ["a.jpg", "e.jpg"]
    assert exported_names(api, server, ds, export_type=0, export_params=pick) == ["a.jpg"]
    assert exported_names(api, server, ds, export_type=1, export_params=pick) == ["e.jpg"]
    t = run_export(api, ds, export_params={"samples": []})
    assert t["total_sample_count"] == 0


def test_search_conditions_are_ored(api, server, filt):
    ds, ids = filt

    def names(*conds, **body):
        return exported_names(api, server, ds, export_type=3, export_params={"search_conditions": list(conds)}, **body)

    by_dog = {"label_list": {"labels": [{"name": "dog"}]}}
    assert names({"sample_name": "e.jpg"}) == ["e.jpg"]
    assert names(by_dog) == ["b.jpg", "c.jpg"]
    assert names({"sample_name": "e.jpg"}, by_dog) == ["b.jpg", "c.jpg", "e.jpg"]
    # the keys of one condition are ANDed
    assert names(dict(by_dog, sample_name="c.jpg")) == ["c.jpg"]
    assert names(dict(by_dog, sample_name="e.jpg")) == []
    assert names({"metadata": {"props": {"color": ["red"]}}}, {"label_list": {"labels": [{"name": "bird"}]}}) == \
        ["a.jpg", "d.jpg", "f.jpg"]
    assert names({"label_list": {"labels": [{"name": "cat"}, {"name": "dog"}], "op": "AND"}}, {"sample_name": "f.jpg"}) == \
        ["c.jpg", "f.jpg"]
    # sample_state narrows the ORed set
    assert names({"sample_name": "e.jpg"}, by_dog, sample_state="MANUAL_ANNOTATION") == ["b.jpg", "c.jpg"]
    t = run_export(api, ds, export_type=3, export_params={"search_conditions": [by_dog]})
    assert t["export_type"] == 3 and t["export_params"] == {"search_conditions": [by_dog]}


def test_export_type_3_needs_conditions(api, server, filt):
    ds, ids = filt
    out = folder("t3")
    for body in ({"path": out, "export_type": 3}, {"path": out, "export_type": 3, "export_params": {}},
                 {"path": out, "export_type": 3, "export_params": {"samples": [ids["a"]]}}):
        assert_err(api.post(export_path(ds), json=body), 400, "ModelArts.0101", "export_params")
    assert api.get(export_path(ds)).json() == {"total_count": 0, "export_tasks": []}
    assert not server.objects.exists(out)


# ------------------------------------------------------------------ usage and hard properties

def test_ratio_sample_usage(api, server):
    ds, _ = api.create(0, labels=[lab("cat")])
    labeled = api.add(ds, [{"name": f"l{i}.jpg", "data": b64(b"l%d" % i), "labels": [lab("cat")]} for i in range(60)])
    unlabeled = api.add(ds, [{"name": f"u{i}.jpg", "data": b64(b"u%d" % i)} for i in range(4)])
    set_usage(api, ds, {labeled[0]: "TEST", unlabeled[0]: "INFERENCE"})

    def usages(**ep):
        t = run_export(api, ds, export_params=ep)
        return {l["id"]: l.get("usage") for l in manifest(server, t)}

    half = usages(train_sample_ratio="0.50", ratio_sample_usage=True)
    assert {half[i] for i in labeled} == {"TRAIN", "EVAL"}
    train = sum(1 for i in labeled if half[i] == "TRAIN")
    assert 12 <= train <= 48, train
    # unlabeled samples keep their own usage (or none)
    assert half[unlabeled[0]] == "INFERENCE" and all(half[i] is None for i in unlabeled[1:])
    # deterministic: the same split again
    assert usages(train_sample_ratio="0.50", ratio_sample_usage=True) == half
    assert {usages(train_sample_ratio="1.00", ratio_sample_usage=True)[i] for i in labeled} == {"TRAIN"}
    assert {usages(train_sample_ratio="0", ratio_sample_usage=True)[i] for i in labeled} == {"EVAL"}
    # without ratio_sample_usage, the samples' own usage is written
    plain = usages(train_sample_ratio="0.50")
    assert plain[labeled[0]] == "TEST" and all(plain[i] is None for i in labeled[1:])
    assert plain[unlabeled[0]] == "INFERENCE"
    # the dataset itself is not changed
    assert api.sample(ds, labeled[1]).get("sample_usage") is None
    assert api.sample(ds, labeled[0])["sample_usage"] == "TEST"


def test_clear_hard_property(api, server):
    ds, _ = api.create(0, labels=[lab("cat")])
    hard = {"@modelarts:hard": 1, "@modelarts:hard_coefficient": 0.4, "@modelarts:hard_reasons": [1, 3], "keep": "k"}
    sid, plain = api.add(ds, [{"name": "h.jpg", "data": b64(b"h"), "metadata": hard, "labels": [lab("cat")]},
                              {"name": "p.jpg", "data": b64(b"p"), "labels": [lab("cat")]}])

    def line(**ep):
        t = run_export(api, ds, export_params=ep)
        return {l["id"]: l for l in manifest(server, t)}

    for cleared in (line(), line(clear_hard_property=True)):
        h = cleared[sid]
        assert not {"hard", "hard-coefficient", "hard-reasons"} & set(h), h
        assert h["property"] == {"keep": "k"}
    kept = line(clear_hard_property=False)
    h = kept[sid]
    assert (h["hard"], h["hard-coefficient"], h["hard-reasons"]) == ("true", 0.4, "1-3")
    assert h["property"] == {"keep": "k"}
    assert "hard" not in kept[plain]
    # the dataset keeps its hard-example metadata
    assert api.sample(ds, sid)["metadata"] == hard
    # cleared: the re-imported sample has no hard metadata; kept: all of it
    for ep, want in (({}, {"keep": "k"}), ({"clear_hard_property": False}, hard)):
        t = run_export(api, ds, export_params=ep)
        ds2, _ = api.create(0, no_source=True)
        run_import(api, ds2, t["manifest_path"])
        assert by_name(api, ds2)["h.jpg"]["metadata"] == want


# ------------------------------------------------------------------ task object, progress, listing

def test_task_progress_and_counts(api, server):
    ds, _ = api.create(0, labels=[lab("cat")])
    api.add(ds, [{"name": f"s{i}.jpg", "data": b64(b"s%d" % i), "labels": [lab("cat")] if i % 2 else []}
                 for i in range(7)])
    out = folder("prog")
    before = int(time.time() * 1000)
    ep = {"train_sample_ratio": "0.80", "clear_hard_property": True}
    tid = start_export(api, ds, path=out, export_format=1, export_params=ep)
    t = wait_export(api, ds, tid)
    assert t["status"] == "SUCCESSED", t
    assert t["task_id"] == tid and t["dataset_id"] == ds
    assert (t["progress"], t["total_sample_count"], t["finished_sample_count"]) == (100, 7, 7)
    assert (t["path"], t["export_type"], t["export_format"], t["export_params"]) == (out, 2, 1, ep)
    assert before - 5000 <= t["create_time"] <= t["update_time"] <= int(time.time() * 1000) + 5000
    assert t["manifest_path"].startswith(out) and server.objects.exists(t["manifest_path"])
    assert len(manifest(server, t)) == 7
    # the listing shows the same object
    lst = api.get(export_path(ds)).json()
    assert lst["total_count"] == 1 and lst["export_tasks"][0] == dict(t, update_time=lst["export_tasks"][0]["update_time"])
    # an empty selection completes too
    t0 = run_export(api, ds, export_params={"samples": []})
    assert (t0["progress"], t0["total_sample_count"], t0["finished_sample_count"]) == (100, 0, 0)
    assert manifest(server, t0) == []
    # obs:// and s3:// paths are accepted; a path without the trailing slash is a folder
    t1 = run_export(api, ds, path="obs:/" + out + "o/")
    assert t1["path"] == out + "o/" and t1["manifest_path"].startswith(out + "o/")
    t2 = run_export(api, ds, path=(out + "noslash"))
    assert t2["path"] == out + "noslash/" and t2["manifest_path"].startswith(out + "noslash/")


def test_list_paging_and_type_filter(api, server):
    ds, _ = api.create(0, labels=[lab("cat")])
    api.add(ds, [{"name": "a.jpg", "data": b64(b"a"), "labels": [lab("cat")]}, {"name": "b.jpg", "data": b64(b"b")}])
    cond = {"search_conditions": [{"sample_name": "a.jpg"}]}
    types = [0, 1, 2, None, 3]
    tids = []
    for ty in types:
        body = {"path": folder("ls")}
        if ty is not None:
            body["export_type"] = ty
        if ty == 3:
            body["export_params"] = cond
        tids.append(start_export(api, ds, **body))
    for tid in tids:
        assert wait_export(api, ds, tid)["status"] == "SUCCESSED"

    def lst(**params):
        r = api.get(export_path(ds), params=params)
        assert r.status_code == 200, r.text
        return r.json()

    body = lst()
    assert body["total_count"] == 5 and [t["task_id"] for t in body["export_tasks"]] == tids[::-1]  # newest first
    assert [t["export_type"] for t in body["export_tasks"]] == [3, 2, 2, 1, 0]
    pages = [lst(limit=2, offset=i) for i in range(3)]
    assert [len(p["export_tasks"]) for p in pages] == [2, 2, 1]
    assert all(p["total_count"] == 5 for p in pages)
    assert [t["task_id"] for p in pages for t in p["export_tasks"]] == tids[::-1]
    assert lst(limit=2, offset=3)["export_tasks"] == []
    two = lst(export_type=2)
    assert two["total_count"] == 2 and {t["task_id"] for t in two["export_tasks"]} == {tids[2], tids[3]}
    p = lst(export_type=2, limit=1, offset=1)
    assert p["total_count"] == 2 and [t["task_id"] for t in p["export_tasks"]] == [tids[2]]
    assert [t["task_id"] for t in lst(export_type=3)["export_tasks"]] == [tids[4]]
    assert lst(export_type=1)["total_count"] == 1 and lst(export_type=0)["total_count"] == 1
    assert lst(export_type=3)["export_tasks"][0]["total_sample_count"] == 1
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}, {"export_type": "x"}):
        assert_err(api.get(export_path(ds), params=bad), 400, "ModelArts.0101", next(iter(bad)))
    # each task is got by id, and only under its dataset
    other, _ = api.create(0, no_source=True)
    for tid in tids:
        assert api.get(export_path(ds, tid)).json()["task_id"] == tid
        assert_err(api.get(export_path(other, tid)), 400, "ModelArts.4359")
    assert_err(api.get(export_path(ds, "nosuchtask")), 400, "ModelArts.4359")
    assert_err(api.get(export_path("nosuchdataset", tids[0])), 400, "ModelArts.4352")
    # an import task's id is not an export task
    m = run_export(api, ds)["manifest_path"]
    itid = run_import(api, other, m)["task_id"]
    assert_err(api.get(export_path(other, itid)), 400, "ModelArts.4359")


def test_two_exports_to_one_path_do_not_clobber(api, server, filt):
    ds, ids = filt
    for _ in range(3):  # a pair may straddle a second boundary; three pairs will not all do so
        out = folder("same")
        t0 = wait_export(api, ds, start_export(api, ds, path=out, export_type=0))
        t1 = wait_export(api, ds, start_export(api, ds, path=out, export_type=1))
        assert t0["status"] == t1["status"] == "SUCCESSED"
        assert t0["manifest_path"] != t1["manifest_path"]
        assert sorted(line_name(l) for l in manifest(server, t1)) == ["e.jpg", "f.jpg"]
        assert sorted(line_name(l) for l in manifest(server, t0)) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]


# ------------------------------------------------------------------ validation

def test_validation_errors_create_nothing(api, server):
    ds, _ = api.create(0, labels=[lab("cat")])
    api.add(ds, [{"name": "a.jpg", "data": b64(b"a"), "labels": [lab("cat")]}])
    out = folder("val")
    cases = [
        ({}, "ModelArts.0101", "path"),
        ({"path": 5}, "ModelArts.0101", "path"),
        ({"path": ""}, "ModelArts.0101", "path"),
        ({"path": "dtest/x/"}, "ModelArts.0101", "path"),
        ({"path": "/dtest/a/../b/"}, "ModelArts.0101", "path"),
        ({"path": "/" + "x" * 1100 + "/"}, "ModelArts.0101", "path"),
        ({"path": "/nosuchbucket-zz/out/"}, "ModelArts.4358", "path"),
        ({"export_type": 4}, "ModelArts.0101", "export_type"),
        ({"export_type": -1}, "ModelArts.0101", "export_type"),
        ({"export_type": "0"}, "ModelArts.0101", "export_type"),
        ({"export_format": 0}, "ModelArts.0101", "export_format"),
        ({"export_format": 3}, "ModelArts.0101", "export_format"),
        ({"source_type_header": "http://"}, "ModelArts.0101", "source_type_header"),
        ({"source_type_header": 1}, "ModelArts.0101", "source_type_header"),
        ({"sample_state": "LABELED"}, "ModelArts.0101", "sample_state"),
        ({"version_id": "v1"}, "ModelArts.4353", "version_id"),
        ({"export_params": "x"}, "ModelArts.0101", "export_params"),
        ({"export_params": {"export_dest": "NEW_DATASET", "export_new_dataset_name": "n"}}, "ModelArts.0101",
         "export_new_dataset_work_path"),
        ({"export_params": {"export_dest": "NEW_DATASET", "export_new_dataset_work_path": "/dtest/nw/"}}, "ModelArts.0101",
         "export_new_dataset_name"),
        ({"export_params": {"export_dest": "FOO"}}, "ModelArts.0101", "export_dest"),
        ({"export_params": {"sample_state": "x"}}, "ModelArts.0101", "sample_state"),
        ({"export_params": {"samples": "abc"}}, "ModelArts.0101", "samples"),
        ({"export_params": {"samples": [1]}}, "ModelArts.0101", "samples[0]"),
        ({"export_params": {"search_conditions": {"sample_name": "a.jpg"}}}, "ModelArts.0101", "search_conditions"),
        ({"export_params": {"search_conditions": [{"hard": "2"}]}}, "ModelArts.0101", "search_conditions"),
        ({"export_params": {"search_conditions": ["x"]}}, "ModelArts.0101", "search_conditions"),
        ({"export_params": {"search_conditions": [{"sample_time": "yesterday"}]}}, "ModelArts.0101", "sample_time"),
        ({"export_params": {"train_sample_ratio": "1.5"}}, "ModelArts.0101", "train_sample_ratio"),
        ({"export_params": {"train_sample_ratio": "abc"}}, "ModelArts.0101", "train_sample_ratio"),
        ({"export_params": {"train_sample_ratio": "-0.1"}}, "ModelArts.0101", "train_sample_ratio"),
        ({"export_params": {"train_sample_ratio": 0.5}}, "ModelArts.0101", "train_sample_ratio"),
        ({"export_params": {"ratio_sample_usage": "yes"}}, "ModelArts.0101", "ratio_sample_usage"),
        ({"export_params": {"clear_hard_property": "no"}}, "ModelArts.0101", "clear_hard_property"),
        ({"annotation_format": "COCO"}, "ModelArts.0101", "annotation_format"),
    ]
    for body, code, field in cases:
        if "path" not in body and body != {}:
            body = dict(body, path=out)
        assert_err(api.post(export_path(ds), json=body), 400, code, field)
    # not JSON / not an object
    r = api.post(export_path(ds), data="{", headers={"Content-Type": "application/json"})
    assert_err(r, 400)
    r = api.post(export_path(ds), json=[{"path": out}])
    assert_err(r, 400)
    assert api.get(export_path(ds)).json() == {"total_count": 0, "export_tasks": []}
    assert not server.objects.exists(out)
    assert not server.objects.exists("/nosuchbucket-zz/")
    # unknown dataset
    assert_err(api.post(export_path("nosuchdataset"), json={"path": out}), 400, "ModelArts.4352")


@pytest.mark.parametrize("dtype,labels", [(100, [lab("pos", 100)]), (101, [lab("Person", 101)]),
                                          (200, [lab("bell", 200)]), (3, [lab("leaf", 3)])])
def test_only_some_dataset_types_export(api, server, dtype, labels):
    ds, _ = api.create(dtype, labels=labels)
    out = folder("ty")
    assert_err(api.post(export_path(ds), json={"path": out}), 400, "ModelArts.4384")
    assert api.get(export_path(ds)).json()["total_count"] == 0
    assert not server.objects.exists(out)


# ------------------------------------------------------------------ cross-project isolation

def test_cross_project_isolation(api, server, second_project):
    pid_x, hx = second_project
    bx = Api(server, hx, pid_x)
    ds, _ = api.create(0, labels=[lab("cat")])
    api.add(ds, [{"name": "a.jpg", "data": b64(b"a"), "labels": [lab("cat")]}])
    t = run_export(api, ds)
    out = folder("iso")
    for r in (bx.post(export_path(ds), json={"path": out}), bx.get(export_path(ds)),
              bx.get(export_path(ds, t["task_id"]))):
        assert ds in assert_err(r, 400, "ModelArts.4352")["error_msg"]
    # B's own dataset does not reach A's task
    dsb, _ = bx.create(0, no_source=True)
    assert_err(bx.get(export_path(dsb, t["task_id"])), 400, "ModelArts.4359")
    assert bx.get(export_path(dsb)).json()["total_count"] == 0
    # a token of one project on the other project's URL
    for headers, pid, d in ((api.h, pid_x, dsb), (hx, server.project_id, ds)):
        r = requests.post(f"{server.base}/v2/{pid}{export_path(d)}", headers=headers, json={"path": out})
        assert_err(r, 403, "ModelArts.0210")
        r = requests.get(f"{server.base}/v2/{pid}{export_path(d)}", headers=headers)
        assert_err(r, 403, "ModelArts.0210")
    assert not server.objects.exists(out)
    # A's tasks are untouched; B exports its own dataset
    assert api.get(export_path(ds)).json()["total_count"] == 1
    tb = run_export(bx, dsb)
    assert tb["total_sample_count"] == 0
    assert api.get(export_path(ds)).json()["total_count"] == 1


def test_export_a_published_version(api, server):
    ds, _ = api.create(type_=0, labels=[{"name": "cat"}, {"name": "dog"}], no_source=True)
    api.add(ds, [{"name": "a.jpg", "data": b64(b"a"), "labels": [{"name": "cat", "type": 0}]},
                 {"name": "b.jpg", "data": b64(b"b")}])
    vid = api.post(f"/datasets/{ds}/versions").json()["version_id"]
    wait_until(lambda: api.get(f"/datasets/{ds}/versions/{vid}").json()["status"] == 1, 30, what=f"version {vid}")
    # the working copy moves on; the version export does not
    api.add(ds, [{"name": "c.jpg", "data": b64(b"c"), "labels": [{"name": "dog", "type": 0}]}])
    out = folder("verexp")
    server.objects.put(out + "keep", b"x")
    for export_type, names in ((2, {"a.jpg", "b.jpg"}), (0, {"a.jpg"}), (1, {"b.jpg"})):
        r = api.post(f"/datasets/{ds}/export-tasks",
                     json={"path": out, "version_id": vid, "export_type": export_type, "source_type_header": "s3://"})
        assert r.status_code == 200, r.text
        t = wait_export(api, ds, r.json()["task_id"])
        assert t["status"] == "SUCCESSED", t
        lines = [json.loads(l) for l in server.objects.text(t["manifest_path"]).splitlines() if l.strip()]
        assert {l["source"].rsplit("/", 1)[1] for l in lines} == names
        assert all(l["source"].startswith("s3://") for l in lines)
        assert t["finished_sample_count"] == len(names)
    assert_err(api.post(f"/datasets/{ds}/export-tasks", json={"path": out, "version_id": vid, "export_type": 3,
                                                              "export_params": {"search_conditions": [{"hard": "1"}]}}),
               400, None)



def test_export_into_a_new_dataset(api, server):
    ds, _ = api.create(type_=0, labels=[{"name": "cat"}, {"name": "dog"}], no_source=True)
    api.add(ds, [{"name": "a.jpg", "data": b64(b"a"), "labels": [{"name": "cat", "type": 0}]},
                 {"name": "b.jpg", "data": b64(b"b"), "labels": [{"name": "dog", "type": 0}]},
                 {"name": "c.jpg", "data": b64(b"c")}])
    out = folder("newds")
    server.objects.put(out + "keep", b"x")
    name = "copy" + os.urandom(4).hex()
    body = {"path": out, "export_type": 0,
            "export_params": {"export_dest": "NEW_DATASET", "export_new_dataset_name": name,
                              "export_new_dataset_work_path": folder("newwork")}}
    r = api.post(f"/datasets/{ds}/export-tasks", json=body)
    assert r.status_code == 200, r.text
    t = wait_export(api, ds, r.json()["task_id"])
    assert t["status"] == "SUCCESSED", t
    new = t["new_dataset_id"]
    listed = api.get("/datasets", params={"search_content": name}).json()["datasets"]
    assert [d["dataset_id"] for d in listed] == [new]

    def imported():
        it = api.get(f"/datasets/{new}/import-tasks/{t['import_task_id']}").json()
        assert it["status"] in ("QUEUING", "RUNNING", "COMPLETED"), it
        return it["status"] == "COMPLETED"
    wait_until(imported, 30, what="the new dataset's import")
    got = sorted((s["sample_name"], [l["name"] for l in s["labels"]]) for s in api.all_samples(new))
    assert got == [("a.jpg", ["cat"]), ("b.jpg", ["dog"])]
    assert {l["name"] for l in api.get(f"/datasets/{new}/data-annotations/labels").json()["labels"]} == {"cat", "dog"}
    assert_stats_exact(api, new)
    # the name is taken now
    assert_err(api.post(f"/datasets/{ds}/export-tasks", json=body), 400, "ModelArts.4351")


def test_a_file_write_that_fails_fails_the_export_with_its_reason(api, server):
    # The VOC documents go to <path>annotations/; an object already named
    # "annotations" there makes every one of them unwritable.
    ds, _ = api.create(1, labels=[lab("car", 1)])
    api.add(ds, [{"name": f"{i}.jpg", "data": b64(b"x"), "metadata": SIZE,
                  "labels": [shape("car", "bndbox", [[1, 2], [30, 40]])]} for i in range(30)])
    path = folder("blocked")
    server.objects.put(path + "annotations", b"in the way")
    t = wait_export(api, ds, start_export(api, ds, path=path))
    assert t["status"] == "FAILED", t
    assert "annotations" in t["error_msg"] and "parent is an object" in t["error_msg"], t
    # no manifest names files that were never written
    assert not [f for f in server.objects.list(path) if f.endswith(".manifest")]
    # the server is fine, and the same export to a free folder succeeds
    run_export(api, ds)


# ------------------------------------------------------------------ COCO

def test_coco_export_round_trips_boxes_and_writes_the_other_shapes_as_boxes(api, server):
    ds, _ = api.create(1, labels=[lab("car", 1), lab("person", 1)])
    box = shape("car", "bndbox", [[2.5, 3], [60, 70.25]])
    box["score"] = 0.75
    api.add(ds, [
        {"name": "a.jpg", "data": b64(b"aaa"), "metadata": SIZE, "labels": [box, shape("person", "bndbox", [[1, 1], [9, 9]])]},
        {"name": "b.jpg", "data": b64(b"bbb"), "metadata": {"@modelarts:size": [64, 72]},
         "labels": [shape("person", "bndbox", [[0, 0], [5, 5]])]},
        {"name": "none.jpg", "data": b64(b"none"), "metadata": SIZE},
    ])
    t = run_export(api, ds, annotation_format="COCO")
    coco = json.loads(server.objects.text(t["path"] + "annotations/instances_default.json"))
    assert [c["name"] for c in coco["categories"]] == ["car", "person"]
    images = {im["file_name"]: im for im in coco["images"]}
    assert sorted(images) == ["a.jpg", "b.jpg", "none.jpg"]
    assert (images["a.jpg"]["width"], images["a.jpg"]["height"]) == (100, 80)
    assert (images["b.jpg"]["width"], images["b.jpg"]["height"]) == (64, 72)
    boxes = sorted((im_name, a["bbox"]) for a in coco["annotations"]
                   for im_name, im in images.items() if im["id"] == a["image_id"])
    assert boxes == [("a.jpg", [1, 1, 8, 8]), ("a.jpg", [2.5, 3, 57.5, 67.25]), ("b.jpg", [0, 0, 5, 5])], boxes
    for name in images:  # the images are copied beside the instance file
        assert server.objects.get(t["path"] + "images/" + name) == {"a.jpg": b"aaa", "b.jpg": b"bbb", "none.jpg": b"none"}[name]
    # Importing the exported folder as COCO gives the same samples and boxes.
    ds2, _ = api.create(1, no_source=True)
    it = run_import(api, ds2, t["path"], annotation_format="COCO")
    assert it["failures"] == [] and it["imported_sample_count"] == 3, it
    a, b = by_name(api, ds), by_name(api, ds2)
    for n in a:
        assert sorted((l["name"], l["property"]["@modelarts:feature"], l.get("score")) for l in a[n]["labels"]) == \
            sorted((l["name"], l["property"]["@modelarts:feature"], l.get("score")) for l in b[n]["labels"]), n
    assert b["a.jpg"]["metadata"]["@modelarts:size"] == [100, 80, 3]
    assert_stats_exact(api, ds2)
    # Shapes other than boxes are written as the box around them; a point has none.
    ds3, _ = api.create(1, labels=[lab("car", 1), lab("person", 1)])
    api.add(ds3, [{"name": "all.jpg", "data": b64(b"all"), "metadata": SIZE, "labels": DETECTION_SHAPES}])
    t = run_export(api, ds3, annotation_format="COCO")
    coco = json.loads(server.objects.text(t["path"] + "annotations/instances_default.json"))
    got = sorted(a["bbox"] for a in coco["annotations"])
    assert got == sorted([[10, 10, 40, 30], [1, 1, 19, 29], [40, 30, 20, 20], [0, 0, 100, 80], [5, 5, 1, 65],
                          [0, 0, 30, 30]]), got
    (poly,) = [a for a in coco["annotations"] if a["segmentation"]]
    assert poly["segmentation"] == [[1, 1, 20, 1, 10, 30]]


def test_coco_export_only_for_detection(api, server):
    ds, _ = api.create(0, labels=[lab("cat", 0)])
    r = api.post(export_path(ds), json={"path": folder(), "annotation_format": "COCO"})
    assert r.status_code == 400 and "annotation_format" in r.text, r.text


# ------------------------------------------------------------------ YOLO

def test_yolo_export_round_trips_boxes_and_subsets(api, server):
    ds, _ = api.create(1, labels=[lab("car", 1), lab("person", 1)])
    ids = api.add(ds, [
        {"name": "a.png", "data": b64(png(200, 100)), "metadata": {"@modelarts:size": [200, 100, 3]},
         "labels": [shape("person", "bndbox", [[2.5, 3], [60, 70.25]]), shape("car", "bndbox", [[0, 0], [200, 100]])]},
        {"name": "b.png", "data": b64(png(64, 48)), "metadata": {"@modelarts:size": [64, 48, 3]},
         "labels": [shape("car", "polygon", [[1, 1], [20, 1], [10, 30]])]},
        {"name": "c.png", "data": b64(png(10, 10)), "metadata": {"@modelarts:size": [10, 10, 3]}},
    ])
    set_usage(api, ds, {ids[0]: "TRAIN", ids[1]: "EVAL"})
    t = run_export(api, ds, annotation_format="YOLO")
    read = lambda rel: server.objects.text(t["path"] + rel)  # noqa: E731
    assert read("obj.names") == "car\nperson\n"
    assert "classes = 2" in read("obj.data") and "train = data/train.txt" in read("obj.data")
    assert read("train.txt").split() == ["data/obj_train_data/a.png", "data/obj_train_data/c.png"]
    assert read("valid.txt").split() == ["data/obj_valid_data/b.png"]
    lines = sorted(read("obj_train_data/a.txt").splitlines())
    assert lines == ["0 0.5 0.5 1 1", "1 0.15625 0.36625 0.2875 0.6725"], lines
    assert read("obj_train_data/c.txt") == ""
    assert read("obj_valid_data/b.txt").split()[0] == "0"
    # Importing the exported folder as YOLO gives the same images, boxes (polygons as their box) and subsets.
    ds2, _ = api.create(1, no_source=True)
    it = run_import(api, ds2, t["path"], annotation_format="YOLO")
    assert it["failures"] == [] and it["imported_sample_count"] == 3, it
    b = by_name(api, ds2)
    got = sorted((l["name"], [[round(v, 6) for v in pt] for pt in l["property"]["@modelarts:feature"]])
                 for l in b["a.png"]["labels"])
    assert got == [("car", [[0, 0], [200, 100]]), ("person", [[2.5, 3], [60, 70.25]])], got
    (poly,) = b["b.png"]["labels"]
    assert [[round(v, 6) for v in pt] for pt in poly["property"]["@modelarts:feature"]] == [[1, 1], [20, 30]]
    assert {n: (x.get("sample_usage"), x["metadata"]["@modelarts:size"]) for n, x in b.items()} == \
        {"a.png": ("TRAIN", [200, 100, 3]), "b.png": ("EVAL", [64, 48, 3]), "c.png": ("TRAIN", [10, 10, 3])}
    assert_stats_exact(api, ds2)


def test_voc_export_names_sharing_a_stem_keep_their_own_xml(api, server):
    ds, _ = api.create(1, labels=[lab("car", 1)])
    ids = api.add(ds, [{"name": "img.jpg", "data": b64(b"j"), "metadata": SIZE, "labels": [shape("car", "bndbox", [[1, 1], [5, 5]])]},
                       {"name": "img.png", "data": b64(b"p"), "metadata": SIZE, "labels": [shape("car", "bndbox", [[2, 2], [9, 9]])]}])
    t = run_export(api, ds, annotation_format="VOC")
    lines = {l["id"]: l for l in manifest(server, t)}
    locs = {sid: lines[sid]["annotation"][0]["annotation-loc"] for sid in ids}
    assert locs[ids[0]] != locs[ids[1]] and locs[ids[1]].endswith(ids[1] + "_img.xml"), locs
    ds2, _ = api.create(1, no_source=True)
    run_import(api, ds2, t["manifest_path"])
    got = sorted(l["property"]["@modelarts:feature"] for x in api.all_samples(ds2) for l in x["labels"])
    assert got == [[[1, 1], [5, 5]], [[2, 2], [9, 9]]], got
