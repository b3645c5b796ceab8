"""A damaged or missing store database, and a full disk under the store (an interruption audit,
2026-12-07): a page of random bytes gave a server whose pages were all 500s and tracebacks in
``convert --from-store``; a zero-byte database started an empty store beside 120 orphaned files;
a save on a full disk answered a bare 500.
"""

from __future__ import annotations

import os
import sqlite3

import pytest
from test_web import csrf_token, make_app, model_dir, pipeline  # noqa: F401


from alonet.store.errors import StoreError
from alonet.store.storage import DB_NAME, IMAGES_DIR, Store


def filled_store(root, patients=60):
    store = Store(root)
    for i in range(patients):
        store.create_patient(f"AA-{i:03d}-" + "x" * 40)
    with sqlite3.connect(root / DB_NAME) as conn:  # fold the write-ahead log into the file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return store


def test_a_damaged_database_is_refused_in_one_line(tmp_path):
    root = tmp_path / "store"
    filled_store(root)
    size = (root / DB_NAME).stat().st_size
    assert size > 8192
    with open(root / DB_NAME, "r+b") as fh:
        fh.seek(4096)
        fh.write(os.urandom(4096))
    with pytest.raises(StoreError, match=r"(the database is damaged|the database cannot be opened).*restore|"
                                         r"cannot be opened"):
        Store(root)


def test_an_empty_or_missing_database_beside_stored_files_is_refused(tmp_path):
    root = tmp_path / "store"
    Store(root)
    (root / IMAGES_DIR / "0123abcd.jpg").write_bytes(b"a stored photograph")
    (root / DB_NAME).write_bytes(b"")
    with pytest.raises(StoreError, match=r"the database is empty, but images/ holds 1 stored file\(s\).*restore "
                                         r"alonet.sqlite3 from a backup"):
        Store(root)
    (root / DB_NAME).unlink()
    with pytest.raises(StoreError, match="the database is missing"):
        Store(root)
    fresh = Store(tmp_path / "new")  # an empty folder is still a new store
    assert fresh.list_patients() == []


def test_a_full_disk_under_the_store_says_so(make_app, tmp_path, monkeypatch):  # noqa: F811
    app = make_app(store=str(tmp_path / "store"))
    client = app.test_client()

    def full(self, code):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Store, "create_patient", full)
    r = client.post("/patients", data={"csrf_token": csrf_token(client), "code": "AA-001"})
    assert r.status_code == 507 and "its disk is full" in r.get_data(as_text=True)


def test_visits_saved_before_step_5_get_the_salt_their_report_weighs(tmp_path):
    """An upgrade check (2026-12-07): a schema-4 store kept SALT 16.65 (2 decimals of 16.652): the
    pages said 16.6 and the report, weighing the per-view numbers, 16.7."""
    import json

    from alonet.scoring.salt import shown_salt
    from alonet.store.schema import migrate

    root = tmp_path / "old"
    root.mkdir()
    (root / IMAGES_DIR).mkdir()
    percents = {"top": 20.0, "back": 10.0, "left": 17.0, "right": 17.73}
    with sqlite3.connect(root / DB_NAME, isolation_level=None) as conn:
        assert migrate(conn, target=4) == 0
        conn.execute("INSERT INTO patients (id, code, created_at) VALUES (1, 'AA-101', '2026-01-01')")
        summary = {"salt": 16.65, "grade": "S1", "band": "limited", "withheld": [], "retake": False}
        conn.execute("INSERT INTO visits (id, patient_id, visit_date, created_at, salt, grade, band, missing, summary,"
                     " model) VALUES (1, 1, '2026-01-02', '2026-01-02', 16.65, 'S1', 'limited', '', ?, 'default')",
                     (json.dumps(summary),))
        for i, (view, pct) in enumerate(percents.items()):
            conn.execute("INSERT INTO view_images (visit_id, view, photo_file, scalp_file, hairloss_file, loss_pct,"
                         " confidence, flags, corrected) VALUES (1, ?, ?, ?, ?, ?, 1.0, '[]', 0)",
                         (view, f"p{i}.jpg", f"s{i}.png", f"h{i}.png", pct))
    assert shown_salt(16.65) == "16.6"
    visit = Store(root).get_visit(1)
    expected = 0.4 * 20.0 + 0.24 * 10.0 + 0.18 * 17.0 + 0.18 * 17.73
    assert visit.salt == pytest.approx(expected) and shown_salt(visit.salt) == "16.7"
    assert visit.summary["salt"] == pytest.approx(expected) and visit.grade == "S1"
    assert visit.scored_with == {}


@pytest.mark.parametrize("summary, asked", [
    ({"provisional_requested": True, "provisional": False, "withheld": [], "retake": True}, True),
    ({"provisional_requested": False, "provisional": False, "withheld": ["back"], "retake": True}, False),
    ({"provisional": False, "withheld": [], "retake": True}, True),   # saved before it was recorded: incomplete
    ({"provisional": False, "withheld": ["back"], "retake": True}, False),
    ({"provisional": True, "withheld": [], "retake": True}, True),
])
def test_a_visit_remembers_that_a_provisional_salt_was_asked_for(summary, asked):
    """A provisional request that ended "incomplete" came back "withheld" in its report and when reopened."""
    from alonet.store.records import Visit

    visit = Visit(id=1, patient_id=1, visit_date="2026-01-01", created_at="", salt=None, grade=None, band=None,
                  missing=(), summary=summary, model="default")
    assert visit.provisional_requested is asked and visit.provisional is False


def test_upload_temporaries_left_by_a_killed_server_are_removed(tmp_path):
    root = tmp_path / "store"
    Store(root)
    old, fresh = root / IMAGES_DIR / ".incoming-abc", root / IMAGES_DIR / ".incoming-def"
    old.write_bytes(b"half a photograph")
    fresh.write_bytes(b"a write in progress")
    hours_ago = old.stat().st_mtime - 2 * Store.STALE_INCOMING_S
    os.utime(old, (hours_ago, hours_ago))
    Store(root)
    assert not old.exists() and fresh.exists()


def test_a_store_the_server_may_not_write_or_cannot_reach_says_so(tmp_path):
    """A save refused by the file system (EACCES, EPERM) or a store folder that went away
    answered "internal error: the server could not finish this request"."""
    import errno

    from alonet.web.app import store_failure

    store = Store(tmp_path / "store")
    inside = str(store.images / ".incoming-x")
    message, status = store_failure(PermissionError(errno.EACCES, "Permission denied", inside), store)
    assert status == 500 and "the server may not write there (permission denied)" in message
    message, status = store_failure(FileNotFoundError(errno.ENOENT, "No such file", inside), store)
    assert status == 503 and "cannot be reached (unplugged, unmounted or moved?)" in message
    message, status = store_failure(sqlite3.OperationalError("unable to open database file"), store)
    assert status == 503
    assert store_failure(OSError(errno.ENOSPC, "No space left on device"), store)[1] == 507
    # a file outside the store (a model, a static file) is not the store's problem
    assert store_failure(PermissionError(errno.EACCES, "Permission denied", "/opt/models/x.onnx"), store) is None
    sibling = str(tmp_path / "store-models" / "x.onnx")  # its name begins with the store's, but it is not in it
    assert store_failure(PermissionError(errno.EACCES, "Permission denied", sibling), store) is None
    assert store_failure(sqlite3.OperationalError("no such table: visits"), store) is None
