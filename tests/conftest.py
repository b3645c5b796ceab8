"""Shared test fixtures.

Tests that need the real AloNet annotations find them through ONE setting:
the environment variable ``ALONET_SHARED_DATA`` (default:
``<repo>/../shared/data/alonet-annotations``). They are marked ``shared`` and
fail loudly if the folder is missing: they never skip silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_annotations_dir() -> Path:
    default = REPO_ROOT.parent / "shared" / "data" / "alonet-annotations"
    return Path(os.environ.get("ALONET_SHARED_DATA", default))


@pytest.fixture(scope="session")
def shared_annotations() -> Path:
    path = shared_annotations_dir()
    if not (path / "manifest.csv").is_file():
        pytest.fail(f"shared annotations not found at {path} (set ALONET_SHARED_DATA)")
    return path
