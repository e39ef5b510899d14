"""Channel state: dedupe claims, notes and opt-outs on a real SQLite file, across threads."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from channels.state import ChannelState, Claim


@pytest.fixture
def state(tmp_path):
    st = ChannelState(f"sqlite:///{tmp_path / 'ch.db'}")
    yield st
    st.dispose()


def test_first_claim_is_new_and_a_replay_gets_the_stored_reply(state):
    assert state.begin("sms", "SM1").claim is Claim.NEW
    assert state.begin("sms", "SM1").claim is Claim.IN_PROGRESS
    state.finish("sms", "SM1", "<Response/>")
    replay = state.begin("sms", "SM1")
    assert (replay.claim, replay.reply) == (Claim.DONE, "<Response/>")
    assert state.begin("voice", "SM1").claim is Claim.NEW  # ids are per channel


def test_a_stale_claim_is_taken_over_once(tmp_path):
    st = ChannelState(f"sqlite:///{tmp_path / 'ch.db'}", stale_after=0.0)
    assert st.begin("mail", "<a@b>").claim is Claim.NEW
    assert st.begin("mail", "<a@b>").claim is Claim.NEW  # worker died: taken over
    st.finish("mail", "<a@b>")
    assert st.begin("mail", "<a@b>").claim is Claim.DONE
    st.dispose()


def test_released_claim_can_be_processed_again(state):
    state.begin("sms", "SM2")
    state.release("sms", "SM2")
    assert state.begin("sms", "SM2").claim is Claim.NEW


def test_concurrent_claims_of_one_message_yield_exactly_one_new(state):
    results: list[Claim] = []
    barrier = threading.Barrier(12)

    def claim() -> None:
        barrier.wait()
        results.append(state.begin("telegram", "update-7").claim)

    threads = [threading.Thread(target=claim) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(Claim.NEW) == 1 and len(results) == 12


def test_notes_expire_and_can_be_overwritten(state):
    state.put_note("sms", "c1", "options", ["/affirm", "/deny"], ttl_s=3600)
    state.put_note("sms", "c1", "options", ["/a"], ttl_s=3600)
    assert state.get_note("sms", "c1", "options") == ["/a"]
    state.put_note("sms", "c1", "old", {"x": 1}, ttl_s=0.001)
    threading.Event().wait(0.01)
    assert state.get_note("sms", "c1", "old") is None
    state.delete_note("sms", "c1", "options")
    assert state.get_note("sms", "c1", "options") is None


def test_opt_out_and_back_in(state):
    assert not state.is_opted_out("sms", "h1")
    state.set_opt_out("sms", "h1", True)
    assert state.is_opted_out("sms", "h1")
    state.set_opt_out("sms", "h1", False)
    assert not state.is_opted_out("sms", "h1")


def test_purge_removes_only_finished_old_records(state):
    state.begin("sms", "old")
    state.finish("sms", "old", "r")
    state.begin("sms", "open")
    assert state.purge(dt.timedelta(seconds=-1)) == 1
    assert state.begin("sms", "open").claim is Claim.IN_PROGRESS


def test_list_notes_returns_one_conversations_unexpired_notes(state):
    state.put_note("telegram", "inbox", "1001", {"taken_at": 1.0})
    state.put_note("telegram", "inbox", "1002", {"taken_at": 2.0}, ttl_s=3600)
    state.put_note("telegram", "inbox", "999", {"taken_at": 0.0}, ttl_s=0.001)
    state.put_note("telegram", "other", "1003", {})
    state.put_note("mail", "inbox", "1004", {})
    import time

    time.sleep(0.01)
    assert state.list_notes("telegram", "inbox") == {"1001": {"taken_at": 1.0}, "1002": {"taken_at": 2.0}}
