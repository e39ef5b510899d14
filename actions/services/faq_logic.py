"""How the FAQ action decides: answer, ask which service, or say it does not know."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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
TOPIC_LABELS = {"fees": "收费", "place": "办理地点", "materials": "所需材料", "time": "办理时限",
                "eligibility": "申请条件", "process": "办理流程", "online": "网上办理"}
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
