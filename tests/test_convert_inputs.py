"""Bad input to ``alonet convert`` (manifest rows and columns) and ``alonet predict``
(photographs that need a retake, the --views-csv header): one-line errors or
printed warnings, the documented exit status, nothing half-written."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_infer import make_model_set, phantom_visit

from alonet.cli.main import main
from alonet.cli.predict_cmd import read_views_csv
from alonet.data.manifest import read_manifest
from alonet.data.pairing import find_pairs
from alonet.data.dataset import open_dataset
from alonet.errors import DatasetError

VIEW_ORDER = ("top", "back", "left", "right")
COLUMNS = ["stem", "patient", "visit", "view", "loss_pct"]


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def phantom_folder(root: Path, rows: list[dict] | None = None, columns: list[str] | None = None) -> Path:
    """A folder laid out like `alonet phantom` output: 2 patients x 1 visit x 4 views
    (20x16 pixels), with ``rows`` (default: the eight true rows) as manifest.csv."""
    for name in ("photographs", "scalp", "hairloss"):
        (root / name).mkdir(parents=True)
    scalp = np.zeros((16, 20), np.uint8)
    scalp[3:13, 2:18] = 255
    loss = np.zeros_like(scalp)
    loss[3:8, 2:10] = 255
    for p in (1, 2):
        for i, view in enumerate(VIEW_ORDER):
            stem = f"P{p}_v1_{view}"
            pixels = np.full((16, 20, 3), 30 * i + 60 * p, np.uint8)
            Image.fromarray(pixels).save(root / "photographs" / f"{stem}.png")
            Image.fromarray(scalp).save(root / "scalp" / f"{stem}.png")
            Image.fromarray(loss).save(root / "hairloss" / f"{stem}.png")
    if rows is None:
        rows = default_rows()
    write_manifest(root / "manifest.csv", rows, columns or COLUMNS)
    return root


def default_rows() -> list[dict]:
    return [{"stem": f"P{p}_v1_{view}", "patient": f"P{p}", "visit": "1", "view": view, "loss_pct": "25.0"}
            for p in (1, 2) for view in VIEW_ORDER]


def write_manifest(path: Path, rows: list[dict], columns: list[str]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def convert(root: Path, out: Path, capsys, *extra):
    return run(["convert", "--from", root, "-o", out, "--size", 8, *extra], capsys)


def error_line(stderr: str) -> str:
    """The last stderr line, which must be the single `error: ...` line."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr
    assert lines and lines[-1].startswith("error: ")
    return lines[-1]


# --------------------------------------------------------------------------- convert: errors


def test_manifest_without_patient_column_is_an_error_and_writes_nothing(tmp_path, capsys):
    root = phantom_folder(tmp_path / "ph", columns=["stem", "visit", "view", "loss_pct"])
    code, stdout, stderr = convert(root, tmp_path / "ds", capsys)
    assert code == 2 and stdout == ""
    line = error_line(stderr)
    assert "has no 'patient' column (columns: stem, visit, view, loss_pct)" in line
    assert not (tmp_path / "ds").exists()
    with pytest.raises(DatasetError, match="no 'patient' column"):
        read_manifest(root / "manifest.csv")


def _edit(rows: list[dict], index: int, **changes) -> list[dict]:
    rows[index] = {**rows[index], **changes}
    return rows


@pytest.mark.parametrize(
    ("rows", "columns", "bad", "expected"),
    [
        # row 3 = line 4 (P1 left): patient left empty
        (_edit(default_rows(), 2, patient=""), COLUMNS, ["P1_v1_left"],
         "P1_v1_left: manifest {m} line 4: empty 'patient' cell"),
        # two back views and no top in P1's visit: both rows (lines 2 and 3) are named
        (_edit(default_rows(), 0, view="back"), COLUMNS, ["P1_v1_back", "P1_v1_top"],
         "P1_v1_top: manifest {m} line 2: patient 'P1' visit '1' has the back view twice (lines 2, 3;"),
        # one visit cell left empty while the other seven are filled (line 9: P2 right)
        (_edit(default_rows(), 7, visit=""), COLUMNS, ["P2_v1_right"],
         "P2_v1_right: manifest {m} line 9: empty 'visit' cell while other rows have one"),
        # visit_date must be a date (line 6: P2 top)
        (_edit([{**r, "visit_date": "2024-03-01"} for r in default_rows()], 4, visit_date="2024-02-30"),
         ["stem", "patient", "visit_date", "view"], ["P2_v1_top"],
         "P2_v1_top: manifest {m} line 6: 'visit_date' '2024-02-30' is not a date YYYY-MM-DD"),
    ],
    ids=["empty-patient", "two-back-no-top", "empty-visit", "bad-visit-date"],
)
def test_bad_manifest_rows_are_listed_with_line_and_column(tmp_path, capsys, rows, columns, bad, expected):
    root = phantom_folder(tmp_path / "ph", rows, columns)
    manifest = root / "manifest.csv"
    code, stdout, stderr = convert(root, tmp_path / "ds", capsys)
    assert code == 2 and stdout == ""
    assert error_line(stderr) == (f"error: {len(bad)} of 8 pairs are invalid (listed above); "
                                  "fix them or pass --skip-invalid")
    assert f"{len(bad)} of 8 pairs are invalid:" in stderr
    assert expected.format(m=manifest) in stderr
    assert not (tmp_path / "ds").exists()

    # --skip-invalid converts the other rows and lists the bad ones in skipped.csv
    code, stdout, stderr = convert(root, tmp_path / "ds", capsys, "--skip-invalid")
    assert code == 0, stderr
    assert stdout.strip().endswith(f"{len(bad)} skipped (see {tmp_path / 'ds' / 'skipped.csv'})")
    dataset = open_dataset(tmp_path / "ds")
    assert len(dataset) == 8 - len(bad)
    assert not {m["stem"] for m in dataset.meta} & set(bad)
    assert all(m["patient"] in ("P1", "P2") for m in dataset.meta)
    skipped = list(csv.DictReader(open(tmp_path / "ds" / "skipped.csv")))
    assert sorted(r["stem"] for r in skipped) == sorted(bad)
    assert all(r["file"] == str(manifest) for r in skipped)


def test_a_word_among_numbered_visits_converts_with_a_warning(tmp_path, capsys):
    # "baseline" among numbers may be meant; a typo ("abc") splits a visit: say so, do not refuse
    root = phantom_folder(tmp_path / "ph", _edit(default_rows(), 1, visit="abc"))
    code, _, stderr = convert(root, tmp_path / "ds", capsys)
    assert code == 0, stderr
    assert (f"warning: manifest {root / 'manifest.csv'}: visit label(s) line 3 'abc' are not a number like 7 "
            "of the 8 visit labels") in stderr
    assert len(open_dataset(tmp_path / "ds")) == 8


def test_manifest_rows_the_csv_reader_would_drop_or_crash_on(tmp_path, capsys):
    rows = default_rows()
    root = phantom_folder(tmp_path / "ph", rows)
    manifest = root / "manifest.csv"
    text = manifest.read_text().splitlines()
    # a row without a stem but with other cells (line 10) cannot be matched to anything
    manifest.write_text("\n".join([*text, ",P3,1,top,0", ",,,,"]) + "\n")
    code, _, stderr = convert(root, tmp_path / "ds", capsys)
    assert code == 2
    assert error_line(stderr) == (f"error: manifest {manifest} line 10: empty 'stem' cell "
                                  "(name the photograph of every row, or delete the row)")
    # an unquoted comma gives a row more cells than the header: an error, not a traceback
    manifest.write_text("\n".join([text[0], *text[1:4], "P1_v1_right,P1,1,right,25,0", *text[5:]]) + "\n")
    code, _, stderr = convert(root, tmp_path / "ds", capsys)
    assert code == 2
    assert "line 5 has more cells than the header has columns" in error_line(stderr)
    # rows of empty cells, as spreadsheets write them, are blank lines
    manifest.write_text("\n".join([*text, ",,,,", ""]) + "\n")
    code, stdout, stderr = convert(root, tmp_path / "ds", capsys)
    assert code == 0, stderr
    assert len(open_dataset(tmp_path / "ds")) == 8


# --------------------------------------------------------------------------- convert: warnings


def test_manifest_without_view_column_converts_with_a_warning(tmp_path, capsys):
    root = phantom_folder(tmp_path / "ph", columns=["stem", "patient", "visit", "loss_pct"])
    code, stdout, stderr = convert(root, tmp_path / "ds", capsys)
    assert code == 0, stderr
    assert stdout.startswith("converted 8 pairs")
    assert (f"warning: manifest {root / 'manifest.csv'} has no 'view' column: every view stays empty, "
            "so `alonet evaluate` cannot use the dataset") in stderr
    dataset = open_dataset(tmp_path / "ds")
    assert [m["view"] for m in dataset.meta] == [""] * 8
    assert sorted({m["patient"] for m in dataset.meta}) == ["P1", "P2"]


def test_manifest_without_visits_converts_with_a_warning(tmp_path, capsys):
    root = phantom_folder(tmp_path / "ph", columns=["stem", "patient", "view"])
    code, stdout, stderr = convert(root, tmp_path / "ds", capsys)
    assert code == 0, stderr
    assert (f"warning: manifest {root / 'manifest.csv'} has no 'visit' or 'visit_date' column: the photographs "
            "are not grouped into visits") in stderr
    assert [m["visit"] for m in open_dataset(tmp_path / "ds").meta] == [""] * 8


def test_manifest_rows_without_files_are_named_in_a_warning(tmp_path, capsys):
    rows = default_rows()
    rows.append({"stem": "ghost", "patient": "P9", "visit": "1", "view": "top", "loss_pct": "1"})
    root = phantom_folder(tmp_path / "ph", rows)
    code, stdout, stderr = convert(root, tmp_path / "ds", capsys)
    assert code == 0, stderr
    assert (f"warning: manifest {root / 'manifest.csv'}: 1 of 9 rows name no file in {root / 'photographs'}, "
            f"{root / 'scalp'} or {root / 'hairloss'} and are left out: line 10 (ghost)") in stderr
    assert stdout.startswith("converted 8 pairs")
    assert "ghost" not in [m["stem"] for m in open_dataset(tmp_path / "ds").meta]


def test_incomplete_visit_and_empty_views_are_warnings(tmp_path):
    rows = _edit(default_rows(), 6, view="")  # P2's left view left empty (line 8)
    root = phantom_folder(tmp_path / "ph", rows)
    warnings: list[str] = []
    pairs, problems = find_pairs(root / "photographs", root / "scalp", root / "hairloss", root / "manifest.csv",
                                 warn=warnings.append)
    assert problems == [] and len(pairs) == 8
    manifest = root / "manifest.csv"
    assert warnings == [
        f"manifest {manifest}: 1 of 8 rows have an empty view (line(s) 8); `alonet evaluate` needs --views "
        "to skip them",
        f"manifest {manifest}: 1 of 2 visits lack a view, so they get no SALT: P2 visit 1 (no left)",
    ]
    # the correct manifest gives no warning at all
    write_manifest(manifest, default_rows(), COLUMNS)
    warnings.clear()
    find_pairs(root / "photographs", root / "scalp", root / "hairloss", manifest, warn=warnings.append)
    assert warnings == []


# --------------------------------------------------------------------------- predict


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_model_set(tmp_path_factory.mktemp("models"))


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALONET_CACHE_DIR", str(tmp_path / "onnx-cache"))


def test_predict_exits_3_when_a_photograph_needs_a_retake(models, tmp_path, capsys):
    good = phantom_visit(tmp_path / "visit", seed=5, out_size=181)["top"]
    tiny, thin = tmp_path / "tiny.png", tmp_path / "thin.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tiny)
    Image.fromarray(np.full((2, 3000, 3), 128, np.uint8)).save(thin)
    out = tmp_path / "pred"
    code, stdout, stderr = run(["predict", good, tiny, thin, "--view", "top", "-o", out, "--model", models,
                                "--backend", "torch"], capsys)
    assert code == 3
    assert "tiny.png  top    no scalp  confidence   0%  [too_small]" in stdout
    assert "thin.png  top    no scalp  confidence   0%  [bad_aspect]" in stdout
    assert error_line(stderr) == ("error: 2 of 3 photograph(s) need a retake (flags above); their maps and "
                                  "overlays were written all the same (retake those photographs before "
                                  "relying on their masks)")
    for stem, size in (("top", Image.open(good).size), ("tiny", (1, 1)), ("thin", (3000, 2))):
        assert Image.open(out / f"{stem}_overlay.jpg").size == size  # outputs kept
        assert Image.open(out / f"{stem}_scalp.png").size == size
    assert np.asarray(Image.open(out / "tiny_scalp.png")).max() == 0  # refused: no scalp found

    # a file that could not be read outranks a retake: exit status 2
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    code, _, stderr = run(["predict", tiny, broken, "--view", "top", "-o", tmp_path / "pred2", "--model", models,
                           "--backend", "torch"], capsys)
    assert code == 2
    assert error_line(stderr).startswith("error: 1 of 2 photograph(s) could not be processed (see above); "
                                         "1 need a retake")


def test_views_csv_header_is_file_view_or_an_error(models, tmp_path, capsys):
    photo = tmp_path / "a.png"
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(photo)
    table = tmp_path / "views.csv"
    for header in ("file,view", "File, View", "file,view,notes"):
        table.write_text(f"{header}\na.png,back\n")
        assert read_views_csv(table) == [(tmp_path / "a.png", "back")]
    table.write_text("a.png,LEFT\n")  # no header: the first row is a photograph
    assert read_views_csv(table) == [(tmp_path / "a.png", "left")]

    table.write_text("path,view\na.png,top\n")
    out = tmp_path / "pred"
    code, stdout, stderr = run(["predict", "--views-csv", table, "-o", out, "--model", models], capsys)
    assert code == 2 and stdout == ""
    assert error_line(stderr) == (
        f"error: {table}:1: 'path,view' is neither the header 'file,view' nor a photograph row "
        "(unknown view 'view') (name the columns exactly file,view, or leave the header out; "
        "views are top, back, left or right)")
    assert not out.exists()
    table.write_text("a.png,top\nb.png,front\n")  # later rows: the plain unknown-view error
    with pytest.raises(DatasetError, match=r"views.csv:2: unknown view 'front'"):
        read_views_csv(table)


def test_two_photographs_of_one_stem_are_reported_once(tmp_path):
    """An audit (thirty-third session): a.jpg beside a.png was reported as "several photograph
    files share this stem" and then again as "unpaired: no photograph"."""
    for sub in ("p", "s", "h"):
        (tmp_path / sub).mkdir()
    photo = np.full((64, 64, 3), 120, np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[10:50, 10:50] = 255
    for name in ("a.jpg", "a.png", "b.jpg"):
        Image.fromarray(photo).save(tmp_path / "p" / name)
    for sub in ("s", "h"):
        for stem in ("a", "b"):
            Image.fromarray(mask).save(tmp_path / sub / f"{stem}.gif")
    pairs, problems = find_pairs(tmp_path / "p", tmp_path / "s", tmp_path / "h")
    assert [p.stem for p in pairs] == ["b"]
    assert [(p.stem, p.reason) for p in problems] == [
        ("a", "several photograph files share this stem: a.jpg, a.png (keep one)")]
