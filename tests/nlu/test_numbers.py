"""Numbers and codes stay one token and one entity, whatever the jieba dictionary holds."""

from __future__ import annotations

import random

import pytest

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

SEED = 20261203
PER_KIND = 600
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"

# Sentence shapes citizens use; {n} is the number. Written for this test.
SHAPES = {
    "phone": ["{n}", "我的手机号是{n}", "电话{n}", "手机：{n}，谢谢", "打{n}找我", "号码是 {n} 麻烦尽快联系",
              "联系电话{n}。", "我叫李明，{n}", "{n}这个号码", "请回电{n}好吗", "留个电话{n}吧"],
    "id_number": ["{n}", "身份证号{n}", "我的身份证是{n}", "证件号码：{n}", "身份证{n}，帮我查下"],
    "application_no": ["{n}", "帮我查一下{n}这个件", "办件编号{n}进度怎么样", "申请号是{n}", "{n}办到哪一步了",
                       "受理号{n}，麻烦看下"],
    "booking_ref": ["{n}", "预约号{n}", "我的预约编号是{n}", "取消{n}这个预约", "{n}，帮我查下预约"],
}


def mobile(rng: random.Random) -> str:
    """A mainland mobile; one in three carries the hotline 12345 inside, as the dictionary word."""
    head = f"1{rng.choice('3456789')}{rng.randrange(10)}"
    if rng.random() < 0.34:
        body = list(f"{rng.randrange(10**8):08d}")
        at = rng.randrange(0, 4)
        body[at:at + 5] = list("12345")
        tail = "".join(body)
    else:
        tail = f"{rng.randrange(10**8):08d}"
    number = head + tail
    style = rng.random()
    if style < 0.15:
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    if style < 0.25:
        return f"{number[:3]}-{number[3:7]}-{number[7:]}"
    return number


def id_number(rng: random.Random) -> str:
    """An 18-character resident ID with a valid birth date and check character."""
    body = f"{rng.randrange(110000, 660000):06d}{rng.randrange(1930, 2021)}{rng.randrange(1, 13):02d}" \
           f"{rng.randrange(1, 29):02d}{rng.randrange(1000):03d}"
    check = ID_CHECK[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=False)) % 11]
    return body + (check.lower() if check == "X" and rng.random() < 0.3 else check)


def application_no(rng: random.Random) -> str:
    """A 12-digit application number (YYYYMMDD + 4) or a TS case number."""
    if rng.random() < 0.3:
        return f"{rng.choice(['TS', 'ts'])}{rng.randrange(10**10):010d}"
    return f"20{rng.randrange(20, 30)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}{rng.randrange(10**4):04d}"


def booking_ref(rng: random.Random) -> str:
    """A booking reference YY + 6 digits."""
    return f"{rng.choice(['YY', 'yy', 'Yy'])}{rng.randrange(10**6):06d}"


MAKERS = {"phone": mobile, "id_number": id_number, "application_no": application_no, "booking_ref": booking_ref}


def cases() -> list[tuple[str, str, int, str]]:
    """(kind, text, start, number) for every generated example."""
    rng = random.Random(SEED)
    out = []
    for kind, make in MAKERS.items():
        for _ in range(PER_KIND):
            number = make(rng)
            shape = rng.choice(SHAPES[kind])
            out.append((kind, shape.format(n=number), shape.index("{n}"), number))
    return out


def test_every_generated_number_is_extracted_whole_as_one_entity(nlu):
    examples = cases()
    results = nlu.parse([text for _, text, _, _ in examples])
    failures = []
    for (kind, text, start, number), result in zip(examples, results, strict=False):
        end = start + len(number)
        touching = [e for e in result["entities"] if e["start"] < end and start < e["end"]]
        ok = (len(touching) == 1 and touching[0]["entity"] == kind and touching[0]["start"] == start
              and touching[0]["end"] == end and str(touching[0]["value"]).lower() == number.lower())
        if not ok:
            failures.append((text, touching))
    assert len(examples) == PER_KIND * len(MAKERS)
    assert not failures, f"{len(failures)} of {len(examples)} numbers not extracted whole, e.g. {failures[:5]}"


def test_hotline_inside_a_mobile_number_is_not_a_separate_entity(nlu):
    result = nlu.one("我的手机号码是13912345678")
    assert [(e["entity"], e["value"]) for e in result["entities"]] == [("phone", "13912345678")]


def test_a_bare_tracking_number_is_a_status_lookup(nlu):
    """A citizen texting back only the number a reply notice gave: random digits, one intent."""
    rng = random.Random(SEED + 1)
    numbers = [f"TS26{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}{rng.randrange(10**8):08d}" for _ in range(40)]
    numbers += [f"TS{rng.randrange(10**10):010d}" for _ in range(20)]  # numbers issued before (TS + 10)
    numbers += [f"2026{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}{rng.randrange(10**4):04d}" for _ in range(20)]
    texts = [n if i % 3 else f" {n.lower() if n.startswith('TS') else n}。" for i, n in enumerate(numbers)]
    wrong = [(t, r["intent"]["name"]) for t, r in zip(texts, nlu.parse(texts), strict=True)
             if r["intent"]["name"] != "check_application_status"]
    assert not wrong, wrong
    said = nlu.one("我的投诉TS26120412345678处理得怎么样了")  # with words around it: the classifier decides
    assert said["intent"]["name"] == "check_application_status"
