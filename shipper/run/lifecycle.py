"""The lifecycle that real and dry runs share: read until stopped, reload on SIGHUP, tell systemd.

``Lifecycle.read_until_stopped`` runs the reading until the input ends or
SIGTERM/SIGINT arrives (a second SIGINT sets ``forced``). Signal handlers only
set events. SIGHUP asks for a reload: the config file is read again (same path,
same environment); an invalid one is refused with each problem logged and the
running config stays; a valid one is handed to the subclass's ``apply``, which
swaps routing between two batches of lines. The ``Notifier`` tells systemd
READY once the source is open, RELOADING/READY around a reload, STOPPING when
reading ends. ``raise_open_files_limit`` gives a run the file descriptors the
system allows it before anything is opened.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import logging
import resource
import signal
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from shipper.config.model import Config
from shipper.config.reload import ReloadPlan, plan_reload
from shipper.errors import ConfigError
from shipper.ops.logs import protect_secret, protect_urls
from shipper.ops.status import SourceState
from shipper.routing.intake import Intake, IntakeStats
from shipper.run.notify import Notifier
from shipper.run.piped import PipeWatch, conflict_message
from shipper.run.tasks import cancel_and_wait, wait_first
from shipper.sinks import channel_secrets
from shipper.sources.file import FileTail
from shipper.sources.lines import Block, Line
from shipper.sources.position import FilePosition
from shipper.sources.stdin import read_lines

log = logging.getLogger(__name__)

Batch = tuple[Sequence[Line], FilePosition | None]
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Below this many open files a run with a few channels and a metrics server may run short.
LOW_OPEN_FILES = 256
# The soft limit asked for when the hard one is "unlimited" (the kernel refuses that).
_UNLIMITED_OPEN_FILES = 1 << 20


def raise_open_files_limit() -> int:
    """Raise the soft limit on open files to the hard one; returns the soft limit now in force.

    The tailed file, each channel's spool and dead letters, the webhook connections and the
    metrics server's connections all take file descriptors, and many systems start a process
    at a soft limit of 1024 while allowing far more. Where raising it is not allowed (under
    systemd's ``SystemCallFilter=~@resources``, say) it stays as it is: the unit sets it
    (``LimitNOFILE=``).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = _UNLIMITED_OPEN_FILES if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (OSError, ValueError) as exc:
            log.debug("open files limit stays at %d: %s", soft, exc)
    if soft != resource.RLIM_INFINITY and soft < LOW_OPEN_FILES:
        log.warning(
            "the open files limit is %d: shipper may run short of file descriptors; raise it "
            "to %d or more (ulimit -n, or LimitNOFILE= in its systemd unit)",
            soft,
            LOW_OPEN_FILES,
        )
    return soft


@dataclass(frozen=True)
class Source:
    """Where to read: stdin (``path`` None) or a file to tail."""

    path: Path | None
    fd: int = 0
    from_beginning: bool = False
    # A file is tailed while stdin is a pipe: data arriving on it stops the run (``piped``).
    watch_pipe: bool = False


@dataclass
class RunResult:
    """How a run ended: what was read, what is still queued for the next run, and how many
    events this run wrote to dead-letter files."""

    intake: IntakeStats
    undelivered: int = 0
    forced: bool = False
    failed: bool = False
    dead_lettered: int = 0
    piped_data: bool = False  # stopped because events were piped to a run tailing a file


class Lifecycle(abc.ABC):
    """Reading until the input ends or a signal arrives; reloading on SIGHUP."""

    def __init__(self, config: Config, load: Callable[[], Config], notifier: Notifier) -> None:
        self.config = config
        self.intake = Intake(config)
        self.stopping = asyncio.Event()
        self.forced = asyncio.Event()
        self.tail: FileTail | None = None
        self.source_state = SourceState.STARTING
        self.notifier = notifier
        self._load = load
        self._reload_wanted = asyncio.Event()
        self._is_reading = False
        self.piped_data = False
        self._pipe_watch: PipeWatch | None = None

    def batches(self, source: Source, saved: FilePosition | None) -> Items[Batch]:
        """Batches of lines, each with the position to save once they are durable."""
        return self.routed(source, saved, _as_batch)

    def routed(
        self,
        source: Source,
        saved: FilePosition | None,
        step: Callable[[Sequence[Line], FilePosition | None], T | None],
        skip: Callable[[Block], bool] | None = None,
    ) -> Items[T]:
        """``step(lines, position)`` of each batch, where ``None`` is left out; ``finish``
        the result.

        A tailed file's batches are read and stepped in a thread of its own
        (``FileTail.reading``), where the thread also calls ``step((), None)`` at each
        idle poll, and asks ``skip`` which blocks of lines to pass over with no step
        (then the next idle poll and the stop step ``((), position)`` past them).
        stdin's are stepped on the event loop.
        """
        max_bytes = self.config.source.max_line_bytes
        if source.path is None:
            return _StdinItems(_stdin_routed(source.fd, max_bytes, step))
        if source.watch_pipe:
            self._pipe_watch = PipeWatch(source.fd, functools.partial(self._on_piped, source.path))
            self._pipe_watch.start()
        self.tail = FileTail(
            source.path,
            saved=saved,
            start_at=self.config.source.start_at,
            from_beginning=source.from_beginning,
            max_line_bytes=max_bytes,
        )
        return self.tail.reading(
            lambda b: step((), None) if b is None else step(b.lines, b.position), skip
        )

    @abc.abstractmethod
    async def apply(self, plan: ReloadPlan) -> bool:
        """Run ``plan.config`` from now on; ``False`` if it was refused (nothing changed)."""

    def on_signal(self, sig: signal.Signals) -> None:
        if self.stopping.is_set():
            if sig is signal.SIGINT:
                log.warning("second interrupt: stopping now")
                self.forced.set()
            return
        log.info(
            "%s received: no more reading; delivering what is queued (up to %gs)",
            sig.name,
            self.config.delivery.drain_timeout,
        )
        self.stopping.set()

    def on_reload_signal(self) -> None:
        if not self._is_reading:
            log.info("SIGHUP received while stopping: not reloading")
            return
        self._reload_wanted.set()

    async def read_until_stopped(self, reading: Coroutine[Any, Any, None]) -> None:
        """Run ``reading`` until it ends or a stop signal arrives, then cancel it.

        Signal handlers stay set afterwards (a drain follows): call
        ``remove_signal_handlers`` at the very end.
        """
        loop = asyncio.get_running_loop()
        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, self.on_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, self.on_reload_signal)
        self._is_reading = True
        announce = asyncio.create_task(self._announce(), name="announce")
        reader = asyncio.create_task(reading, name="read")
        stop = asyncio.create_task(self.stopping.wait())
        reloads = asyncio.create_task(self._reload_on_signal(), name="reload")
        try:
            await asyncio.wait({reader, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._is_reading = False
            announce.cancel()
            stop.cancel()
            if not reader.done():
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            await cancel_and_wait(announce, stop)
            if self.source_state is not SourceState.FAILED:
                self.source_state = SourceState.STOPPING
            self.notifier.stopping()
            await self._end_reloads(reloads)

    def _on_piped(self, path: Path) -> None:
        log.error("%s; stopping", conflict_message(str(path)))
        self.piped_data = True
        self.stopping.set()

    def remove_signal_handlers(self) -> None:
        if self._pipe_watch is not None:
            self._pipe_watch.stop()
        loop = asyncio.get_running_loop()
        for sig in (*_STOP_SIGNALS, signal.SIGHUP):
            loop.remove_signal_handler(sig)

    async def _announce(self) -> None:
        """Say "started" once the source is open: from then on, appended lines are read."""
        if self.tail is not None:
            await self.tail.ready.wait()
        log.info(
            "started: reading %s; channels: %s",
            self.tail.path if self.tail is not None else "stdin",
            ", ".join(c.name for c in self.config.channels),
        )
        if self.source_state is SourceState.STARTING:
            self.source_state = SourceState.READING
        self.notifier.ready()

    async def _reload_on_signal(self) -> None:
        while True:
            await self._reload_wanted.wait()
            self._reload_wanted.clear()
            if not self._is_reading:
                return
            self.notifier.reloading()
            try:
                await self.reload()
            except Exception:  # a bug in reloading must not end the run
                log.exception("unexpected error while reloading; please report it")
            finally:
                if self._is_reading:  # else STOPPING was sent: READY would contradict it
                    self.notifier.ready()

    async def reload(self) -> bool:
        """Read the config file again and run it; ``False`` if it was refused."""
        path = self.config.path
        log.info("SIGHUP received: reloading %s", path)
        try:
            new = await asyncio.to_thread(self._load)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("invalid config %s: %s", path, problem)
            log.error("reload refused: the running config stays")
            return False
        for warning in new.warnings:
            logging.getLogger("shipper.config.load").warning("%s", warning)
        plan = plan_reload(self.config, new)
        for warning in plan.warnings:
            log.warning("reload: %s", warning)
        found = channel_secrets(new.channels)
        protect_urls(found.urls)
        for value in found.values:
            protect_secret(value)
        if not await self.apply(plan):
            return False
        log.info("reloaded %s: %s", path, plan.summary)
        return True

    async def _end_reloads(self, reloads: asyncio.Task[None]) -> None:
        """Let a reload under way finish (its steps are bounded) unless a second SIGINT
        says stop now; no reload starts after this."""
        self._reload_wanted.set()
        await wait_first(asyncio.shield(reloads), self.forced.wait())
        await cancel_and_wait(reloads)


async def _stdin_routed(
    fd: int, max_line_bytes: int, step: Callable[[Sequence[Line], FilePosition | None], T | None]
) -> AsyncGenerator[T, None]:
    async for lines in read_lines(fd, max_line_bytes):
        item = step(lines, None)
        del lines  # neither is kept alive while the next chunk is read
        if item is not None:
            yield item
        del item


class Items(Protocol[T_co]):
    """What a source hands over, in order, until ``finish``: the items it handed over and
    nobody took, and what the reading raised and nobody saw (``sources.file.Reading``)."""

    def __aiter__(self) -> AsyncIterator[T_co]: ...

    async def finish(self) -> tuple[Sequence[T_co], BaseException | None]: ...


class _StdinItems(Generic[T]):
    """stdin's items: read and stepped on the loop, so nothing waits untaken at the end."""

    def __init__(self, items: AsyncGenerator[T, None]) -> None:
        self._items = items

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items

    async def finish(self) -> tuple[list[T], BaseException | None]:
        await self._items.aclose()
        return [], None


def _as_batch(lines: Sequence[Line], position: FilePosition | None) -> Batch | None:
    # An idle poll of a tailed file (no lines, no position) is no batch.
    return (lines, position) if lines or position is not None else None
