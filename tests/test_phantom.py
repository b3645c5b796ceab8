"""Phantom geometry, real-mask handling and the dataset writer (engineer B).

Small sizes (96 px) keep the whole file to a few tens of seconds.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from test_image_encoding import pillow_jpeg, pillow_mask_png

from alonet.cli.main import main
from alonet.data.annotation import read_annotation
from alonet.data.maskshape import analyse_shape
from alonet.phantom import render_patient
from alonet.phantom.generate import procedural_frame, real_plan, real_plans, render_visits, rng_for, visit_size
from alonet.phantom.geometry import fill_polygon, midline_outline, place_outline, temporal_outline
from alonet.phantom.patterns import (
    PATTERNS,
    Blob,
    PatternState,
    evolve,
    rasterize,
    sample_patient_pattern,
    sample_state,
)
from alonet.phantom.realmasks import SPLIT_FRACTIONS, RealMaskSet, split_of
from alonet.phantom.render import CameraConfig, render_view, sample_look
from alonet.phantom.writer import MANIFEST_FIELDS, PhantomSpec, write_phantoms
from alonet.scoring.salt import salt_score, view_loss_percent
from alonet.views import VIEWS

SIZE = 96
FLAT = CameraConfig(geometric=False)

#: Real scalp masks whose view the author labelled by eye (file names only;
#: the files stay in the shared folder). facing: which side the face is on.
EYE_LABELS = {
    "1113162326141608311.gif": ("midline", None),
    "1175123450391705312.gif": ("midline", None),
    "1061142162461512022.gif": ("midline", None),
    "1109162190311707122.gif": ("midline", None),
    "113319202591707141.gif": ("midline", None),
    "965043207791509232.gif": ("midline", None),
    "1250180549501803147.gif": ("temporal", "left"),
    "1024952515071510054.gif": ("temporal", "right"),
    "116075142751709187.gif": ("temporal", "left"),
    "90365496321503305.gif": ("temporal", "right"),
    "1152170319981702066.gif": ("temporal", "left"),
    "96755754781410015.gif": ("temporal", "right"),
}


def _manifest(folder: Path) -> list[dict]:
    with open(folder / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ph") / "set"
    write_phantoms(PhantomSpec(out=out, patients=3, visits=2, seed=7, size=SIZE, preview=True), progress=False)
    return out


# --------------------------------------------------------------------------- writer


def test_same_seed_gives_identical_files_whatever_the_workers(written, tmp_path):
    again = tmp_path / "again"
    write_phantoms(PhantomSpec(out=again, patients=3, visits=2, seed=7, size=SIZE, preview=True, workers=2),
                   progress=False)
    first, second = _digests(written), _digests(again)
    assert len(first) == 3 * 2 * 4 * 3 + 2  # photos + 2 masks per view, manifest, preview
    assert first == second
    other = tmp_path / "other"
    write_phantoms(PhantomSpec(out=other, patients=1, visits=1, seed=8, size=SIZE), progress=False)
    stem = "photographs/P0001_v01_top.jpg"
    assert _digests(other)[stem] != first[stem]


def test_every_view_of_every_visit_is_written(written):
    rows = _manifest(written)
    assert list(rows[0]) == list(MANIFEST_FIELDS)
    visits = defaultdict(set)
    for r in rows:
        visits[(r["patient"], r["visit"])].add(r["view"])
        for sub, col in (("photographs", "photo"), ("scalp", "scalp"), ("hairloss", "hairloss")):
            assert (written / sub / r[col]).is_file()
    assert len(visits) == 6
    assert all(v == set(VIEWS) for v in visits.values())
    assert (written / "preview.png").stat().st_size > 1000


def test_masks_are_binary_and_aligned_with_the_photo(written):
    for r in _manifest(written):
        photo = Image.open(written / "photographs" / r["photo"])
        assert photo.mode == "RGB" and max(photo.size) == SIZE
        assert photo.size == (int(r["width"]), int(r["height"]))
        for sub in ("scalp", "hairloss"):
            mask = np.asarray(Image.open(written / sub / r[sub]))
            assert mask.shape == (photo.size[1], photo.size[0])
            assert set(np.unique(mask)) <= {0, 255}
        scalp = np.asarray(Image.open(written / "scalp" / r["scalp"])) > 0
        assert 0.08 < scalp.mean() < 0.7  # a region inside the frame, not the frame


def test_manifest_describes_each_visits_look(written):
    """The look columns are the visit's look: the first visit's is the patient's sampled look,
    a later visit keeps the skin and may change the hair."""
    from alonet.phantom.generate import rng_for
    from alonet.phantom.render import sample_look

    rows = _manifest(written)
    for r in rows:
        assert 1 <= int(r["fitzpatrick"]) <= 6 and r["cropped"] in "01" and r["shaved"] in "01"
        assert 0.0 < float(r["hair_length"]) < 1.0 and 0.0 <= float(r["remnant_hairs"]) <= 1.0
    for index in range(3):
        look = sample_look(rng_for(7, index, "look"))
        first = [r for r in rows if r["patient"] == f"P{index + 1:04d}" and r["visit"] == "1"]
        assert len(first) == 4
        assert {(r["fitzpatrick"], r["hair_colour"], r["hair_length"]) for r in first} == {
            (str(look.fitzpatrick), look.hair_name, f"{look.hair_length:.4f}")}
        later = {r["fitzpatrick"] for r in rows if r["patient"] == f"P{index + 1:04d}" and r["visit"] == "2"}
        assert later == {str(look.fitzpatrick)}


def test_manifest_salt_equals_salt_of_the_written_masks(written):
    per_visit = defaultdict(dict)
    for r in _manifest(written):
        scalp = read_annotation(written / "scalp" / r["scalp"])
        loss = read_annotation(written / "hairloss" / r["hairloss"])
        pct = view_loss_percent(loss, scalp)
        assert abs(pct - float(r["loss_pct"])) < 1e-3
        per_visit[(r["patient"], r["visit"])][r["view"]] = (pct, float(r["salt"]))
    for views in per_visit.values():
        salt = salt_score({v: p for v, (p, _) in views.items()})
        assert all(abs(s - salt) < 1e-3 for _, s in views.values())


def test_right_view_is_the_mirror_of_left_view_geometry():
    scalp, _ = procedural_frame(3, 0, "left", 120)
    loss = np.zeros_like(scalp)
    loss[scalp.shape[0] // 3: scalp.shape[0] // 2, : scalp.shape[1] // 2] = True
    loss &= scalp
    look = sample_look(np.random.default_rng(1))
    left = render_view(scalp, loss, "left", look, np.random.default_rng(5), camera=FLAT)
    right = render_view(scalp, loss, "right", look, np.random.default_rng(5), camera=FLAT)
    assert np.array_equal(left.scalp, scalp) and np.array_equal(right.scalp, scalp[:, ::-1])
    assert np.array_equal(right.hairloss, loss[:, ::-1])
    assert np.array_equal(right.image, left.image[:, ::-1])
    # end to end: the right view written for a patient is its canonical geometry mirrored
    visit = render_patient(seed=11, visits=1, size=SIZE, camera=FLAT)[0]
    canonical, _ = procedural_frame(11, 0, "right", SIZE)
    assert np.array_equal(visit.views["right"].scalp, canonical[:, ::-1])
    assert analyse_shape(visit.views["right"].scalp).facing == "right"
    assert analyse_shape(visit.views["left"].scalp).facing == "left"


def test_in_memory_patient_equals_the_written_one(written):
    visits = render_patient(seed=7, visits=2, size=SIZE, patient=1)
    for visit in visits:
        for view, pv in visit.views.items():
            stem = f"P0002_v{visit.visit:02d}_{view}"
            assert np.array_equal(read_annotation(written / "scalp" / f"{stem}.png"), pv.scalp)
            assert np.array_equal(read_annotation(written / "hairloss" / f"{stem}.png"), pv.hairloss)
            # the files are Pillow's encodings of these arrays: JPEG quality 95, 0/255 PNG
            assert (written / "photographs" / f"{stem}.jpg").read_bytes() == pillow_jpeg(pv.image, 95)
            assert (written / "scalp" / f"{stem}.png").read_bytes() == pillow_mask_png(pv.scalp)
            assert (written / "hairloss" / f"{stem}.png").read_bytes() == pillow_mask_png(pv.hairloss)


def test_render_patient_in_memory_is_consistent():
    visits = render_patient(seed=5, visits=3, size=SIZE, pattern="multiple")
    assert [v.visit for v in visits] == [1, 2, 3]
    assert visits[0].date < visits[1].date < visits[2].date
    for v in visits:
        assert set(v.views) == set(VIEWS)
        assert abs(v.salt - salt_score({k: p.loss_pct for k, p in v.views.items()})) < 1e-9
        for p in v.views.values():
            assert p.image.shape[:2] == p.scalp.shape == p.hairloss.shape
            assert not (p.hairloss & ~p.scalp).any()  # procedural loss lies on the scalp


def test_random_sizes_are_deterministic_and_in_range():
    sizes = [visit_size("random", 1, p, 1) for p in range(200)]
    assert sizes == [visit_size("random", 1, p, 1) for p in range(200)]
    assert min(sizes) >= 320 and max(sizes) <= 3000
    assert sum(s > 1500 for s in sizes) > 20 and sum(s <= 640 for s in sizes) > 80
    assert visit_size(400, 1, 0, 1) == 400


def test_cli_writes_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["phantom", "-o", str(out), "--patients", "1", "--size", "80", "--seed", "2"]) == 0
    assert len(_manifest(out)) == 4
    capsys.readouterr()
    assert main(["phantom", "-o", str(out), "--patients", "1", "--size", "80"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err and "--overwrite" in err
    assert main(["phantom", "-o", str(tmp_path / "x"), "--masks", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "nowhere" in err
    # without an upper bound --size 100000 ran out of memory (a smaller huge size may get the process killed)
    assert main(["phantom", "-o", str(tmp_path / "huge"), "--patients", "1", "--size", "100000"]) == 2
    assert "'100000' is too large (use at most 4096)" in capsys.readouterr().err
    assert not (tmp_path / "huge").exists()
    assert main(["phantom", "-o", str(tmp_path / "y"), "--patients", "all"]) == 2
    assert "--masks" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


# --------------------------------------------------------------------------- patterns


def test_procedural_scalps_sit_in_the_frame_like_real_annotations():
    # medians over the 2,716 shared scalp masks: box 0.66 x 0.62 of the frame,
    # top edge at 0.14, bottom edge at 0.76, region 30 % of the frame
    boxes, fractions = [], []
    for p in range(40):
        for view in VIEWS:
            m, (h, w) = procedural_frame(0, p, view, 128)
            ys, xs = np.nonzero(m)
            boxes.append(((xs.max() - xs.min()) / w, (ys.max() - ys.min()) / h, ys.min() / h, ys.max() / h))
            fractions.append(m.mean())
            assert xs.min() > 0.05 * w and xs.max() < 0.95 * w and ys.min() > 0.02 * h and ys.max() < 0.95 * h
    med = np.median(np.array(boxes), axis=0)
    assert 0.6 < med[0] < 0.72 and 0.56 < med[1] < 0.68 and 0.1 < med[2] < 0.18 and 0.7 < med[3] < 0.82
    assert 0.25 < np.median(fractions) < 0.36


def _ref_scalp(view: str, seed: int) -> np.ndarray:
    return procedural_frame(seed, 0, view, 128)[0]


def test_patterns_lean_towards_heavy_loss():
    fractions = []
    for i in range(80):
        rng = np.random.default_rng(i)
        who = sample_patient_pattern(rng)
        scalp = _ref_scalp("back", i)
        loss, _ = rasterize(sample_state(who, "back", scalp, rng), scalp)
        fractions.append(loss.sum() / scalp.sum())
    fractions = np.array(fractions)
    # the shared annotations average 17.6 % (12 % of images at >= 50 %)
    assert fractions.mean() > 0.3
    assert (fractions >= 0.5).mean() > 0.25
    assert (fractions < 0.01).mean() > 0.02


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_each_pattern_has_its_expected_extent(pattern):
    rng = np.random.default_rng(3)
    who = sample_patient_pattern(rng, pattern)
    who = type(who)(pattern, who.trend, "left")
    scalp = _ref_scalp("left", 3)
    loss, thinning = rasterize(sample_state(who, "left", scalp, rng), scalp)
    frac = loss.sum() / scalp.sum()
    expected = {"none": (0, 0), "single": (0.005, 0.4), "multiple": (0.0, 0.7), "confluent": (0.05, 0.95),
                "ophiasis": (0.03, 0.8), "diffuse": (0.02, 0.9), "near_total": (0.55, 0.999), "total": (1, 1)}
    lo, hi = expected[pattern]
    assert lo <= frac <= hi
    assert thinning.dtype == np.float32 and 0 <= thinning.min() and thinning.max() <= 1


def test_ophiasis_band_follows_the_lower_margin():
    scalp = _ref_scalp("back", 1)
    loss, _ = rasterize(PatternState("ophiasis", band=0.15, seed=4), scalp)
    rows = np.flatnonzero(scalp.any(axis=1))
    top, bottom = rows[0], rows[-1]
    fifth = (bottom - top) // 5
    assert loss[top: top + fifth].sum() == 0  # the crown is spared
    lowest = slice(bottom - fifth, bottom + 1)
    assert loss[lowest].sum() > 0.6 * scalp[lowest].sum()  # the nape margin is bald


def test_patches_grow_merge_and_regrow_between_visits():
    scalp = _ref_scalp("top", 2)
    a = Blob(-0.25, 0.0, 0.18)
    b = Blob(0.25, 0.0, 0.18)
    state = PatternState("multiple", loss=(a, b), seed=1)
    loss0, _ = rasterize(state, scalp)
    n0 = cv2.connectedComponents(loss0.astype(np.uint8))[0] - 1
    rng = np.random.default_rng(0)
    grown = evolve(state, 0.45, scalp, rng)
    grown = evolve(grown, 0.45, scalp, rng)
    loss1, _ = rasterize(grown, scalp)
    assert n0 == 2 and loss1.sum() > 1.5 * loss0.sum()
    merged = PatternState("multiple", loss=(Blob(-0.25, 0.0, 0.3), Blob(0.25, 0.0, 0.3)), seed=1)
    assert cv2.connectedComponents(rasterize(merged, scalp)[0].astype(np.uint8))[0] - 1 == 1
    shrunk = evolve(state, -0.6, scalp, np.random.default_rng(1))
    loss2, thinning2 = rasterize(shrunk, scalp)
    assert loss2.sum() < 0.7 * loss0.sum()
    assert thinning2[loss0 & ~loss2].mean() > 0.3  # regrowing short hair where the patch was


def test_patterns_do_not_depend_on_resolution():
    rng = np.random.default_rng(9)
    who = sample_patient_pattern(rng, "confluent")
    small = procedural_frame(4, 0, "top", 128)[0]
    large = procedural_frame(4, 0, "top", 512)[0]
    state = sample_state(who, "top", small, rng)
    f_small = rasterize(state, small)[0].sum() / small.sum()
    f_large = rasterize(state, large)[0].sum() / large.sum()
    assert abs(f_small - f_large) < 0.02


# --------------------------------------------------------------------------- view inference


def _arch(face: str) -> np.ndarray:
    """A hand-built side-view region: a dome with an ear notch, the leg on the
    face side shorter."""
    m = np.zeros((200, 200), np.uint8)
    cv2.rectangle(m, (30, 60), (170, 150), 1, -1)
    cv2.ellipse(m, (100, 60), (70, 45), 0, 180, 360, 1, -1)
    cv2.ellipse(m, (110, 175), (30, 70), 0, 0, 360, 0, -1)  # the ear notch
    m[125:, :100] = 0  # short sideburn (face on the left)
    m = m.astype(bool)
    return m if face == "left" else m[:, ::-1]


def test_view_rule_on_hand_built_shapes():
    square = np.zeros((200, 160), bool)
    square[30:170, 25:135] = True
    assert analyse_shape(square).kind == "midline"
    disc = cv2.circle(np.zeros((200, 200), np.uint8), (100, 100), 70, 1, -1).astype(bool)
    assert analyse_shape(disc).kind == "midline"
    for face in ("left", "right"):
        info = analyse_shape(_arch(face))
        assert (info.kind, info.facing) == ("temporal", face)
        assert info.mirrored == (face == "right")
    # a notch in the upper edge is not an ear
    assert analyse_shape(_arch("left")[::-1]).kind == "midline"


def test_view_rule_on_procedural_shapes():
    for i in range(12):
        rng = np.random.default_rng(i)
        shape = (200, 170)
        temporal = fill_polygon(place_outline(temporal_outline(rng), shape, rng, "temporal"), shape)
        assert (analyse_shape(temporal).kind, analyse_shape(temporal).facing) == ("temporal", "left")
        assert analyse_shape(temporal[:, ::-1]).facing == "right"
        view = "top" if i % 2 else "back"
        midline = fill_polygon(place_outline(midline_outline(view, rng), shape, rng, "midline"), shape)
        assert analyse_shape(midline).kind == "midline"


@pytest.mark.shared
def test_view_rule_agrees_with_eye_labels_on_real_masks(shared_annotations):
    for name, (kind, facing) in EYE_LABELS.items():
        info = analyse_shape(read_annotation(shared_annotations / "mask" / name))
        assert (info.kind, info.facing) == (kind, facing), name


# --------------------------------------------------------------------------- real annotations


def test_split_is_a_stable_hash_of_the_patient():
    ids = [f"{i:08d}" for i in range(3000)]
    splits = [split_of(p) for p in ids]
    assert splits == [split_of(p) for p in ids]
    for name, frac in SPLIT_FRACTIONS.items():
        assert abs(splits.count(name) / len(ids) - frac) < 0.03


@pytest.mark.shared
def test_shared_annotations_are_split_by_patient(shared_annotations):
    masks = RealMaskSet(shared_annotations)
    groups = {s: set(masks.patients(s)) for s in SPLIT_FRACTIONS}
    assert not (groups["train"] & groups["val"]) and not (groups["train"] & groups["test"])
    assert not (groups["val"] & groups["test"])
    assert set().union(*groups.values()) == set(masks.patients("all")) and len(masks.patients("all")) == 364
    assert all(len(groups[s]) > 20 for s in ("val", "test"))
    # a phantom patient uses one real patient's masks only, and keeps its split
    plans = real_plans(masks, "test", seed=1, patients=2, max_visits=2)
    owner = {r.file: r.patient for r in masks.records}
    for plan in plans:
        files = {s.file for vp in plan.visits for s in vp.views.values() if s.file}
        assert files and {owner[f] for f in files} == {plan.real_patient}
        assert plan.split == "test" == split_of(plan.real_patient)


@pytest.mark.shared
def test_real_mask_phantoms_keep_the_annotations(shared_annotations, tmp_path):
    out = tmp_path / "real"
    write_phantoms(PhantomSpec(out=out, patients=1, visits=1, seed=3, size=SIZE, masks_dir=shared_annotations,
                               split="val"), progress=False)
    rows = _manifest(out)
    assert len(rows) == 4 and {r["split"] for r in rows} == {"val"}
    masks = RealMaskSet(shared_annotations)
    # with the camera held still, every real mask reaches the disk as drawn when
    # its view looks the way it does, and mirrored when it was given the other side
    pid = rows[0]["patient"][1:]
    plan = real_plan(0, pid, masks.patients("all")[pid], masks, 1)
    visit = next(render_visits(plan, 3, SIZE, masks, camera=FLAT))
    checked = 0
    for view, src in plan.visits[0].views.items():
        if src.file is None:
            continue
        scalp, loss = masks.load(src.file, SIZE)
        same = src.mirror == (view == "right")
        expected = (scalp, loss) if same else (scalp[:, ::-1], loss[:, ::-1])
        assert np.array_equal(visit.views[view].scalp, expected[0])
        assert np.array_equal(visit.views[view].hairloss, expected[1])
        checked += 1
    assert checked >= 2


def test_rng_keys_are_independent_of_order():
    a = rng_for(5, 1, "top", "render").random(3)
    rng_for(5, 2, "top", "render").random(3)
    b = rng_for(5, 1, "top", "render").random(3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, rng_for(5, 1, "back", "render").random(3))


@pytest.mark.parametrize("case", ["empty scalp", "sizes differ"])
def test_a_bad_real_mask_pair_is_named_by_its_file(tmp_path, case):
    """An audit (thirty-third session): an all-black scalp mask was reported as "the scalp mask of
    the top view is empty ... retake the photograph", naming no file, and a pair of different
    sizes called the scalp mask a photograph."""
    from alonet.errors import DatasetError, SizeMismatchError

    for sub in ("mask", "target"):
        (tmp_path / sub).mkdir()
    scalp = np.zeros((60, 80), np.uint8)
    if case == "sizes differ":
        scalp[10:50, 10:70] = 255
    Image.fromarray(scalp).save(tmp_path / "mask" / "a.gif")
    loss_shape = (60, 80) if case == "empty scalp" else (50, 80)
    Image.fromarray(np.zeros(loss_shape, np.uint8)).save(tmp_path / "target" / "a.gif")
    (tmp_path / "manifest.csv").write_text("file,patient,case,visit_date,photo_index\na.gif,P1,1,2020-01-01,1\n")
    masks = RealMaskSet(tmp_path)
    if case == "empty scalp":
        with pytest.raises(DatasetError, match=r"the scalp mask .*mask/a\.gif is empty"):
            masks.load("a.gif", 64)
    else:
        with pytest.raises(SizeMismatchError, match=r"hair-loss mask .*target/a\.gif is 80x50 pixels but its scalp "
                                                    r"mask .*mask/a\.gif is 80x60"):
            masks.load("a.gif", 64)


def one_annotation(folder, scalp: np.ndarray, patient: str = "P1", visit_date: str = "2020-01-01"):
    for sub in ("mask", "target"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    Image.fromarray(scalp.astype(np.uint8) * 255).save(folder / "mask" / "a.gif")
    Image.fromarray(np.zeros(scalp.shape, np.uint8)).save(folder / "target" / "a.gif")
    (folder / "manifest.csv").write_text("file,patient,case,visit_date,photo_index\n"
                                         f"a.gif,{patient},1,{visit_date},1\n")


@pytest.mark.parametrize("case", ["tiny", "vanishes", "date", "basic date"])
def test_real_annotations_a_phantom_cannot_use_are_named(tmp_path, case):
    """An audit (thirty-fourth session): a 10x8 annotation gave an 8x10 photograph below the
    64 px minimum, a one-pixel scalp that vanished at --size spoke of retaking a photograph,
    and a visit_date of 13/11/2015 ended in a ValueError traceback."""
    from alonet.errors import DatasetError

    scalp = np.zeros((8, 10) if case == "tiny" else (600, 800), bool)
    if case == "vanishes":
        scalp[300, 400] = True
    else:
        scalp[2:6, 2:8] = True
    dates = {"date": "13/11/2015", "basic date": "20151113"}  # Python 3.11 reads the second as a date
    one_annotation(tmp_path, scalp, visit_date=dates.get(case, "2020-01-01"))
    if case in dates:
        with pytest.raises(DatasetError, match=rf"manifest\.csv line 2: visit_date '{dates[case]}' is not a date of "
                                               r"the form YYYY-MM-DD"):
            RealMaskSet(tmp_path)
        return
    masks = RealMaskSet(tmp_path)
    expected = (r"mask/a\.gif is only 10x8 pixels" if case == "tiny" else
                r"mask/a\.gif is empty once reduced to a long side of 128 pixels \(its region is 1 pixel\(s\)")
    with pytest.raises(DatasetError, match=expected):
        masks.load("a.gif", 128)


def test_phantom_file_names_survive_any_patient_id_and_visit_counts_stay_on_the_calendar(tmp_path, capsys):
    from alonet.cli.main import main
    from alonet.phantom.writer import file_safe

    assert file_safe("01035682") == "01035682"  # the real annotations' ids are kept as they are
    assert file_safe("a/b").startswith("a_b-") and file_safe("a/b") != file_safe("a_b")
    scalp = np.zeros((300, 400), bool)
    scalp[50:250, 50:350] = True
    one_annotation(tmp_path / "ann", scalp, patient="a/b")
    assert main(["phantom", "--masks", str(tmp_path / "ann"), "-o", str(tmp_path / "out"), "--size", "128",
                 "--pattern", "total"]) == 0
    err = capsys.readouterr().err
    assert "note: --pattern total applies only to views drawn procedurally" in err
    stems = [row.split(",")[0] for row in (tmp_path / "out" / "manifest.csv").read_text().splitlines()[1:]]
    assert all(stem.startswith(file_safe("Ra/b") + "_v01_") for stem in stems) and len(stems) == 4  # R: real
    assert main(["phantom", "-o", str(tmp_path / "many"), "--patients", "1", "--visits", "39608"]) == 2
    assert "--visits 39608 is more than 1000 visits per patient" in capsys.readouterr().err
