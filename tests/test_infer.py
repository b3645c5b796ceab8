"""Tests of the inference pipeline with tiny, randomly initialised real networks."""

from __future__ import annotations

import io
import pickle
import threading

import numpy as np
import pytest
from PIL import Image

from alonet.errors import InvalidValueError, MissingViewError, ModelError
from alonet.infer import Pipeline, PipelineConfig, ViewResult, VisitResult
from alonet.infer.viewmaps import MAP_NAMES, MASK_NAMES
from alonet.model.config import TASKS
from alonet.scoring.salt import salt_from_masks
from alonet.views import VIEWS


def make_model_set(folder, *, scalp_bias: float = 3.0, hairloss_bias: float = 0.0, seed: int = 0,
                   input_size: int = 64):
    """Save a tiny real model set (width 4, depth 2) whose head biases push the scalp
    network towards 'scalp' (so a scalp is found) and leave hair loss undecided."""
    import torch

    from alonet.model import ModelConfig, build_model, save_model

    torch.manual_seed(seed)
    for task in TASKS:
        cfg = ModelConfig(task=task, base_width=4, depth=2, input_size=input_size)
        model = build_model(cfg)
        with torch.no_grad():
            bias = scalp_bias if task.startswith("scalp") else hairloss_bias
            model.head.bias.copy_(torch.tensor([0.0, bias]))
        save_model(model, cfg, folder / task)
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_model_set(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def pipeline(model_dir):
    return Pipeline(model_dir, backend="torch")


def photo(seed: int, height: int = 333, width: int = 517) -> np.ndarray:
    """A smooth random colour picture (textured enough to be 'sharp')."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR))
    noise = rng.integers(-40, 41, big.shape)
    return np.clip(big.astype(int) + noise, 0, 255).astype(np.uint8)


def test_masks_and_maps_have_the_input_size(pipeline):
    image = photo(1, 333, 517)
    result = pipeline.predict_view(image, "top")
    assert isinstance(result, ViewResult)
    for array in (result.scalp_prob, result.hairloss_prob):
        assert array.shape == (333, 517) and array.dtype == np.float32
        assert 0.0 <= array.min() and array.max() <= 1.0
    for array in (result.scalp_mask, result.hairloss_mask):
        assert array.shape == (333, 517) and array.dtype == bool
    assert result.size == (517, 333)
    assert result.image.shape == (333, 517, 3)
    assert result.scalp_mask.sum() > 0.5 * 333 * 517  # the biased scalp network finds scalp
    assert not np.any(result.hairloss_mask & ~result.scalp_mask)
    # The % is measured on the masks at network size (the toy network's speckled
    # hair loss is where enlarging changes the area most; real masks agree to 0.1).
    small_scalp, small_loss = result.maps.small["scalp_mask"], result.maps.small["hairloss_mask"]
    assert small_scalp.shape == (64, 64)  # the hair-loss network's input size
    expected = 100.0 * small_loss.sum() / small_scalp.sum()
    assert result.loss_pct == pytest.approx(expected, abs=1e-12)


def test_full_size_maps_are_made_only_when_read(pipeline):
    result = pipeline.predict_view(photo(5, 640, 480), "back")
    assert result.loss_pct is not None
    assert not any(result.maps.is_enlarged(n) for n in MAP_NAMES)
    mask = result.scalp_mask
    assert result.maps.is_enlarged("scalp_mask") and not result.maps.is_enlarged("scalp_prob")
    assert result.scalp_mask is mask  # made once, then kept
    assert mask.shape == (640, 480)


def test_view_maps_count_the_enlargements_they_will_make(pipeline):
    maps = pipeline.predict_view(photo(7, 640, 480), "top").maps
    small = sum(a.nbytes for a in maps.small.values())  # 64 x 64: two float32 maps, two masks
    assert maps.nbytes() == small == 64 * 64 * (4 + 4 + 1 + 1)
    assert maps.nbytes(enlarge=MASK_NAMES) == small + 2 * 640 * 480
    assert maps.nbytes(enlarge=("scalp_prob",)) == small + 4 * 640 * 480
    maps.full("scalp_mask")
    assert maps.nbytes() == small + 640 * 480  # made now, counted once
    assert maps.nbytes(enlarge=MASK_NAMES) == small + 2 * 640 * 480


def test_view_maps_count_their_enlargements_by_the_type_full_makes():
    from alonet.infer.viewmaps import ViewMaps

    small = {"scalp_prob": np.zeros((8, 8)), "hairloss_prob": np.zeros((8, 8)),  # float64, int64
             "scalp_mask": np.ones((8, 8), np.int64), "hairloss_mask": np.zeros((8, 8), np.uint8)}
    maps = ViewMaps(small=small, width=40, height=30)
    expected = maps.nbytes(enlarge=MAP_NAMES)
    assert expected == maps.nbytes() + 40 * 30 * (4 + 4 + 1 + 1)
    for name in MAP_NAMES:
        maps.full(name)
    assert maps.nbytes() == expected


def test_masks_drawn_by_a_person_keep_no_probability_copies(pipeline):
    """Before: a corrected view held float32 copies of its masks as probability maps (8 bytes a
    pixel) besides the masks: a 12-megapixel visit with every view corrected counted 819 MB in
    the web app's cache."""
    image = photo(8, 600, 400)
    scalp = np.zeros((600, 400), bool)
    scalp[100:500, 50:350] = True
    loss = scalp & (np.arange(400)[None, :] < 200)
    result = pipeline.result_from_masks(image, "top", scalp, loss, corrected=True)
    assert result.maps.nbytes() == 2 * 600 * 400  # the two masks, once each
    assert result.maps.nbytes(enlarge=MASK_NAMES) == 4 * 600 * 400
    prob = result.scalp_prob
    assert prob.dtype == np.float32 and np.array_equal(prob, scalp.astype(np.float32))
    assert np.array_equal(result.hairloss_prob, loss.astype(np.float32)) and result.loss_pct == 50.0
    assert pickle.loads(pickle.dumps(result.maps)).nbytes() == 2 * 600 * 400


def test_view_maps_pickle_without_their_enlargements(pipeline):
    result = pipeline.predict_view(photo(6, 300, 400), "right")
    full = result.hairloss_mask.copy()
    again = pickle.loads(pickle.dumps(result.maps))
    assert not again.is_enlarged("hairloss_mask") and again.mirrored
    assert np.array_equal(again.full("hairloss_mask"), full)


def test_right_view_equals_mirrored_left_view(pipeline):
    image = photo(2, 201, 299)
    right = pipeline.predict_view(image, "right")
    left = pipeline.predict_view(np.ascontiguousarray(image[:, ::-1]), "left")
    np.testing.assert_array_equal(right.scalp_prob, left.scalp_prob[:, ::-1])
    np.testing.assert_array_equal(right.hairloss_prob, left.hairloss_prob[:, ::-1])
    np.testing.assert_array_equal(right.scalp_mask, left.scalp_mask[:, ::-1])
    np.testing.assert_array_equal(right.hairloss_mask, left.hairloss_mask[:, ::-1])
    assert right.loss_pct == pytest.approx(left.loss_pct, abs=1e-12)
    # and the right view is really processed mirrored: without the mirror it differs
    plain_left = pipeline.predict_view(image, "left")
    assert not np.array_equal(plain_left.scalp_prob, right.scalp_prob)


def test_visit_salt_equals_salt_arithmetic_on_returned_masks(pipeline):
    images = {view: photo(10 + i, 150 + 7 * i, 211 + 5 * i) for i, view in enumerate(VIEWS)}
    visit = pipeline.score_visit(images)
    assert isinstance(visit, VisitResult)
    expected = salt_from_masks({v: (r.maps.small["hairloss_mask"], r.maps.small["scalp_mask"])
                                for v, r in visit.views.items()})
    assert visit.salt == pytest.approx(expected.salt, abs=1e-9)
    assert visit.grade == expected.grade and visit.band == expected.band
    assert 0 < visit.salt < 100
    assert visit.missing == [] and visit.complete
    summary = visit.to_dict()
    assert set(summary["views"]) == set(VIEWS)
    assert summary["salt"] == round(visit.salt, 2)


def test_batched_visit_equals_single_views(pipeline):
    images = {view: photo(20 + i, 120, 160) for i, view in enumerate(VIEWS)}
    visit = pipeline.score_visit(images)
    for view, image in images.items():
        single = pipeline.predict_view(image, view)
        np.testing.assert_allclose(single.hairloss_prob, visit.views[view].hairloss_prob, atol=1e-5)
        assert single.loss_pct == pytest.approx(visit.views[view].loss_pct, abs=0.05)


def test_missing_views(pipeline):
    images = {"top": photo(3, 90, 120), "left": photo(4, 90, 120)}
    with pytest.raises(MissingViewError, match="back, right"):
        pipeline.score_visit(images)
    visit = pipeline.score_visit(images, missing="incomplete")
    assert visit.salt is None and visit.grade is None and visit.band is None
    assert visit.missing == ["back", "right"]
    assert list(visit.views) == ["top", "left"]
    assert any(f["code"] == "incomplete" for f in visit.flags)
    with pytest.raises(InvalidValueError):
        pipeline.score_visit({"top": photo(3, 90, 120)}, missing="zero")
    with pytest.raises(InvalidValueError, match="unknown view"):
        pipeline.predict_view(photo(3, 90, 120), "front")


def test_paths_bytes_and_arrays_give_the_same_result(pipeline, tmp_path):
    image = photo(5, 140, 190)
    path = tmp_path / "view.png"
    Image.fromarray(image).save(path)
    from_array = pipeline.predict_view(image, "back")
    from_path = pipeline.predict_view(path, "back")
    from_bytes = pipeline.predict_view(path.read_bytes(), "back")
    from_file = pipeline.predict_view(io.BytesIO(path.read_bytes()), "back")
    for other in (from_path, from_bytes, from_file):
        np.testing.assert_array_equal(other.hairloss_mask, from_array.hairloss_mask)
    assert from_path.source == str(path)


def test_exif_orientation_is_applied(pipeline, tmp_path):
    image = photo(6, 100, 160)
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.fromarray(image).save(path, exif=exif.tobytes(), quality=95)
    result = pipeline.predict_view(path, "top")
    assert result.image.shape == (160, 100, 3)
    assert result.scalp_mask.shape == (160, 100)


def test_concurrent_calls_give_identical_results(pipeline):
    images = [photo(30 + i, 96, 128) for i in range(4)]
    expected = [pipeline.predict_view(img, "top").hairloss_prob for img in images]
    got: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(3):
                got[i] = pipeline.predict_view(images[i], "top").hairloss_prob
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i in range(4):
        np.testing.assert_allclose(got[i], expected[i], atol=1e-6)


def test_no_scalp_found_means_retake_and_no_salt(tmp_path):
    models = make_model_set(tmp_path / "blind", scalp_bias=-30.0)
    pipe = Pipeline(models, backend="torch")
    result = pipe.predict_view(photo(7, 80, 100), "top")
    assert result.loss_pct is None and result.retake
    assert [f["code"] for f in result.flags][0] == "scalp_not_found"
    visit = pipe.score_visit({v: photo(7 + i, 80, 100) for i, v in enumerate(VIEWS)})
    assert visit.salt is None and visit.retake
    assert any(f["code"] == "withheld" and "top view: no scalp found" in f["message"] for f in visit.flags)


def test_result_from_masks_gives_known_salt(pipeline):
    image = photo(8, 100, 200)
    scalp = np.zeros((100, 200), bool)
    scalp[10:90, 20:180] = True  # 80 x 160 = 12800 pixels
    views = {}
    for view, columns in {"top": 40, "back": 80, "left": 0, "right": 160}.items():
        loss = np.zeros_like(scalp)
        loss[10:90, 20:20 + columns] = True
        loss[0:5, :] = True  # outside the scalp: ignored
        views[view] = pipeline.result_from_masks(image, view, scalp, loss)
    assert views["top"].loss_pct == pytest.approx(25.0)
    assert views["back"].loss_pct == pytest.approx(50.0)
    assert views["left"].loss_pct == 0.0 and views["right"].loss_pct == 100.0
    visit = pipeline.visit_from_views(views)
    assert visit.salt == pytest.approx(0.4 * 25 + 0.24 * 50 + 0.18 * 0 + 0.18 * 100)  # 40.0
    assert visit.grade == "S2" and visit.band == "moderate"
    with pytest.raises(InvalidValueError, match="size"):
        pipeline.result_from_masks(image, "top", scalp[:50], scalp[:50])
    erased = pipeline.result_from_masks(image, "top", np.zeros_like(scalp), np.zeros_like(scalp), corrected=True)
    assert erased.loss_pct is None and [f["code"] for f in erased.flags] == ["scalp_not_found"]
    assert erased.flags[0]["message"].startswith("the scalp mask drawn for this view is empty")


def test_low_confidence_is_flagged_check(pipeline):
    # Untrained hair-loss network: probabilities near 0.5 everywhere -> "check".
    result = pipeline.predict_view(photo(9, 90, 120), "top")
    assert result.confidence < 0.5
    assert "check" in [f["code"] for f in result.flags]
    assert not result.retake


def test_dark_bald_skin_is_flagged_on_predictions_but_not_on_drawn_masks(tmp_path):
    # A model that marks the whole scalp as hair loss, so the marked skin is the photograph.
    pipe = Pipeline(make_model_set(tmp_path / "all-loss", hairloss_bias=30.0), backend="torch")
    base = photo(10, 120, 160).astype(int) // 3                  # 0..85, still textured
    dark = (base + 50).astype(np.uint8)                           # median L* about 39
    light = (base + 150).astype(np.uint8)                         # median L* about 70

    def dark_flags(result):
        return [f for f in result.flags if f["message"].startswith("the bald skin looks dark")]

    on_dark = pipe.predict_view(dark, "top")
    assert on_dark.loss_pct == pytest.approx(100.0)
    (found,) = dark_flags(on_dark)
    assert found["code"] == "dark_skin" and not on_dark.retake
    assert dark_flags(pipe.predict_view(light, "top")) == []
    drawn = pipe.result_from_masks(dark, "top", on_dark.scalp_mask, on_dark.hairloss_mask)
    assert dark_flags(drawn) == []                                # a person's masks: nothing to doubt


def test_model_errors(tmp_path, model_dir):
    with pytest.raises(ModelError, match="not found"):
        Pipeline(tmp_path / "nowhere", backend="torch")
    with pytest.raises(InvalidValueError, match="backend"):
        Pipeline(model_dir, backend="tensorrt")


def test_onnx_backend_matches_torch(model_dir, tmp_path):
    from alonet.infer.export import compare_with_torch, export_onnx
    from alonet.model import load_model

    model, cfg = load_model(model_dir / "hairloss.json")
    path = export_onnx(model, cfg, tmp_path / "hairloss.onnx")
    assert compare_with_torch(model, cfg, path, batch=3) <= 1e-4

    config = PipelineConfig(cache_dir=tmp_path / "cache")
    onnx_pipe = Pipeline(model_dir, backend="onnx", config=config)
    torch_pipe = Pipeline(model_dir, backend="torch")
    assert onnx_pipe.backend_name == "onnx" and torch_pipe.backend_name == "torch"
    image = photo(11, 123, 157)
    a, b = onnx_pipe.predict_view(image, "left"), torch_pipe.predict_view(image, "left")
    np.testing.assert_allclose(a.scalp_prob, b.scalp_prob, atol=1e-4)
    np.testing.assert_allclose(a.hairloss_prob, b.hairloss_prob, atol=1e-4)
    # the cache now holds one export per network and a new pipeline reuses them
    cached = sorted(p.name for p in (tmp_path / "cache").glob("*.onnx"))
    assert len(cached) == 3
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").glob("*.onnx")}
    Pipeline(model_dir, backend="auto", config=config)
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").glob("*.onnx")}


def test_auto_uses_onnx_beside_the_model_and_ignores_stale_exports(model_dir, tmp_path):
    from alonet.infer.export import export_model_set

    exported = export_model_set(model_dir, tmp_path / "set")
    assert sorted(p.name for p in exported.values()) == sorted(f"{t}.onnx" for t in TASKS)
    cache = tmp_path / "cache"
    pipe = Pipeline(tmp_path / "set", backend="auto", config=PipelineConfig(cache_dir=cache))
    assert pipe.backend_name == "onnx"
    assert set(pipe.backend.paths.values()) == set(exported.values())
    assert not cache.exists()  # nothing exported: the files beside the models were used
    # retrain (different weights) -> the old .onnx beside the model is stale and ignored
    make_model_set(tmp_path / "set", seed=1)
    pipe = Pipeline(tmp_path / "set", backend="auto", config=PipelineConfig(cache_dir=cache))
    assert all(p.parent == cache for p in pipe.backend.paths.values())


def phantom_visit(folder, seed: int = 0, out_size: int = 200, loss_radius: int = 40) -> dict:
    """Render one phantom visit (four JPEG photographs) with the project's renderer.

    Returns ``{view: path}``; the true masks are saved beside them as
    ``<view>_true_scalp.png`` / ``<view>_true_hairloss.png``.
    """
    import cv2

    from alonet.phantom.render import render_view, sample_look

    rng = np.random.default_rng(seed)
    look = sample_look(rng)
    scalp = np.zeros((240, 320), np.uint8)
    cv2.ellipse(scalp, (160, 130), (120, 90), 0, 0, 360, 1, -1)
    loss = np.zeros_like(scalp)
    cv2.circle(loss, (140, 120), loss_radius, 1, -1)
    paths = {}
    folder.mkdir(parents=True, exist_ok=True)
    for view in VIEWS:
        rendered = render_view(scalp.astype(bool), (loss & scalp).astype(bool), view, look, rng,
                               out_size=out_size)
        path = folder / f"{view}.jpg"
        Image.fromarray(rendered.image).save(path, quality=92)
        Image.fromarray(rendered.scalp.astype(np.uint8) * 255).save(folder / f"{view}_true_scalp.png")
        Image.fromarray(rendered.hairloss.astype(np.uint8) * 255).save(folder / f"{view}_true_hairloss.png")
        paths[view] = path
    return paths
