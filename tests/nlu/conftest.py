"""A trained CI model behind one ``bench.nlu_parse`` process per test session."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.live import ci_model, rasa_available
from devtools.supervisor import RASA_BIN, REPO

PREFIX = "@nlu@ "  # bench.nlu_parse marks its own output lines


class NluParser:
    """Parses texts with the real trained pipeline (a Rasa-venv subprocess)."""

    def __init__(self, proc: subprocess.Popen[str]):
        self.proc = proc

    def parse(self, texts: list[str]) -> list[dict[str, Any]]:
        """Parse results for ``texts``, in order."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(texts, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(PREFIX):
                return json.loads(line[len(PREFIX):])
        raise RuntimeError("the parser process died")

    def one(self, text: str) -> dict[str, Any]:
        """The parse result of one text."""
        return self.parse([text])[0]


@pytest.fixture(scope="session")
def nlu() -> Iterator[NluParser]:
    """The light CI model, trained once if missing, loaded once for the session."""
    reason = rasa_available()
    if reason:
        pytest.skip(reason)
    model = ci_model()
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(REPO)}
    python = RASA_BIN.parent / "python"
    proc = subprocess.Popen([str(python), "-m", "bench.nlu_parse", "--model", str(model)], cwd=REPO, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == PREFIX + "ready":
            break
    else:
        raise RuntimeError("the parser process did not start")
    yield NluParser(proc)
    proc.stdin.close()  # type: ignore[union-attr]
    proc.wait(timeout=30)
