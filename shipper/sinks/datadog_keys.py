"""The datadog kind's own keys: ``api_key``, ``site``, ``service``, ``source``, ``tags``.

Pure. ``api_key`` is a secret: no problem quotes it, and one written in the file
itself (not as ``${VAR}``) is warned about. ``site`` must be one of Datadog's
sites (reference 3.1); a web UI or intake host pasted instead is answered with
the site it belongs to. ``url`` (a full intake URL) is read by the config, like
every kind's, and excludes ``site``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipper.config.values import Problems, read_secret, read_string, written

DEFAULT_SITE = "datadoghq.com"
# Datadog's sites (reference 3.1): the <site> of https://http-intake.logs.<site>.
SITES = (
    "datadoghq.com",
    "us3.datadoghq.com",
    "us5.datadoghq.com",
    "datadoghq.eu",
    "ap1.datadoghq.com",
    "ap2.datadoghq.com",
    "uk1.datadoghq.com",
    "ddog-gov.com",
    "us2.ddog-gov.com",
)
# What people paste instead: the web UI's host.
_SITE_OF_UI = {"app.datadoghq.com": "datadoghq.com", "app.datadoghq.eu": "datadoghq.eu"}
_SITE_OF_UI |= {"app.ddog-gov.com": "ddog-gov.com"}
_KEY_CHARS = re.compile(r"[\x21-\x7e]+")
_TAG = re.compile(r"[^,\s]{1,200}")


@dataclass(frozen=True, slots=True)
class DatadogSettings:
    """A datadog channel's own keys; ``api_key`` ``None`` only in a run that posts nothing."""

    api_key: str | None
    site: str = DEFAULT_SITE
    service: str | None = None
    source: str = "shipper"
    tags: tuple[str, ...] = ()


def parse_datadog_settings(
    body: Mapping[str, Any],
    prefix: str,
    environ: Mapping[str, str],
    problems: Problems,
    *,
    posts: bool,
) -> DatadogSettings:
    """A datadog channel's own keys from its table, every problem named under ``prefix``."""
    api_key = _api_key(body, prefix, environ, problems, posts=posts)
    site = DEFAULT_SITE
    if "site" in body:
        if "url" in body:
            problems.error(f"{prefix}site: give either site or url, not both")
        site = _site(body, prefix, environ, problems)
    service = read_string(body, "service", prefix, environ, problems) if "service" in body else None
    source = "shipper"
    if "source" in body:
        source = read_string(body, "source", prefix, environ, problems) or source
    return DatadogSettings(api_key, site, service or None, source, _tags(body, prefix, problems))


def _api_key(
    body: Mapping[str, Any],
    prefix: str,
    environ: Mapping[str, str],
    problems: Problems,
    *,
    posts: bool,
) -> str | None:
    key = read_secret(
        body, "api_key", prefix, environ, problems, posts=posts, variable="DD_API_KEY"
    )
    if key is None:
        return None
    # Never quote the value: it is the secret.
    if not key:
        problems.error(f"{prefix}api_key: is empty")
        return None
    if not _KEY_CHARS.fullmatch(key):
        problems.error(f"{prefix}api_key: contains spaces or control characters")
        return None
    if len(key) == 40:
        problems.warn(
            f"{prefix}api_key: has 40 characters, like a Datadog application key; logs need "
            "an API key (32 characters, Organization Settings > API Keys)"
        )
    return key


def _site(
    body: Mapping[str, Any], prefix: str, environ: Mapping[str, str], problems: Problems
) -> str:
    site = read_string(body, "site", prefix, environ, problems)
    if site is None:
        return DEFAULT_SITE
    site = site.strip().lower()
    if site in SITES:
        return site
    # An intake or web host pasted whole: name the site it belongs to.
    hint = _SITE_OF_UI.get(site) or max(
        (s for s in SITES if site.endswith("." + s)), key=len, default=None
    )
    advice = f' (for {site} write "{hint}")' if hint else ""
    problems.error(
        f"{prefix}site: unknown Datadog site {written(body['site'])}{advice}; expected one of "
        f"{', '.join(SITES)}, or give url"
    )
    return DEFAULT_SITE


def _tags(body: Mapping[str, Any], prefix: str, problems: Problems) -> tuple[str, ...]:
    if "tags" not in body:
        return ()
    value = body["tags"]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        problems.error(
            f'{prefix}tags: must be a list of strings like "env:prod", got {written(value)}'
        )
        return ()
    for tag in value:
        if not _TAG.fullmatch(tag):
            problems.error(
                f"{prefix}tags: {written(tag)} is not a Datadog tag: 1 to 200 characters, "
                "no comma and no space"
            )
            return ()
    return tuple(value)
