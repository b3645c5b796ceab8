"""Schema step 6: the indexes that let the store ask whether a row still names an image file.

Deleting a patient or a visit, updating a visit and saving a reopened visit ask, for every
file involved, ``storage.REFERENCED_QUERY``. Without an index on the three file columns of
``view_images`` each ask read the whole table (6.7 s to delete a 100-visit patient in a
10,000-visit store, inside the write transaction). These tests check the plan SQLite
chooses, never timings.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alonet.store.schema import SCHEMA_VERSION, migrate
from alonet.store.storage import DB_NAME, IMAGES_DIR, REFERENCED_QUERY, Store

FILE_INDEXES = {"view_images_by_photo", "view_images_by_scalp", "view_images_by_hairloss"}
VIEWS = ("top", "back", "left", "right")


def name(visit: int, view: int, kind: str) -> str:
    """A stored-looking file name (32 hex digits) for one visit's view."""
    suffix = ".jpg" if kind == "p" else ".png"
    return f"{ord(kind):02x}{visit:014x}{view:016x}{suffix}"


def add_rows(conn: sqlite3.Connection, root: Path, visits: range, shared_photo: str | None = None) -> None:
    """Patient 1 with ``visits``, each with four views and its files written; with
    ``shared_photo`` every visit's top view names that photograph (a reopened visit saved as new)."""
    conn.execute("INSERT OR IGNORE INTO patients (id, code, created_at) VALUES (1, 'AA-101', '2024-01-01')")
    for visit in visits:
        conn.execute("INSERT INTO visits (id, patient_id, visit_date, created_at, salt, summary) "
                     "VALUES (?, 1, '2024-01-02', '2024-01-02', 12.5, '{}')", (visit,))
        for i, view in enumerate(VIEWS):
            photo = shared_photo if shared_photo and view == "top" else name(visit, i, "p")
            files = (photo, name(visit, i, "s"), name(visit, i, "h"))
            conn.execute("INSERT INTO view_images (visit_id, view, photo_file, scalp_file, hairloss_file, loss_pct) "
                         "VALUES (?, ?, ?, ?, ?, 10.0)", (visit, view, *files))
            for file in files:
                (root / IMAGES_DIR / file).write_bytes(b"x")


def index_names(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[1] for row in conn.execute("PRAGMA index_list('view_images')")}


def plan(conn: sqlite3.Connection, query: str, params: tuple) -> list[str]:
    return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + query, params)]


def test_a_schema_5_store_gets_the_file_indexes_when_opened(tmp_path):
    root = tmp_path / "v5"
    (root / IMAGES_DIR).mkdir(parents=True)
    shared = name(0, 0, "p")
    with sqlite3.connect(root / DB_NAME, isolation_level=None) as conn:
        assert migrate(conn, target=5) == 0
        add_rows(conn, root, range(1, 3), shared_photo=shared)
    assert not FILE_INDEXES & index_names(root / DB_NAME)

    store = Store(root)
    assert store.schema_version() == SCHEMA_VERSION >= 6
    assert FILE_INDEXES <= index_names(root / DB_NAME)
    assert len(store.get_visit(1).views) == 4 and store.get_visit(2).views["top"].photo_file == shared
    # The files a row still names stay: the shared photograph outlives the first visit's deletion.
    assert store.delete_visit(1)
    assert (root / IMAGES_DIR / shared).is_file()
    assert not (root / IMAGES_DIR / name(1, 0, "s")).exists() and not (root / IMAGES_DIR / name(1, 1, "p")).exists()
    assert store.delete_patient(1)
    assert [p for p in (root / IMAGES_DIR).iterdir() if not p.name.startswith(".")] == []
    assert Store(root).schema_version() == SCHEMA_VERSION  # opening again changes nothing


def test_step_6_keeps_an_index_of_that_name_made_by_hand(tmp_path):
    root = tmp_path / "by-hand"
    root.mkdir()
    with sqlite3.connect(root / DB_NAME, isolation_level=None) as conn:
        assert migrate(conn, target=5) == 0
        conn.execute("CREATE INDEX view_images_by_photo ON view_images (photo_file)")
    assert Store(root).schema_version() == SCHEMA_VERSION
    assert FILE_INDEXES <= index_names(root / DB_NAME)


def test_asking_whether_a_file_is_named_uses_the_three_indexes(tmp_path):
    store = Store(tmp_path / "store")
    with store.transaction() as conn:
        add_rows(conn, store.root, range(1, 51))
    with store._raw() as conn:
        steps = plan(conn, REFERENCED_QUERY, (name(7, 1, "s"),))
        assert "MULTI-INDEX OR" in steps, steps
        for index in FILE_INDEXES:
            assert any(f"USING INDEX {index} " in step or f"USING COVERING INDEX {index} " in step
                       for step in steps), (index, steps)
        assert not any(step.startswith("SCAN") for step in steps), steps
        assert Store._referenced(conn, name(7, 1, "s")) and Store._referenced(conn, name(50, 3, "h"))
        assert not Store._referenced(conn, name(51, 0, "p"))


class _Racing:
    """A connection whose first read of the schema version is from before another process
    upgraded the database (two servers started on one store at once)."""

    def __init__(self, conn: sqlite3.Connection, stale: int):
        self.conn, self.stale = conn, stale

    def execute(self, sql: str, *args):
        if self.stale is not None and sql == "PRAGMA user_version":
            stale, self.stale = self.stale, None
            return self.conn.execute(f"SELECT {stale}")
        return self.conn.execute(sql, *args)


def test_a_store_upgraded_by_another_process_meanwhile_is_not_upgraded_twice(tmp_path):
    """Before: both processes applied step 1 ("table patients already exists"), step 5 ("duplicate
    column name"), and the one that lost did not start (an audit: 10 of 10 simultaneous opens)."""
    path = tmp_path / "db.sqlite3"
    other = sqlite3.connect(path, isolation_level=None)
    migrate(other)  # the other server, a moment earlier
    mine = sqlite3.connect(path, isolation_level=None)
    assert migrate(_Racing(mine, 0)) == 0  # type: ignore[arg-type]
    assert mine.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert migrate(_Racing(mine, 4)) == 4  # type: ignore[arg-type]


def test_switching_to_wal_waits_for_another_process_holding_the_new_database(tmp_path, monkeypatch):
    """Before: SQLite answers "database is locked" at once to the switch (no busy wait), so the
    second of two servers started on one new store failed to start."""
    from alonet.store import storage

    calls = []

    class Busy:
        def __init__(self, conn):
            self.conn = conn

        def execute(self, sql, *args):
            if sql.startswith("PRAGMA journal_mode =") and len(calls) < 3:
                calls.append(sql)
                raise sqlite3.OperationalError("database is locked")
            return self.conn.execute(sql, *args)

    conn = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    storage._use_wal(Busy(conn))  # type: ignore[arg-type]
    assert len(calls) == 3 and conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    monkeypatch.setattr(storage, "WAL_WAIT_S", 0.0)
    fresh = sqlite3.connect(tmp_path / "other.sqlite3", isolation_level=None)
    calls.clear()
    try:
        storage._use_wal(Busy(fresh))  # type: ignore[arg-type]
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
    else:
        raise AssertionError("a database that stays locked must end in the error")
