"""Integration fixtures: worker delays and the fake's request times share one ``FakeClock``,
so a test reads backoff, Retry-After and pacing as exact numbers without waiting."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.fake_webhook import FakeWebhook
from tests.support.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def fake(clock: FakeClock) -> AsyncIterator[FakeWebhook]:
    """A fake webhook that answers 200 "ok" to every path a test does not script."""
    async with FakeWebhook(clock=clock.monotonic) as server:
        yield server
