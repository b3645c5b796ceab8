"""What ``alonet adapt`` is asked to do (:class:`AdaptConfig`) and what it did (:class:`AdaptResult`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from alonet.errors import InvalidValueError
from alonet.model.config import TASKS
from alonet.train.config import FinetuneRecipe
from alonet.views import SCALP_TASK_FOR_VIEW

#: The networks a scalp-only correction (hair loss not annotated) can teach, in TASKS order.
SCALP_TASKS = tuple(t for t in TASKS if t in set(SCALP_TASK_FOR_VIEW.values()))


@dataclass(frozen=True)
class AdaptConfig:
    """How ``adapt`` splits, fine-tunes and evaluates (fine-tuning recipe of ``train --init``)."""

    init: str = "default"
    tasks: tuple[str, ...] | None = None  # None: every task with enough photographs
    test_fraction: float = 0.3
    val_fraction: float = 0.2
    steps: int = FinetuneRecipe.steps
    batch_size: int = FinetuneRecipe.batch_size
    lr: float = FinetuneRecipe.lr
    seed: int = 0
    include_all: bool = False
    scalp_only: bool = False  # the corrections mark the scalp region only; hair loss is not annotated
    backend: str = "auto"
    #: Phantom patients (4 photographs each) the view checks' margins are re-fitted on
    #: when a scalp network is fine-tuned (alonet.infer.viewcheck.calibrate_view_checks).
    view_check_patients: int = 50
    #: A converted dataset (e.g. ``alonet phantom`` + ``alonet convert``) mixed into every
    #: epoch so the networks keep what they knew; its patients only ever train, never validate.
    replay: str | None = None
    #: Share of draws from the replay dataset relative to the clinic's photographs (1 : weight).
    replay_weight: float = 0.3
    #: Which epoch each network keeps: the best validation IoU on the clinic's validation
    #: patients, or the last one (see README, "Adapt AloNet to your photographs").
    keep: str = "best"

    def __post_init__(self) -> None:
        if not 0 < self.test_fraction < 1 or not 0 < self.val_fraction < 1:
            raise InvalidValueError("test and validation fractions must be between 0 and 1")
        if self.steps < 1 or self.batch_size < 1 or not 0 < self.lr < math.inf:
            raise InvalidValueError("steps and batch size must be >= 1 and the learning rate a number > 0",
                                    fix="e.g. --steps 80 --batch 8 --lr 2e-4")
        if self.view_check_patients < 1:
            raise InvalidValueError("view_check_patients must be >= 1")
        if not 0 < self.replay_weight < math.inf:
            raise InvalidValueError(f"the replay weight must be > 0 (got {self.replay_weight:g})",
                                    fix="e.g. --replay-weight 0.3 (one replay photograph per three clinic ones)")
        if self.keep not in ("best", "last"):
            raise InvalidValueError(f"keep must be 'best' or 'last' (got {self.keep!r})")
        bad = [t for t in (self.tasks or ()) if t not in TASKS]
        if bad:
            raise InvalidValueError(f"unknown task(s) {', '.join(bad)}", fix=f"use {', '.join(TASKS)}")
        if self.scalp_only and "hairloss" in (self.tasks or ()):
            raise InvalidValueError("--scalp-only corrections cannot fine-tune the hair-loss network",
                                    fix="drop --task hairloss, or annotate hair loss and drop --scalp-only")

    @property
    def task_list(self) -> tuple[str, ...]:
        """The networks to try fine-tuning, in order."""
        if self.tasks:
            return self.tasks
        return SCALP_TASKS if self.scalp_only else TASKS


@dataclass
class AdaptResult:
    out: Path
    counts: dict
    trained: list[str]
    carried: list[str]
    before: dict
    after: dict
    better: bool
    notes: list[str] = field(default_factory=list)
    changes: dict | None = None  # paired_changes(): after - before with bootstrap intervals
    kept_start: list[str] = field(default_factory=list)  # trained, but the starting weights validated best
    patient_key_file: Path | None = None  # the key the set's patient digests are made with,
    patient_key_id: str | None = None  # its fingerprint (adapt.json "patient_key_id"),
    patient_key_new: bool = False  # and whether this run made it (the user's first adapt)
