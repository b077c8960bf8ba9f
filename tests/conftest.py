"""Fixtures every layer of tests shares: the scripted fake webhook on 127.0.0.1.

Plain helpers live beside them: ``tests/support/alerts.py`` (the ``Alert``
factory), ``tests/integration/fake_webhook.py`` (the fake itself) and
``tests/e2e/cli.py`` (the real CLI in a subprocess). A test file that needs
the fake to answer differently overrides ``fake`` by asking for it and
scripting it, so the server is still started and stopped here only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.fake_webhook import FakeWebhook, Reply


@pytest.fixture
async def fake() -> AsyncIterator[FakeWebhook]:
    """A fake webhook that answers 204 to every path a test does not script."""
    async with FakeWebhook(Reply(204, "")) as server:
        yield server
