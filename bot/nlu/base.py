"""The one shape of this project's stateless Rasa components.

Each of them rewrites messages one at a time and is configured only by its pipeline entry:
:class:`MessageRewriter` gives them one ``create`` and one ``process`` (Rasa's graph API);
:class:`TrainingDataRewriter` also rewrites the training examples, for the components whose
change must be seen by training as well (normalisation, blanking a salutation). Runs in the
Rasa venv (CPython 3.10).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData


class MessageRewriter(GraphComponent):
    """A component with no trained state that changes each message in :meth:`rewrite`.

    Attributes:
        config: the component's defaults updated with its pipeline entry.
    """

    def __init__(self, config: Optional[Dict[Text, Any]] = None) -> None:
        self.config = {**self.get_default_config(), **(config or {})}

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "MessageRewriter":
        """Build it from its configuration (Rasa's graph API)."""
        return cls(config)

    def rewrite(self, message: Message) -> None:
        """Change ``message`` in place."""
        raise NotImplementedError

    def process(self, messages: List[Message]) -> List[Message]:
        """Rewrite each message at inference."""
        for message in messages:
            self.rewrite(message)
        return messages


class TrainingDataRewriter(MessageRewriter):
    """A :class:`MessageRewriter` whose rewrite also applies to the training examples."""

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Rewrite each training example as messages are rewritten at inference."""
        for message in training_data.training_examples:
            self.rewrite(message)
        return training_data
