"""Validation of service, FAQ and centre records before they reach the database.

Messages are for staff (Chinese, naming the field), collected rather than raised one
at a time so an import can report every bad row at once.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from knowledge.channel_forms import FORM_KEYS, GUIDE_SECTIONS
from knowledge.models import Audience, FaqStatus

SERVICE_ID_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
HOURS_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
FAQ_TOPICS = ("materials", "fees", "time", "place", "eligibility", "process", "online", "other")
SERVICE_TEXT_FIELDS = ("summary", "eligibility", "locations", "time_limit", "fees", "online_url")
SERVICE_LIST_FIELDS = ("keywords", "materials", "steps", "legal_basis")
# Venue types (ServiceCenter.type) and how citizens call them.
VENUE_TYPES = {
    "district_center": "区政务服务中心",
    "street_center": "镇街政务服务中心",
    "marriage_registry": "婚姻登记处",
    "exit_entry_hall": "出入境办证大厅",
    "police_hukou": "派出所户政窗口",
    "migrant_service": "来穗人员服务管理中心",
    "vehicle_admin": "车管所",
    "social_insurance": "社保经办窗口",
    "medical_insurance": "医保经办窗口",
    "housing_fund": "住房公积金服务网点",
    "real_estate": "不动产登记窗口",
    "health_check": "健康体检机构",
    "municipal_center": "市政务服务中心",
}
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "是", "true()"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "否", ""})
MAX_TEXT = 20000  # official answers can be long (real FAQ data has 14k-character answers)


class ValidationError(ValueError):
    """A record is invalid; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str]):
        super().__init__("；".join(errors))
        self.errors = errors


def _text(value: Any, field: str, errors: list[str], *, required: bool, max_len: int = MAX_TEXT) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.append(f"字段 {field} 不能为空")
        return ""
    if not isinstance(value, str | int | float):
        errors.append(f"字段 {field} 应为文本")
        return ""
    text = str(value).strip()
    if len(text) > max_len:
        errors.append(f"字段 {field} 超过 {max_len} 字")
    return text


def _str_list(value: Any, field: str, errors: list[str], *, required: bool) -> list[str]:
    if value is None or value == "":
        if required:
            errors.append(f"字段 {field} 至少要有一项")
        return []
    if isinstance(value, str):
        value = [v for v in re.split(r"[\n|；;]+", value)]
    if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
        errors.append(f"字段 {field} 应为文本列表")
        return []
    items = [str(v).strip() for v in value if str(v).strip()]
    if required and not items:
        errors.append(f"字段 {field} 至少要有一项")
    return items


def _date(value: Any, field: str, errors: list[str]) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        errors.append(f"字段 {field} 不是有效日期（应为 YYYY-MM-DD）：{value!r}")
        return None


def _bool(value: Any, field: str, errors: list[str]) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value if value is not None else "").strip().lower()
    if word in TRUE_WORDS:
        return True
    if word not in FALSE_WORDS:
        errors.append(f"字段 {field} 应为 true 或 false：{value!r}")
    return False


def _channel_forms(value: Any, errors: list[str]) -> dict[str, dict[str, str]]:
    """``{section: {sms, spoken}}`` with known sections only; empty forms dropped."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        errors.append("字段 channel_forms 应为 {栏目: {sms, spoken}}")
        return {}
    out: dict[str, dict[str, str]] = {}
    for section, forms in value.items():
        if str(section).startswith("__"):  # the YAML reader's line marks
            continue
        if isinstance(forms, dict):
            forms = {k: v for k, v in forms.items() if not str(k).startswith("__")}
        if section not in GUIDE_SECTIONS:
            errors.append(f"channel_forms 栏目应为 {'/'.join(GUIDE_SECTIONS)} 之一：{section!r}")
            continue
        if not isinstance(forms, dict) or set(forms) - set(FORM_KEYS):
            errors.append(f"channel_forms.{section} 应为 {{sms, spoken}}")
            continue
        clean = {k: _text(forms.get(k), f"channel_forms.{section}.{k}", errors, required=False, max_len=1000)
                 for k in FORM_KEYS}
        if any(clean.values()):
            out[str(section)] = clean
    return out


def clean_service(data: dict[str, Any]) -> dict[str, Any]:
    """Return the normalised column values of a service record, or raise ValidationError."""
    errors: list[str] = []
    sid = str(data.get("id") or "").strip()
    if not SERVICE_ID_RE.match(sid):
        errors.append(f"服务编号 id 无效：{sid!r}（小写字母、数字、下划线）")
    out: dict[str, Any] = {"id": sid}
    out["name"] = _text(data.get("name"), "name", errors, required=True, max_len=200)
    out["category"] = _text(data.get("category"), "category", errors, required=True, max_len=64)
    out["department"] = _text(data.get("department"), "department", errors, required=True, max_len=200)
    audience = str(data.get("audience") or "").strip()
    if audience not in Audience.__members__:
        errors.append(f"字段 audience 应为 citizen 或 enterprise：{audience!r}")
    out["audience"] = audience
    for field in SERVICE_TEXT_FIELDS:
        out[field] = _text(data.get(field), field, errors, required=field != "online_url")
    for field in SERVICE_LIST_FIELDS:
        out[field] = _str_list(data.get(field), field, errors, required=field in ("materials", "steps"))
    forms = data.get("forms") or []
    if not isinstance(forms, list) or not all(isinstance(f, dict) and f.get("name") for f in forms):
        errors.append("字段 forms 应为 {name, url} 列表")
        forms = []
    out["forms"] = [{"name": str(f["name"]).strip(), "url": str(f.get("url") or "").strip()} for f in forms]
    out["channel_forms"] = _channel_forms(data.get("channel_forms"), errors)
    out["online_only"] = _bool(data.get("online_only"), "online_only", errors)
    out["online_route"] = _text(data.get("online_route"), "online_route", errors, required=out["online_only"],
                                max_len=300)
    if errors:
        raise ValidationError(errors)
    return out


def clean_faq(data: dict[str, Any], *, known_services: set[str] | None = None) -> dict[str, Any]:
    """Return the normalised column values of an FAQ record, or raise ValidationError."""
    errors: list[str] = []
    out: dict[str, Any] = {}
    out["question"] = _text(data.get("question"), "question", errors, required=True, max_len=1000)
    out["answer"] = _text(data.get("answer"), "answer", errors, required=True)
    out["alternatives"] = _str_list(data.get("alternatives"), "alternatives", errors, required=False)
    out["sms_text"] = _text(data.get("sms_text"), "sms_text", errors, required=False, max_len=1000)
    out["spoken_text"] = _text(data.get("spoken_text"), "spoken_text", errors, required=False, max_len=1000)
    service_id = data.get("service_id") or None
    if service_id is not None:
        service_id = str(service_id).strip()
        if known_services is not None and service_id not in known_services:
            errors.append(f"关联服务不存在：{service_id!r}")
    out["service_id"] = service_id
    topic = str(data.get("topic") or "other").strip()
    if topic not in FAQ_TOPICS:
        errors.append(f"字段 topic 应为 {'/'.join(FAQ_TOPICS)} 之一：{topic!r}")
    out["topic"] = topic
    status = str(data.get("status") or FaqStatus.draft.value).strip()
    if status not in FaqStatus.__members__:
        errors.append(f"字段 status 应为 draft/submitted/published/archived 之一：{status!r}")
    out["status"] = status
    out["owner_department"] = _text(data.get("owner_department"), "owner_department", errors, required=False)
    out["effective_from"] = _date(data.get("effective_from"), "effective_from", errors)
    out["expires_on"] = _date(data.get("expires_on"), "expires_on", errors)
    if out["effective_from"] and out["expires_on"] and out["expires_on"] < out["effective_from"]:
        errors.append("失效日期 expires_on 早于生效日期 effective_from")
    if errors:
        raise ValidationError(errors)
    return out


def clean_center(data: dict[str, Any], *, known_services: set[str] | None = None) -> dict[str, Any]:
    """Return the normalised values of a service-centre record, or raise ValidationError."""
    errors: list[str] = []
    cid = str(data.get("id") or "").strip()
    if not SERVICE_ID_RE.match(cid):
        errors.append(f"中心编号 id 无效：{cid!r}")
    out: dict[str, Any] = {"id": cid}
    venue_type = str(data.get("type") or "district_center").strip()
    if venue_type not in VENUE_TYPES:
        errors.append(f"字段 type 应为 {'/'.join(VENUE_TYPES)} 之一：{venue_type!r}")
    out["type"] = venue_type
    for field, required, max_len in (
        ("name", True, 200), ("district", True, 32), ("address", True, 300),
        ("phone", False, 40), ("hours_text", False, 300),
    ):
        out[field] = _text(data.get(field), field, errors, required=required, max_len=max_len)
    hours = data.get("opening_hours") or {}
    clean_hours: dict[str, list[str]] = {}
    if not isinstance(hours, dict):
        errors.append("字段 opening_hours 应为 {weekdays, saturday, sunday}")
        hours = {}
    for day in ("weekdays", "saturday", "sunday"):
        ranges = hours.get(day) or []
        if not isinstance(ranges, list) or not all(isinstance(r, str) and HOURS_RE.match(r) for r in ranges):
            errors.append(f"opening_hours.{day} 应为 HH:MM-HH:MM 列表")
            ranges = []
        clean_hours[day] = list(ranges)
    if not clean_hours["weekdays"]:
        errors.append("opening_hours.weekdays 不能为空")
    out["opening_hours"] = clean_hours
    try:
        capacity = int(data.get("slot_capacity", 4))
        if not 1 <= capacity <= 100:
            raise ValueError
    except (TypeError, ValueError):
        errors.append("字段 slot_capacity 应为 1-100 的整数")
        capacity = 4
    out["slot_capacity"] = capacity
    services = data.get("services", "all")
    if services == "all":
        out["all_services"], out["service_ids"] = True, []
    elif isinstance(services, list) and all(isinstance(s, str) for s in services):
        unknown = sorted(set(services) - known_services) if known_services is not None else []
        if unknown:
            errors.append(f"服务不存在：{', '.join(unknown)}")
        out["all_services"], out["service_ids"] = False, sorted(set(services))
    else:
        errors.append("字段 services 应为 all 或服务编号列表")
    if errors:
        raise ValidationError(errors)
    return out
