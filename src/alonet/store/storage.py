"""Patients and visits in SQLite (``--store DIR`` only): the :class:`Store`.

Layout of a store folder::

    DIR/alonet.sqlite3      patients, visits and per-view rows
    DIR/images/<hex>.jpg    photographs (the uploaded JPEG without metadata: no GPS, device or dates)
    DIR/images/<hex>.png    scalp and hair-loss masks (0/255)

File names are random hex chosen here, never taken from an upload. A new store's
folders are created 0700 and its database (and SQLite's -wal/-shm beside it) 0600,
whatever the umask; an existing store keeps its modes (:meth:`Store.open_to_others`
lists what other users can read, and ``alonet serve`` warns). When it opens a folder,
:class:`Store` brings the database to the current schema (:mod:`alonet.store.schema`: each
missing step in one transaction; a database written by a newer AloNet is refused).

Every method opens its own connection, so one ``Store`` can be shared by the
server's threads. Deleting a patient or a visit removes its rows and its image
files, each file only once no row names it any more (:data:`REFERENCED_QUERY`, answered
from schema step 6's indexes; a reopened visit saved as new shares its photograph). The
records it hands out are in :mod:`alonet.store.records`, the checks of what a user types in
:mod:`alonet.store.checks`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import re
import secrets
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alonet.errors import InvalidValueError
from alonet.store.checks import check_patient_code, check_visit_date
from alonet.store.errors import DamagedRecordError, StoreError, VisitChangedError
from alonet.store.records import NewView, Patient, StoredView, Visit, salt_status
from alonet.store.schema import migrate
from alonet.views import VIEWS

LOG = logging.getLogger(__name__)

DB_NAME = "alonet.sqlite3"
IMAGES_DIR = "images"
#: The name of an image file the store wrote: 32 random hex digits and .jpg or .png.
_STORED_NAME = re.compile(r"[0-9a-f]{32}\.(jpg|png)")
#: Whether a row still names the stored file ``?1`` (asked for every file of a deleted or
#: replaced visit before the file is removed). Schema step 6's indexes on the three columns
#: answer it without reading the whole table (a test checks its query plan).
REFERENCED_QUERY = ("SELECT 1 FROM view_images WHERE photo_file = ?1 OR scalp_file = ?1 OR hairloss_file = ?1"
                    " LIMIT 1")


def _next_id(conn: sqlite3.Connection, table: str) -> int:
    """The id of a new row of ``table`` (patients or visits), inside the caller's transaction:
    one above every id the table ever held, deleted rows included."""
    (last,) = conn.execute("SELECT last FROM id_high_water WHERE name = ?", (table,)).fetchone()
    (top,) = conn.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()
    new = max(int(last), int(top)) + 1
    conn.execute("UPDATE id_high_water SET last = ? WHERE name = ?", (new, table))
    return new


def _summary_columns(summary: dict) -> tuple:
    """The ``visits`` columns taken from a visit's summary: salt, grade, band, missing, summary JSON."""
    return (summary.get("salt"), summary.get("grade"), summary.get("band"),
            ",".join(summary.get("missing") or ()), json.dumps(summary, sort_keys=True))


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


# --------------------------------------------------------------------------- store

#: Modes of what a new store creates, whatever the umask: the owner alone may read the
#: database (patient codes, dates, scores) and the photographs.
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def _private_dir(path: Path, parents: bool = False) -> None:
    """Create ``path`` with mode 0700 (its missing parents as the umask says); an existing
    folder keeps its mode."""
    if path.is_dir():
        return
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise
        return  # made by another process meanwhile
    if os.name != "nt":
        with contextlib.suppress(OSError):  # FAT/exFAT and some FUSE mounts have no modes to set
            os.chmod(path, PRIVATE_DIR_MODE)  # exactly 0700, also under an unusual umask


def _private_file(path: Path) -> None:
    """Create an empty database file with mode 0600 before SQLite first opens it (SQLite gives
    its -wal and -shm files the database file's mode); an existing file keeps its mode."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return
    try:
        if os.name != "nt":
            with contextlib.suppress(OSError):  # file systems without modes
                os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)



def _json_value(text, kind: type, what: str, visit_id: int):
    """A JSON column's value, which must be a ``kind`` (dict or list); DamagedRecordError naming
    the visit when it is not (a hand edit, or damage on disk), not a JSONDecodeError."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        raise DamagedRecordError.of_visit(visit_id, what) from None
    if not isinstance(value, kind):
        raise DamagedRecordError.of_visit(visit_id, what)
    return value


def open_error(exc: sqlite3.DatabaseError, db_path: Path) -> StoreError:
    """What a database that SQLite would not open means, and what to do: damaged (restore it),
    not writable (AloNet writes to the store even to read or export it), or not a store."""
    text = str(exc)
    if re.search(r"not a database|malformed", text):
        return StoreError(f"the database is damaged ({text})", path=db_path,
                          fix=f"restore {DB_NAME} from a backup (the photographs in {IMAGES_DIR}/ are kept)")
    if re.search(r"unable to open|read-?only", text):
        return StoreError(f"the database cannot be opened for writing ({text})", path=db_path,
                          fix="AloNet writes to the store folder even to read or export it (the database keeps a "
                              "write-ahead log): make the folder writable for this user, or copy it somewhere "
                              "writable and give that copy")
    return StoreError(f"the database cannot be opened: {text}", path=db_path,
                      fix="give --store a folder with an AloNet database, or an empty folder")


#: How long opening a store waits for another process that holds it while switching to WAL.
WAL_WAIT_S = 30.0


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the database in write-ahead-log mode. Switching needs the database to itself and
    SQLite answers "locked" at once rather than waiting (two servers starting on one new
    store), so it is tried again for :data:`WAL_WAIT_S`; a database already in WAL is left."""
    deadline = time.monotonic() + WAL_WAIT_S
    while True:
        try:
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Store:
    """A store folder: SQLite database plus image files (see module doc)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        try:
            _private_dir(self.root, parents=True)
            _private_dir(self.images)
        except OSError as exc:
            raise StoreError(f"cannot create the store folder: {exc.strerror}", path=self.root,
                             fix="give --store a folder you can write to") from None
        self._remove_stale_incoming()
        self._check_not_orphaned()
        try:
            _private_file(self.db_path)
        except OSError as exc:
            raise StoreError(f"cannot create the database: {exc.strerror}", path=self.db_path,
                             fix="give --store a folder you can write to") from None
        try:
            with self._raw() as conn:
                _use_wal(conn)
                migrate(conn)
                problems = [row[0] for row in conn.execute("PRAGMA quick_check(3)")]
        except sqlite3.DatabaseError as exc:
            raise open_error(exc, self.db_path) from None
        if problems != ["ok"]:
            raise StoreError(f"the database is damaged ({'; '.join(problems)})", path=self.db_path,
                             fix=f"restore {DB_NAME} from a backup (the photographs in {IMAGES_DIR}/ are kept)")

    #: An upload's temporary file older than this was left by a server that was killed mid-write.
    STALE_INCOMING_S = 3600

    def _remove_stale_incoming(self) -> None:
        """Delete ``images/.incoming-*`` files a killed server left (a write takes well under a
        second; one an hour old belongs to no running request)."""
        cutoff = _dt.datetime.now().timestamp() - self.STALE_INCOMING_S
        for path in self.images.glob(".incoming-*"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                pass

    def _check_not_orphaned(self) -> None:
        """Refuse a missing or empty database beside stored photographs: starting a new, empty
        store there would silently orphan every saved visit's files."""
        if self.db_path.is_file() and self.db_path.stat().st_size > 0:
            return
        files = sum(1 for p in self.images.iterdir() if p.is_file() and not p.name.startswith("."))
        if files:
            state = "is empty" if self.db_path.is_file() else "is missing"
            raise StoreError(f"the database {state}, but {IMAGES_DIR}/ holds {files} stored file(s)",
                             path=self.db_path,
                             fix=f"restore {DB_NAME} from a backup, or move {IMAGES_DIR}/ aside to start a new store")

    def open_to_others(self) -> list[tuple[Path, int]]:
        """The store folder, ``images/`` and the database files (with their modes) that other users
        of the machine may read or enter: a store made by AloNet before 2026-12-07, under a umask
        such as 022, or changed by hand. They are left as they are (the owner may share them on
        purpose); ``alonet serve`` warns about them. Empty on Windows, whose modes say nothing."""
        if os.name == "nt":
            return []
        found = []
        for path in (self.root, self.images, self.db_path, *(self.root / (DB_NAME + s) for s in ("-wal", "-shm"))):
            try:
                mode = path.stat().st_mode & 0o777
            except OSError:
                continue
            if mode & 0o007:
                found.append((path, mode))
        return found

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @property
    def images(self) -> Path:
        return self.root / IMAGES_DIR

    @contextmanager
    def _raw(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside one write transaction (committed on success)."""
        with self._raw() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def schema_version(self) -> int:
        with self._raw() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    # ----------------------------------------------------------------- patients

    def create_patient(self, code: str) -> int:
        """Add a patient with a unique pseudonymous ``code``; return its id. A code equal to an
        existing one ignoring case is refused, naming the existing one (the UNIQUE index is
        case-sensitive, and old stores may hold both spellings already: those stay)."""
        code = check_patient_code(code)
        try:
            with self.transaction() as conn:
                same = conn.execute("SELECT code FROM patients WHERE code = ? COLLATE NOCASE ORDER BY id LIMIT 1",
                                    (code,)).fetchone()
                if same is not None and same["code"] != code:  # AA-101 and aa-101 are one patient
                    raise InvalidValueError(
                        f"patient {same['code']!r} already exists (codes that differ only in case are the same "
                        "patient)", fix=f"choose {same['code']} from the list, or use another code")
                patient_id = _next_id(conn, "patients")
                conn.execute("INSERT INTO patients (id, code, created_at) VALUES (?, ?, ?)",
                             (patient_id, code, _now()))
                return patient_id
        except sqlite3.IntegrityError:
            raise InvalidValueError(f"a patient with code {code!r} already exists",
                                    fix="choose that patient from the list or use another code") from None

    def list_patients(self) -> list[Patient]:
        """All patients with their visit count and latest SALT, by code."""
        query = """
            SELECT p.id, p.code, p.created_at,
                   (SELECT COUNT(*) FROM visits v WHERE v.patient_id = p.id) AS visit_count,
                   (SELECT v.salt FROM visits v WHERE v.patient_id = p.id
                     ORDER BY v.visit_date DESC, v.id DESC LIMIT 1) AS last_salt,
                   (SELECT MAX(v.visit_date) FROM visits v WHERE v.patient_id = p.id) AS last_visit,
                   (SELECT v.summary FROM visits v WHERE v.patient_id = p.id
                     ORDER BY v.visit_date DESC, v.id DESC LIMIT 1) AS last_summary
            FROM patients p ORDER BY p.code COLLATE NOCASE
        """
        with self._raw() as conn:
            rows = [dict(row) for row in conn.execute(query)]
        patients = []
        for row in rows:
            summary = row.pop("last_summary")
            try:  # one damaged visit must not take the whole list down: its own page says what is wrong
                status = None if summary is None else salt_status(_json_value(summary, dict, "summary", 0))
            except DamagedRecordError:
                status = None
            patients.append(Patient(**row, last_status=status))
        return patients

    def get_patient(self, patient_id: int) -> Patient | None:
        with self._raw() as conn:
            row = conn.execute("SELECT id, code, created_at FROM patients WHERE id = ?", (patient_id,)).fetchone()
        return Patient(**dict(row)) if row else None

    def delete_patient(self, patient_id: int) -> bool:
        """Delete a patient, all its visits and their image files; False if absent."""
        with self.transaction() as conn:
            files = self._files_where(conn, "v.patient_id = ?", (patient_id,))
            deleted = conn.execute("DELETE FROM patients WHERE id = ?", (patient_id,)).rowcount
            files = self._unreferenced(conn, files)
        self._unlink(files)
        return bool(deleted)

    # ------------------------------------------------------------------- visits

    def add_visit(self, patient_id: int, visit_date: str, summary: dict, views: Sequence[NewView],
                  model: str = "", scored_with: dict | None = None) -> int:
        """Store a visit: write its image files, then its rows in one transaction.

        ``summary`` is the visit's JSON-ready result (SALT, grade, band, missing,
        per-view numbers); it is kept verbatim for reports. ``scored_with`` records what
        scored it (the pipeline's provenance, JSON-ready). If anything fails the
        files written so far are removed again.
        """
        visit_date = check_visit_date(visit_date)
        written: list[Path] = []
        try:
            rows = self._view_rows(views, written)
            with self.transaction() as conn:
                rows = self._claim_photos(conn, rows, views, written)
                if conn.execute("SELECT 1 FROM patients WHERE id = ?", (patient_id,)).fetchone() is None:
                    raise InvalidValueError(f"patient {patient_id} does not exist", fix="choose a patient from the list")
                visit_id = _next_id(conn, "visits")
                conn.execute(
                    "INSERT INTO visits (id, patient_id, visit_date, created_at, salt, grade, band, missing, summary,"
                    " model, scored_with) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (visit_id, patient_id, visit_date, _now(), *_summary_columns(summary), model,
                     json.dumps(scored_with or {}, sort_keys=True)),
                )
                self._insert_view_rows(conn, visit_id, rows)
            return visit_id
        except BaseException:
            self._unlink(written)
            raise

    def update_visit(self, visit_id: int, visit_date: str, summary: dict, views: Sequence[NewView],
                     model: str = "", scored_with: dict | None = None, expect_stamp: str | None = None) -> str:
        """Replace a stored visit's date, numbers, masks and photographs (a save after more corrections).

        The patient, creation time and review mark stay. New files are written
        first; the old ones are removed only after the rows point to the new
        ones, so a failure leaves the visit as it was. With ``expect_stamp`` the
        update happens only if the visit still has that :meth:`visit_stamp`
        (else :class:`VisitChangedError`, nothing changed). Returns the visit's
        stamp after the update (read in the same transaction, so no other save
        can come between).
        """
        visit_date = check_visit_date(visit_date)
        written: list[Path] = []
        try:
            rows = self._view_rows(views, written)
            with self.transaction() as conn:
                if expect_stamp is not None and self._stamp(conn, visit_id) != expect_stamp:
                    raise VisitChangedError.since_opened(visit_id)
                rows = self._claim_photos(conn, rows, views, written)
                old_files = self._files_where(conn, "v.id = ?", (visit_id,))
                updated = conn.execute(
                    "UPDATE visits SET visit_date = ?, salt = ?, grade = ?, band = ?, missing = ?, summary = ?,"
                    " model = ?, scored_with = ? WHERE id = ?",
                    (visit_date, *_summary_columns(summary), model, json.dumps(scored_with or {}, sort_keys=True),
                     visit_id),
                ).rowcount
                if not updated:
                    raise InvalidValueError(f"visit {visit_id} does not exist", fix="save it as a new visit")
                conn.execute("DELETE FROM view_images WHERE visit_id = ?", (visit_id,))
                self._insert_view_rows(conn, visit_id, rows)
                old_files = self._unreferenced(conn, old_files)  # photographs kept stay
                stamp = self._stamp(conn, visit_id)
        except BaseException:
            self._unlink(written)
            raise
        self._unlink(old_files)
        assert stamp is not None, "the visit was just updated"
        return stamp

    def visit_stamp(self, visit_id: int) -> str | None:
        """A fingerprint of what a save changes in a stored visit (date, numbers, model, files),
        or None when it does not exist. The review mark is not part of it."""
        with self._raw() as conn:
            return self._stamp(conn, visit_id)

    @staticmethod
    def _stamp(conn: sqlite3.Connection, visit_id: int) -> str | None:
        row = conn.execute("SELECT visit_date, salt, summary, model, scored_with FROM visits WHERE id = ?",
                           (visit_id,)).fetchone()
        if row is None:
            return None
        files = conn.execute("SELECT view, photo_file, scalp_file, hairloss_file FROM view_images "
                             "WHERE visit_id = ? ORDER BY view", (visit_id,)).fetchall()
        text = json.dumps([list(row), [list(f) for f in files]], default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def visits_on(self, patient_id: int, visit_date: str) -> list[int]:
        """Ids of the patient's visits filed on ``visit_date`` (YYYY-MM-DD)."""
        with self._raw() as conn:
            rows = conn.execute("SELECT id FROM visits WHERE patient_id = ? AND visit_date = ? ORDER BY id",
                                (patient_id, visit_date)).fetchall()
        return [int(row[0]) for row in rows]

    def list_visits(self, patient_id: int) -> list[Visit]:
        """A patient's visits in date order (oldest first), without per-view rows."""
        with self._raw() as conn:
            rows = conn.execute(
                "SELECT * FROM visits WHERE patient_id = ? ORDER BY visit_date, id", (patient_id,)
            ).fetchall()
        return [self._visit(row) for row in rows]

    def get_visit(self, visit_id: int) -> Visit | None:
        """A visit with its per-view rows, or None."""
        return self._read_visit(visit_id, with_stamp=False)[0]

    def visit_and_stamp(self, visit_id: int) -> tuple[Visit | None, str | None]:
        """A visit and its :meth:`visit_stamp`, read in one transaction (as one moment of the
        store): a page that shows the visit and sends its stamp back with a save never pairs
        another server's newer stamp with the masks it showed. (None, None) when absent."""
        return self._read_visit(visit_id, with_stamp=True)

    def _read_visit(self, visit_id: int, with_stamp: bool) -> tuple[Visit | None, str | None]:
        with self._raw() as conn:
            conn.execute("BEGIN")  # a read transaction: every SELECT below sees the same store
            try:
                row = conn.execute("SELECT * FROM visits WHERE id = ?", (visit_id,)).fetchone()
                if row is None:
                    return None, None
                view_rows = conn.execute("SELECT * FROM view_images WHERE visit_id = ?", (visit_id,)).fetchall()
                stamp = self._stamp(conn, visit_id) if with_stamp else None
            finally:
                conn.execute("COMMIT")
        return self._visit_from_rows(row, view_rows, visit_id), stamp

    def _visit_from_rows(self, row: sqlite3.Row, view_rows: list[sqlite3.Row], visit_id: int) -> Visit:
        views = {
            r["view"]: StoredView(
                view=r["view"], photo_file=r["photo_file"], scalp_file=r["scalp_file"],
                hairloss_file=r["hairloss_file"], loss_pct=r["loss_pct"], confidence=r["confidence"],
                flags=tuple(_json_value(r["flags"], list, f"{r['view']} view's flags", visit_id)),
                corrected=bool(r["corrected"]),
            )
            for r in view_rows
        }
        ordered = {v: views[v] for v in VIEWS if v in views}
        return self._visit(row, ordered)

    def delete_visit(self, visit_id: int) -> bool:
        """Delete a visit and its image files; False if absent."""
        with self.transaction() as conn:
            files = self._files_where(conn, "v.id = ?", (visit_id,))
            deleted = conn.execute("DELETE FROM visits WHERE id = ?", (visit_id,)).rowcount
            files = self._unreferenced(conn, files)  # a reopened copy saved as a new visit may share its photograph
        self._unlink(files)
        return bool(deleted)

    def set_reviewed(self, visit_id: int, reviewed: bool, expect_stamp: str | None = None) -> str | None:
        """Mark a visit "reviewed — use for training" (or take the mark back).

        Returns the visit's ``reviewed_at`` afterwards (None when not reviewed);
        marking an already reviewed visit keeps its first time. Raises
        InvalidValueError when the visit does not exist. With ``expect_stamp`` the
        mark is set only if the visit still has that :meth:`visit_stamp` (else
        :class:`VisitChangedError`: a page may not mark masks it never showed).
        """
        with self.transaction() as conn:
            row = conn.execute("SELECT reviewed_at FROM visits WHERE id = ?", (visit_id,)).fetchone()
            if row is None:
                raise InvalidValueError(f"visit {visit_id} does not exist", fix="choose a visit from a patient's page")
            if expect_stamp is not None and self._stamp(conn, visit_id) != expect_stamp:
                raise VisitChangedError.since_opened(visit_id)
            stamp = (row["reviewed_at"] or _now()) if reviewed else None
            conn.execute("UPDATE visits SET reviewed_at = ? WHERE id = ?", (stamp, visit_id))
        return stamp

    def visit_ids(self, reviewed_only: bool = False) -> list[int]:
        """Ids of all stored visits (or only the reviewed ones), by patient code, date, id."""
        condition = "WHERE v.reviewed_at IS NOT NULL" if reviewed_only else ""
        query = (f"SELECT v.id FROM visits v JOIN patients p ON p.id = v.patient_id {condition} "
                 "ORDER BY p.code COLLATE NOCASE, v.visit_date, v.id")
        with self._raw() as conn:
            return [int(row[0]) for row in conn.execute(query)]

    def visit_count(self, reviewed_only: bool = False) -> int:
        """How many visits are stored (or reviewed): :meth:`visit_ids`'s length, counted by SQLite."""
        condition = " WHERE reviewed_at IS NOT NULL" if reviewed_only else ""
        with self._raw() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM visits{condition}").fetchone()[0])

    def image_file(self, name: str) -> Path:
        """Absolute path of a stored image file name (only names this store made)."""
        if not _STORED_NAME.fullmatch(name):
            raise StoreError(f"not a stored image name: {name[:40]!r}")
        return self.images / name

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _visit(row: sqlite3.Row, views: dict[str, StoredView] | None = None) -> Visit:
        return Visit(
            id=row["id"], patient_id=row["patient_id"], visit_date=row["visit_date"],
            created_at=row["created_at"], salt=row["salt"], grade=row["grade"], band=row["band"],
            missing=tuple(m for m in row["missing"].split(",") if m),
            summary=_json_value(row["summary"], dict, "summary", row["id"]),
            model=row["model"], views=views or {}, reviewed_at=row["reviewed_at"],
            scored_with=_json_value(row["scored_with"] or "{}", dict, "record of what scored it", row["id"]),
        )

    def _view_rows(self, views: Sequence[NewView], written: list[Path]) -> list[tuple]:
        """Write each view's files; return its ``view_images`` values (without the visit id). A
        photograph the store may still hold (``photo_file``) is not written here: the transaction
        decides (:meth:`_claim_photos`)."""
        rows = []
        for item in views:
            if item.view not in VIEWS:
                raise InvalidValueError(f"unknown view {item.view!r}", fix="use top, back, left or right")
            if item.photo_file and self.image_file(item.photo_file).is_file():
                photo = item.photo_file
            else:
                photo = self._write_file(item.photo_bytes(), ".jpg", written)
            scalp = self._write_file(item.scalp_png, ".png", written)
            loss = self._write_file(item.hairloss_png, ".png", written)
            rows.append((item.view, photo, scalp, loss, item.loss_pct, item.confidence,
                         json.dumps(list(item.flags)), int(bool(item.corrected))))
        return rows

    def _claim_photos(self, conn: sqlite3.Connection, rows: list[tuple], views: Sequence[NewView],
                      written: list[Path]) -> list[tuple]:
        """Inside the write transaction: keep a reopened visit's photograph file only while a row
        still names it and it is there; otherwise (its visit was deleted meanwhile, and the delete
        removes files no row names) write the photograph again under a new name. Deletes run in
        the same kind of transaction, so a kept file is never removed under the new row."""
        claimed = []
        for row, item in zip(rows, views):
            photo = row[1]
            if item.photo_file and photo == item.photo_file and not (
                    self._referenced(conn, photo) and self.image_file(photo).is_file()):
                row = (row[0], self._write_file(item.photo_bytes(), ".jpg", written), *row[2:])
            claimed.append(row)
        return claimed

    @staticmethod
    def _referenced(conn: sqlite3.Connection, name: str) -> bool:
        """True if a ``view_images`` row names the stored file ``name``."""
        return conn.execute(REFERENCED_QUERY, (name,)).fetchone() is not None

    def _unreferenced(self, conn: sqlite3.Connection, paths: Sequence[Path]) -> list[Path]:
        """The files of ``paths`` that no row names any more (safe to delete after the commit)."""
        return [p for p in dict.fromkeys(paths) if not self._referenced(conn, p.name)]

    @staticmethod
    def _insert_view_rows(conn: sqlite3.Connection, visit_id: int, rows: Sequence[tuple]) -> None:
        conn.executemany(
            "INSERT INTO view_images (visit_id, view, photo_file, scalp_file, hairloss_file,"
            " loss_pct, confidence, flags, corrected) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(visit_id, *row) for row in rows],
        )

    def _files_where(self, conn: sqlite3.Connection, condition: str, params: tuple) -> list[Path]:
        query = ("SELECT i.photo_file, i.scalp_file, i.hairloss_file FROM view_images i "
                 f"JOIN visits v ON v.id = i.visit_id WHERE {condition}")
        return [self.image_file(name) for row in conn.execute(query, params) for name in row]

    def _write_file(self, data: bytes, suffix: str, written: list[Path]) -> str:
        """Write ``data`` under a fresh random name (temp file, then rename)."""
        name = secrets.token_hex(16) + suffix
        target = self.images / name
        fd, tmp = tempfile.mkstemp(prefix=".incoming-", dir=self.images)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
        return name

    @staticmethod
    def _unlink(paths: Sequence[Path]) -> None:
        """Delete files the database no longer names. Runs after the commit, so a file that
        cannot be deleted (on Windows: still being sent to a browser) must not fail the request
        that already succeeded; it is logged with its path for deleting by hand."""
        for path in paths:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                LOG.warning("could not delete %s (%s); delete it by hand", path, exc.strerror or exc.__class__.__name__)
