"""SMS length arithmetic: GSM-7 / UCS-2 choice, the 70/67 and 160/153 boundaries, emoji as two units."""

from __future__ import annotations

import pytest

from channels.sms import segments


@pytest.mark.parametrize(("text", "expected"), [
    ("", 0),
    ("办" * 70, 1),
    ("办" * 71, 2),
    ("办" * 134, 2),
    ("办" * 135, 3),
    ("办" * 201, 3),
    ("办" * 202, 4),
    ("a" * 160, 1),
    ("a" * 161, 2),
    ("a" * 306, 2),
    ("a" * 307, 3),
])
def test_parts_at_the_single_and_concatenated_boundaries(text, expected):
    assert segments.parts(text) == expected


def test_one_chinese_character_makes_the_whole_message_ucs2():
    text = "a" * 69 + "办"
    assert segments.encoding(text) == "UCS-2"
    assert segments.parts(text) == 1
    assert segments.parts(text + "a") == 2  # 71 UCS-2 units, although only 71 characters


def test_emoji_count_as_two_units_and_are_not_split_across_parts():
    assert segments.units("😀") == 2
    assert segments.parts("办" * 68 + "😀") == 1   # 70 units exactly
    assert segments.parts("办" * 69 + "😀") == 2   # 71 units
    # 66 units + an emoji: the emoji does not fit the first 67-unit part, so it starts the second.
    text = "办" * 66 + "😀" + "办" * 66
    assert segments.units(text) == 134
    assert segments.parts(text) == 3


def test_gsm_extension_characters_take_two_septets():
    assert segments.encoding("price [EUR] {x}") == "GSM-7"
    assert segments.units("[]") == 4
    assert segments.parts("a" * 158 + "€") == 1
    assert segments.parts("a" * 159 + "€") == 2
