"""``adapt``: split by patient, fine-tune from the current model, evaluate before vs after.

Work folder (``MODEL_DIR.work`` unless given; kept, so a rerun resumes)::

    dataset/        the store's reviewed visits as a dataset (when SOURCE is a store)
    held_out.json   the patients held back for testing (never trained on)
    train_ds/       the other patients' photographs (fine-tuning + early stopping)
    test_ds/        the held-back patients' photographs
    run/            the fine-tuning run (alonet train --init), resumable; with a replay
                    dataset its split.json validates on the clinic's patients only
    before/ after/  evaluation reports on test_ds

``MODEL_DIR`` appears only when everything succeeded (atomic folder): the
model set, ``MODEL_CARD.md``, ``adapt.json``, ``comparison.csv/png`` and the
two reports. They name patients only by an HMAC under the clinic's patient key, which
stays on this machine (:mod:`alonet.adapt.keys`).

The options are :mod:`alonet.adapt.config`, the work folder's recipe and clean-up
:mod:`alonet.adapt.work`, the before/after comparison :mod:`alonet.adapt.compare`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from alonet.adapt.card import write_comparison, write_model_card
from alonet.adapt.compare import headline, judge, paired_changes, shareable_evaluation
from alonet.adapt.config import AdaptConfig, AdaptResult
from alonet.adapt.keys import (
    Learnt,
    key_for_init,
    key_id,
    learnt_by,
    patient_digest,
    unkeyed_digest,
)
from alonet.adapt.work import (
    check_work_folder,
    check_work_recipe,
    remove_work,
    is_store,
    source_fingerprint,
    work_recipe,
)
from alonet.system.atomic import atomic_directory, atomic_write_text, check_can_write_directory
from alonet.data.dataset import open_dataset, write_dataset
from alonet.data.split import make_split, patient_key, read_split, row_key, share_count, split_rows
from alonet.errors import DatasetError
from alonet.evaluate import evaluate
from alonet.evaluate.evaluate import check_dataset_size
from alonet.infer import Pipeline
from alonet.infer.gate import GateConfig, required_side
from alonet.infer.viewcheck import calibrate_view_checks
from alonet.model.config import TASKS
from alonet.model.io import check_model_set, model_set_sha256, read_model_info, resolve_model_set
from alonet.views import VIEWS
from alonet.train import TrainConfig, train
from alonet.train.data import ConcatSource, ConvertedSource, Source, task_rows
from alonet.train.lock import run_lock
from alonet.train.loop import carry_over
from alonet.store.export import export_store, left_out_text, skip_reasons_of

LOG = logging.getLogger(__name__)

#: Below these counts a before/after comparison on held-back patients says nothing.
MIN_PHOTOS = 10
MIN_PATIENTS = 4


#: What marks a folder as an adapted model set (``--overwrite`` replaces only such a folder).
ADAPTED_FILES = ("adapt.json",)


def _source_dataset(source: Path, work: Path, cfg: AdaptConfig, progress: bool) -> Path:
    """SOURCE as a converted dataset folder (a store is exported into the work folder once)."""
    if (source / "dataset.json").is_file():
        return source
    if is_store(source):
        target = work / "dataset"
        if not (target / "dataset.json").is_file():
            summary = export_store(source, target, include_all=cfg.include_all, progress=progress)
            LOG.info(f"exported {summary['views_exported']} photographs of {summary['visits_exported']} "
                     f"visits from the store ({summary['views_corrected']} with corrected masks)")
        return target
    raise DatasetError(f"{source} is neither an AloNet store nor a converted dataset",
                       fix="pass the folder given to `alonet serve --store`, or a folder made by "
                           "`alonet convert`")


def _check_patients_and_views(dataset, records) -> None:
    """adapt holds back whole patients and scores their visits' SALT: every photograph needs
    its patient and view (a dataset converted without a manifest has neither). Checked before
    any training."""
    no_patient = [r.stem for r in records if not r.patient]
    no_view = [r.stem for r in records if r.view not in VIEWS]
    if no_patient or no_view:
        what = [f"{len(no_patient)} without a patient" if no_patient else "",
                f"{len(no_view)} without a view" if no_view else ""]
        first = (no_patient or no_view)[0]
        raise DatasetError(
            f"{dataset}: {' and '.join(w for w in what if w)} of {len(records)} photographs (first: {first}); "
            "adapt holds back whole patients and scores their visits, so it needs both",
            fix="convert again with --manifest giving patient, visit and view for every photograph "
                "(a store export has them)")


def _split(dataset, cfg: AdaptConfig, work: Path, key: bytes, seen: Learnt | None) -> dict:
    """Hold back patients for testing (stored in held_out.json, reused on rerun).

    Patients an adapted starting model learnt from (``seen``, its ``learnt_by``; recognised
    with the patient ``key``) are never held back: testing on them would favour "before";
    they may be learnt from again.
    """
    path = work / "held_out.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    records = ConvertedSource(dataset).records
    _check_patients_and_views(dataset, records)
    patients = sorted({patient_key(r) for r in records})
    if len(records) < MIN_PHOTOS or len(patients) < MIN_PATIENTS:
        raise DatasetError(
            f"{dataset}: {len(records)} photograph(s) of {len(patients)} patient(s) are too few to adapt "
            f"and still test honestly (need at least {MIN_PHOTOS} photographs of {MIN_PATIENTS} patients)",
            fix="review and correct more visits, then run adapt again (from a store, --all also takes the "
                "visits not marked reviewed)",
        )
    if seen is None:
        raise DatasetError(
            f"the starting model {cfg.init} was adapted by an older AloNet that did not record which patients "
            "it learnt from, so the held-back patients could include them and favour 'before'",
            fix="adapt from the model it was adapted from (e.g. --init default) with all the corrected visits")
    known = sorted(p for p in patients if seen.knows(key, p))
    new = [r for r in records if patient_key(r) not in set(known)]
    new_patients = {patient_key(r) for r in new}
    wanted = share_count(cfg.test_fraction, len(patients))
    if known and len(new_patients) < 2:
        raise DatasetError(
            f"{dataset}: the starting model {cfg.init} learnt from {len(known)} of these {len(patients)} patients, "
            f"which leaves {len(new_patients)} to test on", fix="add visits of new patients, or adapt from the "
            "model that one was adapted from")
    split = make_split(new, min(0.9, wanted / len(new_patients)), cfg.seed)
    test = split["val"]
    held = {"learn": sorted(set(patients) - set(test)), "test": test, "seed": cfg.seed,
            "test_fraction": cfg.test_fraction, "kept_out_of_test": len(known)}
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(held, indent=2) + "\n")
    return held


def _corrected_count(dataset: Path) -> int | None:
    """How many photographs of a dataset have masks a person corrected (None: not recorded)."""
    meta = open_dataset(dataset).meta
    if not meta or "corrected" not in meta[0]:
        return None
    return sum(str(m.get("corrected", "")).strip() in ("1", "True", "true") for m in meta)


def _kept_start(run: Path, trained: list[str]) -> list[str]:
    """The trained networks whose best epoch was epoch 0: no fine-tuned epoch validated better,
    so they keep their starting weights."""
    kept = []
    for task in trained:
        info = json.loads((run / task / "best.json").read_text(encoding="utf-8"))
        if (info.get("metadata") or {}).get("epoch") == 0:
            kept.append(task)
    return kept


def _subset(dataset, patients: set[str], out: Path) -> int:
    """Write the rows of ``patients`` as their own dataset (once); returns the row count."""
    ds = open_dataset(dataset)
    rows = [i for i, m in enumerate(ds.meta)
            if row_key(str(m.get("patient") or "").strip(), str(m.get("stem"))) in patients]
    if not (out / "dataset.json").is_file():
        samples = [(np.asarray(ds.images[i]), np.asarray(ds.scalp[i]), np.asarray(ds.hairloss[i]),
                    {k: v for k, v in ds.meta[i].items() if k != "index"}) for i in rows]
        write_dataset(out, samples, size=ds.size)
    return len(rows)


class ReplaySource:
    """A dataset mixed into fine-tuning whose patient ids are prefixed with ``replay:``,
    so none of them can be mistaken for (or split with) a clinic patient of the same id."""

    PREFIX = "replay:"

    def __init__(self, path: str | Path):
        self.inner = ConvertedSource(path)
        self.path = self.inner.path
        self.records = [replace(r, patient=self.PREFIX + patient_key(r)) for r in self.inner.records]

    def __len__(self) -> int:
        return len(self.records)

    def sample(self, index: int):
        return self.inner.sample(index)


def _check_replay(path: str) -> Path:
    replay = Path(path)
    if not (replay / "dataset.json").is_file():
        raise DatasetError(f"--replay {replay}: not a converted dataset (no dataset.json)",
                           fix="make one first: `alonet phantom --patients 40 -o replay-photos`, "
                               "`alonet convert --from replay-photos -o replay-ds`, then --replay replay-ds")
    open_dataset(replay)  # damaged arrays or meta.csv fail here, not after the work folder was made
    return replay


def _clinic_only_split(run: Path, clinic, replay, cfg: AdaptConfig) -> None:
    """Write ``run/split.json`` (once): validation patients drawn from the clinic's only,
    every replay patient in training. ``alonet train`` reuses it for each network."""
    path = run / "split.json"
    if path.is_file():
        return
    split = make_split(clinic.records, cfg.val_fraction, cfg.seed)
    split["train"] = sorted(set(split["train"]) | {patient_key(r) for r in replay.records})
    split["replay"] = str(replay.path)
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(split, indent=2) + "\n")


def _validated_patients(run: Path) -> int | None:
    """How many of the learning patients validated each epoch (the training's split.json)."""
    try:
        return len(read_split(run / "split.json")["val"])
    except (DatasetError, OSError, KeyError):
        return None


def _finetune(train_ds: Path, run: Path, cfg: AdaptConfig, progress: bool) -> tuple[list[str], list[str], list[str]]:
    """Fine-tune each task that has data; returns (trained, carried over, notes)."""
    clinic = ConvertedSource(train_ds)
    source: Source
    source, weights = clinic, None
    if cfg.replay:
        replay = ReplaySource(cfg.replay)  # adapt() checked it is a dataset
        source, weights = ConcatSource([clinic, replay]), (1.0, cfg.replay_weight)
        _clinic_only_split(run, clinic, replay, cfg)
    trained, notes = [], []
    for task in cfg.task_list:
        base = TrainConfig.finetuning(cfg.init, task=task, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                                      val_fraction=cfg.val_fraction, seed=cfg.seed, keep=cfg.keep,
                                      dataset_weights=weights)
        if not any(r.view in base.task_views for r in clinic.records):
            notes.append(f"{task}: not fine-tuned (no {' or '.join(base.task_views)} photographs to learn from)")
            continue
        try:
            rows = task_rows(clinic.records, base, str(train_ds))
        except DatasetError as exc:
            notes.append(f"{task}: not fine-tuned ({exc.message if hasattr(exc, 'message') else exc})")
            continue
        if len(rows) < 4:
            notes.append(f"{task}: not fine-tuned (only {len(rows)} photograph(s) of its views)")
            continue
        # BatchNorm statistics stay fixed as they would for the clinic's photographs alone: replay
        # photographs must not tip a small clinic set over FEW_IMAGES (measured: unfixed statistics
        # on 68 clinic + 160 replay photographs gave held-back hair-loss IoU 0.434, fixed 0.555,
        # before adapting 0.516).
        if cfg.replay:
            learn = split_rows(clinic.records, rows, read_split(run / "split.json"), "train")
            base = replace(base, freeze_bn=base.resolved_freeze_bn(len(learn)))
        try:
            train(source, run, base, resume=True, progress=progress, carry_rest=False)
        except DatasetError as exc:
            notes.append(f"{task}: not fine-tuned ({str(exc).splitlines()[0]})")
            continue
        trained.append(task)
    carry_over(run, cfg.init)  # the networks not fine-tuned, copied once all tasks are done
    carried = [task for task in TASKS if task not in trained]
    return trained, carried, notes


def _view_check_margins(run: Path, cfg: AdaptConfig, trained: list[str], notes: list[str],
                        progress: bool) -> dict | None:
    """Re-fit the view checks' certainty margins when a scalp network was fine-tuned.

    They compare how sure the midline and the temporal network are of a photograph
    (``alonet.infer.viewcheck``), so a change to either moves them: fine-tuning the temporal
    network with real side views moved the bundled set's side margin from -0.01 to 0.005
    (docs/history.md, sixteenth session). They are written into the midline network's JSON in
    the run folder (adapted or carried over) and travel with it; when only the hair-loss
    network was fine-tuned, the starting set's margins stay.
    """
    if not {"scalp-midline", "scalp-temporal"} & set(trained):
        return None

    fitted, photographs = calibrate_view_checks(Pipeline(run, backend=cfg.backend),
                                                patients=cfg.view_check_patients, progress=progress)
    margins = {"side_margin": fitted.side_margin, "midline_margin": fitted.midline_margin}
    best = run / "scalp-midline" / "best.json"
    midline = json.loads(best.read_text(encoding="utf-8"))
    midline.setdefault("metadata", {})["view_check"] = margins
    atomic_write_text(best, json.dumps(midline, indent=2) + "\n")
    adapted = " and ".join(t for t in ("scalp-midline", "scalp-temporal") if t in trained)
    notes.append(f"view checks: margins re-fitted for the adapted {adapted} network on {photographs} "
                 f"phantom photographs (side {fitted.side_margin:+.3f}, midline {fitted.midline_margin:.3f})")
    return margins


def adapt(source: str | Path, out: str | Path, cfg: AdaptConfig = AdaptConfig(), *,
          work: str | Path | None = None, overwrite: bool = False, progress: bool = True,
          keep_work: bool = False, patient_key: str | Path | None = None) -> AdaptResult:
    """Fine-tune ``cfg.init`` on SOURCE (a store or a dataset) and write the adapted model set to ``out``.

    The work folder (``OUT.work`` unless ``work``) holds what a stopped run resumes from: a
    copy of every photograph with its patient code and dates, the split by patient code. It
    is removed once the model set is in place, unless ``keep_work``.

    The model set names patients by an HMAC under the patient key in the file
    ``patient_key`` (default: this user's, made on first use; :mod:`alonet.adapt.keys`).
    A starting set adapted with another key is refused before anything is written."""
    source, out = Path(source), Path(out)
    if not source.is_dir():
        raise DatasetError(f"{source} not found", fix="pass a store folder or a converted dataset")
    if cfg.replay:
        _check_replay(cfg.replay)
    check_can_write_directory(out, overwrite, inputs=(source, cfg.replay, cfg.init), own=ADAPTED_FILES)
    check_model_set(cfg.init)  # a damaged starting network fails before the work folder, not after training the others
    seen = learnt_by(cfg.init)
    key, key_file, made = key_for_init(patient_key, seen, cfg.init)
    work = Path(work) if work is not None else out.with_name(out.name + ".work")
    check_work_folder(work, out, source)
    fresh = not work.exists()
    work.mkdir(parents=True, exist_ok=True)
    if os.name != "nt":  # it holds the clinic's photographs, codes and dates, like the store: private
        with contextlib.suppress(OSError):
            os.chmod(work, 0o700)
    # one adapt per work folder for the whole run (training locks each network's run only)
    with run_lock(work):
        result = _adapt_in(work, fresh, source, out, cfg, overwrite, progress, key, seen)
    if not keep_work:
        remove_work(work)
    return replace(result, patient_key_file=key_file, patient_key_id=key_id(key), patient_key_new=made)


def shareable_model_name(init: str) -> str:
    """How the shared model set names its starting model: ``default`` (the bundled set), else
    "an own model set" with its checksum as reports show it (a folder's path may hold a name)."""
    if str(init) == "default":
        return "default"
    return f"an own model set (checksum {model_set_sha256(init)[:12]})"


def _shareable_recipe(cfg: AdaptConfig) -> dict:
    """The options as adapt.json keeps them: the starting model and the replay dataset named
    without their paths (the work folder's recipe.json, private, keeps those)."""
    recipe = asdict(cfg)
    recipe["init"] = shareable_model_name(cfg.init)
    if cfg.replay is not None:
        recipe["replay"] = "a converted dataset"
    return recipe


def _gate_side(init: str) -> int:
    """The fewest pixels a photograph's shorter side needs to pass the evaluation's photograph
    gate with model set ``init`` (from its JSON files: no network is loaded)."""
    sides = [read_model_info(path)["config"].input_size for path in resolve_model_set(init).values()]
    return required_side(GateConfig(), min(sides))


def _adapt_in(work: Path, fresh: bool, source: Path, out: Path, cfg: AdaptConfig, overwrite: bool,
              progress: bool, key: bytes, seen: Learnt | None) -> AdaptResult:
    """:func:`adapt` in its locked work folder, with the patient key and the patients the
    starting model learnt from."""
    try:
        check_work_recipe(work, work_recipe(source, cfg, key_id(key)))
        dataset = _source_dataset(source, work, cfg, progress)
        # the before/after evaluation runs the photograph gate: a dataset it would refuse
        # whole fails now, not after the training
        check_dataset_size(open_dataset(dataset).size, _gate_side(cfg.init), Path(dataset))
        held = _split(dataset, cfg, work, key, seen)
        n_learn = _subset(dataset, set(held["learn"]), work / "train_ds")
        n_test = _subset(dataset, set(held["test"]), work / "test_ds")
    except BaseException:
        if fresh:  # refused before any training: leave no work folder behind
            shutil.rmtree(work, ignore_errors=True)
        raise
    LOG.info(f"adapt: {n_learn} photographs of {len(held['learn'])} patients to learn from, "
             f"{n_test} of {len(held['test'])} held-back patients to test on")

    trained, carried, notes = _finetune(work / "train_ds", work / "run", cfg, progress)
    left_out = skip_reasons_of(dataset) if is_store(source) else {}
    if left_out:  # the export's skipped.csv goes with the work folder: the set keeps the counts
        notes.insert(0, f"left out of the store's export: {left_out_text(left_out)} (correct and review them "
                        "in the web app to learn from them)")
    if not trained:
        raise DatasetError("no network could be fine-tuned: " + "; ".join(notes),
                           fix="add corrected photographs of more patients and views")
    kept = _kept_start(work / "run", trained)
    if kept:
        notes.append(f"{', '.join(kept)}: no fine-tuned epoch did better on the validation patients than the "
                     "starting network, so its starting weights are kept"
                     + (" (the adapted set equals the starting model)" if set(kept) == set(trained) else ""))
    view_check = _view_check_margins(work / "run", cfg, [t for t in trained if t not in kept], notes, progress)
    reports = {}
    for name, model in (("before", cfg.init), ("after", work / "run")):
        reports[name] = evaluate(work / "test_ds", model, work / name, backend=cfg.backend,
                                 overwrite=True, progress=progress).summary
    before = headline(reports["before"], cfg.scalp_only)
    after = headline(reports["after"], cfg.scalp_only)
    better = judge(before, after)
    changes = None if cfg.scalp_only else paired_changes(work / "before", work / "after")
    counts = {"photographs_learn": n_learn, "patients_learn": len(held["learn"]),
              "photographs_test": n_test, "patients_test": len(held["test"]),
              "photographs_test_corrected": _corrected_count(work / "test_ds"),
              "patients_kept_out_of_test": held.get("kept_out_of_test", 0),
              "patients_validated": _validated_patients(work / "run")}
    learnt = seen or Learnt()
    info = {
        "format": "alonet-adapt", "version": 2,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        # what the photographs came from, not where: a folder's path may name a clinic, a
        # person or a patient, and the model set is made to be shared (the work folder's
        # recipe.json, private, keeps the path)
        "source": "an AloNet store" if is_store(source) else "a converted dataset",
        "source_fingerprint": source_fingerprint(source, cfg),
        "init": shareable_model_name(cfg.init), "counts": counts, "trained": trained,
        "kept_start": kept, "carried_over": carried, "recipe": _shareable_recipe(cfg), "before": before, "after": after,
        "better": better, "changes": changes, "notes": notes, "view_check": view_check,
        "patient_key_id": key_id(key),
        "learnt_patients": sorted({patient_digest(key, p) for p in held["learn"]} | learnt.keyed),
    }
    # digests of a set adapted before patient keys, for patients not in this source (the
    # others are learnt again here and named keyed): a further adapt must still recognise them
    unkeyed = learnt.unkeyed - {unkeyed_digest(p) for p in held["learn"]}
    if unkeyed:
        info["learnt_patients_unkeyed"] = sorted(unkeyed)

    with atomic_directory(out, overwrite=overwrite, own=ADAPTED_FILES) as tmp:
        for task in TASKS:
            best = work / "run" / task / "best"
            shutil.copyfile(best.with_suffix(".json"), tmp / f"{task}.json")
            shutil.copyfile(best.with_suffix(".safetensors"), tmp / f"{task}.safetensors")
        for name in ("before", "after"):
            shareable_evaluation(work / name, tmp / name, "the starting model" if name == "before" else "this model set",
                                 key)
        (tmp / "adapt.json").write_text(json.dumps(_json_safe(info), indent=2) + "\n", encoding="utf-8")
        write_comparison(tmp, before, after)
        write_model_card(tmp / "MODEL_CARD.md", info, model_dir=out)
    return AdaptResult(out=out, counts=counts, trained=trained, carried=carried, before=before,
                       after=after, better=better, notes=notes, changes=changes, kept_start=kept)


def _json_safe(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
