"""Scheduled purges: rows on both sides of every cut-off of common/retention.yml."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from casework.models import Booking, Case, UnansweredQuestion, VerificationAttempt
from casework.purge import purge_casework
from channels.state import ChannelState, processed
from common.clock import CITY_TZ
from common.retention import RETENTION_FILE, Retention
from knowledge.db import make_engine, session_factory, session_scope

NOW = dt.datetime(2026, 12, 3, 4, 0, tzinfo=dt.timezone.utc)  # 12:00 city time
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def retention() -> Retention:
    return Retention.load()


def _ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _fill(url: str, r: Retention) -> None:
    """Two rows of each kind: one a day inside its period, one a day past it."""
    today = NOW.astimezone(CITY_TZ).date()
    with session_scope(session_factory(make_engine(url))) as s:
        for i, days in enumerate((r.bookings_after_date_days - 1, r.bookings_after_date_days + 1)):
            s.add(Booking(ref=f"YY90000{i}", service_id="passport", center_id="municipal_center",
                          date=today - dt.timedelta(days=days), slot_start="09:00", place_no=1, name="陈示例",
                          phone=f"+86139000000{i}", created_at=_ago(days + 3)))
        for i, days in enumerate((r.closed_cases_minimise_days - 1, r.closed_cases_minimise_days + 1)):
            s.add(Case(number=f"TS26010100{i}", description="路灯坏了", contact_phone=f"+86139000011{i}",
                       phone_last4="0110", sender_hash="abcd", status="closed", created_at=_ago(days + 30),
                       updated_at=_ago(days)))
        s.add(Case(number="TS260101009", description="还在办", contact_phone="+8613900001199", phone_last4="1199",
                   status="in_progress", created_at=_ago(900), updated_at=_ago(800)))  # open: never stripped
        for days in (r.verification_attempts_days - 1, r.verification_attempts_days + 1):
            s.add(VerificationAttempt(sender_hash="abcd", subject="202611100012", success=False, at=_ago(days)))
        for days in (r.unanswered_questions_days - 1, r.unanswered_questions_days + 1):
            s.add(UnansweredQuestion(question="某问题", at=_ago(days)))


def test_the_policy_file_is_committed_and_complete() -> None:
    r = Retention.load(RETENTION_FILE)
    assert all(v > 0 for v in vars(r).values())


def test_a_period_that_is_missing_or_not_positive_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "r.yml"
    bad.write_text("channel_replies_days: 0\nbookings_after_date_days: x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="channel_replies_days must be positive") as err:
        Retention.load(bad)
    assert "bookings_after_date_days" in str(err.value) and "tracker_conversations_days" in str(err.value)


def test_casework_purge_removes_only_what_is_past_its_period(seeded_url: str,
                                                             retention: Retention) -> None:
    _fill(seeded_url, retention)
    factory = session_factory(make_engine(seeded_url))
    dry = purge_casework(factory, retention, now=NOW, dry_run=True)
    assert dry == {"bookings": 1, "verification_attempts": 1, "unanswered_questions": 1, "cases_minimised": 1}
    with session_scope(factory) as s:  # a dry run changes nothing
        assert len(s.scalars(select(Booking).where(Booking.ref.like("YY9%"))).all()) == 2
    assert purge_casework(factory, retention, now=NOW) == dry
    with session_scope(factory) as s:
        assert [b.ref for b in s.scalars(select(Booking).where(Booking.ref.like("YY9%")))] == ["YY900000"]
        assert len(s.scalars(select(VerificationAttempt)).all()) == 1
        assert len(s.scalars(select(UnansweredQuestion).where(UnansweredQuestion.question == "某问题")).all()) == 1
        cases = {c.number: c for c in s.scalars(select(Case).where(Case.number.like("TS2601010%")))}
        recent, old, open_case = cases["TS260101000"], cases["TS260101001"], cases["TS260101009"]
        assert recent.contact_phone and recent.phone_last4 and recent.sender_hash
        assert (old.contact_phone, old.phone_last4, old.sender_hash) == ("", "", "")
        assert old.description == "路灯坏了" and old.updated_at.replace(tzinfo=dt.timezone.utc) == _ago(
            retention.closed_cases_minimise_days + 1)  # minimising is not an edit
        assert open_case.contact_phone == "+8613900001199"
    assert purge_casework(factory, retention, now=NOW) == {k: 0 for k in dry}  # idempotent


def test_stored_channel_replies_are_purged_after_their_period(tmp_path: Path, retention: Retention) -> None:
    state = ChannelState(f"sqlite:///{tmp_path / 'ch.db'}")
    for mid in ("old", "new"):
        state.begin("sms", mid)
        state.finish("sms", mid, "您的预约号是 YY123456")
    with state.engine.begin() as conn:
        conn.execute(processed.update().where(processed.c.message_id == "old").values(
            done_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=retention.channel_replies_days + 1)))
    period = dt.timedelta(days=retention.channel_replies_days)
    assert state.purge(period, dry_run=True) == 1
    assert state.purge(period) == 1
    with state.engine.connect() as conn:
        assert [r.message_id for r in conn.execute(select(processed.c.message_id))] == ["new"]
    state.dispose()


def test_the_cli_dry_run_counts_without_deleting(seeded_url: str, retention: Retention) -> None:
    _fill(seeded_url, retention)
    env = {"KNOWLEDGE_DB_URL": seeded_url, "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "casework", "purge", "--dry-run"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-1500:]
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert counts["dry_run"] is True and counts["bookings"] >= 1 and counts["unanswered_questions"] >= 1
    with session_scope(session_factory(make_engine(seeded_url))) as s:
        assert len(s.scalars(select(Booking).where(Booking.ref.like("YY9%"))).all()) == 2


def test_purge_job_runs_every_owner(seeded_url: str, tmp_path: Path, retention: Retention) -> None:
    from server.purge import PurgeSettings, purge_job

    _fill(seeded_url, retention)
    counts = purge_job(PurgeSettings(seeded_url, f"sqlite:///{tmp_path / 'ch.db'}", retention), now=NOW)
    assert counts["bookings"] == 1 and counts["cases_minimised"] == 1 and counts["channel_replies"] == 0
