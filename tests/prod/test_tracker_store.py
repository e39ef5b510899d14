"""The masking tracker store: rows read back hold no personal data; slots survive; retention."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.prod.helpers import fernet_key, rasa_venv_missing, store_driver

PHONE, EMAIL, ID_NUMBER = "13900001234", "zhang.san@example.com", "44010619900101123X"
RAW = (PHONE, EMAIL, ID_NUMBER, "zhang.san")

pytestmark = pytest.mark.skipif(rasa_venv_missing() is not None, reason=rasa_venv_missing() or "")


def conversation(store: dict, sender: str = "sms-abc", **extra) -> dict:
    return {"store": store, "sender": sender, "text": f"我的电话{PHONE}，邮箱{EMAIL}", "phone": PHONE,
            "email": EMAIL, "id_number": ID_NUMBER, **extra}


def sqlite_rows(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT data FROM events ORDER BY id")]


def assert_masked(rows: list[str]) -> None:
    assert rows
    for row in rows:
        decoded = json.dumps(json.loads(row), ensure_ascii=False)
        for raw in RAW:
            assert raw not in decoded, decoded


def test_stored_rows_hold_no_phone_id_or_email_but_the_dialogue_gets_its_slots_back(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    args = conversation({"dialect": "sqlite", "db": str(db), "pii_key": fernet_key()})
    assert store_driver("save", args) == {"saved": 6}
    rows = sqlite_rows(db)
    assert_masked(rows)
    stored = [json.loads(r) for r in rows]
    user = next(e for e in stored if e["event"] == "user")
    assert user["text"] == "我的电话139****1234，邮箱z***@example.com"
    assert user["parse_data"]["entities"][0]["value"] == "139****1234"
    assert user["metadata"] == {"from": "139****1234"}
    bot = next(e for e in stored if e["event"] == "bot")
    assert "440**************X" in bot["text"] and bot["data"]["buttons"][0]["title"] == "确认 139****1234"
    name_slot = next(e for e in stored if e["event"] == "slot" and e["name"] == "person_name")
    assert "sealed_value" not in name_slot  # no personal number: stored as it is

    back = store_driver("load", args)
    assert back["slots"] == {"phone": PHONE, "person_name": "陈小红", "contact": {"mail": EMAIL, "id": ID_NUMBER}}
    assert back["texts"][0] == "我的电话139****1234，邮箱z***@example.com"


def test_a_lost_key_leaves_the_masked_values_not_an_error(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    store_driver("save", conversation({"dialect": "sqlite", "db": str(db), "pii_key": fernet_key()}))
    back = store_driver("load", conversation({"dialect": "sqlite", "db": str(db), "pii_key": fernet_key()}))
    assert back["slots"]["phone"] == "139****1234"


def test_key_rotation_unseals_with_the_old_key(tmp_path: Path) -> None:
    db, old, new = tmp_path / "tracker.db", fernet_key(), fernet_key()
    store_driver("save", conversation({"dialect": "sqlite", "db": str(db), "pii_key": old}))
    back = store_driver("load", conversation({"dialect": "sqlite", "db": str(db), "pii_key": f"{new},{old}"}))
    assert back["slots"]["phone"] == PHONE


def test_the_embedded_key_file_is_created_once_private_and_reused(tmp_path: Path) -> None:
    db, key = tmp_path / "tracker.db", tmp_path / "var" / "tracker_pii.key"
    args = conversation({"dialect": "sqlite", "db": str(db), "pii_key_file": str(key)})
    store_driver("save", args)
    assert key.stat().st_mode & 0o777 == 0o600
    first = key.read_text()
    assert store_driver("load", args)["slots"]["phone"] == PHONE
    assert key.read_text() == first


def test_retention_deletes_only_conversations_whose_last_event_is_older(tmp_path: Path) -> None:
    db, key = tmp_path / "tracker.db", fernet_key()
    store = {"dialect": "sqlite", "db": str(db), "pii_key": key}
    now = time.time()
    store_driver("save", conversation(store, "old-1", timestamp=now - 40 * 86400))
    store_driver("save", conversation(store, "old-2", timestamp=now - 31 * 86400))
    store_driver("save", conversation(store, "fresh", timestamp=now - 2 * 86400))
    assert store_driver("retain", {"store": store, "days": 30, "now": now}) == {"deleted": 2}
    with sqlite3.connect(db) as conn:
        senders = {r[0] for r in conn.execute("SELECT DISTINCT sender_id FROM events")}
    assert senders == {"fresh"}
    assert store_driver("load", conversation(store, "old-1"))["found"] is False


def test_the_retention_command_reads_the_endpoints_file_and_the_environment(tmp_path: Path) -> None:
    import subprocess

    from tests.prod.helpers import RASA_PY, rasa_env

    db, key = tmp_path / "tracker.db", fernet_key()
    store = {"dialect": "sqlite", "db": str(db), "pii_key": key}
    store_driver("save", conversation(store, "old", timestamp=time.time() - 10 * 86400))
    store_driver("save", conversation(store, "new"))
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("tracker_store:\n  type: bot.tracker_store.MaskingSQLTrackerStore\n  dialect: sqlite\n"
                         f"  db: {db}\n  pii_key: ${{TRACKER_PII_KEY}}\n", encoding="utf-8")
    cmd = [str(RASA_PY), "-m", "bot.retention", "--endpoints", str(endpoints)]
    unset = subprocess.run(cmd, env=rasa_env(TRACKER_PII_KEY=key, TRACKER_RETENTION_DAYS=""), capture_output=True,
                           text=True, timeout=120)
    # no variable: the committed policy (common/retention.yml, 180 days) keeps a 10-day-old conversation
    assert unset.returncode == 0 and unset.stdout.strip().splitlines()[-1] == "0", unset.stderr[-1500:]
    out = subprocess.run(cmd, env=rasa_env(TRACKER_PII_KEY=key, TRACKER_RETENTION_DAYS="7"), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "1"
    with sqlite3.connect(db) as conn:
        assert {r[0] for r in conn.execute("SELECT DISTINCT sender_id FROM events")} == {"new"}


def test_a_long_conversation_is_read_back_from_its_checkpoint_with_its_slots(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    store = {"dialect": "sqlite", "db": str(db), "pii_key": fernet_key(), "keep_turns": 2, "compact_after_turns": 4}
    out = store_driver("turns", {"store": store, "sender": "web-long", "phone": PHONE, "n": 40})
    # what is read back each turn stops growing (the checkpoint moves), the slot survives it
    assert max(out["sizes"][20:]) <= 40 < 4 * 40
    assert out["slots"] == {"phone": PHONE}
    assert 2 <= len(out["texts"]) <= 4 and out["texts"][-1] == "第39句 139****1234"
    assert out["full_users"] == 40  # every event is kept
    with sqlite3.connect(db) as conn:
        (data,) = conn.execute("SELECT data FROM tracker_checkpoints WHERE sender_id = 'web-long'").fetchone()
    assert PHONE not in data and "sealed_value" in data


def test_a_new_session_after_the_checkpoint_is_read_from_its_start(tmp_path: Path) -> None:
    store = {"dialect": "sqlite", "db": str(tmp_path / "tracker.db"), "pii_key": fernet_key(), "keep_turns": 2,
             "compact_after_turns": 4}
    out = store_driver("turns", {"store": store, "sender": "web-s", "phone": PHONE, "n": 28, "new_session_at": 25})
    assert out["slots"] == {}  # the new session reset the phone slot set in the old one
    assert out["texts"] == [f"第{i}句 139****1234" for i in range(25, 28)]
    assert out["full_users"] == 28


def test_retention_deletes_the_checkpoints_too(tmp_path: Path) -> None:
    db, key = tmp_path / "tracker.db", fernet_key()
    store = {"dialect": "sqlite", "db": str(db), "pii_key": key, "keep_turns": 2, "compact_after_turns": 4}
    store_driver("turns", {"store": store, "sender": "web-old", "phone": PHONE, "n": 12})
    assert store_driver("retain", {"store": store, "days": 1, "now": time.time() + 3 * 86400}) == {"deleted": 1}
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM tracker_checkpoints").fetchone()[0] == 0
