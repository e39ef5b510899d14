"""The action-result shortcut of bot/rasa_speedups.py gives Rasa's verdicts (runs in the Rasa venv)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.prod.helpers import RASA_PY, REPO, rasa_env, rasa_venv_missing


def test_the_per_event_type_check_agrees_with_rasas_schema_check_on_valid_and_broken_answers() -> None:
    reason = rasa_venv_missing()
    if reason:
        pytest.skip(reason)
    out = subprocess.run([str(RASA_PY), str(REPO / "tests" / "model" / "speedups_driver.py")], cwd=REPO,
                         env=rasa_env(), capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["compared"] > 2000 and 0.2 < result["valid"] / result["compared"] < 0.8, result
    assert result["n_differ"] == 0, result["differ"]
