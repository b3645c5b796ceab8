"""scripts/dev/error_by_look.py: phantom errors grouped by the phantom's look."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from devscripts import load_dev_script

from alonet.phantom.writer import PhantomSpec, write_phantoms


def _load():
    return load_dev_script("error_by_look")


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ph") / "set"
    write_phantoms(PhantomSpec(out=out, patients=6, visits=1, seed=5, size=96), progress=False)
    return out


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _report(folder: Path, rows: list[dict], error_of) -> Path:
    """An `alonet evaluate`-like per_image.csv whose predictions miss by error_of(row)."""
    folder.mkdir(parents=True)
    with open(folder / "per_image.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["stem", "patient", "view", "hairloss_iou", "true_loss_pct",
                                                    "pred_loss_pct"])
        writer.writeheader()
        for r in rows:
            true = float(r["loss_pct"])
            writer.writerow({"stem": r["stem"], "patient": r["patient"], "view": r["view"], "hairloss_iou": 0.5,
                             "true_loss_pct": true, "pred_loss_pct": true + error_of(r)})
    return folder


def test_errors_land_in_the_group_of_their_look(phantoms, tmp_path):
    mod = _load()
    rows = _rows(phantoms / "manifest.csv")
    skins = sorted({int(r["fitzpatrick"]) for r in rows})
    assert len(skins) >= 2  # six patients give more than one skin type
    darkest = skins[-1]
    # this model reads the darkest skin 12 points low, and every other view 2 points high
    report = _report(tmp_path / "eval_a", rows, lambda r: -12.0 if int(r["fitzpatrick"]) == darkest else 2.0)
    out = tmp_path / "out"
    assert mod.main([str(phantoms), str(report), "-o", str(out)]) == 0
    table = _rows(out / "by_look.csv")
    skin = {r["group"]: r for r in table if r["feature"] == "skin"}
    roman = "I II III IV V VI".split()
    dark = skin[f"Fitzpatrick {roman[darkest - 1]}"]
    assert float(dark["mae"]) == pytest.approx(12.0) and float(dark["bias"]) == pytest.approx(-12.0)
    assert int(dark["views"]) == 4 * int(dark["patients"])
    for r in skin.values():
        if r is not dark:
            assert float(r["mae"]) == pytest.approx(2.0) and float(r["bias"]) == pytest.approx(2.0)
    # every feature splits the same views
    for feature in mod.FEATURES:
        assert sum(int(r["views"]) for r in table if r["feature"] == feature) == len(rows)
    assert (out / "by_look.png").stat().st_size > 5000


def test_unusable_inputs_give_one_line_errors(phantoms, tmp_path, capsys):
    mod = _load()
    rows = _rows(phantoms / "manifest.csv")
    old = tmp_path / "old"  # a phantom folder written before the look columns
    old.mkdir()
    with open(old / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["stem", "patient", "view", "loss_pct"])
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r[k] for k in ("stem", "patient", "view", "loss_pct")})
    report = _report(tmp_path / "eval", rows, lambda r: 0.0)
    assert mod.main([str(old), str(report), "-o", str(tmp_path / "o1")]) == 1
    assert "render the set again" in capsys.readouterr().err
    other = _report(tmp_path / "eval_other", [{**rows[0], "stem": "P9999_v01_top"}], lambda r: 0.0)
    assert mod.main([str(phantoms), str(other), "-o", str(tmp_path / "o2")]) == 1
    err = capsys.readouterr().err
    assert "P9999_v01_top" in err and err.count("\n") == 1
    assert mod.main([str(phantoms), str(tmp_path / "missing"), "-o", str(tmp_path / "o3")]) == 1
    capsys.readouterr()
    bare = tmp_path / "bare"  # a CSV that is not an evaluate report
    bare.mkdir()
    (bare / "per_image.csv").write_text(f"stem,score\n{rows[0]['stem']},1\n")
    assert mod.main([str(phantoms), str(bare), "-o", str(tmp_path / "o4")]) == 1
    assert "alonet evaluate" in capsys.readouterr().err
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 5))
