"""Data-parallel training: two CPU processes on the gloo backend under torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import torch

from alonet.model import load_model
from alonet.train.history import read_history_csv

SCRIPT = textwrap.dedent(
    """
    import logging
    import sys
    import torch
    from alonet.train import TrainConfig, train

    dataset, run_dir, out = sys.argv[1:4]
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # every rank shows AloNet's log

    def keep_weights(event):
        # every rank stores the state it ended the epoch with
        if event.epoch == event.epochs:
            torch.save(event.model.state_dict(), f"{out}/rank{event.rank}.pt")

    cfg = TrainConfig(task="hairloss", epochs=2, batch_size=4, input_size=32, base_width=4, depth=2,
                      val_fraction=0.25, seed=1)
    train(dataset, run_dir, cfg, on_epoch_end=keep_weights, progress=False)
    """
)


def test_two_gloo_processes_train_identical_models(tmp_path):
    from test_train import write_tiny_dataset

    dataset = write_tiny_dataset(tmp_path / "ds", n_patients=3)
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(script), str(dataset), str(run_dir), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # rank 0 alone logged and wrote the run folder
    assert proc.stderr.count("hairloss: 8 training / 4 validation photographs") == 1
    assert "x 2 processes" in proc.stderr
    task_dir = run_dir / "hairloss"
    assert {p.name for p in task_dir.iterdir()} == {"train_config.json", "history.csv", "history.png",
                                                    "best.json", "best.safetensors", "last.pt"}
    assert [r["epoch"] for r in read_history_csv(task_dir / "history.csv")] == [1, 2]
    # both ranks ended with identical weights and BatchNorm statistics, equal to the checkpoint
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    last = torch.load(task_dir / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(rank0[k], last[k]) for k in rank0)
    model, cfg = load_model(task_dir / "best.json")
    assert cfg.base_width == 4
