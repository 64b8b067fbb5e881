"""Datasets: create for every dataset type, validation, list filters
and paging, get, update, delete, import of files already in the input folder,
and cross-project isolation."""
import time

import pytest
import requests

from conftest import unique
from datahelpers import HEX32, Api, assert_err, b64, folder

ALL_TYPES = [0, 1, 3, 100, 101, 102, 200, 201, 202, 400, 600, 900]


def labels_for(t):
    """Labels of the right label types for a dataset type."""
    if t == 102:
        return [{"name": "Person", "type": 103}, {"name": "City", "type": 103},
                {"name": "lives_in", "type": 102,
                 "property": {"@modelarts:from_type": "Person", "@modelarts:to_type": "City"}}]
    if t == 400:
        return []
    if t == 900:
        return [{"name": "img", "type": 0}, {"name": "box", "type": 1}, {"name": "txt", "type": 100}]
    return [{"name": "l" + str(t) + "a", "type": t, "property": {"@modelarts:color": "#3399ff"}},
            {"name": "l" + str(t) + "b", "type": t}]


def wrong_label_type(t):
    return {0: 1, 1: 0, 3: 1, 100: 101, 101: 100, 102: 0, 200: 201, 201: 202, 202: 200, 400: 0, 600: 1,
            900: 400}[t]


SAMPLE_TYPE = {0: 0, 1: 0, 3: 0, 100: 1, 101: 1, 102: 1, 200: 2, 201: 2, 202: 2, 400: 4, 600: 6, 900: 9}

# Files placed in the input folder before creation; which ones each type takes.
PRESEED = {"a.jpg": b"\xff\xd8jpg", "b.PNG": b"\x89PNGx", "c.txt": "héllo wörld".encode(), "d.csv": b"1,2\n3,4\n",
           "e.wav": b"RIFFwav", "f.mp4": b"mp4data", "g.bin": b"\x00\x01", "sub/h.jpeg": b"\xff\xd8h"}
TAKES = {
    "image": {"a.jpg", "b.PNG", "h.jpeg"},
    "text": {"c.txt", "d.csv"},
    "audio": {"e.wav"},
    "table": {"d.csv"},
    "video": {"f.mp4"},
    "free": {"a.jpg", "b.PNG", "c.txt", "d.csv", "e.wav", "f.mp4", "g.bin", "h.jpeg"},
}
KIND = {0: "image", 1: "image", 3: "image", 100: "text", 101: "text", 102: "text", 200: "audio", 201: "audio",
        202: "audio", 400: "table", 600: "video", 900: "free"}


# ------------------------------------------------------------------ create, every type

@pytest.mark.parametrize("t", ALL_TYPES)
def test_create_every_type_with_its_labels(api, t):
    labels = labels_for(t)
    name = unique(f"type{t}_")
    ds, inp = api.create(t, labels=labels, name=name, description="type " + str(t))
    d = api.dataset(ds)
    assert d["dataset_id"] == ds
    assert d["dataset_name"] == name
    assert d["dataset_type"] == t
    assert d["description"] == "type " + str(t)
    assert d["dataset_format"] == (1 if t == 400 else 0)
    assert d["status"] == 1
    assert d["total_sample_count"] == 0 and d["annotated_sample_count"] == 0
    assert d["data_sources"] == [{"data_type": 0, "data_path": inp}]
    got = {(l["name"], l["type"]) for l in d["labels"]}
    assert got == {(l["name"], l["type"]) for l in labels}
    for l in labels:
        if "property" in l:
            mine = [x for x in d["labels"] if x["name"] == l["name"]][0]
            for k, v in l["property"].items():
                assert mine["property"][k] == v
    # the dataset lists under its type
    body = api.get("/datasets", params={"dataset_type": t, "search_content": name}).json()
    assert [x["dataset_id"] for x in body["datasets"]] == [ds]


@pytest.mark.parametrize("t", ALL_TYPES)
def test_create_rejects_label_type_not_fitting_dataset_type(api, t):
    root = folder()
    lab = {"name": "x", "type": wrong_label_type(t)}
    if lab["type"] == 102:
        lab["property"] = {"@modelarts:from_type": "a", "@modelarts:to_type": "b"}
    name = unique("bad")
    r = api.create_raw(dataset_name=name, dataset_type=t, work_path=root + "out/", labels=[lab])
    assert_err(r, 400, "ModelArts.0101", "labels[0].type")
    assert api.get("/datasets", params={"search_content": name}).json()["total_number"] == 0


def test_relation_label_needs_from_and_to_type(api):
    root = folder()
    for prop in (None, {"@modelarts:from_type": "Person"}, {"@modelarts:to_type": "City"}):
        lab = {"name": "rel", "type": 102}
        if prop is not None:
            lab["property"] = prop
        r = api.create_raw(dataset_name=unique("rel"), dataset_type=102, work_path=root + "out/",
                           labels=[{"name": "Person", "type": 103}, lab])
        assert_err(r, 400, "ModelArts.0101", "labels[1].property")


@pytest.mark.parametrize("t", ALL_TYPES)
def test_create_imports_existing_files_by_extension(api, server, t):
    inp = folder("pre") + "in/"
    for k, v in PRESEED.items():
        server.objects.put(inp + k, v)
    # Without the folder-layout annotations (sub/ would name a class): files only.
    ds, _ = api.create(t, labels=labels_for(t), data_path=inp, import_annotations=False)
    assert api.wait_sync(ds)["status"] == "COMPLETED"
    want = TAKES[KIND[t]]
    samples = api.all_samples(ds)
    assert {s["sample_name"] for s in samples} == want
    assert len({s["sample_id"] for s in samples}) == len(samples)
    assert api.dataset(ds)["total_sample_count"] == len(want)
    st = api.stats(ds)["sample_stats"]
    assert st["all"] == len(want) and st["un_annotation"] == len(want) and st["manual_annotation"] == 0
    for s in samples:
        rel = "sub/h.jpeg" if s["sample_name"] == "h.jpeg" else s["sample_name"]
        assert HEX32.match(s["sample_id"]), s["sample_id"]
        assert s["sample_type"] == SAMPLE_TYPE[t]
        assert s["sample_status"] == "UN_ANNOTATION"
        assert s["labels"] == []
        assert s["sample_dir"] == (inp + "sub/" if rel.startswith("sub/") else inp)
        if KIND[t] == "text" and s["sample_name"] == "c.txt":
            assert s["sample_size"] == len("héllo wörld")  # characters, not bytes
        else:
            assert s["sample_size"] == len(PRESEED[rel])


def test_second_dataset_over_folder_filled_by_inline_upload(api):
    ds1, inp = api.create(0, labels=labels_for(0))
    ids = api.add(ds1, [{"name": "p1.jpg", "data": b64(b"one")}, {"name": "p2.png", "data": b64(b"two")},
                        {"name": "notes.txt", "data": b64(b"nope")}])
    assert len(ids) == 3
    ds2, _ = api.create(0, data_path=inp)
    api.wait_sync(ds2)
    names = sorted(s["sample_name"] for s in api.all_samples(ds2))
    assert names == ["p1.jpg", "p2.png"]
    ds3, _ = api.create(100, data_path=inp)
    api.wait_sync(ds3)
    assert [s["sample_name"] for s in api.all_samples(ds3)] == ["notes.txt"]


# ------------------------------------------------------------------ create validation

def test_create_defaults_and_response(api):
    root = folder()
    r = api.create_raw(dataset_name=unique("dflt"), work_path=root + "out/")
    assert r.status_code == 201, r.text
    ds = r.json()["dataset_id"]
    d = api.dataset(ds)
    assert d["dataset_type"] == 0 and d["description"] == "" and d["labels"] == [] and d["data_sources"] == []
    assert d["work_path"] == root + "out/"


@pytest.mark.parametrize("name", ["a b", "a!b", "a.b", "a/b", "a<b", "x" * 101, ""])
def test_create_bad_name(api, name):
    r = api.create_raw(dataset_name=name, work_path=folder() + "out/")
    assert_err(r, 400, "ModelArts.0101", "dataset_name")


def test_create_name_limits_and_unicode(api):
    name = "N" + unique("")
    name = name + "x" * (100 - len(name))
    assert len(name) == 100
    ds, _ = api.create(0, name=name)
    assert api.dataset(ds)["dataset_name"] == name
    cn = "数据集_" + unique("")
    ds2, _ = api.create(0, name=cn)
    assert api.dataset(ds2)["dataset_name"] == cn


@pytest.mark.parametrize("desc", ["a<b", "x>y", "a=b", "quote'", 'dq"', "amp&", "bang!", "caret^", "d" * 257])
def test_create_bad_description(api, desc):
    r = api.create_raw(dataset_name=unique("d"), work_path=folder() + "out/", description=desc)
    assert_err(r, 400, "ModelArts.0101", "description")


def test_create_description_256_ok(api):
    ds, _ = api.create(0, description="d" * 256)
    assert api.dataset(ds)["description"] == "d" * 256


@pytest.mark.parametrize("wp", ["/dtest/out", "/dtest/", "/dtest", "out/", "/BAD_bucket/out/", "/dtest/a/../b/"])
def test_create_bad_work_path(api, wp):
    r = api.create_raw(dataset_name=unique("w"), work_path=wp)
    assert_err(r, 400, "ModelArts.0101", "work_path")


def test_create_work_path_missing(api):
    r = api.create_raw(dataset_name=unique("w"))
    assert_err(r, 400, "ModelArts.0101", "work_path")


@pytest.mark.parametrize("rel", ["in/", "in/out/", "in/a/b/"])
def test_create_work_path_inside_input(api, rel):
    root = folder()
    r = api.create_raw(dataset_name=unique("w"), work_path=root + rel,
                       data_sources=[{"data_path": root + "in/"}])
    assert_err(r, 400, "ModelArts.0101", "work_path")


def test_create_input_sibling_of_work_path_ok(api):
    root = folder()
    # "/x/in2/" starts with "/x/in" textually but is not inside "/x/in/"
    r = api.create_raw(dataset_name=unique("w"), work_path=root + "in2/", data_sources=[{"data_path": root + "in/"}])
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("dp", ["/dtest/in", "/dtest/", "nobucket"])
def test_create_bad_data_path(api, dp):
    r = api.create_raw(dataset_name=unique("w"), work_path=folder() + "out/", data_sources=[{"data_path": dp}])
    assert_err(r, 400, "ModelArts.0101", "data_sources[0].data_path")


@pytest.mark.parametrize("t", [2, 4, 99, 203, 500, 901, -1])
def test_create_unknown_dataset_type(api, t):
    r = api.create_raw(dataset_name=unique("t"), dataset_type=t, work_path=folder() + "out/")
    assert_err(r, 400, "ModelArts.0101", "dataset_type")


@pytest.mark.parametrize("field,value", [
    ("dataset_name", 5), ("dataset_type", "0"), ("dataset_type", 1.5), ("description", 3),
    ("work_path", ["/a/b/"]), ("data_sources", {"data_path": "/a/b/"}), ("labels", "cat"),
    ("work_path_type", 1), ("managed", "yes"), ("data_format", "Parquet"),
])
def test_create_wrong_types(api, field, value):
    body = {"dataset_name": unique("wt"), "work_path": folder() + "out/"}
    body[field] = value
    r = api.create_raw(**body)
    assert_err(r, 400, "ModelArts.0101", field)


def test_create_label_object_errors(api):
    base = {"work_path": folder() + "out/"}
    r = api.create_raw(dataset_name=unique("l"), labels=["cat"], **base)
    assert_err(r, 400, "ModelArts.0101", "labels[0]")
    r = api.create_raw(dataset_name=unique("l"), labels=[{"type": 0}], **base)
    assert_err(r, 400, "ModelArts.0101", "labels[0].name")
    r = api.create_raw(dataset_name=unique("l"), labels=[{"name": "a", "property": {"@modelarts:color": "blue"}}], **base)
    assert_err(r, 400, "ModelArts.0101", "labels[0].property")
    r = api.create_raw(dataset_name=unique("l"), labels=[{"name": "a"}, {"name": "a"}], **base)
    assert_err(r, 400, "ModelArts.4411")


def test_create_not_json_and_no_token(api, server):
    r = requests.post(api.base + "/datasets", headers=dict(api.h, **{"Content-Type": "application/json"}), data=b"{oops")
    assert_err(r, 400)
    r = requests.post(api.base + "/datasets", json={"dataset_name": unique("x"), "work_path": "/dtest/x/"})
    assert r.status_code == 401, r.text


def test_duplicate_name(api):
    name = unique("dup")
    ds, _ = api.create(0, name=name)
    r = api.create_raw(dataset_name=name, dataset_type=1, work_path=folder() + "out/")
    body = assert_err(r, 400, "ModelArts.4351")
    assert name in body["error_msg"]
    assert api.get("/datasets", params={"search_content": name}).json()["total_number"] == 1


# ------------------------------------------------------------------ list

@pytest.fixture(scope="module")
def listing(server):
    """Seven datasets sharing a unique prefix, created in a known order."""
    api = Api(server, {"X-Auth-Token": server.admin_token})
    prefix = unique("lst")
    specs = [("c", 0), ("a", 1), ("g", 0), ("e", 100), ("b", 0), ("f", 1), ("d", 0)]
    made = []
    times = []
    for suffix, t in specs:
        name = f"{prefix}_{suffix}"
        ds, _ = api.create(t, name=name, labels=[{"name": "only", "type": t}])
        made.append((name, ds, t))
        times.append(api.dataset(ds)["create_time"])
        time.sleep(0.003)  # create_time has millisecond precision: keep the creation order unambiguous
    assert times == sorted(set(times)), times
    return prefix, made


def names(body):
    return [d["dataset_name"] for d in body["datasets"]]


def test_list_search_content_and_default_order(api, listing):
    prefix, made = listing
    body = api.get("/datasets", params={"search_content": prefix, "limit": 100}).json()
    assert body["total_number"] == 7
    # default: create_time desc
    assert names(body) == [n for n, _, _ in reversed(made)]
    assert "labels" not in body["datasets"][0]
    d = body["datasets"][0]
    for k in ("dataset_id", "dataset_type", "total_sample_count", "work_path", "inner_work_path", "create_time"):
        assert k in d, k


def test_list_search_content_is_literal(api, listing):
    prefix, _ = listing
    # '_' and '%' are not wildcards
    assert api.get("/datasets", params={"search_content": prefix + "%"}).json()["total_number"] == 0
    assert api.get("/datasets", params={"search_content": prefix[:-1] + "_"}).json()["total_number"] == 0
    body = api.get("/datasets", params={"search_content": prefix + "_g"}).json()
    assert names(body) == [prefix + "_g"]
    assert api.get("/datasets", params={"search_content": unique("none")}).json() == {"total_number": 0, "datasets": []}


def test_list_dataset_type_filter(api, listing):
    prefix, made = listing
    for t in (0, 1, 100):
        body = api.get("/datasets", params={"search_content": prefix, "dataset_type": t, "limit": 100}).json()
        want = [n for n, _, tt in reversed(made) if tt == t]
        assert names(body) == want and body["total_number"] == len(want)
    assert_err(api.get("/datasets", params={"dataset_type": "x"}), 400, "ModelArts.0101", "dataset_type")


def test_list_sort_and_order(api, listing):
    prefix, made = listing
    by_name = sorted(n for n, _, _ in made)
    body = api.get("/datasets", params={"search_content": prefix, "sort_by": "dataset_name", "order": "asc"}).json()
    assert names(body) == by_name
    body = api.get("/datasets", params={"search_content": prefix, "sort_by": "dataset_name", "order": "desc"}).json()
    assert names(body) == list(reversed(by_name))
    body = api.get("/datasets", params={"search_content": prefix, "sort_by": "create_time", "order": "asc"}).json()
    assert names(body) == [n for n, _, _ in made]
    assert_err(api.get("/datasets", params={"sort_by": "size"}), 400, "ModelArts.0101", "sort_by")
    assert_err(api.get("/datasets", params={"order": "up"}), 400, "ModelArts.0101", "order")


def test_list_offset_is_page_index(api, listing):
    prefix, made = listing
    by_name = sorted(n for n, _, _ in made)
    seen = []
    for page in range(4):
        body = api.get("/datasets", params={"search_content": prefix, "sort_by": "dataset_name", "order": "asc",
                                            "offset": page, "limit": 2}).json()
        assert body["total_number"] == 7
        assert names(body) == by_name[page * 2: page * 2 + 2], (page, names(body))
        seen += names(body)
    assert seen == by_name
    body = api.get("/datasets", params={"search_content": prefix, "offset": 1, "limit": 3,
                                        "sort_by": "dataset_name", "order": "asc"}).json()
    assert names(body) == by_name[3:6]
    body = api.get("/datasets", params={"search_content": prefix, "offset": 5, "limit": 3}).json()
    assert body["datasets"] == [] and body["total_number"] == 7
    # default limit 10
    body = api.get("/datasets", params={"limit": 100}).json()
    if body["total_number"] > 10:
        assert len(api.get("/datasets").json()["datasets"]) == 10


@pytest.mark.parametrize("params,field", [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": -1}, "limit"),
                                          ({"limit": "ten"}, "limit"), ({"offset": -1}, "offset"),
                                          ({"offset": "x"}, "offset"), ({"with_labels": "maybe"}, "with_labels")])
def test_list_bad_params(api, params, field):
    assert_err(api.get("/datasets", params=params), 400, "ModelArts.0101", field)


def test_list_limit_bounds_ok(api, listing):
    prefix, _ = listing
    assert len(api.get("/datasets", params={"search_content": prefix, "limit": 1}).json()["datasets"]) == 1
    assert len(api.get("/datasets", params={"search_content": prefix, "limit": 100}).json()["datasets"]) == 7


def test_list_with_labels(api, listing):
    prefix, _ = listing
    body = api.get("/datasets", params={"search_content": prefix, "with_labels": "true"}).json()
    for d in body["datasets"]:
        assert [(l["name"], l["type"]) for l in d["labels"]] == [("only", d["dataset_type"])]
    body = api.get("/datasets", params={"search_content": prefix, "with_labels": "false"}).json()
    assert all("labels" not in d for d in body["datasets"])


# ------------------------------------------------------------------ get

def test_get_counts_labels_and_inner_paths(api):
    name = unique("get")
    root = folder()
    ds, inp = api.create(0, name=name, labels=[{"name": "cat"}, {"name": "dog"}],
                         data_path=root + "in/", work_path=root + "out/")
    ids = api.add(ds, [{"name": f"{i}.jpg", "data": b64(b"x" * i)} for i in range(1, 6)])
    api.annotate(ds, [{"sample_id": ids[0], "labels": [{"name": "cat"}]},
                      {"sample_id": ids[1], "labels": [{"name": "cat"}, {"name": "dog"}]}])
    api.delete_samples(ds, [ids[4]])
    d = api.dataset(ds)
    inner = f"{root}out/{name}-{ds}/"
    assert d["inner_work_path"] == inner
    assert d["inner_annotation_path"] == inner + "annotation/"
    assert d["inner_data_path"] == inner + "data/"
    assert d["inner_log_path"] == inner + "logs/"
    assert d["inner_temp_path"] == inner + "temp/"
    assert d["inner_task_path"] == inner + "task/"
    assert d["work_path"] == root + "out/"
    assert d["work_path_type"] == 0
    assert d["total_sample_count"] == 4
    assert d["annotated_sample_count"] == 2
    assert d["deleted_sample_count"] == 1
    assert [l["name"] for l in d["labels"]] == ["cat", "dog"]
    assert all(l["type"] == 0 for l in d["labels"])
    assert d["data_update_time"] >= d["create_time"]


def test_get_missing(api):
    r = api.get("/datasets/doesNotExist12345")
    body = assert_err(r, 400, "ModelArts.4352")
    assert "doesNotExist12345" in body["error_msg"]


# ------------------------------------------------------------------ update

def test_update_name_description_labels(api):
    ds, _ = api.create(0, labels=[{"name": "cat"}])
    before = api.dataset(ds)
    new = unique("renamed")
    r = api.put(f"/datasets/{ds}", json={"dataset_name": new, "description": "new desc",
                                         "add_labels": [{"name": "dog", "property": {"@modelarts:color": "#00ff00"}}]})
    assert r.status_code == 200, r.text
    assert r.json() == {"dataset_id": ds}
    d = api.dataset(ds)
    assert d["dataset_name"] == new and d["description"] == "new desc"
    assert [(l["name"], l["property"].get("@modelarts:color")) for l in d["labels"]] == [("cat", None), ("dog", "#00ff00")]
    assert d["update_time"] >= before["update_time"]
    # only the description: the name stays
    assert api.put(f"/datasets/{ds}", json={"description": ""}).status_code == 200
    d = api.dataset(ds)
    assert d["dataset_name"] == new and d["description"] == ""
    assert api.get("/datasets", params={"search_content": new}).json()["total_number"] == 1


def test_update_validation(api):
    ds, _ = api.create(0, labels=[{"name": "cat"}])
    other = unique("other")
    api.create(0, name=other)
    assert_err(api.put(f"/datasets/{ds}", json={"dataset_name": other}), 400, "ModelArts.4351")
    assert_err(api.put(f"/datasets/{ds}", json={"dataset_name": "bad name"}), 400, "ModelArts.0101", "dataset_name")
    assert_err(api.put(f"/datasets/{ds}", json={"description": "<b>"}), 400, "ModelArts.0101", "description")
    assert_err(api.put(f"/datasets/{ds}", json={"add_labels": [{"name": "cat"}]}), 400, "ModelArts.4411")
    assert_err(api.put(f"/datasets/{ds}", json={"add_labels": [{"name": "x", "type": 1}]}), 400, "ModelArts.0101",
               "add_labels[0].type")
    # nothing of the failed updates applied
    d = api.dataset(ds)
    assert [l["name"] for l in d["labels"]] == ["cat"]
    assert_err(api.put("/datasets/nosuchdataset0000", json={"description": "x"}), 400, "ModelArts.4352")
    # renaming to its own name is fine
    assert api.put(f"/datasets/{ds}", json={"dataset_name": d["dataset_name"]}).status_code == 200


# ------------------------------------------------------------------ delete

def test_delete(api, server):
    name = unique("del")
    ds, inp = api.create(0, name=name, labels=[{"name": "cat"}])
    ids = api.add(ds, [{"name": "k.jpg", "data": b64(b"keep"), "labels": [{"name": "cat"}]}])
    d = api.dataset(ds)
    # a file in the work dir goes with the dataset; the source file stays
    work_file = d["inner_annotation_path"] + "V001/x.manifest"
    server.objects.put(work_file, "{}")
    r = api.delete(f"/datasets/{ds}")
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_err(api.get(f"/datasets/{ds}"), 400, "ModelArts.4352")
    assert_err(api.list_raw(ds), 400, "ModelArts.4352")
    assert_err(api.get(f"/datasets/{ds}/data-annotations/samples/{ids[0]}"), 400, "ModelArts.4352")
    assert_err(api.get(f"/datasets/{ds}/data-annotations/stats"), 400, "ModelArts.4352")
    assert_err(api.delete(f"/datasets/{ds}"), 400, "ModelArts.4352")
    assert api.get("/datasets", params={"search_content": name}).json()["total_number"] == 0
    assert server.objects.exists(inp + "k.jpg")
    assert not server.objects.exists(work_file)
    # the name is free again, and the new dataset starts empty (old samples gone)
    ds2, _ = api.create(0, name=name, data_path=folder() + "in/")
    assert ds2 != ds
    d2 = api.dataset(ds2)
    assert d2["total_sample_count"] == 0 and d2["labels"] == []
    assert api.stats(ds2)["sample_stats"]["all"] == 0


def test_delete_without_source_removes_inline_uploads(api, server):
    ds, _ = api.create(0, no_source=True)
    sid = api.add_inline(ds, "w.jpg", b"work")
    s = api.sample(ds, sid)
    d = api.dataset(ds)
    assert s["sample_dir"] == d["inner_data_path"]
    assert server.objects.exists(d["inner_data_path"] + "w.jpg")
    assert api.delete(f"/datasets/{ds}").status_code == 204
    assert not server.objects.exists(d["inner_data_path"] + "w.jpg")


# ------------------------------------------------------------------ cross-project isolation

def test_cross_project_isolation(api, server, second_project):
    pid_x, hx = second_project
    bx = Api(server, hx, pid_x)
    name = unique("iso")
    ds, _ = api.create(0, name=name, labels=[{"name": "cat"}])
    sid = api.add_inline(ds, "i.jpg", b"iso")
    # B sees nothing of A
    body = bx.get("/datasets", params={"limit": 100}).json()
    assert ds not in [d["dataset_id"] for d in body["datasets"]]
    assert bx.get("/datasets", params={"search_content": name}).json() == {"total_number": 0, "datasets": []}
    for r in (bx.get(f"/datasets/{ds}"), bx.list_raw(ds), bx.get(f"/datasets/{ds}/data-annotations/samples/{sid}"),
              bx.get(f"/datasets/{ds}/data-annotations/samples/{sid}/content"),
              bx.get(f"/datasets/{ds}/data-annotations/labels"), bx.get(f"/datasets/{ds}/data-annotations/stats"),
              bx.put(f"/datasets/{ds}", json={"description": "hijack"}),
              bx.add_raw(ds, [{"name": "z.jpg", "data": b64(b"z")}]),
              bx.delete_samples(ds, [sid]), bx.delete(f"/datasets/{ds}")):
        body = assert_err(r, 400, "ModelArts.4352")
        assert ds in body["error_msg"]
    # A's dataset is untouched
    d = api.dataset(ds)
    assert d["description"] == "" and d["total_sample_count"] == 1
    # B may use the same name in its own project, and A does not see it
    dsb, _ = bx.create(0, name=name)
    assert bx.get("/datasets", params={"search_content": name}).json()["datasets"][0]["dataset_id"] == dsb
    body = api.get("/datasets", params={"search_content": name}).json()
    assert [x["dataset_id"] for x in body["datasets"]] == [ds]
    assert_err(api.get(f"/datasets/{dsb}"), 400, "ModelArts.4352")


def test_token_of_one_project_on_another_projects_url(api, server, second_project):
    pid_x, hx = second_project
    ds, _ = api.create(0)
    # token of A on B's URL, token of B on A's URL
    for headers, pid in ((api.h, pid_x), (hx, server.project_id)):
        for method, path in (("GET", "/datasets"), ("GET", f"/datasets/{ds}"), ("POST", "/datasets"),
                             ("GET", f"/datasets/{ds}/data-annotations/samples")):
            r = requests.request(method, f"{server.base}/v2/{pid}{path}", headers=headers,
                                 json={"dataset_name": unique("p"), "work_path": "/dtest/p/out/"})
            assert_err(r, 403, "ModelArts.0210")


def test_two_data_sources(api, server):
    root = folder()
    server.objects.put(root + "in1/a.jpg", b"a")
    server.objects.put(root + "in2/b.jpg", b"b")
    server.objects.put(root + "in2/deeper/c.png", b"c")
    r = api.create_raw(dataset_name=unique("two"), dataset_type=0, work_path=root + "out/",
                       data_sources=[{"data_path": root + "in1/"}, {"data_path": root + "in2/"}])
    assert r.status_code == 201, r.text
    ds = r.json()["dataset_id"]
    assert r.json()["import_task_id"]
    assert api.wait_sync(ds)["status"] == "COMPLETED"
    assert sorted(s["sample_name"] for s in api.all_samples(ds)) == ["a.jpg", "b.jpg", "c.png"]
    assert [x["data_path"] for x in api.dataset(ds)["data_sources"]] == [root + "in1/", root + "in2/"]
    # inline uploads land in the first input folder
    sid = api.add_inline(ds, "up.jpg", b"u")
    assert api.sample(ds, sid)["sample_dir"] == root + "in1/"
    # the work path must not sit inside any of them
    r = api.create_raw(dataset_name=unique("two"), work_path=root + "in2/out/",
                       data_sources=[{"data_path": root + "in1/"}, {"data_path": root + "in2/"}])
    assert_err(r, 400, "ModelArts.0101", "work_path")


def test_metrics(api):
    ds, _ = api.create(0, labels=[{"name": "cat"}])
    api.add(ds, [{"name": "a.jpg", "data": b64(b"a"), "labels": [{"name": "cat"}]}, {"name": "b.jpg", "data": b64(b"b")},
                 {"name": "c.jpg", "data": b64(b"c")}])
    r = api.get(f"/datasets/{ds}/metrics", params={"start_time": 0, "end_time": 9999999999999})
    assert r.status_code == 200, r.text
    m = r.json()["metrics"]
    assert list(m["total"].values()) == [3]
    assert list(m["un_annotation"].values()) == [2]
    assert list(m["manual_annotation"].values()) == [1]
    assert all(k.isdigit() for k in m["total"])
    assert_err(api.get(f"/datasets/{ds}/metrics", params={"end_time": 1}), 400, "ModelArts.0101", "start_time")
    assert_err(api.get(f"/datasets/{ds}/metrics", params={"start_time": 1}), 400, "ModelArts.0101", "end_time")
    assert_err(api.get("/datasets/nosuchdataset0000/metrics", params={"start_time": 0, "end_time": 1}), 400,
               "ModelArts.4352")


def test_update_dataset_update_and_delete_labels(api):
    ds, _ = api.create(0, labels=[{"name": "cat"}, {"name": "dog"}])
    sid = api.add_inline(ds, "a.jpg", b"a", labels=[{"name": "cat"}, {"name": "dog"}])
    r = api.put(f"/datasets/{ds}", json={"update_labels": [{"name": "cat", "property": {"@modelarts:rename_to": "kitty"}}],
                                         "delete_labels": [{"name": "dog"}]})
    assert r.status_code == 200, r.text
    assert [l["name"] for l in api.dataset(ds)["labels"]] == ["kitty"]
    assert [l["name"] for l in api.sample(ds, sid)["labels"]] == ["kitty"]


def test_list_file_preview_gives_four_samples(api):
    ds, _ = api.create(type_=0, labels=[{"name": "cat"}])
    api.add(ds, [{"name": f"p{i}.jpg", "data": b64(b"x" * (i + 1))} for i in range(6)])
    r = api.get("/datasets", params={"file_preview": "true", "limit": 100})
    assert r.status_code == 200, r.text
    item = next(d for d in r.json()["datasets"] if d["dataset_id"] == ds)
    files = item["samples"]
    assert len(files) == 4
    assert [f["file_Name"] for f in files] == ["p0.jpg", "p1.jpg", "p2.jpg", "p3.jpg"]
    assert [f["size"] for f in files] == [1, 2, 3, 4]
    assert all(f["dataset_id"] == ds and f["create_time"] > 0 for f in files)
    content = requests.get(files[1]["url"], headers=api.h, timeout=30)
    assert content.status_code == 200 and content.content == b"xx"
    plain = api.get("/datasets", params={"limit": 100}).json()
    assert all("samples" not in d for d in plain["datasets"])
    assert_err(api.get("/datasets", params={"file_preview": "maybe"}), 400, "ModelArts.0101")
