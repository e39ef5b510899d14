"""Channel fitness of the published content and venue correctness of booking offers.

Usage: ``.venv-app/bin/python -m bench.content_channels`` → ``bench/REPORT_content.md``;
``… --seed-dir DIR`` measures another seed (e.g. an older checkout's) and prints without writing.

Over every published FAQ and every service-guide section of the seed (loaded into a scratch
database through the real import): the share whose short SMS form plus the SMS channel's "更多"
hint fits one UCS-2 part (:mod:`channels.sms.segments`), and the spoken seconds of the spoken
form at :data:`knowledge.channel_forms.CHARS_PER_SECOND` characters a second (digits read
singly, punctuation silent), with the count over the hotline's budget. Booking offers are what
the booking form would list for each service (``KnowledgeRepository.booking_venues``, the same
call the form makes) and what ``booking_rules.match_center`` picks for each district name; an
offer is wrong when the venue's explicit service list does not include the service.
"""

from __future__ import annotations

import statistics
import sys

from bench.common import BENCH_DIR, machine_line, scratch_seeded_repo

COMMAND = ".venv-app/bin/python -m bench.content_channels"
DISTRICTS = ("越秀", "海珠", "荔湾", "天河", "白云", "黄埔", "番禺", "花都", "南沙", "从化", "增城")


def _repo(seed_dir: str | None):
    """The seed (or ``seed_dir``'s) in a scratch database, imported by the real importer."""
    if seed_dir is None:
        return scratch_seeded_repo()
    import tempfile
    from pathlib import Path

    from knowledge.db import make_engine, session_factory
    from knowledge.migrate import upgrade
    from knowledge.repository import KnowledgeRepository
    from knowledge.transfer import import_paths, seed_paths

    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-')) / 'kb.db'}"
    upgrade(url)
    repo = KnowledgeRepository(session_factory(make_engine(url)))
    import_paths(repo, seed_paths(Path(seed_dir)), actor="bench")
    return repo


def main() -> int:
    """Measure and write the report; exit 1 when a target is missed."""
    from actions.services.booking_rules import match_center
    from channels.sms import segments, texts
    from knowledge import channel_forms as cf

    seed_dir = sys.argv[sys.argv.index("--seed-dir") + 1] if "--seed-dir" in sys.argv else None
    repo = _repo(seed_dir)
    services = repo.list_services()
    faqs = [f for f in repo.list_faqs() if str(getattr(f.status, "value", f.status)) == "published"]
    forms = [(f"faq#{f.id}", f.sms_text, f.spoken_text) for f in faqs]
    for s in services:
        for section in cf.GUIDE_SECTIONS:
            entry = (s.channel_forms or {}).get(section) or {}
            forms.append((f"{s.id}.{section}", entry.get("sms", ""), entry.get("spoken", "")))
    fits = [bool(sms) and segments.parts(sms + texts.MORE_HINT_WORD) == 1 for _, sms, _ in forms]
    seconds = [cf.spoken_seconds(sp) for _, _, sp in forms if sp]
    missing_spoken = sum(1 for _, _, sp in forms if not sp)
    cut = sum(1 for s in seconds if s > cf.SPOKEN_MAX_SECONDS) + missing_spoken
    # The hotline reads a guide as its spoken summary followed by its spoken fees (bot/domain/faq.yml).
    guide_seconds = [cf.spoken_seconds(((s.channel_forms or {}).get("summary") or {}).get("spoken", "")
                                       + ((s.channel_forms or {}).get("fees") or {}).get("spoken", ""))
                     for s in services]
    guide_seconds = guide_seconds or [0.0]
    guides_cut = sum(1 for g in guide_seconds if g > 2 * cf.SPOKEN_MAX_SECONDS)
    faq_fit = sum(fits[: len(faqs)]) / len(faqs)
    all_fit = sum(fits) / len(fits)

    offers = wrong = refused = 0
    wrong_examples: list[str] = []
    for s in services:
        venues = repo.booking_venues(s.id)
        picks = [match_center(d, venues, s.id) for d in DISTRICTS]
        offered = venues + [p for p in picks if p is not None]
        if not venues:
            refused += 1
        for v in offered:
            offers += 1
            if not any(x.id == s.id for x in v.services) or v.all_services:
                wrong += 1
                wrong_examples.append(f"{s.id}@{v.id}")
    median = statistics.median(seconds) if seconds else 0.0
    lines = [
        "# Content fitness per channel and venue correctness", "",
        f"Command: `{COMMAND}`", "", machine_line(), "",
        f"Speaking rate: {cf.CHARS_PER_SECOND:g} characters/s, digits read singly, punctuation silent; "
        f"hotline budget {cf.SPOKEN_MAX_SECONDS:g} s per answer. SMS: short form + “{texts.MORE_HINT_WORD}” "
        f"within one UCS-2 part ({segments.UCS2_PART} units).", "",
        "| measure | value | target |", "|---|---|---|",
        f"| published FAQs | {len(faqs)} | |",
        f"| guide sections ({len(cf.GUIDE_SECTIONS)} × {len(services)} services) | {len(forms) - len(faqs)} | |",
        f"| FAQs whose short SMS form fits one part | {faq_fit:.1%} | 100 % |",
        f"| all answers (FAQs + sections) fitting one part | {all_fit:.1%} | 100 % |",
        f"| spoken seconds, median | {median:.1f} s | ≤ 12 s |",
        f"| spoken seconds, max | {max(seconds, default=0):.1f} s | ≤ {cf.SPOKEN_MAX_SECONDS:g} s |",
        f"| answers cut or without spoken form | {cut} | 0 |",
        f"| spoken guide (summary + fees), median / max | {statistics.median(guide_seconds):.1f} s / "
        f"{max(guide_seconds):.1f} s | fees always reached |",
        f"| spoken guides over {2 * cf.SPOKEN_MAX_SECONDS:g} s | {guides_cut} | 0 |",
        f"| booking offers (lists + district picks) | {offers} | |",
        f"| offers naming a venue not handling the service | {wrong} | 0 |",
        f"| services refused for booking (online only / no bookable venue) | {refused} | |",
    ]
    if wrong_examples:
        lines += ["", "Wrong offers: " + ", ".join(wrong_examples[:20])]
    missing = [k for (k, sms, sp), ok in zip(forms, fits, strict=True) if not ok or not sp]
    if missing:
        lines += ["", f"Answers without valid short forms ({len(missing)}): " + ", ".join(missing[:30])
                  + (" …" if len(missing) > 30 else "")]
    if seed_dir is None:
        (BENCH_DIR / "REPORT_content.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0 if (all_fit == 1 and cut == 0 and guides_cut == 0 and wrong == 0 and median <= 12) else 1


if __name__ == "__main__":
    sys.exit(main())
