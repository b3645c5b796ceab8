"""Training the three networks: configuration, data, augmentation, the loop, torchrun.

``train(dataset, run_dir, TrainConfig(...))`` is the Python API behind
``alonet train``; see ``alonet.train.loop`` for the run-folder layout.
"""

from __future__ import annotations

from alonet.train.config import ALL_TASKS, TrainConfig
from alonet.train.loop import EpochEnd, train

__all__ = ["ALL_TASKS", "TrainConfig", "EpochEnd", "train"]
