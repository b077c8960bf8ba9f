"""``shipper run --dry-run``: route as a run would and print each message instead of posting it.

It shares the real run's lifecycle (signals, SIGHUP reload of the routing and
channels, systemd notify) but opens no state directory, spool, HTTP session
or metrics server: it prints ``{"channel": NAME, "payload": {...}}`` per
message on stdout and writes nothing to disk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

import orjson

from shipper.config.model import ChannelConfig, Config
from shipper.config.reload import ReloadPlan
from shipper.routing.event import Alert
from shipper.routing.intake import Intake
from shipper.run.lifecycle import Batch, Items, Lifecycle, RunResult, Source
from shipper.run.notify import Notifier
from shipper.sinks import sink_for


class DryRun(Lifecycle):
    """Prints the messages a run would post; posts nothing, writes no state."""

    def __init__(
        self, config: Config, out: BinaryIO, load: Callable[[], Config], notifier: Notifier
    ) -> None:
        super().__init__(config, load, notifier)
        self.out = out
        self.channels = {c.name: c for c in config.channels}

    async def run(self, source: Source) -> RunResult:
        try:
            await self.read_until_stopped(self._print(self.batches(source, None)))
        finally:
            self.remove_signal_handlers()
        return RunResult(self.intake.stats, piped_data=self.piped_data)

    async def apply(self, plan: ReloadPlan) -> bool:
        self.config = plan.config
        self.intake = Intake(plan.config, self.intake.stats)
        self.channels = {c.name: c for c in plan.config.channels}
        return True

    async def _print(self, batches: Items[Batch]) -> None:
        try:
            async for lines, _ in batches:
                channels = self.channels
                messages = [
                    orjson.dumps({"channel": name, "payload": _payload(channels[name], r.alert)})
                    for r in self.intake.process(lines)
                    for name in r.channels
                ]
                if messages:
                    self.out.write(b"\n".join(messages) + b"\n")
                    self.out.flush()
        finally:
            # A tailed file's reading thread has ended; what it read and nobody took is
            # not printed (a run would read it again).
            _, error = await batches.finish()
            if error is not None:
                raise error


def _payload(channel: ChannelConfig, alert: Alert) -> object:
    """What the channel would be sent for ``alert``; a message that could not be built is
    said so in its place, as a run would dead-letter it, and the dry run goes on."""
    try:
        rendered = sink_for(channel).render(channel, [alert])
    except Exception as exc:  # a renderer bug must not end the dry run
        return {"not_sent": f"could not render the message: {type(exc).__name__}: {exc}"}
    if rendered.refused is not None:
        return {"not_sent": rendered.refused, "payload": rendered.payload}
    return rendered.payload
