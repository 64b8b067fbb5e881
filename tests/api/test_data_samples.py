"""Samples: batch add (inline base64 and data_source references,
atomic), content serving with auth, list filters and paging (offset page index
and the next_marker continuation), get, batch delete, search-condition."""
import json
import os

import pytest
import requests

from conftest import make_user, token_for
from datahelpers import HEX32, Api, assert_err, assert_stats_exact, b64, folder


def spath(ds, sid=None):
    p = f"/datasets/{ds}/data-annotations/samples"
    return p if sid is None else f"{p}/{sid}"


def ids_of(body):
    return [s["sample_id"] for s in body["samples"]]


# ------------------------------------------------------------------ add inline, content

def test_add_inline_and_serve_content(api, server):
    ds, inp = api.create(0, labels=[{"name": "cat"}])
    data = bytes(range(256)) * 3 + os.urandom(100)
    r = api.add_raw(ds, [{"name": "pic.png", "data": b64(data)}, {"name": "two.jpg", "data": b64(b"\xff\xd8second")}])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    assert [x["name"] for x in body["results"]] == [inp + "pic.png", inp + "two.jpg"]
    sid = body["results"][0]["info"]
    assert HEX32.match(sid), sid
    assert body["results"][1]["info"] != sid
    # the bytes landed in the input folder
    assert server.objects.get(inp + "pic.png") == data
    s = api.sample(ds, sid)
    assert s["sample_id"] == sid and s["sample_name"] == "pic.png" and s["sample_dir"] == inp
    assert s["sample_size"] == len(data) and s["sample_type"] == 0 and s["sample_status"] == "UN_ANNOTATION"
    assert s["labels"] == [] and s["metadata"] == {}
    assert isinstance(s["sample_time"], int) and s["sample_time"] > 1_500_000_000_000
    # content: same bytes, auth required
    r = api.get(spath(ds, sid) + "/content")
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["Content-Type"].startswith("image/png")
    assert s["source"].endswith(f"/v2/{server.project_id}/datasets/{ds}/data-annotations/samples/{sid}/content")
    r = requests.get(api.base + spath(ds, sid) + "/content")
    assert r.status_code == 401, r.text
    r = requests.get(api.base + spath(ds, sid) + "/content", headers={"X-Auth-Token": "not-a-token"})
    assert r.status_code == 401, r.text
    r = requests.get(s["source"], headers=api.h)
    assert r.status_code == 200 and r.content == data
    assert_err(api.get(spath(ds, "0" * 32) + "/content"), 400, "ModelArts.4420")
    counts = api.dataset(ds)
    assert counts["total_sample_count"] == 2


def test_content_needs_permission(api, server):
    """A member without modelarts permissions cannot read sample content."""
    ds, _ = api.create(0)
    sid = api.add_inline(ds, "s.jpg", b"secret")
    _, name, pw = make_user(server, api.h)
    tok, _ = token_for(server.base, name, pw, "admin", project="local")
    r = requests.get(api.base + spath(ds, sid) + "/content", headers={"X-Auth-Token": tok})
    assert r.status_code == 403, r.text
    assert b"secret" not in r.content


def test_add_without_source_goes_to_inner_data_path(api, server):
    ds, _ = api.create(0, no_source=True)
    sid = api.add_inline(ds, "x.jpg", b"x")
    d = api.dataset(ds)
    s = api.sample(ds, sid)
    assert s["sample_dir"] == d["inner_data_path"]
    assert HEX32.match(sid), sid
    assert server.objects.exists(d["inner_data_path"] + "x.jpg")


def test_add_text_samples_size_in_characters(api):
    ds, _ = api.create(100, labels=[{"name": "pos", "type": 100}])
    text = "Grüße aus Köln — ok"
    sid = api.add_inline(ds, "t.txt", text, labels=[{"name": "pos", "type": 100}])
    s = api.sample(ds, sid)
    assert s["sample_size"] == len(text) and s["sample_type"] == 1
    assert s["sample_status"] == "MANUAL_ANNOTATION"
    assert api.get(spath(ds, sid) + "/content").content == text.encode()


def test_add_with_labels_and_metadata(api):
    ds, _ = api.create(0, labels=[{"name": "cat"}, {"name": "dog"}])
    sid = api.add_inline(ds, "m.jpg", b"m", labels=[{"name": "cat"}, {"name": "dog", "score": 0.5}],
                         metadata={"@modelarts:hard": 1, "camera": "x1"})
    s = api.sample(ds, sid)
    assert s["sample_status"] == "MANUAL_ANNOTATION"
    assert [(l["name"], l["type"]) for l in s["labels"]] == [("cat", 0), ("dog", 0)]
    assert s["labels"][1]["score"] == 0.5
    assert all(l["annotated_by"] == "human/admin/admin" for l in s["labels"])
    assert s["annotated_by"] == "human/admin/admin"
    assert s["metadata"] == {"@modelarts:hard": 1, "camera": "x1"}


def test_add_unconfirmed_annotations(api):
    ds, _ = api.create(0, labels=[{"name": "cat"}])
    sid = api.add(ds, [{"name": "a.jpg", "data": b64(b"a"), "labels": [{"name": "cat"}]}], final_annotation=False)[0]
    assert api.sample(ds, sid)["sample_status"] == "AUTO_ANNOTATION"
    st = api.stats(ds)["sample_stats"]
    assert st["auto_annotation"] == 1 and st["manual_annotation"] == 0 and st["un_annotation"] == 0
    d = api.dataset(ds)
    assert d["unconfirmed_sample_count"] == 1 and d["annotated_sample_count"] == 1
    assert ids_of(api.list(ds, sample_state="__AUTO_ANNOTATION__")) == [sid]
    # confirming through manual annotation moves it to labeled
    api.annotate(ds, [{"sample_id": sid, "labels": [{"name": "cat"}]}])
    assert api.sample(ds, sid)["sample_status"] == "MANUAL_ANNOTATION"
    assert_stats_exact(api, ds)


# ------------------------------------------------------------------ add by reference

def test_add_by_data_source(api, server):
    ds, inp = api.create(0, labels=[{"name": "cat"}])
    ext = folder("ext")
    server.objects.put(ext + "deep/ref.jpg", b"referenced bytes")
    r = api.add_raw(ds, [{"data_source": {"data_path": ext + "deep/ref.jpg"}, "labels": [{"name": "cat"}]}])
    assert r.status_code == 200, r.text
    res = r.json()["results"][0]
    assert res["success"] is True and res["name"] == ext + "deep/ref.jpg"
    sid = res["info"]
    assert HEX32.match(sid), sid
    s = api.sample(ds, sid)
    assert s["sample_name"] == "ref.jpg" and s["sample_dir"] == ext + "deep/"
    assert s["sample_size"] == len(b"referenced bytes")
    assert s["sample_status"] == "MANUAL_ANNOTATION"
    assert api.get(spath(ds, sid) + "/content").content == b"referenced bytes"
    # the file was not copied into the input folder
    assert not server.objects.exists(inp + "ref.jpg")
    # the same object under the obs:// spelling is the same sample
    obs_uri = "obs:/" + ext + "deep/ref.jpg"
    assert_err(api.add_raw(ds, [{"data_source": {"data_path": obs_uri}}]), 400, "ModelArts.4422")
    # an object uploaded inline to another dataset's folder can be referenced too
    ds2, inp2 = api.create(0)
    api.add_inline(ds2, "up.jpg", b"uploaded")
    sid2 = api.add(ds, [{"data_source": {"data_path": inp2 + "up.jpg"}}])[0]
    assert api.get(spath(ds, sid2) + "/content").content == b"uploaded"


def test_add_by_data_source_validation(api):
    ds, _ = api.create(0)
    for sample, field in [({"data_source": {"data_path": "/dtest/folder/"}}, "samples[0].data_source.data_path"),
                          ({"data_source": {}}, "samples[0].data_source.data_path"),
                          ({"data_source": {"data_path": "no-slash"}}, "samples[0].data_source.data_path"),
                          ({"data_source": {"data_path": "/dtest/a/../b.jpg"}}, "samples[0].data_source.data_path"),
                          ({"name": "x.jpg"}, "samples[0].data_source"),
                          ({}, "samples[0].data_source")]:
        assert_err(api.add_raw(ds, [sample]), 400, "ModelArts.0101", field)
    assert api.list(ds)["sample_count"] == 0


# ------------------------------------------------------------------ atomic batches

def test_duplicate_is_4422_and_nothing_applies(api, server):
    ds, inp = api.create(0, labels=[{"name": "cat"}])
    first = api.add_inline(ds, "x.jpg", b"original")
    r = api.add_raw(ds, [{"name": "y.jpg", "data": b64(b"new y")}, {"name": "x.jpg", "data": b64(b"overwrite")}])
    body = assert_err(r, 400, "ModelArts.4422")
    assert "x.jpg" in body["error_msg"]
    assert ids_of(api.list(ds)) == [first]
    assert api.list(ds)["sample_count"] == 1
    assert api.list(ds, search_conditions=json.dumps([{"sample_name": "y.jpg"}]))["sample_count"] == 0
    assert not server.objects.exists(inp + "y.jpg")
    assert api.get(spath(ds, first) + "/content").content == b"original"
    assert api.stats(ds)["sample_stats"]["all"] == 1
    # duplicate by reference to the same file
    assert_err(api.add_raw(ds, [{"data_source": {"data_path": inp + "x.jpg"}}]), 400, "ModelArts.4422")


def test_duplicate_within_batch(api, server):
    ds, inp = api.create(0)
    r = api.add_raw(ds, [{"name": "d.jpg", "data": b64(b"1")}, {"name": "d.jpg", "data": b64(b"2")}])
    assert_err(r, 400, "ModelArts.0101", "samples[1].name")
    assert api.list(ds)["sample_count"] == 0
    assert not server.objects.exists(inp + "d.jpg")


def test_bad_base64_and_names_apply_nothing(api, server):
    ds, inp = api.create(0, labels=[{"name": "cat"}])
    ok = {"name": "fine.jpg", "data": b64(b"fine")}
    for bad, field in [({"name": "b.jpg", "data": "!!!not base64!!!"}, "samples[1].data"),
                       ({"name": "b.jpg", "data": "abc"}, "samples[1].data"),
                       ({"name": "b.jpg", "data": 5}, "samples[1].data"),
                       ({"name": "dir/b.jpg", "data": b64(b"x")}, "samples[1].name"),
                       ({"name": "a<b.jpg", "data": b64(b"x")}, "samples[1].name"),
                       ({"name": "..", "data": b64(b"x")}, "samples[1].name"),
                       ({"data": b64(b"x")}, "samples[1].name"),
                       ({"name": "b.jpg", "data": b64(b"x"), "labels": [{"name": "ghost"}]}, None),
                       ({"name": "b.jpg", "data": b64(b"x"), "labels": "cat"}, "samples[1].labels"),
                       ({"name": "b.jpg", "data": b64(b"x"), "metadata": [1]}, "samples[1].metadata"),
                       ({"name": "b.jpg", "data": b64(b"x"), "sample_type": 1}, "samples[1].sample_type"),
                       ("just a string", "samples[1]")]:
        r = api.add_raw(ds, [ok, bad])
        if field is None:
            assert_err(r, 400, "ModelArts.4410", "ghost")
        else:
            assert_err(r, 400, "ModelArts.0101", field)
    assert api.list(ds)["sample_count"] == 0
    assert not server.objects.exists(inp + "fine.jpg")
    assert_err(api.post(spath(ds), json={"samples": {"name": "x"}}), 400, "ModelArts.0101", "samples")
    assert_err(api.add_raw("nosuchdataset0000", [ok]), 400, "ModelArts.4352")
    assert api.stats(ds)["sample_stats"]["all"] == 0


# ------------------------------------------------------------------ list filters

@pytest.fixture(scope="module")
def fx(server):
    """One detection-free image dataset with 15 samples in two folders.

    key -> labels:  s0 cat | s1 dog | s2 cat,dog | s3 bird | s4-s7 none | s8 cat (hard) |
                    s9 dog (camera x1) | s10 cat | s11 none (camera x2) | r0 cat | r1 none | r2 dog,bird
    r* are references into another folder; s3 is annotated through PUT with an email."""
    api = Api(server, {"X-Auth-Token": server.admin_token})
    ds, inp = api.create(0, labels=[{"name": "cat"}, {"name": "dog"}, {"name": "bird"}])
    ref = folder("ref")
    spec = [("s0", ["cat"], None), ("s1", ["dog"], None), ("s2", ["cat", "dog"], None), ("s3", [], None),
            ("s4", [], None), ("s5", [], None), ("s6", [], None), ("s7", [], None),
            ("s8", ["cat"], {"@modelarts:hard": 1}), ("s9", ["dog"], {"camera": "x1"}), ("s10", ["cat"], None),
            ("s11", [], {"camera": "x2"})]
    ids = {}
    order = []
    for k, labels, md in spec:
        ids[k] = api.add_inline(ds, k + ".jpg", k, labels=[{"name": n} for n in labels], metadata=md)
        order.append(k)
    for k, labels in [("r0", ["cat"]), ("r1", []), ("r2", ["dog", "bird"])]:
        server.objects.put(ref + k + ".jpg", k)
        s = {"data_source": {"data_path": ref + k + ".jpg"}, "labels": [{"name": n} for n in labels]}
        ids[k] = api.add(ds, [s])[0]
        order.append(k)
    api.annotate(ds, [{"sample_id": ids["s3"], "labels": [{"name": "bird"}]}], email="someone@example.com")
    labels = {k: l for k, l, _ in spec}
    labels.update({"r0": ["cat"], "r1": [], "r2": ["dog", "bird"], "s3": ["bird"]})
    return api, ds, inp, ref, ids, order, labels


def keys(fx, body):
    ids = fx[4]
    rev = {v: k for k, v in ids.items()}
    return [rev[s["sample_id"]] for s in body["samples"]]


def newest_first(fx, pred):
    order, labels = fx[5], fx[6]
    return [k for k in reversed(order) if pred(k, labels[k])]


def test_list_default(fx):
    api, ds = fx[0], fx[1]
    body = api.list(ds)
    assert body["sample_count"] == 15
    assert keys(fx, body) == newest_first(fx, lambda k, l: True)[:10]
    s = body["samples"][0]
    for k in ("sample_id", "sample_name", "sample_type", "sample_status", "source", "sample_dir", "sample_size",
              "sample_time", "labels", "metadata"):
        assert k in s, k
    body = api.list(ds, order="asc", limit=100)
    assert keys(fx, body) == fx[5]


def test_list_sample_state(fx):
    api, ds = fx[0], fx[1]
    labeled = newest_first(fx, lambda k, l: bool(l))
    unlabeled = newest_first(fx, lambda k, l: not l)
    for v in ("__ALL__", "__all__"):
        body = api.list(ds, sample_state=v, limit=100)
        assert keys(fx, body) == labeled and body["sample_count"] == len(labeled)
        assert all(s["sample_status"] == "MANUAL_ANNOTATION" for s in body["samples"])
    for v in ("__NONE__", "__None__"):
        body = api.list(ds, sample_state=v, limit=100)
        assert keys(fx, body) == unlabeled and body["sample_count"] == len(unlabeled)
        assert all(s["sample_status"] == "UN_ANNOTATION" and s["labels"] == [] for s in body["samples"])
    assert api.list(ds, sample_state="__UNCHECK__") == {"sample_count": 0, "samples": []}
    assert_err(api.list_raw(ds, sample_state="bogus"), 400, "ModelArts.0101", "sample_state")


def test_list_label_name_and_type(fx):
    api, ds = fx[0], fx[1]
    for name in ("cat", "dog", "bird"):
        want = newest_first(fx, lambda k, l: name in l)
        body = api.list(ds, label_name=name, limit=100)
        assert keys(fx, body) == want and body["sample_count"] == len(want), name
        body = api.list(ds, label_name=name, label_type=0, limit=100)
        assert keys(fx, body) == want and body["sample_count"] == len(want), name
        assert api.list(ds, label_name=name, label_type=1) == {"sample_count": 0, "samples": []}
    assert api.list(ds, label_name="ghost") == {"sample_count": 0, "samples": []}
    body = api.list(ds, label_type=0, limit=100)
    assert keys(fx, body) == newest_first(fx, lambda k, l: bool(l))
    # label filter combined with state
    body = api.list(ds, label_name="cat", sample_state="__NONE__")
    assert body == {"sample_count": 0, "samples": []}
    assert_err(api.list_raw(ds, label_type="x"), 400, "ModelArts.0101", "label_type")


def test_list_label_name_type_with_other_filters(fx):
    """sample_count is the number of matches of ALL filters, also with label_name + label_type."""
    api, ds = fx[0], fx[1]
    cat = newest_first(fx, lambda k, l: "cat" in l)
    body = api.list(ds, label_name="cat", label_type=0, sample_state="__ALL__", limit=100)
    assert keys(fx, body) == cat and body["sample_count"] == len(cat)
    assert api.list(ds, label_name="cat", label_type=0, sample_state="__NONE__") == {"sample_count": 0, "samples": []}
    assert api.list(ds, label_name="cat", label_type=0, sample_type=1) == {"sample_count": 0, "samples": []}
    body = api.list(ds, label_name="cat", label_type=0,
                    search_conditions=json.dumps([{"sample_dir": fx[3]}]))
    assert keys(fx, body) == ["r0"] and body["sample_count"] == 1


def sc(api, ds, conds, **params):
    return api.list(ds, search_conditions=json.dumps(conds), limit=100, **params)


def test_search_conditions_labels(fx):
    api, ds = fx[0], fx[1]
    body = sc(api, ds, [{"label_list": {"op": "OR", "labels": [{"name": "cat"}, {"name": "bird"}]}}])
    want = newest_first(fx, lambda k, l: "cat" in l or "bird" in l)
    assert keys(fx, body) == want and body["sample_count"] == len(want)
    body = sc(api, ds, [{"label_list": {"op": "AND", "labels": [{"name": "dog"}, {"name": "bird"}]}}])
    assert keys(fx, body) == ["r2"] and body["sample_count"] == 1
    body = sc(api, ds, [{"label_list": {"op": "AND", "labels": [{"name": "cat"}, {"name": "dog"}]}}])
    assert keys(fx, body) == ["s2"]
    body = sc(api, ds, [{"label_list": {"labels": [{"name": "dog", "type": 0}]}}])
    assert keys(fx, body) == newest_first(fx, lambda k, l: "dog" in l)
    body = sc(api, ds, [{"label_list": {"labels": [{"name": "dog", "type": 1}]}}])
    assert body["sample_count"] == 0


def test_search_conditions_name_dir_hard_labeler(fx):
    api, ds, inp, ref = fx[0], fx[1], fx[2], fx[3]
    assert keys(fx, sc(api, ds, [{"sample_name": "s5.jpg"}])) == ["s5"]
    assert keys(fx, sc(api, ds, [{"sample_name": "s5"}])) == []
    assert keys(fx, sc(api, ds, [{"sample_dir": ref}])) == ["r2", "r1", "r0"]
    assert sc(api, ds, [{"sample_dir": inp}])["sample_count"] == 12
    assert keys(fx, sc(api, ds, [{"hard": "1"}])) == ["s8"]
    assert sc(api, ds, [{"hard": "0"}])["sample_count"] == 14
    assert keys(fx, sc(api, ds, [{"labeler": "human/someone@example.com"}])) == ["s3"]
    # conditions of the array are ANDed
    body = sc(api, ds, [{"sample_dir": ref}, {"label_list": {"labels": [{"name": "dog"}]}}])
    assert keys(fx, body) == ["r2"] and body["sample_count"] == 1
    body = sc(api, ds, [{"sample_dir": ref, "label_list": {"labels": [{"name": "cat"}]}}])
    assert keys(fx, body) == ["r0"]
    body = sc(api, ds, [{"sample_dir": inp}], sample_state="__NONE__")
    assert keys(fx, body) == ["s11", "s7", "s6", "s5", "s4"]
    assert sc(api, ds, [])["sample_count"] == 15


@pytest.mark.parametrize("raw", ["not json", '{"sample_name": "a"}', "[1]", '[{"hard": "2"}]',
                                 '[{"label_list": {"op": "XOR", "labels": [{"name": "cat"}]}}]',
                                 '[{"label_list": {"labels": "cat"}}]', '[{"sample_dir": 5}]'])
def test_search_conditions_invalid(fx, raw):
    api, ds = fx[0], fx[1]
    assert_err(api.list_raw(ds, search_conditions=raw), 400, "ModelArts.0101", "search_conditions")


def test_paging_offset_is_page_index(fx):
    api, ds = fx[0], fx[1]
    full = keys(fx, api.list(ds, limit=100))
    for limit in (1, 4, 7):
        got = []
        page = 0
        while True:
            body = api.list(ds, offset=page, limit=limit)
            assert body["sample_count"] == 15
            got += keys(fx, body)
            if len(body["samples"]) < limit:
                break
            page += 1
            assert page < 20
        assert got == full, limit
    assert keys(fx, api.list(ds, offset=1, limit=4)) == full[4:8]
    assert api.list(ds, offset=4, limit=4)["samples"] == []
    for params, field in [({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"offset": -1}, "offset"),
                          ({"offset": "a"}, "offset"), ({"order": "up"}, "order"), ({"marker": "abc"}, "marker")]:
        assert_err(api.list_raw(ds, **params), 400, "ModelArts.0101", field)
    assert len(api.list(ds, limit=100)["samples"]) == 15


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("filt", [{}, {"label_name": "cat"}, {"sample_state": "__NONE__"},
                                  {"search_conditions": json.dumps([{"label_list": {"labels": [{"name": "dog"}]}}])}])
def test_marker_continuation_matches_offset_paging(fx, order, filt):
    api, ds = fx[0], fx[1]
    limit = 2
    by_offset = []
    page = 0
    while True:
        body = api.list(ds, offset=page, limit=limit, order=order, **filt)
        by_offset += ids_of(body)
        if len(body["samples"]) < limit:
            break
        page += 1
    by_marker = []
    marker = None
    for _ in range(20):
        params = dict(limit=limit, order=order, **filt)
        if marker:
            params["marker"] = marker
        body = api.list(ds, **params)
        by_marker += ids_of(body)
        marker = body.get("next_marker")
        if not marker:
            break
        assert isinstance(marker, str) and marker
    assert by_marker == by_offset
    assert len(by_offset) == api.list(ds, **filt)["sample_count"]
    assert len(set(by_marker)) == len(by_marker)


def test_list_sample_type(api):
    ds, _ = api.create(900, labels=[{"name": "any", "type": 0}])
    img = api.add(ds, [{"name": "i.jpg", "data": b64(b"i"), "sample_type": 0}])[0]
    txt = api.add(ds, [{"name": "t.txt", "data": b64(b"t"), "sample_type": 1}])[0]
    aud = api.add(ds, [{"name": "a.wav", "data": b64(b"a"), "sample_type": 2}])[0]
    free = api.add(ds, [{"name": "f.bin", "data": b64(b"f")}])[0]
    assert ids_of(api.list(ds, sample_type=1)) == [txt]
    assert ids_of(api.list(ds, sample_type=0)) == [img]
    assert ids_of(api.list(ds, sample_type=2)) == [aud]
    assert ids_of(api.list(ds, sample_type=9)) == [free]
    assert api.list(ds, sample_type=4) == {"sample_count": 0, "samples": []}
    assert api.sample(ds, aud)["sample_type"] == 2
    assert_err(api.list_raw(ds, sample_type="img"), 400, "ModelArts.0101", "sample_type")


def test_list_label_name_same_name_two_types(api):
    ds, _ = api.create(900, labels=[{"name": "x", "type": 0}, {"name": "x", "type": 100}])
    sid = api.add(ds, [{"name": "b.bin", "data": b64(b"b"), "labels": [{"name": "x", "type": 0},
                                                                       {"name": "x", "type": 100}]}])[0]
    body = api.list(ds, label_name="x")
    assert ids_of(body) == [sid]
    assert body["sample_count"] == 1


# ------------------------------------------------------------------ get / delete

def test_get_sample(fx):
    api, ds, inp, ids = fx[0], fx[1], fx[2], fx[4]
    s = api.sample(ds, ids["s2"])
    assert s["sample_name"] == "s2.jpg" and s["sample_dir"] == inp and s["sample_size"] == 2
    assert [l["name"] for l in s["labels"]] == ["cat", "dog"]
    assert s["sample_status"] == "MANUAL_ANNOTATION"
    s3 = api.sample(ds, ids["s3"])
    assert s3["annotated_by"] == "human/someone@example.com"
    assert s3["labels"][0]["annotated_by"] == "human/someone@example.com"
    body = assert_err(api.get(spath(ds, "f" * 32)), 400, "ModelArts.4420")
    assert "f" * 32 in body["error_msg"]
    assert_err(api.get(f"/datasets/nosuchdataset0000/data-annotations/samples/{ids['s2']}"), 400, "ModelArts.4352")


def test_batch_delete(api, server):
    ds, inp = api.create(0, labels=[{"name": "cat"}])
    ids = api.add(ds, [{"name": f"{i}.jpg", "data": b64(str(i)), "labels": [{"name": "cat"}] if i % 2 else []}
                       for i in range(6)])
    r = api.delete_samples(ds, [ids[0], ids[1]])
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True
    assert api.list(ds)["sample_count"] == 4
    assert server.objects.exists(inp + "0.jpg") and server.objects.exists(inp + "1.jpg")  # files kept by default
    assert_err(api.get(spath(ds, ids[0])), 400, "ModelArts.4420")
    r = api.delete_samples(ds, [ids[2], ids[3]], delete_source=True)
    assert r.status_code == 200, r.text
    assert not server.objects.exists(inp + "2.jpg") and not server.objects.exists(inp + "3.jpg")
    assert server.objects.exists(inp + "4.jpg")
    st = api.stats(ds)
    assert st["sample_stats"]["all"] == 2 and st["sample_stats"]["deleted"] == 4
    assert st["label_stats"][0]["count"] == 1 and st["label_stats"][0]["sample_count"] == 1
    d = api.dataset(ds)
    assert d["total_sample_count"] == 2 and d["deleted_sample_count"] == 4
    # a missing id fails the whole batch
    r = api.delete_samples(ds, [ids[4], "0" * 32])
    assert_err(r, 400, "ModelArts.4420")
    assert api.list(ds)["sample_count"] == 2
    assert_err(api.delete_samples(ds, "notalist"), 400, "ModelArts.0101", "samples")
    assert_err(api.delete_samples(ds, [5]), 400, "ModelArts.0101", "samples")
    assert_err(api.post(spath(ds) + "/delete", json={}), 400, "ModelArts.0101", "samples")
    assert_stats_exact(api, ds)
    # deleted samples can be added again
    again = api.add(ds, [{"name": "0.jpg", "data": b64(b"again")}])[0]
    assert api.get(spath(ds, again) + "/content").content == b"again"
    assert api.list(ds)["sample_count"] == 3


def test_batch_delete_text_keeps_files(api, server):
    ds, inp = api.create(100)
    sid = api.add_inline(ds, "t.txt", "text")
    assert api.delete_samples(ds, [sid], delete_source=True).status_code == 200
    assert api.list(ds)["sample_count"] == 0
    assert server.objects.exists(inp + "t.txt")


def test_search_condition_endpoint(fx):
    api, ds = fx[0], fx[1]
    r = api.get(f"/datasets/{ds}/data-annotations/search-condition")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(l["name"], l["type"]) for l in body["labels"]] == [("cat", 0), ("dog", 0), ("bird", 0)]
    assert sorted(body["labelers"]) == ["human/admin/admin", "human/someone@example.com"]
    md = body["metadata"]
    assert sorted(md["camera"]) == ["x1", "x2"]
    assert "@modelarts:hard" in md and len(md["@modelarts:hard"]) == 1
    assert set(md) == {"camera", "@modelarts:hard"}
    ds2, _ = api.create(0)
    assert api.get(f"/datasets/{ds2}/data-annotations/search-condition").json() == \
        {"labels": [], "metadata": {}, "labelers": []}


def test_search_conditions_sample_time(fx):
    api, ds = fx[0], fx[1]
    assert sc(api, ds, [{"sample_time": "20000101-20000130"}])["sample_count"] == 0
    assert sc(api, ds, [{"sample_time": "month"}])["sample_count"] == 15
    assert_err(api.list_raw(ds, search_conditions=json.dumps([{"sample_time": "20000101-20010101"}])), 400,
               "ModelArts.0101", "sample_time")


def test_search_conditions_metadata(fx):
    api, ds = fx[0], fx[1]
    body = sc(api, ds, [{"metadata": {"op": "AND", "props": {"camera": ["x1"]}}}])
    assert keys(fx, body) == ["s9"]
    body = sc(api, ds, [{"metadata": {"op": "OR", "props": {"camera": ["x1", "x2"]}}}])
    assert keys(fx, body) == ["s11", "s9"]


def test_hard_example_stats_follow_metadata(api):
    ds, _ = api.create(0, labels=[{"name": "cat"}], no_source=True)
    hard = {"@modelarts:hard": 1, "@modelarts:hard_reasons": [1, 3]}
    ids = api.add(ds, [{"name": "h1.jpg", "data": b64(b"1"), "metadata": hard},
                       {"name": "h2.jpg", "data": b64(b"2"), "metadata": {"@modelarts:hard": 1, "@modelarts:hard_reasons": [3]}},
                       {"name": "e.jpg", "data": b64(b"3")}])
    st = api.stats(ds)
    assert st["key_sample_stats"] == {"total": 3, "key_sample": 2, "non_key_sample": 1}
    assert {k: v["key"] for k, v in st["hard_detail_stats"].items()} == {"1": 1, "3": 2}
    assert st["hard_detail_stats"]["3"]["value"]["reason"] == "prediction differs strongly from same-class training data"
    zh = api.get(f"/datasets/{ds}/data-annotations/stats", params={"locale": "zh-cn"}).json()
    assert zh["hard_detail_stats"]["3"]["value"]["reason"] == "预测结果与同类别训练数据差异较大"
    assert zh["hard_detail_stats"]["3"]["key"] == 2
    assert_err(api.get(f"/datasets/{ds}/data-annotations/stats", params={"locale": "fr-fr"}), 400, "ModelArts.0101")
    # the hard flag cleared on one, the other deleted: counters follow
    r = api.put(f"/datasets/{ds}/data-annotations/samples",
                json={"samples": [{"sample_id": ids[1], "labels": [], "metadata": {"@modelarts:hard": 0}}]})
    assert r.status_code == 200, r.text
    assert api.post(f"/datasets/{ds}/data-annotations/samples/delete", json={"samples": [ids[0]]}).status_code == 200
    st = api.stats(ds)
    assert st["key_sample_stats"] == {"total": 2, "key_sample": 0, "non_key_sample": 2}
    assert st["hard_detail_stats"] == {}
    # hard=1 as a search condition agrees with the counter
    listed = api.list_raw(ds, search_conditions=json.dumps([{"hard": "1"}])).json()
    assert listed["sample_count"] == 0


def test_metrics_hourly_counters(api):
    import time as _t
    ds, _ = api.create(0, labels=[{"name": "cat"}], no_source=True)
    ids = api.add(ds, [{"name": f"m{i}.jpg", "data": b64(b"%d" % i)} for i in range(3)])
    r = api.put(f"/datasets/{ds}/data-annotations/samples",
                json={"samples": [{"sample_id": ids[0], "labels": [{"name": "cat", "type": 0}]}]})
    assert r.status_code == 200, r.text
    now = int(_t.time() * 1000)
    m = api.get(f"/datasets/{ds}/metrics?start_time={now - 3600_000}&end_time={now + 60_000}").json()["metrics"]
    latest = lambda series: series[max(series, key=int)]  # the write may have crossed an hour boundary
    assert (latest(m["total"]), latest(m["un_annotation"]), latest(m["manual_annotation"])) == (3, 2, 1), m
    assert all(int(h) % 3600_000 == 0 for h in m["total"])
    # a window before the dataset existed is empty
    old = api.get(f"/datasets/{ds}/metrics?start_time=0&end_time=1000").json()["metrics"]
    assert set(old) >= {"total", "un_annotation", "manual_annotation", "queuing", "success", "failed"}
    assert all(v == {} for v in old.values())
    assert_err(api.get(f"/datasets/{ds}/metrics?end_time={now}"), 400, "ModelArts.0101", "start_time")
    assert_err(api.get(f"/datasets/{ds}/metrics?start_time={now}&end_time={now - 1}"), 400, "ModelArts.0101", "end_time")
    assert_err(api.get(f"/datasets/{ds}/metrics?start_time=abc&end_time={now}"), 400, "ModelArts.0101", "start_time")


def test_confidence_window_filters(api):
    ds, _ = api.create(0, labels=[{"name": "cat"}, {"name": "dog"}], no_source=True)
    lab = lambda name, score=None: {"name": name, "type": 0, **({"score": score} if score is not None else {})}
    ids = api.add(ds, [{"name": "a.jpg", "data": b64(b"a"), "labels": [lab("cat", 0.95)]},
                       {"name": "b.jpg", "data": b64(b"b"), "labels": [lab("cat", 0.3), lab("dog", 0.6)]},
                       {"name": "c.jpg", "data": b64(b"c"), "labels": [lab("dog")]},
                       {"name": "d.jpg", "data": b64(b"d")}])

    def names(**params):
        r = api.list_raw(ds, limit=100, **params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["sample_count"] == len(body["samples"])
        return sorted(s["sample_name"] for s in body["samples"])

    assert names() == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    assert names(low_score="0", high_score="1") == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]  # the default filters nothing
    assert names(low_score="0.9") == ["a.jpg"]
    assert names(low_score="0.5", high_score="0.7") == ["b.jpg"]
    assert names(high_score="0.4") == ["b.jpg"]
    assert names(search_conditions=json.dumps([{"score": "0.9-1"}])) == ["a.jpg"]
    assert names(search_conditions=json.dumps([{"score": "0.2-0.35"}])) == ["b.jpg"]
    # relabeling moves the sample in and out of the window
    r = api.put(f"/datasets/{ds}/data-annotations/samples", json={"samples": [{"sample_id": ids[0], "labels": [lab("cat", 0.55)]}]})
    assert r.status_code == 200, r.text
    assert names(low_score="0.9") == []
    assert names(low_score="0.5", high_score="0.7") == ["a.jpg", "b.jpg"]
    for bad in ({"low_score": "x"}, {"high_score": "2"}, {"low_score": "0.8", "high_score": "0.2"},
                {"search_conditions": json.dumps([{"score": "0.9"}])}, {"search_conditions": json.dumps([{"score": "1-0"}])}):
        assert_err(api.list_raw(ds, **bad), 400, "ModelArts.0101")
