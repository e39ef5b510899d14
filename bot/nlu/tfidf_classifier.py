"""Intent classifier: character and word n-gram TF-IDF into a linear SVM with calibrated scores.

Chinese intent text is short and carries its meaning in a few characters; sparse character
n-grams (robust to jieba's cuts, typos and Cantonese spellings) and word n-grams (from the
pipeline's tokenizer) into a linear SVM train in seconds and rival a neural classifier on this
data. The SVM's margins are turned into probabilities by a softmax whose temperature is fitted on
out-of-fold margins (temperature scaling: the temperature minimising the log-loss of 5-fold
cross-validated predictions), so a confidence of 0.6 means about 60 % of such answers are right
and the ``FallbackClassifier`` threshold means something. Reads the message text and the tokens
of the tokenizer before it; needs no other featurizer.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

log = logging.getLogger(__name__)
TOKENS = "text_tokens"
MODEL_FILE = "tfidf_intent.joblib"


def _tokens(message: Message) -> List[str]:
    tokens = message.get(TOKENS) or []
    return [t.text for t in tokens if t.text.strip()]


def _identity(tokens: List[str]) -> List[str]:
    return tokens


def _as_matrix(margins: Any) -> Any:
    """SVM margins as (n, classes): a binary SVM gives one column, for the second class."""
    import numpy as np

    return np.column_stack([-margins, margins]) if margins.ndim == 1 else margins


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class TfidfIntentClassifier(GraphComponent, IntentClassifier):
    """Calibrated linear intent classifier over character and word n-gram TF-IDF."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "char_ngram_range": [1, 2],
            "word_ngram_range": [1, 1],
            "C": 1.0,
            "calibration_folds": 5,
            "ranking_length": 10,
            "random_state": 42,
        }

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn"]

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 model: Optional[Dict[str, Any]] = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.model = model

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "TfidfIntentClassifier":
        return cls(config, model_storage, resource)

    def _vectorizers(self) -> tuple[Any, Any]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(self.config["char_ngram_range"]),
                                sublinear_tf=True, min_df=1)
        words = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=1)
        return chars, words

    @staticmethod
    def _word_ngrams(tokens: List[str], n_max: int) -> List[str]:
        grams = list(tokens)
        for n in range(2, n_max + 1):
            grams += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
        return grams

    def _features(self, texts: List[str], token_lists: List[List[str]], fit: bool = False) -> Any:
        from scipy.sparse import hstack

        n_max = int(self.config["word_ngram_range"][1])
        grams = [self._word_ngrams(t, n_max) for t in token_lists]
        assert self.model is not None
        if fit:
            return hstack([self.model["chars"].fit_transform(texts), self.model["words"].fit_transform(grams)]).tocsr()
        return hstack([self.model["chars"].transform(texts), self.model["words"].transform(grams)]).tocsr()

    def train(self, training_data: TrainingData) -> Resource:
        """Fit the vectorizers and the calibrated SVM on the intent examples, then persist them."""
        from collections import Counter

        import numpy as np
        from scipy.optimize import minimize_scalar
        from scipy.special import log_softmax
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from sklearn.svm import LinearSVC

        examples = [m for m in training_data.intent_examples if m.get(TEXT)]
        labels = [m.get(INTENT) for m in examples]
        if len(set(labels)) < 2:
            log.warning("TfidfIntentClassifier needs at least two intents; not trained")
            return self._resource
        folds = max(2, int(self.config["calibration_folds"]))
        counts = Counter(labels)
        # an intent with fewer examples than calibration folds is repeated up to the fold count
        for intent, n in counts.items():
            rows = [m for m in examples if m.get(INTENT) == intent]
            examples += [rows[i % n] for i in range(folds - n)] if n < folds else []
        y = np.asarray([m.get(INTENT) for m in examples])
        chars, words = self._vectorizers()
        self.model = {"chars": chars, "words": words}
        x = self._features([m.get(TEXT) for m in examples], [_tokens(m) for m in examples], fit=True)
        seed = int(self.config["random_state"])
        svm = LinearSVC(C=float(self.config["C"]), class_weight="balanced", random_state=seed)
        margins = _as_matrix(cross_val_predict(svm, x, y, method="decision_function",
                                               cv=StratifiedKFold(folds, shuffle=True, random_state=seed)))
        gold = np.searchsorted(np.unique(y), y)

        def nll(t: float) -> float:
            return float(-log_softmax(margins * t, axis=1)[np.arange(len(y)), gold].mean())

        self.model["temperature"] = float(minimize_scalar(nll, bounds=(0.05, 100.0), method="bounded").x)
        svm.fit(x, y)
        self.model["clf"] = svm
        self.persist()
        return self._resource

    def persist(self) -> None:
        """Write the fitted model into the model storage."""
        import joblib

        if self.model is None:
            return
        with self._model_storage.write_to(self._resource) as directory:
            joblib.dump(self.model, directory / MODEL_FILE)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "TfidfIntentClassifier":
        """Load the fitted model, or an untrained classifier when there is none."""
        import joblib

        try:
            with model_storage.read_from(resource) as directory:
                model = joblib.load(directory / MODEL_FILE)
        except (ValueError, FileNotFoundError):
            model = None
        return cls(config, model_storage, resource, model)

    def process(self, messages: List[Message]) -> List[Message]:
        """Set ``intent`` and ``intent_ranking`` on each message."""
        for message in messages:
            if self.model is None or not message.get(TEXT):
                message.set(INTENT, {"name": None, "confidence": 0.0}, add_to_output=True)
                message.set("intent_ranking", [], add_to_output=True)
                continue
            x = self._features([message.get(TEXT)], [_tokens(message)])
            from scipy.special import softmax

            margins = _as_matrix(self.model["clf"].decision_function(x))
            probs = softmax(margins * self.model["temperature"], axis=1)[0]
            classes = self.model["clf"].classes_
            order = probs.argsort()[::-1]
            ranking = [{"name": str(classes[i]), "confidence": float(probs[i])}
                       for i in order[: int(self.config["ranking_length"])]]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking, add_to_output=True)
        return messages
