"""Per-message overheads of Rasa 3.6 removed without changing what it does.

Rasa checks every answer of the action server with ``jsonschema.validate``, which first
checks the *schema* itself against the JSON Schema meta-schema (draft 2020-12 with
jsonschema 4.17, the version Rasa pins): about 15–25 ms per custom action call on a
2-core machine, most of the CPU time of a message whose turn runs a form validator or a
custom action (``bench/REPORT_core.md``). :func:`install` makes ``jsonschema.validate``
remember the schemas it has already checked; the instance is still validated in full on
every call and an invalid schema still raises every time, so the behaviour is unchanged.

Each event in an answer of the action server is checked against every one of the ~20
event schemas of a ``oneOf`` (exactly one must match); as every one of them fixes
``event`` to a different constant, an event can only match the schema of its own type.
:func:`install` first checks the answer with one validator per event type (built once);
when that finds it valid, it is valid for Rasa's schema too, and anything else (an
unknown event type, a malformed answer) goes to Rasa's own check, which keeps its
verdict and its error message.

Likewise every event Rasa deserialises (each stored event of a tracker read back, each
event an action returns) looks its class up by walking all subclasses of ``Event``;
:func:`install` remembers the classes already found (unknown names still go through
Rasa's own lookup, with its default and its error).

:class:`bot.tracker_store.MaskingSQLTrackerStore` calls :func:`install` when Rasa builds
it from the endpoints file: it is the component every Rasa server of this project loads
before its first message. Runs in the Rasa venv (CPython 3.10).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from typing import Any, Dict, Optional, Set, Tuple

logger = logging.getLogger(__name__)

_MAX_SCHEMAS = 256
_lock = threading.Lock()


def _schema_key(cls: type, schema: Any) -> Optional[Tuple[type, str]]:
    try:
        return cls, json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError):  # not plain JSON: never cached
        return None


def install() -> None:
    """Install the shortcuts (idempotent)."""
    _cache_schema_checks()
    _cache_event_classes()
    _check_action_results_by_event_type()


def _cache_event_classes() -> None:
    """Make ``Event.resolve_by_type`` remember the classes it found."""
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    original = Event.resolve_by_type
    if getattr(original, "_cached", False):
        return
    found: Dict[str, type] = {}

    @functools.wraps(original)
    def resolve_by_type(type_name: str, default: Optional[type] = None) -> Optional[type]:
        cls = found.get(type_name)
        if cls is not None:
            return cls
        for candidate in all_subclasses(Event):
            if candidate.type_name == type_name:
                found[type_name] = candidate
                return candidate
        return original(type_name, default)

    resolve_by_type._cached = True  # type: ignore[attr-defined]
    Event.resolve_by_type = staticmethod(resolve_by_type)


def _cache_schema_checks() -> None:
    """Replace ``jsonschema.validate`` with the same function minus repeated schema checks."""
    import jsonschema
    from jsonschema import exceptions
    from jsonschema.validators import validator_for

    original = jsonschema.validate
    if getattr(original, "_checks_cached", False):
        return
    checked: Set[Tuple[type, str]] = set()

    @functools.wraps(original)
    def validate(instance: Any, schema: Any, cls: Any = None, *args: Any, **kwargs: Any) -> None:
        if cls is None:
            cls = validator_for(schema)
        key = _schema_key(cls, schema)
        if key is None or key not in checked:
            cls.check_schema(schema)  # raises SchemaError: nothing is remembered
            if key is not None:
                with _lock:
                    if len(checked) >= _MAX_SCHEMAS:
                        checked.clear()
                    checked.add(key)
        validator = cls(schema, *args, **kwargs)
        error = exceptions.best_match(validator.iter_errors(instance))
        if error is not None:
            raise error

    validate._checks_cached = True  # type: ignore[attr-defined]
    jsonschema.validate = validate
    logger.debug("jsonschema.validate now checks each schema once")


class _ActionResultChecker:
    """Rasa's action-response schema, checked per event type (see the module doc).

    Args:
        schema: ``RemoteAction.action_response_format_spec()``.

    Raises:
        ValueError: the schema is not shaped as in Rasa 3.6 (then nothing is installed).
    """

    def __init__(self, schema: Dict[str, Any]) -> None:
        from jsonschema.validators import validator_for

        props = schema.get("properties") or {}
        if schema.get("type") != "object" or set(props) != {"events", "responses"}:
            raise ValueError("unexpected action response schema")
        events, responses = props["events"], props["responses"]
        item = events.get("items") or {}
        if events.get("type") != "array" or set(events) != {"type", "items"} or "oneOf" not in item:
            raise ValueError("unexpected events schema")
        base = {k: v for k, v in item.items() if k != "oneOf"}
        self._by_type: Dict[str, Any] = {}
        for sub in item["oneOf"]:
            const = ((sub.get("properties") or {}).get("event") or {}).get("const")
            if not isinstance(const, str) or const in self._by_type:
                raise ValueError("an event schema without its own constant type")
            both = {"allOf": [base, sub]}
            cls = validator_for(both)
            cls.check_schema(both)
            self._by_type[const] = cls(both)
        cls = validator_for(responses)
        cls.check_schema(responses)
        self._responses = cls(responses)

    def is_valid(self, result: Any) -> bool:
        """True only when ``result`` is certainly valid; False means "ask Rasa's own check"."""
        if not isinstance(result, dict):
            return False
        if "responses" in result and not self._responses.is_valid(result["responses"]):
            return False
        events = result.get("events", [])
        if not isinstance(events, list):
            return False
        for event in events:
            name = event.get("event") if isinstance(event, dict) else None
            validator = self._by_type.get(name) if isinstance(name, str) else None
            if validator is None or not validator.is_valid(event):
                return False
        return True


def _check_action_results_by_event_type() -> None:
    """Check action server answers per event type first (see the module doc)."""
    from rasa.core.actions.action import RemoteAction

    original = RemoteAction._validate_action_result
    if getattr(original, "_by_event_type", False):
        return
    try:
        checker = _ActionResultChecker(RemoteAction.action_response_format_spec())
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.info("action results keep Rasa's full schema check (%s)", exc)
        return

    @functools.wraps(original)
    def _validate_action_result(self: Any, result: Dict[str, Any]) -> bool:
        return True if checker.is_valid(result) else original(self, result)

    _validate_action_result._by_event_type = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = _validate_action_result
