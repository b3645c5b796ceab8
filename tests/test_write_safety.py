"""Reruns and writes that must not lose or choke on earlier results (an interruption audit, 2026-12-07).

A rerun rewrote results.csv without the rows it was about to recompute *before* copying them to
superseded.csv, so a failed write of the audit trail lost them from both; a number edited by
hand into text (``12.x``) ended the rerun with a traceback.
"""

from __future__ import annotations

import csv
import os

import pytest
from test_batch_only import VISITS, models, photos  # noqa: F401  (fixtures)
from test_batch_provenance import pipeline_with, read, trial

import alonet.report.batch.run as batch
from alonet.report.batch import run_batch
from alonet.report.batch.rows import row_problem


def test_rows_reach_the_audit_trail_before_they_leave_results(models, photos, tmp_path, monkeypatch):  # noqa: F811
    manifest = trial(tmp_path, photos, VISITS[:2])
    out = tmp_path / "out"
    run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    before = read(out / "results.csv")
    real_write = batch.atomic_write_text

    def full_disk(path, text, *args, **kwargs):
        if path.name == batch.SUPERSEDED:
            raise OSError(28, "No space left on device", str(path))
        return real_write(path, text, *args, **kwargs)

    monkeypatch.setattr(batch, "atomic_write_text", full_disk)
    with pytest.raises(OSError):
        run_batch(manifest, out, pipeline_with(models, hairloss=0.3), progress=False, plots=False)
    assert read(out / "results.csv") == before  # nothing left results.csv before the trail had it
    monkeypatch.setattr(batch, "atomic_write_text", real_write)
    again = run_batch(manifest, out, pipeline_with(models, hairloss=0.3), progress=False, plots=False)
    assert [r for _, _, r in again.recomputed] == ["hair-loss threshold changed"] * 2
    assert [r["salt"] for r in read(out / "superseded.csv")] == [r["salt"] for r in before]


def test_a_number_edited_by_hand_is_recomputed_not_a_traceback(models, photos, tmp_path):  # noqa: F811
    manifest = trial(tmp_path, photos, VISITS[:2])
    out = tmp_path / "out"
    run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    before = read(out / "results.csv")
    edited = [dict(r) for r in before]
    edited[0]["salt"] = "12.x"
    with open(out / "results.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(before[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(edited)
    summary = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    assert summary.recomputed[0] == ("P1", "v1", "row edited by hand (salt '12.x' is not a number)")
    assert read(out / "results.csv") == before  # the same photographs and model give the same rows again
    assert read(out / "superseded.csv")[0]["salt"] == "12.x"
    assert row_problem({"salt": "inf"}) and row_problem({"top_pct": "12,5"}) and row_problem({"salt": ""}) is None


def test_a_dataset_that_cannot_fit_on_the_disk_is_refused_before_writing(tmp_path, monkeypatch):
    """convert wrote memory-mapped arrays; a disk that filled up killed it with SIGBUS, no word said."""
    from collections import namedtuple

    import alonet.system.preflight as preflight
    from alonet.data.dataset import DatasetWriter
    from alonet.errors import OutputNotWritableError

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 60 * 10**6, 60 * 10**6))
    with pytest.raises(OutputNotWritableError, match=r"only 60 MB free .* the dataset folder needs about 102 MB"):
        with DatasetWriter(tmp_path / "ds", count=1000, size=128):  # 1000 x 128 x 128 x 5 bytes = 82 MB
            pass
    assert list(tmp_path.iterdir()) == []
    import numpy as np

    with DatasetWriter(tmp_path / "small", count=10, size=128) as writer:  # 0.8 MB fits
        writer.add(np.zeros((128, 128, 3), np.uint8), np.ones((128, 128), np.uint8), np.zeros((128, 128), np.uint8),
                   patient="P1", visit="1", view="top")
    assert (tmp_path / "small" / "images.npy").is_file()


@pytest.mark.skipif(not hasattr(os, "posix_fallocate"), reason="no posix_fallocate on this system")
def test_a_dataset_reserves_its_arrays_on_the_disk_before_the_samples_arrive(tmp_path):
    """The check before writing cannot see a disk that another writer fills meanwhile: sparse
    memory-mapped arrays then died of SIGBUS (convert exited 135, no word said, seen on a tmpfs
    filled during the run). Reserved blocks make a full disk an OSError when the writer opens."""
    import numpy as np

    from alonet.data.dataset import DatasetWriter

    with DatasetWriter(tmp_path / "ds", count=40, size=128) as writer:
        for name in ("images.npy", "scalp.npy", "hairloss.npy"):
            stat = os.stat(writer.folder / name)
            assert stat.st_blocks * 512 >= stat.st_size, name  # every byte has its block
        for _ in range(3):  # fewer samples than the capacity: the arrays are copied to shorter ones
            writer.add(np.zeros((128, 128, 3), np.uint8), np.ones((128, 128), np.uint8),
                       np.zeros((128, 128), np.uint8), patient="P1", visit="1", view="top")
    assert np.load(tmp_path / "ds" / "scalp.npy").shape == (3, 128, 128)


def test_a_disk_full_while_reserving_the_arrays_is_an_error_that_leaves_nothing(tmp_path, monkeypatch):
    import errno

    import alonet.data.dataset as dataset

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dataset.os, "posix_fallocate", full, raising=False)
    with pytest.raises(OSError, match="No space left on device"):
        with dataset.DatasetWriter(tmp_path / "ds", count=10, size=64):
            pass
    assert list(tmp_path.iterdir()) == []


def test_the_report_key_is_never_written_over_one_another_run_just_made(tmp_path, monkeypatch):
    """Two ``alonet batch --deidentify`` runs into one folder: the second to finish moved its
    new key over the first one's (os.replace), so the folders the first had named could no
    longer be found. Now the key another run made meanwhile is kept and used."""
    import secrets

    from alonet.report.batch.folders import KEY_FILE, read_key, report_key

    theirs = "ab" * 32
    real_token_hex = secrets.token_hex

    def another_run_finishes_first(n):
        (tmp_path / KEY_FILE).write_text(theirs + "\n")  # after this run found no key
        return real_token_hex(n)

    monkeypatch.setattr(secrets, "token_hex", another_run_finishes_first)
    assert report_key(tmp_path) == bytes.fromhex(theirs)
    assert read_key(tmp_path) == bytes.fromhex(theirs)
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]  # no temporary file left


def test_a_new_report_key_is_private_and_kept(tmp_path):
    from alonet.report.batch.folders import KEY_FILE, read_key, report_key

    key = report_key(tmp_path)
    assert len(key) == 32 and read_key(tmp_path) == key and report_key(tmp_path) == key
    assert oct((tmp_path / KEY_FILE).stat().st_mode & 0o777) == "0o600"


def test_a_report_key_gone_as_soon_as_made_stops_with_a_message(tmp_path, monkeypatch):
    """The key file deleted between its making and its reading (another program clearing the
    folder): ``report_key`` returned None, which broke later as a TypeError in the HMAC of the
    first de-identified folder name (found by mypy). Now it stops with a DatasetError."""
    from alonet.errors import DatasetError
    from alonet.report.batch import folders as batch_folders

    monkeypatch.setattr(batch_folders, "create_hex_key", lambda path: None)  # made and deleted at once
    with pytest.raises(DatasetError, match="disappeared"):
        batch_folders.report_key(tmp_path)


def test_a_deidentified_run_moves_every_identified_report_out_of_reports(tmp_path):
    """A privacy audit (thirty-fourth session): `batch --reports --deidentify` after an identified
    run left the identified folders of visits it did not score (renamed in the manifest before
    sharing, or not chosen with --only) in reports/, the folder the README says to share alone."""
    import json

    from alonet.report.batch.folders import SUPERSEDED_DIR, supersede_identified, tidy_reports

    reports = tmp_path / "reports"
    for name, deidentified in (("Jane_Doe_1-efa9d7fa", False), ("visit-0123456789abcdef", True)):
        (reports / name).mkdir(parents=True)
        (reports / name / "report.json").write_text(json.dumps({"deidentified": deidentified}))
    (reports / "unreadable").mkdir()  # no report.json: it cannot say it is de-identified
    (reports / "visit-fedcba9876543210").mkdir()  # a de-identified name without its report yet: kept
    (reports / ".visit-0011223344556677.tmp-host-1-ab").mkdir()  # another run writing it: kept
    tidy_reports(tmp_path, "20261208T000000Z", key_is_new=False)  # an identified run's tidying keeps them
    assert len(list(reports.iterdir())) == 5
    supersede_identified(tmp_path, "20261208T000000Z")
    assert sorted(p.name for p in reports.iterdir()) == [".visit-0011223344556677.tmp-host-1-ab",
                                                         "visit-0123456789abcdef", "visit-fedcba9876543210"]
    assert sorted(p.name for p in (tmp_path / SUPERSEDED_DIR).iterdir()) == [
        "Jane_Doe_1-efa9d7fa.superseded-20261208T000000Z", "unreadable.superseded-20261208T000000Z"]
