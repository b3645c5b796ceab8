"""Networks: architecture, input checks, save/load, model sets, ONNX export."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from alonet.errors import InvalidValueError, ModelError
from alonet.model import (
    FILL_COLOR,
    TASKS,
    ModelConfig,
    build_model,
    count_parameters,
    load_model,
    load_model_set,
    normalize_images,
    paint_outside_scalp,
    probabilities,
    read_model_info,
    resolve_model_set,
    save_model,
)


def tiny(task="hairloss", **kw) -> ModelConfig:
    return ModelConfig(**{"task": task, "base_width": 4, "depth": 2, "input_size": 32, **kw})


def test_study_network_has_the_published_channel_plan():
    cfg = ModelConfig()
    assert cfg.widths == (64, 128, 256, 512, 1024)
    assert (cfg.input_size, cfg.dropout, cfg.bilinear, cfg.num_classes) == (320, 0.25, True, 2)
    net = build_model(cfg)
    # 4 encoder blocks after the stem, 4 decoder blocks, 1x1 head with 2 classes.
    assert len(net.down) == 4 and len(net.up) == 4
    assert net.head.kernel_size == (1, 1) and net.head.out_channels == 2
    assert net.down[-1][3].out_channels == 1024
    assert count_parameters(net) == 31_384_898


def test_output_shape_and_probabilities():
    torch.manual_seed(0)
    net = build_model(tiny()).eval()
    with torch.no_grad():
        logits = net(torch.randn(3, 3, 32, 48))
    assert logits.shape == (3, 2, 32, 48)
    p = probabilities(logits)
    assert p.shape == (3, 32, 48)
    assert float(p.min()) >= 0.0 and float(p.max()) <= 1.0
    expected = torch.sigmoid(logits[:, 1] - logits[:, 0])
    assert torch.allclose(p, expected, atol=1e-6)


def test_transposed_convolution_variant_runs(tmp_path):
    """bilinear=False builds (and runs, and saves as) the ConvTranspose2d up path; True has none."""
    transposed, bilinear = build_model(tiny(bilinear=False)).eval(), build_model(tiny(bilinear=True)).eval()
    ups = [m for m in transposed.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(ups) == 2  # one per up step (depth 2)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in bilinear.modules())
    assert count_parameters(transposed) != count_parameters(bilinear)
    calls = []
    for up in ups:
        up.register_forward_hook(lambda module, inputs, output: calls.append(tuple(output.shape)))
    assert transposed(torch.zeros(1, 3, 16, 16)).shape == (1, 2, 16, 16)
    assert sorted(calls) == [(1, 4, 16, 16), (1, 8, 8, 8)]  # the forward pass goes through them
    save_model(transposed, tiny(bilinear=False), tmp_path / "net")
    loaded, cfg = load_model(tmp_path / "net")
    assert cfg.bilinear is False and any(isinstance(m, torch.nn.ConvTranspose2d) for m in loaded.modules())
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(loaded(x), transposed(x))


def test_wrong_input_size_says_how_to_fix():
    net = build_model(ModelConfig(base_width=4, depth=4, input_size=64)).eval()
    with pytest.raises(InvalidValueError) as err:
        net(torch.zeros(1, 3, 300, 300))
    assert "divisible by 2**depth=16" in str(err.value)
    assert "got 300x300, pad or resize to 304x304" in str(err.value)
    with pytest.raises(InvalidValueError, match="3 channels; got 1"):
        net(torch.zeros(1, 1, 64, 64))
    with pytest.raises(InvalidValueError, match="4-D"):
        net(torch.zeros(3, 64, 64))


def test_config_round_trip_and_validation():
    cfg = tiny("scalp-midline", dropout=0.1)
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data["format"] == "alonet-model-config" and data["version"] == 1
    assert ModelConfig.from_dict(data) == cfg
    with pytest.raises(ModelError, match="newer"):
        ModelConfig.from_dict({**data, "version": 99})
    with pytest.raises(ModelError, match="unknown model configuration fields: colour"):
        ModelConfig.from_dict({**data, "colour": 1})
    with pytest.raises(ModelError, match="unknown model task"):
        ModelConfig(task="beard")
    with pytest.raises(ModelError, match="multiple of 2\\*\\*depth=4"):
        ModelConfig(base_width=4, depth=2, input_size=30)
    assert TASKS == ("scalp-temporal", "scalp-midline", "hairloss")


def test_save_load_reproduces_outputs_exactly(tmp_path):
    torch.manual_seed(1)
    cfg = tiny("scalp-temporal")
    net = build_model(cfg)
    # Train-mode step so BatchNorm running statistics are not the defaults.
    net(torch.randn(4, 3, 32, 32))
    net.eval()
    x = torch.randn(2, 3, 32, 32)
    json_path = save_model(net, cfg, tmp_path / "m", metadata={"epoch": 3})
    assert json_path == tmp_path / "m.json" and (tmp_path / "m.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]  # no temp left
    for spec in (tmp_path / "m", tmp_path / "m.json", tmp_path / "m.safetensors"):
        loaded, loaded_cfg = load_model(spec)
        assert loaded_cfg == cfg and not loaded.training
        assert torch.equal(loaded(x), net(x))
    assert read_model_info(tmp_path / "m")["metadata"] == {"epoch": 3}


def test_half_precision_storage_is_smaller_and_close(tmp_path):
    torch.manual_seed(2)
    cfg = ModelConfig(task="hairloss", base_width=8, depth=2, input_size=32)
    net = build_model(cfg).eval()
    save_model(net, cfg, tmp_path / "full")
    save_model(net, cfg, tmp_path / "half", half=True)
    full_size = (tmp_path / "full.safetensors").stat().st_size
    half_size = (tmp_path / "half.safetensors").stat().st_size
    assert half_size < 0.6 * full_size
    loaded, _ = load_model(tmp_path / "half")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.randn(1, 3, 32, 32)
    assert torch.allclose(probabilities(loaded(x)), probabilities(net(x)), atol=5e-3)
    assert read_model_info(tmp_path / "half")["dtype"] == "float16"


def test_missing_corrupt_and_mismatched_files_raise_model_error(tmp_path):
    cfg = tiny()
    net = build_model(cfg)
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "nothing.json")
    save_model(net, cfg, tmp_path / "a")
    save_model(build_model(tiny(base_width=6)), tiny(base_width=6), tmp_path / "b")
    # weights of one model next to the description of another
    (tmp_path / "a.safetensors").write_bytes((tmp_path / "b.safetensors").read_bytes())
    with pytest.raises(ModelError, match="does not match a.json"):
        load_model(tmp_path / "a")
    # description without checksum: the shapes are checked instead
    info = json.loads((tmp_path / "a.json").read_text())
    del info["weights_sha256"]
    (tmp_path / "a.json").write_text(json.dumps(info))
    with pytest.raises(ModelError, match="do not fit the configuration"):
        load_model(tmp_path / "a")
    (tmp_path / "a.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="corrupt"):
        load_model(tmp_path / "a")
    (tmp_path / "a.json").write_text("{ not json")
    with pytest.raises(ModelError, match="corrupt"):
        load_model(tmp_path / "a")
    (tmp_path / "b.safetensors").unlink()
    with pytest.raises(ModelError, match="weights file .*b.safetensors not found"):
        load_model(tmp_path / "b.json")


def test_resolve_model_set_folder_run_dir_and_default(tmp_path, monkeypatch):
    model_set = tmp_path / "set"
    run_dir = tmp_path / "run"
    for task in TASKS:
        cfg = tiny(task)
        save_model(build_model(cfg), cfg, model_set / task)
        save_model(build_model(cfg), cfg, run_dir / task / "best")
    assert resolve_model_set(model_set) == {t: model_set / f"{t}.json" for t in TASKS}
    assert resolve_model_set(run_dir) == {t: run_dir / t / "best.json" for t in TASKS}
    loaded = load_model_set(run_dir)
    assert set(loaded) == set(TASKS) and loaded["scalp-midline"][1].task == "scalp-midline"

    (run_dir / "hairloss" / "best.json").unlink()
    with pytest.raises(ModelError, match="no model for hairloss"):
        resolve_model_set(run_dir)
    assert set(resolve_model_set(run_dir, tasks=["scalp-temporal"])) == {"scalp-temporal"}
    with pytest.raises(ModelError, match="model folder .* not found"):
        resolve_model_set(tmp_path / "absent")

    import alonet.model.io as model_io

    monkeypatch.setattr(model_io, "default_model_dir", lambda: tmp_path / "empty")
    with pytest.raises(ModelError, match="the bundled model is missing"):
        resolve_model_set("default")
    monkeypatch.setattr(model_io, "default_model_dir", lambda: model_set)
    assert resolve_model_set("default")["hairloss"] == model_set / "hairloss.json"


def test_preprocessing_paints_and_normalises():
    cfg = tiny()
    img = np.full((4, 4, 3), 100, np.uint8)
    scalp = np.zeros((4, 4), bool)
    scalp[1:3, 1:3] = True
    painted = paint_outside_scalp(img, scalp)
    assert tuple(painted[0, 0]) == FILL_COLOR == (0, 255, 255)
    assert tuple(painted[1, 1]) == (100, 100, 100)
    assert tuple(img[0, 0]) == (100, 100, 100)  # input untouched
    x = normalize_images(img, cfg)
    assert x.shape == (1, 3, 4, 4) and x.dtype == np.float32
    assert np.allclose(x[0, :, 0, 0], (100 / 255 - np.array(cfg.mean)) / np.array(cfg.std), atol=1e-6)
    with pytest.raises(InvalidValueError):
        paint_outside_scalp(img, scalp[:3])


def test_onnx_export_matches_torch(tmp_path):
    import onnxruntime

    torch.manual_seed(3)
    net = build_model(tiny()).eval()
    x = torch.randn(2, 3, 32, 32)
    torch.onnx.export(net, (x,), str(tmp_path / "m.onnx"), input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "n"}}, dynamo=False)
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    y = session.run(None, {"image": x.numpy()})[0]
    assert np.abs(y - net(x).detach().numpy()).max() < 1e-4


def test_importing_alonet_model_does_not_import_torch():
    code = "import sys, alonet.model; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_probabilities_divide_out_the_training_class_weights():
    from alonet.model.unet import probabilities

    cfg = ModelConfig(task="hairloss", class_weights=(1.0, 5.0))
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    logits = torch.zeros(1, 2, 2, 2)
    logits[0, 1, 0, 0] = float(np.log(5.0))  # weighted softmax 5/6, calibrated: even odds
    p = probabilities(logits, cfg)
    assert p[0, 0, 0].item() == pytest.approx(0.5, abs=1e-6)
    assert p[0, 1, 1].item() == pytest.approx(1 / 6, abs=1e-6)  # equal logits: 1/(1+5)
    # unweighted models (and no config) keep the plain softmax
    assert probabilities(logits)[0, 1, 1].item() == pytest.approx(0.5)
    assert probabilities(logits, ModelConfig(task="hairloss"))[0, 0, 0].item() == pytest.approx(5 / 6, abs=1e-6)
    with pytest.raises(ModelError):
        ModelConfig(task="hairloss", class_weights=(1.0, 0.0))
