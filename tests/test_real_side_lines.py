"""scripts/dev/real_side_lines.py and the hand-made side-view files it reads."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

DEV = Path(__file__).resolve().parents[1] / "scripts" / "dev"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, DEV / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(DEV))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(DEV))
    return module


@pytest.fixture(scope="module")
def lines():
    return _load("real_side_lines")


def _entry(view: str) -> dict:
    # a vertical front line at x = 40 and the ear-lobe row at y = 70, on a 100 x 100 frame
    return {"view": view, "front": [[40, 10], [40, 60]], "bottom": 70}


def test_the_allowed_zone_lies_behind_the_front_line_and_above_the_bottom_row(lines):
    left = lines.allowed_zone(_entry("left"), (100, 100))   # face looks left: x < 40 is face
    assert not left[20, 10] and left[20, 60] and left[20, 40]
    assert left[70, 60] and not left[71, 60]                 # the bottom row is the last one kept
    assert int(left.sum()) == 71 * 60

    right = lines.allowed_zone(_entry("right"), (100, 100))  # face looks right: x > 40 is face
    assert right[20, 10] and not right[20, 60]
    assert int(right.sum()) == 71 * 41


def test_a_slanted_front_line_keeps_the_side_away_from_the_face(lines):
    entry = {"view": "left", "front": [[20, 0], [60, 80]], "bottom": 99}  # leans back going down
    zone = lines.allowed_zone(entry, (100, 100))
    assert zone[0, 30] and not zone[0, 10]      # at the top the line is at x = 20
    assert zone[80, 70] and not zone[80, 50]    # at row 80 it is at x = 60


def test_compare_gives_the_share_of_the_region_past_the_limits(lines):
    allowed = lines.allowed_zone(_entry("left"), (100, 100))
    pred = np.zeros((100, 100), bool)
    pred[20:40, 20:60] = True                  # 20 x 40 = 800 px, of which 20 x 20 in front of x = 40
    out = lines.compare(pred, allowed)
    assert out["outside"] == pytest.approx(0.5)
    assert out["inside"] == pytest.approx(400 / 10_000)
    assert lines.compare(np.zeros((100, 100), bool), allowed) == {"outside": 0.0, "inside": 0.0}


def test_the_drawn_limits_are_consistent_with_the_hand_turned_photographs():
    turned = json.loads((DEV / "real_side_upright.json").read_text())["photos"]
    assert len(turned) > 200
    assert all(t["rot90"] in (0, 1, 2, 3) and t["view"] in ("left", "right") for t in turned.values())
    entries = json.loads((DEV / "real_side_lines.json").read_text())["lines"]
    assert len(entries) >= 90 and len({e["file"] for e in entries}) == len(entries)
    for e in entries:
        assert turned[e["file"]] == {"rot90": e["rot90"], "view": e["view"]}
        (x1, y1), (x2, y2) = e["front"]
        assert 0 <= min(x1, x2) and max(x1, x2) < 640 and 0 <= y1 < y2 <= e["bottom"] < 640
        test = int(hashlib.sha1(e["source_group"].encode()).hexdigest(), 16) % 3 == 0
        assert e["part"] == ("test" if test else "learn")
    assert {e["part"] for e in entries} == {"learn", "test"}


def test_hand_upright_turns_the_listed_copy(tmp_path):
    from PIL import Image

    pseudo = _load("pseudo_label")
    image = np.zeros((20, 30, 3), np.uint8)
    image[0, 0] = 255                                      # a bright top-left corner
    Image.fromarray(image).save(tmp_path / "a.png")
    turned = {"a.png": {"rot90": 1, "view": "right"}}
    photo, view = pseudo.hand_upright(tmp_path, ["b.png", "a.png"], turned)
    assert view == "right" and photo.shape == (30, 20, 3)
    assert photo[29, 0].max() == 255                       # a quarter turn anticlockwise
    assert pseudo.hand_upright(tmp_path, ["b.png"], turned) is None


def test_part_of_is_the_split_the_drawn_limits_use():
    pseudo = _load("pseudo_label")
    entries = json.loads((DEV / "real_side_lines.json").read_text())["lines"]
    assert all(pseudo.part_of(e["source_group"]) == e["part"] for e in entries)
    parts = [pseudo.part_of(str(g)) for g in range(600)]
    assert 0.25 < parts.count("test") / len(parts) < 0.42     # about a third held out


def test_norwood_pairs_take_norwood_2_and_only_with_positives_6_and_7_top_views():
    pairs = _load("real_norwood_pairs")
    pseudo = _load("pseudo_label")
    groups = [str(g) for g in range(40)]
    learn = [g for g in groups if pseudo.part_of(g) == "learn" and int(g) % 4 == 0]   # Norwood 2, learn
    rows = [{"source_group": g, "view": view, "norwood_level": str(level), "file": f"{g}-{view}.jpg"}
            for level, g in zip([2, 3, 6, 7] * 10, groups) for view in ("top", "front")]
    rows.append({"source_group": learn[0], "view": "top", "norwood_level": "2", "file": "copy.jpg"})
    sys.path.insert(0, str(DEV))
    try:
        negatives = pairs.pick_sources(rows, {"top"}, "learn", positives=False)
        both = pairs.pick_sources(rows, {"top"}, "learn", positives=True)
        every = pairs.pick_sources(rows, {"top", "front"}, "all", positives=True)
    finally:
        sys.path.remove(str(DEV))
    assert {int(r["norwood_level"]) for c in negatives.values() for r in c} == {2}
    assert all(pseudo.part_of(g) == "learn" and v == "top" for g, v in both)
    assert {int(c[0]["norwood_level"]) for c in both.values()} == {2, 6, 7}
    front = pairs.pick_sources(rows, {"front"}, "all", positives=True)
    assert {int(c[0]["norwood_level"]) for c in front.values()} == {2}  # positives are top views only
    assert len(negatives[(learn[0], "top")]) == 2                    # copies of one source stay together
    assert len(every) == 10 * 2 + 20                                 # Norwood 3 never


def test_the_fringe_line_splits_the_region_into_loss_above_and_hair_below():
    fringe = _load("real_back_fringe")
    # a line from (0, 20) to (99, 60) on a 100 x 100 frame: row 20 at the left edge, 60 at the right
    above = fringe.above_line([[99, 60], [0, 20]], (100, 100))   # drawn right to left: sorted by x
    assert above[19, 0] and not above[20, 0] and above[59, 99] and not above[60, 99]
    assert above[39, 50] and not above[41, 50]                    # 40 at the middle column
    flat = fringe.above_line([[30, 10], [70, 10]], (100, 100))    # the ends continue to the edges
    assert flat[9, 0] and not flat[10, 0] and flat[9, 99]
    region = np.zeros((100, 100), bool)
    region[0:50, 0:100] = True                                    # 5000 px, 1000 of them above row 10
    pred = np.zeros((100, 100), bool)
    pred[0:20, 0:50] = True                                       # 1000 px: 500 right, 500 too low
    out = fringe.compare(pred, region, flat)
    assert out["iou"] == pytest.approx(500 / 1500)
    assert out["loss"] == pytest.approx(20.0) and out["label"] == pytest.approx(20.0)
    assert fringe.compare(np.zeros_like(region), region, np.zeros_like(region))["iou"] == 1.0


def test_the_drawn_fringe_lines_are_in_the_frame_and_split_like_the_other_real_files():
    fringe = _load("real_back_fringe")
    pseudo = _load("pseudo_label")
    doc = json.loads((DEV / "real_back_fringe.json").read_text())
    entries = doc["lines"]
    assert len(entries) >= 20 and len({e["source_group"] for e in entries}) == len(entries)
    assert not {e["file"] for e in entries} & {s["file"] for s in doc["skipped"]}
    for e in entries:
        xs, ys = np.asarray(e["fringe"]).T
        assert e["norwood"] in (6, 7) and e["rot90"] in (0, 1, 2, 3) and len(xs) >= 2
        assert xs.min() >= 0 and xs.max() <= 640 and ys.min() >= 0 and ys.max() < 640
        assert e["part"] == pseudo.part_of(e["source_group"])
        assert (fringe.fold_of(e["source_group"]) == 0) == (e["part"] == "test")
    folds = [fringe.load_lines("all", k) for k in range(3)]
    assert sum(map(len, folds)) == len(entries)
    assert len(fringe.load_lines("all", 1, leave_out=True)) == len(entries) - len(folds[1])


def test_the_paired_difference_is_the_mean_difference_with_an_interval_around_it():
    fringe = _load("real_back_fringe")
    first = np.array([0.2, 0.4, 0.6, 0.8])
    same = fringe.paired_mean_difference(first, first)
    assert same == (0.0, 0.0, 0.0)
    point, low, high = fringe.paired_mean_difference(first, first + np.array([0.1, 0.1, 0.1, 0.3]))
    assert point == pytest.approx(0.15)
    assert 0.1 - 1e-9 <= low < point < high <= 0.3 + 1e-9         # resampled means lie between 0.1 and 0.3
