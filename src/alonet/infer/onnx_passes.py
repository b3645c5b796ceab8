"""Rewrites of an exported ONNX graph that keep its function and save work at run time.

``fold_pads`` moves each zero ``Pad`` that only feeds convolutions into those
convolutions' own ``pads`` attribute, which may differ per side (ONNX allows
it; PyTorch's ``Conv2d`` does not, so the EfficientNet encoder's stride-2
"SAME" padding is exported as a separate ``Pad``). A ``Pad`` node copies its
whole input into a larger tensor and, in ONNX Runtime, forces the blocked
channel layout back to the plain one and again after it; inside the
convolution the padding costs nothing.
"""

from __future__ import annotations

import numpy as np

def fold_pads(proto) -> int:
    """Fold zero ``Pad`` nodes into the ``Conv`` nodes that read them, in place.

    A Pad is folded when its pads are constant (an initializer or a constant
    subgraph), it pads only the spatial axes of an (N, C, H, W) tensor with
    zeros, and every node that reads it is a ``Conv`` without ``auto_pad``.
    Nodes left without a use afterwards (the pads' arithmetic) are removed.
    Returns the number of Pad nodes folded.
    """
    graph = proto.graph
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    outputs = {out.name for out in graph.output}
    folded = []
    for node in graph.node:
        if node.op_type != "Pad" or node.output[0] in outputs:
            continue
        users = readers.get(node.output[0], [])
        if not users or not all(_plain_conv(user) for user in users):
            continue
        spatial = _spatial_pads(proto, node)
        if spatial is None:
            continue
        for user in users:
            _add_conv_pads(user, spatial)
            user.input[0] = node.input[0]
        folded.append(node)
    for node in folded:
        graph.node.remove(node)
    if folded:
        drop_unused_nodes(proto)
    return len(folded)


def drop_unused_nodes(proto) -> int:
    """Remove nodes whose outputs nothing reads (in place); returns how many."""
    graph = proto.graph
    needed = {out.name for out in graph.output}
    kept = []
    for node in reversed(list(graph.node)):  # nodes are in topological order
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(name for name in node.input if name)
    removed = len(graph.node) - len(kept)
    if removed:
        del graph.node[:]
        graph.node.extend(reversed(kept))
        unused = [init for init in graph.initializer if init.name not in needed]
        for init in unused:
            graph.initializer.remove(init)
    return removed


def _plain_conv(node) -> bool:
    """A Conv whose padding is given by its ``pads`` attribute (or none)."""
    if node.op_type != "Conv":
        return False
    auto_pad = next((a.s for a in node.attribute if a.name == "auto_pad"), b"NOTSET")
    return auto_pad in (b"NOTSET", b"")


def _spatial_pads(proto, pad) -> list[int] | None:
    """``[top, left, bottom, right]`` of a zero Pad over (N, C, H, W), else None."""
    mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
    if mode != b"constant" or (len(pad.input) > 3 and pad.input[3]):  # zeros or a value; no axes input
        return None
    if len(pad.input) > 2 and pad.input[2]:
        value = constant_value(proto, pad.input[2])
        if value is None or np.any(value != 0):
            return None
    value = constant_value(proto, pad.input[1])
    if value is None or value.shape != (8,):
        return None
    pads = [int(v) for v in value]
    if any(v < 0 for v in pads) or pads[0] or pads[1] or pads[4] or pads[5]:
        return None  # cropping, or padding the batch or channel axis
    return [pads[2], pads[3], pads[6], pads[7]]


def _add_conv_pads(conv, extra: list[int]) -> None:
    from onnx import helper

    old = [a for a in conv.attribute if a.name == "pads"]
    current = list(old[0].ints) if old else [0, 0, 0, 0]
    for attribute in old:
        conv.attribute.remove(attribute)
    conv.attribute.append(helper.make_attribute("pads", [a + b for a, b in zip(current, extra)]))


def constant_value(proto, name: str) -> np.ndarray | None:
    """The value of tensor ``name`` when it depends on no graph input (None otherwise):
    an initializer, or the output of a subgraph of constants, evaluated with
    ONNX's reference runtime."""
    from onnx import numpy_helper

    for init in proto.graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    producers = {out: node for node in proto.graph.node for out in node.output}
    inputs = {value.name for value in proto.graph.input}
    pending, needed = [name], []
    while pending:  # walk back from ``name``; give up at a graph input
        tensor = pending.pop()
        if tensor in inputs:
            return None
        node = producers.get(tensor)
        if node is None or node in needed:
            continue
        needed.append(node)
        pending.extend(i for i in node.input if i)
    return _evaluate(proto, needed, name)


def _evaluate(proto, nodes: list, name: str) -> np.ndarray | None:
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    wanted = {i for node in nodes for i in node.input}
    order = [node for node in proto.graph.node if node in nodes]  # keep the graph's order
    graph = helper.make_graph(order, "constant", [], [helper.make_tensor_value_info(name, 0, None)],
                              initializer=[init for init in proto.graph.initializer if init.name in wanted])
    model = helper.make_model(graph, opset_imports=list(proto.opset_import))
    try:
        return np.asarray(ReferenceEvaluator(model).run(None, {})[0])  # type: ignore[index]
    except Exception:  # an operator the reference runtime lacks: leave the Pad as it is
        return None
