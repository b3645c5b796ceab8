"""`alonet salt --masks DIR` / `--mask VIEW SCALP HAIRLOSS`: SALT measured on mask files
(made by another tool, by hand, by `alonet score` or by `alonet predict --masks`).

The masks are drawn by hand here, so every percentage and the SALT are known:
top 25 of 100 scalp pixels (and 50 hair-loss pixels outside the scalp, not counted) = 25 %,
back 40 of 80 = 50 %, left 0 of 50 = 0 %, right 40 of 40 = 100 %;
SALT = 0.40*25 + 0.24*50 + 0.18*0 + 0.18*100 = 10 + 12 + 0 + 18 = 40.0 (S2, moderate).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from alonet.cli.main import main
from alonet.data.maskpairs import PROBABILITY_PNG_KEY, PROBABILITY_PNG_VALUE
from alonet.scoring.salt import salt_from_masks


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def fails(capsys, *args) -> str:
    """Run, expect a one-line error (exit 2, nothing on stdout), return it."""
    code, out, err = run(capsys, *args)
    assert code == 2 and out == "", (code, out, err)
    assert err.startswith("error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def known_masks() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{view: (scalp, hairloss)} as bool arrays, percentages in the module doc."""
    top_scalp = np.zeros((10, 20), bool)
    top_scalp[:, :10] = True                      # 100 scalp pixels
    top_loss = np.zeros_like(top_scalp)
    top_loss[:5, :5] = True                       # 25 inside the scalp
    top_loss[:, 15:] = True                       # 50 outside: not counted
    back_scalp = np.zeros((8, 12), bool)
    back_scalp[:, :10] = True                     # 80
    back_loss = np.zeros_like(back_scalp)
    back_loss[:4, :10] = True                     # 40
    left_scalp = np.zeros((7, 9), bool)
    left_scalp[1:6, 2:] = True                    # 5 x 7 = 35 ... plus
    left_scalp[6, :] = True                       # 9 = 44 ... plus
    left_scalp[0, 3:9] = True                     # 6 = 50
    left_loss = np.zeros_like(left_scalp)         # 0
    right_scalp = np.zeros((6, 12), bool)
    right_scalp[1:6, 4:] = True                   # 5 x 8 = 40, at the right-hand side
    right_loss = np.ones_like(right_scalp)        # all 72, 40 of them inside the scalp
    masks = {"top": (top_scalp, top_loss), "back": (back_scalp, back_loss),
             "left": (left_scalp, left_loss), "right": (right_scalp, right_loss)}
    assert [int(s.sum()) for s, _ in masks.values()] == [100, 80, 50, 40]
    return masks


def write_0_255(path, mask) -> None:
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(path)


def write_palette_gif(path, mask) -> None:
    image = Image.fromarray(mask.astype(np.uint8), mode="P")
    image.putpalette([0, 0, 0, 255, 255, 255])
    image.save(path)


def write_folder(folder, names="{view}_{kind}.png") -> dict:
    """The known masks in three encodings: 0/255 PNG, 0/1 PNG (back), palette GIF (left)."""
    folder.mkdir(parents=True, exist_ok=True)
    masks = known_masks()
    for view, (scalp, loss) in masks.items():
        for kind, mask in (("scalp", scalp), ("hairloss", loss)):
            name = names.format(view=view, kind=kind)
            if view == "back":
                Image.fromarray(mask.astype(np.uint8)).save(folder / name)  # 0/1
            elif view == "left":
                write_palette_gif(folder / name.replace(".png", ".gif"), mask)
            else:
                write_0_255(folder / name, mask)
    return masks


def test_known_masks_give_known_salt(tmp_path, capsys):
    masks = write_folder(tmp_path / "m")
    code, out, err = run(capsys, "salt", "--masks", tmp_path / "m")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "SALT 40.0  grade S2  AA-IGA moderate"
    assert lines[1:5] == ["  top     25.0 %  x 0.40 = 10.00", "  back    50.0 %  x 0.24 = 12.00",
                          "  left     0.0 %  x 0.18 =  0.00", "  right  100.0 %  x 0.18 = 18.00"]
    assert lines[5].endswith("top_hairloss.png (20x10): 25 of 100 scalp pixels with hair loss; "
                             "50 hair-loss pixels outside the scalp not counted")
    assert lines[6].endswith("(12x8): 40 of 80 scalp pixels with hair loss")
    assert "left_scalp.gif" in lines[7] and lines[7].endswith("0 of 50 scalp pixels with hair loss")
    assert lines[8].endswith("40 of 40 scalp pixels with hair loss; 32 hair-loss pixels outside the scalp not counted")

    code, out, _ = run(capsys, "salt", "--masks", tmp_path / "m", "--json")
    data = json.loads(out)
    assert code == 0 and data["salt"] == 40.0 and data["grade"] == "S2" and data["band"] == "moderate"
    assert data["per_view"] == {"top": 25.0, "back": 50.0, "left": 0.0, "right": 100.0}
    assert data["contributions"] == {"top": 10.0, "back": 12.0, "left": 0.0, "right": 18.0}
    assert data["missing"] == [] and data["missing_policy"] == "error"
    assert data["masks"]["top"] == {
        "scalp": str(tmp_path / "m" / "top_scalp.png"), "hairloss": str(tmp_path / "m" / "top_hairloss.png"),
        "width": 20, "height": 10, "scalp_pixels": 100, "hairloss_pixels": 25,
        "hairloss_outside_scalp_pixels": 50, "empty_scalp": False}
    # the same number as the Python API on the arrays
    assert salt_from_masks({v: (loss, scalp) for v, (scalp, loss) in masks.items()}).salt == pytest.approx(40.0)


def test_baseline_and_regrowth_work_with_masks(tmp_path, capsys):
    write_folder(tmp_path / "m")
    code, out, _ = run(capsys, "salt", "--masks", tmp_path / "m", "--baseline", "80", "--regrowth-back", "20")
    assert code == 0
    assert "Response vs baseline 80.00: -40.00 points (-50.00 %)" in out and "SALT50 yes  SALT75 no" in out
    assert "rwSALT 42.4" in out  # back 50 + 0.5 * 20 = 60 %: 0.24 * 60 = 14.4 instead of 12


def test_predict_names_win_over_report_names_and_case_is_ignored(tmp_path, capsys):
    folder = tmp_path / "m"
    write_folder(folder, names="{view}_{kind}_mask.png")  # what alonet predict --masks writes
    # beside them, files under the report names that must not be read: all-scalp, no loss
    for view in ("top", "back"):
        write_0_255(folder / f"{view}_scalp.png", np.ones((10, 20), bool))
        write_0_255(folder / f"{view}_hairloss.png", np.zeros((10, 20), bool))
    (folder / "right_scalp_mask.png").rename(folder / "RIGHT_Scalp_Mask.PNG")
    code, out, _ = run(capsys, "salt", "--masks", folder, "--json")
    assert code == 0 and json.loads(out)["salt"] == 40.0
    assert json.loads(out)["masks"]["right"]["scalp"].endswith("RIGHT_Scalp_Mask.PNG")


def test_missing_views_follow_the_missing_policy(tmp_path, capsys):
    folder = tmp_path / "m"
    write_folder(folder)
    for kind in ("scalp", "hairloss"):
        (folder / f"right_{kind}.png").unlink()
    assert "missing view(s) right" in fails(capsys, "salt", "--masks", folder)
    code, out, _ = run(capsys, "salt", "--masks", folder, "--missing", "zero", "--json")
    assert code == 0 and json.loads(out)["salt"] == 22.0 and json.loads(out)["missing"] == ["right"]
    code, out, _ = run(capsys, "salt", "--masks", folder, "--missing", "renormalize", "--json")
    assert code == 0 and json.loads(out)["salt"] == round(22.0 / 0.82, 2) == 26.83
    # the absent view as a percentage: the full SALT again
    code, out, _ = run(capsys, "salt", "--masks", folder, "--right", "100")
    assert code == 0 and out.startswith("SALT 40.0  grade S2")


def test_an_empty_scalp_mask_counts_as_a_missing_view(tmp_path, capsys):
    folder = tmp_path / "m"
    write_folder(folder)
    write_0_255(folder / "right_scalp.png", np.zeros((6, 12), bool))
    err = fails(capsys, "salt", "--masks", folder)
    assert "right_scalp.png is empty" in err and "--missing zero|renormalize" in err
    code, out, _ = run(capsys, "salt", "--masks", folder, "--missing", "zero")
    assert code == 0 and out.startswith("SALT 22.0  grade S1")
    assert "right_hairloss.png (12x6): the scalp mask is empty, the view counts as missing" in out
    code, out, _ = run(capsys, "salt", "--masks", folder, "--missing", "zero", "--json")
    assert json.loads(out)["masks"]["right"]["empty_scalp"] is True


def test_explicit_mask_files(tmp_path, capsys):
    folder = tmp_path / "m"
    write_folder(folder, names="{view}-{kind}.png")  # names --masks does not know
    args = []
    for view in ("top", "back", "right"):
        args += ["--mask", view.upper(), folder / f"{view}-scalp.png", folder / f"{view}-hairloss.png"]
    args += ["--mask", "left", folder / "left-scalp.gif", folder / "left-hairloss.gif"]
    code, out, err = run(capsys, "salt", *args, "--json")
    assert code == 0, err
    assert json.loads(out)["salt"] == 40.0
    assert json.loads(out)["masks"]["back"]["scalp"] == str(folder / "back-scalp.png")
    # --masks DIR and --mask together, each view once
    report = tmp_path / "report"
    write_folder(report)
    for kind in ("scalp", "hairloss"):
        (report / f"top_{kind}.png").unlink()
    code, out, _ = run(capsys, "salt", "--masks", report, *args[:4], "--json")
    assert code == 0 and json.loads(out)["salt"] == 40.0


def test_a_view_given_twice_is_refused(tmp_path, capsys):
    folder = tmp_path / "m"
    write_folder(folder)
    err = fails(capsys, "salt", "--masks", folder, "--top", "25")
    assert "top view is given twice: --top 25" in err
    err = fails(capsys, "salt", "--masks", folder, "--mask", "top", folder / "top_scalp.png", folder / "top_hairloss.png")
    assert "top view's masks are given twice" in err


def test_masks_of_different_sizes_are_refused_naming_both(tmp_path, capsys):
    folder = tmp_path / "m"
    write_folder(folder)
    write_0_255(folder / "top_hairloss.png", np.zeros((10, 21), bool))
    err = fails(capsys, "salt", "--masks", folder)
    assert f"scalp {folder / 'top_scalp.png'} is 20x10 pixels" in err
    assert f"hair loss {folder / 'top_hairloss.png'} is 21x10" in err


@pytest.mark.parametrize("case,message", [
    ("no folder", "mask folder not found"),
    ("empty folder", "no mask pair found"),
    ("no partner", "back_scalp.png has no partner back_hairloss.png"),
    ("two files", "2 files fit the top view's top_scalp mask (top_scalp.gif, top_scalp.png)"),
    ("probability map", "top_scalp.png: is a probability map written by alonet predict"),
    ("label map", "like a label map"),
    ("not a file", "mask file not found"),
])
def test_bad_mask_files_give_one_line_errors(tmp_path, capsys, case, message):
    folder = tmp_path / "m"
    args = ["salt", "--masks", folder]
    if case == "empty folder":
        folder.mkdir()
    elif case != "no folder":
        write_folder(folder)
    if case == "no partner":
        (folder / "back_hairloss.png").unlink()
    elif case == "two files":
        write_palette_gif(folder / "top_scalp.gif", known_masks()["top"][0])
    elif case == "probability map":
        info = PngImagePlugin.PngInfo()
        info.add_text(PROBABILITY_PNG_KEY, PROBABILITY_PNG_VALUE)
        Image.fromarray(np.full((10, 20), 200, np.uint8)).save(folder / "top_scalp.png", pnginfo=info)
    elif case == "label map":
        labels = np.zeros((10, 20), np.uint8)
        labels[:, :10], labels[:5, :5] = 1, 2  # nnU-Net style: 1 scalp, 2 hair loss
        Image.fromarray(labels).save(folder / "top_scalp.png")
    elif case == "not a file":
        args = ["salt", "--mask", "top", folder / "nope.png", folder / "top_hairloss.png", "--missing", "zero"]
    assert message in fails(capsys, *args)


def test_salt_from_masks_needs_no_torch(tmp_path):
    write_folder(tmp_path / "m")
    script = ("import sys; from alonet.cli.main import main; "
              f"code = main(['salt', '--masks', {str(tmp_path / 'm')!r}]); "
              "print('torch' in sys.modules, code)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.splitlines()[-1] == "False 0", result.stderr


def test_max_pixels_guards_mask_files(tmp_path, capsys):
    write_folder(tmp_path / "m")  # the top masks have 20 x 10 = 200 pixels, the others fewer
    err = fails(capsys, "salt", "--masks", tmp_path / "m", "--max-pixels", "199")
    assert "top_scalp.png" in err and "--max-pixels" in err
    code, out, _ = run(capsys, "salt", "--masks", tmp_path / "m", "--max-pixels", "200")
    assert code == 0 and out.startswith("SALT 40.0")


def test_prefixed_predict_names_pair_up_and_one_file_cannot_be_both(tmp_path, capsys):
    """A fresh user's walkthrough (2026-12-07): predict --masks of P0002_v02_top.jpg writes
    P0002_v02_top_scalp_mask.png, which salt --masks did not find; and a 0/1 label map of a view
    without loss given as both masks read as 100 % loss."""
    import numpy as np
    from PIL import Image

    from alonet.cli.main import main

    scalp = np.zeros((40, 40), np.uint8)
    scalp[5:35, 5:35] = 255
    loss = np.zeros_like(scalp)
    loss[5:20, 5:35] = 255  # half the scalp
    folder = tmp_path / "masks"
    folder.mkdir()
    for view in ("top", "back", "left", "right"):
        Image.fromarray(scalp).save(folder / f"P0002_v02_{view}_scalp_mask.png")
        Image.fromarray(loss).save(folder / f"P0002_v02_{view}_hairloss_mask.png")
    assert main(["salt", "--masks", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["salt"] == 50.0
    Image.fromarray(loss).save(folder / "P0003_v01_top_hairloss_mask.png")  # a second visit's file
    assert main(["salt", "--masks", str(folder)]) == 2
    assert "holds the masks of more than one set of photographs (p0002_v02, p0003_v01)" in capsys.readouterr().err
    label = (scalp > 0).astype(np.uint8)  # 0/1: a label map of a view with no hair loss
    Image.fromarray(label).save(tmp_path / "labels.png")
    assert main(["salt", "--mask", "top", str(tmp_path / "labels.png"), str(tmp_path / "labels.png"),
                 "--missing", "renormalize"]) == 2
    assert "scalp and hair-loss masks are the same file" in capsys.readouterr().err


def test_masks_of_two_visits_in_one_folder_are_refused_not_mixed(tmp_path, capsys):
    import os

    import numpy as np
    from PIL import Image

    from alonet.cli.main import main

    mask = np.zeros((20, 20), np.uint8)
    mask[2:18, 2:18] = 255
    folder = tmp_path / "mixed"
    folder.mkdir()
    for prefix, views in (("P01", ("top", "back")), ("P02", ("left", "right"))):
        for view in views:
            for kind in ("scalp", "hairloss"):
                Image.fromarray(mask).save(folder / f"{prefix}_{view}_{kind}_mask.png")
    assert main(["salt", "--masks", str(folder)]) == 2
    assert "holds the masks of more than one set of photographs (p01, p02)" in capsys.readouterr().err
    lone = tmp_path / "lone"
    lone.mkdir()
    Image.fromarray(mask).save(lone / "P01_top_scalp_mask.png")
    Image.fromarray(mask).save(lone / "P02-top_hairloss_mask.png")
    assert main(["salt", "--masks", str(lone), "--missing", "renormalize"]) == 2
    both = tmp_path / "both"
    both.mkdir()
    for name in ("top_scalp_mask", "top_hairloss_mask", "P02_back_scalp_mask", "P02_back_hairloss_mask"):
        Image.fromarray(mask).save(both / f"{name}.png")
    assert main(["salt", "--masks", str(both), "--missing", "renormalize"]) == 2
    assert "unprefixed names" in capsys.readouterr().err
    Image.fromarray(mask).save(tmp_path / "a.png")
    os.link(tmp_path / "a.png", tmp_path / "b.png")  # one file under two names
    assert main(["salt", "--mask", "top", str(tmp_path / "a.png"), str(tmp_path / "b.png"),
                 "--missing", "renormalize"]) == 2
    assert "are the same file" in capsys.readouterr().err



@pytest.mark.parametrize("policy, missing_weight", [("renormalize", "        0"), ("zero", "0.18")])
def test_the_weights_printed_are_the_weights_used(capsys, policy, missing_weight):
    # renormalize hands a missing view's weight to the views given: printing 0.18 beside it made
    # the weights shown add up to 1.36
    code, out, err = run(capsys, "salt", "--top", "50", "--back", "20", "--missing", policy)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[3] == f"  left   missing  x {missing_weight} =  0.00"
    assert lines[4] == f"  right  missing  x {missing_weight} =  0.00"
    def weight(text: str) -> float:  # "0.40/0.64" (renormalised) or "0.18"
        top, _, bottom = text.strip().partition("/")
        return float(top) / float(bottom or 1)

    shown = [weight(line.split(" x ")[1].split(" = ")[0]) for line in lines[1:5]]
    assert sum(shown) == pytest.approx(1.0, abs=1e-12)


def test_a_photograph_given_as_a_mask_is_refused_not_thresholded(tmp_path, capsys):
    # a smooth picture (here a shaded gradient, as photographs are) was read as "non-zero is
    # inside" and gave a SALT from nothing anyone drew
    yy, xx = np.mgrid[0:60, 0:80]
    picture = np.stack([xx * 3, yy * 4, (xx + yy) * 2], -1).clip(0, 255).astype(np.uint8)
    Image.fromarray(picture).save(tmp_path / "photo.png")
    hairloss = np.zeros((60, 80), bool)
    hairloss[10:30, 10:40] = True
    write_0_255(tmp_path / "loss.png", hairloss)
    err = fails(capsys, "salt", "--mask", "top", tmp_path / "photo.png", tmp_path / "loss.png",
                "--missing", "zero")
    assert "photo.png" in err and "shades between black and white" in err
