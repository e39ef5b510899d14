"""A long conversation gets the same answers whether or not the tracker store compacts it.

Two Rasa servers on the same model, each with its own action server and copy of the
database: one with the masking SQL store compacting after a few turns
(``keep_turns: 3, compact_after_turns: 4``, so the checkpoint moves almost every turn),
one with compaction off (Rasa rebuilds the whole session each message, as before). The
same long, varied conversation — guide questions and follow-ups, bookings interrupted by
questions, a status lookup with identity check, nonsense, a complaint started and
abandoned, a request for a person — goes to both, message by message; every answer must
be identical. Then the stored rows are checked: every event kept, a checkpoint written.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from devtools.live import LiveCore, ci_model, load_sample_applications, rasa_available, start_live_core

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

CONVERSATION = [
    "你好", "办护照要带什么材料", "那要多少钱", "在哪里办", "我想预约办护照", "天河", "办护照要带什么材料", "后天",
    "上午十点", "陈示例", "13900001234", "不用了", "查下办件进度", "202611100012", "1234", "跳过", "谢谢",
    "sdfkj qwe", "我想预约", "算了不办了", "身份证丢了怎么补办", "要多久", "我要投诉", "算了", "转人工", "好的",
    "你好", "社保卡怎么办", "在哪里办", "我想预约办护照", "越秀", "明天", "下午三点", "陈示例", "13900001234",
    "不用了", "查下办件进度", "202611100012", "1234", "跳过", "谢谢", "再见", "你好", "办护照要带什么材料", "谢谢",
    "再见",
]


def start(tmp_path_factory: pytest.TempPathFactory, seeded_template: Path, name: str, **store: int) -> LiveCore:
    workdir = tmp_path_factory.mktemp(name)
    shutil.copy(seeded_template, workdir / "kb.db")
    db_url = f"sqlite:///{workdir / 'kb.db'}"
    load_sample_applications(db_url)
    tracker_store = {"type": "bot.tracker_store.MaskingSQLTrackerStore", "dialect": "sqlite",
                     "db": str(workdir / "tracker.db"), "pii_key_file": str(workdir / "tracker_pii.key"), **store}
    return start_live_core(workdir, db_url, ci_model(), log_level="WARNING", tracker_store=tracker_store)


@pytest.fixture(scope="module")
def two_cores(seeded_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveCore, LiveCore]]:
    reason = rasa_available()
    if reason:
        pytest.skip(reason)
    compacting = start(tmp_path_factory, seeded_template, "compacting", keep_turns=3, compact_after_turns=4)
    try:
        full = start(tmp_path_factory, seeded_template, "full", compact_after_turns=0)
    except Exception:
        compacting.stop()
        raise
    yield compacting, full
    compacting.stop()
    full.stop()


def answers(core: LiveCore, sender: str, text: str) -> list[dict]:
    res = requests.post(f"{core.rasa_url}/webhooks/webchat/webhook",
                        json={"sender": sender, "message": text, "metadata": {}}, timeout=120)
    res.raise_for_status()
    return res.json()


def test_every_answer_of_a_long_conversation_is_the_same_with_compaction(two_cores):
    compacting, full = two_cores
    sender = "e2e-compaction"
    for turn, text in enumerate(CONVERSATION * 2):
        assert answers(compacting, sender, text) == answers(full, sender, text), f"turn {turn + 1}: {text}"

    db = compacting.workdir / "tracker.db"
    with sqlite3.connect(db) as conn:
        users = conn.execute("SELECT COUNT(*) FROM events WHERE sender_id = ? AND type_name = 'user'",
                             (sender,)).fetchone()[0]
        first_event_id, data = conn.execute("SELECT first_event_id, data FROM tracker_checkpoints "
                                            "WHERE sender_id = ?", (sender,)).fetchone()
        tail_users = conn.execute("SELECT COUNT(*) FROM events WHERE sender_id = ? AND type_name = 'user' "
                                  "AND id >= ?", (sender, first_event_id)).fetchone()[0]
    # the events table keeps everything: every message sent, plus each reply that answered a
    # closed question a second time, as the option it chose (action_resolve_reply)
    assert users >= len(CONVERSATION) * 2
    assert 3 <= tail_users <= 20  # what Rasa reads back each turn stays short
    snapshot = json.loads(data)
    assert [e["event"] for e in snapshot[:2]] == ["action", "session_started"]
    assert "13900001234" not in data  # the checkpoint is masked and sealed like the events
