"""Dashboard: conversations, questions, bookings, complaints and ratings as inline SVG charts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, current_app, render_template

from casework.cases import load_rules
from casework.departments import department_names
from common.calendar import calendar_notice
from common.clock import city_today
from console.stats import build_dashboard, tracker_db_url
from console.web.cases import case_desk
from console.web.charts import day_chart, hbar_chart
from console.web.deps import factory, knowledge_repo, workflow
from console.web.security import requires
from knowledge.settings import REPO_DIR

bp = Blueprint("staff_dashboard", __name__, url_prefix="/staff/dashboard", template_folder="../templates")
CHANNEL_LABELS = {"webchat": "网页聊天", "sms": "短信", "twilio": "短信", "voice": "语音", "twilio_voice": "语音",
                  "mail": "邮件", "email": "邮件", "telegram": "Telegram", "rest": "接口", "socketio": "网页聊天"}

# The booking horizon is the action server's tunable; the dashboard reads the same file.
ACTIONS_SETTINGS = REPO_DIR / "actions" / "config" / "settings.yml"


def booking_horizon_days() -> int:
    """The booking horizon of the action server's settings (``ACTIONS_SETTINGS``; 30 when unreadable)."""
    path = Path(os.environ.get("ACTIONS_SETTINGS") or ACTIONS_SETTINGS)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return int((data.get("booking") or {}).get("horizon_days", 30))
    except (OSError, ValueError, TypeError, AttributeError, yaml.YAMLError):
        return 30


@bp.get("")
@requires("view")
def index() -> Any:
    """The last 14 days at a glance."""
    data = build_dashboard(factory(), current_app.config.get("TRACKER_DB_URL") or tracker_db_url())
    charts: dict[str, Any] = {}
    if data.conversations is not None:
        series = {CHANNEL_LABELS.get(ch, ch): vals for ch, vals in data.conversations.items()}
        charts["conversations"] = day_chart(data.days, series, "每日各渠道会话数")
        charts["asked"] = hbar_chart(data.asked_services or [], "咨询最多的服务")
    charts["answers"] = day_chart(data.days, data.answers, "每日回答情况")
    charts["bookings"] = day_chart(data.booking_days, data.bookings, "各服务中心每日预约数")
    charts["complaints"] = hbar_chart(data.complaints, "投诉类别")
    charts["ratings"] = hbar_chart([(f"{k} 分", v) for k, v in sorted(data.ratings.items(), reverse=True)],
                                   "满意度评分分布")
    charts["handoffs"] = day_chart(data.days, {"转人工": data.handoffs}, "每日转人工次数")
    cases = case_desk().stats()
    names = department_names()
    charts["cases"] = day_chart(cases.weeks, {names.get(d, "待派单"): v for d, v in cases.per_department_week.items()},
                                "各部门每周新增工单（按周一标注）")
    rated = [(label, cases.ratings.get(label, 0)) for label in load_rules().ratings.values()]
    charts["case_ratings"] = hbar_chart(rated if any(n for _, n in rated) else [], "市民对答复的评价")
    wf = workflow()
    notice = calendar_notice(city_today(), booking_horizon_days())
    return render_template("staff/dashboard.html", data=data, charts=charts, queue=len(wf.review_queue()),
                           expiring=len(wf.expiring()), calendar_notice=notice, velocity_alerts=velocity_alerts(),
                           cases=cases)


def velocity_alerts() -> list[dict[str, Any]]:
    """Centres and client addresses with more bookings in the last hour than ``casework/guards.yml`` allows."""
    from casework.guards import PhoneProofs

    centers = {c.id: c.name for c in knowledge_repo().list_centers()}
    return [{"kind": a.kind, "label": centers.get(a.key, a.key) if a.kind == "center" else f"来源 {a.key[:8]}",
             "count": a.count, "threshold": a.threshold, "window_minutes": a.window_minutes}
            for a in PhoneProofs(factory()).velocity_alerts()]
