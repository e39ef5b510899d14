"""The case desk (工单): open a case, route it, answer it within its deadline, let the citizen rate it.

Lifecycle (codes of :class:`common.status.CaseStatus`)::

    received ─assign→ assigned ─start→ in_progress ─reply→ replied ─close/rate→ closed
        ↑               │  ↑               │                  │                  │
        └──(dispatcher)─┴──┴── transfer ←──┘        rate 不满意 / reopen → reopened ─assign/start/reply…

Every transition is one transaction that writes the case and a :class:`CaseEvent` (who,
when, from → to, note). Cases stored before the desk existed keep working: their
``done`` status reads as closed and their JSON ``history`` is shown before the events.

Two hooks are injected by the composition root (both optional, called after the commit;
an exception in a hook is logged and never undoes the transition):

- ``notify(case, reply_text) -> None`` after a reply, to tell the citizen on the channel
  they used (``casework.notices.case_replied``);
- ``on_route(text, suggested_dept, chosen_dept, actor) -> None`` when staff assign a
  case, so the router can learn from the decision.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import secrets
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from casework.case_models import CaseEvent, CaseReply, ReplyTemplate
from casework.departments import department_names
from casework.models import Case
from common.calendar import is_working_day
from common.clock import CITY_TZ, city_now
from common.sealing import Sealer, sealer_from_env
from common.status import CaseKind, CaseStatus
from knowledge.db import SessionBacked, session_scope
from knowledge.models import AuditEntry, utcnow

log = logging.getLogger(__name__)

RULES_FILE = Path(__file__).with_name("case_rules.yml")
S = CaseStatus
OPEN_STATUSES = frozenset({S.received, S.assigned, S.in_progress, S.transferred, S.reopened})
FINISHED = frozenset({S.closed, S.done})
#: action -> statuses it may start from.
ALLOWED: dict[str, frozenset[CaseStatus]] = {
    "assign": frozenset({S.received, S.assigned, S.transferred, S.reopened}),
    "start": frozenset({S.assigned, S.reopened}),
    "transfer": frozenset({S.assigned, S.in_progress, S.reopened}),
    "reply": frozenset({S.assigned, S.in_progress, S.reopened}),
    "close": frozenset({*OPEN_STATUSES, S.replied}),
    "reopen": frozenset({S.replied, S.closed, S.done}),
    "rate": frozenset({S.replied, S.closed}),
}

Notify = Callable[[Case, str], object]  # what it returns is ignored
OnRoute = Callable[[str, str, str, str, str], None]
Suggest = Callable[[str, str], tuple[str, float] | None]


class CaseError(ValueError):
    """A case action was refused; the message is for staff (Chinese)."""


class CaseNotFound(CaseError, LookupError):
    """No case has that number."""


@dataclass(frozen=True)
class CaseRules:
    """The tunables of ``case_rules.yml``."""

    due_working_days: dict[str, int]
    max_citizen_reopens: int
    ratings: dict[str, str]
    kind_cues: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def working_days(self, kind: str) -> int:
        """Working days to answer a case of ``kind`` (5 for a kind the table does not name)."""
        return int(self.due_working_days.get(kind, 5))


@functools.lru_cache(maxsize=4)
def load_rules(path: Path = RULES_FILE) -> CaseRules:
    """Read the case rules.

    Raises:
        ValueError: a due period is not a positive whole number.
    """
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    due = {str(k): int(v) for k, v in (raw.get("due_working_days") or {}).items()}
    if any(v < 1 for v in due.values()):
        raise ValueError(f"{path.name}: due_working_days must be at least 1")
    cues = {str(k): tuple(str(c) for c in v or ()) for k, v in (raw.get("kind_cues") or {}).items()}
    return CaseRules(due, int(raw.get("max_citizen_reopens", 1)),
                     {str(k): str(v) for k, v in (raw.get("ratings") or {}).items()}, cues)


def detect_kind(text: str, default: CaseKind = CaseKind.complaint, rules: CaseRules | None = None) -> CaseKind:
    """The kind of case a citizen's text is, by the cue words of ``case_rules.yml``."""
    for kind, cues in (rules or load_rules()).kind_cues.items():
        if any(cue in text for cue in cues):
            return CaseKind(kind)
    return default


def add_working_days(start: dt.date, days: int) -> dt.date:
    """The ``days``-th working day after ``start`` (``start`` itself never counts)."""
    day, left = start, days
    while left > 0:
        day += dt.timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return day


def due_at_for(kind: str, opened: dt.datetime, rules: CaseRules | None = None) -> dt.datetime:
    """When a case of ``kind`` opened at ``opened`` is due: the end of its last working day (UTC)."""
    local = _aware(opened).astimezone(CITY_TZ)
    last = add_working_days(local.date(), (rules or load_rules()).working_days(kind))
    return dt.datetime.combine(last, dt.time(23, 59, 59), tzinfo=CITY_TZ).astimezone(dt.timezone.utc)


def effective_status(case: Case) -> CaseStatus:
    """The case's status, reading the legacy ``done`` as closed and unknown codes as received."""
    try:
        status = CaseStatus(case.status)
    except ValueError:
        return S.received
    return S.closed if status is S.done else status


def is_overdue(case: Case, now: dt.datetime | None = None) -> bool:
    """Whether an unanswered case is past its due time."""
    if case.due_at is None or effective_status(case) not in OPEN_STATUSES:
        return False
    return _aware(case.due_at) < (now or utcnow())


@dataclass(frozen=True)
class Contact:
    """How to reach a citizen again (unsealed; never logged)."""

    phone: str
    channel: str
    address: str
    thread: str


@dataclass(frozen=True)
class QueueFilter:
    """What the case queue shows; ``department`` also scopes a handler to their own."""

    department: str | None = None
    kind: str | None = None
    status: str | None = None
    channel: str | None = None
    overdue: bool = False
    due_today: bool = False
    limit: int = 500


@dataclass(frozen=True)
class CaseStats:
    """The case desk figures of the dashboard."""

    weeks: list[dt.date]  # the Monday of each week, oldest first
    per_department_week: dict[str, list[int]]
    answered: int
    on_time: int
    median_reply_hours: float | None
    ratings: dict[str, int]

    @property
    def on_time_rate(self) -> float | None:
        """Share of answered cases answered by their due time."""
        return self.on_time / self.answered if self.answered else None


class CaseDesk(SessionBacked):
    """Cases and their lifecycle.

    Args:
        factory: a sessionmaker; defaults to the configured database (built lazily).
        sealer: seals contact details; defaults to :func:`common.sealing.sealer_from_env` (lazily).
        notify: ``(case, reply_text) -> None``, called after a reply is committed.
        on_route: ``(text, suggested_dept, chosen_dept, actor) -> None``, called after staff assign.
        suggest: ``(text, location) -> (department_id, confidence)``, asked when a case opens without
            a suggested department (the router; a failure leaves the suggestion empty).
        rules: the case rules; defaults to ``case_rules.yml``.
    """

    def __init__(self, factory: sessionmaker[Session] | None = None, *, sealer: Sealer | None = None,
                 notify: Notify | None = None, on_route: OnRoute | None = None, suggest: Suggest | None = None,
                 rules: CaseRules | None = None):
        super().__init__(factory)
        self._sealer = sealer
        self.notify = notify
        self.on_route = on_route
        self.suggest = suggest
        self._rules = rules

    @property
    def rules(self) -> CaseRules:
        """The case rules in force."""
        if self._rules is None:
            self._rules = load_rules()
        return self._rules

    @property
    def sealer(self) -> Sealer:
        """The contact sealer (built on first use)."""
        if self._sealer is None:
            self._sealer = sealer_from_env()
        return self._sealer

    # ------------------------------------------------------------------ open
    def open_case(self, *, description: str, location: str = "", kind: CaseKind | str = CaseKind.complaint,
                  channel: str = "", sender_hash: str = "", contact_phone: str = "", reply_to: str = "",
                  reply_to_sealed: str = "", reply_thread: str = "", excerpt: str = "", category: str = "其他",
                  suggested_department: str = "", suggested_confidence: float | None = None,
                  actor: str = "citizen") -> Case:
        """Open a case with a fresh tracking number (:func:`new_case_number`) and its deadline.

        ``description``, ``location`` and ``excerpt`` must already be masked; ``contact_phone``
        (E.164) and ``reply_to`` (the channel's address of the citizen) are sealed here;
        ``reply_to_sealed`` is an address a channel sealed already (the mailbox's), kept as is.
        """
        kind = CaseKind(kind)
        if not suggested_department and self.suggest is not None:
            try:
                found = self.suggest(description, location)
                if found is not None:
                    suggested_department, suggested_confidence = found
            except Exception:  # routing is advice: a case opens without it
                log.exception("department suggestion failed")
        for _ in range(20):
            number = new_case_number()
            now = utcnow()
            try:
                with session_scope(self.factory) as s:
                    case = Case(
                        number=number, kind=kind.value, category=category[:32], description=description,
                        location=location[:300], contact_phone="", phone_last4=contact_phone[-4:],
                        contact_sealed=self.sealer.seal(contact_phone), channel=channel, sender_hash=sender_hash,
                        status=S.received.value, created_at=now, updated_at=now, history=[],
                        due_at=due_at_for(kind, now, self.rules), reply_channel=channel,
                        reply_to=reply_to_sealed or self.sealer.seal(reply_to), reply_thread=reply_thread[:300],
                        excerpt=excerpt,
                        suggested_department=suggested_department, suggested_confidence=suggested_confidence)
                    s.add(case)
                    s.flush()
                    s.add(CaseEvent(case_number=number, at=now, actor=actor, action="open", from_status="",
                                    to_status=S.received.value, note=""))
                    s.flush()
                    s.expunge(case)
                    return case
            except IntegrityError:
                continue
        raise RuntimeError("could not allocate a case number")

    # ----------------------------------------------------------------- reads
    def get(self, number: str) -> Case | None:
        """The case with ``number`` (case-insensitive), or None."""
        with self.factory() as s:
            return s.get(Case, number.strip().upper())

    def events(self, number: str) -> list[CaseEvent]:
        """The case's transitions, oldest first."""
        with self.factory() as s:
            return list(s.scalars(select(CaseEvent).where(CaseEvent.case_number == number)
                                  .order_by(CaseEvent.at, CaseEvent.id)))

    def replies(self, number: str) -> list[CaseReply]:
        """The case's replies, oldest first."""
        with self.factory() as s:
            return list(s.scalars(select(CaseReply).where(CaseReply.case_number == number)
                                  .order_by(CaseReply.at, CaseReply.id)))

    def latest_reply(self, number: str) -> CaseReply | None:
        """The reply the citizen is shown (the newest), or None."""
        rows = self.replies(number)
        return rows[-1] if rows else None

    def queue(self, f: QueueFilter = QueueFilter(), now: dt.datetime | None = None) -> list[Case]:
        """Cases matching ``f``: unfinished ones first, then by due time (oldest first)."""
        now = now or utcnow()
        q = select(Case)
        if f.department is not None:
            q = q.where(Case.department_id == f.department)
        if f.kind:
            q = q.where(Case.kind == f.kind)
        if f.status:
            statuses = [f.status, S.done.value] if f.status == S.closed.value else [f.status]
            q = q.where(Case.status.in_(statuses))
        if f.channel:
            q = q.where(Case.channel == f.channel)
        open_codes = [st.value for st in OPEN_STATUSES]
        if f.overdue:
            q = q.where(Case.status.in_(open_codes), Case.due_at < now)
        if f.due_today:
            today_end = dt.datetime.combine(now.astimezone(CITY_TZ).date(), dt.time(23, 59, 59),
                                            tzinfo=CITY_TZ).astimezone(dt.timezone.utc)  # SQLite keeps no zone
            q = q.where(Case.status.in_(open_codes), Case.due_at <= today_end, Case.due_at >= now)
        finished = Case.status.in_([S.closed.value, S.done.value, S.replied.value])
        q = q.order_by(finished, Case.due_at.is_(None), Case.due_at, Case.created_at).limit(f.limit)
        with self.factory() as s:
            return list(s.scalars(q))

    def channels(self) -> list[str]:
        """The channels cases came from (for the queue filter)."""
        with self.factory() as s:
            return sorted(c for c in s.scalars(select(Case.channel).distinct()) if c)

    # ----------------------------------------------------------- transitions
    def assign(self, number: str, department_id: str, *, actor: str, note: str = "",
               assignee: str = "") -> Case:
        """Route the case to ``department_id`` (a dispatcher's decision; kept for the router)."""
        if department_id not in department_names():
            raise CaseError(f"未知部门：{department_id}")
        case = self._move(number, "assign", S.assigned, actor=actor, note=note, department_id=department_id,
                          assignee=assignee)
        if self.on_route is not None:
            self._hook("on_route", self.on_route, case.description, case.suggested_department, department_id,
                       actor, case.number)
        return case

    def start(self, number: str, *, actor: str) -> Case:
        """The department takes the case up."""
        return self._move(number, "start", S.in_progress, actor=actor, assignee=actor)

    def transfer(self, number: str, *, actor: str, reason: str) -> Case:
        """The department sends the case back to the dispatcher (not theirs), with a reason."""
        if not reason.strip():
            raise CaseError("退回需要填写原因")
        return self._move(number, "transfer", S.transferred, actor=actor, note=reason.strip(), department_id="",
                          assignee="")

    def reply(self, number: str, text: str, *, actor: str) -> Case:
        """Record the department's answer; then ``notify(case, text)`` tells the citizen."""
        text = text.strip()
        if len(text) < 2:
            raise CaseError("答复内容不能为空")
        case = self._move(number, "reply", S.replied, actor=actor, reply_text=text)
        if self.notify is not None:
            self._hook("notify", self.notify, case, text)
        return case

    def close(self, number: str, *, actor: str, note: str = "") -> Case:
        """Close the case; closing one that was never answered needs a note (e.g. duplicate)."""
        case = self._require(number)
        if effective_status(case) is not S.replied and not note.strip():
            raise CaseError("未答复的工单办结时需要填写说明")
        return self._move(number, "close", S.closed, actor=actor, note=note.strip())

    def reopen(self, number: str, *, actor: str, reason: str) -> Case:
        """Reopen an answered or closed case; the deadline starts again."""
        if not reason.strip():
            raise CaseError("重新办理需要填写原因")
        return self._move(number, "reopen", S.reopened, actor=actor, note=reason.strip())

    def rate(self, number: str, rating: str, *, actor: str = "citizen") -> Case:
        """The citizen's rating of the reply; 不满意 reopens the case (at most ``max_citizen_reopens``)."""
        if rating not in self.rules.ratings:
            raise CaseError(f"未知评价：{rating}")
        case = self._require(number)
        if case.replied_at is None or (case.rated_at is not None and _aware(case.rated_at) >= _aware(case.replied_at)):
            raise CaseError("该答复已评价")
        label = self.rules.ratings[rating]
        if rating == "dissatisfied" and case.reopen_count < self.rules.max_citizen_reopens:
            return self._move(number, "rate", S.reopened, actor=actor, note=label, rating=rating,
                              citizen_reopen=True)
        return self._move(number, "rate", S.closed, actor=actor, note=label, rating=rating)

    # ------------------------------------------------------------- contacts
    def reveal_contact(self, number: str, *, actor: str) -> Contact:
        """The citizen's contact details, unsealed for one staff member; the reveal is audited."""
        case = self._require(number)
        contact = self.contact(case)
        with session_scope(self.factory) as s:
            s.add(AuditEntry(actor=actor, action="reveal", entity_type="case_contact", entity_id=case.number,
                             before=None, after=None, note="联系方式已查看"))
        return contact

    def contact(self, case: Case) -> Contact:
        """The unsealed contact of ``case`` for code that must reach the citizen (not audited)."""
        phone = self.sealer.unseal(case.contact_sealed) if case.contact_sealed else case.contact_phone
        return Contact(phone=phone, channel=case.reply_channel or case.channel,
                       address=self.sealer.unseal(case.reply_to), thread=case.reply_thread)

    def notice_args(self, case: Case) -> dict[str, Any]:
        """What a reply notice needs beyond ``(case, reply_text)``: where and in which thread it goes.

        For wiring ``notify`` to the outbox, e.g.
        ``notify=lambda case, text: case_replied(case, text, **desk.notice_args(case))``.
        """
        contact = self.contact(case)
        with self.factory() as s:
            replies = s.scalar(select(func.count()).select_from(CaseReply)
                               .where(CaseReply.case_number == case.number)) or 0
        return {"recipient": contact.address or contact.phone, "thread": contact.thread,
                "department": department_names().get(case.department_id, ""), "reply_no": int(replies)}

    # ------------------------------------------------------------ templates
    def templates(self, department_id: str | None = None) -> list[ReplyTemplate]:
        """Active reply templates usable by ``department_id`` (shared ones included); all when None."""
        q = select(ReplyTemplate).where(ReplyTemplate.active.is_(True)).order_by(ReplyTemplate.title)
        if department_id is not None:
            q = q.where(or_(ReplyTemplate.department_id == "", ReplyTemplate.department_id == department_id))
        with self.factory() as s:
            return list(s.scalars(q))

    def add_template(self, title: str, body: str, *, actor: str, department_id: str = "") -> ReplyTemplate:
        """Save a reusable reply text."""
        if not title.strip() or not body.strip():
            raise CaseError("模板标题和内容不能为空")
        with session_scope(self.factory) as s:
            row = ReplyTemplate(title=title.strip()[:100], body=body.strip(), department_id=department_id,
                                created_by=actor, active=True)
            s.add(row)
            s.flush()
            s.expunge(row)
            return row

    def retire_template(self, template_id: int, *, actor: str) -> None:
        """Stop offering a template (kept for the record)."""
        with session_scope(self.factory) as s:
            row = s.get(ReplyTemplate, template_id)
            if row is None:
                raise CaseError("模板不存在")
            row.active = False
            log.info("reply template %s retired by %s", template_id, actor)

    # ----------------------------------------------------------------- stats
    def stats(self, weeks: int = 8, now: dt.datetime | None = None) -> CaseStats:
        """Cases per department and week, on-time rate, median time to reply, ratings."""
        now = now or utcnow()
        today = now.astimezone(CITY_TZ).date()
        monday = today - dt.timedelta(days=today.weekday())
        starts = [monday - dt.timedelta(weeks=i) for i in range(weeks - 1, -1, -1)]
        since = dt.datetime.combine(starts[0], dt.time(), tzinfo=CITY_TZ).astimezone(dt.timezone.utc)
        with self.factory() as s:
            rows = list(s.execute(select(Case.department_id, Case.created_at).where(Case.created_at >= since)))
            answered = list(s.execute(select(Case.created_at, Case.replied_at, Case.due_at)
                                      .where(Case.replied_at.is_not(None))))
            ratings = dict(s.execute(select(CaseEvent.note, func.count()).where(CaseEvent.action == "rate")
                                     .group_by(CaseEvent.note)).all())  # every rating, by label
        per: dict[str, list[int]] = {}
        for dep, created in rows:
            week = _aware(created).astimezone(CITY_TZ).date()
            idx = (week - dt.timedelta(days=week.weekday()) - starts[0]).days // 7
            if 0 <= idx < weeks:
                per.setdefault(dep or "", [0] * weeks)[idx] += 1
        on_time, hours = 0, []
        for created, replied, due in answered:
            if replied is None:
                continue
            on_time += int(due is None or _aware(replied) <= _aware(due))
            hours.append((_aware(replied) - _aware(created)).total_seconds() / 3600)
        return CaseStats(weeks=starts, per_department_week=per,
                         answered=len(answered), on_time=on_time,
                         median_reply_hours=statistics.median(hours) if hours else None,
                         ratings={str(k): int(v) for k, v in ratings.items()})

    # -------------------------------------------------------------- helpers
    def _require(self, number: str) -> Case:
        case = self.get(number)
        if case is None:
            raise CaseNotFound(f"工单不存在：{number}")
        return case

    def _move(self, number: str, action: str, to: CaseStatus, *, actor: str, note: str = "",
              department_id: str | None = None, assignee: str | None = None, reply_text: str = "",
              rating: str = "", citizen_reopen: bool = False) -> Case:
        with session_scope(self.factory) as s:
            case = s.get(Case, number.strip().upper(), with_for_update=True)
            if case is None:
                raise CaseNotFound(f"工单不存在：{number}")
            current = effective_status(case)
            if current not in ALLOWED[action] and not (current is S.closed and S.done in ALLOWED[action]):
                raise CaseError(f"工单当前状态不允许此操作（{action}：{current.value}）")
            now = utcnow()
            if department_id is not None:
                case.department_id = department_id
            if assignee is not None:
                case.assignee = assignee
            if reply_text:
                s.add(CaseReply(case_number=case.number, at=now, actor=actor, department_id=case.department_id,
                                text=reply_text))
                case.replied_at = now
            if rating:
                case.rating, case.rated_at = rating, now
            if to is S.closed:
                case.closed_at = now
            if to is S.reopened:
                case.closed_at = None
                case.due_at = due_at_for(case.kind, now, self.rules)
                if citizen_reopen:
                    case.reopen_count += 1
            s.add(CaseEvent(case_number=case.number, at=now, actor=actor, action=action,
                            from_status=case.status, to_status=to.value, department_id=case.department_id,
                            note=note or (reply_text[:200] if reply_text else "")))
            case.status, case.updated_at = to.value, now
            s.flush()
            s.expunge(case)
            log.info("case %s %s: %s -> %s", case.number, action, current.value, to.value)
            return case

    @staticmethod
    def _hook(name: str, hook: Callable[..., object], *args: Any) -> None:
        try:
            hook(*args)
        except Exception:  # a hook never undoes a committed transition
            log.exception("case desk hook %s failed", name)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


CASE_NUMBER_RANDOM_DIGITS = 8


def new_case_number() -> str:
    """A case tracking number: TS + YYMMDD + 8 random digits (14 digits, read out like a phone number).

    A hundred million numbers a day, so guessing one that exists is hopeless under the
    identity-check lockouts; numbers issued before (TS + YYMMDD + 4 digits) stay valid.
    """
    return "TS" + city_now().strftime("%y%m%d") + f"{secrets.randbelow(10 ** CASE_NUMBER_RANDOM_DIGITS):08d}"


def wired_desk(factory: sessionmaker[Session]) -> CaseDesk:
    """The case desk with its hooks, as the console and the action server use it (build one per process).

    * ``notify``: the department's reply goes to the citizen's channel through the outbox
      (:func:`casework.notices.case_replied`);
    * ``on_route``: every staff assignment is kept for retraining the router
      (:class:`casework.routing_store.RoutingDecisions`);
    * ``suggest``: the router's department for a new case — only from a model already trained
      (``python -m casework routing retrain`` or the console's 派单建议 page), so opening a case never
      waits for a training run.
    """
    from casework.notices import case_replied
    from casework.outbox import Outbox
    from casework.routing_store import RoutingDecisions, make_router

    router = make_router(factory)
    outbox = Outbox(factory)

    def suggest(text: str, location: str) -> tuple[str, float] | None:
        if not router.settings.model_path.exists():
            return None
        found = router.suggest(text, location)
        return found.department, found.confidence

    desk = CaseDesk(factory, on_route=RoutingDecisions(factory).record_decision, suggest=suggest)
    desk.notify = lambda case, text: case_replied(case, text, outbox=outbox, **desk.notice_args(case))
    return desk
