"""Kinds whose delivery is more than one POST: an exchange defined here, run by the real
poster against a fake on 127.0.0.1, and the body options a sink may ask for.

The toy exchange fetches a token before its first post, keeps it for every
channel of its kind, and fetches a new one when the endpoint answers 401: the
shape of Sentinel's client credentials. Only ``Poster(exchanges=...)`` knows of
it, as ``exchange.EXCHANGES`` would for a real kind.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence

import orjson

from shipper.config.model import ChannelConfig, DeliveryConfig
from shipper.config.severity import Severity
from shipper.delivery.exchange import ExchangeContext, Http
from shipper.delivery.poster import Poster
from shipper.routing.event import Alert
from shipper.sinks.answers import Answer, Delivered, GiveUp, Outcome, Retry
from shipper.sinks.base import FLOOD_CONTROL_OFF, Limits, Rendered, Secrets, Sink
from tests.integration.fake_webhook import FakeWebhook, Reply

SECRET = "client-secret-4b1d"


class TokenSink:
    kind = "tokened"
    limits = Limits(None, None, None, 10, FLOOD_CONTROL_OFF)
    secret_keys = frozenset({"label"})

    def render(self, channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
        return Rendered([a.raw for a in alerts], len(alerts))

    def read_answer(self, channel: ChannelConfig, answer: Answer, *, now: float) -> Outcome:
        if answer.status == 204:
            return Delivered(204, "stored")
        if answer.status == 401:
            return Retry(None, "token refused", 401)
        return GiveUp(f"refused: {answer.body}", answer.status)

    def secrets(self, channel: ChannelConfig) -> Secrets:
        return Secrets(values=(SECRET,))


class TokenExchange:
    """Fetches a token once for all channels of its kind; a 401 fetches a new one."""

    def __init__(self, context: ExchangeContext) -> None:
        self.context = context
        self.token: str | None = None
        self.fetched = 0

    async def send(
        self, http: Http, channel: ChannelConfig, sink: Sink, request: Rendered
    ) -> Outcome:
        for _ in range(2):
            if self.token is None:
                assert channel.url is not None
                answer = await http.request(
                    channel, sink, "POST", channel.url + "/token", headers={}, data=SECRET.encode()
                )
                if not isinstance(answer, Answer):
                    return answer
                self.fetched += 1
                self.token = orjson.loads(answer.body)["token"]
            headers = (("Authorization", f"Bearer {self.token}"),)
            outcome = await http.send(channel, sink, Rendered(request.payload, 1, headers))
            if not (isinstance(outcome, Retry) and outcome.status == 401):
                return outcome
            self.token = None
        return outcome


def alert(n: int) -> Alert:
    return Alert(n, {"n": n}, "x", Severity.HIGH, None, None, None, ())


def channel(name: str, url: str) -> ChannelConfig:
    return ChannelConfig(name, "tokened", url, delivery=DeliveryConfig(timeout=5.0))


async def test_an_exchange_fetches_a_token_shares_it_and_renews_it_on_401() -> None:
    made: list[TokenExchange] = []

    def factory(context: ExchangeContext) -> TokenExchange:
        made.append(TokenExchange(context))
        return made[-1]

    async with FakeWebhook(Reply(204, "")) as fake, Poster(exchanges={"tokened": factory}) as p:
        fake.script("/a/token", Reply(200, '{"token": "t1"}'), Reply(200, '{"token": "t2"}'))
        fake.script("/a", Reply(204, ""), Reply(401, "expired"), Reply(204, ""))
        a, b = channel("a", fake.to("/a")), channel("b", fake.to("/a"))
        sink = TokenSink()
        outcomes = [await p.post(a, sink, Rendered([{"n": 1}], 1))]
        outcomes.append(await p.post(b, sink, Rendered([{"n": 2}], 1)))
        fake.script("/a/token", Reply(200, f'{{"token": "t3", "echo": "{SECRET}"}}'))
        fake.script("/a", Reply(400, f"bad {SECRET}"))
        outcomes.append(await p.post(a, sink, Rendered([{"n": 3}], 1)))
    assert len(made) == 1, "one exchange per kind per run, shared by its channels"
    assert made[0].fetched == 2
    assert [type(o) for o in outcomes] == [Delivered, Delivered, GiveUp]
    assert SECRET not in outcomes[2].reason, "an exchange's outcome is scrubbed too"
    auth = [r.headers.get("Authorization") for r in fake.requests if r.path == "/a"]
    assert auth == ["Bearer t1", "Bearer t1", "Bearer t2", "Bearer t2"]


async def test_a_kind_without_an_exchange_is_one_post() -> None:
    async with FakeWebhook(Reply(204, "")) as fake, Poster(exchanges={}) as poster:
        outcome = await poster.post(channel("a", fake.to("/a")), TokenSink(), Rendered([1], 1))
    assert isinstance(outcome, Delivered)
    assert [r.path for r in fake.requests] == ["/a"]


async def test_a_sink_may_name_the_url_concatenate_items_and_gzip() -> None:
    payload = [{"event": {"n": 1}}, {"event": {"n": 2, "text": "é<>"}}]
    async with FakeWebhook(Reply(204, "")) as fake, Poster(exchanges={}) as poster:
        request = Rendered(payload, 2, url=fake.to("/collector"), framing="concatenated", gzip=True)
        outcome = await poster.post(channel("a", fake.to("/unused")), TokenSink(), request)
    assert isinstance(outcome, Delivered)
    (posted,) = fake.requests
    assert posted.path == "/collector"
    assert posted.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(posted.body) == b"".join(orjson.dumps(item) for item in payload)
