"""Import and export of knowledge content (YAML), all-or-nothing with per-row errors.

A file may hold ``services`` (each with nested ``faqs``), ``faqs`` (stand-alone, with
``service_id``) and ``centers``. Every record is validated before anything is written;
one bad row aborts the whole import with a list of errors naming file and line.
A dry run performs the import inside a transaction and rolls it back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from common.textnorm import normalize
from knowledge.db import session_scope
from knowledge.models import Faq, Service, ServiceCenter
from knowledge.repository import KnowledgeRepository, snapshot
from knowledge.settings import SEED_DIR
from knowledge.validation import ValidationError, clean_center, clean_faq, clean_service

LINE_KEY = "__line__"
SEED_EFFECTIVE_FROM = dt.date(2026, 1, 1)


class ImportFailed(Exception):
    """The import was rejected; nothing was written. ``errors`` names file:line for each."""

    def __init__(self, errors: list[str]):
        super().__init__(f"{len(errors)} error(s): " + "; ".join(errors[:5]))
        self.errors = errors


@dataclass
class Record:
    """One record to import, with where it came from."""

    kind: str  # service | faq | center
    data: dict[str, Any]
    source: str  # "file:line"


@dataclass(frozen=True)
class Change:
    """One record an import creates or changes (what a dry run shows staff)."""

    kind: str  # service | faq | center
    action: str  # create | update
    key: str  # id, or the question of a new FAQ
    source: str  # "file:line"
    fields: tuple[str, ...] = ()


@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do)."""

    created: dict[str, int] = field(default_factory=lambda: {"service": 0, "faq": 0, "center": 0})
    updated: dict[str, int] = field(default_factory=lambda: {"service": 0, "faq": 0, "center": 0})
    unchanged: dict[str, int] = field(default_factory=lambda: {"service": 0, "faq": 0, "center": 0})
    dry_run: bool = False
    changes: list[Change] = field(default_factory=list)

    def summary(self) -> str:
        """One line for staff and logs."""
        parts = [f"{kind}: +{self.created[kind]} ~{self.updated[kind]} ={self.unchanged[kind]}"
                 for kind in ("service", "faq", "center")]
        return ("[dry run] " if self.dry_run else "") + ", ".join(parts)


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader that records each mapping's 1-based line number."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict[str, Any]:
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=True)
    mapping[LINE_KEY] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(path: Path) -> list[Record]:
    """Records from one YAML file; raises ImportFailed for unreadable files."""
    name = path.name
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except UnicodeDecodeError:
        raise ImportFailed([f"{name}: 文件不是 UTF-8 编码"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        raise ImportFailed([f"{where}: YAML 格式错误：{getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, dict):
        raise ImportFailed([f"{name}: 顶层应为包含 services / faqs / centers 的映射"])
    records: list[Record] = []
    for svc in data.get("services") or []:
        if not isinstance(svc, dict):
            raise ImportFailed([f"{name}: services 下每一项应为映射"])
        faqs = svc.pop("faqs", None) or []
        records.append(Record("service", svc, f"{name}:{svc.get(LINE_KEY, '?')}"))
        for faq in faqs:
            if not isinstance(faq, dict):
                raise ImportFailed([f"{name}:{svc.get(LINE_KEY, '?')}: faqs 下每一项应为映射"])
            faq.setdefault("service_id", svc.get("id"))
            faq.setdefault("status", "published")
            faq.setdefault("owner_department", svc.get("department", ""))
            faq.setdefault("effective_from", SEED_EFFECTIVE_FROM)
            records.append(Record("faq", faq, f"{name}:{faq.get(LINE_KEY, '?')}"))
    for kind, key in (("faq", "faqs"), ("center", "centers")):
        for item in data.get(key) or []:
            line = item.get(LINE_KEY, "?") if isinstance(item, dict) else "?"
            records.append(Record(kind, item, f"{name}:{line}"))
    return records


def seed_paths(seed_dir: Path = SEED_DIR) -> list[Path]:
    """The seed files in load order: services first, then centres (which reference them)."""
    return sorted((seed_dir / "services").glob("*.yml")) + [p for p in [seed_dir / "centers.yml"] if p.exists()]


def validate(records: list[Record], known_services: set[str]) -> list[str]:
    """Every problem in ``records`` as ``source: message`` lines (empty when all are valid)."""
    errors: list[str] = []
    services = set(known_services) | {str(r.data.get("id")) for r in records
                                      if r.kind == "service" and isinstance(r.data, dict)}
    seen: dict[tuple[str, str], str] = {}
    for rec in records:
        if not isinstance(rec.data, dict):
            errors.append(f"{rec.source}: 记录应为映射")
            continue
        try:
            if rec.kind == "service":
                key = ("service", str(rec.data.get("id")))
                clean_service(rec.data)
            elif rec.kind == "faq":
                clean = clean_faq(rec.data, known_services=services)
                key = ("faq", str(rec.data["id"]) if rec.data.get("id")
                       else f"{clean['service_id']}|{clean['owner_department']}|{normalize(clean['question'])}")
            else:
                key = ("center", str(rec.data.get("id")))
                clean_center(rec.data, known_services=services)
        except ValidationError as exc:
            errors.extend(f"{rec.source}: {msg}" for msg in exc.errors)
            continue
        if key in seen:
            errors.append(f"{rec.source}: 与 {seen[key]} 重复")
        seen.setdefault(key, rec.source)
    return errors


def lint_records(records: list[Record]) -> list[str]:
    """Short-form problems of the published records (``source: problem``); invalid records raise ImportFailed."""
    from knowledge.channel_forms import lint

    errors = validate(records, set())
    if errors:
        raise ImportFailed(errors)
    out: list[str] = []
    for rec in records:
        if rec.kind == "service":
            out.extend(f"{rec.source}: {p}" for p in lint([clean_service(rec.data)], []))
        elif rec.kind == "faq":
            out.extend(f"{rec.source}: {p}" for p in lint([], [clean_faq(rec.data)]))
    return out


def import_records(
    repo: KnowledgeRepository, records: list[Record], *, actor: str, dry_run: bool = False
) -> ImportReport:
    """Import ``records`` in one transaction; raise ImportFailed (writing nothing) on any error."""
    report = ImportReport(dry_run=dry_run)
    with repo.factory() as s:
        known = set(s.scalars(select(Service.id)))
        errors = validate(records, known)
        if errors:
            raise ImportFailed(errors)
        existing_faqs = {_faq_key(f.service_id, f.owner_department, f.question): f.id for f in s.scalars(select(Faq))}
    try:
        with session_scope(repo.factory) as s:
            for rec in records:
                data = {k: v for k, v in rec.data.items() if k != LINE_KEY}
                kind = rec.kind
                if kind == "service":
                    before = s.get(Service, data.get("id"))
                    version = before.version if before else None
                    old_snap = snapshot(before) if before else None
                    svc = repo.save_service(data, actor=actor, session=s)
                    _count(report, kind, before is None, version != svc.version)
                    _note(report, rec, kind, svc.id, old_snap, snapshot(svc))
                elif kind == "center":
                    before_c = s.get(ServiceCenter, data.get("id"))
                    snap = snapshot(before_c) if before_c else None
                    center = repo.save_center(data, actor=actor, session=s)
                    _count(report, kind, snap is None, snap != snapshot(center))
                    _note(report, rec, kind, center.id, snap, snapshot(center))
                else:
                    # An id from another database (an export moved between instances) is
                    # only a hint: fall back to matching on service + question.
                    given = data.pop("id", None)
                    old = s.get(Faq, int(given)) if str(given or "").isdigit() else None
                    if old is None:
                        match = existing_faqs.get(_faq_key(data.get("service_id"), data.get("owner_department"),
                                                           data.get("question")))
                        old = s.get(Faq, match) if match else None
                    if old is None:
                        new = repo.create_faq(data, actor=actor, session=s)
                        _count(report, kind, True, True)
                        _note(report, rec, kind, new.question, None, snapshot(new))
                    else:
                        faq_id, version = old.id, old.version
                        old_snap = snapshot(old)
                        repo.update_faq(int(faq_id), data, actor=actor, session=s, note="import")
                        _count(report, kind, False, old.version != version)
                        _note(report, rec, kind, f"#{faq_id}", old_snap, snapshot(old))
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    except ValidationError as exc:  # validated above; kept so a race still reports cleanly
        raise ImportFailed(exc.errors) from None
    if not dry_run:
        repo.record_event(actor=actor, action="import", entity_type="bundle", entity_id="-", note=report.summary())
    return report


def _faq_key(service_id: Any, owner: Any, question: Any) -> tuple[str, str, str]:
    """What identifies an FAQ across databases: its service, owner department and question."""
    return (str(service_id or ""), str(owner or "").strip(), normalize(str(question or "")))


class _DryRun(Exception):
    """Raised inside the import transaction to roll a dry run back."""


_META_FIELDS = frozenset({"created_at", "updated_at", "created_by", "updated_by", "version", "id"})


def _note(report: ImportReport, rec: Record, kind: str, key: str,
          before: dict[str, Any] | None, after: dict[str, Any]) -> None:
    """Remember what a record creates or changes, field by field."""
    if before is None:
        report.changes.append(Change(kind, "create", str(key), rec.source))
        return
    fields = tuple(k for k in after if k not in _META_FIELDS and before.get(k) != after.get(k))
    if fields:
        report.changes.append(Change(kind, "update", str(key), rec.source, fields))


def _count(report: ImportReport, kind: str, created: bool, changed: bool) -> None:
    bucket = report.created if created else report.updated if changed else report.unchanged
    bucket[kind] += 1


def import_paths(repo: KnowledgeRepository, paths: list[Path], *, actor: str, dry_run: bool = False) -> ImportReport:
    """Read every file first (all must parse), then import them all in one transaction."""
    records: list[Record] = []
    errors: list[str] = []
    for path in paths:
        try:
            records.extend(read_yaml(path))
        except ImportFailed as exc:
            errors.extend(exc.errors)
    if errors:
        raise ImportFailed(errors)
    return import_records(repo, records, actor=actor, dry_run=dry_run)


def export_bundle(repo: KnowledgeRepository) -> dict[str, Any]:
    """The whole knowledge base in the import format (services with their FAQs, stand-alone FAQs, centres)."""
    faqs_by_service: dict[str | None, list[dict[str, Any]]] = {}
    for faq in repo.list_faqs():
        row = {k: v for k, v in snapshot(faq).items()
               if k not in ("created_at", "updated_at", "created_by", "updated_by", "version")}
        if faq.service_id:
            del row["service_id"]  # implied by the enclosing service
        faqs_by_service.setdefault(faq.service_id, []).append(row)
    services = []
    for svc in repo.list_services():
        row = {k: v for k, v in snapshot(svc).items() if k not in ("created_at", "updated_at", "version")}
        row["faqs"] = faqs_by_service.get(svc.id, [])
        services.append(row)
    centers = []
    for c in repo.list_centers():
        row = {k: v for k, v in snapshot(c).items() if k not in ("created_at", "updated_at", "all_services")}
        row["services"] = "all" if c.all_services else row.pop("service_ids")
        row.pop("service_ids", None)
        centers.append(row)
    return {"services": services, "faqs": faqs_by_service.get(None, []), "centers": centers}


def dump_yaml(bundle: dict[str, Any]) -> str:
    """YAML text of an exported bundle (Chinese kept readable)."""
    return yaml.safe_dump(bundle, allow_unicode=True, sort_keys=False, width=120)
