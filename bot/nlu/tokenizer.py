"""Jieba tokenisation that never cuts a number or a code.

jieba splits digit runs along its dictionary: with ``12345`` (the hotline) in the user dictionary,
``13912345678`` becomes ``139 | 12345 | 678`` and a learned extractor tags the pieces. This
tokenizer first finds the protected spans — phone numbers (also written in groups), 18-character
ID numbers (check character X), TS case numbers, YY booking references and any other run of
digits — keeps each as one token, and lets jieba cut only the text between them. Whitespace is
never a token. The span pattern lives in :func:`protected_spans` so tests can check it alone.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message

# Longest forms first; every alternative is bounded so it cannot start or end inside a number.
_PROTECTED_RE = re.compile(
    r"(?<![0-9A-Za-z])(?:"
    r"(?:\+?86[ -]?)?1[3-9][0-9](?:[ -][0-9]{4}[ -][0-9]{4}|[0-9]{8})(?![0-9])"  # mobile, grouped or not
    r"|[0-9]{17}[0-9Xx](?![0-9A-Za-z])"  # resident ID
    r"|[Tt][Ss][0-9]+"  # 12345 case number
    r"|[Yy][Yy][0-9]+"  # booking reference
    r")"
    r"|[0-9]+"  # any other digit run (application numbers, years, counts …)
)


def protected_spans(text: str) -> List[Tuple[int, int]]:
    """(start, end) of every number or code in ``text`` that must stay one token."""
    return [m.span() for m in _PROTECTED_RE.finditer(text or "")]


def _jieba_tokens(segment: str, offset: int) -> List[Token]:
    import jieba

    return [Token(word, offset + start) for word, start, _ in jieba.tokenize(segment) if word.strip()]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=True)
class NumberSafeJiebaTokenizer(JiebaTokenizer):
    """``JiebaTokenizer`` (same options, same dictionary handling) with numbers kept whole."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return JiebaTokenizer.get_default_config()

    @staticmethod
    def supported_languages() -> Optional[List[Text]]:
        return ["zh"]

    def tokenize(self, message: Message, attribute: Text) -> List[Token]:
        text = message.get(attribute) or ""
        tokens: List[Token] = []
        cursor = 0
        for start, end in protected_spans(text):
            if start > cursor:
                tokens.extend(_jieba_tokens(text[cursor:start], cursor))
            tokens.append(Token(text[start:end], start))
            cursor = end
        if cursor < len(text):
            tokens.extend(_jieba_tokens(text[cursor:], cursor))
        return self._apply_token_pattern(tokens)
