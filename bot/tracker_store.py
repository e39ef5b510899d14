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

Cost per message independent of the conversation's length: Rasa rebuilds the tracker
from every event of the session on each message, featurises that whole history for each
prediction and sends it all to the action server, so a long conversation gets slower
with every turn. This store hands Rasa a *compacted* tracker instead: a checkpoint (the
slot values, and a pause, at a turn boundary, as a session start followed by ``SlotSet``
events; table ``tracker_checkpoints``, sealed like the events) followed by the events of
the last turns. The checkpoint moves forward when more than ``compact_after_turns`` user
turns follow it, keeping at least ``keep_turns`` user turns, and only to a point where no
form is active and enough turns visible to the machine-learned policies follow (more than
their ``max_history``), so every policy sees the same recent history as with the full
tracker. The ``events`` table still holds every event (staff statistics, retention,
``retrieve_full_tracker`` and the HTTP API's full tracker read it). On SQLite (embedded
profile) connections stay open in a small pool and the database runs in write-ahead-log
mode; the store also installs :mod:`bot.rasa_speedups` (Rasa's per-message overheads).

Retention: :meth:`MaskingSQLTrackerStore.delete_conversations_older_than` (used by
``python -m bot.retention``) deletes every conversation whose latest event is older
than the given number of days.

Runs in the Rasa venv (CPython 3.10): imports only rasa, its requirements, the stdlib,
:mod:`bot.rasa_speedups` and the standard-library-only :mod:`common.pii`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Text

import sqlalchemy as sa
from cryptography.fernet import InvalidToken, MultiFernet
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.events import ActionExecuted, ConversationPaused, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot import rasa_speedups
from common.pii import mask_value, value_contains_pii
from common.sealing import load_key_file, make_sealer

logger = logging.getLogger(__name__)

SEALED_KEY = "sealed_value"
# Keys whose values are identifiers or numbers chosen by Rasa, not citizen text.
_SKIP_KEYS = frozenset({"event", "timestamp", "name", "input_channel", "message_id", "policy", "confidence",
                        "intent_name", "action_name", "entity", "extractor", "role", "group"})
# Actions the ML policies (MemoizationPolicy, TEDPolicy) must still see after a checkpoint:
# their largest max_history (5), the state the first of those depends on, and one more.
MIN_ML_TURNS = 7
# The attribute of a retrieved tracker that remembers what was loaded (see _View).
_VIEW_ATTR = "_masking_store_view"

_CHECKPOINT_METADATA = sa.MetaData()
CHECKPOINTS = sa.Table(
    "tracker_checkpoints", _CHECKPOINT_METADATA,
    sa.Column("sender_id", sa.String(255), primary_key=True),
    sa.Column("first_event_id", sa.Integer, nullable=False),  # the first event (row id) after the checkpoint
    sa.Column("data", sa.Text, nullable=False),  # the checkpoint's events, stored like rows of ``events``
)


@dataclass
class _View:
    """What :meth:`MaskingSQLTrackerStore.retrieve` put in a tracker.

    Attributes:
        prefix: how many leading events are the checkpoint (not rows of ``events``).
        first_id: the ``events`` row id of the first event after them (None: no rows).
        stored: how many events after them are rows of ``events``.
    """

    prefix: int
    first_id: Optional[int]
    stored: int


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLite (embedded profile): write-ahead log, fsync at checkpoints rather than at every commit.

    A commit costs a few milliseconds less per message and the staff dashboard reads while
    Rasa writes; an operating-system crash (not a Rasa crash) may lose the last messages.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def checkpoint_events(tracker: DialogueStateTracker) -> List[Event]:
    """Events that recreate ``tracker``'s slots and pause in a fresh session (no form may be active)."""
    ts = tracker.events[-1].timestamp if tracker.events else time.time()
    events: List[Event] = [ActionExecuted(ACTION_SESSION_START_NAME, timestamp=ts), SessionStarted(timestamp=ts)]
    events += [SlotSet(name, slot.value, timestamp=ts) for name, slot in tracker.slots.items() if slot.has_been_set]
    if tracker.is_paused():
        events.append(ConversationPaused(timestamp=ts))
    return events


def cut_candidates(events: Sequence[Event], start: int, keep_turns: int, compact_after_turns: int) -> List[int]:
    """Where a new checkpoint may go, latest first: indices of an ``action_listen`` before a user turn.

    An index qualifies when at least ``keep_turns`` user turns and
    :data:`MIN_ML_TURNS` actions visible to the ML policies follow it. Empty when no more
    than ``compact_after_turns`` user turns follow ``start`` (not due yet). Whether a form
    is active at an index is for the caller to check.
    """
    if sum(isinstance(e, UserUttered) for e in events[start:]) <= compact_after_turns:
        return []
    found: List[int] = []
    user_turns = ml_turns = 0
    for i in range(len(events) - 1, start - 1, -1):
        event = events[i]
        if isinstance(event, UserUttered):
            user_turns += 1
        elif isinstance(event, ActionExecuted):
            if (event.action_name == ACTION_LISTEN_NAME and i + 1 < len(events)
                    and isinstance(events[i + 1], UserUttered) and user_turns >= keep_turns
                    and ml_turns >= MIN_ML_TURNS):
                found.append(i)
            if not event.hide_rule_turn:
                ml_turns += 1
    return found


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
        keep_turns: user turns kept after a checkpoint (at least the longest rule).
        compact_after_turns: move the checkpoint once more user turns than this follow
            it; 0 turns compaction off (Rasa then rebuilds the whole session each message).
        **kwargs: everything :class:`rasa.core.tracker_store.SQLTrackerStore` takes.

    Raises:
        ValueError: neither a key nor a key file is configured, the key is invalid, or
            ``keep_turns`` is not below ``compact_after_turns``.
    """

    engine: Any  # set by SQLTrackerStore.__init__

    def __init__(self, *args: Any, pii_key: Optional[Text] = None, pii_key_file: Optional[Text] = None,
                 keep_turns: int = 4, compact_after_turns: int = 6, **kwargs: Any) -> None:
        if pii_key:
            spec = pii_key
        elif pii_key_file:
            spec = load_key_file(Path(pii_key_file))
        else:
            raise ValueError("MaskingSQLTrackerStore needs pii_key (TRACKER_PII_KEY) or pii_key_file "
                             "in the tracker_store section of the endpoints file")
        self.masker = EventMasker(make_sealer(spec))
        self.keep_turns, self.compact_after_turns = int(keep_turns), int(compact_after_turns)
        if self.compact_after_turns and not 0 < self.keep_turns < self.compact_after_turns:
            raise ValueError("MaskingSQLTrackerStore needs 0 < keep_turns < compact_after_turns")
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            self._pool_sqlite_connections()
        _CHECKPOINT_METADATA.create_all(self.engine)
        rasa_speedups.install()  # this store is what every Rasa server here loads first (see the module)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Append the tracker's new events, masked; move its checkpoint when it is due."""
        await self.stream_events(tracker)
        view: Optional[_View] = getattr(tracker, _VIEW_ATTR, None)
        with self.session_scope() as session:
            if view is None:  # not read by retrieve(): the parent's bookkeeping
                new_events = list(self._additional_events(session, tracker))
            else:
                new_events = list(tracker.events)[view.prefix + view.stored:]
            if new_events:
                session.execute(self.SQLEvent.__table__.insert(),
                                [self._row(tracker.sender_id, event) for event in new_events])
            if view is not None:
                view.stored += len(new_events)
                if self.compact_after_turns:
                    self._maybe_checkpoint(session, tracker, view)
            session.commit()
        logger.debug("tracker stored (masked)")

    def _pool_sqlite_connections(self) -> None:
        """Keep SQLite connections open between messages (Rasa opens and closes one per read or write).

        Closing the last connection of a write-ahead-logged database checkpoints the log,
        several milliseconds per message; a small pool avoids that.
        """
        url = self.engine.url
        self.engine.dispose()
        self.engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=2, max_overflow=8,
                                       connect_args={"check_same_thread": False})
        sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    def _row(self, sender_id: Text, event: Event) -> Dict[Text, Any]:
        """The ``events`` row of ``event``, masked (the columns Rasa's own store fills)."""
        data = self.masker.to_stored(event.as_dict())
        return {"sender_id": sender_id, "type_name": event.type_name, "timestamp": data.get("timestamp"),
                "intent_name": (data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
                "action_name": data.get("name"), "data": json.dumps(data)}

    def _maybe_checkpoint(self, session: Any, tracker: DialogueStateTracker, view: _View) -> None:
        """Store a new checkpoint when enough turns follow the current one (see the module doc)."""
        events = list(tracker.events)
        candidates = set(cut_candidates(events, view.prefix, self.keep_turns, self.compact_after_turns))
        if not candidates:
            return
        replay = DialogueStateTracker(tracker.sender_id, self.domain.slots)
        best = None
        for i, event in enumerate(events[:max(candidates)]):
            replay.update(event)
            if i + 1 in candidates and replay.active_loop_name is None:  # no form running there
                best, snapshot = i + 1, checkpoint_events(replay)
        if best is None:
            return
        table = self.SQLEvent.__table__
        ids = [row[0] for row in session.execute(
            sa.select(table.c.id).where(table.c.sender_id == tracker.sender_id, table.c.id >= view.first_id)
            .order_by(table.c.id))] if view.first_id is not None else []
        if len(ids) != len(events) - view.prefix:
            logger.warning("tracker store: stored events do not match the tracker; no checkpoint written")
            return
        data = [self.masker.to_stored(e.as_dict()) for e in snapshot]
        session.execute(CHECKPOINTS.delete().where(CHECKPOINTS.c.sender_id == tracker.sender_id))
        session.execute(CHECKPOINTS.insert().values(sender_id=tracker.sender_id, data=json.dumps(data),
                                                    first_event_id=ids[best - view.prefix]))
        logger.debug("tracker checkpoint moved to event %d of %d", best, len(events))

    async def _retrieve(self, sender_id: Text, fetch_events_from_all_sessions: bool
                        ) -> Optional[DialogueStateTracker]:
        table = self.SQLEvent.__table__
        with self.session_scope() as session:
            checkpoint = None if fetch_events_from_all_sessions else self._checkpoint(session, sender_id)
            rows: List[Any] = []
            if checkpoint is not None:
                rows = session.execute(sa.select(table.c.id, table.c.type_name, table.c.data)
                                       .where(table.c.sender_id == sender_id, table.c.id >= checkpoint.first_event_id)
                                       .order_by(table.c.id)).all()
                if any(row.type_name == SessionStarted.type_name for row in rows):
                    checkpoint = None  # a new session began after the checkpoint: it no longer applies
            if checkpoint is None:
                rows = (self._event_query(session, sender_id,
                                          fetch_events_from_all_sessions=fetch_events_from_all_sessions)
                        .with_entities(self.SQLEvent.id, self.SQLEvent.type_name, self.SQLEvent.data).all())
                prefix: List[Dict[Text, Any]] = []
            else:
                prefix = [self.masker.from_stored(e) for e in json.loads(checkpoint.data)]
        events = prefix + [self.masker.from_stored(json.loads(row.data)) for row in rows]
        if not (self.domain and events):
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        if not fetch_events_from_all_sessions:
            setattr(tracker, _VIEW_ATTR, _View(prefix=len(prefix), first_id=rows[0].id if rows else None,
                                               stored=len(rows)))
        return tracker

    def _checkpoint(self, session: Any, sender_id: Text) -> Any:
        """The conversation's checkpoint row (``first_event_id``, ``data``), if any and compaction is on."""
        if not self.compact_after_turns:
            return None
        return session.execute(sa.select(CHECKPOINTS.c.first_event_id, CHECKPOINTS.c.data)
                               .where(CHECKPOINTS.c.sender_id == sender_id)).first()

    def delete_conversations_older_than(self, days: float, now: Optional[float] = None) -> int:
        """Delete every conversation whose latest event is older than ``days`` days.

        Args:
            days: retention period (must be > 0).
            now: the current time as a UNIX timestamp (tests pass their own).

        Returns:
            The number of conversations deleted.
        """
        if days <= 0:
            raise ValueError("the retention period must be positive")
        cutoff = (now if now is not None else time.time()) - days * 86400
        table = self.SQLEvent.__table__
        stale = (sa.select(table.c.sender_id).group_by(table.c.sender_id)
                 .having(sa.func.max(table.c.timestamp) < cutoff))
        with self.engine.begin() as conn:
            senders = [row[0] for row in conn.execute(stale)]
            for start in range(0, len(senders), 500):
                batch = senders[start:start + 500]
                conn.execute(table.delete().where(table.c.sender_id.in_(batch)))
                conn.execute(CHECKPOINTS.delete().where(CHECKPOINTS.c.sender_id.in_(batch)))
        return len(senders)
