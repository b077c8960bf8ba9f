"""What stdin holds when a run tails a file (issue 15, finding 4)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from shipper.run.piped import PipeWatch, conflict_message, piped_input


def test_a_pipe_with_data_an_empty_pipe_and_what_is_no_input(tmp_path: Path) -> None:
    read, write = os.pipe()
    with os.fdopen(read, "rb") as reader, os.fdopen(write, "wb") as writer:
        assert piped_input(reader) == "pipe"
        writer.write(b'{"action": "x"}\n')
        writer.flush()
        assert piped_input(reader) == "data"
        assert reader.read1(100) == b'{"action": "x"}\n', "counted, never taken"
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"{}\n")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with events.open("rb") as f, empty.open("rb") as e, open(os.devnull, "rb") as null:
        assert piped_input(f) == "data"
        assert piped_input(e) is None
        assert piped_input(null) is None
    assert piped_input(None) is None


async def test_the_watch_fires_on_data_and_not_at_the_end_of_the_pipe() -> None:
    for data, expected in ((b"{}\n", True), (b"", False)):
        read, write = os.pipe()
        fired = asyncio.Event()
        watch = PipeWatch(read, fired.set)
        watch.start()
        if data:
            os.write(write, data)
        os.close(write)
        # The reader runs within a loop turn or two; the end of the pipe unregisters it.
        for _ in range(100):
            await asyncio.sleep(0.01)
            if fired.is_set() or not watch.is_watching:
                break
        assert fired.is_set() is expected
        assert not watch.is_watching, "watched once, then forgotten"
        os.close(read)


def test_the_message_says_how_to_choose() -> None:
    text = conflict_message("/var/log/my gw/audit.jsonl")
    assert "--input -" in text and "--input '/var/log/my gw/audit.jsonl'" in text
