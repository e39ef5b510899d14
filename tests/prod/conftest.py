"""Fixtures of the production-profile tests: the whole stack on free ports in a temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.live import ci_model
from devtools.prod_stack import Ports, ProdStack, missing_binaries


@pytest.fixture(scope="module")
def prod_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProdStack]:
    """PostgreSQL, Redis, nginx, two Rasa servers (CI model), two action servers, the app server."""
    reason = missing_binaries()
    if reason:
        pytest.skip(reason)
    stack = ProdStack(root=tmp_path_factory.mktemp("prod"), model=ci_model(), ports=Ports.free())
    try:
        stack.start()
    except Exception as exc:
        logs = "\n".join(f"--- {n}\n{s.tail(1500)}" for n, s in stack.services.items())
        stack.stop()
        raise RuntimeError(f"the production stack did not start: {exc!r}\n{logs}") from None
    yield stack
    stack.stop()


def stack_root(stack: ProdStack) -> Path:
    """Where the stack keeps its state."""
    return stack.root
