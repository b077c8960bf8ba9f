"""A splunk channel's own config keys: ``SplunkSettings`` and how they are read.

Pure. Part of the config stage's reading of a channel (``KindSpec.parse_settings``):
every problem names its key path and none shows the token, which goes into a
header and so may hold no space or line break. ``url`` must be the HEC base
(shipper adds the endpoint's path), since a URL that already ends in
``/services/collector`` would post to a path HEC does not have.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipper.config.values import (
    Problems,
    expand_env,
    kind_of,
    parse_duration,
    read_secret,
    read_string,
    written,
)

DEFAULT_ACK_TIMEOUT = 300.0  # Vector waits about 5 minutes for an ack (reference 2.6)
# Header values must not carry line breaks or other controls; HEC tokens are GUIDs.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")
_NAME_SAFE = re.compile(r"[^\x00-\x1f\x7f]+")
_INDEX = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


@dataclass(frozen=True, slots=True)
class SplunkSettings:
    """A splunk channel's own keys; ``host`` ``None`` is the machine's name."""

    token: str | None
    index: str | None = None
    source: str = "shipper"
    sourcetype: str = "shipper:audit"
    host: str | None = None
    acknowledgements: bool = False
    ack_timeout: float = DEFAULT_ACK_TIMEOUT


def parse_splunk(
    body: Mapping[str, Any],
    prefix: str,
    environ: Mapping[str, str],
    problems: Problems,
    *,
    posts: bool,
) -> SplunkSettings:
    """A splunk channel's keys; every problem names its key, none shows the token."""
    defaults = SplunkSettings(token=None)
    _check_base_url(body, prefix, environ, problems)
    token = None
    if "token" in body:
        token = read_secret(
            body, "token", prefix, environ, problems, posts=posts, variable="SPLUNK_HEC_TOKEN"
        )
        if token is not None and not _HEADER_SAFE.fullmatch(token):
            problems.error(
                f"{prefix}token: must be the HEC token alone (a GUID such as "
                "12345678-9abc-def0-1234-56789abcdef0), without spaces, line breaks or the "
                '"Splunk " prefix'
            )
            token = None
    index = _name(body, "index", prefix, environ, problems)
    if index is not None and not _INDEX.fullmatch(index):
        problems.error(
            f"{prefix}index: {written(body['index'])} is not an index name (letters, digits, "
            '"_" and "-")'
        )
    acks = body.get("acknowledgements", defaults.acknowledgements)
    if not isinstance(acks, bool):
        problems.error(f"{prefix}acknowledgements: must be true or false, got {kind_of(acks)}")
        acks = defaults.acknowledgements
    ack_timeout = defaults.ack_timeout
    if "ack_timeout" in body:
        ack_timeout = (
            parse_duration(body["ack_timeout"], f"{prefix}ack_timeout", problems) or ack_timeout
        )
    return SplunkSettings(
        token=token,
        index=index,
        source=_name(body, "source", prefix, environ, problems) or defaults.source,
        sourcetype=_name(body, "sourcetype", prefix, environ, problems) or defaults.sourcetype,
        host=_name(body, "host", prefix, environ, problems),
        acknowledgements=acks,
        ack_timeout=ack_timeout,
    )


def _name(
    body: Mapping[str, Any],
    key: str,
    prefix: str,
    environ: Mapping[str, str],
    problems: Problems,
) -> str | None:
    """``body[key]``, a name for Splunk's metadata; ``None`` when absent or wrong."""
    if key not in body:
        return None
    value = read_string(body, key, prefix, environ, problems)
    if value is not None and not _NAME_SAFE.fullmatch(value):
        problems.error(f"{prefix}{key}: must be a non-empty name without control characters")
        return None
    return value


def _check_base_url(
    body: Mapping[str, Any], prefix: str, environ: Mapping[str, str], problems: Problems
) -> None:
    """``url`` is the HEC base: shipper adds the endpoint's path itself."""
    value = body.get("url")
    if not isinstance(value, str):
        return  # the common code reports it
    # The common code reports an unset variable; this only looks at the URL's shape.
    expanded = expand_env(value, environ, f"{prefix}url", Problems())
    if expanded is not None and "/services/collector" in expanded:
        problems.error(
            f"{prefix}url: must be the HEC base URL, e.g. https://splunk:8088, without "
            "/services/collector: shipper adds the endpoint's path"
        )
