"""Config mistakes that parse but cannot work: a URL of one service under another's kind
(each kind claims its service's hosts in ``KindSpec.url_hosts``),
a variable set to nothing; and what a Teams channel's card format means for a test.

Pure. Each check adds a problem naming the key in the user's words and what the
value looks like; none repeats the URL or the variable's value (both may be
secrets), only the host's service and the variable's name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from shipper.config.kinds import Kinds, KindSpec
from shipper.config.model import ChannelConfig
from shipper.config.problems import Problems

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def service_of(url: str, kinds: Kinds) -> tuple[str, str] | None:
    """(the kind, a description) of the service whose host ``url`` names, if a kind claims
    it (``KindSpec.url_hosts``)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return None
    for spec in kinds.values():
        for suffix, what in spec.url_hosts:
            exact = suffix.lstrip(".")
            if host == exact or host.endswith("." + exact):
                return spec.kind, what
    return None


def check_url_kind(
    spec: KindSpec | None, kinds: Kinds, url: str | None, where: str, problems: Problems
) -> None:
    """An error when ``url``'s host belongs to another kind's service (a Slack webhook under
    a ``teams`` channel, a Teams one under ``slack``): that service would refuse every
    message, or worse, answer as if it took it. Only a kind that claims a service's hosts
    is checked: a plain webhook may well post to a Slack workflow trigger or a custom
    Power Automate flow, which take any JSON."""
    if spec is None or url is None or not spec.url_hosts:
        return
    found = service_of(url, kinds)
    if found is None or found[0] == spec.kind:
        return
    problems.error(
        f'{where}: looks like {found[1]}, but the channel has kind = "{spec.kind}"; '
        f'set kind = "{found[0]}", or use the {spec.kind} URL meant for it'
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


_FORMAT_NAMES = {"messagecard": "a MessageCard", "adaptivecard": "an Adaptive Card"}


def format_note(channel: ChannelConfig, status: int | None = None) -> str | None:
    """For a Teams channel, after ``shipper test``: which card was sent, why, and how to
    force the other (``status``: what the endpoint answered, if it did).

    A Workflows webhook behind a relay or a custom domain is not recognised by its host,
    gets a MessageCard, may answer 202 and then drop it: the test's success alone
    cannot tell, so the operator is told what was sent.
    """
    if channel.kind != "teams":
        return None
    sent = channel.teams_format
    other = "adaptivecard" if sent == "messagecard" else "messagecard"
    if sent == "messagecard" and status == 202:
        return (
            f"{channel.name}: sent a MessageCard and the endpoint answered 202, as Teams "
            "Workflows do: a Workflows flow may accept a MessageCard and post nothing. If no "
            f'card appears, set format = "adaptivecard" in [channels.{channel.name}]'
        )
    if sent == "messagecard":
        why = "the URL's host is not a Teams Workflows host"
        hint = (
            "if this is a Workflows webhook (behind a relay, say) and no card appears, "
            f'set format = "adaptivecard" in [channels.{channel.name}]'
        )
    else:
        why = "the URL's host is a Teams Workflows host, or format says so"
        hint = (
            "for a classic Office 365 connector, "
            f'set format = "{other}" in [channels.{channel.name}]'
        )
    return f"{channel.name}: sent {_FORMAT_NAMES[sent]} ({why}); {hint}"
