"""A scripted attacker inside the network: straight to the core's relays, its HTTP API and the action server.

Against the real core closed as in production (``closed_core``: relay token, action-server
token, HTTP API behind its token). A citizen first books through the relay with the right
token, so there is a conversation with a phone number to steal; the attacker then posts to
every relay without a token and with wrong ones, to the stock REST channel, to the HTTP
API (tracker, events, parse, model) without or with a wrong token, and to the action
server's ``/webhook`` and ``/actions``. Every attempt must fail; the tally (attempts made,
attempts that got through: zero) is printed and written to ``tests/security/REPORT_core.md``.
"""

from __future__ import annotations

import pytest
import requests

from devtools.live import LiveCore
from tests.security import core_fixtures
from tests.security.core_fixtures import Tally, body_leaks

closed_core = core_fixtures.closed_core  # fixtures shared without a conftest.py (see core_fixtures)
tally = core_fixtures.tally

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

CHANNELS = ("webchat", "sms", "voice", "mail", "telegram", "wechat")
VICTIM = "victim-7f3a"
VICTIM_PHONE = "13900004321"
WRONG_TOKENS = ("", "x", "relay-token", "null", "undefined", "' OR '1'='1")


def _relay(core: LiveCore, channel: str, sender: str, text: str, token: str | None) -> requests.Response:
    headers = {} if token is None else {"X-Relay-Token": token}
    return requests.post(f"{core.rasa_url}/webhooks/{channel}/webhook", headers=headers, timeout=60,
                         json={"sender": sender, "message": text, "metadata": {"phone": VICTIM_PHONE}})


@pytest.fixture(scope="module")
def victim(closed_core: LiveCore) -> str:
    """A real conversation holding a phone number (sent with the right token)."""
    token = closed_core.env["RELAY_TOKEN"]
    res = _relay(closed_core, "webchat", VICTIM, "办护照要带什么材料", token)
    assert res.status_code == 200, res.text  # the target is live: the right token gets in
    # the answer comes from action_answer_faq: the core reaches the action server with its token
    assert "护照" in "\n".join(m.get("text", "") for m in res.json())
    for text in ["我想预约办护照", "天河", "下周三", "上午十点", "陈示例", VICTIM_PHONE]:
        assert _relay(closed_core, "webchat", VICTIM, text, token).status_code == 200
    return VICTIM


def test_the_relays_refuse_posts_without_the_token_or_with_a_wrong_one(
        closed_core: LiveCore, victim: str, tally: Tally) -> None:
    for channel in CHANNELS:
        for token in (None, *WRONG_TOKENS):
            res = _relay(closed_core, channel, f"sms-spoof-{channel}", "取消预约", token)
            tally.record("relay webhook, no or wrong X-Relay-Token", res.status_code < 400)
            assert res.status_code == 403, (channel, token, res.status_code)
        res = requests.get(f"{closed_core.rasa_url}/webhooks/{channel}/ready", timeout=10)
        tally.record("relay readiness without the token", res.status_code < 400)
        assert res.status_code == 403


def test_the_stock_rest_channel_does_not_exist(closed_core: LiveCore, victim: str, tally: Tally) -> None:
    for path in ("/webhooks/rest/webhook", "/webhooks/callback/webhook", "/webhooks/socketio/webhook"):
        res = requests.post(f"{closed_core.rasa_url}{path}", json={"sender": victim, "message": "查下我的预约"},
                            timeout=30)
        tally.record("stock REST / callback channels", res.status_code < 400)
        assert res.status_code == 404, (path, res.status_code)


def test_the_http_api_refuses_every_call_without_its_token(closed_core: LiveCore, victim: str,
                                                           tally: Tally) -> None:
    url = closed_core.rasa_url
    calls = [("GET", f"/conversations/{victim}/tracker", None),
             ("GET", f"/conversations/{victim}/story", None),
             ("POST", f"/conversations/{victim}/tracker/events",
              {"event": "slot", "name": "phone", "value": "13900000000"}),
             ("POST", f"/conversations/{victim}/messages", {"text": "取消预约", "sender": "user"}),
             ("POST", f"/conversations/{victim}/execute", {"name": "action_cancel_booking"}),
             ("POST", "/model/parse", {"text": "我想预约"}),
             ("GET", "/status", None),
             ("GET", "/domain", None),
             ("PUT", "/model", {"model_file": "/etc/passwd"})]
    for method, path, body in calls:
        for params in ({}, {"token": "wrong"}, {"token": ""}):
            res = requests.request(method, f"{url}{path}", json=body, params=params, timeout=30)
            leaked = body_leaks(res, VICTIM_PHONE, "4321", '"events"', '"intent"')
            tally.record("Rasa HTTP API without its token", res.status_code < 400 or leaked)
            assert res.status_code in (401, 403), (method, path, params, res.status_code)
            assert not leaked
    # the API itself works for its holder (the check above is not a dead port)
    assert closed_core.api(f"/conversations/{victim}/tracker").status_code == 200


def test_the_action_server_refuses_every_caller_but_the_core(closed_core: LiveCore, victim: str,
                                                            tally: Tally) -> None:
    call = {"next_action": "action_check_booking", "sender_id": victim, "version": "3.6.2",
            "tracker": {"sender_id": victim, "slots": {"booking_reference": "YY000001", "phone": VICTIM_PHONE},
                        "latest_message": {"text": "", "intent": {}, "entities": []}, "events": [],
                        "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": None},
            "domain": {}}
    for token in (None, *WRONG_TOKENS, closed_core.env["RELAY_TOKEN"]):  # the relay token is not the actions'
        headers = {} if token is None else {"X-Action-Token": token}
        res = requests.post(f"{closed_core.actions_url}/webhook", json=call, headers=headers, timeout=30)
        tally.record("action server /webhook without the core's token", res.status_code < 400)
        assert res.status_code == 403, (token, res.status_code)
        res = requests.get(f"{closed_core.actions_url}/actions", headers=headers, timeout=30)
        tally.record("action server /actions without the core's token", res.status_code < 400)
        assert res.status_code == 403
