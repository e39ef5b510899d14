"""scripts/setup_venvs.sh says exactly what to install when CPython 3.10 is missing."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not available")
def test_missing_python310_stops_with_install_instructions(tmp_path):
    # A PATH with only core tools: no python3.10, no pyenv, no uv.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("dirname", "cat", "sha256sum", "cut", "grep", "rm", "env"):
        found = shutil.which(tool)
        if found:
            (bindir / tool).symlink_to(found)
    env = {"PATH": str(bindir), "HOME": str(tmp_path)}
    out = subprocess.run(["/bin/bash", str(REPO / "scripts" / "setup_venvs.sh"), "rasa"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "CPython 3.10 is required" in out.stderr
    assert "pyenv install 3.10" in out.stderr and "uv python install 3.10" in out.stderr
