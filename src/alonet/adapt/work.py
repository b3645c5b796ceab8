"""adapt's work folder: what it was made from (its recipe), and clearing or removing it.

A rerun resumes from the work folder only when it was made from the same source (folder and
contents) with the same options and patient key; see :func:`check_work_recipe`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path

from alonet.adapt.config import AdaptConfig
from alonet.system.atomic import atomic_write_text
from alonet.errors import DatasetError, InvalidValueError
from alonet.store.export import STEM_SCHEME, store_fingerprint

LOG = logging.getLogger(__name__)

STORE_DB = "alonet.sqlite3"


def is_store(path: Path) -> bool:
    return (Path(path) / STORE_DB).is_file()


#: The work folder's record of what it was made from (see :func:`check_work_recipe`).
WORK_RECIPE = "recipe.json"
#: Options that do not change what the work folder holds.
_RECIPE_IGNORED = ("backend",)


def source_fingerprint(source: Path, cfg: AdaptConfig) -> str:
    """What SOURCE holds now: a store's ``store_fingerprint`` (its chosen visits and their
    files), or a dataset's ``dataset.json`` and ``meta.csv``."""
    if is_store(source):
        return store_fingerprint(source, cfg.include_all)
    digest = hashlib.sha256()
    for name in ("dataset.json", "meta.csv"):
        path = source / name
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()


def work_recipe(source: Path, cfg: AdaptConfig, patient_key_id: str) -> dict:
    """What a work folder's contents depend on: the source (folder and contents), every option
    and the patient key (its :func:`~alonet.adapt.keys.key_id`: the split recognised the
    starting model's patients with it)."""
    options = {k: v for k, v in asdict(cfg).items() if k not in _RECIPE_IGNORED}
    return json.loads(json.dumps({"source": str(source.resolve()), "source_fingerprint":
                                  source_fingerprint(source, cfg), "options": options,
                                  "export_naming": STEM_SCHEME if is_store(source) else None,
                                  "patient_key_id": patient_key_id}))


def _naming_changed(then: dict, now: dict) -> bool:
    """True when a store's export is named otherwise than when the work folder was made (an update)."""
    return now.get("export_naming") is not None and then.get("export_naming") != now["export_naming"]


def _recipe_changes(then: dict, now: dict) -> list[str]:
    """'name: old -> new' for what differs between two work recipes."""
    changes = []
    if then.get("source") != now["source"]:
        changes.append(f"source {then.get('source')} -> {now['source']}")
    elif _naming_changed(then, now):
        changes.append("an AloNet update changed how store exports are named")
    elif then.get("source_fingerprint") != now["source_fingerprint"]:
        changes.append("the source's photographs or masks (visits saved, corrected, deleted or marked reviewed)")
    old, new = then.get("options", {}), now["options"]
    changes += [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    # a recipe from before patient keys has none: its split matched the same patients (unkeyed)
    if "patient_key_id" in then and then["patient_key_id"] != now.get("patient_key_id"):
        changes.append(f"patient key {then['patient_key_id']} -> {now.get('patient_key_id')}")
    return changes


#: What adapt writes into its work folder (all of it, and only it, is removed after success) ...
WORK_ENTRIES = ("dataset", "train_ds", "test_ds", "run", "before", "after", "held_out.json", WORK_RECIPE)
#: ... and what a work folder whose source or options changed loses while nothing is trained yet.
UNTRAINED_ENTRIES = ("dataset", "train_ds", "test_ds", "before", "after", "held_out.json")


def _clear_work(work: Path, names) -> None:
    """Remove the entries ``names`` of the work folder (folders and files)."""
    for name in names:
        path = work / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def check_work_recipe(work: Path, recipe: dict) -> None:
    """Make sure everything in ``work`` was made from this source with these options.

    A work folder made otherwise is started afresh when no network was trained yet, and
    refused once one was (its fine-tune belongs to the other source or options). A folder
    without a recipe that holds any of adapt's entry names (:data:`WORK_ENTRIES`) is refused:
    they may be someone else's files, and adapt removes its entries when it is done.
    """
    path = work / WORK_RECIPE
    if not path.is_file() and (work / "run").exists():
        fresh = work.with_name(work.name + "-2")
        raise DatasetError(
            f"the work folder {work} was made by an older AloNet that did not record its source and options, "
            "so resuming it could mix other photographs or options into this run",
            fix=f"start afresh with --work {fresh} (or delete {work}); adapting takes minutes")
    ours = [name for name in WORK_ENTRIES if (work / name).exists() or (work / name).is_symlink()]
    if not path.is_file() and ours:  # nothing says adapt made them: never remove them
        raise DatasetError(
            f"the work folder {work} already holds {', '.join(ours)}, which adapt did not record making "
            "(another program's files, a model set, or the work folder of an AloNet older than recipes); "
            "adapt would replace them",
            fix=f"give --work an empty or new folder (e.g. --work {work.with_name(work.name + '-2')})")
    if path.is_file():
        then = json.loads(path.read_text(encoding="utf-8"))
        changes = _recipe_changes(then, recipe)
        if changes and (work / "run").exists():
            fresh = work.with_name(work.name + "-2")
            resume = ("this AloNet cannot resume it: " if _naming_changed(then, recipe)
                      else "rerun with the same source and options to resume it, or ")
            raise DatasetError(
                f"the work folder {work} was made from another source or with other options "
                f"({'; '.join(changes)}); the fine-tune there belongs to those",
                fix=f"{resume}start afresh with --work {fresh} (or delete {work})")
        if changes:
            LOG.info(f"the source or options changed since {work} was made ({'; '.join(changes)}): starting it afresh")
            _clear_work(work, UNTRAINED_ENTRIES)
    atomic_write_text(path, json.dumps(recipe, indent=2) + "\n")


def check_work_folder(work: Path, out: Path, source: Path) -> None:
    """A work folder of its own: not the output or the source, and holding neither."""
    w = work.resolve()
    for what, path in (("output folder", out.resolve()), ("source", source.resolve())):
        if path == w or w in path.parents:
            raise InvalidValueError(f"the work folder {work} is or holds the {what} {path}",
                                    fix=f"give --work a folder of its own (the default is {out}.work)")


def remove_work(work: Path) -> None:
    """Remove what adapt wrote into ``work`` (a copy of every photograph with its patient code
    and dates, the split by code), and the folder itself when nothing else is left in it."""
    _clear_work(work, WORK_ENTRIES)
    left = sorted(p.name for p in work.iterdir()) if work.is_dir() else []
    if not left:
        work.rmdir()
        LOG.info(f"adapt: removed its work folder {work} (a copy of the photographs with the patient codes; "
                 "--keep-work keeps it)")
    else:
        LOG.info(f"adapt: removed its files from the work folder {work}; kept the folder, which also holds "
                 f"{', '.join(left[:3])}{' ...' if len(left) > 3 else ''}")
