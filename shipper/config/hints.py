"""Config mistakes that parse but cannot work: a URL of one service under another's kind,
a variable set to nothing.

Pure. Each check adds a problem naming the key in the user's words and what the
value looks like; none repeats the URL or the variable's value (both may be
secrets), only the host's service and the variable's name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from shipper.config.problems import Problems

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

# Host suffix -> the kind whose endpoint it is. Only hosts that serve one service's
# webhooks: a relay or a generic gateway is not recognised, so it is never flagged.
_SERVICE_HOSTS: tuple[tuple[str, str, str], ...] = (
    ("hooks.slack.com", "slack", "a Slack incoming webhook"),
    (".webhook.office.com", "teams", "a Microsoft Teams connector webhook"),
    (".logic.azure.com", "teams", "a Microsoft Teams Workflows webhook"),
    (".api.powerplatform.com", "teams", "a Microsoft Teams Workflows webhook"),
)


def service_of(url: str) -> tuple[str, str] | None:
    """(the kind, a description) of the service whose host ``url`` names, if one is known."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return None
    for suffix, kind, what in _SERVICE_HOSTS:
        exact = suffix.lstrip(".")
        if host == exact or host.endswith("." + exact):
            return kind, what
    return None


def check_url_kind(kind: str | None, url: str | None, where: str, problems: Problems) -> None:
    """An error when ``url`` is a Slack webhook under a ``teams`` channel or a Teams one
    under ``slack``: the service would refuse every message (and Slack's answer to a
    MessageCard reads like a success to nobody)."""
    if kind not in ("slack", "teams") or url is None:
        return
    found = service_of(url)
    if found is None or found[0] == kind:
        return
    problems.error(
        f'{where}: looks like {found[1]}, but the channel has kind = "{kind}"; '
        f'set kind = "{found[0]}", or use the {kind} URL meant for it'
    )


def empty_variables(raw: str, environ: Mapping[str, str]) -> list[str]:
    """The variables of ``raw`` (``${VAR}`` without a default) that are set but empty."""
    return [
        m.group(1)
        for m in _VAR.finditer(raw)
        if m.group(2) is None and environ.get(m.group(1)) == ""
    ]


def report_empty_url(
    raw: str, expanded: str, environ: Mapping[str, str], where: str, problems: Problems
) -> bool:
    """Whether ``expanded`` is empty because a variable is set to "" (reported, naming it)."""
    if expanded.strip():
        return False
    names = empty_variables(raw, environ)
    for name in names:
        problems.error(
            f"{where}: environment variable {name} is set but empty; give it the webhook URL"
        )
    return bool(names)
