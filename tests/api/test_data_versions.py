"""Dataset versions: publishing freezes the samples and their
annotations into a manifest (one JSON line a sample) in the work path, as a task;
list, get, delete; the version becomes current; deleting the dataset takes
its versions with it."""
import json

from conftest import wait_until
from datahelpers import assert_err, b64


def wait_published(api, ds, vid, timeout=30):
    def published():
        v = api.get(f"/datasets/{ds}/versions/{vid}").json()
        if v["status"] == 1:
            return v
        assert v["status"] == 0, v
    return wait_until(published, timeout, what=f"version {vid} to be published")


def manifest_lines(server, v):
    return [json.loads(l) for l in server.objects.text(v["manifest_path"]).splitlines() if l.strip()]


def test_publish_classification_freezes_samples(api, server):
    ds, _ = api.create(type_=0, labels=[{"name": "cat"}, {"name": "dog"}])
    api.add(ds, [{"name": "a.jpg", "data": b64(b"a"), "labels": [{"name": "cat", "type": 0}]},
                 {"name": "b.jpg", "data": b64(b"b"), "labels": [{"name": "dog", "type": 0}, {"name": "cat", "type": 0}]},
                 {"name": "c.jpg", "data": b64(b"c")}])
    r = api.post(f"/datasets/{ds}/versions", json={"train_evaluate_sample_ratio": "0.5", "description": "first"})
    assert r.status_code == 201, r.text
    vid = r.json()["version_id"]
    v = wait_published(api, ds, vid)
    assert v["version_name"] == "V001" and v["is_current"] and v["description"] == "first"
    assert (v["total_sample_count"], v["annotated_sample_count"], v["label_type"]) == (3, 2, "multi")
    stats = {(l["name"], l["count"], l["sample_count"]) for l in v["label_stats"]}
    assert stats == {("cat", 2, 2), ("dog", 1, 1)}
    assert v["manifest_path"].endswith("/annotation/V001/V001.manifest")
    lines = manifest_lines(server, v)
    assert len(lines) == 3
    by_name = {l["source"].rsplit("/", 1)[1]: l for l in lines}
    assert by_name["a.jpg"]["source"].startswith("obs://")
    assert [a["name"] for a in by_name["b.jpg"]["annotation"]] == ["dog", "cat"]
    assert all(a["type"] == "modelarts/image_classification" for a in by_name["b.jpg"]["annotation"])
    assert "annotation" not in by_name["c.jpg"]
    assert {by_name["a.jpg"]["usage"], by_name["b.jpg"]["usage"]} <= {"TRAIN", "EVAL"}
    # later edits do not change the published manifest
    api.add(ds, [{"name": "d.jpg", "data": b64(b"d")}])
    assert len(manifest_lines(server, v)) == 3
    d = api.dataset(ds)
    assert d["current_version_id"] == vid and d["current_version_name"] == "V001" and d["dataset_version_count"] == 1


def test_publish_detection_writes_voc(api, server):
    ds, _ = api.create(type_=1, labels=[{"name": "car"}])
    api.add(ds, [{"name": "s.png", "data": b64(b"p"), "metadata": {"@modelarts:size": [640, 480, 3]},
                  "labels": [{"name": "car", "type": 1, "property": {"@modelarts:shape": "bndbox",
                                                                      "@modelarts:feature": [[32, 210], [190, 330]]}}]}])
    vid = api.post(f"/datasets/{ds}/versions", json={}).json()["version_id"]
    v = wait_published(api, ds, vid)
    (line,) = manifest_lines(server, v)
    (ann,) = line["annotation"]
    assert ann["type"] == "modelarts/object_detection" and ann["annotation-format"] == "PASCAL VOC"
    loc = ann["annotation-loc"]
    assert loc.startswith("obs://")
    xml = server.objects.text(loc)
    for piece in ("<width>640</width>", "<height>480</height>", "<name>car</name>",
                  "<xmin>32</xmin><ymin>210</ymin><xmax>190</xmax><ymax>330</ymax>"):
        assert piece in xml, xml


def test_publish_text_entities_inline_content(api, server):
    ds, _ = api.create(type_=101, labels=[{"name": "Person", "type": 101}])
    text = "Ada Lovelace was born in London."
    api.add(ds, [{"name": "t.txt", "data": b64(text.encode()),
                  "labels": [{"name": "Person", "type": 101,
                              "property": {"@modelarts:start_index": 0, "@modelarts:end_index": 12}}]}])
    vid = api.post(f"/datasets/{ds}/versions").json()["version_id"]
    v = wait_published(api, ds, vid)
    (line,) = manifest_lines(server, v)
    assert line["source"] == "content://" + text
    (ann,) = line["annotation"]
    assert ann["type"] == "modelarts/text_entity" and ann["name"] == "Person"
    assert ann["property"] == {"@modelarts:start_index": 0, "@modelarts:end_index": 12}


def test_version_names_list_get_delete(api, server):
    ds, _ = api.create(type_=0, labels=[{"name": "cat"}])
    v1 = api.post(f"/datasets/{ds}/versions", json={"version_name": "first"}).json()["version_id"]
    wait_published(api, ds, v1)
    assert_err(api.post(f"/datasets/{ds}/versions", json={"version_name": "first"}), 400, "ModelArts.4371")
    assert_err(api.post(f"/datasets/{ds}/versions", json={"version_name": "bad name!"}), 400, "ModelArts.0101", "version_name")
    assert_err(api.post(f"/datasets/{ds}/versions", json={"train_evaluate_sample_ratio": "1.5"}), 400, "ModelArts.0101",
               "train_evaluate_sample_ratio")
    v2 = api.post(f"/datasets/{ds}/versions").json()["version_id"]
    v = wait_published(api, ds, v2)
    assert v["version_name"] == "V002" and v["previous_version_id"] == v1
    lst = api.get(f"/datasets/{ds}/versions").json()
    assert lst["total_number"] == 2 and [x["version_id"] for x in lst["versions"]] == [v2, v1]
    assert api.dataset(ds)["current_version_id"] == v2
    with_versions = api.get("/datasets?contain_versions=true&limit=100").json()
    assert ds in [x["dataset_id"] for x in with_versions["datasets"]]
    bare, _ = api.create(type_=0, no_source=True)
    assert bare not in [x["dataset_id"] for x in with_versions["datasets"]]
    assert bare not in [x["dataset_id"] for x in api.get("/datasets?contain_versions=true&limit=100").json()["datasets"]]
    manifest = v["manifest_path"]
    assert server.objects.exists(manifest)
    assert api.delete(f"/datasets/{ds}/versions/{v2}").status_code == 204
    assert not server.objects.exists(manifest)
    assert api.dataset(ds)["current_version_id"] == v1
    assert_err(api.get(f"/datasets/{ds}/versions/{v2}"), 400, "ModelArts.4353")
    # deleting the dataset takes its versions
    assert api.delete(f"/datasets/{ds}").status_code == 204
    assert_err(api.get(f"/datasets/{ds}/versions/{v1}"), 400, "ModelArts.4352")


def test_version_filters_format_and_ratio(api):
    ds, _ = api.create(type_=0, labels=[{"name": "cat"}])
    api.add(ds, [{"name": "a.jpg", "data": b64(b"a"), "labels": [{"name": "cat", "type": 0}]}])
    v1 = api.post(f"/datasets/{ds}/versions", json={"train_evaluate_sample_ratio": "0.80"}).json()["version_id"]
    wait_published(api, ds, v1)
    v2 = api.post(f"/datasets/{ds}/versions", json={"version_format": "CSV"}).json()["version_id"]
    wait_published(api, ds, v2)

    def ids(**params):
        r = api.get(f"/datasets/{ds}/versions", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total_number"] == len(body["versions"])
        return [v["version_id"] for v in body["versions"]]

    assert ids() == [v2, v1]
    assert ids(version_format=2) == [v2]
    assert ids(version_format=0) == [v1]
    assert ids(version_format=1) == []
    assert ids(train_evaluate_ratio="0.7,0.9") == [v1]
    assert ids(train_evaluate_ratio="0.9,1.0") == [v2]
    assert ids(train_evaluate_ratio="0,1", version_format=0) == [v1]
    for bad in ("0.9,0.1", "x,1", "0.5", "0,2"):
        assert_err(api.get(f"/datasets/{ds}/versions", params={"train_evaluate_ratio": bad}), 400, "ModelArts.0101")
    assert_err(api.get(f"/datasets/{ds}/versions", params={"version_format": 3}), 400, "ModelArts.0101")
    # the same filters on the dataset list select datasets having such a version
    other, _ = api.create(type_=0, no_source=True)

    def dids(**params):
        r = api.get("/datasets", params={"limit": 100, **params})
        assert r.status_code == 200, r.text
        return {d["dataset_id"] for d in r.json()["datasets"]}

    assert ds in dids(version_format=2) and other not in dids(version_format=2)
    assert ds not in dids(version_format=1)
    assert ds in dids(train_evaluate_ratio="0.75,0.85") and other not in dids(train_evaluate_ratio="0,1")
    assert ds not in dids(train_evaluate_ratio="0.1,0.2")
    assert {ds, other} <= dids(dataset_version="v2") and {ds, other} <= dids(dataset_version="all")
    assert dids(dataset_version="v1") == set()
    assert_err(api.get("/datasets", params={"dataset_version": "v3"}), 400, "ModelArts.0101")


def test_labels_of_a_version_are_frozen(api):
    ds, _ = api.create(type_=0, labels=[{"name": "cat"}, {"name": "dog"}])
    vid = api.post(f"/datasets/{ds}/versions").json()["version_id"]
    wait_published(api, ds, vid)
    r = api.post(f"/datasets/{ds}/data-annotations/labels", json={"labels": [{"name": "bird"}]})
    assert r.status_code in (200, 201), r.text
    now = {l["name"] for l in api.get(f"/datasets/{ds}/data-annotations/labels").json()["labels"]}
    assert now == {"cat", "dog", "bird"}
    then = api.get(f"/datasets/{ds}/data-annotations/labels", params={"version_id": vid})
    assert then.status_code == 200, then.text
    assert {l["name"] for l in then.json()["labels"]} == {"cat", "dog"}
    assert_err(api.get(f"/datasets/{ds}/data-annotations/labels", params={"version_id": "nope"}), 400, "ModelArts.4353")


def test_list_samples_of_a_version(api):
    ds, _ = api.create(type_=1, labels=[{"name": "car", "type": 1}, {"name": "bus", "type": 1}])
    box = lambda name, x: {"name": name, "type": 1, "property": {"@modelarts:shape": "bndbox",
                                                                 "@modelarts:feature": [[x, 1], [x + 5, 9]]}}
    size = {"@modelarts:size": [100, 100, 3]}
    ids = api.add(ds, [{"name": "a.jpg", "data": b64(b"a"), "labels": [box("car", 1)], "metadata": size},
                       {"name": "b.jpg", "data": b64(b"b"), "labels": [box("bus", 2), box("car", 3)], "metadata": size},
                       {"name": "c.jpg", "data": b64(b"c"), "metadata": size}])
    vid = api.post(f"/datasets/{ds}/versions").json()["version_id"]
    wait_published(api, ds, vid)
    # the working copy moves on: one sample deleted, one relabeled, one added
    assert api.post(f"/datasets/{ds}/data-annotations/samples/delete", json={"samples": [ids[0]]}).status_code == 200
    r = api.put(f"/datasets/{ds}/data-annotations/samples", json={"samples": [{"sample_id": ids[2], "labels": [box("bus", 4)]}]})
    assert r.status_code == 200, r.text
    api.add(ds, [{"name": "d.jpg", "data": b64(b"d")}])

    def ls(**params):
        r = api.get(f"/datasets/{ds}/data-annotations/samples", params={"version_id": vid, "limit": 100, **params})
        assert r.status_code == 200, r.text
        return r.json()

    body = ls()
    assert body["sample_count"] == 3
    assert [s["sample_name"] for s in body["samples"]] == ["c.jpg", "b.jpg", "a.jpg"]  # newest first
    by = {s["sample_name"]: s for s in body["samples"]}
    assert by["a.jpg"]["sample_id"] == ids[0] and by["a.jpg"]["sample_status"] == "MANUAL_ANNOTATION"
    assert by["c.jpg"]["labels"] == [] and by["c.jpg"]["sample_status"] == "UN_ANNOTATION"
    b_boxes = sorted((l["name"], l["property"]["@modelarts:feature"][0][0]) for l in by["b.jpg"]["labels"])
    assert b_boxes == [("bus", 2), ("car", 3)]
    assert [s["sample_name"] for s in ls(order="asc")["samples"]] == ["a.jpg", "b.jpg", "c.jpg"]
    assert ls(sample_state="UN_ANNOTATION")["sample_count"] == 1
    assert ls(sample_state="__ALL__")["sample_count"] == 2
    assert {s["sample_name"] for s in ls(label_name="car")["samples"]} == {"a.jpg", "b.jpg"}
    assert [s["sample_name"] for s in ls(label_name="bus")["samples"]] == ["b.jpg"]
    assert ls(label_type=0)["sample_count"] == 0
    p1 = ls(limit=2, offset=0)["samples"]
    p2 = ls(limit=2, offset=1)["samples"]
    assert [s["sample_name"] for s in p1 + p2] == ["c.jpg", "b.jpg", "a.jpg"]
    assert ls(limit=2, offset=5)["samples"] == []
    # the working copy is unaffected
    now = api.get(f"/datasets/{ds}/data-annotations/samples", params={"limit": 100}).json()
    assert {s["sample_name"] for s in now["samples"]} == {"b.jpg", "c.jpg", "d.jpg"}
    assert_err(api.get(f"/datasets/{ds}/data-annotations/samples", params={"version_id": "nope"}), 400, "ModelArts.4353")
    assert_err(api.get(f"/datasets/{ds}/data-annotations/samples",
                       params={"version_id": vid, "search_conditions": "[]"}), 400, "ModelArts.0101")


def test_publish_clears_hard_fields_and_usage_unless_told_not_to(api, server):
    ds, _ = api.create(type_=1, labels=[{"name": "car", "type": 1}])
    box = {"name": "car", "type": 1, "property": {"@modelarts:shape": "bndbox", "@modelarts:feature": [[1, 1], [9, 9]],
                                                 "@modelarts:hard": "1", "@modelarts:hard_coefficient": "0.5", "k": "v"}}
    hard = {"@modelarts:size": [10, 10, 3], "@modelarts:hard": 1, "@modelarts:hard_coefficient": 0.4,
            "@modelarts:hard_reasons": [2]}
    ids = api.add(ds, [{"name": "a.jpg", "data": b64(b"a"), "metadata": hard, "labels": [box]},
                       {"name": "u.jpg", "data": b64(b"u")}])
    api.annotate(ds, [{"sample_id": sid, "labels": api.sample(ds, sid)["labels"], "sample_usage": usage}
                      for sid, usage in zip(ids, ("TEST", "INFERENCE"))])

    def publish(**body):
        r = api.post(f"/datasets/{ds}/versions", json={"train_evaluate_sample_ratio": "1.00", **body})
        assert r.status_code == 201, r.text
        v = wait_published(api, ds, r.json()["version_id"])
        lines = {l["source"].rsplit("/", 1)[1]: l for l in manifest_lines(server, v)}
        return lines, server.objects.text(lines["a.jpg"]["annotation"][0]["annotation-loc"])

    lines, voc = publish()  # defaults: hard fields cleared, usage by the ratio only
    assert not {"hard", "hard-coefficient", "hard-reasons"} & set(lines["a.jpg"]), lines["a.jpg"]
    assert "<difficult>1</difficult>" not in voc and "hard-coefficient" not in voc and "<key>k</key>" in voc, voc
    assert lines["a.jpg"]["usage"] == "TRAIN" and "usage" not in lines["u.jpg"]
    lines, voc = publish(clear_hard_property=False, remove_sample_usage=False)
    assert (lines["a.jpg"]["hard"], lines["a.jpg"]["hard-coefficient"]) == ("true", 0.4), lines["a.jpg"]
    assert "<difficult>1</difficult>" in voc, voc
    assert lines["a.jpg"]["usage"] == "TEST" and lines["u.jpg"]["usage"] == "INFERENCE"
