"""The pretrained encoder: ImageNet weights load correctly; the encoder U-Net saves, loads, exports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from alonet.errors import ModelError
from alonet.model import ModelConfig, build_model, load_model, save_model

#: ImageNet class index of "military uniform", the classic top-1 label of the Grace Hopper portrait.
MILITARY_UNIFORM = 652


def imagenet_input(image: Image.Image, size: int = 224) -> torch.Tensor:
    x = np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC), np.float32) / 255
    x = (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    return torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32))


def test_imagenet_weights_classify_a_real_photograph_as_imagenet_does():
    import matplotlib.cbook

    from alonet.model.efficientnet import EfficientNetLite0Classifier, load_imagenet_classifier

    portrait = Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    x = imagenet_input(portrait)
    with torch.no_grad():
        probs = torch.softmax(load_imagenet_classifier()(x), dim=1)[0]
        torch.manual_seed(0)
        random_probs = torch.softmax(EfficientNetLite0Classifier().eval()(x), dim=1)[0]
    assert int(probs.argmax()) == MILITARY_UNIFORM
    assert float(probs[MILITARY_UNIFORM]) > 0.3
    assert float(random_probs.max()) < 0.05  # untrained: no opinion


def test_pretrained_encoder_unet_has_imagenet_encoder_weights_and_right_output():
    from alonet.model.efficientnet import imagenet_state_dict

    cfg = ModelConfig(encoder="efficientnet-lite0", depth=4, base_width=8, input_size=64)
    model = build_model(cfg, pretrained=True).eval()
    source = imagenet_state_dict()
    assert torch.equal(model.encoder._blocks[10]._project_conv.weight, source["_blocks.10._project_conv.weight"])
    assert len(model.encoder._blocks) == 11  # depth 4 stops at stride 16 (block 10)
    with torch.no_grad():
        out = model(torch.zeros(2, 3, 64, 64))
    assert out.shape == (2, 2, 64, 64)
    with pytest.raises(Exception, match="divisible by 2\\*\\*depth=16"):
        model(torch.zeros(1, 3, 40, 40))


def test_encoder_config_is_validated():
    with pytest.raises(ModelError, match="unknown encoder"):
        ModelConfig(encoder="resnet50")
    with pytest.raises(ModelError, match="between 1 and 5"):
        ModelConfig(encoder="efficientnet-lite0", depth=6)
    cfg = ModelConfig(encoder="efficientnet-lite0", depth=3, input_size=64)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_saved_encoder_model_is_self_contained(tmp_path, monkeypatch):
    cfg = ModelConfig(encoder="efficientnet-lite0", depth=3, base_width=4, input_size=32, task="scalp-midline")
    torch.manual_seed(1)
    model = build_model(cfg).eval()
    save_model(model, cfg, tmp_path / "m")
    # Loading must not need the ImageNet weights package.
    import alonet.model.efficientnet as eff

    monkeypatch.setattr(eff, "imagenet_state_dict", lambda: (_ for _ in ()).throw(AssertionError("used")))
    loaded, loaded_cfg = load_model(tmp_path / "m")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=1e-6)
    assert loaded_cfg.encoder == "efficientnet-lite0"


def test_encoder_model_exports_to_onnx_with_the_same_output(tmp_path):
    pytest.importorskip("onnxruntime")
    from alonet.infer.backends import create_backend

    torch.manual_seed(2)
    for task in ("scalp-temporal", "scalp-midline", "hairloss"):
        cfg = ModelConfig(encoder="efficientnet-lite0", depth=3, base_width=4, input_size=32, task=task)
        save_model(build_model(cfg).eval(), cfg, tmp_path / "set" / task)
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    torch_probs = create_backend(tmp_path / "set", "torch").predict("hairloss", images)
    onnx_probs = create_backend(tmp_path / "set", "onnx", cache_dir=tmp_path / "cache").predict("hairloss", images)
    assert np.abs(torch_probs - onnx_probs).max() < 1e-4


def test_same_padding_matches_tensorflow_for_every_stride_and_parity():
    """Stride-1 layers pad inside the convolution; the result is TF "SAME" (pad, then convolve)."""
    import torch.nn.functional as F

    from alonet.model.efficientnet import SameConv2d

    torch.manual_seed(0)
    for kernel, stride in ((3, 1), (5, 1), (1, 1), (3, 2), (5, 2)):
        conv = SameConv2d(4, 4, kernel, stride, groups=4).eval()
        assert conv.static_padding == (stride == 1)
        for side in (15, 16):
            x = torch.randn(1, 4, side, side)
            total = max((-(-side // stride) - 1) * stride + kernel - side, 0)
            padded = F.pad(x, [total // 2, total - total // 2] * 2)
            want = F.conv2d(padded, conv.weight, None, stride, 0, 1, 4)
            got = conv(x)
            assert got.shape[-1] == -(-side // stride)
            assert torch.allclose(got, want, atol=1e-6)


def test_two_class_probability_is_the_weighted_softmax():
    from alonet.model.unet import probabilities

    cfg = ModelConfig(task="hairloss", class_weights=(1.0, 5.0))
    logits = torch.randn(2, 2, 8, 8) * 4
    weighted = torch.softmax(logits - torch.log(torch.tensor([1.0, 5.0])).view(1, 2, 1, 1), dim=1)[:, 1]
    assert torch.allclose(probabilities(logits, cfg), weighted, atol=1e-6)
    assert torch.allclose(probabilities(logits), torch.softmax(logits, dim=1)[:, 1], atol=1e-6)
