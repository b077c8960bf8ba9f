"""``load_position``: the saved file position alone, for tests that do not look at spool ends."""

from __future__ import annotations

from pathlib import Path

from shipper.sources.position import FilePosition, load_checkpoint


def load_position(path: Path) -> FilePosition | None:
    """The position saved at ``path``; ``None`` when there is none (see ``load_checkpoint``)."""
    checkpoint = load_checkpoint(path)
    return checkpoint.position if checkpoint is not None else None
