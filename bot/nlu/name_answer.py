"""Recognise an answer that is only a person's name ("周敏", "我叫张测试", "欧阳明月。").

The booking form asks for the name and the citizen answers with it; a classifier may read a
two-character answer as anything (金静 → a guide question, 周敏 → a date) and jieba may cut it (张|
测试). This extractor tags the whole answer as one ``name_answer`` entity when the message is a
common surname (single or compound) followed by one or two CJK characters, optionally after
"我叫 / 我是 / 姓名：" and before a full stop. The domain maps ``name_answer`` to the name slot
only while the form asks for the name, so "周三" given as a day is not taken as a name.
"""

from __future__ import annotations

import re

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.base import MessageRewriter

ENTITY = "name_answer"
# Common Chinese surnames (single characters, then compound ones); written for this project.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金"
    "石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章"
    "鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟"
    "艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄"
    "丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伏仝区郜揭卿年春秋冬晨岁"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "长孙", "宇文",
                     "司徒", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门", "百里")
_PREFIX = r"(?:我叫|我系|我是|本人|名字|姓名|叫)?[:：]?\s*"
_QUESTION = r"[吗呢么啥办查要哪几怎]"
_NAME_RE = re.compile(
    r"^\s*" + _PREFIX + r"(?P<name>(?:" + "|".join(COMPOUND_SURNAMES) + r"|[" + SURNAMES + r"])"
    r"(?!\S*" + _QUESTION + r")[\u4e00-\u9fff]{1,2})\s*[。.!！~～]?\s*$"
)


def name_answer_span(text: str) -> tuple[int, int] | None:
    """(start, end) of the name when the whole message is a name, else None."""
    match = _NAME_RE.match(text or "")
    return match.span("name") if match else None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class NameAnswerExtractor(MessageRewriter):
    """Adds a ``name_answer`` entity when the whole message is a person's name."""

    def rewrite(self, message: Message) -> None:
        """Add the ``name_answer`` entity when the whole message is a name."""
        text = message.get(TEXT) or ""
        span = name_answer_span(text)
        if span is None:
            return
        start, end = span
        entity = {"entity": ENTITY, "start": start, "end": end, "value": text[start:end],
                  "confidence_entity": 1.0, "extractor": type(self).__name__}
        message.set(ENTITIES, [*(message.get(ENTITIES) or []), entity], add_to_output=True)
