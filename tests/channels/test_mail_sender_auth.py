"""Forged senders get no reply: the receiving server's Authentication-Results decide (real Dovecot + SMTP)."""
# ruff: noqa: F811 - pytest fixtures imported from tests.channels.mailkit are used as arguments

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_string
from pathlib import Path

import pytest

from channels.mail.authres import sender_verdict
from channels.mail.verify import MailSettings, MailSettingsError
from channels.mail.worker import Outcome
from channels.state import ChannelState
from devtools.dovecot import DovecotServer
from tests.channels.mailkit import (  # noqa: F401 - fixtures
    RecordingRelay,
    SmtpServer,
    citizen_mail,
    deliver,
    dovecot,
    mail_env,
    mailbox_state,
    relay,
    smtp_server,
)
from tests.channels.test_mail_worker import make_worker, run_round

OURS = "mx.city.gov.cn"


def _msg(*results: str, sender: str = "zhang.san@example.cn") -> object:
    head = "".join(f"Authentication-Results: {r}\n" for r in results)
    return message_from_string(f"{head}From: 张三 <{sender}>\nSubject: x\n\nbody\n")


@pytest.mark.parametrize(("results", "ok"), [
    ([f"{OURS}; dmarc=pass header.from=example.cn; spf=fail smtp.mailfrom=x.org"], True),
    ([f"{OURS}; dkim=pass header.d=example.cn header.s=s1; spf=none"], True),
    ([f"{OURS}; dkim=pass header.d=mail.example.cn"], True),  # relaxed alignment
    ([f"{OURS}; spf=pass smtp.mailfrom=bounce@example.cn"], True),
    ([f"{OURS}; dmarc=fail header.from=example.cn; dkim=pass header.d=example.cn"], False),
    ([f"{OURS}; dkim=pass header.d=attacker.org; spf=pass smtp.mailfrom=attacker.org"], False),  # not aligned
    ([f"{OURS}; spf=softfail smtp.mailfrom=example.cn; dkim=none"], False),
    (["mx.attacker.org; dmarc=pass header.from=example.cn"], False),  # written by someone else
    ([f"{OURS.upper()} (comment; dmarc=fail) ; dmarc=pass header.from=example.cn"], True),
    ([], False),
])
def test_only_a_trusted_servers_pass_for_the_from_domain_authenticates(results: list[str], ok: bool) -> None:
    verdict, why = sender_verdict(_msg(*results), [OURS])  # type: ignore[arg-type]
    assert verdict is ok, why


def test_a_forged_header_with_our_id_below_ours_does_not_help() -> None:
    # ours is prepended on arrival (topmost); the sender wrote the "pass" further down
    msg = _msg(f"{OURS}; dmarc=fail header.from=example.cn", f"{OURS}; dmarc=pass header.from=example.cn")
    verdict, _ = sender_verdict(msg, [OURS])  # type: ignore[arg-type]
    assert verdict is False


def test_the_production_profile_requires_the_trusted_authserv_id(tmp_path: Path) -> None:
    env = {"MAIL_IMAP_HOST": "h", "MAIL_IMAP_USER": "u@x.cn", "MAIL_IMAP_PASSWORD": "p", "MAIL_SMTP_HOST": "h",
           "MAIL_SMTP_FROM": "bot@x.cn", "DEPLOY_PROFILE": "production"}
    with pytest.raises(MailSettingsError, match="MAIL_TRUSTED_AUTHSERV_ID"):
        MailSettings.from_env(env)
    settings = MailSettings.from_env({**env, "MAIL_TRUSTED_AUTHSERV_ID": f"{OURS}, mx2.city.gov.cn"})
    assert settings.trusted_authserv_ids == (OURS, "mx2.city.gov.cn")


@pytest.fixture
def env(dovecot: DovecotServer, smtp_server: SmtpServer, relay: RecordingRelay, tmp_path: Path) -> dict[str, str]:
    return {**mail_env(dovecot, smtp_server, relay.url, f"sqlite:///{tmp_path / 'channels.db'}"),
            "MAIL_TRUSTED_AUTHSERV_ID": OURS}


@pytest.fixture
def state(env: dict[str, str]) -> Iterator[ChannelState]:
    st = ChannelState(env["CHANNELS_DB_URL"], stale_after=1.0)
    yield st
    st.dispose()


def test_a_forged_sender_gets_no_reply_and_its_text_reaches_nobody(
        env: dict[str, str], state: ChannelState, dovecot: DovecotServer, smtp_server: SmtpServer,
        relay: RecordingRelay) -> None:
    lure = "请点击 http://evil.example/pay 缴纳罚款"
    deliver(dovecot, citizen_mail(lure, sender="victim@example.cn", message_id="<forged@x>", headers={
        "Authentication-Results": f"{OURS}; spf=fail smtp.mailfrom=attacker.org; dmarc=fail header.from=example.cn"}))
    deliver(dovecot, citizen_mail("公积金怎么提取？", message_id="<real@example.cn>", headers={
        "Authentication-Results": f"{OURS}; dkim=pass header.d=example.cn; dmarc=pass header.from=example.cn"}))
    outcomes = sorted(run_round(make_worker(env, state)).values())
    assert outcomes == [Outcome.QUARANTINED, Outcome.REPLIED]
    [reply] = smtp_server.recorder.messages
    assert reply["To"].addresses[0].addr_spec == "zhang.san@example.cn"
    assert all("evil.example" not in c["message"] for c in relay.calls)  # never sent to the core either
    assert len(mailbox_state(dovecot, "Quarantine")) == 1
