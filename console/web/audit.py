"""Audit log (admins): every change and sign-in, filterable, exportable as CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, render_template, request
from sqlalchemy import Select, func, select

from common.clock import CITY_TZ
from console.web.deps import factory, knowledge_repo
from console.web.diff import field_diffs
from console.web.security import actor, requires
from knowledge.models import AuditEntry
from knowledge.tabular import spreadsheet_safe

bp = Blueprint("staff_audit", __name__, url_prefix="/staff/audit", template_folder="../templates")
PAGE_SIZE = 100
CSV_MAX_ROWS = 100_000
FILTERS = ("actor", "action", "entity_type", "entity_id", "since", "until")


def _filtered(args: dict[str, str]) -> Select[Any]:
    stmt = select(AuditEntry)
    for key in ("actor", "action", "entity_type", "entity_id"):
        if args.get(key):
            stmt = stmt.where(getattr(AuditEntry, key) == args[key])
    for key, op in (("since", "ge"), ("until", "lt")):
        if args.get(key):
            try:
                day = dt.date.fromisoformat(args[key]) + (dt.timedelta(days=1) if key == "until" else dt.timedelta())
            except ValueError:
                continue
            moment = dt.datetime.combine(day, dt.time(), tzinfo=CITY_TZ).astimezone(dt.UTC)
            stmt = stmt.where(AuditEntry.at >= moment if op == "ge" else AuditEntry.at < moment)
    return stmt


@bp.get("")
@requires("audit.view")
def index() -> Any:
    """Newest entries first, 100 a page, with before/after diffs."""
    args = {k: request.args.get(k, "").strip() for k in FILTERS if request.args.get(k, "").strip()}
    page = max(1, request.args.get("page", 1, type=int) or 1)
    stmt = _filtered(args)
    with factory()() as s:
        total = int(s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
        rows = list(s.scalars(stmt.order_by(AuditEntry.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
        actions = sorted(s.scalars(select(AuditEntry.action).distinct()))
        types = sorted(s.scalars(select(AuditEntry.entity_type).distinct()))
    pages = max(1, -(-total // PAGE_SIZE))
    diffs = {}
    for e in rows:
        if e.before is not None and e.after is not None:
            keys = [k for k in e.after if e.before.get(k) != e.after.get(k)
                    and k not in ("updated_at", "version", "updated_by")]
            diffs[e.id] = field_diffs(e.before, e.after, keys)
    return render_template("staff/audit.html", rows=rows, total=total, page=page, pages=pages, args=args,
                           actions=actions, types=types, diffs=diffs,
                           page_args=lambda n: urlencode({**args, "page": n}), csv_args=urlencode(args))


@bp.get("/export.csv")
@requires("audit.view")
def export_csv() -> Response:
    """The filtered log as CSV (UTF-8 with BOM so spreadsheet software shows Chinese)."""
    args = {k: request.args.get(k, "").strip() for k in FILTERS if request.args.get(k, "").strip()}
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf)
    writer.writerow(["id", "at", "actor", "action", "entity_type", "entity_id", "note", "before", "after"])
    with factory()() as s:
        for e in s.scalars(_filtered(args).order_by(AuditEntry.id).limit(CSV_MAX_ROWS)):
            at = e.at if e.at.tzinfo else e.at.replace(tzinfo=dt.UTC)
            writer.writerow([_cell(str(v)) for v in (
                e.id, at.astimezone(CITY_TZ).isoformat(timespec="seconds"), e.actor, e.action,
                e.entity_type, e.entity_id, e.note,
                json.dumps(e.before, ensure_ascii=False) if e.before is not None else "",
                json.dumps(e.after, ensure_ascii=False) if e.after is not None else "")])
    knowledge_repo().record_event(actor=actor(), action="export", entity_type="audit_log", entity_id="-",
                                  note=json.dumps(args, ensure_ascii=False)[:400])
    stamp = dt.datetime.now(CITY_TZ).strftime("%Y%m%d-%H%M")
    return Response(buf.getvalue(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f"attachment; filename=audit-{stamp}.csv"})


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection) in every cell.

    The attempted user name of a failed sign-in, entity ids and notes are free text someone else typed.
    """
    return str(spreadsheet_safe(value))
