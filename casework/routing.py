"""Department router: suggests which department owns a case, from its text and location.

Character n-gram TF-IDF (robust to typos, Cantonese spellings and words jieba does not know)
and jieba word TF-IDF feed a linear SVM; its margins become probabilities through a softmax
whose temperature is fitted on out-of-fold margins (temperature scaling), so a confidence of
0.7 means about 70 % of such suggestions are right. Training data: the examples written for
the project in ``routing_examples.yml`` plus the decisions staff made on the case desk
(``routing_decisions``), which weigh more. The fitted model is a joblib file (path from
``CASEWORK_ROUTER_MODEL``, default under ``var/``), trained on first use when absent or built
by another scikit-learn version, and reloaded when another process retrained it.

No Flask here; scikit-learn, scipy and jieba are imported on first use.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from casework.departments import department_names
from common.textnorm import normalize
from knowledge.settings import REPO_DIR

log = logging.getLogger(__name__)

EXAMPLES_FILE = Path(__file__).with_name("routing_examples.yml")
MODEL_FORMAT = 1
MAX_TEXT_CHARS = 600      # a long letter says what it is about early on
FRAMES_PER_TOPIC = 6      # frames each topic phrase is combined with
DECISION_WEIGHT = 3.0     # a staff decision counts as much as three written examples
CALIBRATION_FOLDS = 5
TOP_K = 3


@dataclass(frozen=True)
class RouterSettings:
    """Where the router reads its examples and keeps its model.

    Attributes:
        model_path: the fitted model (``CASEWORK_ROUTER_MODEL``; default under ``var/``, see
            :func:`default_model_path`).
        examples_path: the written examples (``CASEWORK_ROUTER_EXAMPLES``; default beside this module).
    """

    model_path: Path
    examples_path: Path

    @classmethod
    def from_env(cls) -> RouterSettings:
        """Read the settings from the environment, with embedded defaults."""
        env = os.environ
        return cls(model_path=Path(env.get("CASEWORK_ROUTER_MODEL") or default_model_path()),
                   examples_path=Path(env.get("CASEWORK_ROUTER_EXAMPLES") or EXAMPLES_FILE))


def default_model_path() -> Path:
    """``var/routing_model-sklearn<version>.joblib``: the two venvs (other scikit-learn) keep a file each."""
    from importlib.metadata import version

    return REPO_DIR / "var" / f"routing_model-sklearn{version('scikit-learn')}.joblib"


@dataclass(frozen=True)
class LabelledText:
    """One training text with its department and weight."""

    text: str
    department: str
    weight: float = 1.0
    group: str = ""  # texts of one group (a topic in several frames) are never split by evaluation


@dataclass(frozen=True)
class RouteSuggestion:
    """The router's answer: the best department, its calibrated confidence and the top three."""

    department: str
    confidence: float
    ranking: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class TrainReport:
    """What a training run used and produced."""

    examples: int
    decisions: int
    departments: int
    trained_at: str
    path: Path | None = None


def prepare(text: str, location: str = "") -> str:
    """The router's view of a case: normalised text then location, cut to ``MAX_TEXT_CHARS``."""
    joined = " ".join(part for part in (text or "", location or "") if part.strip())
    return normalize(joined)[:MAX_TEXT_CHARS]


def load_examples(path: Path = EXAMPLES_FILE, seed: int = 13) -> list[LabelledText]:
    """The written examples, with each topic phrase expanded through some of the shared frames.

    Raises:
        ValueError: the file names a department that ``departments.yml`` lacks.
    """
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    frames: list[str] = list(raw.get("frames") or ["{t}"])
    places: list[str] = list(raw.get("places") or [""])
    known = department_names()
    rng = random.Random(seed)
    out: list[LabelledText] = []
    for dep, block in (raw.get("departments") or {}).items():
        if dep not in known:
            raise ValueError(f"{path.name}: unknown department {dep!r}")
        for i, example in enumerate(block.get("examples") or []):
            out.append(LabelledText(str(example), dep, group=f"{dep}:e{i}"))
        for i, topic in enumerate(block.get("topics") or []):
            for frame in rng.sample(frames, min(FRAMES_PER_TOPIC, len(frames))):
                out.append(LabelledText(frame.format(t=topic, p=rng.choice(places)), dep, group=f"{dep}:t{i}"))
    return out


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def _margins(clf: Any, x: Any) -> Any:
    """Decision margins as (n, classes): a two-class SVM gives one column, for the second class."""
    import numpy as np

    m = clf.decision_function(x)
    return np.column_stack([-m, m]) if m.ndim == 1 else m


class _Words:
    """jieba words of a text, with the government-term dictionary the search uses (built once)."""

    _lexicon: Any = None
    _lock = threading.Lock()

    @classmethod
    def of(cls, text: str) -> list[str]:
        with cls._lock:
            if cls._lexicon is None:
                from knowledge.lexicon import Lexicon
                from knowledge.settings import get_settings

                cls._lexicon = Lexicon.from_settings(get_settings())
        return list(cls._lexicon.words(text))


@dataclass
class RouterModel:
    """A fitted router: the two vectorizers, the SVM and the softmax temperature."""

    chars: Any
    words: Any
    clf: Any
    temperature: float
    meta: dict[str, Any] = field(default_factory=dict)

    def _x(self, texts: Sequence[str]) -> Any:
        from scipy.sparse import hstack

        return hstack([self.chars.transform(texts), self.words.transform([_Words.of(t) for t in texts])]).tocsr()

    def probabilities(self, texts: Sequence[str]) -> Any:
        """(n, departments) calibrated probabilities of prepared texts, columns in ``classes``."""
        from scipy.special import softmax

        return softmax(_margins(self.clf, self._x(texts)) * self.temperature, axis=1)

    @property
    def classes(self) -> list[str]:
        """Department ids, in the column order of :meth:`probabilities`."""
        return [str(c) for c in self.clf.classes_]

    def suggest(self, text: str, location: str = "") -> RouteSuggestion:
        """The most likely departments of one case."""
        probs = self.probabilities([prepare(text, location)])[0]
        order = probs.argsort()[::-1][:TOP_K]
        ranking = tuple((self.classes[i], round(float(probs[i]), 4)) for i in order)
        return RouteSuggestion(ranking[0][0], ranking[0][1], ranking)

    def save(self, path: Path) -> None:
        """Write the model atomically (a reader never sees half a file)."""
        import joblib
        import sklearn

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        joblib.dump({"format": MODEL_FORMAT, "sklearn": sklearn.__version__, "chars": self.chars,
                     "words": self.words, "clf": self.clf, "temperature": self.temperature,
                     "meta": self.meta}, tmp)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> RouterModel | None:
        """The model at ``path``, or None when absent, unreadable or from another scikit-learn."""
        import joblib
        import sklearn

        if not path.is_file():
            return None
        try:
            data = joblib.load(path)
        except Exception:  # a corrupt or foreign pickle means: train again
            log.warning("router model %s unreadable; it will be trained again", path, exc_info=True)
            return None
        if data.get("format") != MODEL_FORMAT or data.get("sklearn") != sklearn.__version__:
            return None
        return cls(data["chars"], data["words"], data["clf"], float(data["temperature"]), data.get("meta") or {})


def train(samples: Sequence[LabelledText], seed: int = 42) -> RouterModel:
    """Fit the vectorizers, the SVM and the temperature on ``samples``.

    Raises:
        ValueError: fewer than two departments in ``samples``.
    """
    import numpy as np
    from scipy.optimize import minimize_scalar
    from scipy.sparse import hstack
    from scipy.special import log_softmax
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.svm import LinearSVC

    texts = [prepare(s.text) for s in samples]
    y = np.asarray([s.department for s in samples])
    w = np.asarray([s.weight for s in samples], dtype=float)
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError("the router needs examples of at least two departments")
    chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    words = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=1)
    x = hstack([chars.fit_transform(texts), words.fit_transform([_Words.of(t) for t in texts])]).tocsr()

    def svm() -> Any:
        return LinearSVC(C=0.5, class_weight="balanced", random_state=seed)

    # Out-of-fold margins for the temperature (a fold lacking a department is skipped).
    # Groups (a topic in its several framings) stay in one fold, or the temperature would be
    # fitted on near-copies of the training texts and come out overconfident.
    groups = np.asarray([s.group or f"#{i}" for i, s in enumerate(samples)])
    counts = {c: len(set(groups[y == c])) for c in classes}
    folds = min(CALIBRATION_FOLDS, max(2, min(counts.values())))
    margins = np.zeros((len(y), len(classes)))
    covered = np.zeros(len(y), dtype=bool)
    for tr, te in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(x, y, groups):
        if len(np.unique(y[tr])) < len(classes):
            continue
        fold = svm().fit(x[tr], y[tr], sample_weight=w[tr])
        margins[te] = _margins(fold, x[te])
        covered[te] = True
    gold = np.searchsorted(classes, y)

    def nll(t: float) -> float:
        logp = log_softmax(margins[covered] * t, axis=1)
        return float(-(logp[np.arange(int(covered.sum())), gold[covered]] * w[covered]).sum() / w[covered].sum())

    temperature = float(minimize_scalar(nll, bounds=(0.05, 100.0), method="bounded").x) if covered.any() else 1.0
    clf = svm().fit(x, y, sample_weight=w)
    return RouterModel(chars, words, clf, temperature)


@dataclass(frozen=True)
class Evaluation:
    """Cross-validated quality of the router on its own training data."""

    n: int
    accuracy: float
    macro_f1: float
    recall: dict[str, float]
    mean_confidence: float


def evaluate(samples: Sequence[LabelledText], folds: int = 5, seed: int = 42) -> Evaluation:
    """Grouped, stratified k-fold accuracy and macro-F1 (a topic's framings stay in one fold)."""
    import numpy as np
    from sklearn.metrics import f1_score, recall_score
    from sklearn.model_selection import StratifiedGroupKFold

    y = np.asarray([s.department for s in samples])
    groups = np.asarray([s.group or f"#{i}" for i, s in enumerate(samples)])
    pred = np.empty(len(y), dtype=object)
    conf = np.zeros(len(y))
    for tr, te in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(y, y, groups):
        model = train([samples[i] for i in tr], seed)
        probs = model.probabilities([prepare(samples[i].text) for i in te])
        pred[te] = [model.classes[j] for j in probs.argmax(axis=1)]
        conf[te] = probs.max(axis=1)
    labels = sorted(set(y))
    recall = recall_score(y, pred.astype(str), labels=labels, average=None, zero_division=0)
    return Evaluation(len(y), float((pred == y).mean()),
                      float(f1_score(y, pred.astype(str), labels=labels, average="macro", zero_division=0)),
                      {lab: float(r) for lab, r in zip(labels, recall, strict=True)}, float(conf.mean()))


DecisionLoader = Callable[[], Sequence[LabelledText]]


class DepartmentRouter:
    """The router a process shares: loads (or first trains) the model once, retrains on demand.

    Args:
        settings: where the model and the examples live; from the environment by default.
        decisions: returns the staff decisions to learn from (weighted); none by default.
    """

    def __init__(self, settings: RouterSettings | None = None, decisions: DecisionLoader | None = None):
        self._settings = settings
        self._decisions = decisions
        self._model: RouterModel | None = None
        self._loaded_mtime: float | None = None
        self._lock = threading.Lock()

    @property
    def settings(self) -> RouterSettings:
        """The router's settings (read from the environment on first use)."""
        if self._settings is None:
            self._settings = RouterSettings.from_env()
        return self._settings

    def model(self) -> RouterModel:
        """The fitted model: loaded from its file, or trained and saved when there is none."""
        with self._lock:
            mtime = self._mtime()
            if self._model is None or mtime != self._loaded_mtime:  # first use, or retrained elsewhere
                self._model = RouterModel.load(self.settings.model_path)
                if self._model is None:
                    log.info("router model absent or outdated; training it")
                    self._model, _ = self._train()
                self._loaded_mtime = self._mtime()
            return self._model

    def _mtime(self) -> float | None:
        try:
            return self.settings.model_path.stat().st_mtime
        except OSError:
            return None

    def suggest(self, text: str, location: str = "") -> RouteSuggestion:
        """The owning department of a case, with a calibrated confidence and the top three."""
        return self.model().suggest(text, location)

    def retrain(self) -> TrainReport:
        """Train on the examples plus every staff decision, save, and use the new model."""
        with self._lock:
            self._model, report = self._train()
            self._loaded_mtime = self._mtime()
        return report

    def training_data(self) -> tuple[list[LabelledText], list[LabelledText]]:
        """The written examples and the usable staff decisions."""
        examples = load_examples(self.settings.examples_path)
        decisions = list(self._decisions()) if self._decisions else []
        known = department_names()
        return examples, [d for d in decisions if d.department in known and d.text.strip()]

    def _train(self) -> tuple[RouterModel, TrainReport]:
        examples, decisions = self.training_data()
        model = train(examples + decisions)
        at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        model.meta = {"trained_at": at, "examples": len(examples), "decisions": len(decisions)}
        model.save(self.settings.model_path)
        log.info("router trained on %d examples and %d staff decisions", len(examples), len(decisions))
        return model, TrainReport(len(examples), len(decisions), len(model.classes), at, self.settings.model_path)
