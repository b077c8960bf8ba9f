"""Test-side tools around channel workers: what each post came to, a rendering of the test's
own on a real kind's answers, and draining worker tasks to a deadline.

None of this is in the package: the program observes a worker through its
logs and ``WorkerStats``; tests want each outcome as an object, so
``Recorder`` wraps the poster and the dead-letter sink the worker is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from shipper.config.model import ChannelConfig
from shipper.delivery.deadletter import DeadLetterSink
from shipper.delivery.poster import Sender
from shipper.routing.event import Alert
from shipper.sinks import SINKS
from shipper.sinks.answers import Answer, Delivered, GiveUp, Outcome
from shipper.sinks.base import Limits, Rendered, Secrets, Sink

Render = Callable[[ChannelConfig, Sequence[Alert]], Rendered]


@dataclass(frozen=True, slots=True)
class Report:
    """One post (or a message that could not be rendered) and what came of it."""

    outcome: Outcome
    count: int
    attempt: int
    dead_lettered: bool


class Recorder:
    """Wraps the poster and the dead letters a worker is given, and records a ``Report`` per
    post; ``changed`` is set on every new one."""

    def __init__(self, poster: Sender, dead_letters: DeadLetterSink) -> None:
        self.reports: list[Report] = []
        self.changed = asyncio.Event()
        self._poster = poster
        self._dead_letters = dead_letters
        self._attempt = 0
        self.poster: Sender = _RecordingSender(self)
        self.dead_letters: DeadLetterSink = _RecordingDeadLetters(self)

    def add(self, report: Report) -> None:
        self.reports.append(report)
        self.changed.set()


class _RecordingSender:
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    async def post(self, channel: ChannelConfig, sink: Sink, request: Rendered) -> Outcome:
        recorder = self._recorder
        outcome = await recorder._poster.post(channel, sink, request)
        recorder._attempt += 1
        recorder.add(Report(outcome, request.count, recorder._attempt, False))
        if isinstance(outcome, Delivered):
            recorder._attempt = 0
        return outcome


class _RecordingDeadLetters:
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    def write(self, channel_name: str, alerts: Sequence[Alert], reason: str, attempts: int) -> None:
        recorder = self._recorder
        recorder._dead_letters.write(channel_name, alerts, reason, attempts)
        recorder._attempt = 0
        last = recorder.reports[-1] if recorder.reports else None
        if last is not None and last.outcome.reason == reason and not last.dead_lettered:
            recorder.reports[-1] = Report(last.outcome, len(alerts), attempts, True)
            recorder.changed.set()
        else:  # nothing was posted: the message could not be rendered
            recorder.add(Report(GiveUp(reason), len(alerts), attempts, True))


@dataclass(frozen=True)
class Rerendered:
    """A real kind's sink (its answers, limits, secrets) with the test's own rendering."""

    base: Sink
    render_with: Render

    @classmethod
    def of(cls, kind: str, render_with: Render) -> Rerendered:
        return cls(SINKS[kind], render_with)

    @property
    def kind(self) -> str:
        return self.base.kind

    @property
    def limits(self) -> Limits:
        return self.base.limits

    @property
    def secret_keys(self) -> frozenset[str]:
        return self.base.secret_keys

    def render(self, channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
        return self.render_with(channel, alerts)

    def read_answer(self, channel: ChannelConfig, answer: Answer, *, now: float) -> Outcome:
        return self.base.read_answer(channel, answer, now=now)

    def secrets(self, channel: ChannelConfig) -> Secrets:
        return self.base.secrets(channel)


async def drain_workers(tasks: Collection[asyncio.Task[None]], seconds: float) -> bool:
    """Wait up to ``seconds`` for worker tasks whose backlogs were closed; cancel the rest.

    ``True`` when every worker finished (its backlog is empty).
    """
    if not tasks:
        return True
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, seconds))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return not pending
