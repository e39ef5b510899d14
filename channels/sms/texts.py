"""Channel-level SMS texts and keywords (dialogue wording lives in the Rasa domain).

Continuation rule: a cut reply ends with a hint. ``更多`` (also ``查看更多``, ``M``) always
fetches the next part; a bare ``1`` does so only when the last message offered no
numbered options (otherwise a digit always picks an option), and the hint says which
word to send.
"""

from __future__ import annotations

HOTLINE = "12345"

OPT_OUT_WORDS = frozenset({"退订", "TD", "STOP", "取消订阅", "UNSUBSCRIBE", "STOPALL", "CANCEL", "END", "QUIT"})
OPT_IN_WORDS = frozenset({"订阅", "START", "UNSTOP", "恢复订阅"})
HELP_WORDS = frozenset({"帮助", "HELP", "INFO", "?", "？"})
MORE_WORDS = frozenset({"更多", "查看更多", "M", "MORE"})

OPTED_OUT = "您已退订本号码的通知短信，今后不会再主动向您发送。回复“订阅”可恢复。"
OPTED_IN = "您已恢复订阅本号码的通知短信。回复“退订”可随时退订。"
HELP = ("市民服务助手：可查办事指南、预约到大厅办事、查办理进度、投诉建议。直接发送问题即可，"
        "例如“办护照要带什么”。回复“退订”停止通知。人工服务请拨打{hotline}。")
UNAVAILABLE = "抱歉，系统繁忙，请稍后再发一次，或拨打{hotline}。"
EMPTY_BODY = "请直接用文字发送您要咨询的事项，例如“结婚登记要带什么”。"
NO_MORE = "没有更多内容了。请直接发送您要咨询的事项。"
OPTIONS_FOOTER = "请回复序号选择"
OPTION_WORD = "或回复“{title}”"
OPTION_OUT_OF_RANGE = "请回复序号 {keys} 中的一个，或直接发送文字。"
MORE_HINT_DIGIT = "（回复 1 查看更多）"
MORE_HINT_WORD = "（回复“更多”查看更多）"
