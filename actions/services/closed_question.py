"""Closed questions: what the bot asked, its options, and how a citizen's short reply answers it.

Every question with a fixed set of answers ("您是想了解…吗？", the "which one?" choice,
"确认预约吗？", the rating, the offer of a person) is a :class:`ClosedQuestion`. The
action that asks it sends the same record to the channel as a structured hint
(``json_message``) and keeps it on the conversation (slot ``closed_question``); the
citizen's next message is read against it first (:func:`resolve`), on every channel.
Pure: no Rasa, no database.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

CUES_FILE = Path(__file__).resolve().parent.parent / "config" / "closed_question.yml"
EXPECT_YES_NO = "yes_no"
EXPECT_CHOICE = "choice"
# A reply longer than this is a new message, not an answer by yes/no or by number.
MAX_SHORT_REPLY_CHARS = 10
# NLU's affirm/deny is trusted for short replies at or above this confidence.
MIN_INTENT_CONFIDENCE = 0.6

_PAYLOAD_RE = re.compile(r"^\s*/(\w+)(\{.*\})?\s*$", re.DOTALL)
_CLAUSE_SPLIT_RE = re.compile(r"[\s,，。.!！?？;；、~～…:：]+")
_CHINESE_NUMBERS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
                    "十": 10, "零": 0}
# "2", "第二个", "选3", "5分", "五星", "4号", "第1项" — a bare number, as a citizen types it.
_NUMBER_RE = re.compile(r"^(?:选|选择|第)?\s*([0-9]{1,2}|[一二两三四五六七八九十])\s*"
                        r"(?:个|项|号|分|星|颗星|粒星|條|条|种|種)?$")


@dataclass(frozen=True)
class Option:
    """One answer the question offers.

    Attributes:
        title: what the citizen sees or hears (from the domain's wording).
        payload: what choosing it sends to the core (``/intent{"entity": "value"}``).
        key: the number that picks it on SMS, mail and the phone keypad ("" = not numbered).
    """

    title: str
    payload: str
    key: str


@dataclass(frozen=True)
class ClosedQuestion:
    """A question the bot asked and the answers it accepts.

    Attributes:
        expect: ``yes_no`` (one thing is proposed) or ``choice`` (pick one of the options).
        options: the offered answers, in the order shown.
        yes: the payload a "yes" stands for (None: a "yes" alone does not say which option).
        no: the payload a "no" stands for (None: "no" means "not what I asked": the bot
            asks to rephrase and offers a person or a message for the department).
    """

    expect: str
    options: tuple[Option, ...]
    yes: str | None = None
    no: str | None = None

    def hint(self) -> dict[str, Any]:
        """The structured hint sent to channels with the question (``json_message``)."""
        return {"expect": self.expect,
                "options": [{"title": o.title, "payload": o.payload, "key": o.key} for o in self.options]}

    def to_slot(self) -> dict[str, Any]:
        """The value kept in the ``closed_question`` slot."""
        return {**self.hint(), "yes": self.yes, "no": self.no}

    @classmethod
    def from_slot(cls, value: Any) -> ClosedQuestion | None:
        """Rebuild from the slot value; None when absent or malformed."""
        if not isinstance(value, Mapping) or value.get("expect") not in (EXPECT_YES_NO, EXPECT_CHOICE):
            return None
        options = []
        for i, raw in enumerate(value.get("options") or (), start=1):
            if isinstance(raw, Mapping) and isinstance(raw.get("payload"), str) and raw["payload"]:
                key = raw.get("key")  # "" = offered but not numbered (a rating's "跳过")
                options.append(Option(title=str(raw.get("title") or raw["payload"]), payload=raw["payload"],
                                      key=str(i) if key is None else str(key)))
        yes, no = value.get("yes"), value.get("no")
        return cls(expect=str(value["expect"]), options=tuple(options),
                   yes=yes if isinstance(yes, str) and yes else None, no=no if isinstance(no, str) and no else None)


def make_question(expect: str, buttons: Sequence[Mapping[str, Any]], *, yes: str | None = None,
                  no: str | None = None, keys: Sequence[str] | None = None) -> ClosedQuestion:
    """A closed question from buttons (``{"title", "payload"}``), keyed 1..n unless ``keys`` are given.

    Args:
        expect: ``yes_no`` or ``choice``.
        buttons: the options as Rasa buttons.
        yes: the payload "yes" stands for; by default the only option of a one-option question.
        no: the payload "no" stands for.
        keys: the number of each option (e.g. the score of a rating), in button order.
    """
    options = tuple(Option(title=str(b.get("title") or b["payload"]), payload=str(b["payload"]),
                           key=str(keys[i]) if keys and i < len(keys) else str(i + 1))
                    for i, b in enumerate(buttons) if b.get("payload"))
    if yes is None and len(options) == 1:
        yes = options[0].payload
    return ClosedQuestion(expect=expect, options=options, yes=yes, no=no)


@dataclass(frozen=True)
class Cues:
    """Words that make a short reply a yes or a no.

    Read from ``actions/config/closed_question.yml``: ``affirm``, ``deny``, ``neutral``,
    ``particles``, ``negations``.
    """

    yes: frozenset[str]
    no: frozenset[str]
    neutral: frozenset[str] = frozenset()
    particles: str = ""
    negations: tuple[str, ...] = ()

    @classmethod
    def load(cls, path: Path | None = None) -> Cues:
        """Read the cue file."""
        data = yaml.safe_load((path or CUES_FILE).read_text(encoding="utf-8")) or {}
        words = {k: frozenset(str(w).lower() for w in data.get(k) or ()) for k in ("affirm", "deny", "neutral")}
        return cls(yes=words["affirm"], no=words["deny"], neutral=words["neutral"],
                   particles=str(data.get("particles") or ""),
                   negations=tuple(sorted((str(w) for w in data.get("negations") or ()), key=len, reverse=True)))

    def _clauses(self, text: str) -> list[str]:
        parts = [p.strip(self.particles) for p in _CLAUSE_SPLIT_RE.split(text.lower())]
        return [p for p in parts if p and p not in self.neutral]

    def polarity(self, text: str) -> str | None:
        """``yes`` or ``no`` when every clause of ``text`` is such a cue, else None."""
        clauses = self._clauses(text)
        if not clauses:
            return None
        for kind, words in (("no", self.no), ("yes", self.yes)):
            if all(c in words for c in clauses):
                return kind
        return None

    def starts_negated(self, text: str) -> bool:
        """Whether ``text`` opens with a negation ("不是…", "唔系…")."""
        return any(text.startswith(n) for n in self.negations)


@lru_cache(maxsize=1)
def default_cues() -> Cues:
    """The cue words of the shipped configuration (read once)."""
    return Cues.load()


@dataclass(frozen=True)
class Reply:
    """What the citizen sent, as the NLU read it.

    Attributes:
        text: the message text, normalised (width, Traditional → Simplified).
        intent: the NLU's intent name ("" when none).
        confidence: the NLU's confidence in ``intent``.
        entities: ``(entity, value)`` pairs found by the NLU.
    """

    text: str
    intent: str = ""
    confidence: float = 0.0
    entities: tuple[tuple[str, str], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Resolution:
    """How a reply answers the question.

    Attributes:
        kind: ``option`` (``payload`` is the chosen answer), ``rephrase`` (a "no" to a
            proposal: ask again, offer a person), ``unclear`` (a "yes" that does not say
            which option: ask to pick one) or ``other`` (not an answer: a new message).
        payload: the chosen answer's payload for ``option``.
    """

    kind: str
    payload: str | None = None


def parse_payload(payload: str) -> tuple[str, dict[str, Any]] | None:
    """``/intent{"entity": "value"}`` → (intent, entities); None when not an intent payload."""
    match = _PAYLOAD_RE.match(payload or "")
    if not match:
        return None
    entities: dict[str, Any] = {}
    if match.group(2):
        try:
            loaded = json.loads(match.group(2))
        except ValueError:
            return None
        if not isinstance(loaded, dict):
            return None
        entities = loaded
    return match.group(1), entities


def bare_number(text: str) -> int | None:
    """The number of a reply that is only a number ("2", "第二个", "5分", "五星"), else None."""
    match = _NUMBER_RE.match(unicodedata.normalize("NFKC", text).strip().rstrip("。.!！"))
    if not match:
        return None
    raw = match.group(1)
    return int(raw) if raw.isdigit() else _CHINESE_NUMBERS.get(raw)


def _compact(text: str) -> str:
    return re.sub(r"[\s\"'“”‘’「」《》()（）]+", "", text).lower()


def _by_title(question: ClosedQuestion, text: str, cues: Cues) -> Option | None:
    """The option named by the reply: its exact title, or the one longest title the reply contains."""
    said = _compact(text).strip(cues.particles)
    if not said:
        return None
    for option in question.options:
        if _compact(option.title) == said:
            return option
    if cues.starts_negated(said):
        return None
    contained = [o for o in question.options if len(_compact(o.title)) >= 2 and _compact(o.title) in said]
    if not contained:
        return None
    longest = max(len(_compact(o.title)) for o in contained)
    best = [o for o in contained if len(_compact(o.title)) == longest]
    return best[0] if len(best) == 1 else None


def _by_entity(question: ClosedQuestion, reply: Reply) -> Option | None:
    """The one option whose payload carries an entity value the reply also carries (a service name)."""
    values = {(e, v) for e, v in reply.entities}
    if not values:
        return None
    matches = []
    for option in question.options:
        parsed = parse_payload(option.payload)
        if parsed and any((e, str(v)) in values for e, v in parsed[1].items()):
            matches.append(option)
    return matches[0] if len(matches) == 1 else None


def resolve(question: ClosedQuestion, reply: Reply, cues: Cues | None = None) -> Resolution:
    """Read ``reply`` against ``question``.

    Order: a button payload of the question; a number (the option with that key); an
    option named by its title or by an entity it carries (a service name); a yes or a
    no (cue words, or the NLU's affirm/deny on a short reply). Anything else is
    ``other``: a new message that the dialogue handles as usual.
    """
    cues = cues or default_cues()
    text = reply.text.strip()
    if not text:
        return Resolution("other")
    if text.startswith("/"):
        chosen = next((o for o in question.options if o.payload == text), None)
        return Resolution("option", chosen.payload) if chosen else Resolution("other")
    number = bare_number(text)
    if number is not None:
        chosen = next((o for o in question.options if o.key and o.key == str(number)), None)
        return Resolution("option", chosen.payload) if chosen else Resolution("other")
    chosen = _by_title(question, text, cues) or _by_entity(question, reply)
    if chosen:
        return Resolution("option", chosen.payload)
    polarity = cues.polarity(text)
    if polarity is None and len(text) <= MAX_SHORT_REPLY_CHARS and reply.confidence >= MIN_INTENT_CONFIDENCE:
        polarity = {"affirm": "yes", "deny": "no"}.get(reply.intent)
    if polarity == "yes":
        return Resolution("option", question.yes) if question.yes else Resolution("unclear")
    if polarity == "no":
        return Resolution("option", question.no) if question.no else Resolution("rephrase")
    return Resolution("other")
