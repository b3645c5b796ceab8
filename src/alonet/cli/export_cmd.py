"""``alonet export``: export a model set for the ONNX Runtime backend."""

from __future__ import annotations

from pathlib import Path

import click

from alonet.cli.options import model_option
from alonet.errors import InvalidValueError


@click.command("export")
@click.option("--onnx", "onnx_format", is_flag=True, help="Export to ONNX (the only format; implied by --into).")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for a new model set (<task>.onnx beside a copy of <task>.json/.safetensors).")
@click.option("--into", "into", type=click.Path(file_okay=False, path_type=Path),
              help="Write the ONNX files into this existing model set, beside each model's JSON "
                   "(e.g. to ship them with a model so that no first-run export is needed).")
@click.option("--int8", is_flag=True,
              help="Also write <task>.int8.onnx: static int8 (QDQ, per-channel), calibrated on phantom "
                   "photographs rendered on the fly. Use with --precision int8.")
@click.option("--no-check", is_flag=True, help="Skip comparing ONNX Runtime with PyTorch outputs.")
@model_option
def export_command(onnx_format, out_dir, into, int8, no_check, model):
    """Export the three networks to ONNX Runtime files.

    Either into a new model set (-o OUT, from --model) or into an existing one
    (--into MODEL_SET). Inference then starts without importing PyTorch. Each
    fp32 export is checked against PyTorch (max difference <= 1e-4) unless --no-check.
    """
    from alonet.infer.export import export_model_set

    if into is not None:
        if out_dir is not None:
            raise InvalidValueError("give either -o OUT or --into MODEL_SET, not both")
        if model != "default":
            raise InvalidValueError("--into exports the model set it names; --model is not used with it",
                                    fix="drop --model, or use --model SET -o OUT")
        written = export_model_set(into, None, check=not no_check, int8=int8)
    else:
        if not onnx_format:
            raise InvalidValueError("no export format chosen", fix="pass --onnx -o OUT, or --into MODEL_SET")
        if out_dir is None:
            raise InvalidValueError("no output folder", fix="pass -o OUT, or --into MODEL_SET")
        if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
            raise InvalidValueError(f"output {out_dir} already exists; -o makes a new model set",
                                    fix=f"choose a new folder, or add ONNX files to a model set with --into {out_dir}")
        written = export_model_set(model, out_dir, check=not no_check, int8=int8)
    for task, path in written.items():
        extra = f" and {path.with_name(path.stem + '.int8.onnx').name}" if int8 else ""
        click.echo(f"{task}: {path}{extra}")
