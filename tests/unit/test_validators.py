"""Phone and ID validation, masking and sender hashing (common.identity).

Every ID number here is generated with a valid check digit from an obviously fake pattern
(area 110101, born 1990-01-01, sequence 000–009) and every mobile has 0000 as its middle
four digits. Hypothesis keeps no example database, so generated numbers are never stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.identity import (
    SENDER_HASH_SALT_ENV,
    _install_salt,
    hash_sender,
    id_check_digit,
    last4,
    matches_last4,
    normalize_cn_mobile,
    normalize_cn_phone,
    sender_hash_salt,
    validate_id_number,
)
from common.pii import mask_pii

TODAY = dt.date(2026, 11, 25)
PROVINCES = ["11", "15", "21", "23", "31", "37", "41", "46", "50", "54", "61", "65", "71", "81", "82", "83", "91"]
FULL_WIDTH = str.maketrans("0123456789Xx+-", "０１２３４５６７８９Ｘｘ＋－")
PROPERTY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def make_id(seq: int = 1, area: str = "110101", birth: str = "19900101") -> str:
    """A fake ID number with a correct check digit."""
    first17 = f"{area}{birth}{seq:03d}"
    return first17 + id_check_digit(first17)


def full_width(text: str) -> str:
    return text.translate(FULL_WIDTH)


def fold_digits(text: str) -> str:
    """Any Unicode decimal digit (full-width included) → ASCII, so detection sees them all."""
    return "".join(str(unicodedata.decimal(ch)) if unicodedata.decimal(ch, None) is not None else ch for ch in text)


def mobiles_in(text: str) -> list[str]:
    folded = fold_digits(text)
    return [folded[i : i + 11] for i in range(len(folded) - 10) if re.fullmatch(r"1[3-9]\d{9}", folded[i : i + 11])]


def ids_in(text: str) -> list[str]:
    folded = fold_digits(text)
    windows = (folded[i : i + 18] for i in range(len(folded) - 17))
    return [window for window in windows if validate_id_number(window, today=TODAY)]


ID_WITH_X = next(make_id(seq) for seq in range(10) if make_id(seq).endswith("X"))


# --- ID numbers -----------------------------------------------------------------------------


def test_check_digit_of_the_fake_pattern() -> None:
    assert [id_check_digit(f"11010119900101{seq:03d}") for seq in range(10)] == list("7531X86420")


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
@settings(database=None)
def test_check_digit_satisfies_iso_7064_mod_11_2(first17: str) -> None:
    check = id_check_digit(first17)
    values = [int(ch) for ch in first17] + [10 if check == "X" else int(check)]
    # The defining property: sum of a_i * 2^(18-i) over all 18 positions is 1 (mod 11).
    assert sum(value * 2 ** (17 - i) for i, value in enumerate(values)) % 11 == 1


@pytest.mark.parametrize(
    "first17", ["", "1101011990010100", "110101199001010011", "11010119900101OO1", "１１０１０１１９９００１０１００１"]
)
def test_check_digit_needs_17_ascii_digits(first17: str) -> None:
    with pytest.raises(ValueError):
        id_check_digit(first17)


@pytest.mark.parametrize("seq", range(10))
def test_generated_ids_are_valid(seq: int) -> None:
    assert validate_id_number(make_id(seq), today=TODAY) == make_id(seq)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ID_WITH_X.lower(), ID_WITH_X),
        (f"  {ID_WITH_X}\n", ID_WITH_X),
        (full_width(ID_WITH_X.lower()), ID_WITH_X),
        (f"{ID_WITH_X[:6]} {ID_WITH_X[6:14]} {ID_WITH_X[14:]}", ID_WITH_X),
    ],
)
def test_id_numbers_are_normalised(text: str, expected: str) -> None:
    assert validate_id_number(text, today=TODAY) == expected


def wrong_check(id_number: str) -> str:
    return id_number[:17] + ("0" if id_number[17] != "0" else "1")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "身份证",
        make_id()[:17],  # too short
        make_id() + "0",  # too long
        wrong_check(make_id()),
        wrong_check(ID_WITH_X),
        make_id()[:10] + "O" + make_id()[11:],  # letter inside
        make_id(area="000101"),  # no such province
        make_id(area="100101"),
        make_id(area="990101"),
        make_id(area="160101"),
        make_id(birth="19900230"),  # no such day
        make_id(birth="19901301"),
        make_id(birth="18991231"),  # before 1900
        make_id(birth="20261126"),  # after TODAY
        f"{make_id()}-{make_id(2)}",
    ],
)
def test_invalid_id_numbers_are_rejected(text: str) -> None:
    assert validate_id_number(text, today=TODAY) is None


def test_birth_date_may_be_today_but_not_tomorrow() -> None:
    assert validate_id_number(make_id(birth="20261125"), today=TODAY) is not None
    assert validate_id_number(make_id(birth="20261126"), today=TODAY) is None


fake_ids = st.builds(
    lambda province, birth, seq: make_id(seq, area=f"{province}0101", birth=birth.strftime("%Y%m%d")),
    st.sampled_from(PROVINCES),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY),
    st.integers(0, 9),
)


@PROPERTY
@given(fake_ids)
def test_generated_id_round_trips_and_any_other_check_char_fails(id_number: str) -> None:
    assert validate_id_number(id_number, today=TODAY) == id_number
    assert id_check_digit(id_number[:17]) == id_number[17]
    for other in "0123456789X".replace(id_number[17], ""):
        assert validate_id_number(id_number[:17] + other, today=TODAY) is None


@PROPERTY
@given(st.text(max_size=40))
def test_validate_id_number_never_raises(text: str) -> None:
    result = validate_id_number(text)
    assert result is None or len(result) == 18


# --- phone numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13900001234", "+8613900001234"),
        ("+86 139 0000 1234", "+8613900001234"),
        ("139-0000-1234", "+8613900001234"),
        ("0086 139 0000 1234", "+8613900001234"),
        ("１３９００００１２３４", "+8613900001234"),
        ("＋８６ １３９００００１２３４", "+8613900001234"),
        ("186 0000 5678", "+8618600005678"),
        ("19900004321", "+8619900004321"),
        ("我的电话是13900001234", "+8613900001234"),
    ],
)
def test_mainland_mobiles_are_normalised_to_e164(text: str, expected: str) -> None:
    assert normalize_cn_mobile(text) == expected
    assert normalize_cn_phone(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "电话",
        "1390000123",  # 10 digits
        "139000012345",  # 12 digits
        "12000001234",  # no such mobile prefix
        "020-12345678",  # fixed line
        "+852 6000 1234",  # Hong Kong
        "+1 650 000 1234",
        "400-000-1234",  # service number
        "95588",
        "13900001234 13900005678",
        "x" * 1000,
    ],
)
def test_non_mobiles_are_rejected(text: str) -> None:
    assert normalize_cn_mobile(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("020-12345678", "+862012345678"),
        ("(020) 8000 1234", "+862080001234"),
        ("0755-0000-1234", "+8675500001234"),
        ("+86 10 0000 1234", "+861000001234"),
    ],
)
def test_fixed_lines_are_phones_but_not_mobiles(text: str, expected: str) -> None:
    assert normalize_cn_phone(text) == expected
    assert normalize_cn_mobile(text) is None


@pytest.mark.parametrize("text", ["", "400-000-1234", "+852 6000 1234", "12345", "０２０"])
def test_non_phones_are_rejected(text: str) -> None:
    assert normalize_cn_phone(text) is None


@PROPERTY
@given(st.one_of(st.text(), st.from_regex(r"[+＋(（]?[0-9０-９ ()-]{0,25}", fullmatch=True)))
def test_phone_normalisers_never_raise(text: str) -> None:
    for result in (normalize_cn_mobile(text), normalize_cn_phone(text)):
        assert result is None or result.startswith("+86")


# --- last four ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(ID_WITH_X.lower(), ID_WITH_X[-4:]), ("13900001234", "1234"), (" abc ", "ABC"), ("", "")],
)
def test_last4(value: str, expected: str) -> None:
    assert last4(value) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (ID_WITH_X[-4:], True),
        (ID_WITH_X[-4:].lower(), True),
        (full_width(ID_WITH_X[-4:]), True),
        (f" {ID_WITH_X[-4:]} ", True),
        (ID_WITH_X[-5:], False),
        (ID_WITH_X[-3:], False),
        (ID_WITH_X[-4:-1] + "0", False),
        ("", False),
        ("末四位数", False),
    ],
)
def test_matches_last4(given: str, expected: bool) -> None:
    assert matches_last4(given, ID_WITH_X) is expected


def test_matches_last4_needs_a_full_value_of_four_characters() -> None:
    assert matches_last4("123", "123") is False


# --- masking --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"身份证{make_id(1)}", "身份证110**************5"),
        (f"身份证号{ID_WITH_X.lower()}。", f"身份证号110**************{ID_WITH_X[-1].lower()}。"),
        (f"{make_id(1)[:6]} {make_id(1)[6:14]} {make_id(1)[14:]}", "110*** ******** ***5"),
        ("我的手机13900001234谢谢", "我的手机139****1234谢谢"),
        ("电话：139-0000-1234", "电话：139-****-1234"),
        ("电话139 0000 1234，", "电话139 **** 1234，"),
        ("+8613900001234", "+86139****1234"),
        ("0086 13900001234", "0086 139****1234"),
        ("１３９００００１２３４", "１３９****１２３４"),
        ("请发到abc.def@example.com谢谢", "请发到a***@example.com谢谢"),
        ("13900001234@qq.com", "1***@qq.com"),
        ("卡号6222000000001234567", "卡号622************4567"),
        ("座机02080001234", "座机020****1234"),
        ("申请号202611250001，预约2026-11-25 09:30", "申请号202611250001，预约2026-11-25 09:30"),
        ("申请号209913450001", "申请号209*****0001"),  # not a date, so not an application number
        ("2026年11月25日上午，20261125", "2026年11月25日上午，20261125"),
        ("办护照要多少钱？120元", "办护照要多少钱？120元"),
        ("", ""),
    ],
)
def test_mask_pii(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


fake_mobiles = st.builds(
    lambda second, third, last: f"1{second}{third}0000{last:04d}",
    st.sampled_from("3456789"),
    st.sampled_from("0123456789"),
    st.integers(0, 9999),
)
separators = st.sampled_from(["", " ", "-", "，", "：", "号", "a", "@", ".", "+86", "0086", "\n"])
fragments = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="0123456789", max_size=14),
    st.sampled_from(["身份证", "手机", "我的电话是", "申请号", "谢谢", "2026-11-25", "202611250001", "x@example.com"]),
    fake_ids,
    fake_ids.map(str.lower),
    fake_mobiles,
    fake_mobiles.map(lambda m: f"{m[:3]}-{m[3:7]}-{m[7:]}"),
    fake_mobiles.map(lambda m: f"{m}@qq.com"),
    separators,
)
pii_texts = st.builds(
    lambda parts, wide: full_width("".join(parts)) if wide else "".join(parts),
    st.lists(fragments, max_size=10),
    st.booleans(),
)


@PROPERTY
@given(pii_texts)
def test_mask_pii_leaves_no_id_or_mobile_number(text: str) -> None:
    masked = mask_pii(text)
    assert mobiles_in(masked) == []
    assert ids_in(masked) == []


@PROPERTY
@given(st.text())
def test_mask_pii_never_raises_and_keeps_text_without_digits_or_at(text: str) -> None:
    masked = mask_pii(text)
    assert mobiles_in(masked) == []
    if not any(unicodedata.decimal(ch, None) is not None or ch in "@＠" for ch in text):
        assert masked == text


@PROPERTY
@given(fake_mobiles, fake_ids, st.sampled_from(["我的手机", "号码", "：", " "]))
def test_mask_pii_keeps_the_prefix_and_suffix_staff_need(mobile: str, id_number: str, glue: str) -> None:
    masked = mask_pii(f"{glue}{mobile}{glue}{id_number}")
    assert masked == f"{glue}{mobile[:3]}****{mobile[-4:]}{glue}{id_number[:3]}{'*' * 14}{id_number[-1]}"


# --- sender hashing -------------------------------------------------------------------------


def test_hash_sender_is_short_stable_hex(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SENDER_HASH_SALT_ENV, raising=False)
    hashed = hash_sender("telegram:42")
    assert re.fullmatch(r"[0-9a-f]{16}", hashed)
    assert hash_sender("telegram:42") == hashed
    assert hash_sender("telegram:43") != hashed
    salt = sender_hash_salt()
    assert hashed == hmac.new(salt.encode(), b"telegram:42", hashlib.sha256).hexdigest()[:16]


@pytest.mark.parametrize("env_salt", [None, ""])
def test_hash_sender_defaults_to_a_per_install_salt_never_the_public_one(
        monkeypatch: pytest.MonkeyPatch, env_salt: str | None) -> None:
    if env_salt is None:
        monkeypatch.delenv(SENDER_HASH_SALT_ENV, raising=False)
    else:
        monkeypatch.setenv(SENDER_HASH_SALT_ENV, env_salt)
    salt = sender_hash_salt()
    assert len(salt) >= 32 and salt != "citizen-bot"
    assert hash_sender("sms:+8613900001234") == hash_sender("sms:+8613900001234", salt=salt)
    assert hash_sender("sms:+8613900001234") != hash_sender("sms:+8613900001234", salt="citizen-bot")


def test_hash_sender_uses_the_environment_salt_unless_one_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SENDER_HASH_SALT_ENV, raising=False)
    default = hash_sender("telegram:42")
    monkeypatch.setenv(SENDER_HASH_SALT_ENV, "deployment-salt")
    assert hash_sender("telegram:42") != default
    assert hash_sender("telegram:42") == hash_sender("telegram:42", salt="deployment-salt")
    assert hash_sender("telegram:42", salt=_install_salt()) == default


def test_hash_sender_accepts_any_text() -> None:
    assert len(hash_sender("\ud800 微信 " * 50, salt="s")) == 16
