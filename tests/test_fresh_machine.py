"""The README's test command on a fresh machine (issue 10, defect 7): tests that
need Chromium or ../shared skip with a printed reason outside CI, and fail in
CI (``ALONET_CI=1``, set by ``.ci/run``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO_ROOT, require


def test_require_skips_outside_ci_and_fails_in_ci(monkeypatch):
    monkeypatch.delenv("ALONET_CI", raising=False)
    require(True, "present")
    with pytest.raises(pytest.skip.Exception, match="Chromium missing .*skipped outside CI"):
        require(False, "Chromium missing")
    monkeypatch.setenv("ALONET_CI", "0")
    with pytest.raises(pytest.skip.Exception):
        require(False, "Chromium missing")
    monkeypatch.setenv("ALONET_CI", "1")
    with pytest.raises(pytest.fail.Exception, match="Chromium missing .*ALONET_CI is set"):
        require(False, "Chromium missing")


def test_ci_script_sets_alonet_ci_before_the_readme_command():
    script = (REPO_ROOT / ".ci" / "run").read_text()
    assert script.index("export ALONET_CI=1") < script.index("python3 -m pytest -q")
    readme = (REPO_ROOT / "README.md").read_text()
    assert "python3 -m pytest -q" in readme and "ALONET_CI" in readme


def test_skip_reasons_are_printed_by_default():
    text = Path(REPO_ROOT / "pyproject.toml").read_text()
    assert 'addopts = "-rs"' in text
