"""Layouts users bring to ``alonet convert`` (from the training walkthrough): one label-map
folder given as both annotations, nnU-Net's ``_0000`` photograph suffix, semicolon- and
tab-separated manifests, JPEG masks, and no manifest at all."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from test_convert_inputs import default_rows, error_line, phantom_folder, run, write_manifest

from alonet.data.pairing import find_pairs, same_file
from alonet.data.dataset import open_dataset
from alonet.errors import DatasetError


def folders(root: Path) -> list[Path]:
    return [root / "photographs", root / "scalp", root / "hairloss"]


def convert(argv, capsys):
    return run(["convert", *argv, "--size", 8], capsys)


def test_one_folder_as_both_annotations_is_refused_before_anything_is_read(tmp_path, capsys):
    """Before: a folder of two-level label maps given twice converted with hair loss = scalp."""
    root = phantom_folder(tmp_path / "in")
    photos, scalp, _ = folders(root)
    out = tmp_path / "ds"
    code, _, err = convert([photos, scalp, scalp, "-o", out], capsys)
    assert code == 2 and not out.exists()
    line = error_line(err)
    assert f"the scalp and hair-loss annotation folders are the same folder ({scalp})" in line
    assert "label > 0" in line and "label == 2" in line
    (tmp_path / "alias").symlink_to(scalp, target_is_directory=True)  # another path to the same folder
    with pytest.raises(DatasetError, match="same folder"):
        find_pairs(photos, scalp, tmp_path / "alias")


def test_one_file_as_both_annotations_of_a_pair_is_an_invalid_pair(tmp_path, capsys):
    """A hard link in the hair-loss folder to the scalp mask (a label map saved in both)."""
    root = phantom_folder(tmp_path / "in")
    photos, scalp, hairloss = folders(root)
    (hairloss / "P1_v1_top.png").unlink()
    os.link(scalp / "P1_v1_top.png", hairloss / "P1_v1_top.png")
    assert same_file(scalp / "P1_v1_top.png", hairloss / "P1_v1_top.png")
    assert not same_file(scalp / "P1_v1_back.png", hairloss / "P1_v1_back.png")
    out = tmp_path / "ds"
    code, _, err = convert([photos, scalp, hairloss, "-o", out, "--manifest", root / "manifest.csv",
                            "--skip-invalid"], capsys)
    assert code == 0, err
    assert len(open_dataset(out)) == 7
    with open(out / "skipped.csv", newline="") as handle:
        (skipped,) = list(csv.DictReader(handle))
    assert skipped["stem"] == "P1_v1_top"
    assert "the scalp and hair-loss annotations are the same file" in skipped["reason"]
    assert "label == 2" in skipped["reason"]


def test_converting_without_a_manifest_warns_once_that_the_split_is_by_photograph(tmp_path, capsys):
    root = phantom_folder(tmp_path / "in")
    code, _, err = convert([*folders(root), "-o", tmp_path / "bare"], capsys)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning: no manifest")]
    assert len(warnings) == 1
    assert "split them by photograph" in warnings[0] and "pass --manifest" in warnings[0]
    code, _, err = convert([*folders(root), "-o", tmp_path / "listed", "--manifest", root / "manifest.csv"], capsys)
    assert code == 0 and "no manifest" not in err


def test_nnunet_channel_suffix_on_photographs_pairs_with_the_annotations(tmp_path, capsys):
    """Before: 8 photographs case_0000 against 8 masks case made 16 unpaired 'pairs'."""
    root = phantom_folder(tmp_path / "in")
    photos = root / "photographs"
    for path in sorted(photos.iterdir()):
        path.rename(path.with_name(f"{path.stem}_0000{path.suffix}"))
    out = tmp_path / "ds"
    code, _, err = convert([*folders(root), "-o", out, "--manifest", root / "manifest.csv"], capsys)
    assert code == 0, err
    notes = [line for line in err.splitlines() if "_0000" in line]
    assert len(notes) == 1 and "8 photograph(s) end in nnU-Net's channel suffix _0000" in notes[0]
    meta = open_dataset(out).meta
    assert sorted(row["stem"] for row in meta) == sorted(row["stem"] for row in default_rows())
    assert {row["patient"] for row in meta} == {"P1", "P2"}
    assert all(Path(row["photo"]).stem.endswith("_0000") for row in meta)


def test_the_channel_suffix_stays_when_it_is_part_of_the_pair_or_the_manifest(tmp_path):
    root = phantom_folder(tmp_path / "in")
    photos, scalp, hairloss = folders(root)
    for folder in (photos, scalp, hairloss):  # everything carries the suffix: nothing is renamed
        for path in sorted(folder.iterdir()):
            path.rename(path.with_name(f"{path.stem}_0000{path.suffix}"))
    notes: list[str] = []
    pairs, problems = find_pairs(photos, scalp, hairloss, warn=notes.append)
    assert not problems and not notes and pairs[0].stem.endswith("_0000")
    for path in sorted(scalp.iterdir()) + sorted(hairloss.iterdir()):  # masks without it, manifest with it
        path.rename(path.with_name(path.name.replace("_0000", "")))
    rows = [{**row, "stem": row["stem"] + "_0000"} for row in default_rows()]
    with open(root / "m.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    pairs, problems = find_pairs(photos, scalp, hairloss, root / "m.csv", warn=notes.append)
    assert not problems and len(pairs) == 8 and {p.patient for p in pairs} == {"P1", "P2"}
    assert not any("name no file" in note for note in notes)


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_semicolon_or_tab_separated_manifest_is_read(tmp_path, capsys, delimiter):
    """Before: 'no 'stem' or 'file' column (columns: stem;patient;visit;view)'."""
    root = phantom_folder(tmp_path / "in")
    rows = default_rows()
    with open(root / "manifest.csv", "w", newline="", encoding="utf-8-sig") as handle:  # with Excel's BOM
        writer = csv.DictWriter(handle, list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "ds"
    code, _, err = convert(["--from", root, "-o", out], capsys)
    assert code == 0, err
    meta = open_dataset(out).meta
    assert {(row["patient"], row["view"], row["loss_pct"]) for row in meta} == {
        (f"P{p}", view, "25.0") for p in (1, 2) for view in ("top", "back", "left", "right")}


def test_a_jpeg_mask_is_named_as_found_and_refused_not_as_missing(tmp_path, capsys):
    root = phantom_folder(tmp_path / "in")
    photos, scalp, hairloss = folders(root)
    (scalp / "P1_v1_top.png").rename(scalp / "P1_v1_top.jpg")
    (photos / "P2_v1_back.png").rename(photos / "P2_v1_back.heic")
    code, _, err = convert([photos, scalp, hairloss, "-o", tmp_path / "ds"], capsys)
    assert code == 2
    assert (f"P1_v1_top: unpaired: scalp annotation {scalp / 'P1_v1_top.jpg'} was found but is refused: JPEG is "
            "lossy and blurs a mask's edges into grey levels (save the mask as PNG)") in err
    assert f"P2_v1_back: unpaired: photograph {photos / 'P2_v1_back.heic'} was found but its format (.heic)" in err
    assert "no scalp annotation" not in err and "no photograph" not in err


def test_a_numbered_photograph_series_is_not_taken_for_the_channel_suffix(tmp_path):
    """P7_0000 and P7_0001 each have masks of their own name except P7_0000, whose masks are
    named P7: _0000 numbers photographs here, so P7's masks are not given to P7_0000."""
    root = phantom_folder(tmp_path / "in")
    photos, scalp, hairloss = folders(root)
    (photos / "P1_v1_top.png").rename(photos / "P1_v1_top_0000.png")
    (photos / "P1_v1_back.png").rename(photos / "P1_v1_top_0001.png")
    for folder in (scalp, hairloss):
        (folder / "P1_v1_back.png").rename(folder / "P1_v1_top_0001.png")
    notes: list[str] = []
    pairs, problems = find_pairs(photos, scalp, hairloss, warn=notes.append)
    assert "P1_v1_top_0001" in {p.stem for p in pairs}
    assert {p.stem for p in problems} >= {"P1_v1_top", "P1_v1_top_0000"}  # left unpaired, not guessed
    assert not any("channel suffix" in note for note in notes)


def test_the_separator_is_read_from_the_header_as_csv_and_an_excel_sep_line_is_honoured(tmp_path, capsys):
    root = phantom_folder(tmp_path / "in")
    rows = [{**row, "note; a; b; c": "x"} for row in default_rows()]  # semicolons inside a quoted column name
    with open(root / "manifest.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, _, err = convert(["--from", root, "-o", tmp_path / "ds"], capsys)
    assert code == 0, err
    assert {row["patient"] for row in open_dataset(tmp_path / "ds").meta} == {"P1", "P2"}
    with open(root / "manifest.csv", "w", newline="") as handle:  # Excel's "sep=;" first line
        handle.write("sep=;\n")
        writer = csv.DictWriter(handle, list(default_rows()[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(default_rows())
        handle.write("P9;P9\n")  # a row naming no file, on line 11 of the file
    code, _, err = convert(["--from", root, "-o", tmp_path / "ds2"], capsys)
    assert code == 0, err
    assert {row["view"] for row in open_dataset(tmp_path / "ds2").meta} == {"top", "back", "left", "right"}
    assert "line 11 (P9)" in err  # line numbers count the sep= line
    with open(root / "manifest.csv", "w", newline="") as handle:  # "sep=" and a tab
        handle.write("sep=\t\n")
        writer = csv.DictWriter(handle, list(default_rows()[0]), delimiter="\t")
        writer.writeheader()
        writer.writerows(default_rows())
    code, _, err = convert(["--from", root, "-o", tmp_path / "ds3"], capsys)
    assert code == 0, err


def test_manifest_column_names_are_read_in_any_case(tmp_path, capsys):
    """Before: 'no 'stem' or 'file' column (columns: Stem, Patient, Visit, View, loss_pct)', while
    batch manifests were read in any case."""
    root = phantom_folder(tmp_path / "in")
    rows = [{key.capitalize() if key != "loss_pct" else key: value for key, value in row.items()}
            for row in default_rows()]
    write_manifest(root / "manifest.csv", rows, list(rows[0]))
    out = tmp_path / "ds"
    code, _, err = convert(["--from", root, "-o", out], capsys)
    assert code == 0, err
    meta = open_dataset(out).meta
    assert {(row["patient"], row["visit"], row["view"]) for row in meta} == {
        (f"P{p}", "1", view) for p in (1, 2) for view in ("top", "back", "left", "right")}


def test_a_manifest_column_given_twice_in_two_cases_is_refused(tmp_path, capsys):
    root = phantom_folder(tmp_path / "in")
    rows = [{**row, "Patient": "X"} for row in default_rows()]
    write_manifest(root / "manifest.csv", rows, list(rows[0]))
    code, _, err = convert(["--from", root, "-o", tmp_path / "ds"], capsys)
    assert code == 2 and not (tmp_path / "ds").exists()
    assert "has the 'patient' column twice" in err and "read in any case" in err
