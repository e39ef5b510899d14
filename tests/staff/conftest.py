"""Staff console fixtures: the real app server on a private seeded database, one account per role."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

PASSWORD = "correct-horse-battery"  # test-only, per-test databases
USERS = {"editor": "editor", "editor2": "editor", "reviewer": "reviewer", "reviewer2": "reviewer", "admin": "admin",
         "dispatcher": "dispatcher", "handler": "handler", "handler2": "handler", "agent": "agent", "agent2": "agent"}
DEPARTMENTS = {"handler": "urban_construction", "handler2": "environment"}  # the case desk's handlers
TOKEN_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Staff:
    """The app under test and its repositories."""

    app: Flask
    knowledge: Any
    casework: Any
    accounts: Any
    workflow: Any


@pytest.fixture
def staff(seeded_url: str, tmp_path) -> Iterator[Staff]:
    """The app server (``server.create_app``) with the console on a private seeded database."""
    from console.web.deps import accounts, casework_repo, knowledge_repo
    from console.workflow import ReviewWorkflow
    from server import create_app

    app = create_app({"TESTING": True, "KNOWLEDGE_DB_URL": seeded_url, "SECRET_KEY": secrets.token_hex(32),
                      "TRACKER_DB_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
                      "CASEWORK_ROUTER_MODEL": str(tmp_path / "routing_model.joblib")})
    with app.app_context():
        acc, kb, cw = accounts(), knowledge_repo(), casework_repo()
    for name, role in USERS.items():
        acc.create(name, PASSWORD, role, actor="test", department_id=DEPARTMENTS.get(name, ""))
    cw.load_sample_applications()
    yield Staff(app, kb, cw, acc, ReviewWorkflow(kb))


@pytest.fixture
def client(staff: Staff) -> FlaskClient:
    """A browser-like client over HTTPS (the session cookie is Secure)."""
    client = staff.app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    return client


def token(client: FlaskClient, path: str = "/staff/login") -> str:
    """The CSRF token of the form on ``path``."""
    page = client.get(path).get_data(as_text=True)
    match = TOKEN_RE.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> Any:
    """Sign in through the login form."""
    return client.post("/staff/login", data={"username": username, "password": password,
                                             "csrf_token": token(client)})


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    """POST with the session's CSRF token."""
    return client.post(path, data={**(data or {}), "csrf_token": token(client, "/staff/account")}, **kw)


def as_user(client: FlaskClient, username: str) -> FlaskClient:
    """``client`` signed in as ``username``."""
    res = login(client, username)
    assert res.status_code == 302, res.get_data(as_text=True)[:500]
    return client
