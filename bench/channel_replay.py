"""Replay real citizen messages through the mailbox, Telegram and WeChat adapters; per-channel latency.

``python -m bench.channel_replay [--limit N] [--channels mail telegram wechat] [--rasa-url URL --db-url URL] [--write]``

Reads ``../shared/data/msgabench_gov/citizen_messages.jsonl`` (11,529 messages to a
city's leaders; skipped with a note when absent, never copied into the repo) and sends a
deterministic sample (``--limit``, seed 0; ``--limit 0`` = all) through

* **mail**: each message as one citizen's mail into a throw-away Dovecot mailbox, handled
  by the real :class:`~channels.mail.worker.MailWorker` (IMAP fetch, parsing, question
  splitting, the core, rendering, SMTP to aiosmtpd, flagging); latency = one mail from
  fetch to flagged, and per question;
* **telegram**: each message as one private chat's text through the real adapter
  (python-telegram-bot long polling against the local fake Bot API); latency = update
  queued to the bot's first ``sendMessage``;
* **wechat**: each message as one follower's text, signed and AES-encrypted with wechatpy's
  crypto as WeChat's servers send it, POSTed over HTTP to the real app server (waitress) with
  the WeChat webhook; latency = POST to the passive reply, or, when the core took longer than
  the reply budget, to the customer-service message arriving at the local fake WeChat API.

Counted: errors (mail outcomes other than replied/skipped, apologies, missing replies,
error-handler records; target 0), replies, questions, answers that were the channel's
"no answer" text, and the unanswered-question records the core's FAQ action wrote
(rows added to ``unanswered_questions``). Without ``--rasa-url`` it starts its own core
with the CI model on a scratch seeded database (as the ``live_core`` fixture does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from bench.common import BENCH_DIR, SHARED_DATA, machine_line, percentile

DATA = SHARED_DATA / "msgabench_gov" / "citizen_messages.jsonl"
REPORT = BENCH_DIR / "REPORT_channels.md"
SECTION = "## Mailbox and Telegram (replay of real citizen messages)"
WECHAT_SECTION = "## WeChat official account (replay of real citizen messages)"
MAILBOX = "12345@bench.example"


def load_sample(limit: int) -> list[dict[str, Any]]:
    """A deterministic sample of the citizen messages (all when ``limit`` is 0)."""
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    if limit and limit < len(rows):
        idx = sorted(random.Random(0).sample(range(len(rows)), limit))
        rows = [rows[i] for i in idx]
    return rows


def unanswered_count(db_url: str | None) -> int | None:
    """Rows in the core's unanswered_questions table (None without a database URL)."""
    if not db_url:
        return None
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM unanswered_questions")).scalar_one())
    finally:
        engine.dispose()


class ErrorCounter(logging.Handler):
    """Counts ERROR records of the adapters (the central error handlers log at ERROR)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def replay_mail(rows: list[dict[str, Any]], rasa_url: str, workdir: Path) -> dict[str, Any]:
    """Every row as one mail through the mailbox worker."""
    from aiosmtpd.controller import Controller
    from imapclient import IMAPClient

    from channels.core import CoreClient, CoreSettings
    from channels.mail import texts as mail_texts
    from channels.mail.verify import MailSettings
    from channels.mail.worker import MailWorker, Outcome
    from channels.state import ChannelState
    from devtools.dovecot import DovecotServer, dovecot_unavailable_reason
    from devtools.supervisor import free_port

    reason = dovecot_unavailable_reason()
    if reason:
        return {"skipped": reason}
    dovecot = DovecotServer(workdir / "dovecot", {MAILBOX: "bench-password"})
    dovecot.start()

    class Handler:
        def __init__(self) -> None:
            self.count = 0

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # aiosmtpd hook
            self.count += 1
            return "250 OK"

    handler, smtp_port = Handler(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    env = {"MAIL_IMAP_HOST": dovecot.host, "MAIL_IMAP_PORT": str(dovecot.port), "MAIL_IMAP_USER": MAILBOX,
           "MAIL_IMAP_PASSWORD": "bench-password", "MAIL_IMAP_SSL": "false", "MAIL_SMTP_HOST": "127.0.0.1",
           "MAIL_SMTP_PORT": str(smtp_port), "MAIL_SMTP_STARTTLS": "false", "MAIL_SMTP_FROM": MAILBOX,
           "RASA_URL": rasa_url, "CORE_TIMEOUT": "60"}
    state = ChannelState(f"sqlite:///{workdir / 'mail-channels.db'}")
    worker = MailWorker(MailSettings.from_env(env), core=CoreClient(CoreSettings.from_env(env)), state=state)
    replies: list[str] = []
    original_send = worker.sender.send

    def recording_send(message: EmailMessage) -> None:
        original_send(message)
        part = message.get_body(preferencelist=("plain",))
        replies.append(part.get_content() if part is not None else "")

    worker.sender.send = recording_send  # type: ignore[method-assign]
    try:
        with IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=30) as client:
            client.login(MAILBOX, "bench-password")
            for i, row in enumerate(rows):
                msg = EmailMessage()
                msg["From"] = f"citizen{i}@bench.example"
                msg["To"] = MAILBOX
                msg["Subject"] = "市民来信"
                msg["Message-ID"] = f"<{row['id']}@bench.example>"
                msg.set_content(row["text"])
                client.append("INBOX", msg.as_bytes())
        outcomes: dict[str, int] = {}
        per_mail: list[float] = []
        questions = 0
        client = worker.connect()
        try:
            for uid in sorted(client.search(["NOT", "KEYWORD", "CitizenBotHandled"])):
                t0 = time.perf_counter()
                result = worker.process_uid(client, uid)
                per_mail.append(time.perf_counter() - t0)
                outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
                questions += result.questions
        finally:
            client.logout()
    finally:
        controller.stop()
        dovecot.stop()
        state.dispose()
    errors = sum(n for k, n in outcomes.items() if k not in (Outcome.REPLIED, Outcome.SKIPPED))
    return {"messages": len(rows), "replies": handler.count, "outcomes": outcomes, "errors": errors,
            "questions": questions, "no_answer": sum(r.count(mail_texts.NO_ANSWER) for r in replies),
            "latency": per_mail, "per_question_ms": 1000 * sum(per_mail) / max(1, questions)}


def replay_telegram(rows: list[dict[str, Any]], rasa_url: str, workdir: Path) -> dict[str, Any]:
    """Every row as one private chat's message through the Telegram adapter."""
    from channels.core import CoreClient, CoreSettings
    from channels.pull import PullSettings
    from channels.state import ChannelState
    from channels.telegram import texts as tg_texts
    from channels.telegram.adapter import TelegramAdapter, serve_polling
    from channels.telegram.verify import TelegramSettings
    from devtools.fake_telegram import serve

    counter = ErrorCounter()
    logging.getLogger("channels.telegram").addHandler(counter)
    with serve() as api:
        settings = TelegramSettings.from_env({"TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.url})
        state = ChannelState(f"sqlite:///{workdir / 'tg-channels.db'}")
        adapter = TelegramAdapter(settings, core=CoreClient(CoreSettings.from_env({"RASA_URL": rasa_url,
                                                                                   "CORE_TIMEOUT": "60"})),
                                  state=state, pull=PullSettings.load({}))
        loop = asyncio.new_event_loop()
        stop: dict[str, asyncio.Event] = {}

        def run() -> None:
            asyncio.set_event_loop(loop)

            async def main() -> None:
                stop["event"] = asyncio.Event()
                await serve_polling(adapter, stop["event"], poll_timeout=1)

            loop.run_until_complete(main())

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        latency: list[float] = []
        missing = apologies = 0
        try:
            time.sleep(1.0)
            for i, row in enumerate(rows):
                chat = 900_000 + i
                t0 = time.monotonic()
                api.push_text(chat, row["text"])
                deadline = t0 + 90
                while time.monotonic() < deadline and not api.messages_to(chat):
                    time.sleep(0.005)
                got = api.messages_to(chat)
                if not got:
                    missing += 1
                    continue
                latency.append(got[0]["at"] - t0)
            time.sleep(1.0)
            apologies = sum(1 for m in api.sent if m["text"] == tg_texts.UNAVAILABLE)
        finally:
            loop.call_soon_threadsafe(stop["event"].set)
            thread.join(timeout=30)
            state.dispose()
            logging.getLogger("channels.telegram").removeHandler(counter)
        replies = len({m["chat_id"] for m in api.sent})
        no_reply = sum(1 for m in api.sent if m["text"] == tg_texts.NO_REPLY)
    return {"messages": len(rows), "replies": replies, "sent": len(api.sent), "errors": missing + apologies +
            counter.count, "missing": missing, "apologies": apologies, "logged_errors": counter.count,
            "no_answer": no_reply, "latency": latency}


def replay_wechat(rows: list[dict[str, Any]], rasa_url: str, workdir: Path) -> dict[str, Any]:
    """Every row as one follower's text through the WeChat webhook of the real app server."""
    import os

    import requests
    from waitress import create_server

    from channels.state import ChannelState
    from channels.wechat import texts as wx_texts
    from channels.wechat.render import MAX_BYTES, nbytes
    from devtools.fake_wechat import encrypt, reply_text_xml, serve, signed_query, text_xml, wechat_env
    from devtools.supervisor import free_port
    from server.app import create_app

    counter = ErrorCounter()
    logging.getLogger("channels.wechat").addHandler(counter)
    with serve() as api:
        os.environ.update(wechat_env(api.url, WECHAT_CORE_TIMEOUT="60"))
        os.environ["RASA_URL"] = rasa_url
        state = ChannelState(f"sqlite:///{workdir / 'wechat-channels.db'}")
        app = create_app({"CHANNEL_STATE": state})
        port = free_port()
        server = create_server(app, host="127.0.0.1", port=port, threads=8)
        threading.Thread(target=server.run, daemon=True).start()
        url = f"http://127.0.0.1:{port}/channels/wechat/webhook"
        latency: list[float] = []
        passive = by_api = missing = non_200 = apologies = too_long = no_reply = 0
        try:
            with requests.Session() as session:
                session.trust_env = False
                for i, row in enumerate(rows):
                    openid = f"oBench{i:022d}"
                    query, body = encrypt(text_xml(openid, row["text"]), signed_query(openid=openid))
                    t0 = time.monotonic()
                    res = session.post(url, params=query, data=body.encode("utf-8"),
                                       headers={"Content-Type": "text/xml"}, timeout=30)
                    if res.status_code != 200:
                        non_200 += 1
                        continue
                    if res.text != "success":
                        latency.append(time.monotonic() - t0)
                        passive += 1
                        answers = [reply_text_xml(res.text)]
                    else:
                        got = api.wait_for_texts(openid, 1, timeout=90)
                        if not got:
                            missing += 1
                            continue
                        with api.lock:
                            first = next(m["at"] for m in api.messages if m["touser"] == openid)
                        latency.append(first - t0)
                        by_api += 1
                        answers = got
                    apologies += sum(a == wx_texts.text("unavailable") for a in answers)
                    no_reply += sum(a == wx_texts.text("no_reply") for a in answers)
                    too_long += sum(nbytes(a) > MAX_BYTES for a in answers)
            app.extensions["wechat_channel"].shutdown()
        finally:
            server.close()
            state.dispose()
            logging.getLogger("channels.wechat").removeHandler(counter)
    return {"messages": len(rows), "replies": passive + by_api, "passive": passive, "by_api": by_api,
            "errors": non_200 + missing + apologies + too_long + counter.count, "non_200": non_200,
            "missing": missing, "apologies": apologies, "too_long": too_long, "logged_errors": counter.count,
            "no_answer": no_reply, "api_messages": len(api.messages), "token_fetches": api.token_fetches,
            "latency": latency}


def ms(values: list[float], p: float) -> str:
    return f"{1000 * percentile(values, p):.0f}" if values else "–"


def main() -> None:
    """Run the replay and print (and with ``--write`` record) the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.channel_replay")
    parser.add_argument("--limit", type=int, default=300, help="messages per channel (0 = all 11,529)")
    parser.add_argument("--channels", nargs="+", default=["mail", "telegram"], choices=["mail", "telegram", "wechat"])
    parser.add_argument("--rasa-url", help="use a running core instead of starting one")
    parser.add_argument("--db-url", help="the running core's knowledge DB (to count unanswered-question records)")
    parser.add_argument("--write", action="store_true", help=f"write the section into {REPORT.name}")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not DATA.exists():
        print(f"skipped: {DATA} is absent (MSGABench data is read from ../shared/data only)")
        return
    rows = load_sample(args.limit)
    core = None
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        workdir = Path(tmp)
        if args.rasa_url:
            rasa_url, db_url = args.rasa_url, args.db_url
        else:
            from bench.channel_latency_twilio import start_core

            rasa_url, core = start_core(workdir)
            db_url = core.db_url
        results: dict[str, dict[str, Any]] = {}
        try:
            for channel in args.channels:
                before = unanswered_count(db_url)
                t0 = time.perf_counter()
                fn = {"mail": replay_mail, "telegram": replay_telegram, "wechat": replay_wechat}[channel]
                results[channel] = fn(rows, rasa_url, workdir)
                results[channel]["wall_s"] = time.perf_counter() - t0
                after = unanswered_count(db_url)
                results[channel]["unanswered"] = None if before is None or after is None else after - before
        finally:
            if core is not None:
                core.stop()
    classic = {c: r for c, r in results.items() if c != "wechat"}
    sections: list[tuple[str, list[str]]] = []
    if classic:
        sections.append((SECTION, classic_lines(classic, rows, args.limit)))
    if "wechat" in results:
        sections.append((WECHAT_SECTION, wechat_lines(results["wechat"], rows, args.limit)))
    for section, lines in sections:
        print("\n".join(lines))
        if args.write:
            write_section(section, lines)


def classic_lines(results: dict[str, dict[str, Any]], rows: list[dict[str, Any]], limit: int) -> list[str]:
    """The mailbox and Telegram section."""
    lines = [SECTION, "",
             f"Measured {machine_line()} by `python -m bench.channel_replay --limit {limit} --write` "
             "(CI model `bot/config_ci.yml`, SQLite, Dovecot + aiosmtpd for mail, the local fake Bot API for "
             "Telegram, everything on this machine, one message at a time). Sample: "
             f"{len(rows)} of the 11,529 messages of MSGABench `citizen_messages.jsonl` (seed 0), each from its own "
             "citizen. Full run: `python -m bench.channel_replay --limit 0 --write` "
             "(about an hour on this machine at the rates below).", "",
             "| channel | messages | replies | questions | errors | p50 ms | p95 ms | max ms | msgs/s | "
             "\"no answer\" texts | unanswered-question records |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for channel, r in results.items():
        if "skipped" in r:
            lines.append(f"| {channel} | skipped: {r['skipped']} | | | | | | | | | |")
            continue
        lat = r["latency"]
        lines.append(f"| {channel} | {r['messages']} | {r['replies']} | {r.get('questions', r['messages'])} | "
                     f"{r['errors']} | {ms(lat, 50)} | {ms(lat, 95)} | {ms(lat, 100)} | "
                     f"{r['messages'] / r['wall_s']:.1f} | {r['no_answer']} | "
                     f"{'–' if r['unanswered'] is None else r['unanswered']} |")
    if "mail" in results and "latency" in results["mail"]:
        m = results["mail"]
        lines += ["", f"Mail latency is per mail (IMAP fetch → every question to the core → SMTP → flagged); "
                      f"mean per question {m['per_question_ms']:.0f} ms; outcomes {m['outcomes']}."]
    if "telegram" in results and "latency" in results["telegram"]:
        t = results["telegram"]
        lines += [f"Telegram latency is update queued → first `sendMessage` at the fake API (includes the "
                  f"long-poll pick-up); {t['sent']} messages sent; errors = {t['missing']} without a reply + "
                  f"{t['apologies']} apologies + {t['logged_errors']} error-handler records."]
    return lines


def wechat_lines(r: dict[str, Any], rows: list[dict[str, Any]], limit: int) -> list[str]:
    """The WeChat section."""
    lat = r["latency"]
    return [WECHAT_SECTION, "",
            f"Measured {machine_line()} by `python -m bench.channel_replay --channels wechat --limit {limit} --write` "
            "(CI model `bot/config_ci.yml`, SQLite, the app server under waitress with 8 threads, safe mode: every "
            "callback signed and AES-encrypted with wechatpy's crypto, the local fake WeChat API for "
            "customer-service messages, everything on this machine, one message at a time). Sample: "
            f"{len(rows)} of the 11,529 messages of MSGABench `citizen_messages.jsonl` (seed 0), each from its own "
            "follower. Latency = POST → passive reply, or → the first customer-service message at the fake API "
            "when the core needed longer than the 4 s reply budget.", "",
            "| messages | replies | passive | customer-service | errors | p50 ms | p95 ms | max ms | msgs/s | "
            "\"no answer\" texts | unanswered-question records |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
            f"| {r['messages']} | {r['replies']} | {r['passive']} | {r['by_api']} | {r['errors']} | {ms(lat, 50)} | "
            f"{ms(lat, 95)} | {ms(lat, 100)} | {r['messages'] / r['wall_s']:.1f} | {r['no_answer']} | "
            f"{'–' if r['unanswered'] is None else r['unanswered']} |", "",
            f"errors = {r['non_200']} non-200 + {r['missing']} without a reply + {r['apologies']} apologies + "
            f"{r['too_long']} messages over 2,048 bytes + {r['logged_errors']} ERROR log records; "
            f"{r['api_messages']} customer-service messages sent, {r['token_fetches']} access-token fetch(es)."]


def write_section(section: str, lines: list[str]) -> None:
    """Replace ``section`` of the report in place (append it when new)."""
    old = REPORT.read_text(encoding="utf-8") if REPORT.exists() else "# Channel benchmarks\n"
    block = "\n".join(lines).rstrip() + "\n"
    if section in old:
        head, _, tail = old.partition(section)
        rest = tail.split("\n## ", 1)
        new = head + block + ("\n## " + rest[1] if len(rest) > 1 else "")
    else:
        new = old.rstrip() + "\n\n" + block
    REPORT.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
