#!/usr/bin/env python3
"""The delivery end of bench/peer: one HTTP server on 127.0.0.1 for both contenders.

- ``POST /_bulk`` (rsyslog's omelasticsearch): NDJSON, an action line naming the
  ``_index`` (the channel) and the document; answers as Elasticsearch does, item by
  item: a document that is not JSON fails alone (status 400, ``"errors": true``).
- ``POST /hook/CHANNEL`` (shipper's ``kind = "webhook"``): one event or a JSON array.
- ``GET /arrivals``: every event received since the last ``POST /reset``, as
  ``[[channel, request_id, monotonic seconds], ...]`` (the first arrival of each);
- ``GET /posts``: how many requests delivered events since the last reset;
  ``GET`` anything else: 200 (omelasticsearch's health check).

Arrival times are ``time.monotonic()``, the machine's clock shared with run.py.
It prints its port on stdout once listening. Usage: python fake_bulk.py
"""

from __future__ import annotations

import asyncio
import sys
import time

import orjson
from aiohttp import web

arrivals: dict[tuple[str, str], float] = {}
posts = [0]  # requests that delivered events since the last reset


def _record(channel: str, event: object, now: float) -> None:
    if isinstance(event, dict):
        arrivals.setdefault((channel, str(event.get("request_id"))), now)


async def bulk(request: web.Request) -> web.Response:
    now = time.monotonic()
    posts[0] += 1
    lines = [line for line in (await request.read()).splitlines() if line.strip()]
    items = []
    errors = False
    for action, doc in zip(lines[0::2], lines[1::2], strict=False):
        index = orjson.loads(action).get("index", {}).get("_index", "?")
        try:
            _record(index, orjson.loads(doc), now)
            items.append({"index": {"_index": index, "status": 201}})
        except orjson.JSONDecodeError as exc:  # as Elasticsearch: this item fails, not all
            errors = True
            print(f"fake_bulk: rejected {doc[:300]!r}: {exc}", file=sys.stderr, flush=True)
            items.append({"index": {"_index": index, "status": 400}})
    body = {"took": 1, "errors": errors, "items": items}
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def hook(request: web.Request) -> web.Response:
    now = time.monotonic()
    posts[0] += 1
    body = orjson.loads(await request.read())
    channel = request.match_info["channel"]
    for event in body if isinstance(body, list) else [body]:
        _record(channel, event, now)
    return web.Response(status=204)


async def dump(_: web.Request) -> web.Response:
    rows = [[c, r, t] for (c, r), t in arrivals.items()]
    return web.Response(body=orjson.dumps(rows), content_type="application/json")


async def count(_: web.Request) -> web.Response:
    return web.Response(body=orjson.dumps(posts[0]), content_type="application/json")


async def reset(_: web.Request) -> web.Response:
    arrivals.clear()
    posts[0] = 0
    return web.Response(status=204)


async def ok(_: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"green"}', content_type="application/json")


async def main() -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/_bulk", bulk)
    app.router.add_post("/hook/{channel}", hook)
    app.router.add_get("/arrivals", dump)
    app.router.add_get("/posts", count)
    app.router.add_post("/reset", reset)
    app.router.add_route("*", "/{tail:.*}", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
