"""The `alonet salt` and `alonet convert` verbs: output, exit codes, and one-line
errors without tracebacks for every kind of bad input."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from alonet.cli.main import main
from alonet.data.dataset import open_dataset


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --------------------------------------------------------------------------- salt


def test_salt_prints_score_grade_and_band(capsys):
    code, out, err = run(capsys, "salt", "--top", "50", "--back", "20", "--left", "0", "--right", "100")
    assert code == 0 and err == ""
    assert out.splitlines()[0] == "SALT 42.8  grade S2  AA-IGA moderate"
    assert "right  100.0 %  x 0.18 = 18.00" in out


def test_salt_baseline_and_json(capsys):
    code, out, _ = run(capsys, "salt", "--top", "10", "--back", "10", "--left", "10", "--right", "10",
                       "--baseline", "85", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["salt"] == 10.0 and data["grade"] == "S1" and data["band"] == "limited"
    response = data["response"]
    assert response["absolute_change"] == -75.0 and response["percent_change"] == pytest.approx(-88.24)
    assert response["salt75"] and not response["salt90"] and response["salt_le_10"]
    assert response["flags"] == ["SALT50", "SALT75", "SALT<=20", "SALT<=10"]

    code, out, _ = run(capsys, "salt", "--top", "50", "--back", "20", "--left", "0", "--right", "100",
                       "--baseline", "85")
    assert "Response vs baseline 85.00: -42.20 points (-49.65 %)" in out and "SALT50 no" in out


def test_salt_regrowth_and_missing_policies(capsys):
    code, out, _ = run(capsys, "salt", "--top", "50", "--back", "20", "--left", "0", "--right", "100",
                       "--regrowth-top", "40", "--json")
    assert code == 0 and json.loads(out)["rw_salt"]["salt"] == 50.8  # top 50 + 0.5*40 = 70 -> +8
    code, out, _ = run(capsys, "salt", "--top", "50", "--missing", "renormalize")
    assert code == 0 and out.startswith("SALT 50.0  grade S3")
    code, out, _ = run(capsys, "salt", "--top", "50", "--missing", "zero")
    assert code == 0 and out.startswith("SALT 20.0  grade S1")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--top", "50", "--back", "20"], "error: missing view(s) left, right"),
        (["--top", "150", "--back", "0", "--left", "0", "--right", "0"], "outside 0..100"),
        (["--top", "10", "--back", "0", "--left", "0", "--right", "0", "--baseline", "-3"], "baseline SALT"),
        (["--top", "10", "--back", "0", "--left", "0", "--right", "0", "--regrowth-top", "95"], "exceed 100"),
    ],
)
def test_salt_bad_input_exits_2_without_traceback(capsys, args, message):
    code, out, err = run(capsys, "salt", *args)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("option", ["--top", "--regrowth-left"])
def test_salt_refuses_a_view_given_twice(capsys, option):
    """An audit (thirty-third session): --top 50 ... --top 30 silently used 30."""
    args = ["--top", "50", "--back", "20", "--left", "10", "--right", "0"]
    code, out, err = run(capsys, "salt", *args, option, "5")
    given = "2 times (50, 5)" if option == "--top" else "2 times (30, 5)"
    if option != "--top":
        code, out, err = run(capsys, "salt", *args, option, "30", option, "5")
    assert code == 2 and out == "" and f"Invalid value for '{option}': given {given}; give it once" in err


def test_out_of_memory_names_no_option_the_command_lacks(capsys, monkeypatch):
    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr("alonet.scoring.salt.salt_result", no_memory)
    assert main(["salt", "--top", "1", "--back", "2", "--left", "3", "--right", "4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory") and len(err.strip().splitlines()) == 1
    assert "--size or batch" not in err  # what it said for every command (salt, predict, score have neither)


def test_salt_needs_no_torch():
    script = (
        "import sys; from alonet.cli.main import main; "
        "code = main(['salt', '--top', '1', '--back', '2', '--left', '3', '--right', '4']); "
        "print('torch' in sys.modules, code)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.splitlines()[-1] == "False 0", result.stderr


# --------------------------------------------------------------------------- convert


def _png_header_only(path: Path, width: int, height: int) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))


def _folders(tmp_path: Path, stems=("a", "b")) -> tuple[Path, Path, Path]:
    photos, scalp, hairloss = (tmp_path / d for d in ("photos", "scalp", "hairloss"))
    for folder in (photos, scalp, hairloss):
        folder.mkdir(parents=True, exist_ok=True)
    mask = np.zeros((12, 16), np.uint8)
    mask[2:10, 2:14] = 255
    rng = np.random.default_rng(0)
    for stem in stems:
        Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)).save(photos / f"{stem}.jpg")
        Image.fromarray(mask).save(scalp / f"{stem}.gif")
        Image.fromarray(mask[:6]).resize((16, 12)).save(hairloss / f"{stem}.png")
    return photos, scalp, hairloss


def _break(kind: str, photos: Path, scalp: Path, hairloss: Path) -> str:
    """Damage pair "b" in one way; return the file name the error must name."""
    if kind == "not an image":
        (photos / "b.jpg").write_text("hello, I am text")
        return "b.jpg"
    if kind == "truncated":
        data = (photos / "b.jpg").read_bytes()
        (photos / "b.jpg").write_bytes(data[: len(data) * 2 // 3])
        return "b.jpg"
    if kind == "zero-size":
        (scalp / "b.gif").write_bytes(b"")
        return "b.gif"
    if kind == "huge":
        (hairloss / "b.png").unlink()
        _png_header_only(hairloss / "b.png", 9000, 9000)
        return "b.png"
    if kind == "size mismatch":
        Image.fromarray(np.full((13, 16), 255, np.uint8)).save(hairloss / "b.png")
        return "b.png"
    if kind == "empty scalp":
        Image.fromarray(np.zeros((12, 16), np.uint8)).save(scalp / "b.gif")
        return "b.gif"
    if kind == "unpaired":
        (hairloss / "b.png").unlink()
        return "b."
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind,text",
    [
        ("not an image", "not an image"),
        ("truncated", "truncated or corrupt"),
        ("zero-size", "empty (0 bytes)"),
        ("huge", "81.0 megapixels"),
        ("size mismatch", "is 16x13 pixels but photograph"),
        ("empty scalp", "annotation is empty"),
        ("unpaired", "no hair-loss annotation"),
    ],
)
def test_convert_bad_input_kinds(tmp_path, capsys, kind, text):
    photos, scalp, hairloss = _folders(tmp_path)
    name = _break(kind, photos, scalp, hairloss)
    out = tmp_path / "ds"
    code, _, err = run(capsys, "convert", str(photos), str(scalp), str(hairloss), "-o", str(out), "--size", "8",
                       "--max-pixels", "80000000")
    assert code == 2 and not out.exists()
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1] == "error: 1 of 2 pairs are invalid (listed above); fix them or pass --skip-invalid"
    problem = next(line for line in lines if line.startswith("  b: "))
    assert text in problem and name in problem

    code, stdout, err = run(capsys, "convert", str(photos), str(scalp), str(hairloss), "-o", str(out), "--size", "8",
                            "--skip-invalid")
    assert code == 0 and "converted 1 pairs" in stdout and "1 skipped" in stdout
    assert [m["stem"] for m in open_dataset(out).meta] == ["a"]


def test_convert_success_existing_output_and_usage_errors(tmp_path, capsys):
    photos, scalp, hairloss = _folders(tmp_path, stems=("a", "B", "c"))
    out = tmp_path / "ds"
    code, stdout, _ = run(capsys, "convert", str(photos), str(scalp), str(hairloss), "-o", str(out), "--size", "8")
    assert code == 0 and f"converted 3 pairs into {out} (8x8)" in stdout
    ds = open_dataset(out)
    assert len(ds) == 3 and ds.images.shape == (3, 8, 8, 3)

    code, _, err = run(capsys, "convert", str(photos), str(scalp), str(hairloss), "-o", str(out))
    assert code == 2 and "already exists" in err and "--overwrite" in err
    code, _, _ = run(capsys, "convert", str(photos), str(scalp), str(hairloss), "-o", str(out), "--size", "16",
                     "--overwrite")
    assert code == 0 and open_dataset(out).size == 16

    code, _, err = run(capsys, "convert", str(photos), "-o", str(tmp_path / "x"))
    assert code == 2 and "three folders" in err
    code, _, err = run(capsys, "convert", str(photos), str(scalp), str(hairloss), "--from", str(tmp_path), "-o", "x")
    assert code == 2 and "not both" in err
    code, _, err = run(capsys, "convert", "--from", str(tmp_path / "nothing"), "-o", str(tmp_path / "x"))
    assert code == 2 and err.startswith("error: phantom folder") and "Traceback" not in err
    code, _, err = run(capsys, "convert", str(photos), str(scalp), str(hairloss), "-o", str(tmp_path / "y"),
                       "--manifest", str(tmp_path / "missing.csv"))
    assert code == 2 and "manifest" in err and "not found" in err


def test_convert_from_phantom_folder(tmp_path, capsys):
    root = tmp_path / "ph"
    photos, scalp, hairloss = _folders(root, stems=("v_top", "v_left"))
    photos.rename(root / "photographs")
    (root / "manifest.csv").write_text("stem,patient,visit,view\nv_top,p,1,top\nv_left,p,1,left\n")
    code, stdout, err = run(capsys, "convert", "--from", str(root), "-o", str(tmp_path / "ds"), "--size", "8")
    assert code == 0, err
    assert [m["view"] for m in open_dataset(tmp_path / "ds").meta] == ["left", "top"]


# --------------------------------------------------------------------------- help texts


@pytest.mark.parametrize("verb, names", [
    # a rerun moves old report folders into OUT/superseded-reports/, not beside them in reports/
    ("batch", ("superseded-reports/<name>.superseded-<time>", "superseded-reports/")),
    ("demo", ("OUT/demo.json",)),
])
def test_help_names_the_files_the_command_writes(capsys, verb, names):
    code, out, _ = run(capsys, verb, "--help")
    assert code == 0
    text = " ".join(out.split())  # click wraps the text
    for name in names:
        assert name in text, name


def _choices(command, option: str) -> tuple[str, ...]:
    param = next(p for p in command.params if p.name == option)
    return tuple(param.type.choices)


def test_every_option_list_is_the_librarys_own():
    """The CLI spells its choices out (importing the library tuples would pull numpy into
    `alonet --help`), so this test is what keeps the two from drifting apart (design review,
    thirty-fourth session)."""
    from alonet.cli.adapt_cmd import adapt_command
    from alonet.cli.phantom_cmd import phantom_command
    from alonet.cli.salt_cmd import salt as salt_command
    from alonet.cli.score_cmd import score_command
    from alonet.cli.train_cmd import train_command
    from alonet.model.config import ENCODERS, TASKS
    from alonet.phantom.patterns import PATTERNS
    from alonet.phantom.realmasks import SPLIT_FRACTIONS
    from alonet.report.options import OVERLAY_STYLES
    from alonet.scoring.salt import MISSING_POLICIES
    from alonet.train.config import DEVICES, FREEZE_BN, KEEP

    assert _choices(phantom_command, "pattern") == tuple(PATTERNS)
    assert _choices(phantom_command, "split") == (*SPLIT_FRACTIONS, "all")
    assert _choices(salt_command, "missing") == MISSING_POLICIES
    assert _choices(adapt_command, "tasks") == TASKS and _choices(adapt_command, "keep") == KEEP
    assert _choices(train_command, "task") == (*TASKS, "all")
    assert _choices(train_command, "encoder") == ENCODERS and _choices(train_command, "freeze_bn") == FREEZE_BN
    assert _choices(train_command, "keep") == KEEP and _choices(train_command, "device") == DEVICES
    assert _choices(score_command, "overlay") == tuple(OVERLAY_STYLES)
    from alonet.adapt.keys import KEY_ENV

    assert next(p for p in adapt_command.params if p.name == "patient_key").envvar == KEY_ENV
