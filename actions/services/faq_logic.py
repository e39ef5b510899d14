"""How the FAQ action decides: answer, ask which service, or say it does not know."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from common.status import TOPIC_LABELS

# Topic cue words (Simplified, Cantonese-flavoured forms included) → service-record field.
TOPICS: dict[str, tuple[str, ...]] = {
    "fees": ("多少钱", "几钱", "几多钱", "收费", "费用", "工本费", "价格", "要钱", "免费", "交钱", "钱"),
    "place": ("哪里", "在哪", "哪儿", "地点", "地址", "边度", "去哪", "哪个窗口", "哪个部门", "去边"),
    "materials": ("材料", "带什么", "带咩", "证件", "资料", "准备什么", "准备咩", "要带", "提交什么"),
    "time": ("多久", "几天", "几耐", "时限", "多长时间", "几时可以", "几个工作日", "要等", "多少天"),
    "eligibility": ("条件", "资格", "能不能办", "可不可以办", "可以办吗", "谁可以", "符合", "能办吗", "有冇资格"),
    "process": ("流程", "步骤", "怎么办理", "点样办", "程序", "手续", "怎么申请", "如何办理"),
    "online": ("网上", "线上", "网办", "小程序", "网站", "app", "粤省事", "穗好办"),
}
TOPIC_FIELDS = {"fees": "fees", "place": "locations", "materials": "materials", "time": "time_limit",
                "eligibility": "eligibility", "process": "steps", "online": "online_url"}
_PAYLOAD_RE = re.compile(r"^\s*/\w+")


class HitLike(Protocol):
    """What the decision needs of a search hit (read-only, so any hit type with these fits)."""

    @property
    def service_id(self) -> str | None: ...

    @property
    def faq_id(self) -> int | None: ...

    @property
    def confidence(self) -> float: ...


@dataclass(frozen=True)
class Decision:
    """``answer`` (hits[0]), ``choose`` (ask which of hits), or ``none``."""

    kind: str
    hits: tuple[Any, ...] = ()


def is_payload(text: str) -> bool:
    """Whether the text is a button payload like ``/ask_service_guide{...}``."""
    return bool(_PAYLOAD_RE.match(text or ""))


def detect_topic(text: str) -> str | None:
    """The aspect a question asks about (fees, place, materials…), or None."""
    low = (text or "").lower()
    best: tuple[int, str] | None = None
    for topic, cues in TOPICS.items():
        for cue in cues:
            pos = low.find(cue)
            if pos >= 0 and (best is None or len(cue) > best[0]):
                best = (len(cue), topic)
    return best[1] if best else None


def decide(hits: Sequence[HitLike], *, answer_threshold: float, suggest_threshold: float,
           ambiguity_margin: float) -> Decision:
    """Answer the top hit when it is confident and clearly ahead; otherwise offer the close ones."""
    if not hits:
        return Decision("none")
    top = hits[0]
    runner_up = hits[1].confidence if len(hits) > 1 else 0.0
    if top.confidence >= answer_threshold and top.confidence - runner_up >= ambiguity_margin:
        return Decision("answer", (top,))
    close = tuple(h for h in hits[:3] if h.confidence >= suggest_threshold and h.service_id)
    if len(close) >= 2:
        return Decision("choose", close)
    if len(close) == 1 and top.confidence >= answer_threshold:
        return Decision("answer", (top,))
    if len(close) == 1:
        return Decision("choose", close)
    return Decision("none")


def topic_content(service: Any, topic: str) -> str:
    """The service record's text for a topic (lists joined for reading)."""
    value = getattr(service, TOPIC_FIELDS[topic], "")
    if isinstance(value, list):
        if topic == "process":
            return "；".join(f"{i}. {step}" for i, step in enumerate(value, start=1))
        return "、".join(str(v) for v in value)
    return str(value or "")


def short_list(items: Sequence[str], n: int = 5) -> str:
    """The first ``n`` items joined, with 等 when cut."""
    shown = "、".join(items[:n])
    return shown + ("等" if len(items) > n else "")


@dataclass(frozen=True)
class Thresholds:
    """The FAQ action's tunables (``actions/config/settings.yml``)."""

    answer: float
    suggest: float
    ambiguity_margin: float
    low_confidence: float
    follow_up_coverage: float
    short_unclear_chars: int


@dataclass(frozen=True)
class Plan:
    """What the FAQ action does with a message.

    Attributes:
        kind: ``how_can_help`` (a bare value with nothing asked), ``within`` (answer about
            ``service_id``), ``faq`` (answer ``faq_id``), ``not_understood`` (a few
            characters that match nothing), ``choose`` (ask which of ``hits``) or
            ``no_answer`` (say so, record it, offer a person).
        service_id: the service for ``within``.
        faq_id: the FAQ for ``faq``.
        hits: the candidates for ``choose``.
        record: why to record the question for staff (``low_confidence``, ``no_match``), or None.
        record_hit: the best hit recorded with it.
    """

    kind: str
    service_id: str | None = None
    faq_id: int | None = None
    hits: tuple[Any, ...] = ()
    record: str | None = None
    record_hit: Any = None


def plan_answer(*, intent: str | None, named: str | None, context: str | None, topic: str | None,
                text_chars: int, hits: Sequence[HitLike], context_hits: Sequence[HitLike],
                thresholds: Thresholds) -> Plan:
    """Decide how to answer a service-guide message.

    Args:
        intent: the NLU intent of the message.
        named: a known service the message names (entity), or None.
        context: the known service of the conversation so far (slot), or None.
        topic: the aspect asked about (:func:`detect_topic`), or None.
        text_chars: length of the normalised question.
        hits: the search's hits for the question (best first).
        context_hits: hits for the question among the FAQs of ``context``.
        thresholds: the tunables.
    """
    if intent == "ask_service_guide" and not named and not text_chars:  # the "办事指南" menu: which one?
        return Plan("ask_topic")
    if intent == "inform" and not named:  # a bare date, number or name with nothing asked
        return Plan("how_can_help")
    if named:
        return Plan("within", service_id=named)
    decision = decide(hits, answer_threshold=thresholds.answer, suggest_threshold=thresholds.suggest,
                      ambiguity_margin=thresholds.ambiguity_margin)
    new_service = decision.kind == "answer" and decision.hits[0].service_id not in (None, context)
    if context and not new_service:
        if topic:  # "那要多少钱？" about the service in context
            return Plan("within", service_id=context)
        if decision.kind != "answer" and context_hits and context_hits[0].confidence >= thresholds.follow_up_coverage:
            return Plan("faq", faq_id=context_hits[0].faq_id)
    if decision.kind == "none" and not hits and text_chars <= thresholds.short_unclear_chars:
        # A few characters that match nothing ("跳过", "嗯嗯"): not a question to record.
        return Plan("not_understood")
    if decision.kind == "answer":
        hit = decision.hits[0]
        record = "low_confidence" if hit.confidence < thresholds.low_confidence else None
        if hit.faq_id is not None:
            return Plan("faq", faq_id=hit.faq_id, record=record, record_hit=hit)
        return Plan("within", service_id=hit.service_id, record=record, record_hit=hit)
    if decision.kind == "choose":
        return Plan("choose", hits=decision.hits)
    return Plan("no_answer", record="no_match", record_hit=hits[0] if hits else None)
def section_form(service: Any, field: str, channel: str, fallback: str) -> str:
    """The short ``channel`` form ("sms" | "spoken") of a guide section, or ``fallback`` when staff wrote none."""
    forms = (getattr(service, "channel_forms", None) or {}).get(field) or {}
    return str(forms.get(channel) or "").strip() or fallback


def full_guide(service: Any) -> str:
    """The whole guide as plain labelled text (what an SMS "更多" sends after the short form)."""
    parts = [f"【{service.name}】{service.summary}"]
    for topic in ("materials", "time", "fees", "place", "process"):
        content = topic_content(service, topic)
        if content:
            parts.append(f"{TOPIC_LABELS[topic]}：{content}")
    return "\n".join(parts)
