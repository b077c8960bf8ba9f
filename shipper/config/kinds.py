"""What loading a config needs to know of each kind of destination, as its sink declares it.

The config stage sits below the sinks and does not import them: whoever loads a
config (the CLI, a reload) passes the kinds in, each one a sink answering for
its own keys (``config_keys``, ``required_keys``), its defaults (``limits``)
and the settings it reads from a channel's table (``parse_settings``). So a
new kind of destination adds no row here: its sink is its whole description.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from shipper.config.values import Problems


class KindDefaults(Protocol):
    """The defaults a channel of a kind starts from, unless ``[delivery]`` or it says otherwise."""

    @property
    def max_rate(self) -> float | None:
        """Messages a second; ``None`` is unlimited."""

    @property
    def batch_max(self) -> int:
        """Events a message holds at most."""


class KindSpec(Protocol):
    """One kind of destination, as the config sees it."""

    @property
    def kind(self) -> str:
        """The ``kind`` a channel names."""

    @property
    def limits(self) -> KindDefaults:
        """Its default pace and batch size."""

    @property
    def config_keys(self) -> frozenset[str]:
        """Its keys beyond the ones every channel takes (``url`` and ``format`` included)."""

    @property
    def required_keys(self) -> frozenset[str]:
        """The keys of ``config_keys`` a channel of this kind must give."""

    def parse_settings(
        self,
        body: Mapping[str, Any],
        prefix: str,
        environ: Mapping[str, str],
        problems: Problems,
        *,
        posts: bool,
    ) -> object:
        """Its own settings from the channel's table (``None`` when it has none beyond
        ``url`` and ``format``), every problem added under ``prefix``."""


Kinds = Mapping[str, KindSpec]
