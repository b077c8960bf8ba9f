"""Sending a request again in halves when the service answers 413 (too large).

The SIEM kinds pack each request within their service's documented limits,
so a 413 means the limit in front of the service is lower (a proxy, a relay,
a service that changed it). ``send_halving`` then sends the same entries in
two requests, each halved again on another 413, in order, until one entry
alone is refused: that one is over any limit and is given up with the reason.
The outcome covers the whole request: delivered when every part was; else the
first failed part's outcome for all of it: a retry sends every part again (a
part delivered before may arrive twice), a refusal dead-letters every part
(one delivered before is then also kept there): at least once, never lost.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from shipper.sinks.answers import Delivered, GiveUp, Outcome
from shipper.sinks.base import Rendered

TOO_LARGE = 413


async def send_halving(
    post: Callable[[Rendered], Awaitable[Outcome]], request: Rendered
) -> Outcome:
    """``post(request)``, and on a 413 the same entries posted in halves, in order."""
    outcome = await post(request)
    entries = request.payload
    if not (isinstance(outcome, GiveUp) and outcome.status == TOO_LARGE) or len(entries) < 2:
        return outcome
    half = len(entries) // 2
    for part in (entries[:half], entries[half:]):
        piece = dataclasses.replace(request, payload=part, count=len(part))
        outcome = await send_halving(post, piece)
        if not isinstance(outcome, Delivered):
            return outcome
    return dataclasses.replace(
        outcome, reason=f"{outcome.reason} (in smaller requests after a {TOO_LARGE})"
    )
