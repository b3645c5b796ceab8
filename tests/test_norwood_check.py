"""scripts/dev/norwood_check.py: the mask-free real-photograph check's arithmetic."""

from __future__ import annotations

import numpy as np
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


def test_bald_lightness_is_the_median_of_the_marked_skin_only(norwood):
    photo = np.zeros((100, 100, 3), np.uint8)
    photo[:, :50] = 119            # marked skin, L* 50
    photo[:, 50:] = 20             # dark hair beside it, never counted
    loss = np.zeros((100, 100), bool)
    loss[:, :40] = True
    assert norwood.bald_lightness(photo, loss) == pytest.approx(50.0, abs=0.1)
    speck = np.zeros((100, 100), bool)
    speck[0, :49] = True           # 49 pixels < 0.5 % of 10,000: too little skin to say
    assert norwood.bald_lightness(photo, speck) is None


def test_tone_gap_splits_norwood_6_7_heads_at_their_darkest_third(norwood):
    high = [{"norwood": 6 + i % 2, "bald_lstar": 30.0 + 5 * i, "m": 40.0 + 5 * i} for i in range(9)]
    others = [{"norwood": 2, "bald_lstar": 10.0, "m": 0.0},      # not Norwood 6-7
              {"norwood": 7, "bald_lstar": None, "m": 95.0},     # no skin marked
              {"norwood": 7, "bald_lstar": 20.0, "m": None}]     # withheld
    t = norwood.tone_gap(high + others, "m")
    # L* 30..70; its 33.3rd percentile is 43.3: the three darkest (40, 45, 50 %) against the six others
    assert t["sources"] == 9 and t["dark"] == 3
    assert t["cut"] == pytest.approx(43.33, abs=0.01)
    assert t["dark_mean"] == pytest.approx(45.0)
    assert t["rest_mean"] == pytest.approx(67.5)
    assert t["gap"] == pytest.approx(22.5)
    assert 0 < t["p"] < 0.05
    few = norwood.tone_gap(high[:5], "m")
    assert few["sources"] == 5 and np.isnan(few["gap"])


def test_the_script_scores_one_upright_photograph_per_source(tmp_path, norwood):
    """End to end on a tiny folder laid out like the real-heads one: phantom photographs
    stand in for the heads, one source given as two copies (one turned sideways)."""
    import csv
    import json

    import cv2

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
    # how dark the marked bald skin looks: an L* where the first model marks enough, else blank
    lstars = [float(r["bald_lstar"]) for r in table if r["bald_lstar"]]
    assert lstars and all(0.0 < v < 100.0 for v in lstars)
    assert summary["default"]["top"]["tone"]["sources"] <= 1  # one Norwood 6-7 head: too few to split
    assert (out / "tone.png").stat().st_size > 1000
