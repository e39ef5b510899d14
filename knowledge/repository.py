"""The knowledge base's only public data API: typed reads and audited writes.

Every write runs in one transaction that also appends an :class:`AuditEntry` and bumps
the :class:`KbRevision` counter, which is how search (in any process) notices the
change on its next query.
"""

from __future__ import annotations

import datetime as dt
import enum
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from common.clock import city_today
from knowledge.db import SessionBacked, session_scope
from knowledge.models import (
    AuditEntry,
    Faq,
    FaqStatus,
    KbRevision,
    Service,
    ServiceCenter,
    utcnow,
)
from knowledge.validation import ValidationError, clean_center, clean_faq, clean_service


class NotFound(LookupError):
    """The requested record does not exist."""


def snapshot(obj: Any) -> dict[str, Any]:
    """JSON-safe dict of an ORM object's columns (for the audit trail and exports)."""
    out: dict[str, Any] = {}
    for col in obj.__table__.columns:
        value = getattr(obj, col.key)
        if isinstance(value, dt.datetime | dt.date):
            value = value.isoformat()
        elif isinstance(value, enum.Enum):
            value = value.value
        out[col.key] = value
    if isinstance(obj, ServiceCenter):
        out["service_ids"] = [s.id for s in obj.services]
    return out


class KnowledgeRepository(SessionBacked):
    """Reads and audited writes of services, FAQs and service centres.

    Args:
        factory: a sessionmaker; defaults to the configured database (built lazily).
    """

    # ----------------------------------------------------------------- reads
    def revision(self) -> int:
        """The content revision; changes whenever any content changes."""
        with self.factory() as s:
            return s.scalar(select(KbRevision.revision).where(KbRevision.id == 1)) or 0

    def get_service(self, service_id: str) -> Service:
        """One service with its FAQs loaded, or raise NotFound."""
        with self.factory() as s:
            svc = s.scalar(select(Service).options(selectinload(Service.faqs)).where(Service.id == service_id))
            if svc is None:
                raise NotFound(f"service {service_id!r}")
            return svc

    def has_service(self, service_id: str) -> bool:
        """Whether a service with this catalog id exists (one primary-key lookup)."""
        with self.factory() as s:
            return s.get(Service, service_id) is not None

    def list_services(
        self, *, category: str | None = None, audience: str | None = None, department: str | None = None
    ) -> list[Service]:
        """Services ordered by id, optionally filtered."""
        stmt = select(Service).order_by(Service.id)
        if category:
            stmt = stmt.where(Service.category == category)
        if audience:
            stmt = stmt.where(Service.audience == audience)
        if department:
            stmt = stmt.where(Service.department == department)
        with self.factory() as s:
            return list(s.scalars(stmt))

    def get_faq(self, faq_id: int) -> Faq:
        """One FAQ, or raise NotFound."""
        with self.factory() as s:
            faq = s.get(Faq, faq_id)
            if faq is None:
                raise NotFound(f"faq {faq_id}")
            return faq

    def list_faqs(
        self,
        *,
        service_id: str | None = None,
        status: FaqStatus | str | None = None,
        live_on: dt.date | None = None,
    ) -> list[Faq]:
        """FAQs ordered by id; ``live_on`` keeps only entries served on that date."""
        stmt = select(Faq).order_by(Faq.id)
        if service_id:
            stmt = stmt.where(Faq.service_id == service_id)
        if status:
            stmt = stmt.where(Faq.status == FaqStatus(status))
        with self.factory() as s:
            faqs = list(s.scalars(stmt))
        if live_on is not None:
            faqs = [f for f in faqs if f.is_live(live_on)]
        return faqs

    def live_faqs(self) -> list[Faq]:
        """FAQs citizens may be served today (published, effective, not expired)."""
        return self.list_faqs(status=FaqStatus.published, live_on=city_today())

    def get_center(self, center_id: str) -> ServiceCenter:
        """One service centre, or raise NotFound."""
        with self.factory() as s:
            c = s.scalar(
                select(ServiceCenter).options(selectinload(ServiceCenter.services))
                .where(ServiceCenter.id == center_id)
            )
            if c is None:
                raise NotFound(f"center {center_id!r}")
            return c

    def list_centers(self, *, district: str | None = None, service_id: str | None = None) -> list[ServiceCenter]:
        """Service centres ordered by id; optionally those in ``district`` or offering ``service_id``."""
        stmt = select(ServiceCenter).options(selectinload(ServiceCenter.services)).order_by(ServiceCenter.id)
        if district:
            stmt = stmt.where(ServiceCenter.district == district)
        with self.factory() as s:
            centers = list(s.scalars(stmt))
        if service_id:
            centers = [c for c in centers if c.offers(service_id)]
        return centers

    def booking_venues(self, service_id: str) -> list[ServiceCenter]:
        """The venues a booking for ``service_id`` may offer.

        None for an online-only service, otherwise every venue whose explicit service list (or
        ``all``) includes it.
        """
        with self.factory() as s:
            svc = s.get(Service, service_id)
            if svc is None or svc.online_only:
                return []
        return self.list_centers(service_id=service_id)

    def audit_log(
        self, *, entity_type: str | None = None, entity_id: str | None = None, limit: int = 200
    ) -> list[AuditEntry]:
        """Newest audit entries first."""
        stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if entity_type:
            stmt = stmt.where(AuditEntry.entity_type == entity_type)
        if entity_id:
            stmt = stmt.where(AuditEntry.entity_id == str(entity_id))
        with self.factory() as s:
            return list(s.scalars(stmt))

    # ---------------------------------------------------------------- writes
    def _touch(self, s: Session) -> None:
        """Bump the content revision inside the caller's transaction."""
        res = s.execute(
            update(KbRevision).where(KbRevision.id == 1)
            .values(revision=KbRevision.revision + 1, changed_at=utcnow())
        )
        if res.rowcount == 0:  # type: ignore[attr-defined]
            s.add(KbRevision(id=1, revision=1, changed_at=utcnow()))

    @staticmethod
    def _audit(s: Session, actor: str, action: str, entity_type: str, entity_id: Any,
               before: dict[str, Any] | None, after: dict[str, Any] | None, note: str = "") -> None:
        s.add(AuditEntry(actor=actor, action=action, entity_type=entity_type, entity_id=str(entity_id),
                         before=before, after=after, note=note[:500]))

    def _service_ids(self, s: Session) -> set[str]:
        return set(s.scalars(select(Service.id)))

    def save_service(self, data: dict[str, Any], *, actor: str, session: Session | None = None) -> Service:
        """Create or update a service (by id); audited. Raises ValidationError."""
        values = clean_service(data)
        with self._session(session) as s:
            svc = s.get(Service, values["id"])
            before = snapshot(svc) if svc else None
            if svc is None:
                svc = Service(**values)
                s.add(svc)
                action = "create"
            else:
                changed = {k: v for k, v in values.items() if getattr(svc, k) != v}
                if not changed:
                    return svc
                for k, v in changed.items():
                    setattr(svc, k, v)
                svc.version += 1
                action = "update"
            s.flush()
            self._audit(s, actor, action, "service", svc.id, before, snapshot(svc))
            self._touch(s)
            return svc

    def delete_service(self, service_id: str, *, actor: str) -> None:
        """Delete a service; its FAQs stay, unlinked. Audited."""
        with self._session(None) as s:
            svc = s.get(Service, service_id)
            if svc is None:
                raise NotFound(f"service {service_id!r}")
            before = snapshot(svc)
            s.delete(svc)
            self._audit(s, actor, "delete", "service", service_id, before, None)
            self._touch(s)

    def create_faq(self, data: dict[str, Any], *, actor: str, session: Session | None = None) -> Faq:
        """Create an FAQ (draft unless ``status`` says otherwise); audited. Raises ValidationError."""
        with self._session(session) as s:
            values = clean_faq(data, known_services=self._service_ids(s))
            faq = Faq(**values, created_by=actor, updated_by=actor)
            s.add(faq)
            s.flush()
            self._audit(s, actor, "create", "faq", faq.id, None, snapshot(faq))
            self._touch(s)
            return faq

    def update_faq(
        self, faq_id: int, changes: dict[str, Any], *, actor: str, note: str = "", session: Session | None = None
    ) -> Faq:
        """Apply ``changes`` to an FAQ, bumping its version; audited. Raises NotFound/ValidationError."""
        with self._session(session) as s:
            faq = s.get(Faq, faq_id)
            if faq is None:
                raise NotFound(f"faq {faq_id}")
            before = snapshot(faq)
            merged = {**before, **changes}
            values = clean_faq(merged, known_services=self._service_ids(s))
            changed = {k: v for k, v in values.items() if before.get(k) != _plain(v)}
            if not changed:
                return faq
            for k, v in changed.items():
                setattr(faq, k, v)
            faq.version += 1
            faq.updated_by = actor
            s.flush()
            self._audit(s, actor, "update", "faq", faq.id, before, snapshot(faq), note)
            self._touch(s)
            return faq

    def add_faq_alternative(self, faq_id: int, phrasing: str, *, actor: str) -> Faq:
        """Attach a citizen's phrasing to an FAQ (live at once if the FAQ is published)."""
        phrasing = phrasing.strip()
        if not phrasing:
            raise ValidationError(["问法不能为空"])
        faq = self.get_faq(faq_id)
        if phrasing == faq.question or phrasing in faq.alternatives:
            return faq
        return self.update_faq(faq_id, {"alternatives": [*faq.alternatives, phrasing]}, actor=actor,
                               note="add alternative")

    def delete_faq(self, faq_id: int, *, actor: str) -> None:
        """Delete an FAQ; audited."""
        with self._session(None) as s:
            faq = s.get(Faq, faq_id)
            if faq is None:
                raise NotFound(f"faq {faq_id}")
            before = snapshot(faq)
            s.delete(faq)
            self._audit(s, actor, "delete", "faq", faq_id, before, None)
            self._touch(s)

    def save_center(self, data: dict[str, Any], *, actor: str, session: Session | None = None) -> ServiceCenter:
        """Create or update a service centre (by id); audited. Raises ValidationError."""
        with self._session(session) as s:
            values = clean_center(data, known_services=self._service_ids(s))
            service_ids = values.pop("service_ids")
            center = s.get(ServiceCenter, values["id"])
            before = snapshot(center) if center else None
            if center is None:
                center = ServiceCenter(**values)
                s.add(center)
            else:
                for k, v in values.items():
                    setattr(center, k, v)
            center.services = list(s.scalars(select(Service).where(Service.id.in_(service_ids)))) \
                if service_ids else []
            s.flush()
            after = snapshot(center)
            if before == after:
                return center
            self._audit(s, actor, "create" if before is None else "update", "center", center.id, before, after)
            self._touch(s)
            return center

    def record_event(self, *, actor: str, action: str, entity_type: str, entity_id: str, note: str = "") -> None:
        """Append an audit entry that changes no content (e.g. a login or an import summary)."""
        with self._session(None) as s:
            self._audit(s, actor, action, entity_type, entity_id, None, None, note)

    def _session(self, session: Session | None) -> AbstractContextManager[Session]:
        """Join the caller's transaction, or open a new one."""
        if session is not None:
            return _Joined(session)
        return session_scope(self.factory)


class _Joined:
    """Context manager that reuses an open session without committing it."""

    def __init__(self, session: Session):
        self.session = session

    def __enter__(self) -> Session:
        return self.session

    def __exit__(self, *exc: object) -> None:
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value
