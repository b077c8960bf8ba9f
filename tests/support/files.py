"""Small file helpers the tests share."""

from __future__ import annotations

from pathlib import Path


def append(path: Path, *chunks: bytes) -> None:
    """Append ``chunks`` to ``path`` in one write, as a logging process would."""
    with path.open("ab") as f:
        f.write(b"".join(chunks))
