"""The faster exported graph: decoder steps without concatenation (``export_form``) and
stride-2 padding inside the convolutions (``onnx_passes.fold_pads``). Both must give the
trained network's outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from alonet.infer.export import export_onnx
from alonet.infer.export_form import SplitUp, export_form
from alonet.infer.onnx_passes import constant_value, drop_unused_nodes, fold_pads
from alonet.model import ModelConfig, build_model
from alonet.model.blocks import Up


def _with_running_stats(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Batch normalisation with statistics that are not the identity, as after training."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator) * 0.5)
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=generator) * 0.2)
    return model.eval()


@pytest.mark.parametrize("bilinear", [True, False])
def test_split_up_step_equals_the_trained_step(bilinear):
    torch.manual_seed(0)
    step = _with_running_stats(torch.nn.Sequential(Up(24, 3, 16, dropout=0.25, bilinear=bilinear)))[0]
    x, skip = torch.randn(2, 24, 8, 8), torch.randn(2, 3, 16, 16)
    split = SplitUp(step)
    with torch.no_grad():
        want, got = step(x, skip), split(x, skip)
    assert got.shape == want.shape == (2, 16, 16, 16)
    assert torch.allclose(got, want, atol=1e-5)
    assert split.skip_conv.in_channels == 3  # the photograph's channels, read apart
    assert split.up_conv.in_channels == (24 if bilinear else 12)


@pytest.mark.parametrize("encoder", ["unet", "efficientnet-lite0"])
def test_export_form_of_both_network_families_keeps_their_outputs(encoder):
    cfg = ModelConfig(task="hairloss", base_width=8, depth=3, input_size=64, encoder=encoder)
    torch.manual_seed(1)
    model = _with_running_stats(build_model(cfg))
    form = export_form(model)
    assert sum(isinstance(m, SplitUp) for m in form.modules()) == cfg.depth
    assert not any(isinstance(m, SplitUp) for m in model.modules())  # the trained network is untouched
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(form(x), model(x), atol=1e-5)


def _session(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def test_rearranged_export_has_no_pads_or_concatenations_and_the_same_probabilities(tmp_path):
    import onnx

    cfg = ModelConfig(task="hairloss", base_width=8, depth=4, input_size=64, encoder="efficientnet-lite0")
    torch.manual_seed(2)
    model = _with_running_stats(build_model(cfg))
    plain = export_onnx(model, cfg, tmp_path / "plain.onnx", rearrange=False)
    fast = export_onnx(model, cfg, tmp_path / "fast.onnx")  # checked against torch (1e-4) on the way
    ops = {path: [n.op_type for n in onnx.load(str(path)).graph.node] for path in (plain, fast)}
    assert ops[plain].count("Pad") == 4 and ops[plain].count("Concat") >= 4  # stride-2 pads, skip joins
    assert "Pad" not in ops[fast] and "Concat" not in ops[fast]
    x = np.random.default_rng(0).standard_normal((3, 3, 64, 64)).astype(np.float32)
    a, b = (_session(p).run(None, {"image": x})[0] for p in (plain, fast))
    assert a.shape == b.shape == (3, 64, 64)
    assert np.max(np.abs(a - b)) < 1e-5


# --------------------------------------------------------------------------- fold_pads on small graphs


def _pad_conv_model(pads, value=None, reader="Conv", pads_from_input=False):
    """image (1, 2, 6, 7) -> Pad(pads, value) -> reader (a 3x3 Conv with pads 1 or a Relu)."""
    weight = numpy_helper.from_array(np.random.default_rng(3).standard_normal((4, 2, 3, 3)).astype(np.float32), "w")
    inits = [weight]
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 2, 6, 7])]
    pad_inputs = ["image", "pads"]
    nodes = []
    if pads_from_input:
        inputs.append(helper.make_tensor_value_info("pads", TensorProto.INT64, [8]))
    else:  # the pads made by a Constant node and an Identity, as torch's exporter makes them
        nodes += [helper.make_node("Constant", [], ["pads_raw"],
                                   value=numpy_helper.from_array(np.array(pads, np.int64))),
                  helper.make_node("Identity", ["pads_raw"], ["pads"])]
    if value is not None:
        inits.append(numpy_helper.from_array(np.array(value, np.float32), "value"))
        pad_inputs.append("value")
    nodes.append(helper.make_node("Pad", pad_inputs, ["padded"], mode="constant"))
    if reader == "Conv":
        nodes.append(helper.make_node("Conv", ["padded", "w"], ["out"], pads=[1, 1, 1, 1]))
        out_channels = 4
    else:
        nodes.append(helper.make_node("Relu", ["padded"], ["out"]))
        out_channels = 2
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("out", TensorProto.FLOAT,
                                                                                 [1, out_channels, None, None])],
                              initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model, tmp_path, name, feeds):
    import onnx

    path = tmp_path / name
    onnx.save(model, str(path))
    return _session(path).run(None, feeds)[0]


def test_fold_pads_moves_an_asymmetric_zero_pad_into_the_convolution(tmp_path):
    image = np.random.default_rng(4).standard_normal((1, 2, 6, 7)).astype(np.float32)
    model = _pad_conv_model([0, 0, 0, 1, 0, 0, 2, 3])  # left 1, bottom 2, right 3
    before = _run(model, tmp_path, "before.onnx", {"image": image})
    assert fold_pads(model) == 1
    ops = [n.op_type for n in model.graph.node]
    assert ops == ["Conv"]  # the Pad and its constant arithmetic are gone
    conv = model.graph.node[0]
    assert list(next(a.ints for a in conv.attribute if a.name == "pads")) == [1, 2, 3, 4]
    after = _run(model, tmp_path, "after.onnx", {"image": image})
    assert after.shape == before.shape == (1, 4, 8, 11)
    assert np.allclose(after, before, atol=1e-6)


@pytest.mark.parametrize("case", ["non-zero value", "not a convolution", "pads from an input", "channel padding"])
def test_fold_pads_leaves_pads_it_cannot_fold(case, tmp_path):
    pads = [0, 1, 0, 1, 0, 0, 1, 1] if case == "channel padding" else [0, 0, 0, 1, 0, 0, 1, 1]
    model = _pad_conv_model(pads, value=0.5 if case == "non-zero value" else None,
                            reader="Relu" if case == "not a convolution" else "Conv",
                            pads_from_input=case == "pads from an input")
    assert fold_pads(model) == 0
    assert "Pad" in [n.op_type for n in model.graph.node]


def test_constant_value_evaluates_constant_subgraphs_only():
    model = _pad_conv_model([0, 0, 0, 1, 0, 0, 2, 3])
    assert constant_value(model, "pads").tolist() == [0, 0, 0, 1, 0, 0, 2, 3]
    assert constant_value(model, "w").shape == (4, 2, 3, 3)  # an initializer
    assert constant_value(model, "padded") is None  # depends on the image


def test_drop_unused_nodes_keeps_what_the_outputs_need():
    model = _pad_conv_model([0, 0, 0, 1, 0, 0, 2, 3])
    model.graph.node.append(helper.make_node("Relu", ["image"], ["unused"]))
    assert drop_unused_nodes(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Constant", "Identity", "Pad", "Conv"]
    assert [i.name for i in model.graph.initializer] == ["w"]


def test_files_exported_with_an_older_graph_layout_are_not_used(tmp_path, monkeypatch):
    # ONNX files beside a model set that an older AloNet wrote (graph version 2: the
    # layout as trained) must not be taken for current ones: the pipeline exports the
    # current layout into its cache instead, and `alonet export --into` replaces them.
    from test_infer import make_model_set

    from alonet.infer import onnx_runtime
    from alonet.infer.export import export_model_set
    from alonet.model import resolve_model_set

    make_model_set(tmp_path)
    paths = resolve_model_set(tmp_path)
    monkeypatch.setattr(onnx_runtime, "GRAPH_VERSION", 2)
    export_model_set(tmp_path, progress=False)
    assert onnx_runtime.find_exports(paths, None) is not None  # current for the AloNet that wrote them
    monkeypatch.setattr(onnx_runtime, "GRAPH_VERSION", 3)
    assert onnx_runtime.find_exports(paths, None) is None  # stale now
    export_model_set(tmp_path, progress=False)
    assert onnx_runtime.find_exports(paths, None) is not None
