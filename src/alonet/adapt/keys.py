"""The clinic's patient key: how an adapted model set names the patients it learnt from.

``adapt.json`` and the model set's ``before/`` and ``after/`` evaluations name each patient
by ``HMAC-SHA256(key, code)`` (16 hex digits, :func:`patient_digest`). Without the key,
a list of the clinic's codes (often guessable: ``AA-001`` ... ``AA-999``) cannot be
checked against them; with it, a further ``alonet adapt`` recognises the patients the
starting set learnt from and never tests on them.

The key is 32 random bytes written as 64 hexadecimal digits in a file of its own, which
never travels with a model set:

* by default a per-user file, made on first use (readable by its owner only, never
  overwritten): ``$XDG_CONFIG_HOME/alonet/patient-key``, else
  ``~/.config/alonet/patient-key``; on Windows ``%APPDATA%\\alonet\\patient-key``;
* or a file given with ``alonet adapt --patient-key FILE`` (or ``$ALONET_PATIENT_KEY``),
  e.g. one copy shared by a clinic's workstations.

``adapt.json`` records the key's :func:`key_id`, a fingerprint that reveals nothing about
it, so that adapting a set with another key is refused instead of testing on patients it
learnt from. Sets adapted before keys (``learnt_patients`` without ``patient_key_id``)
hold plain SHA-256 digests (:func:`unkeyed_digest`), still matched (:class:`Learnt`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from alonet.system.atomic import create_hex_key, read_hex_key
from alonet.errors import DatasetError, KeyFileError

KEY_NAME = "patient-key"
#: The environment variable that may name the key file (``--patient-key`` wins).
KEY_ENV = "ALONET_PATIENT_KEY"
_KEY_ID_PREFIX = b"alonet patient key id\0"


def default_key_path(environ: Mapping[str, str] = os.environ, windows: bool = sys.platform == "win32") -> Path:
    """Where this user's patient key lives unless ``--patient-key`` names one (module doc)."""
    if windows and environ.get("APPDATA"):
        return Path(environ["APPDATA"]) / "alonet" / KEY_NAME
    config = environ.get("XDG_CONFIG_HOME", "")
    if not windows and os.path.isabs(config):  # the XDG rule: a relative value is ignored
        return Path(config) / "alonet" / KEY_NAME
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no HOME and no passwd entry (containers with any uid)
        raise KeyFileError("no home folder to keep the patient key in",
                           fix="pass --patient-key FILE (or set XDG_CONFIG_HOME)") from None
    if windows:
        return home / "AppData" / "Roaming" / "alonet" / KEY_NAME
    return home / ".config" / "alonet" / KEY_NAME


def read_patient_key(path: str | Path) -> bytes | None:
    """The key in ``path``, or None when there is no such file. A file that cannot be read
    or holds anything but 64 hexadecimal digits raises KeyFileError: the model sets adapted
    with it need that key, so it is never replaced."""
    path = Path(path)
    try:
        return read_hex_key(path)  # None: no such file (or a file where a folder of it belongs)
    except OSError as exc:
        raise KeyFileError(f"{path}: the patient key cannot be read ({exc.strerror or exc})", path=path,
                           fix="make it readable by this user, or pass --patient-key with a copy of it") from None
    except ValueError:
        pass
    raise KeyFileError(f"{path} is not an AloNet patient key (64 hexadecimal digits): it is damaged or another file",
                       path=path, fix="restore it from a backup or another workstation that adapts your model sets; "
                                      "delete it only if no adapted set was made with it")


def create_patient_key(path: str | Path) -> bytes:
    """Make a new key at ``path`` unless a file is there already (then that key is returned):
    folder 0700 and file 0600 from the start, written under a temporary name and linked
    into place, which fails rather than overwrite a key another process made meanwhile
    (``alonet.system.atomic.create_hex_key``)."""
    path = Path(path)
    try:
        _write_new_key(path)
    except OSError as exc:
        raise KeyFileError(f"cannot make a patient key at {path} ({exc.strerror or exc})", path=path,
                           fix=f"make {path.parent} writable, or pass --patient-key FILE") from None
    key = read_patient_key(path)
    if key is None:
        raise KeyFileError(f"{path}: the new patient key vanished as it was made", path=path,
                           fix="run again, or pass --patient-key FILE")
    return key


def _write_new_key(path: Path) -> None:
    """:func:`create_patient_key`'s writing (OSError when the folder cannot be written)."""
    folder_is_new = not path.parent.exists()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder_is_new:
        with contextlib.suppress(OSError):  # best effort: some file systems have no modes
            path.parent.chmod(0o700)
    create_hex_key(path)


def load_patient_key(path: str | Path | None) -> tuple[bytes, Path, bool]:
    """(key, its file, whether it was just made): the file ``path`` (which must exist), or
    with None this user's default key (:func:`default_key_path`), made on first use."""
    if path is not None:
        key = read_patient_key(path)
        if key is None:
            raise KeyFileError(f"the patient key file {path} does not exist", path=path,
                               fix="give the key file that adapted your model sets, or leave out --patient-key "
                                   "to use this user's own key")
        return key, Path(path), False
    default = default_key_path()
    key = read_patient_key(default)
    if key is not None:
        return key, default, False
    return create_patient_key(default), default, True


def key_id(key: bytes) -> str:
    """A fingerprint of ``key`` for ``adapt.json``: says which key made the digests, not the key."""
    return hashlib.sha256(_KEY_ID_PREFIX + key).hexdigest()[:12]


def patient_digest(key: bytes, patient: str) -> str:
    """How a model set names a patient: HMAC-SHA256 of the code under the clinic's key, 16 hex digits."""
    return hmac.new(key, patient.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def unkeyed_digest(patient: str) -> str:
    """How an AloNet before patient keys named a patient (``learnt_patients`` without
    ``patient_key_id``): a plain SHA-256 of the code, which anyone can compute."""
    return hashlib.sha256(patient.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Learnt:
    """The patients a starting model learnt from, as its ``adapt.json`` names them."""

    keyed: frozenset[str] = frozenset()  # patient_digest under the key key_id
    unkeyed: frozenset[str] = frozenset()  # unkeyed_digest (sets adapted before patient keys)
    key_id: str | None = None  # None: no keyed digests (the bundled model, an older set)

    def knows(self, key: bytes, patient: str) -> bool:
        """Whether ``patient`` is one of them (``key`` must be the one of key_id)."""
        return patient_digest(key, patient) in self.keyed or unkeyed_digest(patient) in self.unkeyed


def learnt_by(init: str) -> Learnt | None:
    """The patients an adapted starting model learnt from (its ``adapt.json``): none for the
    bundled model and other model sets, unkeyed digests for a set adapted before patient
    keys, None for a set adapted by an AloNet older than 2026-12-06, which recorded none."""
    path = Path(init) / "adapt.json"
    if str(init) == "default" or not path.is_file():
        return Learnt()
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(info, dict):
            raise ValueError("not an object")
        if "learnt_patients" not in info:
            return None
        learnt = _digests(info["learnt_patients"])
        carried = _digests(info.get("learnt_patients_unkeyed", []))
        if "patient_key_id" not in info:
            return Learnt(unkeyed=learnt | carried)
        return Learnt(keyed=learnt, unkeyed=carried, key_id=str(info["patient_key_id"]))
    except (OSError, ValueError, TypeError):
        raise DatasetError(f"{path} is damaged: it lists the patients {init} learnt from", path=path,
                           fix=f"restore {init} from a backup or a copy (adapting it without that list could "
                               "test on patients it learnt from)") from None


def _digests(value) -> frozenset[str]:
    """A list of digests from adapt.json (ValueError for anything else)."""
    if not isinstance(value, list) or not all(isinstance(d, str) for d in value):
        raise ValueError("not a list of digests")
    return frozenset(value)


def key_for_init(path: str | Path | None, learnt: Learnt | None, init: str) -> tuple[bytes, Path, bool]:
    """:func:`load_patient_key` for adapting the starting model ``init`` (``learnt``: its
    :func:`learnt_by`). A starting set adapted with another key is refused, and so is one
    adapted with a key while this user has none yet (a key made now could not be that one)."""
    wanted = learnt.key_id if learnt is not None else None
    if wanted is not None and path is None and not default_key_path().exists():
        raise KeyFileError(
            f"the starting model {init} was adapted with the patient key {wanted}, and this user has no "
            f"patient key yet ({default_key_path()})",
            fix=f"pass --patient-key with the key file that adapted it, or copy that file to {default_key_path()}")
    key, key_file, made = load_patient_key(path)
    if wanted is not None and wanted != key_id(key):
        raise KeyFileError(
            f"the starting model {init} was adapted with the patient key {wanted}, but this run's key "
            f"({key_file}) is {key_id(key)}, so the patients it learnt from could not be kept out of the test",
            fix="pass --patient-key with the key file that adapted it (copy it from the machine that did)")
    return key, key_file, made
