"""Parsing of single config values: ``${VAR}`` expansion, durations, URLs, globs, addresses.

Pure. Each parser takes the key path it is reading, so every problem it reports
names that key; it records problems in a ``Problems`` collector instead of
raising, so one load reports all of them at once (``problems`` has the
collector and ``written``, which quotes a value as the user wrote it). Messages about URLs never
repeat the URL (it is a secret): they name the key and, at most, the host.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

# Re-exported: the parsers of other modules take the collector and quoting from here.
from shipper.config.problems import Problems as Problems
from shipper.config.problems import kind_of as kind_of
from shipper.config.problems import written as written
from shipper.config.severity import SEVERITY_LOOKUP, SEVERITY_NAMES, Severity

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?")
_UNIT_BYTES = {
    None: 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
}


def expand_env(
    value: str, environ: Mapping[str, str], where: str, problems: Problems
) -> str | None:
    """Replace ``${VAR}`` and ``${VAR:-default}``; ``None`` if a variable is unset."""
    missing: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = environ.get(name)
        if found is None or (found == "" and default is not None):
            if default is not None:
                return default
            missing.append(name)
            return ""
        return found

    expanded = _VAR.sub(substitute, value)
    for name in missing:
        problems.error(f"{where}: environment variable {name} is not set")
    return None if missing else expanded


def parse_duration(value: object, where: str, problems: Problems) -> float | None:
    """``"500ms"``, ``"10s"``, ``"1m"``, ``"1h30m"``, ``"1d"`` or a number of seconds; > 0."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION_PART.findall(text)
        if parts and "".join(n + u for n, u in parts) == text:
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if seconds is None:
        problems.error(
            f'{where}: {written(value)} is not a duration; write e.g. "500ms", "10s", "5m", '
            '"1h" or "1d"'
        )
        return None
    if seconds <= 0 or not math.isfinite(seconds):
        problems.error(f"{where}: must be longer than zero and finite, got {written(value)}")
        return None
    return seconds


def parse_size(value: object, where: str, problems: Problems) -> int | None:
    """A number of bytes, or ``"256MiB"``, ``"1GiB"``, ``"500MB"``; > 0."""
    size: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value.strip())):
        size = int(match.group(1)) * _UNIT_BYTES[match.group(2)]
    if size is None or size <= 0:
        problems.error(
            f'{where}: {written(value)} is not a size; write e.g. "256MiB", "1GiB" or a number '
            "of bytes"
        )
        return None
    return size


def is_loopback_host(host: str) -> bool:
    """``localhost`` or an address in 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_url(value: str, where: str, problems: Problems) -> str | None:
    """An ``https://`` URL with a host; ``http://`` only for loopback hosts."""
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
        _ = parts.port
    except ValueError:
        problems.error(f"{where}: not a valid URL")
        return None
    if parts.scheme not in ("http", "https") or not host:
        problems.error(f"{where}: must be an https:// URL with a host")
        return None
    if parts.scheme == "http" and not is_loopback_host(host):
        problems.error(
            f"{where}: must use https:// (http:// is allowed only for loopback "
            f"hosts such as 127.0.0.1), got http://{host}/…"
        )
        return None
    return value.strip()


def parse_glob(glob: str, where: str, problems: Problems) -> bool:
    """Check an action glob: non-empty, every ``[`` closed. True when usable."""
    if not glob:
        problems.error(f'{where}: an empty glob matches nothing; did you mean "*"?')
        return False
    i = 0
    while i < len(glob):
        if glob[i] == "[":
            j = i + 1
            if j < len(glob) and glob[j] == "!":
                j += 1
            if j < len(glob) and glob[j] == "]":
                j += 1
            close = glob.find("]", j)
            if close < 0:
                problems.error(f'{where}: glob {written(glob)} has a "[" that is never closed')
                return False
            i = close
        i += 1
    return True


def parse_listen(
    value: str, where: str, problems: Problems, shown: str | None = None
) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); ``shown``: how the user
    wrote it (before ``${VAR}`` expansion), for the error."""
    host, sep, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        shown = shown if shown is not None else written(value)
        problems.error(f'{where}: {shown} is not HOST:PORT, e.g. "127.0.0.1:9816"')
        return None
    return host, int(port_text)


def read_table(
    doc: Mapping[str, Any], key: str, problems: Problems, prefix: str = ""
) -> dict[str, Any]:
    """The sub-table ``key`` of ``doc`` (empty when absent or not a table)."""
    value = doc.get(key, {})
    if not isinstance(value, dict):
        problems.error(f"{prefix}{key}: must be a table, got {kind_of(value)}")
        return {}
    return value


def reject_unknown(
    table: Mapping[str, Any], known: set[str], prefix: str, problems: Problems
) -> None:
    """Report every key of ``table`` not in ``known``: a typo must not pass silently.

    The message suggests the closest known key when one is close (``min_severty`` ->
    ``min_severity``); only a key like none of them lists them all.
    """
    for key in table:
        if key not in known:
            problems.error(f"{prefix}{key}: unknown key; {suggest_key(key, known)}")


def suggest_key(key: str, known: set[str]) -> str:
    """``did you mean "x"?`` for the known key closest to ``key``, else every known key."""
    close = difflib.get_close_matches(key.lower(), sorted(known), n=1, cutoff=0.6)
    if close:
        return f'did you mean "{close[0]}"?'
    return f"expected one of {', '.join(sorted(known))}"


def read_string(
    table: Mapping[str, Any], key: str, prefix: str, environ: Mapping[str, str], problems: Problems
) -> str | None:
    """``table[key]`` as a string with ``${VAR}`` expanded; ``None`` after a problem."""
    value = table[key]
    if not isinstance(value, str):
        problems.error(f"{prefix}{key}: must be a string, got {kind_of(value)}")
        return None
    return expand_env(value, environ, f"{prefix}{key}", problems)


def read_secret(
    table: Mapping[str, Any],
    key: str,
    prefix: str,
    environ: Mapping[str, str],
    problems: Problems,
    *,
    posts: bool,
    variable: str,
) -> str | None:
    """A secret key's value with ``${VAR}`` expanded; ``None`` when absent or after a problem.

    A run that posts nothing needs no secret, so there an unset variable is only a
    warning. A secret written in the file itself is a warning naming ``variable``, the
    variable to put it in. No problem ever quotes the value.
    """
    if key not in table:
        return None
    raw = table[key]
    if not isinstance(raw, str):
        problems.error(f"{prefix}{key}: must be a string, got {kind_of(raw)}")
        return None
    target = problems if posts else problems.as_warnings()
    value = expand_env(raw, environ, f"{prefix}{key}", target)
    if value is not None and "${" not in raw:
        problems.warn(
            f"{prefix}{key}: is written in the config file itself; put it in an environment "
            f'variable and write "${{{variable}}}", so that the secret stays out of the file'
        )
    return value


def read_positive_int(
    table: Mapping[str, Any], key: str, prefix: str, default: int, problems: Problems
) -> int:
    """``table[key]`` as a whole number > 0, else ``default`` (with a problem if given)."""
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        problems.error(f"{prefix}{key}: must be a positive whole number, got {written(value)}")
        return default
    return value


def read_severity(
    table: Mapping[str, Any],
    key: str,
    prefix: str,
    environ: Mapping[str, str],
    problems: Problems,
    default: Severity,
) -> Severity:
    """``table[key]`` as a severity name or alias, else ``default``."""
    if key not in table:
        return default
    raw = read_string(table, key, prefix, environ, problems)
    if raw is None:
        return default
    found = SEVERITY_LOOKUP.get(raw.strip().lower())
    if found is None:
        names = ", ".join(SEVERITY_NAMES)
        problems.error(
            f"{prefix}{key}: unknown severity {written(table[key])}; expected one of {names} "
            "(or an alias such as warning, error, fatal)"
        )
        return default
    return found
