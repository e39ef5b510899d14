"""Review workflow of FAQs: draft → submitted → published, approved by a second person.

Two paths, one rule ("a reviewer other than the author approves"):

* An FAQ that is not live (draft / submitted) is edited in place; submitting it asks
  for review and any edit sends it back to draft.
* A published FAQ is never changed by an editor directly: the edit becomes a
  :class:`FaqProposal` and the published answer keeps being served until a reviewer
  approves it, when the change is applied in the same transaction as the review record.

Version history and rollback come from the audit trail, which holds a full snapshot
of the entry after every change. Everything here is Flask-free.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from common.clock import city_today
from console.models import FaqProposal, ProposalStatus, ReviewEvent
from knowledge.channel_forms import faq_problems
from knowledge.db import session_scope
from knowledge.models import AuditEntry, Faq, FaqStatus, Service
from knowledge.repository import KnowledgeRepository, NotFound, snapshot
from knowledge.validation import ValidationError, clean_faq, clean_service

FAQ_CONTENT_FIELDS = ("question", "alternatives", "answer", "sms_text", "spoken_text", "service_id", "topic",
                      "owner_department", "effective_from", "expires_on")
SERVICE_CONTENT_FIELDS = ("name", "category", "audience", "department", "summary", "keywords", "eligibility",
                          "materials", "steps", "locations", "time_limit", "fees", "online_url", "forms",
                          "legal_basis", "channel_forms", "online_only", "online_route")
OPEN_PROPOSAL = (ProposalStatus.draft, ProposalStatus.submitted, ProposalStatus.rejected)
EXPIRY_WINDOW_DAYS = 30


class WorkflowError(Exception):
    """A workflow step is not allowed now; the message is for staff (Chinese)."""


@dataclass
class Version:
    """One version of an entry, from the audit trail."""

    version: int | None
    at: dt.datetime
    actor: str
    action: str
    note: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changed: list[str] = field(default_factory=list)


@dataclass
class ReviewItem:
    """Something waiting for review: a new FAQ or a proposed change to a published one."""

    faq: Faq
    proposal: FaqProposal | None
    authors: list[str]


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def content_of(snap: dict[str, Any] | None, fields: tuple[str, ...] = FAQ_CONTENT_FIELDS) -> dict[str, Any]:
    """The content fields of a snapshot (JSON-plain values)."""
    return {k: _plain((snap or {}).get(k)) for k in fields}


def changed_fields(before: dict[str, Any] | None, after: dict[str, Any] | None,
                   fields: tuple[str, ...] = (*FAQ_CONTENT_FIELDS, "status")) -> list[str]:
    """Names of ``fields`` that differ between two snapshots."""
    b, a = before or {}, after or {}
    return [k for k in fields if _plain(b.get(k)) != _plain(a.get(k))]


class ReviewWorkflow:
    """Editing, review, history and rollback of FAQs (and history/rollback of services).

    Args:
        repo: the knowledge repository whose audited writes this builds on.
    """

    def __init__(self, repo: KnowledgeRepository):
        self.repo = repo

    # ------------------------------------------------------------- reading
    def open_proposal(self, faq_id: int) -> FaqProposal | None:
        """The FAQ's proposal that is still being worked on or reviewed, if any."""
        with self.repo.factory() as s:
            return s.scalar(select(FaqProposal).where(FaqProposal.faq_id == faq_id,
                                                      FaqProposal.status.in_(OPEN_PROPOSAL))
                            .order_by(FaqProposal.id.desc()))

    def review_events(self, faq_id: int) -> list[ReviewEvent]:
        """Submit / approve / reject / withdraw steps of an FAQ, oldest first."""
        with self.repo.factory() as s:
            return list(s.scalars(select(ReviewEvent).where(ReviewEvent.faq_id == faq_id).order_by(ReviewEvent.id)))

    def authors(self, faq_id: int) -> list[str]:
        """Who wrote what is now up for review (they may not approve it themselves)."""
        proposal = self.open_proposal(faq_id)
        if proposal is not None:
            return list(proposal.authors)
        out: list[str] = []
        for entry in self._audit(faq_id, "faq"):
            after = entry.after or {}
            if entry.before is not None and after.get("status") == FaqStatus.published.value \
                    and entry.before.get("status") != FaqStatus.published.value:
                out = []  # a publication closes the previous round of authorship
                continue
            content_changed = entry.before is None or bool(changed_fields(entry.before, entry.after,
                                                                          FAQ_CONTENT_FIELDS))
            submitted = after.get("status") == FaqStatus.submitted.value
            if (content_changed or submitted) and entry.after is not None and entry.actor not in out:
                out.append(entry.actor)
        return out

    def review_queue(self) -> list[ReviewItem]:
        """Everything submitted and waiting for a reviewer, oldest first."""
        items: list[ReviewItem] = []
        for faq in self.repo.list_faqs(status=FaqStatus.submitted):
            items.append(ReviewItem(faq, None, self.authors(faq.id)))
        with self.repo.factory() as s:
            proposals = list(s.scalars(select(FaqProposal).where(FaqProposal.status == ProposalStatus.submitted)
                                       .order_by(FaqProposal.id)))
        for p in proposals:
            items.append(ReviewItem(self.repo.get_faq(p.faq_id), p, list(p.authors)))
        return items

    def expiring(self, days: int = EXPIRY_WINDOW_DAYS, today: dt.date | None = None) -> list[Faq]:
        """Published or pending FAQs whose expiry date falls within ``days`` from today."""
        today = today or city_today()
        end = today + dt.timedelta(days=days)
        return sorted((f for f in self.repo.list_faqs()
                       if f.expires_on and today <= f.expires_on <= end and f.status != FaqStatus.archived),
                      key=lambda f: (f.expires_on, f.id))

    def history(self, entity_type: str, entity_id: str | int) -> list[Version]:
        """Every recorded version of a FAQ or service, newest first."""
        fields = (*FAQ_CONTENT_FIELDS, "status") if entity_type == "faq" else SERVICE_CONTENT_FIELDS
        out = []
        for e in self._audit(entity_id, entity_type):
            version = (e.after or {}).get("version") if e.after else None
            out.append(Version(version, e.at, e.actor, e.action, e.note, e.before, e.after,
                               changed_fields(e.before, e.after, fields)))
        return list(reversed(out))

    def _audit(self, entity_id: str | int, entity_type: str) -> list[AuditEntry]:
        with self.repo.factory() as s:
            return list(s.scalars(select(AuditEntry).where(AuditEntry.entity_type == entity_type,
                                                           AuditEntry.entity_id == str(entity_id))
                                  .order_by(AuditEntry.id)))

    # ------------------------------------------------------------- editing
    def create_draft(self, data: dict[str, Any], *, actor: str) -> Faq:
        """A new FAQ as a draft (never live before review). Raises ValidationError."""
        values = {k: data.get(k) for k in FAQ_CONTENT_FIELDS}
        values["status"] = FaqStatus.draft.value
        return self.repo.create_faq(values, actor=actor)

    def edit(self, faq_id: int, data: dict[str, Any], *, actor: str) -> FaqProposal | Faq:
        """Save an edit: in place for drafts, as a proposal for a published FAQ.

        Returns:
            The FAQ (edited in place, back to draft) or the proposal holding the change.

        Raises:
            ValidationError: the edited record is invalid.
            WorkflowError: the FAQ is archived.
        """
        faq = self.repo.get_faq(faq_id)
        changes = {k: data[k] for k in FAQ_CONTENT_FIELDS if k in data}
        if faq.status == FaqStatus.archived:
            raise WorkflowError("已归档的条目不能编辑，请先恢复为草稿")
        if faq.status != FaqStatus.published:
            return self.repo.update_faq(faq_id, {**changes, "status": FaqStatus.draft.value}, actor=actor,
                                        note="edit")
        current = snapshot(faq)
        with self.repo.factory() as s:
            known = set(s.scalars(select(Service.id)))
        clean = clean_faq({**current, **changes}, known_services=known)  # report errors now, not at review
        diff = {k: _plain(clean[k]) for k in FAQ_CONTENT_FIELDS if _plain(clean[k]) != _plain(current.get(k))}
        with session_scope(self.repo.factory) as s:
            proposal = s.scalar(select(FaqProposal).where(FaqProposal.faq_id == faq_id,
                                                          FaqProposal.status.in_(OPEN_PROPOSAL)))
            if proposal is None:
                proposal = FaqProposal(faq_id=faq_id, base_version=faq.version, data={}, authors=[],
                                       status=ProposalStatus.draft, reviewer="", comment="")
                s.add(proposal)
            proposal.data = diff
            proposal.status = ProposalStatus.draft
            proposal.base_version = faq.version
            if actor not in proposal.authors:
                proposal.authors = [*proposal.authors, actor]
            s.flush()
            s.add(AuditEntry(actor=actor, action="propose", entity_type="faq", entity_id=str(faq_id),
                             before={k: _plain(current.get(k)) for k in diff}, after=diff,
                             note=f"proposal #{proposal.id}: {', '.join(diff) or '-'}"))
            return proposal

    def submit(self, faq_id: int, *, actor: str) -> None:
        """Ask for review of a draft FAQ or of the FAQ's open proposal."""
        faq = self.repo.get_faq(faq_id)
        proposal = self.open_proposal(faq_id)
        with session_scope(self.repo.factory) as s:
            if faq.status == FaqStatus.published:
                if proposal is None or proposal.status == ProposalStatus.submitted:
                    raise WorkflowError("没有待提交的修改")
                if not proposal.data:
                    raise WorkflowError("修改内容与已发布版本相同，无需提交")
                row = s.get(FaqProposal, proposal.id)
                assert row is not None
                row.status = ProposalStatus.submitted
                s.add(ReviewEvent(faq_id=faq_id, proposal_id=proposal.id, action="submit", actor=actor))
            elif faq.status == FaqStatus.draft:
                self.repo.update_faq(faq_id, {"status": FaqStatus.submitted.value}, actor=actor, note="submit",
                                     session=s)
                s.add(ReviewEvent(faq_id=faq_id, action="submit", actor=actor))
            else:
                raise WorkflowError("当前状态不能提交审核")

    def approve(self, faq_id: int, *, actor: str, comment: str = "") -> Faq:
        """Publish the submitted FAQ (or apply its submitted proposal); live at once.

        Raises:
            WorkflowError: nothing is submitted, ``actor`` is one of its authors, or the
                short SMS and spoken forms of what would be published are missing or too long.
        """
        faq, proposal = self._pending(faq_id, actor)
        content = proposal_preview(faq, proposal) if proposal is not None else content_of(snapshot(faq))
        problems = faq_problems(content)
        if problems:
            raise WorkflowError("短信版或语音版不符合要求，不能发布：" + "；".join(problems))
        with session_scope(self.repo.factory) as s:
            if proposal is not None:
                faq = self.repo.update_faq(faq_id, dict(proposal.data), actor=actor,
                                           note=f"approve proposal #{proposal.id}", session=s)
                row = s.get(FaqProposal, proposal.id)
                assert row is not None
                row.status, row.reviewer, row.comment = ProposalStatus.applied, actor, comment[:2000]
            else:
                faq = self.repo.update_faq(faq_id, {"status": FaqStatus.published.value}, actor=actor,
                                           note="approve", session=s)
            s.add(ReviewEvent(faq_id=faq_id, proposal_id=proposal.id if proposal else None, action="approve",
                              actor=actor, comment=comment[:2000]))
            return faq

    def reject(self, faq_id: int, *, actor: str, comment: str) -> None:
        """Send the submission back to its authors with a comment (required)."""
        if not comment.strip():
            raise WorkflowError("退回时请填写意见")
        _faq, proposal = self._pending(faq_id, actor)
        with session_scope(self.repo.factory) as s:
            if proposal is not None:
                row = s.get(FaqProposal, proposal.id)
                assert row is not None
                row.status, row.reviewer, row.comment = ProposalStatus.rejected, actor, comment[:2000]
                s.add(AuditEntry(actor=actor, action="reject", entity_type="faq", entity_id=str(faq_id),
                                 note=f"proposal #{proposal.id}: {comment[:400]}"))
            else:
                self.repo.update_faq(faq_id, {"status": FaqStatus.draft.value}, actor=actor,
                                     note=f"reject: {comment[:480]}", session=s)
            s.add(ReviewEvent(faq_id=faq_id, proposal_id=proposal.id if proposal else None, action="reject",
                              actor=actor, comment=comment[:2000]))

    def withdraw(self, faq_id: int, *, actor: str) -> None:
        """Discard the FAQ's open proposal, or take a submitted draft back."""
        faq = self.repo.get_faq(faq_id)
        proposal = self.open_proposal(faq_id)
        with session_scope(self.repo.factory) as s:
            if proposal is not None:
                row = s.get(FaqProposal, proposal.id)
                assert row is not None
                row.status = ProposalStatus.withdrawn
                s.add(AuditEntry(actor=actor, action="withdraw", entity_type="faq", entity_id=str(faq_id),
                                 note=f"proposal #{proposal.id}"))
                s.add(ReviewEvent(faq_id=faq_id, proposal_id=proposal.id, action="withdraw", actor=actor))
            elif faq.status == FaqStatus.submitted:
                self.repo.update_faq(faq_id, {"status": FaqStatus.draft.value}, actor=actor, note="withdraw",
                                     session=s)
                s.add(ReviewEvent(faq_id=faq_id, action="withdraw", actor=actor))
            else:
                raise WorkflowError("没有可撤回的内容")

    def set_archived(self, faq_id: int, archived: bool, *, actor: str) -> Faq:
        """Archive an FAQ (stops serving it at once) or bring it back as a draft."""
        faq = self.repo.get_faq(faq_id)
        if archived == (faq.status == FaqStatus.archived):
            return faq
        status = FaqStatus.archived if archived else FaqStatus.draft
        return self.repo.update_faq(faq_id, {"status": status.value}, actor=actor,
                                    note="archive" if archived else "restore")

    def _pending(self, faq_id: int, actor: str) -> tuple[Faq, FaqProposal | None]:
        faq = self.repo.get_faq(faq_id)
        proposal = self.open_proposal(faq_id)
        if proposal is not None and proposal.status != ProposalStatus.submitted:
            proposal = None
        if proposal is None and faq.status != FaqStatus.submitted:
            raise WorkflowError("该条目没有待审核的内容")
        authors = list(proposal.authors) if proposal is not None else self.authors(faq_id)
        if actor in authors:
            raise WorkflowError("不能审核自己编写或提交的内容，请由其他审核人处理")
        return faq, proposal

    # ------------------------------------------------------------ rollback
    def rollback_faq(self, faq_id: int, version: int, *, actor: str) -> Faq:
        """Restore the content of ``version`` as a new version (status unchanged); audited.

        A published FAQ can only go back to content that was itself published: rolling back
        must never put a draft nobody approved in front of citizens.

        Raises:
            WorkflowError: the FAQ is published and ``version`` never was.
        """
        snap = self._snapshot_of(faq_id, "faq", version)
        if self.repo.get_faq(faq_id).status == FaqStatus.published and snap.get("status") != FaqStatus.published.value:
            raise WorkflowError(f"第 {version} 版从未审核发布，不能回滚到它；如需使用，请编辑后提交审核")
        return self.repo.update_faq(faq_id, content_of(snap), actor=actor, note=f"rollback to v{version}")

    def rollback_service(self, service_id: str, version: int, *, actor: str) -> Service:
        """Restore the guide of ``version`` as a new version of the service; audited."""
        snap = self._snapshot_of(service_id, "service", version)
        data = {"id": service_id, **content_of(snap, SERVICE_CONTENT_FIELDS)}
        clean_service(data)
        with session_scope(self.repo.factory) as s:
            svc = self.repo.save_service(data, actor=actor, session=s)
            s.add(AuditEntry(actor=actor, action="rollback", entity_type="service", entity_id=service_id,
                             note=f"rollback to v{version}"))
            return svc

    def _snapshot_of(self, entity_id: str | int, entity_type: str, version: int) -> dict[str, Any]:
        for e in reversed(self._audit(entity_id, entity_type)):
            if e.after and e.after.get("version") == version:
                return e.after
        raise NotFound(f"{entity_type} {entity_id} v{version}")


def proposal_preview(faq: Faq, proposal: FaqProposal) -> dict[str, Any]:
    """The FAQ's content as it would read once the proposal is applied."""
    return {**content_of(snapshot(faq)), **proposal.data}


__all__ = ["ReviewWorkflow", "ValidationError", "WorkflowError", "content_of", "proposal_preview"]
