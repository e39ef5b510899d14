"""Import (CSV / XLSX / YAML, dry run first, all or nothing) and export of the knowledge base."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, abort, flash, render_template, request

from common.clock import CITY_TZ
from console.web.deps import knowledge_repo
from console.web.forms import ImportForm
from console.web.security import actor, requires
from knowledge.tabular import FAQ_COLUMNS, SERVICE_COLUMNS, faq_rows, read_upload, service_rows, write_csv, write_xlsx
from knowledge.transfer import ImportFailed, dump_yaml, export_bundle, import_records

bp = Blueprint("staff_transfer", __name__, url_prefix="/staff/transfer", template_folder="../templates")
IMPORT_MAX_BYTES = 32 * 1024 * 1024
CHANGES_SHOWN = 500
KIND_LABELS = {"service": "服务", "faq": "常见问题", "center": "服务中心"}


@bp.before_app_request
def allow_large_imports() -> None:
    """Imports may be larger than the app's 1 MiB body limit (admins only; checked in the view)."""
    if request.endpoint == "staff_transfer.do_import":
        request.max_content_length = IMPORT_MAX_BYTES


@bp.get("")
@requires("view")
def index() -> Any:
    """Upload form (admins) and export links."""
    return render_template("staff/transfer.html", form=ImportForm(), report=None, errors=None,
                           kind_labels=KIND_LABELS)


@bp.post("/import")
@requires("transfer.import")
def do_import() -> Any:
    """Import an uploaded file; a dry run shows what would change and writes nothing."""
    form = ImportForm()
    if not form.validate_on_submit():
        for errs in form.errors.values():
            for e in errs:
                flash(str(e), "error")
        return render_template("staff/transfer.html", form=form, report=None, errors=None,
                               kind_labels=KIND_LABELS), 400
    upload = form.file.data
    name = upload.filename or "upload"
    dry_run = bool(form.dry_run.data)
    try:
        records = read_upload(upload.read(), name)
        report = import_records(knowledge_repo(), records, actor=actor(), dry_run=dry_run)
    except ImportFailed as exc:
        return render_template("staff/transfer.html", form=form, report=None, errors=exc.errors, filename=name,
                               kind_labels=KIND_LABELS), 422
    if not dry_run:
        flash(f"导入完成：{report.summary()}", "success")
    return render_template("staff/transfer.html", form=form, report=report, errors=None, filename=name,
                           changes=report.changes[:CHANGES_SHOWN], kind_labels=KIND_LABELS)


@bp.get("/export.<fmt>")
@requires("transfer.export")
def export(fmt: str) -> Response:
    """The knowledge base as YAML (everything), XLSX (services + FAQs) or CSV (``?kind=faqs|services``)."""
    repo = knowledge_repo()
    stamp = dt.datetime.now(CITY_TZ).strftime("%Y%m%d-%H%M")
    if fmt == "yml":
        body, mime, name = dump_yaml(export_bundle(repo)).encode("utf-8"), "application/x-yaml", "kb"
    elif fmt == "xlsx":
        body = write_xlsx({"services": (SERVICE_COLUMNS, service_rows(repo.list_services())),
                           "faqs": (FAQ_COLUMNS, faq_rows(repo.list_faqs()))})
        mime, name = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "kb"
    elif fmt == "csv":
        kind = request.args.get("kind", "faqs")
        if kind == "faqs":
            body = write_csv(FAQ_COLUMNS, faq_rows(repo.list_faqs()))
        elif kind == "services":
            body = write_csv(SERVICE_COLUMNS, service_rows(repo.list_services()))
        else:
            abort(404)
        mime, name = "text/csv; charset=utf-8", kind
    else:
        abort(404)
    repo.record_event(actor=actor(), action="export", entity_type="bundle", entity_id="-", note=f"{name}.{fmt}")
    return Response(body, mimetype=mime,
                    headers={"Content-Disposition": f"attachment; filename={name}-{stamp}.{fmt}"})
