"""Finding secrets in text whatever encoding they went through, and replacing them.

Pure. A secret (a webhook URL, one of its secret parts, a token) is registered
once in its plain, decoded form; ``Redactor`` then finds it in any form it can
take on the wire or in a log: as written, percent-encoded in upper or lower
case (also twice, ``%252F``), JSON-escaped (``\\/``, ``\\u0026``, ``\\u002F``),
``\\x2f``, in either case, and with a space as ``+`` or ``%20`` (yarl sends a configured
``%7e`` as ``~`` and ``%2F`` in a query as ``/``; a server may echo either).
Each character of a secret becomes the alternation of its forms, and all
secrets go into one compiled regular expression whose alternatives all start
with a literal character, so that the regex engine skips every position that
cannot start a secret: the cost is linear in the text's length.

``url_secrets`` says what of a URL is secret: the whole URL, its path and
query, its query string, each query value that looks secret (a secret-sounding
key such as ``sig``, or a long value mixing letters and digits), each path
segment that looks secret (Slack's ``/services/T…/B…/…``, a Workflows id),
and any user or password.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

REDACTED = "…"
# Shorter values are not registered: redacting "1.0" everywhere would garble the logs.
MIN_SECRET_CHARS = 4
# A value this long, or this long with letters and digits mixed, is a key, id or signature.
LONG_VALUE_CHARS = 24
MIXED_VALUE_CHARS = 8
_SECRET_KEY_WORDS = ("sig", "token", "key", "secret", "pass", "pwd", "auth", "code", "credential")
_JSON_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|(.))", re.DOTALL)
_PERCENT = re.compile(r"%(?:25)?([0-9a-fA-F]{2})")


def redact_url(url: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/secret`` -> ``https://hooks.slack.com/…``."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return REDACTED
    return f"{parts.scheme}://{parts.hostname or '?'}{port}/{REDACTED}"


def url_secrets(url: str) -> list[tuple[str, str]]:
    """What of ``url`` must never be shown, decoded, each with what replaces it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [(url, REDACTED)]
    found = [(unquote(url), redact_url(url))]
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(tail) > 1:
        found.append((unquote(tail), f"/{REDACTED}"))
    if parts.query:
        found.append((unquote(parts.query), REDACTED))
    for pair in re.split("[&;]", parts.query):
        key, _, value = pair.partition("=")
        if _is_secret_value(unquote(value), is_secret_key=_is_secret_key(unquote(key))):
            found.append((unquote(value), REDACTED))
    for segment in parts.path.split("/"):
        decoded = unquote(segment)
        # Teams' classic connector joins two ids with "@" in one segment.
        for piece in {decoded, *re.split("[@,;:]", decoded)}:
            if _is_secret_value(piece, is_secret_key=False):
                found.append((piece, REDACTED))
    for userinfo in (parts.username, parts.password):
        if userinfo:
            found.append((unquote(userinfo), REDACTED))
    return [(s, r) for s, r in found if len(s) >= MIN_SECRET_CHARS]


class Redactor:
    """Replaces every registered secret, in every form, in a text; see the module docstring."""

    def __init__(self, secrets: Iterable[tuple[str, str]] = ()) -> None:
        # canonical form -> replacement; the longest first, so that a whole URL is
        # replaced before one of its parts could break it up.
        self._replacements: dict[str, str] = {}
        for secret, replacement in sorted(secrets, key=lambda kv: -len(kv[0])):
            if len(secret) >= MIN_SECRET_CHARS:
                self._replacements.setdefault(_canonical(secret), replacement)
        self._pattern = _compile(self._replacements)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def scrub(self, text: str) -> str:
        """``text`` with every form of every secret replaced."""
        if self._pattern is None:
            return text
        return self._pattern.sub(self._replacement, text)

    def _replacement(self, match: re.Match[str]) -> str:
        return self._replacements.get(_canonical(_decode(match.group())), REDACTED)


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_KEY_WORDS)


def _is_secret_value(value: str, *, is_secret_key: bool) -> bool:
    if len(value) < MIN_SECRET_CHARS:
        return False
    if is_secret_key or len(value) >= LONG_VALUE_CHARS:
        return True
    mixed = any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
    return mixed and len(value) >= MIXED_VALUE_CHARS


def _canonical(text: str) -> str:
    # "+" and a space are the same character in a query, and either may be sent;
    # matching ignores case.
    return text.replace("+", " ").lower()


def _decode(text: str) -> str:
    """A matched form back to its plain text: JSON and \\x escapes, then percent-encoding."""

    def unescape(match: re.Match[str]) -> str:
        unit, byte, char = match.groups()
        if unit is not None:
            return chr(int(unit, 16))
        if byte is not None:
            return chr(int(byte, 16))
        return str(char)

    plain = _JSON_ESCAPE.sub(unescape, text)
    # Surrogate pairs from \uD83D\uDE00 escapes become one character again.
    plain = plain.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    encoded = _PERCENT.sub(lambda m: f"%{m.group(1)}", plain)
    return unquote(encoded, errors="replace")


def _hex(value: int, digits: int) -> str:
    """``value`` as hex digits, each letter in either case."""
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in f"{value:0{digits}x}")


_PERCENT_LEAD = "%(?:25)?"
_ESCAPE_LEAD = re.escape("\\")


def _char_forms(char: str) -> list[tuple[str, str]]:
    """Regex forms of one character of a secret as (lead, rest): the lead is a literal
    character or a prefix many forms share, so that alternatives can be grouped by it."""
    # Either case: a server that lowercases what it echoes must not leak it either;
    # "+" and a space are one character in a query.
    variants = [char, char.lower(), char.upper()]
    if char in " +":
        variants = [" ", "+"]
    forms: list[tuple[str, str]] = []
    for c in dict.fromkeys(variants):
        forms.append((re.escape(c[0]), re.escape(c[1:])))
        if len(c) != 1:
            continue
        data = c.encode()
        percent = "".join(f"%(?:25)?{_hex(b, 2)}" for b in data)
        forms.append((_PERCENT_LEAD, percent.removeprefix(_PERCENT_LEAD)))
        units = c.encode("utf-16-be", "surrogatepass")
        escapes = [f"u{_hex(int.from_bytes(units[i : i + 2]), 4)}" for i in range(0, len(units), 2)]
        forms.append((_ESCAPE_LEAD, _ESCAPE_LEAD.join(escapes)))
        if ord(c) < 0x80:
            forms.append((_ESCAPE_LEAD, f"x{_hex(ord(c), 2)}"))
        if c in '/"\\':
            forms.append((_ESCAPE_LEAD, re.escape(c)))
    return list(dict.fromkeys(forms))


def _char_pattern(char: str) -> str:
    return "(?:" + "|".join(lead + rest for lead, rest in _char_forms(char)) + ")"


def _compile(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern for all ``secrets`` (longest first), alternatives grouped by their lead."""
    by_lead: dict[str, list[str]] = {}
    for secret in secrets:
        tail = "".join(_char_pattern(c) for c in secret[1:])
        for lead, rest in _char_forms(secret[0]):
            by_lead.setdefault(lead, []).append(rest + tail)
    if not by_lead:
        return None
    return re.compile("|".join(f"{lead}(?:{'|'.join(rests)})" for lead, rests in by_lead.items()))
