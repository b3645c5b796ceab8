"""``alonet export``: export a model set for the ONNX Runtime backend."""

from __future__ import annotations

from pathlib import Path

import click

from alonet.cli.predict_cmd import model_option


@click.command("export")
@click.option("--onnx", "onnx_format", is_flag=True, help="Export to ONNX (the only format so far).")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the exported model set (<task>.onnx beside <task>.json/.safetensors).")
@click.option("--no-check", is_flag=True, help="Skip comparing ONNX Runtime with PyTorch outputs.")
@model_option
def export_command(onnx_format, out_dir, no_check, model):
    """Export the three networks to ONNX; OUT becomes a model set that runs on ONNX Runtime.

    Use it with --model OUT. Each export is checked against PyTorch (max
    difference <= 1e-4) unless --no-check.
    """
    from alonet.errors import InvalidValueError
    from alonet.infer.export import export_model_set

    if not onnx_format:
        raise InvalidValueError("no export format chosen", fix="pass --onnx")
    written = export_model_set(model, out_dir, check=not no_check)
    for task, path in written.items():
        click.echo(f"{task}: {path}")
