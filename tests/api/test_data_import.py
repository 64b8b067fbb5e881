"""Import tasks: a manifest file or an
OBS folder brought into a dataset as a task. Manifest lines of every kind
(classification, VOC detection, content:// text, entities), failures counted
per line with a reason, re-import updating instead of duplicating, the
label/hard-example filters and flags, folder layouts, listing and getting
tasks, validation, cross-project isolation, exact counters, and resuming
after the server is killed in the middle of an import."""
import json
import os
import signal
import subprocess

import pytest
import requests

from conftest import ADMIN_PASSWORD, BIN, Server, free_port, token_for, unique, wait_until
from datahelpers import BUCKET, Api, assert_err, assert_stats_exact, folder, png

CLS = "modelarts/image_classification"


# ------------------------------------------------------------------ helpers

def tasks_path(ds, tid=None):
    p = f"/datasets/{ds}/import-tasks"
    return p if tid is None else f"{p}/{tid}"


def start(api, ds, **body):
    r = api.post(tasks_path(ds), json=body)
    assert r.status_code == 200, r.text
    tid = r.json()["task_id"]
    assert isinstance(tid, str) and tid
    return tid


def wait_task(api, ds, tid, timeout=30):
    last = [None]

    def finished():
        r = api.get(tasks_path(ds, tid))
        assert r.status_code == 200, r.text
        t = last[0] = r.json()
        if t["status"] in ("COMPLETED", "FAILED"):
            return t
        assert t["status"] in ("QUEUING", "RUNNING"), t
    return wait_until(finished, timeout, interval=0.02, what=lambda: f"import {tid} to finish: {last[0]}")


def run_import(api, ds, **body):
    """Starts an import, waits for it and checks it COMPLETED."""
    t = wait_task(api, ds, start(api, ds, **body))
    assert t["status"] == "COMPLETED", t
    return t


def counts(t):
    """(total, processed, imported, updated, annotated, unconfirmed, failed) of a task."""
    return (t["total_sample_count"], t["processed_sample_count"], t["imported_sample_count"], t["updated_sample_count"],
            t["annotated_sample_count"], t["unconfirmed_sample_count"], t["failed_sample_count"])


def write_manifest(server, path, lines):
    """Lines are dicts (dumped as JSON) or raw strings; one per line."""
    text = "\n".join(l if isinstance(l, str) else json.dumps(l) for l in lines) + "\n"
    server.objects.put(path, text)
    return path


def files(server, root, *names, data=b"img"):
    for n in names:
        server.objects.put(root + n, data)


def cls(*names, **extra):
    return [dict({"type": CLS, "name": n}, **extra) for n in names]


def line(source, annotation=None, **extra):
    d = {"source": source}
    if annotation is not None:
        d["annotation"] = annotation
    d.update(extra)
    return d


def voc(objects, size=(640, 480, 3), root="annotation"):
    """A PASCAL VOC document; objects are (name, shape xml, extra xml)."""
    sz = "" if size is None else f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>{size[2]}</depth></size>"
    objs = "".join(f"<object><name>{n}</name><pose>Unspecified</pose><truncated>0</truncated><occluded>0</occluded>"
                   f"{extra or '<difficult>0</difficult>'}{shape}</object>" for n, shape, extra in objects)
    return f"<{root}><folder>NA</folder><filename>x.jpg</filename>{sz}<segmented>0</segmented>{objs}</{root}>"


def box(xmin, ymin, xmax, ymax):
    return f"<bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox>"


def by_name(api, ds):
    out = {}
    for s in api.all_samples(ds):
        assert s["sample_name"] not in out, f"duplicate sample {s['sample_name']}"
        out[s["sample_name"]] = s
    return out


def names_of(sample):
    return sorted(l["name"] for l in sample["labels"])


def label_set(api, ds):
    return {(l["type"], l["name"]) for l in api.labels(ds)}


def failures(t):
    return {f["file"]: f["reason"] for f in t["failures"]}


# ------------------------------------------------------------------ manifest: classification

def test_manifest_classification_single_multi_usage_hard(api, server):
    ds, _ = api.create(type_=0, labels=[{"name": "cat"}], no_source=True)
    root = folder("mc")
    files(server, root, "a.jpg", "b.jpg", "c.jpg", "d.png")
    m = write_manifest(server, root + "x.manifest", [
        line("obs:/" + root + "a.jpg", cls("cat"), usage="TRAIN"),
        line(root + "b.jpg", cls("cat", "dog"), usage="eval"),  # /bucket/key; lower-case usage
        line("obs:/" + root + "c.jpg", usage="INFERENCE"),  # raw data only
        "",  # blank lines are skipped
        line("s3:/" + root + "d.png",
             [{"type": CLS, "name": "rabbit", "property": {"fur": "grey"}, "annotated-by": "modelarts/active-learning",
               "confidence": 0.91, "creation-time": "2021-03-02 09:20:11"}],
             hard="true", **{"hard-coefficient": 0.7, "property": {"color": "red"}, "source-type": "camera"}),
    ])
    t = run_import(api, ds, import_path="obs:/" + m, import_type="manifest")
    assert counts(t) == (4, 4, 4, 0, 3, 0, 0), t
    assert t["failures"] == [] and t["error_code"] == "" and t["error_msg"] == ""
    assert t["dataset_id"] == ds and t["import_type"] == 1 and t["import_path"] in (m, "obs:/" + m)
    assert t["file_statistics"]["file_num_total"] == 4 and t["file_statistics"]["file_num_finished"] == 4
    assert t["update_ms"] >= t["create_time"] > 0 and t["elapsed_time"] >= 0

    s = by_name(api, ds)
    assert sorted(s) == ["a.jpg", "b.jpg", "c.jpg", "d.png"]
    assert names_of(s["a.jpg"]) == ["cat"] and s["a.jpg"]["sample_usage"] == "TRAIN"
    assert names_of(s["b.jpg"]) == ["cat", "dog"] and s["b.jpg"]["sample_usage"] == "EVAL"
    assert s["c.jpg"]["labels"] == [] and s["c.jpg"]["sample_status"] == "UN_ANNOTATION"
    assert s["c.jpg"]["sample_usage"] == "INFERENCE"
    for n in ("a.jpg", "b.jpg", "d.png"):
        assert s[n]["sample_status"] == "MANUAL_ANNOTATION", s[n]
        assert all(l["type"] == 0 for l in s[n]["labels"])
    assert s["a.jpg"]["sample_dir"] == root and s["a.jpg"]["sample_size"] == 3
    (rabbit,) = s["d.png"]["labels"]
    assert rabbit["name"] == "rabbit" and rabbit["property"]["fur"] == "grey"
    assert rabbit["score"] == 0.91 and rabbit["annotated_by"] == "modelarts/active-learning"
    md = s["d.png"]["metadata"]
    assert md["@modelarts:hard"] == 1 and md["@modelarts:hard_coefficient"] == 0.7
    assert md["color"] == "red" and md["source-type"] == "camera"  # unknown keys are kept as metadata
    # the new names joined the label set
    assert label_set(api, ds) == {(0, "cat"), (0, "dog"), (0, "rabbit")}
    st = assert_stats_exact(api, ds)
    assert st["sample_stats"]["manual_annotation"] == 3 and st["sample_stats"]["un_annotation"] == 1
    # the samples' content is the file
    r = api.get(f"/datasets/{ds}/data-annotations/samples/{s['a.jpg']['sample_id']}/content")
    assert r.status_code == 200 and r.content == b"img"


def test_manifest_with_bom_and_crlf_lines(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("crlf")
    files(server, root, "a.jpg", "b.jpg")
    text = "\ufeff" + json.dumps(line(root + "a.jpg", cls("cat"))) + "\r\n" + json.dumps(line(root + "b.jpg", cls("dog"))) + "\r\n"
    server.objects.put(root + "w.manifest", text.encode())
    t = run_import(api, ds, import_path=root + "w.manifest")
    assert counts(t) == (2, 2, 2, 0, 2, 0, 0), t
    s = by_name(api, ds)
    assert names_of(s["a.jpg"]) == ["cat"] and names_of(s["b.jpg"]) == ["dog"]


def test_import_type_inferred_and_numeric(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("it")
    files(server, root, "a.jpg")
    m = write_manifest(server, root + "x.manifest", [line(root + "a.jpg", cls("cat"))])
    t = run_import(api, ds, import_path=m)  # no trailing '/': a manifest
    assert t["import_type"] == 1 and counts(t)[:3] == (1, 1, 1)
    t = run_import(api, ds, import_path="s3:/" + m, import_type=1)
    assert t["import_type"] == 1 and counts(t)[:4] == (1, 1, 0, 1)
    t = run_import(api, ds, import_path=root)  # trailing '/': a folder; a.jpg is unlabeled at the root
    assert t["import_type"] == 0 and counts(t)[:4] == (1, 1, 0, 1)
    t = run_import(api, ds, import_path=root, import_type=0)
    assert t["import_type"] == 0
    assert len(api.all_samples(ds)) == 1
    assert names_of(api.all_samples(ds)[0]) == ["cat"]  # a folder without labels for it leaves them be
    assert_stats_exact(api, ds)


# ------------------------------------------------------------------ manifest: detection with VOC

def test_manifest_detection_voc(api, server):
    ds, _ = api.create(type_=1, labels=[{"name": "car", "type": 1}], no_source=True)
    root = folder("det")
    files(server, root, "img_17.png", "img_18.jpg", "plain.jpg")
    server.objects.put(root + "ann/img_17.xml", voc([
        ("car", box(32, 210, 190, 330), None),
        ("crosswalk", "<polygon><x1>200</x1><y1>400</y1><x2>460</x2><y2>395</y2><x3>470</x3><y3>470</y3></polygon>",
         "<difficult>1</difficult><hard-coefficient>0.6</hard-coefficient>"),
        ("sign", "<circle><cx>520</cx><cy>120</cy><r>18</r></circle>",
         "<difficult>0</difficult><properties><property><key>shape_kind</key><value>round</value></property></properties>"),
    ]))
    server.objects.put(root + "ann/img_18.xml", voc([("car", box(1.5, 2, 10, 20.25), None)], size=(100, 50, 1)))
    m = write_manifest(server, root + "det.manifest", [
        line("obs:/" + root + "img_17.png",
             [{"type": "modelarts/object_detection", "annotation-loc": "obs:/" + root + "ann/img_17.xml",
               "annotation-format": "PASCAL VOC", "annotated-by": "human"}], usage="TRAIN"),
        # underscore spellings, s3:// and a bare kind name are accepted too
        line("s3:/" + root + "img_18.jpg",
             [{"type": "object_detection", "annotation_loc": "s3:/" + root + "ann/img_18.xml",
               "annotation_format": "PASCAL_VOC"}]),
        line(root + "plain.jpg"),
    ])
    t = run_import(api, ds, import_path=m, annotation_format="VOC")
    assert counts(t) == (3, 3, 3, 0, 2, 0, 0), t
    s = by_name(api, ds)
    assert s["img_17.png"]["metadata"]["@modelarts:size"] == [640, 480, 3]
    assert s["img_17.png"]["sample_usage"] == "TRAIN"
    labels = {l["name"]: l for l in s["img_17.png"]["labels"]}
    assert set(labels) == {"car", "crosswalk", "sign"} and all(l["type"] == 1 for l in labels.values())
    assert labels["car"]["property"]["@modelarts:shape"] == "bndbox"
    assert labels["car"]["property"]["@modelarts:feature"] == [[32, 210], [190, 330]]
    assert "@modelarts:hard" not in labels["car"]["property"]
    cw = labels["crosswalk"]["property"]
    assert cw["@modelarts:shape"] == "polygon" and cw["@modelarts:feature"] == [[200, 400], [460, 395], [470, 470]]
    assert cw["@modelarts:hard"] == "1" and float(cw["@modelarts:hard_coefficient"]) == 0.6
    sign = labels["sign"]["property"]
    assert sign["@modelarts:shape"] == "circle" and sign["@modelarts:feature"] == [[520, 120], [18]]
    assert sign["shape_kind"] == "round"
    (car,) = s["img_18.jpg"]["labels"]
    assert car["property"]["@modelarts:feature"] == [[1.5, 2], [10, 20.25]]
    assert s["img_18.jpg"]["metadata"]["@modelarts:size"] == [100, 50, 1]
    assert s["plain.jpg"]["labels"] == [] and s["plain.jpg"]["sample_status"] == "UN_ANNOTATION"
    assert label_set(api, ds) == {(1, "car"), (1, "crosswalk"), (1, "sign")}
    st = assert_stats_exact(api, ds)
    assert {(l["name"], l["count"], l["sample_count"]) for l in st["label_stats"]} == \
        {("car", 2, 2), ("crosswalk", 1, 1), ("sign", 1, 1)}


def _page_out(path):
    """Drops a written file's pages from the page cache; True when its first
    page is out of memory afterwards (mincore, which reads nothing in)."""
    import ctypes
    import mmap
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        with mmap.mmap(fd, 0, access=mmap.ACCESS_COPY) as m:
            buf = ctypes.c_char.from_buffer(m)
            vec = ctypes.create_string_buffer(1)
            libc = ctypes.CDLL(None, use_errno=True)
            rc = libc.mincore(ctypes.c_void_p(ctypes.addressof(buf)), ctypes.c_size_t(1), vec)
            del buf
            return rc == 0 and not (vec.raw[0] & 1)
    finally:
        os.close(fd)


@pytest.mark.parametrize("every", [3, 1])
def test_manifest_detection_voc_files_paged_out(api, server, every):
    """VOC files that are no longer in the page cache (a third of them, then
    all) are read as well as the others: the lines whose files come from the
    disk are put off until the rest are read, then read in order."""
    ds, _ = api.create(type_=1, no_source=True)
    root = folder("paged")
    lines, want = [], {}
    for i in range(240):
        img = f"i{i:03d}.jpg"
        files(server, root, img)
        if i % 40 == 7:  # no VOC file at all: fails, whether put off or not
            loc = root + f"gone{i}.xml"
        else:
            loc = root + f"i{i:03d}.xml"
            shape = box(i, 2, i + 10, 20) if i % 5 else \
                f"<polygon><x1>{i}</x1><y1>1</y1><x2>{i + 9}</x2><y2>1</y2><x3>{i + 4}</x3><y3>30</y3></polygon>"
            server.objects.put(loc, voc([(f"k{i % 7}", shape, None)]))
            want[img] = (f"k{i % 7}", [[i, 2], [i + 10, 20]] if i % 5 else [[i, 1], [i + 9, 1], [i + 4, 30]])
        lines.append(line("obs:/" + root + img, [{"type": "modelarts/object_detection", "annotation-loc": "obs:/" + loc,
                                                  "annotation-format": "PASCAL VOC", "annotated-by": "human"}]))
    m = write_manifest(server, root + "p.manifest", lines)
    # the page cache of the embedded backend's files
    paged = [_page_out(server.objects.local_path(root + f"i{i:03d}.xml")) for i in range(0, 240, every) if i % 40 != 7]
    if not any(paged):
        pytest.skip("this file system keeps files in memory")
    t = run_import(api, ds, import_path=m)
    assert counts(t) == (240, 240, 234, 0, 234, 0, 6), t
    f = failures(t)
    assert len(f) == 6 and all("does not exist" in r for r in f.values()), f
    got = by_name(api, ds)
    assert set(got) == set(want)
    for img, (name, feature) in want.items():
        (l,) = got[img]["labels"]
        assert (l["name"], l["property"]["@modelarts:feature"]) == (name, feature), (img, l)
        assert got[img]["metadata"]["@modelarts:size"] == [640, 480, 3]
    assert_stats_exact(api, ds)


def test_manifest_segmentation_voc(api, server):
    ds, _ = api.create(type_=3, no_source=True)
    root = folder("seg")
    files(server, root, "leaf.jpg")
    server.objects.put(root + "leaf.xml", voc([("leaf", "<polygon><x1>1</x1><y1>1</y1><x2>50</x2><y2>1</y2><x3>25</x3>"
                                                      "<y3>40</y3></polygon>", "<mask_color>128,64,0</mask_color>")],
                                            size=(100, 100, 3)))
    m = write_manifest(server, root + "s.manifest", [
        line("obs:/" + root + "leaf.jpg", [{"type": "modelarts/image_segmentation", "annotation-loc": "obs:/" + root + "leaf.xml",
                                          "annotation-format": "PASCAL VOC"}], **{"sample-type": 0})])
    t = run_import(api, ds, import_path=m)
    assert counts(t) == (1, 1, 1, 0, 1, 0, 0), t
    (s,) = api.all_samples(ds)
    (l,) = s["labels"]
    assert l["type"] == 3 and l["name"] == "leaf" and l["property"]["@modelarts:shape"] == "polygon"
    assert label_set(api, ds) == {(3, "leaf")}
    assert_stats_exact(api, ds)


# ------------------------------------------------------------------ manifest: text

def test_manifest_text_classification_content(api, server):
    ds, _ = api.create(type_=100, labels=[{"name": "positive", "type": 100}], no_source=True)
    root = folder("tc")
    texts = ["The battery lasts two full days", "Screen cracked after a week", "Café très bon — 好", "no label here"]
    m = write_manifest(server, root + "t.manifest", [
        line("content://" + texts[0], [{"type": "modelarts/text_classification", "name": "positive"}], usage="TRAIN"),
        line("content://" + texts[1], [{"type": "modelarts/text_classification", "name": "negative"}]),
        line("content://" + texts[2], [{"type": "text_classification", "name": "positive"}]),
        line("content://" + texts[3]),
    ])
    t = run_import(api, ds, import_path=m)
    assert counts(t) == (4, 4, 4, 0, 3, 0, 0), t
    samples = api.all_samples(ds)
    assert len(samples) == 4
    inner = api.dataset(ds)["inner_data_path"]
    got = {}
    for s in samples:
        r = api.get(f"/datasets/{ds}/data-annotations/samples/{s['sample_id']}/content")
        assert r.status_code == 200, r.text
        got[r.content.decode()] = s
        # the text was stored in the dataset's own storage
        assert s["sample_dir"] == inner, (s["sample_dir"], inner)
        assert server.objects.exists(s["sample_dir"] + s["sample_name"])
        assert s["sample_type"] == 1
    assert set(got) == set(texts)
    assert names_of(got[texts[0]]) == ["positive"] and got[texts[0]]["sample_usage"] == "TRAIN"
    assert names_of(got[texts[1]]) == ["negative"] and names_of(got[texts[2]]) == ["positive"]
    assert got[texts[3]]["sample_status"] == "UN_ANNOTATION"
    assert label_set(api, ds) == {(100, "positive"), (100, "negative")}
    # the same text again is the same sample
    t = run_import(api, ds, import_path=m)
    assert counts(t) == (4, 4, 0, 4, 3, 0, 0), t
    assert len(api.all_samples(ds)) == 4
    assert_stats_exact(api, ds)


def test_manifest_named_entities(api, server):
    ds, _ = api.create(type_=101, labels=[{"name": "Person", "type": 101}], no_source=True)
    root = folder("ner")
    text = "Ada Lovelace was born in London."
    ent = lambda name, b, e: {"type": "modelarts/text_entity", "name": name,
                              "property": {"@modelarts:start_index": b, "@modelarts:end_index": e}}
    server.objects.put(root + "file.txt", "Grace Hopper")  # an object source: offsets checked against its text
    m = write_manifest(server, root + "e.manifest", [
        line("content://" + text, [ent("Person", 0, 12), ent("City", 25, 31)], usage="TRAIN"),
        line("content://Short", [ent("Person", 0, 40)]),  # beyond the text
        line("content://Backwards", [ent("Person", 5, 2)]),  # end before start
        line("content://No offsets", [{"type": "modelarts/text_entity", "name": "Person"}]),
        line("obs:/" + root + "file.txt", [ent("Person", 0, 12)]),
        line("obs:/" + root + "file.txt", [ent("Person", 6, 13)]),  # beyond the 12 characters of the file
    ])
    t = run_import(api, ds, import_path=m)
    assert counts(t) == (6, 6, 2, 0, 2, 0, 4), t
    f = failures(t)
    assert set(f) == {"line 2", "line 3", "line 4", "line 6"}, f
    assert "end_index" in f["line 2"] and "5" in f["line 2"], f
    assert "end_index" in f["line 3"], f
    assert "start_index" in f["line 4"], f
    assert "13" in f["line 6"] or "outside" in f["line 6"], f
    samples = api.all_samples(ds)
    assert len(samples) == 2
    by_text = {api.get(f"/datasets/{ds}/data-annotations/samples/{s['sample_id']}/content").content.decode(): s
               for s in samples}
    s = by_text[text]
    spans = sorted((l["name"], l["type"], l["property"]["@modelarts:start_index"], l["property"]["@modelarts:end_index"])
                   for l in s["labels"])
    assert spans == [("City", 101, 25, 31), ("Person", 101, 0, 12)]
    assert s["sample_usage"] == "TRAIN"
    assert names_of(by_text["Grace Hopper"]) == ["Person"]
    assert label_set(api, ds) == {(101, "Person"), (101, "City")}
    assert_stats_exact(api, ds)


TRIPLET = {"source": "content://Rivertown is the capital of Valeland.", "annotation": [
    {"type": "modelarts/text_entity", "name": "City", "id": "E1", "property": {"@modelarts:start_index": 0, "@modelarts:end_index": 9}},
    {"type": "modelarts/text_entity", "name": "Country", "id": "E2",
     "property": {"@modelarts:start_index": 28, "@modelarts:end_index": 36}},
    {"type": "modelarts/text_triplet", "name": "capital_of", "id": "R1", "property": {"@modelarts:from": "E1", "@modelarts:to": "E2"}}]}


def test_manifest_triplets_with_defined_labels(api, server):
    ds, _ = api.create(type_=102, no_source=True, labels=[
        {"name": "City", "type": 103}, {"name": "Country", "type": 103},
        {"name": "capital_of", "type": 102, "property": {"@modelarts:from_type": "City", "@modelarts:to_type": "Country"}}])
    m = write_manifest(server, folder("tri") + "t.manifest", [TRIPLET])
    t = run_import(api, ds, import_path=m)
    assert counts(t) == (1, 1, 1, 0, 1, 0, 0), t
    (s,) = api.all_samples(ds)
    got = sorted((l["type"], l["name"]) for l in s["labels"])
    assert got == [(102, "capital_of"), (103, "City"), (103, "Country")]
    assert_stats_exact(api, ds)


def test_manifest_triplets_add_new_relation_labels(api, server):
    ds, _ = api.create(type_=102, no_source=True)
    m = write_manifest(server, folder("tri") + "t.manifest", [TRIPLET])
    t = run_import(api, ds, import_path=m)
    assert t["failures"] == [] and counts(t) == (1, 1, 1, 0, 1, 0, 0), t
    labels = {(l["type"], l["name"]): l for l in api.labels(ds)}
    assert set(labels) == {(102, "capital_of"), (103, "City"), (103, "Country")}
    # the relation's end types come from the entities it joins
    prop = labels[(102, "capital_of")]["property"]
    assert prop["@modelarts:from_type"] == "City" and prop["@modelarts:to_type"] == "Country", prop
    assert_stats_exact(api, ds)


# ------------------------------------------------------------------ manifest: failures

def test_manifest_failures_each_with_a_reason(api, server):
    ds, _ = api.create(type_=0, labels=[{"name": "cat"}], no_source=True)
    root = folder("fail")
    files(server, root, "ok1.jpg", "ok2.jpg", "x.jpg")
    lines = [
        line(root + "ok1.jpg", cls("cat")),                                           # 1 good
        '{"source": "' + root + 'x.jpg", "annotation": [',                             # 2 not JSON
        "[1, 2, 3]",                                                                  # 3 not an object
        {"usage": "TRAIN", "annotation": cls("ghost1")},                              # 4 no source
        line(root + "missing.jpg", cls("ghost2")),                                    # 5 file does not exist
        line(root + "x.jpg", [{"type": "modelarts/text_classification", "name": "ghost3"}]),  # 6 kind does not fit
        line(root + "x.jpg", [{"type": "modelarts/no_such_kind", "name": "ghost4"}]),  # 7 unknown kind
        line("content://some text", cls("ghost5")),                                    # 8 text in an image dataset
        line(root + "x.jpg", cls("ghost6"), usage="SOMETIMES"),                       # 9 bad usage
        json.dumps(line(root + "x.jpg", cls("ghost7"), pad="p" * (1 << 20))),         # 10 longer than 1 MiB
        line(root + "x.jpg", [{"type": CLS}]),                                        # 11 classification without a name
        line("ftp://" + BUCKET + "/x.jpg"),                                           # 12 unsupported scheme
        line(root + "x.jpg", hard="maybe"),                                           # 13 bad hard flag
        line(root + "x.jpg", cls("tab\tname")),                                      # 14 a label name no label may have
        line(root + "x.jpg", cls("n" * 1025)),                                        # 15 a label name too long
        line(root + "ok2.jpg", cls("dog")),                                           # 16 good
    ]
    m = write_manifest(server, root + "f.manifest", lines)
    t = run_import(api, ds, import_path=m)
    assert counts(t) == (16, 16, 2, 0, 2, 0, 14), t
    f = failures(t)
    assert len(t["failures"]) == 14 and set(f) == {f"line {i}" for i in range(2, 16)}, t["failures"]
    expect = {2: ["not valid JSON"], 3: ["JSON object"], 4: ["source", "required"], 5: ["missing.jpg", "does not exist"],
              6: ["type 100", "dataset type 0"], 7: ["unknown annotation type", "no_such_kind"],
              8: ["content://", "text datasets"], 9: ["usage", "SOMETIMES"], 10: ["1048576"],
              11: ["annotation[0].name", "required"], 12: ["source", "scheme"], 13: ["hard"],
              14: ["name", "control characters"], 15: ["name", "1024"]}
    for n, pieces in expect.items():
        for p in pieces:
            assert p in f[f"line {n}"], (n, p, f[f"line {n}"])
    # nothing of the failed lines was kept: no sample, no label
    assert sorted(by_name(api, ds)) == ["ok1.jpg", "ok2.jpg"]
    assert label_set(api, ds) == {(0, "cat"), (0, "dog")}
    assert_stats_exact(api, ds)


def test_manifest_detection_failures(api, server):
    ds, _ = api.create(type_=1, no_source=True)
    root = folder("dfail")
    files(server, root, "ok.jpg", "x.jpg")
    xml = {
        "ok.xml": voc([("car", box(1, 1, 50, 50), None)], size=(100, 100, 3)),
        "broken.xml": "<annotation><size><width>10</width>",
        "inverted.xml": voc([("ghost1", box(50, 50, 10, 10), None)], size=(100, 100, 3)),
        "nosize.xml": voc([("ghost2", box(1, 1, 5, 5), None)], size=None),
        "outside.xml": voc([("ghost3", box(1, 1, 200, 50), None)], size=(100, 100, 3)),
        "root.xml": voc([("ghost4", box(1, 1, 5, 5), None)], root="doc"),
        "noshape.xml": voc([("ghost5", "", None)]),
        "nan.xml": voc([("ghost6", box("a", 1, 5, 5), None)]),
        "badshape.xml": voc([("ghost7", "<hexagon><a>1</a></hexagon>", None)]),
    }
    for name, text in xml.items():
        server.objects.put(root + name, text)
    det = lambda xml_name: [{"type": "modelarts/object_detection", "annotation-loc": "obs:/" + root + xml_name}]
    lines = [line(root + "x.jpg", det(n)) for n in
             ("missing.xml", "broken.xml", "inverted.xml", "nosize.xml", "outside.xml", "root.xml", "noshape.xml",
              "nan.xml", "badshape.xml")]
    lines += [
        line(root + "x.jpg", [{"type": "modelarts/object_detection", "annotation-loc": "obs:/" + root + "ok.xml",
                               "annotation-format": "COCO"}]),                      # 10 unknown format
        line(root + "x.jpg", [{"type": "modelarts/object_detection", "name": "ghost8"}]),  # 11 neither loc nor geometry
        line(root + "x.jpg", cls("ghost9")),                                        # 12 classification in detection
        line(root + "ok.jpg", det("ok.xml")),                                       # 13 good
        line(root + "x.jpg", det("nosize.xml"), property={"@modelarts:size": [10, 10, 3]}),  # 14 good: size on the line
    ]
    t = run_import(api, ds, import_path=write_manifest(server, root + "d.manifest", lines))
    assert counts(t) == (14, 14, 2, 0, 2, 0, 12), t
    f = failures(t)
    assert set(f) == {f"line {i}" for i in range(1, 13)}, t["failures"]
    expect = {1: ["missing.xml", "does not exist"], 2: ["not well-formed XML"], 3: ["bndbox"], 4: ["@modelarts:size"],
              5: ["outside"], 6: ["root element", "doc"], 7: ["no shape"], 8: ["xmin", "not a number"],
              9: ["hexagon"], 10: ["COCO"], 11: ["annotation-loc"], 12: ["type 0", "dataset type 1"]}
    for n, pieces in expect.items():
        for p in pieces:
            assert p in f[f"line {n}"], (n, p, f[f"line {n}"])
        assert f[f"line {n}"].startswith("annotation[0]"), f[f"line {n}"]  # the reason names the field
    assert sorted(by_name(api, ds)) == ["ok.jpg", "x.jpg"]
    assert names_of(by_name(api, ds)["x.jpg"]) == ["ghost2"]
    assert label_set(api, ds) == {(1, "car"), (1, "ghost2")}
    assert_stats_exact(api, ds)


def test_paths_leaving_the_store_are_refused(api, server):
    ds, _ = api.create(type_=900, no_source=True)
    root = folder("trav")
    server.objects.put("/" + BUCKET + "/secret.jpg", "not to be reached through ..")
    files(server, root, "a.jpg")
    m = write_manifest(server, root + "t.manifest", [
        line(f"/{BUCKET}/x/../secret.jpg"),
        line(f"obs://{BUCKET}/x/./../secret.jpg"),
        line(root + "a.jpg", [{"type": "modelarts/object_detection", "annotation-loc": f"/{BUCKET}/x/../../../server.log"}]),
        line(f"/{BUCKET}//secret.jpg"),
    ])
    t = run_import(api, ds, import_path=m)
    assert counts(t) == (4, 4, 0, 0, 0, 0, 4), t
    for f in t["failures"]:
        assert "not a valid object key" in f["reason"], f
    assert api.all_samples(ds) == []
    for p in (f"/{BUCKET}/../", f"/{BUCKET}/x/../../", "/../", f"/{BUCKET}/../{BUCKET}/t.manifest", f"obs://{BUCKET}/./x/"):
        assert_err(api.post(tasks_path(ds), json={"import_path": p}), 400, "ModelArts.0101", "import_path")
    assert api.get(tasks_path(ds)).json()["total_count"] == 1


def test_failure_line_numbers_count_blank_lines(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("blank")
    files(server, root, "a.jpg")
    m = write_manifest(server, root + "b.manifest", [line(root + "a.jpg"), "", "   ", "{broken"])
    t = run_import(api, ds, import_path=m)
    assert [f["file"] for f in t["failures"]] == ["line 4"], t["failures"]


def test_failures_are_listed_in_line_order(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("order")
    m = write_manifest(server, root + "o.manifest", [line(root + "missing.jpg"), "{broken"])
    t = run_import(api, ds, import_path=m)
    assert [f["file"] for f in t["failures"]] == ["line 1", "line 2"], t["failures"]


def test_failures_list_is_capped_at_100(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("cap")
    files(server, root, "ok.jpg")
    m = write_manifest(server, root + "c.manifest", ["{bad"] * 150 + [line(root + "ok.jpg")])
    t = run_import(api, ds, import_path=m)
    assert counts(t) == (151, 151, 1, 0, 0, 0, 150), t
    assert len(t["failures"]) == 100
    assert [f["file"] for f in t["failures"]] == [f"line {i}" for i in range(1, 101)]
    assert_stats_exact(api, ds)


# ------------------------------------------------------------------ re-import

def test_reimport_updates_instead_of_duplicating(api, server):
    ds, _ = api.create(type_=0, labels=[{"name": "cat"}], no_source=True)
    root = folder("re")
    files(server, root, "a.jpg", "b.jpg", "c.jpg", "d.jpg")
    m1 = write_manifest(server, root + "one.manifest", [
        line("obs:/" + root + "a.jpg", cls("cat"), usage="TRAIN"),
        line("obs:/" + root + "b.jpg"),
        line("obs:/" + root + "c.jpg", cls("dog")),
    ])
    t = run_import(api, ds, import_path=m1)
    assert counts(t) == (3, 3, 3, 0, 2, 0, 0), t
    before = {n: s["sample_id"] for n, s in by_name(api, ds).items()}
    # the same sources written differently, plus one new file
    m2 = write_manifest(server, root + "two.manifest", [
        line(root + "a.jpg", cls("dog", "bird"), usage="EVAL"),
        line("s3:/" + root + "b.jpg", usage="TEST"),
        line("OBS:/" + root + "c.jpg"),
        line(root + "d.jpg", cls("cat")),
    ])
    t = run_import(api, ds, import_path=m2)
    assert counts(t) == (4, 4, 1, 3, 2, 0, 0), t
    s = by_name(api, ds)
    assert sorted(s) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    assert {n: s[n]["sample_id"] for n in before} == before
    assert names_of(s["a.jpg"]) == ["bird", "dog"] and s["a.jpg"]["sample_usage"] == "EVAL"
    assert s["b.jpg"]["labels"] == [] and s["b.jpg"]["sample_usage"] == "TEST"
    assert names_of(s["c.jpg"]) == ["dog"]  # a line without annotation leaves the labels be
    assert label_set(api, ds) == {(0, "cat"), (0, "dog"), (0, "bird")}
    assert_stats_exact(api, ds)
    # the first manifest again: back to its labels, still four samples
    t = run_import(api, ds, import_path=m1)
    assert counts(t) == (3, 3, 0, 3, 2, 0, 0), t
    s = by_name(api, ds)
    assert len(s) == 4 and names_of(s["a.jpg"]) == ["cat"] and s["a.jpg"]["sample_usage"] == "TRAIN"
    st = assert_stats_exact(api, ds)
    assert {(l["name"], l["count"]) for l in st["label_stats"]} == {("cat", 2), ("dog", 1), ("bird", 0)}
    # a deleted sample comes back as a new one
    old_id = s["c.jpg"]["sample_id"]
    assert api.delete_samples(ds, [old_id]).status_code == 200
    t = run_import(api, ds, import_path=m1)
    assert counts(t)[2:4] == (1, 2), t
    s = by_name(api, ds)
    assert len(s) == 4 and s["c.jpg"]["sample_id"] != old_id and names_of(s["c.jpg"]) == ["dog"]
    assert_stats_exact(api, ds)


def test_same_source_twice_in_one_manifest(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("twice")
    files(server, root, "a.jpg")
    m = write_manifest(server, root + "t.manifest", [line(root + "a.jpg", cls("cat")), line("obs:/" + root + "a.jpg", cls("dog"))])
    t = run_import(api, ds, import_path=m)
    assert counts(t) == (2, 2, 1, 1, 2, 0, 0), t
    (s,) = api.all_samples(ds)
    assert names_of(s) == ["dog"]
    assert_stats_exact(api, ds)


def test_reimport_of_manually_added_sample(api, server):
    """A sample added through the API is matched by its path too."""
    ds, inp = api.create(type_=0, labels=[{"name": "cat"}])
    sid = api.add_inline(ds, "m.jpg", b"manual")
    m = write_manifest(server, folder("man") + "m.manifest", [line("obs:/" + inp + "m.jpg", cls("cat"))])
    t = run_import(api, ds, import_path=m)
    assert counts(t)[2:4] == (0, 1), t
    (s,) = api.all_samples(ds)
    assert s["sample_id"] == sid and names_of(s) == ["cat"]
    assert_stats_exact(api, ds)


# ------------------------------------------------------------------ filters and flags

@pytest.fixture
def filter_manifest(server):
    root = folder("flt")
    files(server, root, "a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg")
    return write_manifest(server, root + "f.manifest", [
        line(root + "a.jpg", cls("cat")),
        line(root + "b.jpg", cls("cat", "dog"), hard=True),
        line(root + "c.jpg", cls("dog"), hard="true"),
        line(root + "d.jpg", hard=1),
        line(root + "e.jpg", cls("bird"), hard="false"),
    ])


@pytest.mark.parametrize("body,expect", [
    ({"included_labels": [{"name": "cat"}]}, {"a.jpg", "b.jpg"}),
    ({"included_labels": [{"name": "cat", "type": 0}, {"name": "bird"}]}, {"a.jpg", "b.jpg", "e.jpg"}),
    ({"included_tags": ["dog"]}, {"b.jpg", "c.jpg"}),
    ({"included_labels": ["bird"]}, {"e.jpg"}),
    ({"excluded_labels": [{"name": "dog"}]}, {"a.jpg", "d.jpg", "e.jpg"}),
    ({"excluded_labels": ["cat", "bird"]}, {"c.jpg", "d.jpg"}),
    ({"included_labels": ["cat"], "excluded_labels": ["dog"]}, {"a.jpg"}),
    ({"difficult_only": True}, {"b.jpg", "c.jpg", "d.jpg"}),
    ({"difficult_only": True, "excluded_labels": ["cat"]}, {"c.jpg", "d.jpg"}),
    ({"difficult_only": False}, {"a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"}),
])
def test_label_and_difficulty_filters(api, filter_manifest, body, expect):
    ds, _ = api.create(type_=0, no_source=True)
    t = run_import(api, ds, import_path=filter_manifest, **body)
    assert counts(t)[:3] == (5, 5, len(expect)), t
    assert t["failed_sample_count"] == 0 and t["failures"] == []
    s = by_name(api, ds)
    assert set(s) == expect
    # only the names of imported samples join the label set
    names = {l["name"] for x in s.values() for l in x["labels"]}
    assert {n for _, n in label_set(api, ds)} == names
    assert_stats_exact(api, ds)


def test_import_annotations_false(api, server, filter_manifest):
    ds, _ = api.create(type_=0, no_source=True)
    t = run_import(api, ds, import_path=filter_manifest, import_annotations=False)
    assert counts(t) == (5, 5, 5, 0, 0, 0, 0), t
    s = by_name(api, ds)
    assert len(s) == 5 and all(x["labels"] == [] and x["sample_status"] == "UN_ANNOTATION" for x in s.values())
    assert api.labels(ds) == []
    # hard-example flags are sample metadata, not annotations: they still come
    assert s["b.jpg"]["metadata"].get("@modelarts:hard") == 1
    st = assert_stats_exact(api, ds)
    assert st["key_sample_stats"] == {"total": 5, "key_sample": 3, "non_key_sample": 2}
    # an annotated sample is not stripped by a later import without annotations
    t = run_import(api, ds, import_path=filter_manifest)
    assert counts(t)[2:4] == (0, 5)
    t = run_import(api, ds, import_path=filter_manifest, import_annotations=False)
    assert names_of(by_name(api, ds)["b.jpg"]) == ["cat", "dog"]
    assert_stats_exact(api, ds)


def test_import_samples_false_only_updates(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("nos")
    files(server, root, "a.jpg", "b.jpg", "c.jpg")
    run_import(api, ds, import_path=write_manifest(server, root + "1.manifest", [line(root + "a.jpg"), line(root + "b.jpg")]))
    m = write_manifest(server, root + "2.manifest", [
        line(root + "a.jpg", cls("cat"), usage="TRAIN"), line(root + "b.jpg", usage="EVAL"), line(root + "c.jpg")])
    t = run_import(api, ds, import_path=m, import_samples=False)
    assert counts(t) == (3, 3, 0, 2, 1, 0, 0), t
    s = by_name(api, ds)
    assert sorted(s) == ["a.jpg", "b.jpg"]
    assert names_of(s["a.jpg"]) == ["cat"] and s["a.jpg"]["sample_usage"] == "TRAIN"
    assert s["b.jpg"]["sample_usage"] == "EVAL"
    assert_stats_exact(api, ds)


def test_import_samples_false_adds_no_labels_of_skipped_lines(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("nosl")
    files(server, root, "new.jpg")
    t = run_import(api, ds, import_path=write_manifest(server, root + "m.manifest", [line(root + "new.jpg", cls("ghost"))]),
                   import_samples=False)
    assert counts(t)[2] == 0 and api.all_samples(ds) == []
    assert api.labels(ds) == []


def test_final_annotation_false_marks_labels_unconfirmed(api, server, filter_manifest):
    ds, _ = api.create(type_=0, no_source=True)
    t = run_import(api, ds, import_path=filter_manifest, final_annotation=False)
    assert counts(t) == (5, 5, 5, 0, 0, 4, 0), t
    s = by_name(api, ds)
    for n in ("a.jpg", "b.jpg", "c.jpg", "e.jpg"):
        assert s[n]["sample_status"] == "AUTO_ANNOTATION", s[n]
    assert s["d.jpg"]["sample_status"] == "UN_ANNOTATION"
    st = assert_stats_exact(api, ds)
    assert st["sample_stats"]["auto_annotation"] == 4 and st["sample_stats"]["manual_annotation"] == 0
    assert api.list(ds, sample_state="__AUTO_ANNOTATION__")["sample_count"] == 4
    # unconfirmed again: still unconfirmed; then final: confirmed
    run_import(api, ds, import_path=filter_manifest, final_annotation=False)
    assert by_name(api, ds)["a.jpg"]["sample_status"] == "AUTO_ANNOTATION"
    assert_stats_exact(api, ds)
    t = run_import(api, ds, import_path=filter_manifest, final_annotation=True)
    assert counts(t)[2:6] == (0, 5, 4, 0), t
    s = by_name(api, ds)
    assert [n for n in s if s[n]["sample_status"] == "MANUAL_ANNOTATION"] and \
        sorted(n for n in s if s[n]["sample_status"] == "MANUAL_ANNOTATION") == ["a.jpg", "b.jpg", "c.jpg", "e.jpg"]
    st = assert_stats_exact(api, ds)
    assert st["sample_stats"]["auto_annotation"] == 0 and st["sample_stats"]["manual_annotation"] == 4


def test_final_annotation_false_on_existing_samples(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("unc")
    files(server, root, "a.jpg", "b.jpg")
    run_import(api, ds, import_path=write_manifest(server, root + "0.manifest", [line(root + "a.jpg"), line(root + "b.jpg")]))
    m = write_manifest(server, root + "1.manifest", [line(root + "a.jpg", cls("cat")), line(root + "b.jpg", cls("dog"))])
    t = run_import(api, ds, import_path=m, final_annotation=False)
    s = by_name(api, ds)
    assert [s[n]["sample_status"] for n in ("a.jpg", "b.jpg")] == ["AUTO_ANNOTATION"] * 2, s
    assert counts(t) == (2, 2, 0, 2, 0, 2, 0), t
    assert_stats_exact(api, ds)


# ------------------------------------------------------------------ folder layouts

def test_folder_class_subfolders(api, server):
    ds, _ = api.create(type_=0, labels=[{"name": "apple"}], no_source=True)
    root = folder("imagenet")
    files(server, root, "apple/a1.jpg", "apple/a2.JPEG", "pear/p1.png", "pear/ripe/p2.bmp", "top.jpg")
    server.objects.put(root + "apple/readme.md", "not an image")
    server.objects.put(root + "pear/notes.txt", "not an image either")
    t = run_import(api, ds, import_path=root, import_type="dir")
    assert t["import_type"] == 0 and t["import_path"] in (root, "obs:/" + root)
    assert counts(t) == (5, 5, 5, 0, 4, 0, 0), t
    s = by_name(api, ds)
    assert sorted(s) == ["a1.jpg", "a2.JPEG", "p1.png", "p2.bmp", "top.jpg"]
    assert names_of(s["a1.jpg"]) == ["apple"] and names_of(s["a2.JPEG"]) == ["apple"]
    assert names_of(s["p1.png"]) == ["pear"]
    assert names_of(s["p2.bmp"]) == ["ripe"]  # the deepest folder names the label
    assert s["top.jpg"]["labels"] == []  # directly in the import root: unlabeled
    assert s["a1.jpg"]["sample_dir"] == root + "apple/"
    assert label_set(api, ds) == {(0, "apple"), (0, "pear"), (0, "ripe")}
    assert_stats_exact(api, ds)
    # again, written otherwise: nothing new
    t = run_import(api, ds, import_path="obs:/" + root)
    assert counts(t)[:4] == (5, 5, 0, 5), t
    t = run_import(api, ds, import_path=root.rstrip("/"), import_type="dir")
    assert counts(t)[:4] == (5, 5, 0, 5), t
    assert names_of(by_name(api, ds)["p2.bmp"]) == ["ripe"]
    assert len(api.all_samples(ds)) == 5
    assert_stats_exact(api, ds)


def test_folder_txt_beside_each_image(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("txt")
    files(server, root, "x01.jpg", "x02.jpg", "x03.jpg")
    server.objects.put(root + "x01.txt", "apple\n")
    server.objects.put(root + "x02.txt", "apple\r\n  fruit \n\n")  # several lines: several labels
    t = run_import(api, ds, import_path=root)
    assert counts(t) == (3, 3, 3, 0, 2, 0, 0), t
    s = by_name(api, ds)
    assert names_of(s["x01.jpg"]) == ["apple"] and names_of(s["x02.jpg"]) == ["apple", "fruit"]
    assert s["x03.jpg"]["labels"] == []
    assert label_set(api, ds) == {(0, "apple"), (0, "fruit")}
    assert_stats_exact(api, ds)


def test_folder_txt_labels_across_listing_pages(api, server):
    """The import looks a .txt up in the listing page it has when that page covers the name; pages hold
    1000 keys: here a .jpg ends a page with its .txt starting the next, and a .webp's .txt (which sorts
    before it) ends the page the .webp starts."""
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("pages")
    server.objects.put(root + "a.jpg", b"x")  # shifts the pairs so that one straddles each page boundary
    expect = {"a.jpg": []}
    for i in range(700):
        server.objects.put(root + f"p{i:05d}.jpg", b"x")
        server.objects.put(root + f"p{i:05d}.txt", f"L{i % 5}\n")
        expect[f"p{i:05d}.jpg"] = [f"L{i % 5}"]
    for i in range(310):
        server.objects.put(root + f"w{i:05d}.txt", f"W{i % 3}\n")
        server.objects.put(root + f"w{i:05d}.webp", b"x")
        expect[f"w{i:05d}.webp"] = [f"W{i % 3}"]
    server.objects.put(root + "zz.jpg", b"x")  # no .txt: the last page shows it absent
    expect["zz.jpg"] = []
    t = run_import(api, ds, import_path=root)
    assert counts(t)[:3] == (len(expect), len(expect), len(expect)), t
    assert {n: names_of(x) for n, x in by_name(api, ds).items()} == expect
    assert_stats_exact(api, ds)


def test_symlinked_label_files_never_fail_the_import(api, server):
    """A .txt beside an image that is a symlink is no object of the store (listings leave it out): where the
    listing page shows it absent the image comes in unlabeled, where the file is looked up it fails that image
    with its reason; the rest of the import goes through and nothing behind the link is read."""
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("links")
    # symlinks exist only in the embedded backend's folders
    server.objects.put(f"/{BUCKET}/_outside/secret.txt", "SECRET\n")
    secret = server.objects.local_path(f"/{BUCKET}/_outside/secret.txt")
    for i in range(999):
        server.objects.put(root + f"a{i:03d}.jpg", b"x")
    server.objects.put(root + "m.jpg", b"x")  # the last key of the first page
    os.symlink(secret, server.objects.local_path(root + "m.txt"))  # beyond that page: looked up
    server.objects.put(root + "n.jpg", b"x")
    os.symlink(secret, server.objects.local_path(root + "n.txt"))  # inside the last page: shown absent
    server.objects.put(root + "z.jpg", b"x")
    t = run_import(api, ds, import_path=root)
    assert t["status"] == "COMPLETED", t
    assert counts(t)[:3] == (1002, 1002, 1001) and t["failed_sample_count"] == 1, t
    assert t["failures"][0]["file"].endswith("m.jpg") and "outside" in t["failures"][0]["reason"], t["failures"]
    s = by_name(api, ds)
    assert "m.jpg" not in s and s["n.jpg"]["labels"] == [] and s["z.jpg"]["labels"] == []
    assert label_set(api, ds) == set()


def test_folder_import_annotations_false(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("noann")
    files(server, root, "cat/a.jpg", "b.jpg")
    server.objects.put(root + "b.txt", "dog")
    t = run_import(api, ds, import_path=root, import_annotations=False)
    assert counts(t) == (2, 2, 2, 0, 0, 0, 0), t
    assert all(s["labels"] == [] for s in api.all_samples(ds)) and api.labels(ds) == []
    assert_stats_exact(api, ds)


def test_folder_voc_beside_each_image(api, server):
    ds, _ = api.create(type_=1, no_source=True)
    root = folder("vocdir")
    files(server, root, "img_17.png", "plain.jpg", "bad.jpg", "sub/deep.jpg")
    server.objects.put(root + "img_17.xml", voc([("car", box(32, 210, 190, 330), None),
                                               ("car", box(1, 1, 10, 10), "<difficult>1</difficult>")]))
    server.objects.put(root + "bad.xml", "<annotation><object>")
    server.objects.put(root + "sub/deep.xml", voc([("bus", box(5, 5, 60, 60), None)], size=(64, 64, 3)))
    t = run_import(api, ds, import_path=root, annotation_format="VOC")
    assert counts(t) == (4, 4, 3, 0, 2, 0, 1), t
    assert list(failures(t)) == [root[len("/" + BUCKET + "/"):] + "bad.jpg"], t["failures"]
    assert "not well-formed XML" in t["failures"][0]["reason"]
    s = by_name(api, ds)
    assert sorted(s) == ["deep.jpg", "img_17.png", "plain.jpg"]
    cars = sorted(l["property"]["@modelarts:feature"][0][0] for l in s["img_17.png"]["labels"])
    assert cars == [1, 32] and all(l["name"] == "car" and l["type"] == 1 for l in s["img_17.png"]["labels"])
    assert s["img_17.png"]["metadata"]["@modelarts:size"] == [640, 480, 3]
    assert names_of(s["deep.jpg"]) == ["bus"]
    assert s["plain.jpg"]["labels"] == []
    assert label_set(api, ds) == {(1, "car"), (1, "bus")}
    st = assert_stats_exact(api, ds)
    assert {(l["name"], l["count"], l["sample_count"]) for l in st["label_stats"]} == {("car", 2, 1), ("bus", 1, 1)}


def test_folder_sound_classes(api, server):
    ds, _ = api.create(type_=200, no_source=True)
    root = folder("snd")
    files(server, root, "doorbell/bell.wav", "doorbell/ring.mp3", "dog/bark.wav", "loose.wav", "cover.jpg")
    t = run_import(api, ds, import_path=root)
    assert counts(t) == (4, 4, 4, 0, 3, 0, 0), t
    s = by_name(api, ds)
    assert names_of(s["bell.wav"]) == ["doorbell"] and names_of(s["bark.wav"]) == ["dog"]
    assert s["loose.wav"]["labels"] == [] and "cover.jpg" not in s
    assert all(x["sample_type"] == 2 for x in s.values())
    assert label_set(api, ds) == {(200, "doorbell"), (200, "dog")}
    assert_stats_exact(api, ds)


def test_folder_other_types_import_unlabeled(api, server):
    ds, _ = api.create(type_=101, no_source=True)
    root = folder("txtdir")
    server.objects.put(root + "person/a.txt", "Ada Lovelace")
    server.objects.put(root + "b.csv", "x,y")
    server.objects.put(root + "c.jpg", "image")
    t = run_import(api, ds, import_path=root)
    assert counts(t) == (2, 2, 2, 0, 0, 0, 0), t
    s = by_name(api, ds)
    assert sorted(s) == ["a.txt", "b.csv"] and all(x["labels"] == [] for x in s.values())
    assert api.labels(ds) == []
    assert_stats_exact(api, ds)


SCHEMA = [{"schema_id": i, "name": n, "type": t} for i, (n, t) in enumerate([("id", "INT"), ("name", "STRING"), ("note", "STRING")])]


def test_folder_table_files_must_fit_the_schema(api, server):
    ds, _ = api.create(type_=400, no_source=True, schema=SCHEMA)
    root = folder("table")
    server.objects.put(root + "a.csv", "id,name,note\n1,ann,x\n2,bob,y\n")
    server.objects.put(root + "b.csv", "id,name,note\n1,ann,x\n2,bob\n3,cy,z\n")       # record 3 lacks a column
    server.objects.put(root + "c.csv", 'id,name,note\n1,"last, first","says ""hi""\nand bye"\n\n')  # quotes, comma, line break
    server.objects.put(root + "d.csv", 'id,name,note\n1,"open,x\n')                       # a quote never closed
    server.objects.put(root + "e.csv", "id,name,note\n1,a,b,c\n")                           # its only record has 4
    server.objects.put(root + "skip.txt", "not a table")
    t = run_import(api, ds, import_path=root, with_column_header=True)
    assert counts(t) == (5, 5, 2, 0, 0, 0, 3), t
    reasons = {k.rsplit("/", 1)[-1]: v for k, v in failures(t).items()}
    assert "line 3 has 2 columns" in reasons["b.csv"] and "schema 3" in reasons["b.csv"], reasons
    assert "line 2: a quoted field is not closed" in reasons["d.csv"], reasons
    assert "line 2 has 4 columns" in reasons["e.csv"], reasons
    assert sorted(by_name(api, ds)) == ["a.csv", "c.csv"]
    assert_stats_exact(api, ds)
    # Without the header flag the header line is checked as a record too (here it fits).
    ds2, _ = api.create(type_=400, no_source=True, schema=SCHEMA)
    t = run_import(api, ds2, import_path=root)
    assert sorted(k.rsplit("/", 1)[-1] for k in failures(t)) == ["b.csv", "d.csv", "e.csv"], t


def test_table_header_is_the_first_line_that_is_not_blank(api, server):
    ds, _ = api.create(type_=400, no_source=True, schema=SCHEMA)
    root = folder("tableblank")
    server.objects.put(root + "a.csv", "\n\nid,name\n1,ann,x\n")  # a 2-column header after blank lines
    t = run_import(api, ds, import_path=root, with_column_header=True)
    assert counts(t)[2:] == (1, 0, 0, 0, 0), t


def test_label_files_that_are_not_utf8_fail_their_sample_only(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("latin1")
    files(server, root, "a.jpg", "b.jpg")
    server.objects.put(root + "a.txt", "caf\xe9".encode("latin-1"))
    server.objects.put(root + "b.txt", "dog")
    t = run_import(api, ds, import_path=root)
    assert (t["imported_sample_count"], t["failed_sample_count"]) == (1, 1), t
    assert list(failures(t))[0].endswith("a.jpg"), t["failures"]
    assert sorted(by_name(api, ds)) == ["b.jpg"]


def test_table_check_reads_large_files_as_a_stream(api, server):
    ds, _ = api.create(type_=400, no_source=True, schema=SCHEMA)
    root = folder("tablebig")

    def text(bad_tail):
        # a doubled quote whose first half is the last byte of the reader's first 64 KiB
        head = "id,name,note\n" + "1,abc,d\n" * 8000
        lines = head.count("\n")
        k = 65535 - len(head) - len('1,"')
        body = head + '1,"' + "x" * k + '""y, still quoted",z\n'
        assert body.index('""') == 65535
        return body + "2,b,c\n" * 10 + bad_tail, lines + 1 + 10 + 1

    good, _ = text("")
    bad, bad_line = text("3,only two\n")
    server.objects.put(root + "good.csv", good)
    server.objects.put(root + "bad.csv", bad)
    t = run_import(api, ds, import_path=root, with_column_header=True)
    assert counts(t)[2:] == (1, 0, 0, 0, 1), t
    (reason,) = failures(t).values()
    assert f"line {bad_line} has 2 columns" in reason, reason


def test_table_options_are_checked(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    r = api.post(tasks_path(ds), json={"import_path": folder("x"), "with_column_header": True})
    assert r.status_code == 400 and "with_column_header" in r.text, r.text


def test_import_folder_copies_into_the_dataset_storage(api, server):
    ds, inp = api.create(type_=0)
    root = folder("copysrc")
    files(server, root, "cat/a.jpg", "dog/b.jpg")
    t = run_import(api, ds, import_path=root, import_folder="batch1")
    assert counts(t) == (2, 2, 2, 0, 2, 0, 0), t
    s = by_name(api, ds)
    paths = sorted(x["sample_dir"] + x["sample_name"] for x in s.values())
    assert paths == [inp + "batch1/cat/a.jpg", inp + "batch1/dog/b.jpg"], paths
    assert names_of(s["a.jpg"]) == ["cat"] and names_of(s["b.jpg"]) == ["dog"]
    assert server.objects.get(inp + "batch1/cat/a.jpg") == server.objects.get(root + "cat/a.jpg")
    # The same folder again: the same samples, updated, not duplicated; a source changed meanwhile is copied anew.
    server.objects.put(root + "cat/a.jpg", "new image bytes")
    t = run_import(api, ds, import_path=root, import_folder="batch1/")
    assert counts(t) == (2, 2, 0, 2, 2, 0, 0), t
    assert len(api.all_samples(ds)) == 2
    assert server.objects.get(inp + "batch1/cat/a.jpg") == b"new image bytes"
    # Importing the storage itself with the folder leaves the copies alone (they are samples already).
    files(server, inp, "extra/c.jpg")
    t = run_import(api, ds, import_path=inp, import_folder="batch1")
    assert counts(t) == (1, 1, 1, 0, 1, 0, 0), t  # c.jpg, labeled "extra" by its folder
    assert len(api.all_samples(ds)) == 3 and server.objects.get(inp + "batch1/extra/c.jpg") == b"img"
    assert not [n for n in server.objects.list(inp + "batch1/") if n.split("/")[0] == "batch1"]
    assert_stats_exact(api, ds)


def test_import_folder_without_samples_only_labels_existing_copies(api, server):
    ds, inp = api.create(type_=0)
    root = folder("copylab")
    files(server, root, "a.jpg", "b.jpg")
    m1 = write_manifest(server, root + "1.manifest", [line(root + "a.jpg")])
    t = run_import(api, ds, import_path=m1, import_folder="f")
    assert counts(t)[:3] == (1, 1, 1), t
    copy_a = inp + "f/" + root[1:] + "a.jpg"
    m2 = write_manifest(server, root + "2.manifest", [
        line(root + "a.jpg", [{"type": "modelarts/image_classification", "name": "cat"}]),
        line(root + "b.jpg", [{"type": "modelarts/image_classification", "name": "dog"}])])
    t = run_import(api, ds, import_path=m2, import_folder="f", import_samples=False)
    assert t["imported_sample_count"] == 0 and t["updated_sample_count"] == 1 and t["failed_sample_count"] == 0, t
    (smp,) = api.all_samples(ds)
    assert smp["sample_dir"] + smp["sample_name"] == copy_a and names_of(smp) == ["cat"]
    # b had no copy: nothing of it was copied or defined
    assert not server.objects.exists(inp + "f/" + root[1:] + "b.jpg")
    assert label_set(api, ds) == {(0, "cat")}
    assert_stats_exact(api, ds)


def test_import_folder_from_a_manifest_keeps_the_source_keys(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("copyman")
    files(server, root, "x/1.jpg")
    m = write_manifest(server, root + "in.manifest", [line(root + "x/1.jpg", [{"type": "modelarts/image_classification", "name": "a"}])])
    t = run_import(api, ds, import_path=m, import_folder="imp")
    assert counts(t)[:3] == (1, 1, 1), t
    inner = api.dataset(ds)["inner_work_path"]
    (smp,) = api.all_samples(ds)
    src = smp["sample_dir"] + smp["sample_name"]
    assert src.startswith(inner + "data/imp/") and src == inner + "data/imp/" + root[1:] + "x/1.jpg", src


@pytest.mark.parametrize("folder_name", ["../up", "/abs", "a//b", ".", "a/../b", ""])
def test_import_folder_must_stay_inside(api, server, folder_name):
    ds, _ = api.create(type_=0, no_source=True)
    r = api.post(tasks_path(ds), json={"import_path": folder("x"), "import_folder": folder_name})
    assert r.status_code == 400 and "import_folder" in r.text, r.text


def test_import_folder_not_for_tables(api, server):
    ds, _ = api.create(type_=400, no_source=True, schema=SCHEMA)
    r = api.post(tasks_path(ds), json={"import_path": folder("x"), "import_folder": "f"})
    assert r.status_code == 400 and "import_folder" in r.text, r.text


def coco_file(images, annotations, categories=({"id": 1, "name": "car"}, {"id": 2, "name": "bus"})):
    return json.dumps({"info": {"description": "test"}, "images": images, "annotations": annotations,
                       "categories": list(categories)})


def test_folder_coco_instances(api, server):
    ds, _ = api.create(type_=1, no_source=True)
    root = folder("coco")
    files(server, root, "images/a.jpg", "images/b.jpg", "images/c.jpg", "images/d.jpg", "beside.jpg")
    server.objects.put(root + "annotations/instances_default.json", coco_file(
        [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 480},
         {"id": 2, "file_name": "b.jpg", "width": 640, "height": 480},
         {"id": 3, "file_name": "c.jpg"},                                   # bad category below
         {"id": 4, "file_name": "gone.jpg"},                                # no such image
         {"id": 5, "file_name": "d.jpg"},                                   # no annotations: unlabeled
         {"id": 6, "file_name": "../../escape.jpg"},                        # never looked up outside
         {"id": 7, "file_name": "beside.jpg"}],
        [{"id": 10, "image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 40], "iscrowd": 0},
         {"id": 11, "image_id": 1, "category_id": 2, "bbox": [0, 0, 5.5, 6]},
         {"id": 12, "image_id": 2, "category_id": 2, "bbox": [1, 2, 3, 4], "score": 0.5},
         {"id": 13, "image_id": 3, "category_id": 9, "bbox": [1, 2, 3, 4]},
         {"id": 14, "image_id": 7, "category_id": 1, "bbox": [1, 1, -3, 4]}]))
    server.objects.put(root + "annotations/notes.json", json.dumps({"hello": "world"}))   # not a COCO file
    t = run_import(api, ds, import_path=root, annotation_format="COCO")
    assert counts(t) == (8, 8, 3, 0, 2, 0, 5), t
    reasons = failures(t)
    assert any("category_id" in r for r in reasons.values()), reasons
    assert any("gone.jpg was not found" in r for r in reasons.values()), reasons
    assert any("escape.jpg" in k or "escape.jpg" in r for k, r in reasons.items()), reasons
    assert any("positive size" in r for r in reasons.values()), reasons
    assert any("not a COCO instance file" in r for r in reasons.values()), reasons
    s = by_name(api, ds)
    assert sorted(s) == ["a.jpg", "b.jpg", "d.jpg"]
    boxes = sorted((l["name"], l["property"]["@modelarts:feature"]) for l in s["a.jpg"]["labels"])
    assert boxes == [("bus", [[0, 0], [5.5, 6]]), ("car", [[10, 20], [40, 60]])], boxes
    assert all(l["property"]["@modelarts:shape"] == "bndbox" and l["type"] == 1 for l in s["a.jpg"]["labels"])
    assert s["a.jpg"]["metadata"]["@modelarts:size"] == [640, 480, 3]
    assert s["b.jpg"]["labels"][0]["score"] == 0.5
    assert s["d.jpg"]["labels"] == []
    assert label_set(api, ds) == {(1, "car"), (1, "bus")}
    assert_stats_exact(api, ds)
    # The same folder again updates the same samples.
    t = run_import(api, ds, import_path=root, annotation_format="COCO")
    assert t["imported_sample_count"] == 0 and t["updated_sample_count"] == 3, t
    assert len(api.all_samples(ds)) == 3


def test_folder_yolo_with_lists(api, server):
    ds, _ = api.create(type_=1, no_source=True)
    root = folder("yolo")
    server.objects.put(root + "obj.names", "car\nbus\n")
    server.objects.put(root + "obj.data", "classes = 2\nnames = data/obj.names\ntrain = data/train.txt\nvalid = data/valid.txt\n")
    server.objects.put(root + "train.txt", "data/obj_train_data/a.png\ndata/obj_train_data/b.jpg\n"
                                         "data/obj_train_data/missing.png\ndata/obj_train_data/d.png\n")
    server.objects.put(root + "valid.txt", "data/obj_valid_data/c.png\r\n../escape.png\n")
    server.objects.put(root + "obj_train_data/a.png", png(200, 100))
    server.objects.put(root + "obj_train_data/a.txt", "0 0.5 0.5 0.5 0.5\n1 0.1 0.1 0.2 0.2\n\n")
    server.objects.put(root + "obj_train_data/b.jpg", b"\xff\xd8not a real jpeg")
    server.objects.put(root + "obj_train_data/b.txt", "0 0.5 0.5 0.1 0.1\n")
    server.objects.put(root + "obj_train_data/d.png", png(10, 10))
    server.objects.put(root + "obj_train_data/d.txt", "5 0.5 0.5 0.1 0.1\n")
    server.objects.put(root + "obj_valid_data/c.png", png(64, 64))
    t = run_import(api, ds, import_path=root, annotation_format="YOLO")
    assert counts(t) == (6, 6, 2, 0, 1, 0, 4), t
    reasons = " | ".join(f"{k}: {v}" for k, v in failures(t).items())
    assert "cannot be read from its header" in reasons and "missing.png does not exist" in reasons, reasons
    assert "class 5 is not in obj.names" in reasons and "escape.png" in reasons, reasons
    s = by_name(api, ds)
    assert sorted(s) == ["a.png", "c.png"]
    boxes = sorted((l["name"], l["property"]["@modelarts:feature"]) for l in s["a.png"]["labels"])
    assert boxes == [("bus", [[0, 0], [40, 20]]), ("car", [[50, 25], [150, 75]])], boxes
    assert s["a.png"]["metadata"]["@modelarts:size"] == [200, 100, 3]
    assert s["a.png"]["sample_usage"] == "TRAIN" and s["c.png"]["sample_usage"] == "EVAL"
    assert s["c.png"]["labels"] == []
    assert label_set(api, ds) == {(1, "car")} | {(1, "bus")}
    assert_stats_exact(api, ds)


def test_folder_yolo_without_lists_and_without_names(api, server):
    ds, _ = api.create(type_=1, no_source=True)
    root = folder("yolo2")
    server.objects.put(root + "obj.names", "person\n")
    server.objects.put(root + "obj_train_data/x.png", png(100, 100))
    server.objects.put(root + "obj_train_data/x.txt", "0 0.5 0.5 1 1\n")
    server.objects.put(root + "obj_valid_data/y.png", png(50, 50))
    server.objects.put(root + "obj_valid_data/notes.md", "not an image")
    t = run_import(api, ds, import_path=root, annotation_format="YOLO")
    assert counts(t) == (2, 2, 2, 0, 1, 0, 0), t
    s = by_name(api, ds)
    assert s["x.png"]["labels"][0]["property"]["@modelarts:feature"] == [[0, 0], [100, 100]]
    assert (s["x.png"]["sample_usage"], s["y.png"]["sample_usage"]) == ("TRAIN", "EVAL")
    # Without obj.names the task fails with the reason.
    ds2, _ = api.create(type_=1, no_source=True)
    t = wait_task(api, ds2, start(api, ds2, import_path=folder("yolo3"), annotation_format="YOLO"))
    assert t["status"] == "FAILED" and "obj.names" in t["error_msg"], t


@pytest.mark.parametrize("doc", [
    '{"images":[{"file_name":"a.jpg","id":1}],"annotations":[[7]],"categories":[]}',
    '{"images":[{"bbox":0}],"annotations":[[[5]]],"categories":[]}',
    '{"images":[[{"file_name":"a.jpg","id":1}]],"annotations":[{"bbox":[[1,2],3,4,5]}],"categories":[[1]]}',
    '{"images":[{"id":1,"file_name":"a.jpg","x":{"id":9,"file_name":"b.jpg"}}],"annotations":[],"categories":[{"id":1}]}',
    '[{"images":[],"annotations":[],"categories":[]}]',
    '{"images":{"a":1},"annotations":[],"categories":[]}',
])
def test_coco_odd_structures_fail_cleanly(api, server, doc):
    ds, _ = api.create(type_=1, no_source=True)
    root = folder("cocoodd")
    files(server, root, "a.jpg", "b.jpg")
    server.objects.put(root + "x.json", doc)
    t = run_import(api, ds, import_path=root, annotation_format="COCO")
    assert t["processed_sample_count"] == t["total_sample_count"], t
    assert server.proc.poll() is None
    assert all(x["sample_name"] == "a.jpg" for x in api.all_samples(ds))


def test_coco_and_yolo_only_for_detection_folders(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    for f in ("COCO", "YOLO"):
        r = api.post(tasks_path(ds), json={"import_path": folder("x"), "annotation_format": f})
        assert r.status_code == 400 and "annotation_format" in r.text, r.text
    ds, _ = api.create(type_=1, no_source=True)
    m = write_manifest(server, folder("ym") + "a.manifest", [line(folder("ym") + "a.jpg")])
    for body in ({"import_path": folder("x"), "annotation_format": "DARKNET"},
                 {"import_path": m, "annotation_format": "YOLO"}):
        r = api.post(tasks_path(ds), json=body)
        assert r.status_code == 400 and "annotation_format" in r.text, r.text


def test_folder_empty_or_absent(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    t = run_import(api, ds, import_path=folder("nothing"))
    assert counts(t) == (0, 0, 0, 0, 0, 0, 0), t
    assert api.all_samples(ds) == []


def test_large_folder_in_several_batches(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("big")
    n = 1203
    for i in range(n):
        server.objects.put(root + f"c{i % 3}/f{i:05d}.jpg", b"x")
        if i % 100 == 0:
            server.objects.put(root + f"c{i % 3}/f{i:05d}.xml", b"<not an image/>")
    t = run_import(api, ds, import_path=root)
    assert counts(t) == (n, n, n, 0, n, 0, 0), t
    st = assert_stats_exact(api, ds)
    assert {(l["name"], l["count"]) for l in st["label_stats"]} == {("c0", 401), ("c1", 401), ("c2", 401)}


# ------------------------------------------------------------------ list and get

def test_list_and_get_tasks(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    other, _ = api.create(type_=0, no_source=True)
    root = folder("lst")
    files(server, root, "a.jpg")
    m = write_manifest(server, root + "l.manifest", [line(root + "a.jpg")])
    tids = [run_import(api, ds, import_path=m)["task_id"] for _ in range(3)]
    body = api.get(tasks_path(ds)).json()
    assert body["total_count"] == 3
    assert [t["task_id"] for t in body["import_tasks"]] == tids[::-1]  # newest first
    for t in body["import_tasks"]:
        assert t["status"] == "COMPLETED" and t["dataset_id"] == ds and t["import_path"] == m
    p0 = api.get(tasks_path(ds), params={"limit": 2}).json()
    p1 = api.get(tasks_path(ds), params={"limit": 2, "offset": 1}).json()
    assert p0["total_count"] == p1["total_count"] == 3
    assert [t["task_id"] for t in p0["import_tasks"] + p1["import_tasks"]] == tids[::-1]
    assert api.get(tasks_path(ds), params={"limit": 2, "offset": 2}).json()["import_tasks"] == []
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"offset": -1}):
        assert_err(api.get(tasks_path(ds), params=bad), 400, "ModelArts.0101")
    # the default page is 10 tasks
    empty = folder("none")
    tids += [run_import(api, ds, import_path=empty)["task_id"] for _ in range(9)]
    body10 = api.get(tasks_path(ds)).json()
    assert body10["total_count"] == 12 and [t["task_id"] for t in body10["import_tasks"]] == tids[::-1][:10]
    last = api.get(tasks_path(ds), params={"offset": 1}).json()["import_tasks"]
    assert [t["task_id"] for t in last] == tids[:2][::-1]
    # get
    got = api.get(tasks_path(ds, tids[0])).json()
    assert got == body["import_tasks"][2] == last[1]
    assert_err(api.get(tasks_path(ds, "NoSuchTask00000000")), 400, "ModelArts.4359")
    assert_err(api.get(tasks_path(other, tids[0])), 400, "ModelArts.4359")  # a task of another dataset
    assert api.get(tasks_path(other)).json() == {"total_count": 0, "import_tasks": []}
    # a sync task of the dataset is no import task
    ds2, _ = api.create(type_=0)
    sync = api.wait_sync(ds2)
    assert_err(api.get(tasks_path(ds2, sync["task_id"])), 400, "ModelArts.4359")
    assert api.get(tasks_path(ds2)).json()["total_count"] == 0


# ------------------------------------------------------------------ validation

def test_validation_errors_create_nothing(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("val")
    files(server, root, "a.jpg")
    m = write_manifest(server, root + "v.manifest", [line(root + "a.jpg", cls("cat"))])
    cases = [
        ({}, "ModelArts.0101", "import_path"),
        ({"import_path": 7}, "ModelArts.0101", "import_path"),
        ({"import_path": ""}, "ModelArts.0101", "import_path"),
        ({"import_path": "relative/path.manifest"}, "ModelArts.0101", "import_path"),
        ({"import_path": "/" + BUCKET + "/" + "k" * 1100}, "ModelArts.0101", "import_path"),
        ({"import_path": m, "import_type": "zip"}, "ModelArts.0101", "import_type"),
        ({"import_path": m, "import_type": 2}, "ModelArts.0101", "import_type"),
        ({"import_path": root, "import_type": "manifest"}, "ModelArts.0101", "import_path"),
        ({"import_path": m, "import_origin": "dws"}, "ModelArts.0101", "import_origin"),
        ({"import_path": m, "import_origin": 1}, "ModelArts.0101", "import_origin"),
        ({"import_path": m, "import_annotations": "yes"}, "ModelArts.0101", "import_annotations"),
        ({"import_path": m, "import_samples": 0}, "ModelArts.0101", "import_samples"),
        ({"import_path": m, "final_annotation": "false"}, "ModelArts.0101", "final_annotation"),
        ({"import_path": m, "difficult_only": []}, "ModelArts.0101", "difficult_only"),
        ({"import_path": m, "included_labels": "cat"}, "ModelArts.0101", "included_labels"),
        ({"import_path": m, "included_labels": [5]}, "ModelArts.0101", "included_labels[0]"),
        ({"import_path": m, "excluded_labels": [{"name": "ok"}, {"type": 0}]}, "ModelArts.0101", "excluded_labels[1]"),
        ({"import_path": m, "included_tags": [{"name": 3}]}, "ModelArts.0101", "included_tags[0]"),
        ({"import_path": m, "annotation_format": "COCO"}, "ModelArts.0101", "annotation_format"),
        ({"import_path": m, "annotation_format": "YAML"}, "ModelArts.0101", "annotation_format"),
        ({"import_path": m, "import_folder": 5}, "ModelArts.0101", "import_folder"),
        ({"import_path": "/nobkt" + unique().lower() + "/x.manifest"}, "ModelArts.4374", None),
        ({"import_path": "/nobkt" + unique().lower() + "/dir/"}, "ModelArts.4374", None),
        ({"import_path": root + "missing.manifest"}, "ModelArts.4374", "missing.manifest"),
        ({"import_path": "obs:/" + root + "missing.manifest", "import_type": "manifest"}, "ModelArts.4374", None),
    ]
    for body, code, field in cases:
        assert_err(api.post(tasks_path(ds), json=body), 400, code, field)
    r = api.post(tasks_path(ds), data="{not json", headers={"Content-Type": "application/json"})
    assert_err(r, 400)
    assert api.get(tasks_path(ds)).json() == {"total_count": 0, "import_tasks": []}
    assert api.all_samples(ds) == [] and api.labels(ds) == []
    # unknown dataset
    assert_err(api.post(tasks_path("NoSuchDataset000000"), json={"import_path": m}), 400, "ModelArts.4352")
    assert_err(api.get(tasks_path("NoSuchDataset000000")), 400, "ModelArts.4352")
    assert_err(api.get(tasks_path("NoSuchDataset000000", "x")), 400, "ModelArts.4352")
    # a deleted dataset is unknown too
    gone, _ = api.create(type_=0, no_source=True)
    assert api.delete(f"/datasets/{gone}").status_code == 204
    assert_err(api.post(tasks_path(gone), json={"import_path": m}), 400, "ModelArts.4352")
    # and the valid body works
    t = run_import(api, ds, import_path=m, import_folder="sub", import_origin="obs", annotation_format="VOC")
    assert counts(t)[:3] == (1, 1, 1)


def slow_manifest(server, n=60000):
    """A manifest whose import takes a while: lines naming files that do not exist."""
    root = folder("slow")
    return write_manifest(server, root + "s.manifest", [line(f"{root}missing{i}.jpg") for i in range(n)])


def test_second_import_while_one_runs_is_refused(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    other, _ = api.create(type_=0, no_source=True)
    m = slow_manifest(server)
    tid = start(api, ds, import_path=m)
    assert_err(api.post(tasks_path(ds), json={"import_path": m}), 400, "ModelArts.4356", ds)
    busy = api.get(f"/datasets/{ds}?check_running_task=true").json()
    assert busy["exist_running_task"] is True and tid in busy["running_tasks_id"], busy
    # another dataset may import meanwhile (queued behind)
    tid2 = start(api, other, import_path=m)
    t = wait_task(api, ds, tid, timeout=60)
    assert t["status"] == "COMPLETED" and counts(t) == (60000, 60000, 0, 0, 0, 0, 60000), t
    assert len(t["failures"]) == 100
    assert wait_task(api, other, tid2, timeout=60)["status"] == "COMPLETED"
    # once it is done another one is accepted
    run_import(api, ds, import_path=folder("empty"))
    assert api.get(tasks_path(ds)).json()["total_count"] == 2


def test_manifest_gone_before_the_task_runs_fails_it(api, server):
    ds, _ = api.create(type_=0, no_source=True)
    blocker, _ = api.create(type_=0, no_source=True)
    root = folder("gone")
    m = write_manifest(server, root + "g.manifest", [line(root + "a.jpg")])
    first = start(api, blocker, import_path=slow_manifest(server))  # the worker is busy with this one
    tid = start(api, ds, import_path=m)
    queued = api.get(tasks_path(ds, tid)).json()
    assert queued["status"] == "QUEUING" and counts(queued) == (0,) * 7, queued
    assert_err(api.post(tasks_path(ds), json={"import_path": m}), 400, "ModelArts.4356")  # a queued one counts too
    assert server.objects.delete(m)
    t = wait_task(api, ds, tid, timeout=60)
    assert t["status"] == "FAILED", t
    assert t["error_code"] == "ModelArts.4374" and "g.manifest" in t["error_msg"], t
    assert api.all_samples(ds) == []
    assert wait_task(api, blocker, first, timeout=60)["status"] == "COMPLETED"


# ------------------------------------------------------------------ cross-project isolation

def test_cross_project_isolation(api, server, second_project):
    pid_x, hx = second_project
    bx = Api(server, hx, pid_x)
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("iso")
    files(server, root, "a.jpg")
    m = write_manifest(server, root + "i.manifest", [line(root + "a.jpg", cls("cat"))])
    tid = run_import(api, ds, import_path=m)["task_id"]
    for r in (bx.post(tasks_path(ds), json={"import_path": m}), bx.get(tasks_path(ds)), bx.get(tasks_path(ds, tid))):
        assert ds in assert_err(r, 400, "ModelArts.4352")["error_msg"]
    # B's own dataset does not reach A's task either
    dsb, _ = bx.create(type_=0, no_source=True)
    assert_err(bx.get(tasks_path(dsb, tid)), 400, "ModelArts.4359")
    assert bx.get(tasks_path(dsb)).json()["total_count"] == 0
    # a token of one project on the other project's URL
    r = requests.post(f"{server.base}/v2/{pid_x}{tasks_path(dsb)}", headers=api.h, json={"import_path": m})
    assert_err(r, 403, "ModelArts.0210")
    # A's dataset was not touched; B can import into its own
    assert api.get(tasks_path(ds)).json()["total_count"] == 1 and len(api.all_samples(ds)) == 1
    t = run_import(bx, dsb, import_path=m)
    assert counts(t)[:3] == (1, 1, 1)
    assert len(api.all_samples(ds)) == 1 and len(bx.all_samples(dsb)) == 1


# ------------------------------------------------------------------ crash safety

@pytest.fixture
def own():
    """A private server (it gets killed): (server, api of its owner)."""
    s = Server()
    tok, body = token_for(s.base, "admin", ADMIN_PASSWORD, "admin", project="local")
    s.project_id = body["project"]["id"]
    s.admin_token = tok
    yield s, Api(s, {"X-Auth-Token": tok})
    s.cleanup()


def restart(s):
    """A new server process on the data dir of `s` (whose process is gone)."""
    s.restart()
    return Api(s, {"X-Auth-Token": s.admin_token})


def kill_midway(s, api, ds, tid, after=0, timeout=30, total=None):
    """SIGKILLs the server once the task runs and has processed more than `after` items; returns the last progress.
    `total`: the number of items, for a folder import, whose count may not show yet."""
    def midway():
        t = api.get(tasks_path(ds, tid)).json()
        if t["status"] == "RUNNING" and t["processed_sample_count"] > after:
            return t
        assert t["status"] in ("QUEUING", "RUNNING"), t
    t = wait_until(midway, timeout, interval=0.003, what=f"import {tid} to pass {after} items")
    os.kill(s.proc.pid, signal.SIGKILL)
    s.proc.wait(timeout=10)
    assert t["processed_sample_count"] < (total or t["total_sample_count"]), t  # killed in the middle
    return t["processed_sample_count"]


def many_files(s, root, names):
    """One-byte objects root + name for every name (put_many: much faster than a put each)."""
    s.objects.put_many([root + n for n in names], b"x")


def test_manifest_import_killed_twice_resumes_after_restart(own):
    s, api = own
    ds, _ = api.create(type_=0, labels=[{"name": "c0"}], no_source=True)
    n = 30000
    root = f"/{BUCKET}/crash/"
    bad = [i + 1 for i in range(n) if i % 1000 == 999]  # these lines name a file that is not there
    many_files(s, root, [f"img/{i}.jpg" for i in range(n) if i + 1 not in bad])
    m = write_manifest(s, root + "big.manifest",
                       [line(f"obs:/{root}img/{i}.jpg", cls(f"c{i % 5}"), usage="TRAIN" if i % 2 else "EVAL")
                        for i in range(n)])
    tid = start(api, ds, import_path=m)
    first = kill_midway(s, api, ds, tid)
    api = restart(s)
    kill_midway(s, api, ds, tid, after=first)  # and once more while it resumes
    api = restart(s)
    t = wait_task(api, ds, tid, timeout=60)
    assert t["status"] == "COMPLETED", t
    good = n - len(bad)
    assert counts(t) == (n, n, good, 0, good, 0, len(bad)), t
    assert [f["file"] for f in t["failures"]] == [f"line {i}" for i in bad], t["failures"]
    assert t["file_statistics"]["file_num_finished"] == n
    assert t["file_statistics"]["file_size_finished"] == t["file_statistics"]["file_size_total"] == \
        len(s.objects.get(m))
    # every sample exactly once, with its label and usage; counters match a full recount
    samples = api.all_samples(ds)
    assert len(samples) == good
    seen = set()
    for x in samples:
        i = int(x["sample_name"].split(".")[0])
        assert i not in seen and i + 1 not in bad, x
        seen.add(i)
        assert names_of(x) == [f"c{i % 5}"] and x["sample_usage"] == ("TRAIN" if i % 2 else "EVAL"), x
    assert label_set(api, ds) == {(0, f"c{k}") for k in range(5)}
    st = assert_stats_exact(api, ds)
    assert st["sample_stats"]["manual_annotation"] == good
    per_label = {f"c{k}": 0 for k in range(5)}
    for i in seen:
        per_label[f"c{i % 5}"] += 1
    assert {l["name"]: (l["count"], l["sample_count"]) for l in st["label_stats"]} == \
        {k: (v, v) for k, v in per_label.items()}
    assert api.get(tasks_path(ds)).json()["total_count"] == 1


def test_coco_import_killed_resumes_after_restart(own):
    s, api = own
    ds, _ = api.create(type_=1, no_source=True)
    root = f"/{BUCKET}/cococrash/"
    n = 20000
    many_files(s, root, [f"images/{i}.jpg" for i in range(n) if i % 997])  # every 997th image is missing
    for part in range(2):  # two instance files, resumed across
        ids = range(part * n // 2, (part + 1) * n // 2)
        s.objects.put(root + f"annotations/instances_{part}.json", coco_file(
            [{"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 100} for i in ids],
            [{"id": i, "image_id": i, "category_id": 1 + i % 2, "bbox": [1, 1, 10, 10]} for i in ids]))
    tid = start(api, ds, import_path=root, annotation_format="COCO")
    kill_midway(s, api, ds, tid)
    api = restart(s)
    t = wait_task(api, ds, tid, timeout=60)
    assert t["status"] == "COMPLETED", t
    missing = len([i for i in range(n) if i % 997 == 0])
    assert counts(t) == (n, n, n - missing, 0, n - missing, 0, missing), t
    samples = api.all_samples(ds)
    assert len(samples) == n - missing and len({x["sample_name"] for x in samples}) == n - missing
    assert all(names_of(x) == [("car", "bus")[int(x["sample_name"].split(".")[0]) % 2]] for x in samples)
    assert_stats_exact(api, ds)


def test_folder_import_killed_resumes_after_restart(own):
    s, api = own
    ds, _ = api.create(type_=0, no_source=True)
    n = 20000
    root = f"/{BUCKET}/crashdir/"
    names = [f"k{i % 4}/{i:05d}.jpg" for i in range(n)]
    many_files(s, root, names)
    many_files(s, root, [f"k{i % 4}/{i:05d}.xml" for i in range(0, n, 97)])  # not images: passed over
    tid = start(api, ds, import_path=root)
    kill_midway(s, api, ds, tid, total=n)  # the files are counted meanwhile: the total may not show yet
    api = restart(s)
    t = wait_task(api, ds, tid, timeout=60)
    assert t["status"] == "COMPLETED", t
    assert counts(t) == (n, n, n, 0, n, 0, 0), t
    assert t["file_statistics"]["file_size_finished"] == t["file_statistics"]["file_size_total"] == n
    samples = api.all_samples(ds)
    assert sorted(x["sample_dir"][len(root):] + x["sample_name"] for x in samples) == sorted(names)
    st = assert_stats_exact(api, ds)
    assert {(l["name"], l["count"]) for l in st["label_stats"]} == {(f"k{k}", n // 4) for k in range(4)}


def test_queued_import_survives_restart(own):
    """An import still QUEUING when the server stops runs after the restart."""
    s, api = own
    blocker, _ = api.create(type_=0, no_source=True)
    ds, _ = api.create(type_=0, no_source=True)
    root = folder("queued")
    many_files(s, root, [f"{i}.jpg" for i in range(3)])
    m = write_manifest(s, root + "q.manifest", [line(root + f"{i}.jpg", cls("cat")) for i in range(3)])
    first = start(api, blocker, import_path=slow_manifest(s))
    tid = start(api, ds, import_path=m)
    assert api.get(tasks_path(ds, tid)).json()["status"] == "QUEUING"
    os.kill(s.proc.pid, signal.SIGKILL)
    s.proc.wait(timeout=10)
    api = restart(s)
    assert wait_task(api, blocker, first, timeout=60)["status"] == "COMPLETED"
    t = wait_task(api, ds, tid)
    assert t["status"] == "COMPLETED" and counts(t) == (3, 3, 3, 0, 3, 0, 0), t
    assert_stats_exact(api, ds)


def test_dataset_deleted_while_its_import_runs(own):
    s, api = own
    root = f"/{BUCKET}/deleted/"
    n = 10000
    many_files(s, root, [f"{i}.txt" for i in range(n) if i % 100])
    m = write_manifest(s, root + "d.manifest", [line(f"content://text {i}" if i % 100 == 0 else f"{root}{i}.txt",
                                                     [{"type": "modelarts/text_classification", "name": "c"}])
                                                for i in range(n)])
    files(s, root, "z.jpg")
    z = write_manifest(s, root + "z.manifest", [line(root + "z.jpg")])
    # What happens is undefined; several rounds make a clean pass by chance unlikely.
    for _ in range(4):
        ds, _ = api.create(type_=100, no_source=True)
        inner = api.dataset(ds)["inner_work_path"]
        tid = start(api, ds, import_path=m)
        wait_until(lambda: api.get(tasks_path(ds, tid)).json()["processed_sample_count"] > 0, 30, interval=0.003,
                   what="the import to begin")
        assert api.delete(f"/datasets/{ds}").status_code == 204
        # the next import (queued behind the interrupted one) runs on a server that is still up
        other, _ = api.create(type_=0, no_source=True)
        t = run_import(api, other, import_path=z)
        assert counts(t)[:3] == (1, 1, 1)
        assert s.proc.poll() is None
        assert_err(api.get(tasks_path(ds, tid)), 400, "ModelArts.4352")
        # nothing was written for the deleted dataset after it was deleted
        left = s.objects.list(inner)
        assert left == [], left[:5]


def _wait_import(api, ds, tid, timeout=60):
    def finished():
        t = api.get(f"/datasets/{ds}/import-tasks/{tid}").json()
        return t if t["status"] in ("COMPLETED", "FAILED") else None
    return wait_until(finished, timeout, what=f"import {tid} to finish")


def test_text_folder_layouts_combine_and_separate(api, server):
    # combine: text<TAB>label,label per line
    ds, _ = api.create(type_=100, no_source=True)
    f = folder("txtc")
    server.objects.put(f + "reviews.txt", "great phone\tpositive\nbroken on arrival\tnegative,refund\n\nno separator here\n")
    r = api.post(f"/datasets/{ds}/import-tasks", json={"import_path": f, "import_type": "dir",
                                                        "label_format": {"label_type": "1"}})
    assert r.status_code == 200, r.text
    t = _wait_import(api, ds, r.json()["task_id"])
    assert (t["status"], t["imported_sample_count"], t["failed_sample_count"]) == ("COMPLETED", 2, 1), t
    assert t["failures"][0]["file"].endswith("reviews.txt line 4")
    got = {}
    for s in api.all_samples(ds):
        body = requests.get(s["source"], headers=api.h, timeout=30)
        assert body.status_code == 200
        got[body.content.decode()] = sorted(l["name"] for l in s["labels"])
    assert got == {"great phone": ["positive"], "broken on arrival": ["negative", "refund"]}
    assert_stats_exact(api, ds)
    # separate: x.txt with x_result.txt beside it (found without label_format), custom label separator
    ds2, _ = api.create(type_=100, no_source=True)
    g = folder("txts")
    server.objects.put(g + "a.txt", "first line\nsecond line\nthird line\n")
    server.objects.put(g + "a_result.txt", "x\ny;z\n")
    r = api.post(f"/datasets/{ds2}/import-tasks", json={"import_path": g, "import_type": "dir",
                                                         "label_format": {"label_type": 0, "text_label_separator": ";"}})
    t = _wait_import(api, ds2, r.json()["task_id"])
    assert (t["status"], t["imported_sample_count"], t["failed_sample_count"]) == ("COMPLETED", 3, 0), t
    got = {}
    for s in api.all_samples(ds2):
        got[requests.get(s["source"], headers=api.h, timeout=30).content.decode()] = sorted(l["name"] for l in s["labels"])
    assert got == {"first line": ["x"], "second line": ["y", "z"], "third line": []}
    assert_stats_exact(api, ds2)
    for bad in ({"label_type": 2}, {"text_sample_separator": "ab"}, {"text_label_separator": "\n"}):
        assert_err(api.post(f"/datasets/{ds2}/import-tasks", json={"import_path": g, "label_format": bad}), 400,
                   "ModelArts.0101", "label_format")
    img, _ = api.create(type_=0, no_source=True)
    assert_err(api.post(f"/datasets/{img}/import-tasks", json={"import_path": g, "label_format": {"label_type": 1}}), 400,
               "ModelArts.0101", "label_format")


def test_export_killed_midway_completes_after_restart(own):
    s, api = own
    ds, _ = api.create(type_=1, labels=[{"name": "car", "type": 1}], no_source=True)
    n = 12000
    root = f"/{BUCKET}/xcrash/"
    many_files(s, root, [f"img/{i}.jpg" for i in range(n)])
    s.objects.put(root + "one.xml", voc([("car", box(1, 2, 30, 40), None)]))
    m = write_manifest(s, root + "in.manifest",
                       [line(f"obs:/{root}img/{i}.jpg", [{"type": "modelarts/object_detection",
                                                        "annotation-loc": f"obs:/{root}one.xml"}]) for i in range(n)])
    t = wait_task(api, ds, start(api, ds, import_path=m), timeout=120)
    assert t["status"] == "COMPLETED" and t["imported_sample_count"] == n, t
    out = f"/{BUCKET}/xout/"
    s.objects.put(out, b"")  # the folder exists
    r = api.post(f"/datasets/{ds}/export-tasks", json={"path": out, "annotation_format": "VOC"})
    assert r.status_code == 200, r.text
    eid = r.json()["task_id"]
    def midway():  # kill it in the middle of writing the files
        e = api.get(f"/datasets/{ds}/export-tasks/{eid}").json()
        if e["status"] == "RUNNING" and 0 < e["finished_sample_count"] < n:
            return e
        assert e["status"] in ("INIT", "RUNNING"), e
    e = wait_until(midway, 60, interval=0.003, what="the export to be midway")
    os.kill(s.proc.pid, signal.SIGKILL)
    s.proc.wait(timeout=10)
    assert not s.objects.exists(e["manifest_path"])  # a manifest appears only when complete
    api = restart(s)
    def finished():
        e = api.get(f"/datasets/{ds}/export-tasks/{eid}").json()
        assert e["status"] in ("INIT", "RUNNING", "SUCCESSED"), e
        return e if e["status"] == "SUCCESSED" else None
    e = wait_until(finished, 120, what="the resumed export to finish")
    assert e["finished_sample_count"] == e["total_sample_count"] == n
    lines = [json.loads(x) for x in s.objects.text(e["manifest_path"]).splitlines() if x.strip()]
    assert len(lines) == n and len({x["source"] for x in lines}) == n
    for x in lines[:: n // 50]:  # every referenced copy and VOC file is there and whole
        assert s.objects.get(x["source"]) == b"x"
        assert "<xmin>1</xmin>" in s.objects.text(x["annotation"][0]["annotation-loc"])
    # the export folder can be imported again, with every sample and box
    ds2, _ = api.create(type_=1, no_source=True)
    t = wait_task(api, ds2, start(api, ds2, import_path=e["manifest_path"]), timeout=120)
    assert (t["status"], t["imported_sample_count"], t["failed_sample_count"]) == ("COMPLETED", n, 0), t
    assert_stats_exact(api, ds2)
