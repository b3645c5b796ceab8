"""The store database's schema and its upgrades.

The schema version is SQLite's ``PRAGMA user_version``; :data:`MIGRATIONS` lists the steps
from an empty database to the current schema (append a step, never edit one), and
:func:`migrate` applies the missing ones, each step in one transaction
(:class:`alonet.store.storage.Store` runs it when it opens a folder). A database written by a
newer AloNet is refused rather than guessed at. An index a store query needs is a step too
(step 6), so every store has it whether it was made new or upgraded.
"""

from __future__ import annotations

import json
import sqlite3
from types import MappingProxyType

from alonet.scoring.salt import salt_result
from alonet.store.errors import StoreError
from alonet.views import VIEWS

_V1 = """
CREATE TABLE patients (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);
CREATE TABLE visits (
    id          INTEGER PRIMARY KEY,
    patient_id  INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
    visit_date  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    salt        REAL,
    grade       TEXT,
    band        TEXT,
    missing     TEXT NOT NULL DEFAULT '',
    summary     TEXT NOT NULL
);
CREATE TABLE view_images (
    id            INTEGER PRIMARY KEY,
    visit_id      INTEGER NOT NULL REFERENCES visits(id) ON DELETE CASCADE,
    view          TEXT NOT NULL,
    photo_file    TEXT NOT NULL,
    scalp_file    TEXT NOT NULL,
    hairloss_file TEXT NOT NULL,
    loss_pct      REAL,
    confidence    REAL,
    flags         TEXT NOT NULL DEFAULT '[]',
    corrected     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (visit_id, view)
);
"""

_V2 = """
ALTER TABLE visits ADD COLUMN model TEXT NOT NULL DEFAULT '';
CREATE INDEX visits_by_patient ON visits (patient_id, visit_date);
"""

_V3 = """
ALTER TABLE visits ADD COLUMN reviewed_at TEXT;
CREATE INDEX visits_by_review ON visits (reviewed_at);
"""

_V4 = """
CREATE TABLE id_high_water (
    name  TEXT PRIMARY KEY,
    last  INTEGER NOT NULL
);
INSERT INTO id_high_water (name, last) SELECT 'patients', COALESCE(MAX(id), 0) FROM patients;
INSERT INTO id_high_water (name, last) SELECT 'visits', COALESCE(MAX(id), 0) FROM visits;
"""

_V5 = """
ALTER TABLE visits ADD COLUMN scored_with TEXT NOT NULL DEFAULT '{}';
"""

# Step 6: indexes only. Deleting or updating a visit, deleting a patient and saving a reopened
# visit ask, for every image file involved, whether any row still names it
# (``Store._referenced``: photo_file = ? OR scalp_file = ? OR hairloss_file = ?). Without these
# indexes each ask scanned all of view_images: deleting a patient with 100 visits in a
# 10,000-visit store took 6.7 s inside the write transaction, holding up every save; with
# them SQLite answers the OR from the three indexes (MULTI-INDEX OR) and it took 0.07 s.
# Every other query of storage.py already finds its rows by a primary key, visits_by_patient,
# visits_by_review or view_images' UNIQUE (visit_id, view), or reads the whole table anyway.
_V6 = """
CREATE INDEX IF NOT EXISTS view_images_by_photo ON view_images (photo_file);
CREATE INDEX IF NOT EXISTS view_images_by_scalp ON view_images (scalp_file);
CREATE INDEX IF NOT EXISTS view_images_by_hairloss ON view_images (hairloss_file);
"""

#: Schema steps; step ``i`` takes a database from version ``i`` to ``i + 1``.
#: Version 1: patients, visits, per-view images. Version 2: the model that
#: scored each visit, and an index for the patient page. Version 3: when a
#: visit was marked "reviewed — use for training" (NULL: not reviewed).
#: Version 4: the highest patient and visit id ever given, so ids are never
#: reused (a page or form naming a deleted record cannot reach a newer one).
#: Version 5: what scored each visit (``scored_with``: the pipeline's provenance with the
#: model checksum and thresholds, JSON; ``{}`` for visits saved before it was recorded).
#: Version 6: indexes on the three file columns of ``view_images``, so asking whether a
#: row still names a file (before deleting it) no longer reads the whole table.
MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5, _V6)
SCHEMA_VERSION = len(MIGRATIONS)


def _salts_from_view_numbers(conn: sqlite3.Connection) -> None:
    """Step 5's data part: visits saved before it kept their SALT rounded to 2 decimals, while
    their report weighs the per-view numbers again, so at a 0.05 boundary the pages said 16.6
    and the report 16.7. Their SALT, grade and band are re-derived from the stored per-view
    numbers, as every report does (:func:`alonet.web.reports.stored_view_states`)."""
    rows = conn.execute("SELECT id, summary FROM visits WHERE salt IS NOT NULL").fetchall()
    for visit_id, summary_text in rows:
        percents = dict(conn.execute("SELECT view, loss_pct FROM view_images WHERE visit_id = ?", (visit_id,)))
        if set(percents) != set(VIEWS) or any(p is None for p in percents.values()):
            continue
        score = salt_result(percents)
        summary = json.loads(summary_text)
        summary["salt"] = score.salt
        conn.execute("UPDATE visits SET salt = ?, grade = ?, band = ?, summary = ? WHERE id = ?",
                     (score.salt, score.grade, score.band, json.dumps(summary), visit_id))


#: Data changes that run inside a schema step's transaction, after its SQL (by the version reached).
AFTER_STEP = MappingProxyType({5: _salts_from_view_numbers})


def _check_known(version: int) -> None:
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the database has schema version {version}, newer than this AloNet understands "
            f"({SCHEMA_VERSION})",
            fix="upgrade AloNet, or give --store a different folder",
        )


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the database on ``conn`` to schema ``target``; return the version it had.

    Each step runs in its own transaction together with the version bump, so an
    interrupted upgrade leaves the database at the last completed version. The version is
    read again inside each step's transaction: two processes opening one store at once (two
    servers started together) would otherwise both apply a step ("table already exists").
    """
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    _check_known(current)
    for version in range(current, target):
        statements = [s.strip() for s in MIGRATIONS[version].split(";") if s.strip()]
        conn.execute("BEGIN IMMEDIATE")
        try:
            reached = int(conn.execute("PRAGMA user_version").fetchone()[0])
            _check_known(reached)
            if reached > version:  # another process applied this step meanwhile
                conn.execute("COMMIT")
                continue
            for statement in statements:
                conn.execute(statement)
            if version + 1 in AFTER_STEP:
                AFTER_STEP[version + 1](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return current
