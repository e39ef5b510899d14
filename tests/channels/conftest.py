"""Fixtures of the channel tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.fake_telegram import FakeBotAPI, serve


@pytest.fixture
def fake_telegram() -> Iterator[FakeBotAPI]:
    """A fake Bot API on a free loopback port."""
    with serve() as api:
        yield api
