"""Every spool a test opened with ``tests.support.spools.open_spool`` is closed after it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.spools import close_opened


@pytest.fixture(autouse=True)
async def _close_spools() -> AsyncIterator[None]:
    yield
    await close_opened()
