"""End to end through the running core: leaving a question for a department, and a case's answer
shown in the status lookup and rated (Rasa's REST channel, the action server, the database)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.test_core_smoke import rest, texts

pytestmark = [pytest.mark.rasa, pytest.mark.slow]


def desk_on(db_url: str) -> Any:
    from casework.cases import CaseDesk
    from knowledge.db import get_engine, session_factory

    return CaseDesk(session_factory(get_engine(db_url)))


def test_a_question_without_an_answer_is_left_for_a_department(live_core):
    sender = "e2e-leave-message"
    offer = texts(rest(live_core, sender, "我家的猫走丢了三天，哪个部门能帮忙找"))
    assert "留言给相关部门" in offer, offer
    asked = texts(rest(live_core, sender, "2"))  # 1 转人工, 2 留言给相关部门, 3 不用了
    assert "联系电话" in asked, asked
    left = texts(rest(live_core, sender, "13900002468"))
    number = re.search(r"受理编号：(TS\d{10,14})", left)
    assert number, left
    case = desk_on(live_core.db_url).get(number.group(1))
    assert case.channel == "webchat" and case.phone_last4 == "2468" and "猫" in case.description


def test_the_answer_is_shown_after_the_identity_check_and_dissatisfied_reopens(live_core):
    desk = desk_on(live_core.db_url)
    case = desk.open_case(description="小区门口路灯坏了一个月", location="天河区", kind="complaint", channel="sms",
                          contact_phone="+8613900001357")
    desk.assign(case.number, "urban_construction", actor="dispatcher")
    desk.reply(case.number, "路灯已更换灯泡并恢复照明，感谢您的反映。", actor="handler")
    sender = "e2e-case-lookup"
    rest(live_core, sender, "查询办理进度")
    rest(live_core, sender, case.number)
    shown = texts(rest(live_core, sender, "1357"))
    assert "城乡建设" in shown and "路灯已更换灯泡" in shown and "满意吗" in shown, shown
    reopened = texts(rest(live_core, sender, "不满意"))
    assert "重新交由城乡建设办理" in reopened, reopened
    assert desk.get(case.number).status == "reopened"
