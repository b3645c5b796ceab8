"""Style-held-out phantoms: appearance families the training sampler never draws."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from alonet.cli.main import main
from alonet.errors import InvalidValueError
from alonet.phantom import render_patient
from alonet.phantom.render import sample_look, visit_look
from alonet.phantom.render.look import (
    BLACK_BACKDROP_MAX,
    COPPER_MAX_GREEN_RATIO,
    HELDOUT_FAMILIES,
    SIDE_LIGHT_MAX_AMBIENT,
    TRAIN_LIGHT_MAX_ANGLE,
)


def _green_ratio(look) -> float:
    r, g, _ = look.hair_rgb
    return g / max(r, 1e-6)


def _backdrop_max(look) -> float:
    """The brightest channel of the backdrop's darker colour."""
    return min(max(look.background_rgb), max(look.background_rgb2))


def _light_angle(look) -> float:
    return float(np.degrees(np.arccos(np.clip(look.light_dir[2], -1.0, 1.0))))


def _families(look) -> set[str]:
    """The held-out families a look shows, judged from its values alone."""
    found = set()
    if _green_ratio(look) <= COPPER_MAX_GREEN_RATIO:
        found.add("copper_hair")
    if _backdrop_max(look) <= BLACK_BACKDROP_MAX:
        found.add("black_backdrop")
    if look.light_ambient <= SIDE_LIGHT_MAX_AMBIENT or _light_angle(look) > TRAIN_LIGHT_MAX_ANGLE + 1e-6:
        found.add("side_light")
    return found


def test_training_looks_never_fall_in_a_heldout_family():
    rng = np.random.default_rng(7)
    ratios, darkest, ambients, angles = [], [], [], []
    for _ in range(5000):
        look = sample_look(rng)
        for each in (look, visit_look(look, rng)):
            assert each.style == "train" and each.heldout == ()
            assert _families(each) == set()
            ratios.append(_green_ratio(each))
            darkest.append(_backdrop_max(each))
            ambients.append(each.light_ambient)
            angles.append(_light_angle(each))
    # the margins: reddest hair, darkest backdrop, dimmest fill, most oblique light
    assert min(ratios) > 0.40 and min(darkest) > 0.16 and min(ambients) >= 0.2 and max(angles) <= 45.0 + 1e-6
    # training still covers its own range: auburn hair, dark gradients, near-axis flash
    assert min(ratios) < 0.45 and min(darkest) < 0.30 and min(angles) < 2.0


def test_heldout_looks_always_use_one_family_or_more_and_keep_it_on_later_visits():
    rng = np.random.default_rng(11)
    counts = dict.fromkeys(HELDOUT_FAMILIES, 0)
    n = 1500
    for _ in range(n):
        look = sample_look(rng, style="heldout")
        assert look.style == "heldout" and look.heldout and set(look.heldout) <= set(HELDOUT_FAMILIES)
        assert _families(look) == set(look.heldout)
        later = visit_look(look, rng)
        assert later.style == "heldout" and _families(later) == set(look.heldout)
        if "side_light" in look.heldout:  # both halves of the family, on every visit: low fill, side lamp
            for each in (look, later):
                assert each.light_ambient <= SIDE_LIGHT_MAX_AMBIENT, each.light_ambient
                assert 55.0 - 1e-6 <= _light_angle(each) <= 75.0 + 1e-6, _light_angle(each)
        for f in look.heldout:
            counts[f] += 1
    # each family on its own 0.5 draw, re-drawn when none: 0.5 / 0.875 = 57 % of looks
    for f, c in counts.items():
        assert 0.50 < c / n < 0.64, (f, c / n)


def test_heldout_look_is_the_same_patient_with_families_swapped():
    train = sample_look(np.random.default_rng(3))
    held = sample_look(np.random.default_rng(3), style="heldout")
    assert held.fitzpatrick == train.fitzpatrick and held.skin_rgb == train.skin_rgb
    assert held.hair_length == train.hair_length and held.hair_style == train.hair_style
    with pytest.raises(InvalidValueError, match="heldout"):
        sample_look(np.random.default_rng(0), style="dyed")


def test_heldout_patient_has_the_same_truth_and_other_pixels():
    train = render_patient(seed=5, size=96, patient=2)[0]
    held = render_patient(seed=5, size=96, patient=2, style="heldout")[0]
    assert train.style == "train" and held.style == "heldout"
    assert held.salt == train.salt
    for view in train.views:
        a, b = train.views[view], held.views[view]
        assert np.array_equal(a.scalp, b.scalp) and np.array_equal(a.hairloss, b.hairloss)
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() > 3.0
    with pytest.raises(InvalidValueError):
        render_patient(seed=5, size=96, style="nope")


def test_black_backdrop_renders_dark_corners():
    from alonet.phantom.generate import procedural_plan, render_visits, rng_for

    # the first patient of seed 0 whose held-out look is black-backdrop only
    patient = next(p for p in range(60) if sample_look(rng_for(0, p, "look"), "heldout").heldout == ("black_backdrop",))
    visit = next(render_visits(procedural_plan(patient, 1, 0), 0, 128, style="heldout"))
    for view in ("top", "back"):
        img = visit.views[view].image.astype(float)
        corners = np.concatenate([img[:10, :10].reshape(-1, 3), img[:10, -10:].reshape(-1, 3)])
        assert corners.max(axis=1).mean() < 45, (patient, view)


def test_cli_style_heldout_is_recorded_in_the_manifest(tmp_path, capsys):
    out = tmp_path / "held"
    assert main(["phantom", "-o", str(out), "--patients", "2", "--size", "72", "--style", "heldout"]) == 0
    with open(out / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8 and {r["style"] for r in rows} == {"heldout"}
    train = tmp_path / "train"
    assert main(["phantom", "-o", str(train), "--patients", "1", "--size", "72"]) == 0
    with open(train / "manifest.csv", newline="") as handle:
        assert {r["style"] for r in csv.DictReader(handle)} == {"train"}
    capsys.readouterr()
    assert main(["phantom", "-o", str(tmp_path / "bad"), "--patients", "1", "--style", "purple"]) == 2
    err = capsys.readouterr().err
    assert "purple" in err and "Traceback" not in err and not (tmp_path / "bad").exists()
