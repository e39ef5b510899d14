"""Which spoken content a Cantonese voice reads wrongly when it reads text written for Mandarin.

Usage: ``.venv-app/bin/python -m bench.cantonese_reading`` → ``bench/REPORT_cantonese.md``.

Over every spoken form of the seed (``spoken`` of guide sections, ``spoken_text`` of FAQs), the
``channel: voice`` responses of the Rasa domain and the Mandarin IVR prompts: how many texts
contain words of ``bench/data/cantonese_reading.yml`` — ``misread`` (Mandarin-only words with no
Cantonese reading: a spoken Cantonese form is needed) and ``bookish`` (written Chinese read as
书面语: understood as it is) — and whether every misread word found has a spoken form in
``channels/voice/texts.yml`` (``yue_spoken``), so that Cantonese callers never hear it.
"""

from __future__ import annotations

import collections
import sys
from collections.abc import Iterator

import yaml

from bench.common import BENCH_DIR, machine_line

COMMAND = ".venv-app/bin/python -m bench.cantonese_reading"
REPO = BENCH_DIR.parent
WORDS_FILE = BENCH_DIR / "data" / "cantonese_reading.yml"


def _strings(node: object, key: str | None = None) -> Iterator[tuple[str | None, str]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, str(k))
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, key)
    elif isinstance(node, str):
        yield key, node


def spoken_texts() -> dict[str, list[str]]:
    """The spoken texts by source: seed content, domain voice responses, IVR prompts."""
    seed = [text for f in sorted((REPO / "knowledge" / "seed").rglob("*.yml"))
            for key, text in _strings(yaml.safe_load(f.read_text(encoding="utf-8")))
            if key in ("spoken", "spoken_text")]
    domain = []
    for f in sorted((REPO / "bot" / "domain").glob("*.yml")):
        responses = (yaml.safe_load(f.read_text(encoding="utf-8")) or {}).get("responses") or {}
        for variants in responses.values():
            domain += [v["text"] for v in variants if isinstance(v, dict) and v.get("channel") == "voice"
                       and v.get("text")]
    prompts = yaml.safe_load((REPO / "channels" / "voice" / "texts.yml").read_text(encoding="utf-8"))["prompts"]
    ivr = [by_lang["zh"] for by_lang in prompts.values() if by_lang.get("zh")]
    return {"seed spoken forms": seed, "domain voice responses": domain, "IVR prompts (Mandarin)": ivr}


def _hits(text: str, words: list[str]) -> list[str]:
    """Words of ``words`` in ``text``, longest first, each occurrence counted once."""
    found = []
    for w in sorted(words, key=len, reverse=True):
        if w in text:
            found.append(w)
            text = text.replace(w, "\0")
    return found


def measure() -> tuple[str, bool]:
    """The report and whether every misread word found has a spoken Cantonese form."""
    words = yaml.safe_load(WORDS_FILE.read_text(encoding="utf-8"))
    misread, bookish = list(words["misread"]), list(words["bookish"])
    yue_spoken = yaml.safe_load((REPO / "channels" / "voice" / "texts.yml").read_text(encoding="utf-8"))
    covered = set((yue_spoken.get("yue_spoken") or {}).keys())
    lines = ["# Cantonese reading of the spoken content", "", f"Command: `{COMMAND}`", "", machine_line(), "",
             "| source | texts | with a misread word | with bookish words only | bookish word uses |",
             "|---|---:|---:|---:|---:|"]
    misread_found: collections.Counter[str] = collections.Counter()
    bookish_found: collections.Counter[str] = collections.Counter()
    examples: list[str] = []
    for source, texts in spoken_texts().items():
        n_mis = n_book = uses = 0
        for text in texts:
            mis, book = _hits(text, misread), _hits(text, bookish)
            misread_found.update(mis)
            bookish_found.update(book)
            uses += len(book)
            if mis:
                n_mis += 1
                examples.append(f"- {source}: “{text[:60]}” → {', '.join(mis)}")
            elif book:
                n_book += 1
        lines.append(f"| {source} | {len(texts)} | {n_mis} | {n_book} | {uses} |")
    uncovered = sorted(w for w in misread_found if not any(w in c or c in w for c in covered))
    lines += ["", "## Misread words found (need a spoken Cantonese form)", ""]
    lines += [f"- {w} ×{n} → {words['misread'][w]}" for w, n in misread_found.most_common()] or ["- none"]
    lines += ["", "Texts containing them:", ""] + (examples or ["- none"])
    lines += ["", "## Bookish words (read as 书面语, understood; no spoken form needed)", "",
              ", ".join(f"{w} ×{n}" for w, n in bookish_found.most_common(15)) or "none",
              "", f"Misread words without a spoken form in channels/voice/texts.yml yue_spoken: "
              f"{', '.join(uncovered) or 'none'}", ""]
    return "\n".join(lines), not uncovered


def main() -> int:
    report, ok = measure()
    (BENCH_DIR / "REPORT_cantonese.md").write_text(report, encoding="utf-8")
    print(report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
