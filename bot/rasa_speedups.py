"""Per-message overheads of Rasa 3.6 removed without changing what it does.

Rasa checks every answer of the action server with ``jsonschema.validate``, which first
checks the *schema* itself against the JSON Schema meta-schema (draft 2020-12 with
jsonschema 4.17, the version Rasa pins): about 15–25 ms per custom action call on a
2-core machine, most of the CPU time of a message whose turn runs a form validator or a
custom action (``bench/REPORT_core.md``). :func:`install` makes ``jsonschema.validate``
remember the schemas it has already checked; the instance is still validated in full on
every call and an invalid schema still raises every time, so the behaviour is unchanged.

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
    """Install both shortcuts (idempotent)."""
    _cache_schema_checks()
    _cache_event_classes()


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
