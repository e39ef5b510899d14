"""Short per-channel forms of answers: the rules they follow and the lint that enforces them.

Every FAQ and every service-guide section carries, beside its full text:

* an **SMS form** that fits one UCS-2 SMS part (67 UTF-16 code units) *together with* the
  continuation hint the SMS channel appends (``channels.sms.texts.MORE_HINT_WORD``, 12 units),
  so the form itself may use at most :data:`SMS_MAX_UNITS` = 55 units. The hint is the
  channel's, not the content's: staff never type it, and a change of hint is one constant
  (a test keeps :data:`SMS_MORE_HINT` equal to the channel's);
* a **spoken form**: at most two short sentences, no brackets, no URLs, no Latin letters
  ("App" is written 手机应用/客户端, 《》 titles are written without the marks), codes and
  phone numbers written digit by digit with spaces ("1 2 3 4 5") so speech synthesis reads
  them singly, and at most :data:`SPOKEN_MAX_SECONDS` at :data:`CHARS_PER_SECOND`.

Pure functions (standard library only), shared by validation, the CLI lint, tests and bench.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# The service-guide sections that get short forms (field names of ``Service``).
GUIDE_SECTIONS = ("summary", "eligibility", "materials", "steps", "locations", "time_limit", "fees")
FORM_KEYS = ("sms", "spoken")

UCS2_PART = 67  # must equal channels.sms.segments.UCS2_PART (checked by a test)
SMS_MORE_HINT = "（回复“更多”查看更多）"  # must equal channels.sms.texts.MORE_HINT_WORD
SMS_MAX_UNITS = UCS2_PART - len(SMS_MORE_HINT)

CHARS_PER_SECOND = 4.0  # Mandarin read-aloud rate: about 240 characters a minute
SPOKEN_MAX_SECONDS = 15.0  # a form longer than this would be cut by the hotline's answer budget
SPOKEN_MAX_SENTENCES = 2

_SENTENCE_END_RE = re.compile(r"[。！？!?]+")
_BRACKETS = "()（）[]【】{}〔〕<>〈〉"
_URL_RE = re.compile(r"https?://|www\.|\.(?:cn|com|gov|org|net)\b", re.I)
_LATIN_RE = re.compile(r"[A-Za-z]")
_LONG_DIGITS_RE = re.compile(r"\d{5,}")  # phone numbers and codes: spell them "1 2 3 4 5"
# Characters spoken as more than one syllable.
_SPOKEN_COST = {"%": 3, "％": 3, "~": 1, "～": 1, "-": 0, "—": 1, "/": 1}
_SILENT = frozenset(" 　，。、；：！？,.;:!?“”‘’\"'·…\n")


def sms_units(text: str) -> int:
    """UCS-2 length: characters outside the Basic Multilingual Plane take two code units."""
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


def spoken_seconds(text: str) -> float:
    """Estimated reading time: :data:`CHARS_PER_SECOND` syllables a second, each digit one syllable."""
    syllables = 0.0
    for c in text:
        if c in _SILENT:
            continue
        syllables += _SPOKEN_COST.get(c, 1)
    return syllables / CHARS_PER_SECOND


def sentence_count(text: str) -> int:
    """Sentences in ``text`` (a trailing fragment without a full stop counts as one)."""
    return len([s for s in _SENTENCE_END_RE.split(text.strip()) if s.strip()])


def sms_problems(text: str) -> list[str]:
    """Why ``text`` is not a valid SMS form (empty when it is)."""
    text = (text or "").strip()
    if not text:
        return ["缺少短信版"]
    problems = []
    if sms_units(text) > SMS_MAX_UNITS:
        problems.append(f"短信版 {sms_units(text)} 字，超过 {SMS_MAX_UNITS} 字"
                        f"（加上“更多”提示须在一条短信 {UCS2_PART} 字内）")
    if "回复“更多”" in text or "回复 更多" in text:
        problems.append("短信版不要自己写“回复更多”提示，短信渠道会自动加上")
    return problems


def spoken_problems(text: str) -> list[str]:
    """Why ``text`` is not a valid spoken form (empty when it is)."""
    text = (text or "").strip()
    if not text:
        return ["缺少语音版"]
    problems = []
    if sentence_count(text) > SPOKEN_MAX_SENTENCES:
        problems.append(f"语音版有 {sentence_count(text)} 句，最多 {SPOKEN_MAX_SENTENCES} 句")
    seconds = spoken_seconds(text)
    if seconds > SPOKEN_MAX_SECONDS:
        problems.append(f"语音版约 {seconds:.1f} 秒，超过 {SPOKEN_MAX_SECONDS:.0f} 秒")
    if any(c in _BRACKETS for c in text):
        problems.append("语音版不要用括号")
    if "《" in text or "》" in text:
        problems.append("语音版不要用书名号，直接说名称")
    if _URL_RE.search(text):
        problems.append("语音版不要念网址，请说平台名称")
    if _LATIN_RE.search(text):
        problems.append("语音版不要用英文字母（App 请写“手机应用”或“客户端”）")
    if _LONG_DIGITS_RE.search(text):
        problems.append("语音版里的电话和编号请逐位写开，例如“1 2 3 4 5”")
    return problems


def faq_problems(faq: Mapping[str, Any] | Any) -> list[str]:
    """Problems of an FAQ's short forms (a mapping or an ORM object)."""
    get = faq.get if isinstance(faq, Mapping) else lambda k, d=None: getattr(faq, k, d)
    return sms_problems(get("sms_text", "")) + spoken_problems(get("spoken_text", ""))


def service_problems(forms: Mapping[str, Any] | None) -> list[str]:
    """Problems of a service's ``channel_forms`` (every section needs both forms)."""
    forms = forms or {}
    problems: list[str] = []
    for section in GUIDE_SECTIONS:
        entry = forms.get(section) or {}
        if not isinstance(entry, Mapping):
            problems.append(f"{section}：应为 {{sms, spoken}}")
            continue
        problems.extend(f"{section}：{p}" for p in sms_problems(entry.get("sms", "")))
        problems.extend(f"{section}：{p}" for p in spoken_problems(entry.get("spoken", "")))
    unknown = sorted(set(forms) - set(GUIDE_SECTIONS))
    if unknown:
        problems.append(f"未知的指南栏目：{', '.join(unknown)}")
    return problems


def _get(obj: Mapping[str, Any] | Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def lint(services: Iterable[Any], faqs: Iterable[Any]) -> list[str]:
    """Every problem of the published content, as ``服务 id`` / ``问答 id`` lines (empty = clean).

    Takes ORM objects or cleaned record mappings. Services are always live; an FAQ is
    linted when its status is ``published``: both short forms valid, an owner department
    and an expiry date (figures and rules change; someone must re-check them by then).
    """
    out: list[str] = []
    for svc in services:
        out.extend(f"服务 {_get(svc, 'id')} {p}" for p in service_problems(_get(svc, "channel_forms")))
    for faq in faqs:
        status = _get(faq, "status")
        if str(getattr(status, "value", status)) != "published":
            continue
        problems = faq_problems(faq)
        if not (_get(faq, "owner_department") or "").strip():
            problems.append("缺少负责部门 owner_department")
        if _get(faq, "expires_on") is None:
            problems.append("缺少失效日期 expires_on")
        ref = _get(faq, "id") or _get(faq, "service_id") or ""
        out.extend(f"问答 {ref}（{str(_get(faq, 'question'))[:20]}）：{p}" for p in problems)
    return out
