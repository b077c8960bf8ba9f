"""``load_config`` as the CLI calls it: with the kinds of destination the sinks declare."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from shipper.config import load
from shipper.config.model import Config
from shipper.sinks import SINKS


def load_config(path: Path, environ: Mapping[str, str], *, posts: bool = True) -> Config:
    """Read and validate the config at ``path`` against every kind ``shipper`` knows."""
    return load.load_config(path, environ, kinds=SINKS, posts=posts)
