"""Manual annotation: every annotation kind,
geometry / span / time validation with whole-batch atomicity, annotated_by and
state, and the stats counters staying exact (checked against a full recount)
through a random sequence of adds, annotations, label renames/deletes and sample
deletes."""
import random

import pytest

from datahelpers import assert_err, assert_stats_exact, b64, folder, label_stats, q


def lab(name, type_=None, **prop):
    l = {"name": name}
    if type_ is not None:
        l["type"] = type_
    if prop:
        l["property"] = {"@modelarts:" + k: v for k, v in prop.items()}
    return l


def labels_of(api, ds, sid):
    return api.sample(ds, sid)["labels"]


def put_one(api, ds, sid, labels, **item):
    d = {"sample_id": sid, "labels": labels}
    d.update(item)
    return api.annotate_raw(ds, [d])


# ------------------------------------------------------------------ classification

def test_classification_single_multi_and_state(api):
    ds, _ = api.create(0, labels=[lab("cat"), lab("dog")])
    a, b = api.add(ds, [{"name": "a.jpg", "data": b64(b"a")}, {"name": "b.jpg", "data": b64(b"b")}])
    assert api.sample(ds, a)["sample_status"] == "UN_ANNOTATION"
    r = api.annotate(ds, [{"sample_id": a, "labels": [lab("cat")]},
                          {"sample_id": b, "labels": [lab("cat"), lab("dog", 0)]}])
    assert r["success"] is True and len(r["results"]) == 2
    sa, sb = api.sample(ds, a), api.sample(ds, b)
    assert sa["sample_status"] == sb["sample_status"] == "MANUAL_ANNOTATION"
    assert [(l["name"], l["type"]) for l in sa["labels"]] == [("cat", 0)]
    assert [(l["name"], l["type"]) for l in sb["labels"]] == [("cat", 0), ("dog", 0)]
    for l in sa["labels"] + sb["labels"]:
        assert l["annotated_by"] == "human/admin/admin"
        assert isinstance(l["create_time"], int) and l["create_time"] > 1_500_000_000_000
        assert isinstance(l["id"], str) and l["id"]
    assert sa["annotated_by"] == "human/admin/admin"
    st = api.stats(ds)
    assert st["sample_stats"]["manual_annotation"] == 2 and st["sample_stats"]["un_annotation"] == 0
    assert label_stats(st) == {(0, "cat"): (2, 2), (0, "dog"): (1, 1)}
    # labels replace the list; an empty list unlabels
    api.annotate(ds, [{"sample_id": b, "labels": [lab("dog")]}])
    assert [l["name"] for l in labels_of(api, ds, b)] == ["dog"]
    api.annotate(ds, [{"sample_id": a, "labels": []}])
    sa = api.sample(ds, a)
    assert sa["labels"] == [] and sa["sample_status"] == "UN_ANNOTATION" and "annotated_by" not in sa
    api.annotate(ds, [{"sample_id": b}])  # no labels key: removes them too
    assert api.sample(ds, b)["sample_status"] == "UN_ANNOTATION"
    st = api.stats(ds)
    assert st["sample_stats"]["un_annotation"] == 2 and st["sample_stats"]["manual_annotation"] == 0
    assert label_stats(st) == {(0, "cat"): (0, 0), (0, "dog"): (0, 0)}
    assert_stats_exact(api, ds)


def test_annotated_by_email_and_create_time_kept(api):
    ds, _ = api.create(0, labels=[lab("cat"), lab("dog")])
    sid = api.add_inline(ds, "a.jpg", b"a")
    api.annotate(ds, [{"sample_id": sid, "labels": [lab("cat")]}], email="ann@example.com")
    s = api.sample(ds, sid)
    assert s["annotated_by"] == "human/ann@example.com"
    first = s["labels"][0]
    assert first["annotated_by"] == "human/ann@example.com"
    # sending the stored annotation back keeps its author and time; the new one is the caller's
    api.annotate(ds, [{"sample_id": sid, "labels": [first, lab("dog")]}])
    s = api.sample(ds, sid)
    assert s["labels"][0]["create_time"] == first["create_time"]
    assert s["labels"][0]["annotated_by"] == "human/ann@example.com"
    assert s["labels"][0]["id"] == first["id"]
    assert s["labels"][1]["annotated_by"] == "human/admin/admin"
    assert s["annotated_by"] == "human/admin/admin"
    labelers = api.get(f"/datasets/{ds}/data-annotations/search-condition").json()["labelers"]
    assert labelers == ["human/admin/admin"]


def test_usage_and_metadata(api):
    ds, _ = api.create(0, labels=[lab("cat")])
    sid = api.add_inline(ds, "a.jpg", b"a", metadata={"keep": "k"})
    api.annotate(ds, [{"sample_id": sid, "labels": [lab("cat")], "sample_usage": "TRAIN",
                       "metadata": {"@modelarts:hard": 1, "extra": "e"}}])
    s = api.sample(ds, sid)
    assert s["sample_usage"] == "TRAIN"
    assert s["metadata"] == {"keep": "k", "@modelarts:hard": 1, "extra": "e"}
    assert_err(put_one(api, ds, sid, [], sample_usage="FOO"), 400, "ModelArts.0101", "samples[0].sample_usage")
    assert_err(put_one(api, ds, sid, [], metadata="x"), 400, "ModelArts.0101", "samples[0].metadata")
    assert api.sample(ds, sid)["labels"][0]["name"] == "cat"


def test_classification_errors_are_atomic(api):
    ds, _ = api.create(0, labels=[lab("cat"), lab("dog")])
    a, b = api.add(ds, [{"name": "a.jpg", "data": b64(b"a"), "labels": [lab("dog")]},
                        {"name": "b.jpg", "data": b64(b"b")}])
    before_a, before_b = api.sample(ds, a), api.sample(ds, b)
    good = {"sample_id": b, "labels": [lab("cat")]}
    cases = [
        ({"sample_id": a, "labels": [lab("ghost")]}, 400, "ModelArts.4410", "ghost"),
        ({"sample_id": a, "labels": [lab("cat", 1)]}, 400, "ModelArts.0101", "samples[1].labels[0].type"),
        ({"sample_id": a, "labels": [{"type": 0}]}, 400, "ModelArts.0101", "samples[1].labels[0].name"),
        ({"sample_id": a, "labels": ["cat"]}, 400, "ModelArts.0101", "samples[1].labels[0]"),
        ({"sample_id": a, "labels": {"name": "cat"}}, 400, "ModelArts.0101", "samples[1].labels"),
        ({"sample_id": a, "labels": [dict(lab("cat"), score=1.5)]}, 400, "ModelArts.0101", "samples[1].labels[0].score"),
        ({"sample_id": a, "labels": [dict(lab("cat"), property=[1])]}, 400, "ModelArts.0101", "samples[1].labels[0].property"),
        ({"sample_id": a, "labels": [lab("cat", hard_coefficient="2")]}, 400, "ModelArts.0101", "hard_coefficient"),
        ({"sample_id": "0" * 32, "labels": [lab("cat")]}, 400, "ModelArts.4420", "0" * 32),
        ({"sample_id": b, "labels": [lab("dog")]}, 400, "ModelArts.0101", "samples[1].sample_id"),
        ({"labels": [lab("cat")]}, 400, "ModelArts.0101", "samples[1].sample_id"),
    ]
    for bad, status, code, field in cases:
        r = api.annotate_raw(ds, [good, bad])
        assert_err(r, status, code, field)
        assert api.sample(ds, a)["labels"] == before_a["labels"]
        assert api.sample(ds, b)["labels"] == before_b["labels"] == []
        assert api.sample(ds, b)["sample_status"] == "UN_ANNOTATION"
    assert_err(api.put(f"/datasets/{ds}/data-annotations/samples", json={}), 400, "ModelArts.0101", "samples")
    assert_err(api.annotate_raw("nosuchdataset0000", [good]), 400, "ModelArts.4352")
    assert_stats_exact(api, ds)


# ------------------------------------------------------------------ detection geometry

def shape(name, label, feature):
    return {"name": label, "type": 1, "property": {"@modelarts:shape": name, "@modelarts:feature": feature}}


VALID_SHAPES = [
    shape("bndbox", "car", [[10, 10], [50, 40]]),
    shape("bndbox", "car", [[0, 0], [100, 80]]),
    shape("polygon", "person", [[1, 1], [20, 1], [10, 30]]),
    shape("circle", "car", [[50, 40], [10]]),
    shape("line", "person", [[0, 0], [100, 80]]),
    shape("dashed", "person", [[5, 5], [6, 70]]),
    shape("point", "car", [[99.5, 79]]),
    shape("polyline", "person", [[0, 0], [10, 10]]),
    shape("polyline", "person", [[0, 0], [10, 10], [20, 5], [30, 30]]),
]

INVALID_SHAPES = [
    ("point outside", shape("point", "car", [[101, 5]])),
    ("point below", shape("point", "car", [[5, 80.5]])),
    ("negative", shape("point", "car", [[-1, 5]])),
    ("bndbox min>max", shape("bndbox", "car", [[50, 40], [10, 10]])),
    ("bndbox min=max x", shape("bndbox", "car", [[10, 10], [10, 40]])),
    ("bndbox min=max y", shape("bndbox", "car", [[10, 40], [50, 40]])),
    ("bndbox outside", shape("bndbox", "car", [[10, 10], [150, 40]])),
    ("bndbox 3 points", shape("bndbox", "car", [[1, 1], [2, 2], [3, 3]])),
    ("polygon 2 points", shape("polygon", "person", [[1, 1], [20, 1]])),
    ("polygon point outside", shape("polygon", "person", [[1, 1], [20, 1], [10, 300]])),
    ("polyline 1 point", shape("polyline", "person", [[1, 1]])),
    ("line 3 points", shape("line", "person", [[1, 1], [2, 2], [3, 3]])),
    ("point 2 points", shape("point", "car", [[1, 1], [2, 2]])),
    ("circle leaves image", shape("circle", "car", [[95, 40], [10]])),
    ("circle r=0", shape("circle", "car", [[50, 40], [0]])),
    ("circle no radius", shape("circle", "car", [[50, 40]])),
    ("unknown shape", shape("star", "car", [[1, 1]])),
    ("no shape", {"name": "car", "type": 1, "property": {"@modelarts:feature": [[1, 1]]}}),
    ("no feature", {"name": "car", "type": 1, "property": {"@modelarts:shape": "point"}}),
    ("feature not points", shape("point", "car", [5, 5])),
    ("coordinate not a number", shape("point", "car", [["1", 2]])),
]


@pytest.fixture
def det(api):
    ds, _ = api.create(1, labels=[lab("car", 1), lab("person", 1)])
    a, b = api.add(ds, [{"name": "a.jpg", "data": b64(b"a"), "metadata": {"@modelarts:size": [100, 80, 3]}},
                        {"name": "b.jpg", "data": b64(b"b"), "metadata": {"@modelarts:size": [100, 80]},
                         "labels": [shape("bndbox", "car", [[1, 1], [2, 2]])]}])
    return ds, a, b


def test_detection_valid_shapes(api, det):
    ds, a, b = det
    api.annotate(ds, [{"sample_id": a, "labels": VALID_SHAPES}])
    got = labels_of(api, ds, a)
    assert [(l["name"], l["type"], l["property"]) for l in got] == \
        [(l["name"], 1, l["property"]) for l in VALID_SHAPES]
    assert api.sample(ds, a)["sample_status"] == "MANUAL_ANNOTATION"
    st = label_stats(api.stats(ds))
    n_car = sum(1 for l in VALID_SHAPES if l["name"] == "car")
    n_person = len(VALID_SHAPES) - n_car
    assert st == {(1, "car"): (n_car + 1, 2), (1, "person"): (n_person, 1)}
    assert_stats_exact(api, ds)


@pytest.mark.parametrize("case", [c[0] for c in INVALID_SHAPES])
def test_detection_invalid_geometry_applies_nothing(api, det, case):
    ds, a, b = det
    bad = dict(INVALID_SHAPES)[case]
    before_b = labels_of(api, ds, b)
    # the valid change to `a` comes first in the batch; it must not apply either
    r = api.annotate_raw(ds, [{"sample_id": a, "labels": [shape("point", "car", [[1, 1]])]},
                              {"sample_id": b, "labels": [shape("point", "person", [[2, 2]]), bad]}])
    assert_err(r, 400, "ModelArts.0101", "samples[1].labels[1]")
    assert labels_of(api, ds, a) == []
    assert api.sample(ds, a)["sample_status"] == "UN_ANNOTATION"
    assert labels_of(api, ds, b) == before_b
    st = api.stats(ds)
    assert st["sample_stats"]["manual_annotation"] == 1
    assert label_stats(st) == {(1, "car"): (1, 1), (1, "person"): (0, 0)}


def test_detection_needs_image_size(api, det):
    ds, a, b = det
    c = api.add_inline(ds, "c.jpg", b"c")
    r = put_one(api, ds, c, [shape("point", "car", [[1, 1]])])
    assert_err(r, 400, "ModelArts.0101", "@modelarts:size")
    assert labels_of(api, ds, c) == []
    # the size may come with the annotation itself
    api.annotate(ds, [{"sample_id": c, "labels": [shape("point", "car", [[30, 10]])],
                       "metadata": {"@modelarts:size": [40, 20, 3]}}])
    assert api.sample(ds, c)["metadata"]["@modelarts:size"] == [40, 20, 3]
    # ... and is then checked against: x=30 is outside a 20-wide image
    r = api.annotate_raw(ds, [{"sample_id": c, "labels": [shape("point", "car", [[30, 10]])],
                               "metadata": {"@modelarts:size": [20, 20]}}])
    assert_err(r, 400, "ModelArts.0101", "samples[0].labels[0]")
    assert api.sample(ds, c)["metadata"]["@modelarts:size"] == [40, 20, 3]
    # adding a sample with boxes and no size fails too
    r = api.add_raw(ds, [{"name": "d.jpg", "data": b64(b"d"), "labels": [shape("point", "car", [[1, 1]])]}])
    assert_err(r, 400, "ModelArts.0101", "@modelarts:size")


def test_detection_label_not_in_dataset(api, det):
    ds, a, b = det
    before_b = labels_of(api, ds, b)
    r = api.annotate_raw(ds, [{"sample_id": b, "labels": [shape("point", "car", [[3, 3]])]},
                              {"sample_id": a, "labels": [shape("point", "truck", [[1, 1]])]}])
    body = assert_err(r, 400, "ModelArts.4410")
    assert "truck" in body["error_msg"] and "samples[1].labels[0]" in body["error_msg"]
    assert labels_of(api, ds, b) == before_b
    assert [l["name"] for l in api.labels(ds)] == ["car", "person"]


# ------------------------------------------------------------------ text: NER, triplets

def test_ner_spans(api):
    ds, _ = api.create(101, labels=[lab("Person", 101), lab("City", 101)])
    text = "Ada Lovelace was born in London."
    uni = "Zoë lives in Köln."  # 18 characters, 20 bytes
    a, u = api.add(ds, [{"name": "a.txt", "data": b64(text)}, {"name": "u.txt", "data": b64(uni)}])
    api.annotate(ds, [{"sample_id": a, "labels": [lab("Person", 101, start_index=0, end_index=12),
                                                  lab("City", 101, start_index=25, end_index=31)]},
                      {"sample_id": u, "labels": [lab("City", 101, start_index=13, end_index=18)]}])
    got = labels_of(api, ds, a)
    assert [(l["name"], l["property"]["@modelarts:start_index"], l["property"]["@modelarts:end_index"])
            for l in got] == [("Person", 0, 12), ("City", 25, 31)]
    assert text[25:31] == "London"
    # whole text is fine, one past the end is not (characters, not bytes)
    api.annotate(ds, [{"sample_id": a, "labels": [lab("City", 101, start_index=0, end_index=len(text))]}])
    for start, end in [(0, len(text) + 1), (-1, 3), (5, 5), (6, 2)]:
        r = api.annotate_raw(ds, [{"sample_id": u, "labels": []},
                                  {"sample_id": a, "labels": [lab("Person", 101, start_index=start, end_index=end)]}])
        assert_err(r, 400, "ModelArts.0101", "samples[1].labels[0].property")
    r = put_one(api, ds, u, [lab("City", 101, start_index=13, end_index=19)])
    assert_err(r, 400, "ModelArts.0101", "samples[0].labels[0].property")
    r = put_one(api, ds, u, [lab("City", 101, start_index=13)])
    assert_err(r, 400, "ModelArts.0101", "samples[0].labels[0].property")
    r = put_one(api, ds, u, [lab("City", 101, start_index="13", end_index=18)])
    assert_err(r, 400, "ModelArts.0101", "samples[0].labels[0].property")
    # nothing of the failed batches applied
    assert [l["name"] for l in labels_of(api, ds, u)] == ["City"]
    assert [(l["property"]["@modelarts:start_index"], l["property"]["@modelarts:end_index"])
            for l in labels_of(api, ds, a)] == [(0, len(text))]
    assert_stats_exact(api, ds)


def test_ner_on_add(api):
    ds, _ = api.create(101, labels=[lab("Person", 101)])
    r = api.add_raw(ds, [{"name": "x.txt", "data": b64("Bob"), "labels": [lab("Person", 101, start_index=0, end_index=4)]}])
    assert_err(r, 400, "ModelArts.0101", "samples[0].labels[0].property")
    sid = api.add(ds, [{"name": "x.txt", "data": b64("Bob"), "labels": [lab("Person", 101, start_index=0, end_index=3)]}])[0]
    assert api.sample(ds, sid)["sample_status"] == "MANUAL_ANNOTATION"


def test_text_triplets(api, server):
    rel = {"@modelarts:from_type": "City", "@modelarts:to_type": "Country"}
    ds, inp = api.create(102, labels=[lab("City", 103), lab("Country", 103),
                                      {"name": "capital_of", "type": 102, "property": rel}])
    text = "Rivertown is the capital of Valeland."
    sid, other = api.add(ds, [{"name": "t.txt", "data": b64(text)}, {"name": "o.txt", "data": b64("other text")}])
    e1 = dict(lab("City", 103, start_index=0, end_index=9), id="E1")
    e2 = dict(lab("Country", 103, start_index=28, end_index=36), id="E2")
    r1 = dict(lab("capital_of", 102, **{"from": "E1", "to": "E2"}), id="R1")
    api.annotate(ds, [{"sample_id": sid, "labels": [e1, e2, r1]}])
    got = labels_of(api, ds, sid)
    assert [(l["id"], l["name"], l["type"]) for l in got] == [("E1", "City", 103), ("E2", "Country", 103),
                                                              ("R1", "capital_of", 102)]
    assert got[2]["property"]["@modelarts:from"] == "E1" and got[2]["property"]["@modelarts:to"] == "E2"
    assert text[28:36] == "Valeland"
    # the relation may come before the entities it names
    api.annotate(ds, [{"sample_id": other, "labels": [dict(r1), dict(lab("City", 103, start_index=0, end_index=5), id="E1"),
                                                      dict(lab("Country", 103, start_index=6, end_index=10), id="E2")]}])
    before = labels_of(api, ds, sid)
    bad_cases = [
        dict(lab("capital_of", 102, **{"from": "E1", "to": "E9"}), id="R2"),
        dict(lab("capital_of", 102, **{"from": "E1"}), id="R2"),
        dict(lab("capital_of", 102, **{"from": "E1", "to": "R1"}), id="R2"),  # a relation is not an entity
        dict(lab("capital_of", 102, **{"from": "E1", "to": 2}), id="R2"),
        dict(lab("City", 103, start_index=30, end_index=99), id="E3"),
    ]
    for bad in bad_cases:
        r = api.annotate_raw(ds, [{"sample_id": other, "labels": []},
                                  {"sample_id": sid, "labels": [e1, e2, r1, bad]}])
        assert_err(r, 400, "ModelArts.0101", "samples[1].labels[3]")
        assert labels_of(api, ds, sid) == before
        assert len(labels_of(api, ds, other)) == 3
    # entity ids of ANOTHER sample do not count
    r = put_one(api, ds, other, [dict(lab("capital_of", 102, **{"from": "E1", "to": "E2"}), id="R1")])
    assert_err(r, 400, "ModelArts.0101", "samples[0].labels[0]")
    st = label_stats(api.stats(ds))
    assert st == {(103, "City"): (2, 2), (103, "Country"): (2, 2), (102, "capital_of"): (2, 2)}
    assert_stats_exact(api, ds)


# ------------------------------------------------------------------ audio

def test_speech_paragraph(api):
    ds, _ = api.create(202, labels=[lab("seg", 202)])
    a, b = api.add(ds, [{"name": "call.wav", "data": b64(b"RIFF1")}, {"name": "b.wav", "data": b64(b"RIFF2")}])
    segs = [lab("seg", 202, start_time="00:00:02.250", end_time="00:00:04.900", source="agent", content="good morning"),
            lab("seg", 202, start_time="00:00:05.100", end_time="01:02:03.000", source="caller", content="hi there")]
    api.annotate(ds, [{"sample_id": a, "labels": segs}])
    got = labels_of(api, ds, a)
    assert [l["property"] for l in got] == [s["property"] for s in segs]
    assert label_stats(api.stats(ds)) == {(202, "seg"): (2, 1)}
    for start, end in [("00:00:04.900", "00:00:02.250"), ("00:00:02.250", "00:00:02.250"),
                       ("00:00:01.000", "00:00:00.999"), ("2.5", "00:00:03.000"), ("00:00:01.000", "00:61:00.000"),
                       ("00:00:01.000", "00:00:02"), ("00:00:01.000", None), (None, "00:00:02.000"),
                       ("00:00:01.000", 2000)]:
        prop = {}
        if start is not None:
            prop["start_time"] = start
        if end is not None:
            prop["end_time"] = end
        r = api.annotate_raw(ds, [{"sample_id": b, "labels": [segs[0]]},
                                  {"sample_id": a, "labels": [lab("seg", 202, **prop)]}])
        assert_err(r, 400, "ModelArts.0101", "samples[1].labels[0].property")
        assert labels_of(api, ds, b) == []
        assert [l["property"] for l in labels_of(api, ds, a)] == [s["property"] for s in segs]
    assert_stats_exact(api, ds)


def test_speech_content_and_audio_classification(api):
    ds, _ = api.create(201, labels=[lab("speech", 201)])
    sid = api.add_inline(ds, "n.wav", b"RIFF")
    api.annotate(ds, [{"sample_id": sid, "labels": [lab("speech", 201, content="meeting moved to friday")]}])
    assert labels_of(api, ds, sid)[0]["property"] == {"@modelarts:content": "meeting moved to friday"}
    assert_err(put_one(api, ds, sid, [lab("speech", 201, content=5)]), 400, "ModelArts.0101", "samples[0].labels[0]")
    ds2, _ = api.create(200, labels=[lab("doorbell", 200), lab("dog", 200)])
    s2 = api.add_inline(ds2, "bell.wav", b"RIFF")
    api.annotate(ds2, [{"sample_id": s2, "labels": [lab("doorbell"), lab("dog", 200)]}])
    assert [(l["name"], l["type"]) for l in labels_of(api, ds2, s2)] == [("doorbell", 200), ("dog", 200)]
    assert_err(put_one(api, ds2, s2, [lab("doorbell", 201)]), 400, "ModelArts.0101", "samples[0].labels[0].type")


def test_free_format_mixed_types(api):
    ds, _ = api.create(900, labels=[lab("img", 0), lab("box", 1), lab("txt", 100)])
    sid = api.add_inline(ds, "f.bin", b"0123456789", metadata={"@modelarts:size": [10, 10]})
    api.annotate(ds, [{"sample_id": sid, "labels": [lab("img", 0), lab("txt", 100),
                                                    shape("bndbox", "box", [[1, 1], [9, 9]])]}])
    assert [(l["name"], l["type"]) for l in labels_of(api, ds, sid)] == [("img", 0), ("txt", 100), ("box", 1)]
    # a label name defined under another type is not defined
    assert_err(put_one(api, ds, sid, [lab("img", 100)]), 400, "ModelArts.4410")
    grouped = api.stats(ds)["grouped_label_stats"]
    assert {k: [(l["name"], l["count"], l["sample_count"]) for l in v] for k, v in grouped.items()} == \
        {"0": [("img", 1, 1)], "1": [("box", 1, 1)], "100": [("txt", 1, 1)]}
    assert_stats_exact(api, ds)


def test_label_rename_keeps_unconfirmed_state(api):
    ds, _ = api.create(0, labels=[lab("cat"), lab("dog")])
    sid = api.add(ds, [{"name": "x.jpg", "data": b64(b"x"), "labels": [lab("cat"), lab("dog")]}],
                  final_annotation=False)[0]
    assert api.sample(ds, sid)["sample_status"] == "AUTO_ANNOTATION"
    r = api.put(f"/datasets/{ds}/data-annotations/labels/{q('cat')}", json={"@modelarts:rename_to": "kitty"})
    assert r.status_code == 204, r.text
    assert api.sample(ds, sid)["sample_status"] == "AUTO_ANNOTATION"
    r = api.post(f"/datasets/{ds}/data-annotations/labels/delete", json={"labels": [{"name": "dog"}]})
    assert r.status_code == 200, r.text
    assert api.sample(ds, sid)["sample_status"] == "AUTO_ANNOTATION"
    assert api.stats(ds)["sample_stats"]["auto_annotation"] == 1


# ------------------------------------------------------------------ counters vs full recount

def test_stats_exact_after_random_operations(api, server):
    """A seeded random mix of every write that touches counters; after each step
    group the stats must equal a recount from a full listing, and the listing
    must equal the test's own model of the dataset."""
    rnd = random.Random(20240611)
    ds, inp = api.create(1, labels=[lab(f"L{i}", 1) for i in range(4)])
    ext = folder("ext")
    size = {"@modelarts:size": [64, 48, 3]}
    model = {}  # sample id -> list of label names (in order)
    label_names = [f"L{i}" for i in range(4)]
    counter = [0]

    def boxes():
        out = []
        for _ in range(rnd.choice([0, 1, 1, 2, 3])):
            x, y = rnd.randint(0, 30), rnd.randint(0, 20)
            out.append(shape("bndbox", rnd.choice(label_names), [[x, y], [x + rnd.randint(1, 30), y + rnd.randint(1, 25)]]))
        return out

    def add_samples():
        batch, labels = [], []
        for _ in range(rnd.randint(1, 6)):
            counter[0] += 1
            ls = boxes() if label_names else []
            if rnd.random() < 0.3:
                path = f"{ext}r{counter[0]}.jpg"
                server.objects.put(path, b"r")
                s = {"data_source": {"data_path": path}}
            else:
                s = {"name": f"s{counter[0]}.jpg", "data": b64(b"s%d" % counter[0])}
            s["metadata"] = size
            s["labels"] = ls
            batch.append(s)
            labels.append([l["name"] for l in ls])
        ids = api.add(ds, batch, final_annotation=rnd.random() < 0.8)
        model.update(zip(ids, labels))

    def annotate():
        if not model:
            return
        items = []
        for sid in rnd.sample(sorted(model), min(len(model), rnd.randint(1, 5))):
            ls = boxes() if label_names else []
            items.append({"sample_id": sid, "labels": ls})
            model[sid] = [l["name"] for l in ls]
        api.annotate(ds, items)

    def delete_samples():
        if not model:
            return
        ids = rnd.sample(sorted(model), min(len(model), rnd.randint(1, 3)))
        r = api.delete_samples(ds, ids, delete_source=rnd.random() < 0.5)
        assert r.status_code == 200, r.text
        for sid in ids:
            del model[sid]

    def rename_label():
        if not label_names:
            return
        old = rnd.choice(label_names)
        counter[0] += 1
        new = f"N{counter[0]}"
        if rnd.random() < 0.5:
            r = api.put(f"/datasets/{ds}/data-annotations/labels",
                        json={"labels": [{"name": old, "type": 1, "property": {"@modelarts:rename_to": new}}]})
            assert r.status_code == 200, r.text
        else:
            r = api.put(f"/datasets/{ds}/data-annotations/labels/{q(old)}", json={"@modelarts:rename_to": new})
            assert r.status_code == 204, r.text
        label_names[label_names.index(old)] = new
        for sid in model:
            model[sid] = [new if n == old else n for n in model[sid]]

    def delete_label():
        if len(label_names) < 2:
            return
        victim = rnd.choice(label_names)
        how = rnd.choice(["policy0", "policy1", "byname"])
        if how == "byname":
            r = api.delete(f"/datasets/{ds}/data-annotations/labels/{q(victim)}")
            assert r.status_code == 204, r.text
        else:
            r = api.post(f"/datasets/{ds}/data-annotations/labels/delete",
                         params={"delete_policy": 0 if how == "policy0" else 1}, json={"labels": [{"name": victim}]})
            assert r.status_code == 200, r.text
        label_names.remove(victim)
        for sid in list(model):
            ls = model[sid]
            if victim not in ls:
                continue
            rest = [n for n in ls if n != victim]
            if how == "policy1" or (how == "byname" and not rest):
                del model[sid]
            else:
                model[sid] = rest

    def add_label():
        counter[0] += 1
        name = f"A{counter[0]}"
        r = api.post(f"/datasets/{ds}/data-annotations/labels", json={"labels": [{"name": name, "type": 1}]})
        assert r.status_code == 200, r.text
        label_names.append(name)

    def failing_batch():
        # an invalid batch must leave every counter alone
        if not model:
            return
        sid = rnd.choice(sorted(model))
        r = api.annotate_raw(ds, [{"sample_id": sid, "labels": boxes()},
                                  {"sample_id": sid + "x", "labels": []}])
        assert_err(r, 400, "ModelArts.4420")

    ops = [add_samples] * 4 + [annotate] * 4 + [delete_samples] * 2 + [rename_label, delete_label, add_label,
                                                                        failing_batch]
    for step in range(90):
        rnd.choice(ops)()
        if step % 15 == 14:
            check_model(api, ds, model, label_names)
    add_samples()
    annotate()
    check_model(api, ds, model, label_names)


def check_model(api, ds, model, label_names):
    st = assert_stats_exact(api, ds)
    listed = {s["sample_id"]: s for s in api.all_samples(ds)}
    assert set(listed) == set(model)
    for sid, names in model.items():
        assert [l["name"] for l in listed[sid]["labels"]] == names, sid
        if not names:
            assert listed[sid]["sample_status"] == "UN_ANNOTATION"
        else:
            assert listed[sid]["sample_status"] in ("MANUAL_ANNOTATION", "AUTO_ANNOTATION")
    assert sorted(l["name"] for l in api.labels(ds)) == sorted(label_names)
    expected = {}
    for names in model.values():
        for n in set(names):
            c, sc = expected.get(n, (0, 0))
            expected[n] = (c + names.count(n), sc + 1)
    assert label_stats(st) == {(1, n): expected.get(n, (0, 0)) for n in label_names}
    assert st["sample_stats"]["all"] == len(model)
    assert st["sample_stats"]["un_annotation"] == sum(1 for v in model.values() if not v)


def test_concurrent_relabels_keep_the_counters_exact(api):
    """Several clients relabel the same samples at once: every change is
    counted against the labels the sample had when it was applied, so the
    counters match a recount (a handler that decided on rows read before its
    transaction counted one sample's old labels away twice)."""
    import threading

    ds, _ = api.create(0, labels=[{"name": n} for n in ("a", "b", "c")], no_source=True)
    ids = api.add(ds, [{"name": f"s{i}.jpg", "data": b64(b"x")} for i in range(12)])
    errors = []

    def client(seed):
        rnd = random.Random(seed)
        try:
            for _ in range(25):
                batch = rnd.sample(ids, 6)
                items = [{"sample_id": s, "labels": [lab(n) for n in rnd.sample(("a", "b", "c"), rnd.randint(0, 2))]}
                         for s in batch]
                api.annotate(ds, items)
        except AssertionError as e:  # reported after the join
            errors.append(e)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, (errors, [l for l in api.server.log().splitlines() if ' error ' in l][-3:])
    assert_stats_exact(api, ds)

