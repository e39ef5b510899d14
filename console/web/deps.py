"""Repositories of the console, built once per app on first use and shared with the JSON API."""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from casework.repository import CaseworkRepository
from console.accounts import AccountRepository
from console.workflow import ReviewWorkflow
from knowledge.repository import KnowledgeRepository
from knowledge.search import KnowledgeSearch


def knowledge_repo() -> KnowledgeRepository:
    """The app's knowledge repository (the JSON API and its search use the same one).

    ``KNOWLEDGE_DB_URL`` in the app config points it at another database (tests);
    otherwise the configured default database is used.
    """
    ext = current_app.extensions
    if "knowledge_repository" not in ext:
        url = current_app.config.get("KNOWLEDGE_DB_URL")
        factory = None
        if url:
            from knowledge.db import get_engine, session_factory

            factory = session_factory(get_engine(url))
        ext["knowledge_repository"] = KnowledgeRepository(factory)
    return ext["knowledge_repository"]


def factory() -> sessionmaker[Session]:
    """The session factory of the knowledge database."""
    return knowledge_repo().factory


def casework_repo() -> CaseworkRepository:
    """Bookings, applications, inbox and feedback on the same database."""
    ext = current_app.extensions
    if "staff_casework" not in ext:
        ext["staff_casework"] = CaseworkRepository(factory())
    return ext["staff_casework"]


def accounts() -> AccountRepository:
    """Staff accounts on the same database."""
    ext = current_app.extensions
    if "staff_accounts" not in ext:
        ext["staff_accounts"] = AccountRepository(factory())
    return ext["staff_accounts"]


def workflow() -> ReviewWorkflow:
    """The review workflow over the app's knowledge repository."""
    ext = current_app.extensions
    if "staff_workflow" not in ext:
        ext["staff_workflow"] = ReviewWorkflow(knowledge_repo())
    return ext["staff_workflow"]


def search() -> KnowledgeSearch:
    """The app's search (shared with the JSON API under the same extension key)."""
    ext = current_app.extensions
    if "knowledge_search" not in ext:
        ext["knowledge_search"] = KnowledgeSearch(repository=knowledge_repo())
    return ext["knowledge_search"]
