"""Segmentation for search: jieba with the government-term dictionary, synonyms, stopwords.

The jieba user dictionary in ``nlu_data/jieba_dict/`` is shared with Rasa's
JiebaTokenizer so the bot and the search cut words the same way.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from common.textnorm import normalize
from knowledge.settings import LEXICON_DIR, KnowledgeSettings

log = logging.getLogger(__name__)

_CJK_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_WORD_RE = re.compile(r"[\w\u3400-\u4dbf\u4e00-\u9fff]")
_NAME_PARTS_RE = re.compile(r"[（）()、，,；;/\s]+")
_CJK_TERM = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]{2,12}")
BIGRAM_PREFIX = "#"


def _load_stopwords(path: Path) -> frozenset[str]:
    if not path.exists():
        return frozenset()
    words = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(w for w in words if w)


def load_synonyms(path: Path) -> dict[str, list[str]]:
    """Colloquial term → canonical terms, normalised; missing file → empty."""
    if not path.exists():
        log.warning("synonyms file %s not found; search runs without query expansion", path)
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, list[str]] = {}
    for key, values in (data.get("synonyms") or {}).items():
        if isinstance(values, str):
            values = [values]
        k = normalize(str(key))
        if k:
            out[k] = [normalize(str(v)) for v in values or [] if normalize(str(v))]
    return out


def speech_terms(service_names: Iterable[str], synonyms: Mapping[str, list[str]]) -> list[str]:
    """The words callers use for the services, for the hotline's speech recognition hints.

    Every service name first, cut at brackets and enumeration marks into the words a caller
    says ("企业设立登记（营业执照）" → 企业设立登记, 营业执照), then the colloquial terms of
    the synonym lexicon (扯证, 出世纸 …); only Chinese words of 2–12 characters, each once, in order.
    """
    terms = [part for name in service_names for part in _NAME_PARTS_RE.split(name or "")]
    terms += list(synonyms)
    terms = [t for t in terms if _CJK_TERM.fullmatch(t)]
    return list(dict.fromkeys(terms))


@dataclass
class Lexicon:
    """A jieba tokenizer with the user dictionary, plus synonyms and stopwords.

    Thread-safe after :meth:`load`; jieba's own dictionary loads on first use (~1 s).
    """

    dict_dir: Path
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    stopwords: frozenset[str] = frozenset()
    _tokenizer: object | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _syn_keys: list[str] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: KnowledgeSettings) -> Lexicon:
        """Build the lexicon from the configured files."""
        lex = cls(
            dict_dir=settings.jieba_dict_dir,
            synonyms=load_synonyms(settings.synonyms_path),
            stopwords=_load_stopwords(LEXICON_DIR / "stopwords.txt"),
        )
        lex._syn_keys = sorted(lex.synonyms, key=len, reverse=True)
        return lex

    @property
    def tokenizer(self) -> Any:
        """The jieba Tokenizer with every ``*.txt`` user dictionary loaded (built once)."""
        with self._lock:
            if self._tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tk = jieba.Tokenizer()
                tk.initialize()
                for path in sorted(self.dict_dir.glob("*.txt")) if self.dict_dir.is_dir() else []:
                    tk.load_userdict(str(path))
                for term in {t for values in self.synonyms.values() for t in values} | set(self.synonyms):
                    if len(term) > 1 and " " not in term:
                        tk.add_word(term, freq=None)
                self._tokenizer = tk
            return self._tokenizer

    def words(self, text: str) -> list[str]:
        """Content words of normalised ``text`` (search-mode segmentation, stopwords dropped)."""
        out = []
        for w in self.tokenizer.lcut_for_search(text):
            w = w.strip()
            if w and w not in self.stopwords and _WORD_RE.search(w):
                out.append(w)
        return out

    def tokens(self, text: str) -> list[str]:
        """Index tokens: content words plus CJK character bigrams (robust to typos and new words)."""
        text = normalize(text)
        toks = self.words(text)
        for run in _CJK_RUN_RE.findall(text):
            toks.extend(BIGRAM_PREFIX + run[i : i + 2] for i in range(len(run) - 1))
        return toks

    def expand(self, text: str) -> list[str]:
        """Canonical terms for the colloquial terms found in normalised ``text`` (longest first)."""
        found: list[str] = []
        rest = text
        for key in self._syn_keys:
            if key in rest:
                found.extend(self.synonyms[key])
                rest = rest.replace(key, " ")
        return found

    def query_tokens(self, text: str) -> list[str]:
        """Tokens for a query: its own tokens plus those of its synonym expansions."""
        text = normalize(text)
        toks = self.tokens(text)
        for term in self.expand(text):
            toks.extend(self.tokens(term))
        return toks
