"""Unanswered-questions inbox: mask personal data again (``common.pii``), group similar questions.

The action server masks questions before recording them; the console masks once more
on display, so a channel that forgot to can never show staff a phone or ID number.
Grouping is greedy "leader" clustering on RapidFuzz similarity of the normalised text,
which is character-based and so works for Chinese without a tokenizer.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from casework.models import UnansweredQuestion
from common.pii import mask_pii
from common.textnorm import normalize

SIMILARITY_THRESHOLD = 70.0
_PUNCT_RE = re.compile(r"[\s\W_]+", re.UNICODE)


def _key(text: str) -> str:
    return _PUNCT_RE.sub("", normalize(text)).lower()


@dataclass
class QuestionGroup:
    """Similar questions counted together."""

    question: str  # the most frequent wording (masked)
    ids: list[int] = field(default_factory=list)
    wordings: Counter[str] = field(default_factory=Counter)
    channels: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    services: Counter[str] = field(default_factory=Counter)
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None

    @property
    def count(self) -> int:
        """How many times it was asked."""
        return len(self.ids)

    @property
    def best_service_id(self) -> str | None:
        """The service search most often thought closest, if any."""
        return self.services.most_common(1)[0][0] if self.services else None


def group_questions(rows: list[UnansweredQuestion], threshold: float = SIMILARITY_THRESHOLD) -> list[QuestionGroup]:
    """Group ``rows`` by similarity; most asked (then most recent) first."""
    leaders: list[str] = []
    groups: list[QuestionGroup] = []
    exact: dict[str, QuestionGroup] = {}
    for row in sorted(rows, key=lambda r: r.id):
        text = mask_pii(row.question)
        key = _key(text)
        target = exact.get(key)
        if target is None and key:
            match = process.extractOne(key, leaders, scorer=fuzz.ratio, score_cutoff=threshold)
            target = groups[match[2]] if match else None
        if target is None:
            target = QuestionGroup(question=text)
            leaders.append(key)
            groups.append(target)
        exact.setdefault(key, target)
        target.ids.append(row.id)
        target.wordings[text] += 1
        target.channels[row.channel or "?"] += 1
        target.reasons[row.reason] += 1
        if row.best_service_id:
            target.services[row.best_service_id] += 1
        at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.UTC)
        target.first_seen = min(target.first_seen or at, at)
        target.last_seen = max(target.last_seen or at, at)
    out = groups
    for g in out:
        g.question = g.wordings.most_common(1)[0][0]
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(out, key=lambda g: (-g.count, -(g.last_seen or epoch).timestamp()))
