"""The bundled default model: present, small, loads offline, and finds hair loss on phantoms."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from alonet.cli.main import main
from alonet.model import default_model_dir, load_model_set


def test_bundled_model_is_complete_small_and_calibrated():
    folder = default_model_dir()
    assert (folder / "MODEL_CARD.md").is_file()
    sizes = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    assert sizes < 30 * 2**20  # the budget for the three networks
    models = load_model_set("default")
    assert set(models) == {"scalp-temporal", "scalp-midline", "hairloss"}
    for _, cfg in models.values():
        assert cfg.class_weights == (1.0, 5.0)  # confidences are calibrated for the training weights


def test_demo_with_the_bundled_model_is_near_the_truth(tmp_path, capsys):
    code = main(["demo", "-o", str(tmp_path / "demo"), "--size", "320"])
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    match = re.fullmatch(r"SALT predicted ([\d.]+) true ([\d.]+)", last)
    assert match, last
    predicted, true = map(float, match.groups())
    # One fixed procedural phantom patient (seed 7, SALT about 36). The previous default
    # (U-Net, trained with procedural phantoms) gave 36.9 vs 36.3 at this size; the
    # EfficientNet default of 2026-12-03 (never trained on procedural phantoms) gives
    # 31.9 and, with the renderer and temporal network of 2026-12-03 (second look), 35.5
    # (29.2 at the demo's 640 px); the diffuse-loss fine-tune of the sixth session 35.8 (30.2);
    # the real-back midline fine-tune of 2026-12-05 36.6 (30.8); the real-side temporal
    # fine-tune of 2026-12-06 36.5 (30.8): at 640 px it reads much of
    # the top view's patch of scattered hairs over bare skin as hair-bearing (MODEL_CARD.md,
    # "Limits"). An untrained or broken model is far off
    # (random weights give about 0 or 100 % per view); the test split's figures are in
    # the model card.
    assert true > 20
    assert abs(predicted - true) <= 6
    assert np.isfinite(predicted)


def test_loss_measured_at_network_size_matches_the_full_size_masks():
    # The pipeline measures % hair loss on the masks at network size (no full-size
    # work unless the maps are read). On the bundled model's smooth masks that is
    # the % of the enlarged masks to 0.1 points, here on 1200-px phantom photographs.
    from alonet.infer import Pipeline
    from alonet.phantom.generate import render_patient
    from alonet.scoring.salt import view_loss_percent

    pipeline = Pipeline("default")
    worst = 0.0
    for patient in range(3):
        visit = render_patient(seed=11, patient=patient, size=1200)[0]
        for view, truth in visit.views.items():
            result = pipeline.predict_view(truth.image, view)
            if result.loss_pct is None:
                continue
            assert max(result.image.shape) == 1200
            full = view_loss_percent(result.hairloss_mask, result.scalp_mask)
            worst = max(worst, abs(result.loss_pct - full))
    assert worst <= 0.1, worst


def test_candidate_models_are_complete_sets_with_their_metrics():
    root = Path(__file__).resolve().parents[1] / "candidates"
    folders = [p for p in sorted(root.iterdir()) if p.is_dir()]
    assert 1 <= len(folders) <= 3  # the issue allows up to three
    for folder in folders:
        assert "SALT MAE" in (folder / "README.md").read_text(encoding="utf-8")
        models = load_model_set(str(folder))
        assert set(models) == {"scalp-temporal", "scalp-midline", "hairloss"}
        assert sum(p.stat().st_size for p in folder.glob("*.safetensors")) < 30 * 2**20
