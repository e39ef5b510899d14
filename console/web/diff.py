"""A readable inline diff of two versions (character level: Chinese has no spaces)."""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import Any

from markupsafe import Markup, escape

FIELD_LABELS = {
    "question": "标准问题", "alternatives": "其他问法", "answer": "答案", "service_id": "关联服务",
    "topic": "主题", "owner_department": "责任部门", "effective_from": "生效日期", "expires_on": "失效日期",
    "status": "状态", "name": "服务名称", "category": "类别", "audience": "服务对象", "department": "主管部门",
    "summary": "简介", "keywords": "关键词", "eligibility": "办理条件", "materials": "所需材料", "steps": "办理流程",
    "locations": "办理地点", "time_limit": "办理时限", "fees": "收费标准", "online_url": "网上办理地址",
    "forms": "表格", "legal_basis": "法律依据", "sms_text": "短信简答", "spoken_text": "语音版",
    "channel_forms": "各栏目的短信版和语音版", "online_only": "只能网上办理", "online_route": "网上办理途径",
}


def as_text(value: Any) -> str:
    """A field value as comparable text (lists one item per line)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(as_text(v) if not isinstance(v, dict) else " | ".join(map(str, v.values())) for v in value)
    return str(value)


def inline_diff(before: Any, after: Any) -> Markup:
    """HTML with removed text in ``<del>`` and added text in ``<ins>``; everything escaped."""
    a, b = as_text(before), as_text(after)
    out: list[str] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(str(escape(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(f"<del>{escape(a[i1:i2])}</del>")
        if j2 > j1:
            out.append(f"<ins>{escape(b[j1:j2])}</ins>")
    return Markup("".join(out).replace("\n", "<br>"))


def field_diffs(before: dict[str, Any] | None, after: dict[str, Any] | None,
                fields: list[str]) -> list[tuple[str, Markup]]:
    """(label, inline diff) for each of ``fields``."""
    return [(FIELD_LABELS.get(f, f), inline_diff((before or {}).get(f), (after or {}).get(f))) for f in fields]
