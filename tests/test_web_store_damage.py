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


from alonet.web.storage import DB_NAME, IMAGES_DIR, Store, StoreError


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
