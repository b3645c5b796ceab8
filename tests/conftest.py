"""Shared test fixtures.

Tests that need the real AloNet annotations find them through ONE setting:
the environment variable ``ALONET_SHARED_DATA`` (default:
``<repo>/../shared/data/alonet-annotations``). Tests that need something a
fresh machine may lack (those annotations; Chromium and its driver for the
browser test) call :func:`require`: on a developer's machine they are skipped
with the reason printed in the summary (``-rs`` is on in pyproject.toml); in CI
(``ALONET_CI=1``, set by ``.ci/run``) they fail, so CI never skips them.

The property tests (``tests/test_properties_*.py``, hypothesis) run under one of two
profiles chosen here, before any test module builds its ``@settings``: in CI a
*derandomized* profile (the same examples on every run, so a red CI run is the code's
doing and reruns alike, and no example database is written into the checkout); on a
developer's machine hypothesis's own random search, which keeps finding new cases and
remembers failing ones in ``.hypothesis/`` (ignored by git).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_annotations_dir() -> Path:
    default = REPO_ROOT.parent / "shared" / "data" / "alonet-annotations"
    return Path(os.environ.get("ALONET_SHARED_DATA", default))


def in_ci() -> bool:
    """True in CI (``ALONET_CI`` set to anything but empty or 0), where nothing may be skipped."""
    return os.environ.get("ALONET_CI", "").strip() not in ("", "0")


settings.register_profile("alonet-ci", derandomize=True, database=None, print_blob=True)
if in_ci():
    settings.load_profile("alonet-ci")


def require(available: bool, reason: str) -> None:
    """Skip the calling test outside CI when ``available`` is False; fail it in CI."""
    if available:
        return
    if in_ci():
        pytest.fail(f"{reason} (ALONET_CI is set, so this is an error, not a skip)")
    pytest.skip(f"{reason} (skipped outside CI; CI sets ALONET_CI=1 and runs it)")


@pytest.fixture(autouse=True)
def own_config_folder(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets an empty per-user config folder of its own, never the real
    ``~/.config`` (or ``%APPDATA%``): ``alonet adapt`` makes its patient key there on first use."""
    config = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("APPDATA", str(config))
    monkeypatch.delenv("ALONET_PATIENT_KEY", raising=False)
    return config


@pytest.fixture(scope="session")
def shared_annotations() -> Path:
    path = shared_annotations_dir()
    require((path / "manifest.csv").is_file(),
            f"shared annotations not found at {path} (set ALONET_SHARED_DATA or check out ../shared)")
    return path
