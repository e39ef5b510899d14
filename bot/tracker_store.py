"""A SQL tracker store that never writes ID numbers, phone numbers or e-mail addresses in clear.

Configure it in ``endpoints.yml``::

    tracker_store:
      type: bot.tracker_store.MaskingSQLTrackerStore
      dialect: "sqlite"             # or "postgresql" with url/port/db/username/password
      db: "var/tracker.db"
      pii_key_file: "var/tracker_pii.key"   # embedded: created on first use
      # pii_key: ${TRACKER_PII_KEY}         # production: from the environment

Every event is stored with the personal data in its strings masked (user text,
``parse_data`` text and entity values, metadata, bot text and buttons). Slot values
are different: the dialogue needs them in later turns (a booking is confirmed a turn
after the phone number was given), so a slot value holding personal data is stored
masked *and* sealed — encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from the
``cryptography`` package Rasa itself requires) under the configured key — and unsealed
when the tracker is read back. Without the key the stored rows reveal nothing; if the
key is lost, conversations continue with the masked values. Several keys separated by
commas rotate: the first seals, all of them unseal.

Retention: :meth:`MaskingSQLTrackerStore.delete_conversations_older_than` (used by
``python -m bot.retention``) deletes every conversation whose latest event is older
than the given number of days.

Runs in the Rasa venv (CPython 3.10): imports only rasa, its requirements, the stdlib and
the standard-library-only :mod:`common.pii`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, Optional, Text

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from common.pii import mask_value, value_contains_pii

logger = logging.getLogger(__name__)

SEALED_KEY = "sealed_value"
# Keys whose values are identifiers or numbers chosen by Rasa, not citizen text.
_SKIP_KEYS = frozenset({"event", "timestamp", "name", "input_channel", "message_id", "policy", "confidence",
                        "intent_name", "action_name", "entity", "extractor", "role", "group"})


def load_key_file(path: Path) -> str:
    """Read the key in ``path``; create it (mode 0600) with a fresh key when absent."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(Fernet.generate_key().decode("ascii") + "\n")
        logger.info("tracker store: created a new PII sealing key in %s", path)
    return path.read_text(encoding="ascii").strip()


def make_sealer(key_spec: str) -> MultiFernet:
    """A Fernet sealer from one key or several comma-separated keys (first one seals)."""
    keys = [k.strip() for k in key_spec.split(",") if k.strip()]
    if not keys:
        raise ValueError("no PII sealing key given")
    try:
        return MultiFernet([Fernet(k.encode("ascii")) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ValueError("the PII sealing key is not a valid Fernet key "
                         "(generate one with: python -c 'from cryptography.fernet import Fernet;"
                         "print(Fernet.generate_key().decode())')") from exc


class EventMasker:
    """Turns an event dict into its stored form and back.

    Args:
        sealer: encrypts slot values that hold personal data.
    """

    def __init__(self, sealer: MultiFernet):
        self._sealer = sealer

    def to_stored(self, data: Dict[Text, Any]) -> Dict[Text, Any]:
        """The event as it may be written: personal data masked, PII slot values sealed."""
        if data.get("event") == "slot" and value_contains_pii(data.get("value")):
            original = json.dumps(data["value"], ensure_ascii=False)
            stored = mask_value(data, _SKIP_KEYS)
            stored[SEALED_KEY] = self._sealer.encrypt(original.encode("utf-8")).decode("ascii")
            return stored
        return mask_value(data, _SKIP_KEYS)

    def from_stored(self, data: Dict[Text, Any]) -> Dict[Text, Any]:
        """The event as Rasa needs it: sealed slot values restored when the key allows."""
        sealed = data.pop(SEALED_KEY, None)
        if sealed is not None:
            try:
                data["value"] = json.loads(self._sealer.decrypt(sealed.encode("ascii")))
            except (InvalidToken, ValueError):
                logger.warning("tracker store: a sealed slot value could not be unsealed (key changed?); "
                               "the masked value is used")
        return data


class MaskingSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store with personal data masked in every stored event.

    Args:
        pii_key: Fernet key(s), comma-separated, for sealing slot values (production:
            ``${TRACKER_PII_KEY}``).
        pii_key_file: file holding the key, created on first use (embedded profile).
        **kwargs: everything :class:`rasa.core.tracker_store.SQLTrackerStore` takes.

    Raises:
        ValueError: neither a key nor a key file is configured, or the key is invalid.
    """

    def __init__(self, *args: Any, pii_key: Optional[Text] = None, pii_key_file: Optional[Text] = None,
                 **kwargs: Any) -> None:
        if pii_key:
            spec = pii_key
        elif pii_key_file:
            spec = load_key_file(Path(pii_key_file))
        else:
            raise ValueError("MaskingSQLTrackerStore needs pii_key (TRACKER_PII_KEY) or pii_key_file "
                             "in the tracker_store section of the endpoints file")
        self.masker = EventMasker(make_sealer(spec))
        super().__init__(*args, **kwargs)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append the tracker's new events, masked (same bookkeeping as the parent)."""
        await self.stream_events(tracker)
        with self.session_scope() as session:
            for event in self._additional_events(session, tracker):
                data = self.masker.to_stored(event.as_dict())
                session.add(self.SQLEvent(
                    sender_id=tracker.sender_id,
                    type_name=event.type_name,
                    timestamp=data.get("timestamp"),
                    intent_name=(data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
                    action_name=data.get("name"),
                    data=json.dumps(data),
                ))
            session.commit()
        logger.debug("tracker stored (masked)")

    async def _retrieve(self, sender_id: Text, fetch_events_from_all_sessions: bool
                        ) -> Optional[DialogueStateTracker]:
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id,
                                     fetch_events_from_all_sessions=fetch_events_from_all_sessions).all()
            events = [self.masker.from_stored(json.loads(row.data)) for row in rows]
        if self.domain and events:
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        return None

    def delete_conversations_older_than(self, days: float, now: Optional[float] = None) -> int:
        """Delete every conversation whose latest event is older than ``days`` days.

        Args:
            days: retention period (must be > 0).
            now: the current time as a UNIX timestamp (tests pass their own).

        Returns:
            The number of conversations deleted.
        """
        import sqlalchemy as sa

        if days <= 0:
            raise ValueError("the retention period must be positive")
        cutoff = (now if now is not None else time.time()) - days * 86400
        table = self.SQLEvent.__table__
        stale = (sa.select(table.c.sender_id).group_by(table.c.sender_id)
                 .having(sa.func.max(table.c.timestamp) < cutoff))
        with self.engine.begin() as conn:
            senders = [row[0] for row in conn.execute(stale)]
            for start in range(0, len(senders), 500):
                conn.execute(table.delete().where(table.c.sender_id.in_(senders[start:start + 500])))
        return len(senders)
