"""The model layer: Rasa's own data validation and the test stories on the CI model."""

from __future__ import annotations

import os
import subprocess

import pytest

from devtools.live import RASA_BIN, REPO, ci_model, rasa_available

pytestmark = [pytest.mark.rasa, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _needs_rasa():
    reason = rasa_available()
    if reason:
        pytest.skip(reason)


def rasa(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(REPO)}
    return subprocess.run([str(RASA_BIN), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_training_data_and_domain_validate():
    out = rasa("data", "validate", "--domain", "bot/domain", "--data", "bot/data", "nlu_data",
               "--config", "bot/config.yml")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]


def test_every_test_story_passes_on_the_ci_model(tmp_path):
    out = rasa("test", "core", "--model", str(ci_model()), "--stories", "tests/stories",
               "--fail-on-prediction-errors", "--out", str(tmp_path))
    failed = (tmp_path / "failed_test_stories.yml")
    detail = failed.read_text(encoding="utf-8") if failed.exists() else ""
    assert out.returncode == 0, detail + out.stdout[-3000:] + out.stderr[-3000:]
    assert "None of the test stories failed" in detail
