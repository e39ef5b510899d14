"""Blank the salutation in front of a request, so the request decides the intent.

"你好在吗，想问下公积金点样提取出来" and "尊敬的领导您好：我是……" open with a greeting that
carries no meaning once a request follows; the classifier sees the greeting and answers with the
greeting menu. This component runs after the normaliser, on training data and at inference, and
overwrites a leading run of salutations with spaces when a request of at least
``min_remainder`` characters follows. The text keeps its length, so entity offsets stay valid; a
bare greeting ("你好", "在吗？") is left alone and stays a greeting.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.base import TrainingDataRewriter

# Openers citizens put before a request (normalised text: Simplified, lower-case ASCII).
_NOUN = r"(?:领导|同志|工作人员|客服|小助手|助手|书记|市长|区长|局长|老师|师傅|机器人|小姐姐|靓仔|靓女)"
_HELLO = r"(?:你好|您好|你们好|您们好|大家好|早上好|上午好|中午好|下午好|晚上好|早晨|哈喽|嗨|hello|hi|喂)"
_OPENER = (
    r"(?:"
    r"(?:尊敬的|亲爱的|各位)+" + _NOUN + r"?们?(?:" + _HELLO + r"|好)?"  # 尊敬的领导您好 / 各位领导
    r"|" + _NOUN + r"们?(?:" + _HELLO + r"|好)"  # 领导好 / 同志你好
    r"|" + _NOUN + r"(?=[,，:：!！])"  # 领导：……
    r"|" + _HELLO + _NOUN + r"?"  # 你好 / 您好领导
    r"|在吗|在么|在嘛|在不在|有人吗|有人在吗|有没有人在|打扰了|打扰一下|冒昧打扰"
    r")"
)
_SEP = r"[\s,，。.!！~～、:：;；…]*"
_LEADING_RE = re.compile(r"^" + _SEP + r"(?:" + _OPENER + _SEP + r")+")
_CONTENT_RE = re.compile(r"[\u3400-\u9fff0-9a-z]")


def salutation_end(text: str, min_remainder: int = 2) -> int:
    """Where the leading salutations end, or 0 when none or when too little request follows."""
    match = _LEADING_RE.match(text or "")
    if not match or match.end() == 0:
        return 0
    rest = text[match.end():]
    if len(_CONTENT_RE.findall(rest)) < min_remainder:
        return 0
    return match.end()


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class SalutationBlanker(TrainingDataRewriter):
    """Overwrites a salutation that precedes a request with spaces (same length)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"min_remainder": 2}

    def rewrite(self, message: Message) -> None:
        """Blank the salutation in front of a request (same length, so spans stay aligned)."""
        text = message.get(TEXT)
        if not isinstance(text, str):
            return
        end = salutation_end(text, int(self.config["min_remainder"]))
        if end:
            message.set(TEXT, " " * end + text[end:])

