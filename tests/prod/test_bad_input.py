"""Bad input everywhere: properties of normalisation, dates and validators; webhook parser fuzzing; 413s."""

from __future__ import annotations

import datetime as dt
import email.message
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actions.services.dates import parse_date, parse_time, parse_when
from common import pii
from common.identity import (
    id_check_digit,
    normalize_cn_mobile,
    normalize_cn_phone,
    validate_id_number,
)
from common.pii import mask_pii, mask_text
from common.textnorm import normalize, normalize_aligned

PROPERTY = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
CN = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 11, 30, 10, 0, tzinfo=CN)
# Text that looks like what citizens send: Chinese, digits (also full-width), dates, punctuation.
citizen_text = st.text(alphabet=st.one_of(
    st.sampled_from("今明后天下周一二三四五六日号月年点半上午下午十百零两的我想预约办护照 -/.:：，。"),
    st.characters(min_codepoint=0x30, max_codepoint=0x39), st.characters(min_codepoint=0xFF10, max_codepoint=0xFF19),
    st.characters()), max_size=60)


# -- normalisation ----------------------------------------------------------------------------
@PROPERTY
@given(st.text(max_size=200))
def test_normalize_never_raises_and_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip() and "  " not in once
    once.encode("utf-8")  # no lone surrogates survive


@PROPERTY
@given(st.text(max_size=200))
def test_normalize_aligned_keeps_the_length(text: str) -> None:
    assert len(normalize_aligned(text)) == len(text)


# -- dates --------------------------------------------------------------------------------------
@PROPERTY
@given(citizen_text)
def test_date_and_time_parsing_never_raise_and_stay_in_a_sane_range(text: str) -> None:
    day = parse_date(text, NOW)
    assert day is None or abs((day - NOW.date()).days) <= 3 * 366
    spec = parse_time(text)
    assert spec is None or spec is not None  # returns, never raises
    when = parse_when(text, NOW)
    assert when[0] is None or isinstance(when[0], dt.date)


@PROPERTY
@given(st.dates(min_value=dt.date(2026, 12, 1), max_value=dt.date(2027, 11, 1)),
       st.sampled_from(["{y}年{m}月{d}日", "{y}-{m:02d}-{d:02d}", "{y}/{m}/{d}", "{m}月{d}号"]))
def test_a_written_date_parses_to_itself(day: dt.date, pattern: str) -> None:
    text = pattern.format(y=day.year, m=day.month, d=day.day)
    assert parse_date(text, NOW) == day


# -- ID and phone validation --------------------------------------------------------------------
ids = st.builds(lambda area, birth, seq: f"{area}{birth:%Y%m%d}{seq:03d}",
                st.sampled_from(["110101", "440106", "310104", "510107"]),
                st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2008, 1, 1)), st.integers(0, 999))


@PROPERTY
@given(ids)
def test_a_valid_id_is_accepted_in_any_width_and_any_single_digit_change_rejected(first17: str) -> None:
    full = first17 + id_check_digit(first17)
    assert validate_id_number(full, dt.date(2026, 11, 30)) == full
    assert validate_id_number(unicodedata.normalize("NFKC", full).translate(
        {ord(c): ord(c) + 0xFEE0 for c in "0123456789"}), dt.date(2026, 11, 30)) == full
    wrong = "0" if full[-1] != "0" else "1"
    assert validate_id_number(full[:-1] + wrong, dt.date(2026, 11, 30)) is None


@PROPERTY
@given(st.text(max_size=40))
def test_phone_normalisation_never_raises_and_is_a_fixed_point(text: str) -> None:
    for fn in (normalize_cn_mobile, normalize_cn_phone):
        out = fn(text)
        assert out is None or (out.startswith("+86") and fn(out) == out)


def test_every_process_masks_with_the_one_rule_set() -> None:
    # The Rasa side (tracker store, JSON logs), the action server and the staff console used to
    # carry their own copies; they must keep using the single one in common/pii.py.
    import ast
    from pathlib import Path

    from common import jsonlog
    from console import inbox as staff_inbox

    assert mask_text is mask_pii is pii.mask_text
    assert jsonlog.mask_text is pii.mask_text and staff_inbox.mask_pii is pii.mask_text
    repo = Path(pii.__file__).resolve().parent.parent
    maskers = sorted(str(path.relative_to(repo)) for pkg in ("actions", "bot", "casework", "channels", "common", "console", "knowledge", "server")
                     for path in (repo / pkg).rglob("*.py")
                     for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                     if isinstance(node, ast.FunctionDef) and node.name in {"mask_text", "mask_pii", "mask_value"})
    assert maskers == ["common/pii.py", "common/pii.py"]  # mask_text and mask_value; mask_pii is an alias
    assert "from common.pii import" in (repo / "bot" / "tracker_store.py").read_text(encoding="utf-8")


@PROPERTY
@given(st.text(max_size=80), st.sampled_from(["13900001234", "44010619900101123X", "a.b@example.com", ""]))
def test_masking_leaves_none_of_the_personal_data_in_mixed_text(text: str, pii_value: str) -> None:
    sample = text + pii_value + text[::-1]
    masked = mask_text(sample)
    assert pii_value == "" or pii_value not in masked or pii_value in text + text[::-1]


# -- webhook parsers (fuzz) -----------------------------------------------------------------------
form_values = st.one_of(st.text(max_size=50), st.integers().map(str), st.just(""), st.none(),
                        st.sampled_from(["SM" + "a" * 32, "CA" + "0" * 32, "+8613900001234", "12#", "-1", "9" * 30]))
forms = st.dictionaries(st.sampled_from(["MessageSid", "SmsSid", "CallSid", "From", "To", "Body", "NumMedia",
                                         "Digits", "SpeechResult", "AccountSid"]), form_values, max_size=9)


@PROPERTY
@given(forms)
def test_twilio_parsers_return_a_message_or_none_and_never_raise(form: dict) -> None:
    from channels.sms.parse import classify, parse_webhook
    from channels.voice.parse import parse_call, parse_gather, parse_step

    sms = parse_webhook(form)
    if sms is not None:
        assert sms.message_sid and sms.number_hash and "+" not in sms.number_hash
        classify(sms.body)
    parse_call(form)
    gather = parse_gather(form)
    assert gather.digits == "" or gather.digits.isdigit() or set(gather.digits) <= set("0123456789*")
    parse_step(form.get("Digits"))


@PROPERTY
@given(st.binary(max_size=2000))
def test_the_mail_parser_survives_arbitrary_bytes(raw: bytes) -> None:
    from channels.mail.parse import parse_mail

    parse_mail(raw)


@PROPERTY
@given(st.text(max_size=200), st.text(max_size=60), st.sampled_from(["utf-8", "gbk", "gb2312", "big5", "x-unknown",
                                                                      "latin-1"]),
       st.sampled_from(["plain", "html"]))
def test_the_mail_parser_survives_odd_charsets_and_bodies(body: str, subject: str, charset: str, subtype: str) -> None:
    from channels.mail.parse import parse_mail

    msg = email.message.Message()
    msg["From"] = "citizen@example.com"
    msg["Subject"] = subject.replace("\n", " ").replace("\r", " ")
    msg["Message-ID"] = "<fuzz@example.com>"
    msg["Content-Type"] = f"text/{subtype}; charset={charset}"
    msg.set_payload(body.encode("utf-8", "surrogatepass"))
    parse_mail(msg.as_bytes())


# -- oversized bodies -----------------------------------------------------------------------------------
def test_every_post_route_of_the_app_server_refuses_an_oversized_body_with_413(tmp_path, monkeypatch) -> None:
    from server.app import create_app

    monkeypatch.setenv("CHANNELS_DB_URL", f"sqlite:///{tmp_path / 'ch.db'}")
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "test-token")  # so the SMS and voice webhooks are mounted
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://bot.example.gov.cn/")
    app = create_app({"TESTING": True, "KNOWLEDGE_DB_URL": f"sqlite:///{tmp_path / 'kb.db'}"})
    client = app.test_client()
    big = b"x" * (int(app.config["MAX_CONTENT_LENGTH"]) + 1)
    routes = [r for r in app.url_map.iter_rules() if r.methods and {"POST", "PUT", "PATCH"} & set(r.methods)
              and "<" not in r.rule]
    assert routes, "no POST routes found"
    for rule in routes:
        if rule.rule.startswith("/staff/") and "import" in rule.rule:
            continue  # the staff import accepts larger files; it has its own limit and test
        method = sorted({"POST", "PUT", "PATCH"} & set(rule.methods or ()))[0]
        res = client.open(rule.rule, method=method, data=big, content_type="application/octet-stream")
        assert res.status_code == 413, rule.rule
        assert res.get_json()["error"] == "too_large"
    covered = {r.rule for r in routes}
    assert {"/channels/sms/webhook", "/channels/voice/webhook", "/chat/api/message"} <= covered, covered
