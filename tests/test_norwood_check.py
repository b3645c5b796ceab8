"""scripts/dev/norwood_check.py: the mask-free real-photograph check's arithmetic."""

from __future__ import annotations


import pytest
from devscripts import load_dev_script


@pytest.fixture(scope="module")
def norwood():
    return load_dev_script("norwood_check")


def test_copies_of_one_source_count_once_as_their_median(norwood):
    records = [
        {"source_group": "a", "norwood": 2, "m": 10.0},
        {"source_group": "a", "norwood": 2, "m": 30.0},
        {"source_group": "a", "norwood": 2, "m": 90.0},   # a rotated copy read badly
        {"source_group": "b", "norwood": 7, "m": 80.0},
        {"source_group": "c", "norwood": 5, "m": None},   # withheld: not counted
    ]
    assert norwood.group_percents(records, "m") == [(2, 30.0), (7, 80.0)]


def test_summary_of_a_perfectly_ordered_and_a_reversed_model(norwood):
    ordered = [(2, 1.0), (3, 4.0), (4, 20.0), (5, 40.0), (6, 70.0), (7, 90.0)]
    s = norwood.summarise(ordered)
    assert s["sources"] == 6
    assert s["spearman"] == pytest.approx(1.0)
    assert s["auc"] == pytest.approx(1.0)
    assert s["low_mean"] == pytest.approx(2.5)
    assert s["high_mean"] == pytest.approx(80.0)
    assert s["by_level"][4] == pytest.approx(20.0)

    reversed_ = [(level, 100.0 - pct) for level, pct in ordered]
    r = norwood.summarise(reversed_)
    assert r["spearman"] == pytest.approx(-1.0)
    assert r["auc"] == pytest.approx(0.0)


def test_auc_counts_ties_as_half(norwood):
    s = norwood.summarise([(2, 50.0), (3, 10.0), (6, 50.0), (7, 60.0)])
    # high {50, 60} vs low {50, 10}: pairs won 1 + 1 + 1, tied 1 -> (3 + 0.5) / 4
    assert s["auc"] == pytest.approx(0.875)


def test_paired_difference_of_a_model_with_itself_is_zero_and_of_a_reversed_one_negative(norwood):
    records = [{"source_group": str(i), "norwood": level, "a": pct, "b": 100.0 - pct}
               for i, (level, pct) in enumerate([(2, 1.0), (3, 5.0), (4, 20.0), (5, 35.0), (6, 70.0), (7, 90.0)] * 3)]
    levels, first, other = norwood.paired(records, "a", "a")
    assert norwood.paired_rho_difference(levels, first, other, rounds=50) == (0.0, 0.0, 0.0)
    levels, first, other = norwood.paired(records, "a", "b")
    point, low, high = norwood.paired_rho_difference(levels, first, other, rounds=50)
    assert point == pytest.approx(-2.0)
    assert low <= point <= high < 0


def test_the_script_scores_one_upright_photograph_per_source(tmp_path, norwood):
    """End to end on a tiny folder laid out like the real-heads one: phantom photographs
    stand in for the heads, one source given as two copies (one turned sideways)."""
    import csv
    import json

    import cv2
    import numpy as np

    from alonet.phantom import render_patient

    photos = tmp_path / "heads" / "photos"
    photos.mkdir(parents=True)
    rows = []
    for patient, level in enumerate((2, 4, 7)):
        visit = render_patient(seed=11, visits=1, size=256, patient=patient)[0]
        for view in ("top", "back"):
            image = cv2.cvtColor(visit.views[view].image, cv2.COLOR_RGB2BGR)
            copies = [image, np.ascontiguousarray(np.rot90(image))] if patient == 0 else [image]
            for c, copy in enumerate(copies):
                name = f"{patient}-{view}-{c}.jpg"
                cv2.imwrite(str(photos / name), copy)
                rows.append({"file": f"photos/{name}", "view": view, "norwood_level": level,
                             "split": "train", "source_group": str(10 * patient + (view == "back"))})
    with (tmp_path / "heads" / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    out = tmp_path / "out"
    assert norwood.main([str(tmp_path / "heads"), "--model", "default", "-o", str(out)]) == 0
    table = list(csv.DictReader((out / "percents.csv").open()))
    assert len(table) == 6  # one row per source and view, the sideways copy folded in
    assert all(0.0 <= float(r["default"]) <= 100.0 for r in table)  # none withheld
    summary = json.loads((out / "summary.json").read_text())
    assert summary["default"]["top"]["sources"] == 3 and summary["default"]["back"]["sources"] == 3
    assert (out / "norwood.png").stat().st_size > 1000
