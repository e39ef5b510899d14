"""The back-ends the actions use, built lazily once per process (never at import).

Actions take these through optional constructor arguments, so tests pass their own
(repositories on a temporary database, a fake code sender) and the SDK's no-argument
construction gets these shared defaults.

The SMS sender of phone-ownership codes is composed by the process that starts the
action server (``python -m server.action_server`` installs Twilio's through
:func:`install_code_sender`); without one, codes go to the development sink
(:class:`casework.guards.DevSmsSink`) unless Twilio credentials are configured, in
which case sending fails closed rather than writing codes to a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

from actions.settings import ActionSettings, get_settings
from casework.cases import CaseDesk, wired_desk
from casework.guards import CodeSender, DevSmsSink, IdentityChecks, PhoneProofs
from casework.repository import CaseworkRepository
from knowledge.repository import KnowledgeRepository
from knowledge.search import KnowledgeSearch

_installed: list[CodeSender] = []


class NoCodeSender:
    """Fails every send: SMS credentials are configured but no sender was composed in."""

    def send(self, to: str, text: str) -> str:
        """Refuse (the action tells the citizen the code could not be sent)."""
        raise RuntimeError("TWILIO_ACCOUNT_SID is set but the action server was started without its SMS sender "
                           "(start it with `python -m server.action_server`)")


def install_code_sender(sender: CodeSender) -> None:
    """Make ``sender`` the process's sender of phone codes (called by the composition root)."""
    _installed[:] = [sender]
    default_stores.cache_clear()


def default_code_sender() -> CodeSender:
    """The installed sender, else the development sink when no SMS provider is configured."""
    if _installed:
        return _installed[0]
    if os.environ.get("TWILIO_ACCOUNT_SID", "").strip():
        return NoCodeSender()
    return DevSmsSink()


@dataclass
class Stores:
    """Everything an action may read or write (the guards default to the casework database)."""

    knowledge: KnowledgeRepository
    search: KnowledgeSearch
    casework: CaseworkRepository
    settings: ActionSettings
    identity: IdentityChecks | None = None
    proofs: PhoneProofs | None = None
    code_sender: CodeSender = field(default_factory=default_code_sender)
    desk: CaseDesk | None = None

    def __post_init__(self) -> None:
        if self.identity is None:
            self.identity = IdentityChecks(self.casework.factory)
        if self.proofs is None:
            self.proofs = PhoneProofs(self.casework.factory)

    @property
    def checks(self) -> IdentityChecks:
        """The identity-check counters (typed accessor)."""
        assert self.identity is not None
        return self.identity

    @property
    def case_desk(self) -> CaseDesk:
        """The case desk with its hooks (router, outbox, routing decisions), built on first use."""
        if self.desk is None:
            self.desk = wired_desk(self.casework.factory)
        return self.desk

    @property
    def phone_proofs(self) -> PhoneProofs:
        """The phone-ownership codes (typed accessor)."""
        assert self.proofs is not None
        return self.proofs


@lru_cache(maxsize=1)
def default_stores() -> Stores:
    """The configured database (KNOWLEDGE_DB_URL) and settings."""
    knowledge = KnowledgeRepository()
    return Stores(knowledge=knowledge, search=KnowledgeSearch(repository=knowledge),
                  casework=CaseworkRepository(knowledge.factory), settings=get_settings())
