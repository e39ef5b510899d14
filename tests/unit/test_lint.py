"""The tree stays clean under the project's linters (ruff, mypy as configured in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    out = run("ruff", "check", ".")
    assert out.returncode == 0, out.stdout[-4000:]


@pytest.mark.slow
def test_mypy_finds_nothing():
    out = run("mypy")
    assert out.returncode == 0, out.stdout[-4000:]
