"""Channel preview: SMS segments and the cut, spoken text (by the channels' own renderers), links;
and the console's module boundary."""

from __future__ import annotations

import ast

from channels.preview import render_previews
from channels.sms import segments, texts
from console.web.preview import link_segments
from tests.conftest import REPO
from tests.staff.conftest import as_user, post


def sms_preview(text: str):
    return render_previews(text, max_parts=3).sms


def spoken_sentences(text: str) -> list[str]:
    return render_previews(text, max_parts=3).spoken


def test_chinese_up_to_70_characters_is_one_ucs2_message():
    p = sms_preview("办" * 70)
    assert (p.encoding, p.units, p.segments, p.per_part) == ("UCS-2", 70, 1, 70) and not p.over_budget


def test_71_chinese_characters_need_two_parts_of_67():
    p = sms_preview("办" * 71)
    assert (p.segments, p.per_part) == (2, 67) and [len(x) for x in p.parts] == [67, 4]


def test_three_part_budget_shows_the_first_reply_as_the_sms_channel_cuts_it():
    # The first reply keeps room for the "更多" hint, so fewer than 201 characters of the answer
    # reach the citizen at once; the rest waits for "更多".
    text = "甲" * 201 + "乙" * 10
    p = sms_preview(text)
    assert p.segments == 4 and p.over_budget
    first = "".join(p.parts)
    assert segments.parts(first) <= 3 and first.endswith(texts.MORE_HINT_DIGIT)
    assert first.removesuffix(texts.MORE_HINT_DIGIT) + p.cut_text == text


def test_ascii_text_is_gsm7_and_emoji_takes_two_units():
    assert sms_preview("a" * 160).segments == 1 and sms_preview("a" * 161).per_part == 153
    assert sms_preview("a{").units == 3  # extension character
    p = sms_preview("好😀")
    assert p.encoding == "UCS-2" and p.units == 3


def test_voice_drops_links_and_emoji_and_keeps_sentences_short():
    text = ("请携带身份证到大厅办理😀。详情见 https://www.gdzwfw.gov.cn/abc 。办理时限为七个工作日，"
            "如需加急可以在提交申请时说明原因，窗口工作人员会根据实际情况安排，请您耐心等候通知，谢谢配合")
    spoken = spoken_sentences(text)
    joined = "".join(spoken)
    assert "http" not in joined and "😀" not in joined and "gdzwfw" not in joined
    assert all(len(s) <= 41 for s in spoken) and len(spoken) >= 3
    assert spoken[0].startswith("请携带身份证")


def test_links_are_split_out_for_the_web_chat():
    assert link_segments("见 https://a.cn/x 办理") == [("见 ", False), ("https://a.cn/x", True), (" 办理", False)]


def test_preview_page_shows_every_channel(client, staff):
    faq = staff.knowledge.list_faqs(service_id="passport", status="published")[0]
    as_user(client, "editor")
    page = client.get(f"/staff/faqs/{faq.id}/preview").get_data(as_text=True)
    for part in ("preview-sms", "preview-voice", "preview-mail", "preview-webchat", "UCS-2"):
        assert part in page


def test_preview_of_unsaved_text_marks_what_sms_would_cut(client, staff):
    as_user(client, "editor")
    page = post(client, "/staff/faqs/preview", {"question": "问", "answer": "长" * 210}).get_data(as_text=True)
    assert "会被截掉" in page and "需 <strong>4</strong> 条短信" in page
    assert texts.MORE_HINT_DIGIT in page  # the first reply as the SMS channel sends it


def imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_preview_module_never_imports_channels():
    names = imported_modules(REPO / "console" / "web" / "preview.py")
    assert not any(n == "channels" or n.startswith("channels.") for n in names)
    assert not any(n.startswith("console.web") or n == "flask" for n in names)
