"""Phantoms aimed at the failure modes seen on real clinical photographs:
dense hair as photo-scale texture, short-cropped hair (not loss), scattered
hairs left in diffuse loss (loss), hair below the scalp region, clinic
photography (blue backdrops, flash)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from alonet.phantom.render import render_view, sample_look, visit_look
from alonet.phantom.render.camera import CameraConfig
from alonet.phantom.render.hair import REMNANT_MAX_COVER, FlowField, draw_remnant_hairs, flow_field, flow_texture
from alonet.phantom.render.head import layout_head
from alonet.phantom.render.look import CROPPED_LENGTH
from alonet.scoring.salt import view_loss_percent
from test_render import CLEAN, NO_JITTER, dark_haired_look, erode, luminance, midline_masks, temporal_masks


def test_training_sampler_draws_each_failure_mode_at_its_share():
    rng = np.random.default_rng(21)
    looks = [sample_look(rng) for _ in range(4000)]
    share = lambda pred: float(np.mean([pred(lk) for lk in looks]))  # noqa: E731
    assert 0.09 < share(lambda lk: lk.cropped) < 0.15
    assert 0.30 < share(lambda lk: lk.remnant_hairs > 0) < 0.40
    assert 0.30 < share(lambda lk: lk.sheen >= 0.55) < 0.40
    assert 0.60 < share(lambda lk: lk.skin_shine >= 0.6) < 0.75  # flash (60 %) plus bright non-flash skin
    kinds = {k: share(lambda lk, k=k: lk.background == k) for k in ("blue", "green", "grey", "white")}
    assert kinds["blue"] > 0.47 and all(v > 0.06 for v in kinds.values())
    assert max(kinds, key=kinds.get) == "blue"
    # dense hair is mostly photo-scale texture, thin hair mostly strands
    dense = [lk.hair_texture for lk in looks if lk.hair_density > 0.85 and not lk.cropped]
    thin = [lk.hair_texture for lk in looks if lk.hair_density < 0.45 and not lk.cropped]
    assert np.mean(dense) > 0.6 and np.mean(thin) < 0.15
    assert not any(lk.shaved for lk in looks)  # shaved stubble only where a script asks for it
    for lk in looks:
        if lk.cropped:
            assert CROPPED_LENGTH[0] <= lk.hair_length <= CROPPED_LENGTH[1] and lk.hair_volume <= 0.05
            later = visit_look(lk, rng)
            assert later.cropped and later.hair_length <= CROPPED_LENGTH[1]


def test_flow_texture_streaks_run_along_the_flow():
    shape = (96, 120)
    dirs = np.zeros((13, 16, 2), np.float32)
    dirs[..., 0] = 1.0  # hair lying along x
    field = FlowField(dirs, 8.0, np.ones((13, 16), np.float32))
    tex = flow_texture(field, shape, 6.0, np.random.default_rng(0), 1.0, coarse=0.0)
    assert abs(float(tex.mean())) < 1e-3 and abs(float(tex.std()) - 1.0) < 1e-3
    core = tex[8:-8, 8:-8]

    def corr(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])

    along = corr(core[:, :-3], core[:, 3:])
    across = corr(core[:-3], core[3:])
    assert along > 0.6 and abs(across) < 0.1


def _grain(img: np.ndarray, where: np.ndarray) -> float:
    """Mean high-frequency contrast (luminance minus its 2-px blur) in ``where``."""
    lum = luminance(img)
    return float(np.abs(lum - cv2.GaussianBlur(lum, (0, 0), 2))[where].mean())


def test_short_cropped_hair_over_the_whole_scalp_is_not_loss():
    scalp, _ = midline_masks(240, 192)
    none = np.zeros_like(scalp)
    core = erode(scalp, 8)
    for seed in range(3):
        base = dataclasses.replace(dark_haired_look(seed), remnant_hairs=0.0)
        crop = dataclasses.replace(base, cropped=True, hair_length=0.015, hair_volume=0.03, hair_texture=0.8,
                                   hair_density=0.9)
        cropped = render_view(scalp, none, "top", crop, np.random.default_rng(seed), camera=NO_JITTER)
        bald = render_view(scalp, scalp, "top", crop, np.random.default_rng(seed), camera=NO_JITTER)
        full = render_view(scalp, none, "top", dataclasses.replace(base, hair_texture=1.0),
                           np.random.default_rng(seed), camera=NO_JITTER)
        assert view_loss_percent(cropped.hairloss, cropped.scalp, view="top") == 0.0
        assert view_loss_percent(bald.hairloss, bald.scalp, view="top") == 100.0
        lc, lb, lf = (np.median(luminance(r.image)[core]) for r in (cropped, bald, full))
        # the skin shows between the hairs: between bare skin and dense hair
        gap = lb - lf
        assert gap > 40 and lf + 0.15 * gap < lc < lb - 0.15 * gap, (seed, lf, lc, lb)
        # and it is a fine stipple (high-frequency contrast), unlike smooth bald skin
        assert _grain(cropped.image, core) > max(3.0 * _grain(bald.image, core), 8.0)


def _remnant_hairs_on_plain_skin(scalp: np.ndarray, seed: int, hair_length: float) -> np.ndarray:
    """Remaining hairs of a dark-haired look drawn alone over a grey (200) top view of ``scalp``."""
    look = dataclasses.replace(dark_haired_look(seed), remnant_hairs=1.0, hair_length=hair_length)
    rng = np.random.default_rng(seed)
    layout = layout_head(scalp, "top", look, rng)
    canvas = np.full(scalp.shape + (3,), 200, np.uint8)
    draw_remnant_hairs(canvas, layout, look, scalp, flow_field(layout, look, rng), rng, 1.0)
    return canvas


def test_scattered_hairs_in_diffuse_loss_stay_loss_and_skin_dominates():
    scalp, _ = midline_masks(240, 192)
    core = erode(scalp, 8)
    # drawn alone on plain skin: hairs everywhere, skin dominating
    covers = []
    for seed in range(8):
        canvas = _remnant_hairs_on_plain_skin(scalp, seed, 0.2)
        dark = canvas.min(axis=2)[core] < 120
        covers.append(float(dark.mean()))
    drawn = [c for c in covers if c > 0]
    assert len(drawn) >= 5  # 85 % of views with such a look show them
    assert 0.06 < np.mean(drawn) and max(drawn) < REMNANT_MAX_COVER + 0.1
    # in a full render the mask stays loss under them and skin still dominates
    for seed in range(3):
        look = dataclasses.replace(dark_haired_look(seed), remnant_hairs=1.0, hair_length=0.2)
        r = render_view(scalp, scalp, "top", look, np.random.default_rng(seed), camera=NO_JITTER)
        assert view_loss_percent(r.hairloss, r.scalp, view="top") == 100.0
        lum = luminance(r.image)
        assert float((lum[core] < 0.6 * np.median(lum[core])).mean()) < 0.45


def _dark_blobs(canvas: np.ndarray, core: np.ndarray, below: int = 120) -> tuple[float, int]:
    """Share of ``core`` that is dark (hair on plain skin) and the number of dark strokes there."""
    dark = (canvas.min(axis=2) < below) & core
    count, _ = cv2.connectedComponents(dark.astype(np.uint8), connectivity=8)
    return float(dark[core].mean()), count - 1


def test_remaining_hairs_keep_a_minimum_length_when_asked(monkeypatch):
    """On a short-haired look the remaining hairs are as short as its hair: a head of them reads
    as cropped hair. ``REMNANT_MIN_LENGTH`` makes them fewer and longer at the same cover."""
    import alonet.phantom.render.hair as hair

    scalp, _ = midline_masks(240, 192)
    core = erode(scalp, 8)

    def strokes(min_length: float) -> tuple[float, float]:
        monkeypatch.setattr(hair, "REMNANT_MIN_LENGTH", min_length)
        covers, sizes = [], []
        for seed in range(6):
            cover, count = _dark_blobs(_remnant_hairs_on_plain_skin(scalp, seed, 0.01), core)
            if count:
                covers.append(cover)
                sizes.append(cover * core.sum() / count)
        assert len(covers) >= 4
        return float(np.mean(covers)), float(np.median(sizes))

    short_cover, short_size = strokes(0.0)
    long_cover, long_size = strokes(0.06)
    assert long_size > 3.0 * short_size, (short_size, long_size)
    assert 0.5 < long_cover / short_cover < 2.0  # about the same share of skin covered
    assert long_cover < REMNANT_MAX_COVER


def test_dark_regrowth_stubble_can_be_turned_off(monkeypatch):
    """Dark regrowth stubble over a whole head of loss looks like a shaved head; with
    ``DARK_REGROWTH`` off no head of bald skin gets a cover of short dark hairs."""
    import alonet.phantom.render.skin as skin

    scalp, _ = midline_masks(240, 192)
    core = erode(scalp, 8)

    def covers(on: bool) -> np.ndarray:
        monkeypatch.setattr(skin, "DARK_REGROWTH", on)
        out = []
        for seed in range(16):
            look = dark_haired_look(seed)
            rng = np.random.default_rng(seed)
            layout = layout_head(scalp, "top", look, rng)
            canvas = np.full(scalp.shape + (3,), 200, np.uint8)
            skin.bald_details(canvas, scalp, np.zeros_like(scalp), layout, look, rng, 1.0)
            out.append(_dark_blobs(canvas, core, below=150)[0])
        return np.array(out)

    with_stubble, without = covers(True), covers(False)
    assert (with_stubble > 0.03).sum() >= 3 and with_stubble.max() > 0.06  # a third of heads, some densely
    assert without.max() < 0.03


def test_hair_continues_below_the_scalp_region_down_the_nape():
    covered = {"back": 0, "left": 0}
    trials = 30
    for view, (scalp, _) in (("back", midline_masks(240, 192)), ("left", temporal_masks(240, 192))):
        ys, xs = np.nonzero(scalp)
        for seed in range(trials):
            look = sample_look(np.random.default_rng(seed))
            layout = layout_head(scalp, view, look, np.random.default_rng(seed))
            if view == "back":
                cols = slice(int(np.percentile(xs, 45)), int(np.percentile(xs, 55)))
            else:  # behind the ear: the back third of the region
                cols = slice(int(np.percentile(xs, 80)), int(np.percentile(xs, 90)))
            bottom = max(int(ys[np.isin(xs, np.arange(cols.start, cols.stop))].max()), 0)
            band = layout.hair_region[bottom + 3: bottom + 8, cols]
            covered[view] += band.mean() > 0.8
    # NAPE_HAIR_SHARE = 0.85 of the heads have hair below the region's lower edge
    assert 0.65 * trials <= covered["back"] <= trials
    assert 0.5 * trials <= covered["left"] <= trials


def test_clips_cast_a_soft_shadow_next_to_them():
    from alonet.phantom.render.props import _clip_shadows

    canvas = np.full((120, 120, 3), 150, np.uint8)
    clip = (np.array([60.0, 60.0]), 40.0, 5.0, np.array([1.0, 0.0]))  # centre, length, width, direction
    _clip_shadows(canvas, [clip], np.random.default_rng(0), 1.0)
    lum = canvas[..., 0].astype(int)
    assert lum[50:72, 40:80].min() < 110  # darkened under and beside the clip
    assert (lum[:30] == 150).all() and (lum[95:] == 150).all()  # nowhere else


def test_side_views_get_beards_outside_the_scalp_region_at_their_share():
    rng = np.random.default_rng(5)
    looks = [sample_look(rng) for _ in range(3000)]
    kinds = {k: float(np.mean([lk.beard == k for lk in looks])) for k in ("none", "sideburns", "stubble", "full")}
    assert 0.40 < kinds["none"] < 0.50 and all(v > 0.10 for v in kinds.values())
    assert all((lk.beard == "none") == (lk.beard_density == 0.0) for lk in looks)

    scalp, loss = temporal_masks(240, 192)
    base = dataclasses.replace(dark_haired_look(3), beard="none", beard_density=0.0, glasses=False)
    plain = render_view(scalp, loss, "left", base, np.random.default_rng(3), camera=CLEAN)
    for kind in ("stubble", "full"):
        bearded = render_view(scalp, loss, "left", dataclasses.replace(base, beard=kind, beard_density=0.9),
                              np.random.default_rng(3), camera=CLEAN)
        # the labels are the same: a beard is never scalp and never hair loss
        assert np.array_equal(bearded.scalp, plain.scalp) and np.array_equal(bearded.hairloss, plain.hairloss)
        changed = np.abs(luminance(bearded.image) - luminance(plain.image)) > 8
        assert changed.mean() > 0.01  # the beard shows ...
        assert not (changed & erode(scalp, 2)).any()  # ... and only outside the scalp region
        darker = luminance(bearded.image)[changed].mean() < luminance(plain.image)[changed].mean()
        assert darker  # dark hair on skin
    # a top view has no face in profile: no beard drawn
    top_scalp, top_loss = midline_masks(240, 192)
    a = render_view(top_scalp, top_loss, "top", base, np.random.default_rng(4), camera=CLEAN)
    b = render_view(top_scalp, top_loss, "top", dataclasses.replace(base, beard="full", beard_density=0.9),
                    np.random.default_rng(4), camera=CLEAN)
    assert np.array_equal(a.image, b.image)


def test_zoomed_out_framing_shows_a_smaller_head():
    scalp, loss = temporal_masks(240, 192)
    look = dark_haired_look(1)
    near = CameraConfig(zoom_out_prob=0.0, photometric=False, jpeg=False)
    far = CameraConfig(zoom_out_prob=1.0, zoom_out_range=(0.65, 0.7), photometric=False, jpeg=False)
    share_near = np.mean([render_view(scalp, loss, "left", look, np.random.default_rng(s), camera=near).scalp.mean()
                          for s in range(4)])
    share_far = np.mean([render_view(scalp, loss, "left", look, np.random.default_rng(s), camera=far).scalp.mean()
                         for s in range(4)])
    assert share_far < 0.7 * share_near  # about (0.65..0.7)^2 / ~1 of the area


def test_shaved_stubble_is_a_faint_even_shadow_and_not_loss(monkeypatch):
    import alonet.phantom.render.look as look

    scalp, _ = midline_masks(240, 192)
    none = np.zeros_like(scalp)
    core = erode(scalp, 8)
    for seed in range(3):
        base = dataclasses.replace(dark_haired_look(seed), remnant_hairs=0.0)
        crop = dataclasses.replace(base, cropped=True, hair_length=0.015, hair_volume=0.03, hair_texture=0.8,
                                   hair_density=0.9)
        stubble = dataclasses.replace(crop, shaved=True, hair_length=0.004)
        views = [render_view(scalp, truth, "top", lk, np.random.default_rng(seed), camera=NO_JITTER)
                 for lk, truth in ((stubble, none), (crop, none), (crop, scalp))]
        shaved, cropped, bald = views
        assert view_loss_percent(shaved.hairloss, shaved.scalp, view="top") == 0.0
        ls, lc, lb = (np.median(luminance(r.image)[core]) for r in views)
        # a shadow over the skin: darker than bare skin, lighter than cropped hair
        assert lc < ls < lb - 8, (seed, lc, ls, lb)
        # a finer, fainter grain than cropped hair, but not smooth skin
        assert _grain(bald.image, core) < _grain(shaved.image, core) < _grain(cropped.image, core)
    # the sampler draws shaved heads among the cropped ones when the share is raised
    monkeypatch.setattr(look, "CROPPED_SHARE", 1.0)
    monkeypatch.setattr(look, "SHAVED_SHARE", 0.5)
    rng = np.random.default_rng(5)
    looks = [sample_look(rng) for _ in range(200)]
    shaved_looks = [lk for lk in looks if lk.shaved]
    assert all(lk.cropped for lk in looks) and 0.35 < len(shaved_looks) / len(looks) < 0.65
    assert all(look.SHAVED_LENGTH[0] <= lk.hair_length <= look.SHAVED_LENGTH[1] for lk in shaved_looks)
    assert all(visit_look(lk, rng).hair_length <= look.SHAVED_LENGTH[1] for lk in shaved_looks)


def test_glossy_bald_skin_is_a_broad_bright_area_and_still_loss(monkeypatch):
    import alonet.phantom.render.look as look

    scalp, _ = midline_masks(240, 192)
    core = erode(scalp, 8)
    assert not any(lk.skin_gloss for lk in (sample_look(np.random.default_rng(s)) for s in range(200)))
    for seed in range(3):
        matte = dataclasses.replace(dark_haired_look(seed), remnant_hairs=0.0, skin_shine=0.0)
        glossy = dataclasses.replace(matte, skin_gloss=0.8)
        views = [render_view(scalp, scalp, "top", lk, np.random.default_rng(seed), camera=NO_JITTER)
                 for lk in (matte, glossy)]
        assert all(view_loss_percent(v.hairloss, v.scalp, view="top") == 100.0 for v in views)
        lm, lg = (luminance(v.image)[core] for v in views)
        gain, room = lg - lm, lm < 200  # skin already near white cannot get brighter
        # brighter over a broad area (most of the unsaturated bald dome gains 20+ grey levels), not a spot
        assert room.mean() < 0.3 or np.mean(gain[room] > 20) > 0.5, seed
        assert np.percentile(gain, 5) > -8, seed
        assert np.array_equal(views[0].scalp, views[1].scalp)
    # the sampler draws glossy skin only when a script raises the share
    monkeypatch.setattr(look, "GLOSS_SHARE", 0.5)
    rng = np.random.default_rng(6)
    strengths = [lk.skin_gloss for lk in (sample_look(rng) for _ in range(300))]
    assert 0.4 < np.mean([g > 0 for g in strengths]) < 0.6
    assert all(g == 0 or look.GLOSS_STRENGTH[0] <= g <= look.GLOSS_STRENGTH[1] for g in strengths)


def test_front_top_views_show_a_forehead_below_the_region_that_is_not_scalp(monkeypatch):
    """Top views shot from in front (drawn only when a script raises the share): skin with
    brows runs from the region's lower edge to the frame's edge, outside the region; the
    region and the loss mask are those given."""
    import alonet.phantom.render.head as head

    scalp, loss = midline_masks(240, 192)
    lk = dark_haired_look(4)
    rows = np.nonzero(scalp.any(axis=1))[0]
    assert "front" not in layout_head(scalp, "top", lk, np.random.default_rng(1)).extras
    monkeypatch.setattr(head, "FRONT_TOP_SHARE", 1.0)
    lay = layout_head(scalp, "top", lk, np.random.default_rng(1))
    # (the hairline frays a few pixels into the region, as for every forehead)
    assert "front" in lay.extras and (lay.face_mask & scalp).sum() < 0.005 * scalp.sum()
    below = lay.face_mask[rows[-1] + 2:]
    # the forehead reaches the frame's lower edge, wider than the skull is at its bottom
    assert below[-1].any() and (lay.face_mask & ~lay.skull_mask).sum() > 0
    assert rows[-1] < lay.extras["front"]["brow_y"]
    view = render_view(scalp, loss, "top", lk, np.random.default_rng(2), camera=NO_JITTER)
    assert np.array_equal(view.scalp, scalp) and np.array_equal(view.hairloss, loss)


def _renderer_defaults() -> tuple:
    import alonet.phantom.render.hair as hair
    import alonet.phantom.render.look as look

    import alonet.phantom.render.head as head

    import alonet.phantom.render.skin as skin

    return (look.CROPPED_SHARE, look.SHAVED_SHARE, look.GLOSS_SHARE, look.REMNANT_SHARE, hair.REMNANT_MAX_COVER,
            head.FRONT_TOP_SHARE, hair.REMNANT_MIN_LENGTH, skin.DARK_REGROWTH, look.FITZPATRICK_WEIGHTS)


@pytest.mark.parametrize("script, bad_option, bad_value", [
    ("render_shaved.py", "--shaved", "2"),          # training set G
    ("render_diffuse.py", "--max-cover", "1.5"),    # training set D
    ("render_diffuse.py", "--min-length", "0.5"),   # set O, CLEAN=1
    ("render_glossy.py", "--share", "-1"),          # training set H
    ("render_front_top.py", "--share", "1.5"),      # training set I
    ("render_dark_skin.py", "--types", "4,7"),      # set Q
])
def test_dev_render_scripts_write_phantoms_and_leave_the_defaults(tmp_path, script, bad_option, bad_value):
    """Each scripts/dev renderer runs in its own process, writes a phantom folder, refuses an
    out-of-range value with a usage error, and leaves the renderer's defaults alone here."""
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "ph"
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    done = subprocess.run([sys.executable, str(root / "scripts" / "dev" / script), "-o", str(out),
                           "--patients", "1", "--visits", "1", "--size", "96", "--seed", "3"],
                          capture_output=True, text=True, timeout=300, check=False, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(list((out / "photographs").iterdir())) == 4 and (out / "manifest.csv").is_file()
    assert _renderer_defaults() == (0.12, 0.0, 0.0, 0.35, 0.3, 0.0, 0.0, True, (0.08, 0.22, 0.34, 0.20, 0.09, 0.07))
    bad = subprocess.run([sys.executable, str(root / "scripts" / "dev" / script), "-o",
                          str(tmp_path / "x"), bad_option, bad_value], capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode == 2 and bad_option in bad.stderr
