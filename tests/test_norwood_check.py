"""scripts/dev/norwood_check.py: the mask-free real-photograph check's arithmetic."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "dev" / "norwood_check.py"


@pytest.fixture(scope="module")
def norwood():
    spec = importlib.util.spec_from_file_location("norwood_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
