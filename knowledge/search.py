"""Chinese retrieval over services and FAQs.

Pipeline: normalise (NFKC, Traditional → Simplified) → jieba words + character
bigrams → synonym expansion of the query → BM25 (bm25s) over one document per service
(name, keywords, summary) and one per live FAQ (question + alternative phrasings) →
best document per service → a calibrated confidence per hit.

The index is rebuilt lazily whenever the knowledge base's revision (or the city date,
which decides which FAQs are live) changes, so staff edits are searchable on the very
next query in every process, with no restart and no retraining.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from common.clock import city_today
from common.textnorm import normalize
from knowledge.lexicon import Lexicon
from knowledge.models import Faq, Service
from knowledge.repository import KnowledgeRepository
from knowledge.settings import KnowledgeSettings, get_settings

log = logging.getLogger(__name__)

# Field repetition is how a single-field BM25 weighs fields (cf. BM25F).
SERVICE_NAME_WEIGHT = 3
SERVICE_KEYWORD_WEIGHT = 2
FAQ_SERVICE_NAME_WEIGHT = 1

# Logistic calibration over (log score, relative margin, coverage); replaced by
# knowledge/lexicon/calibration.yml when bench/calibrate.py has written it.
DEFAULT_CALIBRATION = {"bias": -4.0, "weights": {"log_score": 1.2, "margin": 3.0, "coverage": 3.0, "log_words": 0.0}}


@dataclass(frozen=True)
class SearchHit:
    """One search result: a service, and its best-matching FAQ when one matched best.

    Attributes:
        service_id: catalog id (None for an FAQ that is linked to no service).
        faq_id: the FAQ that matched, or None when the service guide itself matched best.
        title: the FAQ's question, or the service's name.
        score: raw BM25 score (comparable within one query only).
        confidence: calibrated probability (0-1) that this hit answers the query.
    """

    service_id: str | None
    faq_id: int | None
    title: str
    score: float
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class _Doc:
    service_id: str | None
    faq_id: int | None
    title: str
    words: frozenset[str]


class _Index:
    """An immutable BM25 index over one snapshot of the knowledge base."""

    def __init__(self, docs: list[_Doc], corpus: list[list[str]]):
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.docs = docs
        self.retriever = bm25s.BM25()
        if corpus:
            self.retriever.index(corpus, show_progress=False)

    def scores(self, tokens: list[str]) -> np.ndarray:
        if not self.docs or not tokens:
            return np.zeros(len(self.docs))
        return np.asarray(self.retriever.get_scores(tokens), dtype=float)


def load_calibration(path: Path) -> dict[str, Any]:
    """Calibration parameters from ``path``, or the defaults when it is absent or malformed."""
    if path.exists():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and "bias" in data and isinstance(data.get("weights"), dict):
                return data
        except yaml.YAMLError:
            log.exception("calibration file %s unreadable; using defaults", path)
    return DEFAULT_CALIBRATION


class KnowledgeSearch:
    """Search over the live knowledge base.

    Args:
        repository: where documents come from (default: the configured database).
        settings: lexicon, calibration and limits (default: from the environment).
    """

    def __init__(self, repository: KnowledgeRepository | None = None, settings: KnowledgeSettings | None = None):
        self.settings = settings or get_settings()
        self.repository = repository or KnowledgeRepository()
        self._lexicon: Lexicon | None = None
        self._calibration: dict[str, Any] | None = None
        self._index: _Index | None = None
        self._key: tuple[int, Any] | None = None
        self._lock = threading.Lock()

    @property
    def lexicon(self) -> Lexicon:
        """The lexicon (loaded on first use)."""
        if self._lexicon is None:
            self._lexicon = Lexicon.from_settings(self.settings)
        return self._lexicon

    @property
    def calibration(self) -> dict[str, Any]:
        """Confidence calibration parameters (loaded on first use)."""
        if self._calibration is None:
            self._calibration = load_calibration(self.settings.calibration_path)
        return self._calibration

    # ----------------------------------------------------------- indexing
    def _build(self) -> _Index:
        services = self.repository.list_services()
        faqs = self.repository.live_faqs()
        names = {s.id: s.name for s in services}
        docs: list[_Doc] = []
        corpus: list[list[str]] = []
        for svc in services:
            tokens = self._service_tokens(svc)
            words = self.lexicon.words(normalize(" ".join([svc.name, *svc.keywords])))
            docs.append(_Doc(svc.id, None, svc.name, frozenset(words)))
            corpus.append(tokens)
        for faq in faqs:
            tokens = self._faq_tokens(faq, names.get(faq.service_id or ""))
            words = self.lexicon.words(normalize(" ".join([faq.question, *faq.alternatives])))
            docs.append(_Doc(faq.service_id, faq.id, faq.question, frozenset(words)))
            corpus.append(tokens)
        return _Index(docs, corpus)

    def _service_tokens(self, svc: Service) -> list[str]:
        lex = self.lexicon
        tokens = lex.tokens(svc.name) * SERVICE_NAME_WEIGHT
        for kw in svc.keywords:
            tokens += lex.tokens(kw) * SERVICE_KEYWORD_WEIGHT
        tokens += lex.tokens(svc.summary) + lex.tokens(svc.category)
        return tokens

    def _faq_tokens(self, faq: Faq, service_name: str | None) -> list[str]:
        lex = self.lexicon
        tokens = lex.tokens(faq.question)
        for alt in faq.alternatives:
            tokens += lex.tokens(alt)
        if service_name:
            tokens += lex.tokens(service_name) * FAQ_SERVICE_NAME_WEIGHT
        return tokens

    def index(self) -> _Index:
        """The current index, rebuilt when content or the date changed since it was built."""
        key = (self.repository.revision(), city_today())
        if self._index is not None and key == self._key:
            return self._index
        with self._lock:
            if self._index is None or key != self._key:
                self._index = self._build()
                self._key = key
                log.info("knowledge index built: %d documents (revision %s)", len(self._index.docs), key[0])
            return self._index

    # -------------------------------------------------------------- query
    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """Best hits for ``query``, one per service, best first.

        Args:
            query: citizen text; empty or meaningless input gives ``[]``. Text beyond
                ``max_query_chars`` is ignored.
            k: how many hits at most (1-50).

        Returns:
            Up to ``k`` hits with calibrated confidences.
        """
        return [hit for hit, _ in self.rank(query, k)]

    def rank(self, query: str, k: int = 5) -> list[tuple[SearchHit, dict[str, float]]]:
        """Like :meth:`search`, with each hit's calibration features (for bench/calibrate.py)."""
        if not isinstance(query, str):
            raise TypeError("query must be str")
        k = max(1, min(int(k), 50))
        text = normalize(query[: self.settings.max_query_chars])
        if not text:
            return []
        tokens = self.lexicon.query_tokens(text)
        if not tokens:
            return []
        index = self.index()
        scores = index.scores(tokens)
        if not scores.size or float(scores.max()) <= 0.0:
            return []
        query_words = set(self.lexicon.words(text)) | set(self.lexicon.expand(text))
        best: dict[str | int, tuple[float, _Doc]] = {}
        for i in np.argsort(-scores):
            score = float(scores[i])
            if score <= 0.0:
                break
            doc = index.docs[int(i)]
            group: str | int = doc.service_id if doc.service_id is not None else -(doc.faq_id or 0)
            if group not in best:
                best[group] = (score, doc)
            if len(best) >= k + 1:
                break
        ranked = sorted(best.values(), key=lambda t: -t[0])
        out = []
        for pos, (score, doc) in enumerate(ranked[:k]):
            other = ranked[1][0] if pos == 0 and len(ranked) > 1 else (ranked[0][0] if pos else 0.0)
            feats = self.features(score, other, query_words, doc.words)
            hit = SearchHit(doc.service_id, doc.faq_id, doc.title, round(score, 4), round(self._confidence(feats), 4))
            out.append((hit, feats))
        return out

    def search_within(self, service_id: str, query: str, k: int = 3) -> list[SearchHit]:
        """The FAQs of one service best matching ``query`` (for follow-ups like "那要多少钱").

        Confidence here is the word coverage of the FAQ, not the calibrated figure:
        the service is already known, only the question within it is being matched.
        """
        text = normalize(str(query)[: self.settings.max_query_chars])
        tokens = self.lexicon.query_tokens(text) if text else []
        if not tokens:
            return []
        index = self.index()
        scores = index.scores(tokens)
        query_words = set(self.lexicon.words(text))
        hits: list[SearchHit] = []
        for i in np.argsort(-scores):
            doc = index.docs[int(i)]
            score = float(scores[i])
            if score <= 0.0 or len(hits) >= k:
                break
            if doc.service_id == service_id and doc.faq_id is not None:
                coverage = len(query_words & doc.words) / len(query_words) if query_words else 0.0
                hits.append(SearchHit(doc.service_id, doc.faq_id, doc.title, round(score, 4), round(coverage, 4)))
        return hits

    @staticmethod
    def features(score: float, other: float, query_words: set[str], doc_words: frozenset[str]) -> dict[str, float]:
        """Calibration features of one hit: score, margin over the best other, word coverage, query length."""
        coverage = len(query_words & doc_words) / len(query_words) if query_words else 0.0
        return {
            "log_score": math.log1p(score),
            "margin": (score - other) / score if score > 0 else 0.0,
            "coverage": coverage,
            "log_words": math.log1p(len(query_words)),
        }

    def _confidence(self, feats: dict[str, float]) -> float:
        cal = self.calibration
        z = float(cal["bias"]) + sum(float(w) * feats.get(name, 0.0) for name, w in cal["weights"].items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
