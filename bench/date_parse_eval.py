"""How often ``parse_when`` finds the date or time annotated in colloquial SMP2019-ECDT utterances.

Reads ``../shared/data/smp_ecdt/smp2019_task1/rasa_nlu_date_time_test.yml`` (Rasa NLU format with
``[text](date)`` / ``[text](time)`` entities) and prints, among examples annotated with a date (a time),
the share where ``parse_when`` returned a date (a time). The sentences stay where they are; only figures
are printed. The annotated spans include things the booking parser leaves out on purpose (现在, 昨晚,
上周末), so this is a coverage signal, not an accuracy figure.

Usage: ``python -m bench.date_parse_eval [--now 2026-11-25T10:00]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from pathlib import Path

import yaml

from actions.services.dates import parse_when
from bench.common import SHARED_DATA
from common.clock import CITY_TZ

DATA_FILE = SHARED_DATA / "smp_ecdt" / "smp2019_task1" / "rasa_nlu_date_time_test.yml"
ENTITY = re.compile(r"\[(?P<text>[^\]]*)\]\((?P<entity>[a-z_]+)\)")


def load_examples(path: Path) -> list[tuple[str, set[str]]]:
    """(plain text, annotated entity names) for every example in a Rasa NLU file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    examples = []
    for block in data.get("nlu", []):
        for line in str(block.get("examples", "")).splitlines():
            line = line.strip()
            if not line.startswith("- "):
                continue
            annotated = line[2:]
            entities = {m["entity"] for m in ENTITY.finditer(annotated)}
            examples.append((ENTITY.sub(lambda m: m["text"], annotated), entities))
    return examples


def evaluate(examples: list[tuple[str, set[str]]], now: dt.datetime) -> dict[str, tuple[int, int]]:
    """Per entity, (examples where parse_when found one, examples annotated with one)."""
    counts = {"date": [0, 0], "time": [0, 0], "either": [0, 0]}
    for text, entities in examples:
        found_date, found_time = parse_when(text, now)
        for name, found in (("date", found_date), ("time", found_time)):
            if name in entities:
                counts[name][1] += 1
                counts[name][0] += found is not None
        if entities & {"date", "time"}:
            counts["either"][1] += 1
            counts["either"][0] += found_date is not None or found_time is not None
    return {name: (hit, total) for name, (hit, total) in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--now", default="2026-11-25T10:00", help="reference time, Asia/Shanghai")
    args = parser.parse_args()
    if not DATA_FILE.is_file():
        print(f"skipped: {DATA_FILE} is absent")
        return
    now = dt.datetime.fromisoformat(args.now).replace(tzinfo=CITY_TZ)
    examples = load_examples(DATA_FILE)
    print(f"{len(examples)} examples, now = {now.isoformat()}")
    for name, (hit, total) in evaluate(examples, now).items():
        share = f"{hit / total:.1%}" if total else "n/a"
        print(f"{name:>6}: found in {hit}/{total} annotated examples ({share})")


if __name__ == "__main__":
    main()
