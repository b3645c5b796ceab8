"""The fast inference paths: ONNX files shipped beside a model set (no torch at start-up),
int8 exports, ONNX Runtime thread settings and batch scoring in worker processes.

A tiny, randomly initialised model set stands in for the bundled model; each
test works on its own copy of it.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from test_infer import make_model_set, phantom_visit

import alonet
from alonet.cli.main import main
from alonet.errors import AloNetError, InvalidValueError, ModelError
from alonet.infer import Pipeline, PipelineConfig
from alonet.model.config import TASKS
from alonet.views import VIEWS


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny model set saved with float16 weights, as the bundled model is."""
    from alonet.model import load_model, save_model

    full = make_model_set(tmp_path_factory.mktemp("models"))
    half = tmp_path_factory.mktemp("half")
    for task in TASKS:
        save_model(*load_model(full / f"{task}.json"), half / task, half=True)
    return half


@pytest.fixture(scope="module")
def shipped(trained, tmp_path_factory):
    """A copy of the model set with fp32 and int8 ONNX files written into it.

    On the way, the int8 work folder that a killed export left under the system's
    temporary folder is removed, and the export's own is removed at its end.
    """
    from alonet.infer.export import export_model_set
    from alonet.infer.quantize import CalibrationConfig
    from alonet.system.processes import host_tag

    folder = tmp_path_factory.mktemp("shipped") / "set"
    shutil.copytree(trained, folder)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    left = Path(tempfile.gettempdir()) / f"alonet-int8-{host_tag()}-{ended.pid}-0123abcd"
    try:
        left.mkdir()
        (left / "hairloss.onnx").write_bytes(b"half an export")
        export_model_set(folder, None, int8=True, calibration=CalibrationConfig(patients=2, size=160),
                         progress=False)
        assert not left.exists()
        assert not list(Path(tempfile.gettempdir()).glob(f"alonet-int8-{host_tag()}-{os.getpid()}-*"))
    finally:
        shutil.rmtree(left, ignore_errors=True)
    return folder


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    return phantom_visit(tmp_path_factory.mktemp("visit"), seed=5, out_size=181)


def weight_bytes(path) -> int:
    import onnx

    return sum(len(t.raw_data) for t in onnx.load(str(path)).graph.initializer)


def test_export_into_writes_compact_files_beside_the_models(trained, tmp_path, capsys):
    from alonet.infer.export import export_onnx
    from alonet.model import load_model

    folder = tmp_path / "set"
    shutil.copytree(trained, folder)
    assert main(["export", "--into", str(folder)]) == 0
    assert "hairloss.onnx" in capsys.readouterr().out
    for task in TASKS:
        assert (folder / f"{task}.onnx").is_file() and not (folder / f"{task}.int8.onnx").exists()
    # float16 weights stored as float16: about half of a float32 export with folded batch norm
    model, cfg = load_model(folder / "hairloss.json")
    folded = export_onnx(model, cfg, tmp_path / "folded.onnx", compact=False)
    assert weight_bytes(folder / "hairloss.onnx") < 0.55 * weight_bytes(folded)
    assert (folder / "hairloss.onnx").stat().st_size < folded.stat().st_size
    assert main(["export", "--into", str(folder), "-o", str(tmp_path / "x")]) == 2
    assert "not both" in capsys.readouterr().err
    # a float32-saved model set is exported with batch norm folded, exactly as before
    full = make_model_set(tmp_path / "full")
    assert main(["export", "--into", str(full)]) == 0
    model, cfg = load_model(full / "hairloss.json")
    folded = export_onnx(model, cfg, tmp_path / "folded32.onnx", compact=False)
    assert weight_bytes(full / "hairloss.onnx") == weight_bytes(folded)


def test_cold_score_with_shipped_onnx_never_imports_torch_or_onnx(shipped, visit, tmp_path):
    cache = tmp_path / "cache"
    script = (
        "import json, sys\n"
        "from alonet.cli.main import main\n"
        "code = main(sys.argv[1:])\n"
        "print(json.dumps({'code': code, 'torch': 'torch' in sys.modules, 'onnx': 'onnx' in sys.modules,\n"
        "                  'renderer': 'alonet.phantom.generate' in sys.modules}))\n"
    )
    argv = ["score", *[a for v in VIEWS for a in (f"--{v}", str(visit[v]))], "-o", str(tmp_path / "report"),
            "--model", str(shipped)]
    env = dict(os.environ, ALONET_CACHE_DIR=str(cache),
               PYTHONPATH=str(Path(alonet.__file__).resolve().parents[1]))
    done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, env=env, check=False,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout.strip().splitlines()[-1])
    assert status == {"code": 0, "torch": False, "onnx": False, "renderer": False}
    assert "SALT" in done.stdout and (tmp_path / "report" / "report.json").is_file()
    assert not cache.exists()  # nothing exported at run time
    document = json.loads((tmp_path / "report" / "report.json").read_text())
    assert document["backend"] == "onnx" and document["precision"] == "fp32"


def test_shipped_fp32_gives_todays_masks(trained, shipped, visit, tmp_path):
    """The compact export (batch norm fused by ONNX Runtime) against today's export (folded by
    torch) and against PyTorch itself."""
    from alonet.infer.export import export_onnx
    from alonet.model import load_model

    today = tmp_path / "today"
    shutil.copytree(trained, today)
    for task in TASKS:
        model, cfg = load_model(today / f"{task}.json")
        from alonet.infer.onnx_runtime import model_key

        export_onnx(model, cfg, today / f"{task}.onnx", compact=False, source_sha256=model_key(today / f"{task}.json")[0])
    fast = Pipeline(shipped, backend="onnx")
    old = Pipeline(today, backend="onnx")
    torch_pipe = Pipeline(trained, backend="torch")
    assert {p.parent for p in fast.backend.paths.values()} == {shipped}
    assert {p.parent for p in old.backend.paths.values()} == {today}
    a, b, c = (p.score_visit(visit) for p in (fast, old, torch_pipe))
    for view in VIEWS:
        np.testing.assert_array_equal(a.views[view].scalp_mask, b.views[view].scalp_mask)
        np.testing.assert_array_equal(a.views[view].hairloss_mask, b.views[view].hairloss_mask)
        np.testing.assert_allclose(a.views[view].hairloss_prob, b.views[view].hairloss_prob, atol=1e-5)
        np.testing.assert_allclose(a.views[view].scalp_prob, c.views[view].scalp_prob, atol=1e-4)
    assert a.salt == b.salt


def test_int8_precision_stays_close_to_fp32(shipped, visit):
    fp32 = Pipeline(shipped, config=PipelineConfig(precision="fp32"))
    int8 = Pipeline(shipped, config=PipelineConfig(precision="int8"))
    assert all(p.name.endswith(".int8.onnx") for p in int8.backend.paths.values())
    assert all(p.name == f"{t}.onnx" for t, p in fp32.backend.paths.items())
    assert int8.provenance()["precision"] == "int8"
    a, b = fp32.score_visit(visit), int8.score_visit(visit)
    for view in VIEWS:
        # stated tolerance for int8: probabilities within 0.05, scalp masks 97 % the same pixels
        assert np.max(np.abs(a.views[view].scalp_prob - b.views[view].scalp_prob)) <= 0.05
        assert np.max(np.abs(a.views[view].hairloss_prob - b.views[view].hairloss_prob)) <= 0.05
        assert np.mean(a.views[view].scalp_mask == b.views[view].scalp_mask) >= 0.97


def test_precision_errors(trained, tmp_path, capsys, visit):
    with pytest.raises(ModelError, match="no int8 export.*export --int8"):
        Pipeline(trained, config=PipelineConfig(precision="int8", cache_dir=tmp_path))
    with pytest.raises(InvalidValueError, match="ONNX Runtime only"):
        Pipeline(trained, backend="torch", config=PipelineConfig(precision="int8"))
    with pytest.raises(InvalidValueError, match="precision"):
        Pipeline(trained, config=PipelineConfig(precision="fp8"))
    code = main(["score", *[a for v in VIEWS for a in (f"--{v}", str(visit[v]))], "-o", str(tmp_path / "r"),
                 "--model", str(trained), "--precision", "int8"])
    assert code == 2 and "error: no int8 export" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    # an int8 file that is there but cut short is not "no export": it says so
    cut = tmp_path / "cut"
    shutil.copytree(trained, cut)
    (cut / "hairloss.int8.onnx").write_bytes(b"\x08\x01" * 100)
    with pytest.raises(ModelError, match=r"the int8 export .* cannot be used \(hairloss.int8.onnx: damaged, made from "
                                         r"other weights or by an older AloNet\).*export --int8 --into MODEL_SET "
                                         r"again"):
        Pipeline(cut, config=PipelineConfig(precision="int8", cache_dir=tmp_path))


def test_sessions_do_not_spin_and_take_the_thread_count():
    from alonet.infer.onnx_runtime import session_options

    options = session_options(3)
    assert options.intra_op_num_threads == 3 and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_batch_in_worker_processes_equals_one_process(shipped, visit, tmp_path):
    from alonet.report import ReportOptions
    from alonet.report.batch import run_batch
    from alonet.report.batch.workers import PipelineSpec

    manifest = tmp_path / "trial.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["patient", "visit", "view", "path"])
        for number in (1, 2, 3):
            for view, path in visit.items():
                writer.writerow(["P1", number, view, path])
        for view, path in visit.items():
            writer.writerow(["P2", 1, view, tmp_path / "missing.jpg" if view == "left" else path])
    config = PipelineConfig(threads=1)
    one = run_batch(manifest, tmp_path / "one", Pipeline(shipped, config=config), progress=False)
    two = run_batch(manifest, tmp_path / "two", PipelineSpec(str(shipped), "auto", config), progress=False,
                    workers=2, reports=ReportOptions())
    assert (one.scored, one.errors) == (two.scored, two.errors) == (3, 1)
    assert (tmp_path / "one" / "results.csv").read_text() == (tmp_path / "two" / "results.csv").read_text()
    report = json.loads((tmp_path / "two" / "reports" / "P1_2" / "report.json").read_text())
    assert report["backend"] == "onnx" and report["views"]["top"]["scalp_pixels"] > 0
    with pytest.raises(AloNetError, match="not found"):
        run_batch(manifest, tmp_path / "three", PipelineSpec(str(tmp_path / "nowhere")), progress=False, workers=2)


def test_onnx_files_shipped_with_the_bundled_model_are_current_and_compact():
    """A shipped export goes stale when the weights or the model configuration change (then
    every start would load PyTorch and export into the cache): re-run
    ``alonet export --into src/alonet/model/weights/default [--int8]``."""
    from alonet.infer.onnx_runtime import PRECISIONS, find_exports, onnx_file_name
    from alonet.model import resolve_model_set

    paths = resolve_model_set("default")
    found = 0
    for precision in PRECISIONS:
        files = [p.with_name(onnx_file_name(p.stem, precision)) for p in paths.values()]
        present = [f for f in files if f.is_file()]
        if not present:
            continue
        found += len(present)
        assert len(present) == len(TASKS), f"{precision}: only {[f.name for f in present]} shipped"
        assert find_exports(paths, None, precision=precision) is not None, f"stale {precision} ONNX files"
        # fp32 files store float16-saved weights as float16: about the size of the weights
        # (the EfficientNet graph adds ~9 % of nodes and padding constants); float32 copies
        # would double it
        weights = sum(p.with_suffix(".safetensors").stat().st_size for p in paths.values())
        assert sum(f.stat().st_size for f in present) < 1.2 * weights
    if not found:
        pytest.skip("the bundled model ships no ONNX files (alonet export --into ... writes them)")


def test_the_quantisers_root_logger_noise_is_hidden_and_nothing_else(caplog):
    """An audit (thirty-third session): `alonet export --int8` printed 12 lines "Axis 1 is
    out-of-range for weight '...' with rank 1" on graph version 3."""
    import logging

    from alonet.infer.quantize import _quiet

    with caplog.at_level(logging.WARNING):
        with _quiet():
            logging.warning("Axis 1 is out-of-range for weight 'net.up.1.rest.0.weight' with rank 1")
            logging.warning("Please consider to run pre-processing before quantization.")
            logging.warning("something else")
        logging.warning("Axis 1 is out-of-range for weight 'w' with rank 1")  # the filter is gone again
    assert [r.getMessage() for r in caplog.records] == [
        "something else", "Axis 1 is out-of-range for weight 'w' with rank 1"]
