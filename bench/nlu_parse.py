"""Parse texts with a trained Rasa model, one JSON request per line (for tests and benchmarks).

Runs in the Rasa venv, from the repository root::

    .venv-rasa/bin/python -m bench.nlu_parse --model models/config_ci-….tar.gz

Reads lines ``["text", …]`` (a JSON list) from stdin and writes one line per request, ``@nlu@ `` + JSON: the
list of parse results (``intent``, ``entities``, ``intent_ranking``), in order. Prints ``@nlu@ ready``
once the model is loaded. The app venv (3.11) cannot import Rasa, so tests talk to this process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

PREFIX = "@nlu@ "  # marks our output lines: Rasa and TensorFlow may print too
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def slim(result: dict[str, Any]) -> dict[str, Any]:
    """The parts of a parse result tests look at."""
    return {"text": result.get("text"), "intent": result.get("intent") or {},
            "entities": [{k: e.get(k) for k in ("entity", "start", "end", "value", "extractor")}
                         for e in result.get("entities") or []],
            "intent_ranking": (result.get("intent_ranking") or [])[:5]}


def main(argv: list[str] | None = None) -> None:
    """Load the model and answer parse requests until stdin closes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    args = parser.parse_args(argv)
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # no debug lines (they would carry the parsed numbers)
    agent = Agent.load(args.model)
    loop = asyncio.new_event_loop()
    print(PREFIX + "ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        texts = json.loads(line)
        out = [slim(loop.run_until_complete(agent.parse_message(text))) for text in texts]
        print(PREFIX + json.dumps(out, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
