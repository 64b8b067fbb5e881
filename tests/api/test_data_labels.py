"""Labels: list, create, batch update (rename propagates to samples),
batch delete with every delete_policy, update and delete by URL-encoded name."""
import pytest

from datahelpers import assert_err, assert_stats_exact, label_stats, q


def lpath(ds, name=None):
    p = f"/datasets/{ds}/data-annotations/labels"
    return p if name is None else p + "/" + q(name)


def names_of(labels):
    return [l["name"] for l in labels]


def sample_labels(api, ds, sid):
    return sorted(l["name"] for l in api.sample(ds, sid)["labels"])


def seeded(api, labels=("cat", "dog", "bird")):
    """Image classification dataset with samples: only-cat, cat+dog, only-dog, dog+bird, unlabeled."""
    ds, inp = api.create(0, labels=[{"name": n} for n in labels])
    spec = {"c": ["cat"], "cd": ["cat", "dog"], "d": ["dog"], "db": ["dog", "bird"], "n": []}
    ids = {}
    for k, ls in spec.items():
        ids[k] = api.add_inline(ds, k + ".jpg", k.encode(), labels=[{"name": n} for n in ls])
    return ds, inp, ids


# ------------------------------------------------------------------ list / create

def test_list_and_create(api):
    ds, _ = api.create(0, labels=[{"name": "cat", "property": {"@modelarts:color": "#ff0000"}}])
    assert api.labels(ds) == [{"name": "cat", "type": 0, "property": {"@modelarts:color": "#ff0000"}}]
    r = api.post(lpath(ds), json={"labels": [
        {"name": "dog", "property": {"@modelarts:color": "#00FF00", "@modelarts:shortcut": "D", "custom": "kept"}},
        {"name": "狗 dog", "type": 0},
        {"name": "music", "attributes": [{"id": "1", "name": "style", "type": "select",
                                          "values": [{"id": "a", "value": "jazz"}]}]}]})
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True
    labels = api.labels(ds)
    assert names_of(labels) == ["cat", "dog", "狗 dog", "music"]
    dog = labels[1]
    assert dog["type"] == 0
    assert dog["property"] == {"@modelarts:color": "#00FF00", "@modelarts:shortcut": "D", "custom": "kept"}
    assert labels[3]["attributes"][0]["name"] == "style"
    assert labels[3]["attributes"][0]["values"] == [{"id": "a", "value": "jazz"}]
    # the dataset shows the same list, and stats carry every label with zero counts
    assert names_of(api.dataset(ds)["labels"]) == names_of(labels)
    assert label_stats(api.stats(ds)) == {(0, n): (0, 0) for n in names_of(labels)}


def test_create_duplicate_name_is_4411_and_atomic(api):
    ds, _ = api.create(0, labels=[{"name": "cat"}])
    r = api.post(lpath(ds), json={"labels": [{"name": "new1"}, {"name": "cat"}]})
    body = assert_err(r, 400, "ModelArts.4411")
    assert "cat" in body["error_msg"]
    assert names_of(api.labels(ds)) == ["cat"]
    # duplicates inside one batch
    assert_err(api.post(lpath(ds), json={"labels": [{"name": "x"}, {"name": "x"}]}), 400, "ModelArts.4411")
    assert names_of(api.labels(ds)) == ["cat"]


def test_create_duplicate_shortcut_is_4412(api):
    ds, _ = api.create(0, labels=[{"name": "cat", "property": {"@modelarts:shortcut": "C"}}])
    r = api.post(lpath(ds), json={"labels": [{"name": "cow", "property": {"@modelarts:shortcut": "C"}}]})
    assert_err(r, 400, "ModelArts.4412")
    r = api.post(lpath(ds), json={"labels": [{"name": "a", "property": {"@modelarts:shortcut": "A"}},
                                             {"name": "b", "property": {"@modelarts:shortcut": "A"}}]})
    assert_err(r, 400, "ModelArts.4412")
    assert names_of(api.labels(ds)) == ["cat"]
    r = api.post(lpath(ds), json={"labels": [{"name": "cow", "property": {"@modelarts:shortcut": "W"}}]})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("color", ["red", "#12345", "#1234567", "#12345g", "3399ff#", "", "#3399f f"])
def test_create_invalid_colour(api, color):
    ds, _ = api.create(0)
    r = api.post(lpath(ds), json={"labels": [{"name": "c", "property": {"@modelarts:color": color}}]})
    assert_err(r, 400, "ModelArts.0101", "labels[0].property")
    assert api.labels(ds) == []


def test_create_label_validation(api):
    ds, _ = api.create(1)
    for body, field in [({}, "labels"), ({"labels": "cat"}, "labels"), ({"labels": [{"type": 1}]}, "labels[0].name"),
                        ({"labels": [{"name": ""}]}, "labels[0].name"), ({"labels": [{"name": 3}]}, "labels[0].name"),
                        ({"labels": [{"name": "a", "type": 0}]}, "labels[0].type"),
                        ({"labels": [{"name": "a", "property": {"@modelarts:color": 5}}]}, "labels[0].property"),
                        ({"labels": [{"name": "a", "property": []}]}, "labels[0].property"),
                        ({"labels": [{"name": "a\nb"}]}, "labels[0].name"),
                        ({"labels": [{"name": "a", "attributes": [{"id": "x"}]}]}, "labels[0].attributes")]:
        assert_err(api.post(lpath(ds), json=body), 400, "ModelArts.0101", field)
    assert api.labels(ds) == []
    assert_err(api.post(lpath("nosuchdataset0000"), json={"labels": [{"name": "a"}]}), 400, "ModelArts.4352")
    assert_err(api.get(lpath("nosuchdataset0000")), 400, "ModelArts.4352")


def test_triplet_labels(api):
    ds, _ = api.create(102, labels=[{"name": "Person", "type": 103}])
    r = api.post(lpath(ds), json={"labels": [{"name": "knows", "type": 102}]})
    assert_err(r, 400, "ModelArts.0101", "labels[0].property")
    r = api.post(lpath(ds), json={"labels": [{"name": "knows", "type": 102, "property": {
        "@modelarts:from_type": "Person", "@modelarts:to_type": "Person"}}]})
    assert r.status_code == 200, r.text
    assert [(l["name"], l["type"]) for l in api.labels(ds)] == [("Person", 103), ("knows", 102)]


# ------------------------------------------------------------------ batch update

def test_batch_update_rename_propagates(api):
    ds, _, ids = seeded(api)
    r = api.put(lpath(ds), json={"labels": [{"name": "cat", "property": {"@modelarts:rename_to": "kitty",
                                                                          "@modelarts:color": "#abcdef"}}]})
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True
    labels = api.labels(ds)
    assert names_of(labels) == ["kitty", "dog", "bird"]
    assert labels[0]["property"] == {"@modelarts:color": "#abcdef"}  # rename_to is not stored
    assert sample_labels(api, ds, ids["c"]) == ["kitty"]
    assert sample_labels(api, ds, ids["cd"]) == ["dog", "kitty"]
    assert sample_labels(api, ds, ids["d"]) == ["dog"]
    assert api.list(ds, label_name="cat")["sample_count"] == 0
    body = api.list(ds, label_name="kitty", limit=100)
    assert body["sample_count"] == 2
    assert {s["sample_id"] for s in body["samples"]} == {ids["c"], ids["cd"]}
    st = label_stats(api.stats(ds))
    assert st == {(0, "kitty"): (2, 2), (0, "dog"): (3, 3), (0, "bird"): (1, 1)}
    assert_stats_exact(api, ds)


def test_batch_update_properties_replaced(api):
    ds, _ = api.create(0, labels=[{"name": "cat", "property": {"@modelarts:color": "#111111", "old": "x"}}])
    r = api.put(lpath(ds), json={"labels": [{"name": "cat", "property": {"@modelarts:color": "#222222"}}]})
    assert r.status_code == 200, r.text
    assert api.labels(ds)[0]["property"] == {"@modelarts:color": "#222222"}


def test_batch_update_errors_are_atomic(api):
    ds, _, ids = seeded(api)
    # rename to an existing label
    r = api.put(lpath(ds), json={"labels": [{"name": "cat", "property": {"@modelarts:rename_to": "dog"}}]})
    assert_err(r, 400, "ModelArts.4411")
    # first item fine, second names a missing label: nothing applies
    r = api.put(lpath(ds), json={"labels": [{"name": "cat", "property": {"@modelarts:rename_to": "kitty"}},
                                            {"name": "ghost", "property": {}}]})
    assert_err(r, 400, "ModelArts.4410")
    assert names_of(api.labels(ds)) == ["cat", "dog", "bird"]
    assert sample_labels(api, ds, ids["c"]) == ["cat"]
    # invalid colour
    r = api.put(lpath(ds), json={"labels": [{"name": "cat", "property": {"@modelarts:color": "nope"}}]})
    assert_err(r, 400, "ModelArts.0101", "labels[0].property")
    # shortcut clash with another label
    api.put(lpath(ds), json={"labels": [{"name": "dog", "property": {"@modelarts:shortcut": "D"}}]})
    r = api.put(lpath(ds), json={"labels": [{"name": "cat", "property": {"@modelarts:shortcut": "D"}}]})
    assert_err(r, 400, "ModelArts.4412")
    assert_stats_exact(api, ds)


# ------------------------------------------------------------------ batch delete

def test_batch_delete_policy_0_keeps_samples(api):
    ds, _, ids = seeded(api)
    r = api.post(lpath(ds) + "/delete", json={"labels": [{"name": "cat"}]})
    assert r.status_code == 200, r.text
    assert r.json()["success"] is True
    assert names_of(api.labels(ds)) == ["dog", "bird"]
    assert api.list(ds)["sample_count"] == 5
    c = api.sample(ds, ids["c"])
    assert c["labels"] == [] and c["sample_status"] == "UN_ANNOTATION"
    assert sample_labels(api, ds, ids["cd"]) == ["dog"]
    assert api.sample(ds, ids["cd"])["sample_status"] == "MANUAL_ANNOTATION"
    st = api.stats(ds)
    assert st["sample_stats"]["all"] == 5
    assert st["sample_stats"]["un_annotation"] == 2
    assert st["sample_stats"]["manual_annotation"] == 3
    assert label_stats(st) == {(0, "dog"): (3, 3), (0, "bird"): (1, 1)}
    assert_stats_exact(api, ds)


def test_batch_delete_policy_1_deletes_samples(api, server):
    ds, inp, ids = seeded(api)
    r = api.post(lpath(ds) + "/delete", params={"delete_policy": 1}, json={"labels": [{"name": "dog"}]})
    assert r.status_code == 200, r.text
    assert names_of(api.labels(ds)) == ["cat", "bird"]
    left = {s["sample_id"] for s in api.all_samples(ds)}
    assert left == {ids["c"], ids["n"]}
    for k in ("cd", "d", "db"):
        assert_err(api.get(f"/datasets/{ds}/data-annotations/samples/{ids[k]}"), 400, "ModelArts.4420")
        assert server.objects.exists(inp + k + ".jpg")  # policy 1 keeps the files
    st = api.stats(ds)
    assert st["sample_stats"]["all"] == 2 and st["sample_stats"]["deleted"] == 3
    assert label_stats(st) == {(0, "cat"): (1, 1), (0, "bird"): (0, 0)}
    assert_stats_exact(api, ds)


def test_batch_delete_policy_2_deletes_files(api, server):
    ds, inp, ids = seeded(api)
    r = api.post(lpath(ds) + "/delete", params={"delete_policy": 2}, json={"labels": [{"name": "cat"}, {"name": "bird"}]})
    assert r.status_code == 200, r.text
    assert names_of(api.labels(ds)) == ["dog"]
    assert {s["sample_id"] for s in api.all_samples(ds)} == {ids["d"], ids["n"]}
    for k in ("c", "cd", "db"):
        assert not server.objects.exists(inp + k + ".jpg"), k
    for k in ("d", "n"):
        assert server.objects.exists(inp + k + ".jpg"), k
    assert_stats_exact(api, ds)


def test_batch_delete_errors(api):
    ds, _, ids = seeded(api)
    r = api.post(lpath(ds) + "/delete", params={"delete_policy": 3}, json={"labels": [{"name": "cat"}]})
    assert_err(r, 400, "ModelArts.0101", "delete_policy")
    r = api.post(lpath(ds) + "/delete", json={"labels": [{"name": "cat"}, {"name": "ghost"}]})
    assert_err(r, 400, "ModelArts.4410")
    r = api.post(lpath(ds) + "/delete", json={"labels": [{"type": 0}]})
    assert_err(r, 400, "ModelArts.0101", "labels[0].name")
    assert names_of(api.labels(ds)) == ["cat", "dog", "bird"]
    assert sample_labels(api, ds, ids["c"]) == ["cat"]
    assert_stats_exact(api, ds)


# ------------------------------------------------------------------ by name

def test_update_by_utf8_name(api):
    ds, _ = api.create(0, labels=[{"name": "狗 dog", "property": {"@modelarts:color": "#000000", "keep": "me"}},
                                  {"name": "cat"}])
    sid = api.add_inline(ds, "u.jpg", b"u", labels=[{"name": "狗 dog"}, {"name": "cat"}])
    r = api.put(lpath(ds, "狗 dog"), json={"@modelarts:color": "#93c47d"})
    assert r.status_code == 204, r.text
    assert api.labels(ds)[0] == {"name": "狗 dog", "type": 0, "property": {"@modelarts:color": "#93c47d", "keep": "me"}}
    # rename by name: the sample follows
    r = api.put(lpath(ds, "狗 dog"), json={"@modelarts:rename_to": "小狗"})
    assert r.status_code == 204, r.text
    assert names_of(api.labels(ds)) == ["小狗", "cat"]
    assert sample_labels(api, ds, sid) == ["cat", "小狗"]
    assert label_stats(api.stats(ds)) == {(0, "小狗"): (1, 1), (0, "cat"): (1, 1)}
    # errors
    assert_err(api.put(lpath(ds, "狗 dog"), json={"@modelarts:color": "#93c47d"}), 400, "ModelArts.4410")
    assert_err(api.put(lpath(ds, "小狗"), json={"@modelarts:rename_to": "cat"}), 400, "ModelArts.4411")
    assert_err(api.put(lpath(ds, "小狗"), json={"@modelarts:color": 5}), 400, "ModelArts.0101")
    assert names_of(api.labels(ds)) == ["小狗", "cat"]
    assert_stats_exact(api, ds)


def test_update_by_name_invalid_colour(api):
    ds, _ = api.create(0, labels=[{"name": "cat", "property": {"@modelarts:color": "#000000"}}])
    r = api.put(lpath(ds, "cat"), json={"@modelarts:color": "green"})
    assert_err(r, 400, "ModelArts.0101", "@modelarts:color")
    assert api.labels(ds)[0]["property"] == {"@modelarts:color": "#000000"}


def test_update_by_name_label_type_disambiguates(api):
    ds, _ = api.create(900, labels=[{"name": "x", "type": 0}, {"name": "x", "type": 100}])
    assert_err(api.put(lpath(ds, "x"), json={"@modelarts:color": "#111111"}), 400, "ModelArts.0101")
    r = api.put(lpath(ds, "x"), params={"label_type": 100}, json={"@modelarts:color": "#111111"})
    assert r.status_code == 204, r.text
    props = {l["type"]: l["property"] for l in api.labels(ds)}
    assert props == {0: {}, 100: {"@modelarts:color": "#111111"}}


def test_delete_by_name(api, server):
    ds, inp, ids = seeded(api)
    r = api.delete(lpath(ds, "cat"))
    assert r.status_code == 204, r.text
    assert names_of(api.labels(ds)) == ["dog", "bird"]
    # only-cat sample is gone, cat+dog lost cat, others untouched
    assert_err(api.get(f"/datasets/{ds}/data-annotations/samples/{ids['c']}"), 400, "ModelArts.4420")
    assert server.objects.exists(inp + "c.jpg")  # delete_source defaults to false
    assert sample_labels(api, ds, ids["cd"]) == ["dog"]
    assert {s["sample_id"] for s in api.all_samples(ds)} == {ids["cd"], ids["d"], ids["db"], ids["n"]}
    st = api.stats(ds)
    assert st["sample_stats"]["all"] == 4 and st["sample_stats"]["un_annotation"] == 1
    assert label_stats(st) == {(0, "dog"): (3, 3), (0, "bird"): (1, 1)}
    assert_stats_exact(api, ds)
    assert_err(api.delete(lpath(ds, "cat")), 400, "ModelArts.4410")


def test_delete_by_utf8_name(api):
    ds, _ = api.create(0, labels=[{"name": "狗 dog"}, {"name": "cat"}])
    only = api.add_inline(ds, "1.jpg", b"1", labels=[{"name": "狗 dog"}])
    both = api.add_inline(ds, "2.jpg", b"2", labels=[{"name": "狗 dog"}, {"name": "cat"}])
    r = api.delete(lpath(ds, "狗 dog"))
    assert r.status_code == 204, r.text
    assert [s["sample_id"] for s in api.all_samples(ds)] == [both]
    assert sample_labels(api, ds, both) == ["cat"]
    assert_err(api.get(f"/datasets/{ds}/data-annotations/samples/{only}"), 400, "ModelArts.4420")
    assert_stats_exact(api, ds)


def test_delete_by_name_with_delete_source(api, server):
    ds, inp, ids = seeded(api)
    r = api.delete(lpath(ds, "cat"), params={"delete_source": "true"})
    assert r.status_code == 204, r.text
    # the sample with another label survives and only loses the label
    assert sample_labels(api, ds, ids["cd"]) == ["dog"]
    assert server.objects.exists(inp + "cd.jpg")
    # the only-cat sample and its file are gone
    assert_err(api.get(f"/datasets/{ds}/data-annotations/samples/{ids['c']}"), 400, "ModelArts.4420")
    assert not server.objects.exists(inp + "c.jpg")


def test_by_name_special_characters(api):
    names = ["a/b", "c+d", "e%f", "g h", "é?#&"]
    ds, _ = api.create(0, labels=[{"name": n} for n in names])
    sid = api.add_inline(ds, "s.jpg", b"s", labels=[{"name": "a/b"}, {"name": "c+d"}])
    for i, n in enumerate(names):
        r = api.put(lpath(ds, n), json={"@modelarts:color": "#00000" + str(i)})
        assert r.status_code == 204, (n, r.text)
    assert {l["name"]: l["property"]["@modelarts:color"] for l in api.labels(ds)} == \
        {n: "#00000" + str(i) for i, n in enumerate(names)}
    assert api.delete(lpath(ds, "a/b")).status_code == 204
    assert api.delete(lpath(ds, "e%f")).status_code == 204
    assert names_of(api.labels(ds)) == ["c+d", "g h", "é?#&"]
    assert sample_labels(api, ds, sid) == ["c+d"]
    assert_stats_exact(api, ds)


def test_batch_update_without_type(api):
    ds, _ = api.create(900, labels=[{"name": "box", "type": 1}])
    r = api.put(lpath(ds), json={"labels": [{"name": "box", "property": {"@modelarts:color": "#ffffff"}}]})
    assert r.status_code == 200, r.text
    assert api.labels(ds)[0] == {"name": "box", "type": 1, "property": {"@modelarts:color": "#ffffff"}}
    ds2, _ = api.create(102, labels=[{"name": "P", "type": 103}])
    r = api.put(lpath(ds2), json={"labels": [{"name": "P", "property": {"@modelarts:color": "#ffffff"}}]})
    assert r.status_code == 200, r.text
