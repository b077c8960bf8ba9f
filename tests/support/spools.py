"""Spools opened by a test, closed after it even when it fails: ``open_spool``.

``tests/unit/spool/conftest.py`` closes them (``close_opened``) after each test, so a
failing assertion never leaves a spool's files open for the next test to trip on.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from shipper.errors import SpoolError
from shipper.spool.spool import Spool

_opened: list[Spool] = []


async def open_spool(directory: Path, **kwargs: Any) -> Spool:
    """``Spool.open``, remembered so a failing test still closes its files."""
    spool = await Spool.open(directory, **kwargs)
    _opened.append(spool)
    return spool


async def close_opened() -> None:
    """Close every spool ``open_spool`` opened and nobody closed (a closed one: no-op)."""
    while _opened:
        with contextlib.suppress(SpoolError):
            await _opened.pop().aclose()
