"""The back-ends the actions use, built lazily once per process (never at import).

Actions take these through optional constructor arguments, so tests pass their own
(repositories on a temporary database) and the SDK's no-argument construction gets
these shared defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from actions.settings import ActionSettings, get_settings
from casework.repository import CaseworkRepository
from knowledge.repository import KnowledgeRepository
from knowledge.search import KnowledgeSearch


@dataclass
class Stores:
    """Everything an action may read or write."""

    knowledge: KnowledgeRepository
    search: KnowledgeSearch
    casework: CaseworkRepository
    settings: ActionSettings


@lru_cache(maxsize=1)
def default_stores() -> Stores:
    """The configured database (KNOWLEDGE_DB_URL) and settings."""
    knowledge = KnowledgeRepository()
    return Stores(knowledge=knowledge, search=KnowledgeSearch(repository=knowledge),
                  casework=CaseworkRepository(knowledge.factory), settings=get_settings())
