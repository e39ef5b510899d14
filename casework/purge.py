"""Scheduled purge of casework data past its retention period (``common/retention.yml``).

* bookings: deleted once their appointment date is ``bookings_after_date_days`` past;
* cases: ``closed_cases_minimise_days`` after closing, the contact phone, its last four digits
  and the sender pseudonym are stripped (the case text, already masked, stays for statistics);
* identity checks before status lookups: deleted after ``verification_attempts_days``;
* unanswered questions (staff inbox): deleted after ``unanswered_questions_days``.

``python -m casework purge --dry-run`` counts what would go without changing anything.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from casework.models import Booking, Case, UnansweredQuestion, VerificationAttempt
from common.clock import CITY_TZ
from common.retention import Retention
from common.status import CaseStatus
from knowledge.db import session_scope

CLOSED_STATES = (CaseStatus.closed.value, "done")  # "done": closed cases stored before the case desk


def purge_casework(factory: sessionmaker[Session], retention: Retention, *, now: dt.datetime | None = None,
                   dry_run: bool = False) -> dict[str, int]:
    """Apply the retention periods; return the rows removed (or minimised) per kind.

    Args:
        factory: sessions of the casework database.
        retention: the periods.
        now: the current time (tests pass their own), timezone-aware.
        dry_run: count only.
    """
    now = now or dt.datetime.now(dt.timezone.utc)
    today = now.astimezone(CITY_TZ).date()
    booking_cut = today - dt.timedelta(days=retention.bookings_after_date_days)
    case_cut = now - dt.timedelta(days=retention.closed_cases_minimise_days)
    check_cut = now - dt.timedelta(days=retention.verification_attempts_days)
    question_cut = now - dt.timedelta(days=retention.unanswered_questions_days)
    stale_cases = (Case.status.in_(CLOSED_STATES), Case.updated_at < case_cut,
                   (Case.contact_phone != "") | (Case.phone_last4 != "") | (Case.sender_hash != ""))
    plan = {
        "bookings": (Booking, (Booking.date < booking_cut,)),
        "verification_attempts": (VerificationAttempt, (VerificationAttempt.at < check_cut,)),
        "unanswered_questions": (UnansweredQuestion, (UnansweredQuestion.at < question_cut,)),
    }
    out: dict[str, int] = {}
    with session_scope(factory) as s:
        for name, (model, where) in plan.items():
            if dry_run:
                out[name] = int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)
            else:
                out[name] = int(s.execute(delete(model).where(*where)).rowcount or 0)  # type: ignore[attr-defined]
        if dry_run:
            out["cases_minimised"] = int(s.scalar(select(func.count()).select_from(Case).where(*stale_cases)) or 0)
        else:
            # updated_at keeps its value: minimising is not a change of the case
            res = s.execute(update(Case).where(*stale_cases)
                            .values(contact_phone="", phone_last4="", sender_hash="", updated_at=Case.updated_at)
                            .execution_options(synchronize_session=False))
            out["cases_minimised"] = int(res.rowcount or 0)  # type: ignore[attr-defined]
    return out
