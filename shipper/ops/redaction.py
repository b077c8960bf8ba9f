"""Finding secrets in text whatever encoding they went through, and replacing them.

Pure. A secret (a webhook URL, one of its secret parts, a token) is registered
once, decoded; ``Redactor`` finds it in any form it can take on the wire or in
a log: as written, percent-encoded in upper or lower case (also twice,
``%252F``), JSON-escaped (``\\/``, ``\\u0026``, ``\\u002F``), ``\\x2f``, in
either case, and with a space as ``+`` or ``%20`` (yarl sends a configured
``%7e`` as ``~`` and ``%2F`` in a query as ``/``; a server may echo either).
It does so by decoding the text, not by spelling out every form of every
secret: one pass turns the text into its canonical form (escapes decoded,
lower case, ``+`` as a space) while remembering where each character came
from; each secret is looked for in that, in its own canonical form; what is
found is replaced in the original text. Whether any secret is there at all is
one search with a trie-shaped regular expression (each character of the text
is compared with the first characters of all secrets at once, not secret by
secret), so a line without secrets costs one decoding pass and one search,
both linear in its length; a line with some adds one ``str.find`` per secret.

``url_secrets`` says what of a URL is secret: the whole URL, its path and
query, its query string, each query value that looks secret (a secret-sounding
key such as ``sig``, or a long value mixing cases or digits), each path
segment that looks secret (Slack's ``/services/T…/B…/…``, a Workflows id),
and any user or password.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote, urlsplit

REDACTED = "…"
# Shorter values are not registered: redacting "1.0" everywhere would garble the logs.
MIN_SECRET_CHARS = 4
# A value this long, or this long mixing two of lower case, upper case and digits, is a key,
# an id or a signature.
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
        # canonical form -> replacement, the longest first: where secrets overlap (a
        # URL and its query value), the longer one's replacement is used.
        self._replacements: dict[str, str] = {}
        for secret, replacement in sorted(secrets, key=lambda kv: -len(kv[0])):
            if len(secret) < MIN_SECRET_CHARS:
                continue
            for form in _secret_forms(secret):
                self._replacements.setdefault(form, replacement)
        self._any = _trie_pattern(self._replacements)

    def __bool__(self) -> bool:
        return bool(self._replacements)

    def scrub(self, text: str) -> str:
        """``text`` with every form of every secret replaced."""
        if not self._replacements or len(text) < MIN_SECRET_CHARS:
            return text
        canonical, origin = _canonical_text(text)
        if self._any is None or self._any.search(canonical) is None:
            return text  # the common case: one pass, and no secret
        spans: list[tuple[int, int, str]] = []
        for secret, replacement in self._replacements.items():
            at = canonical.find(secret)
            while at >= 0:
                spans.append((at, at + len(secret), replacement))
                at = canonical.find(secret, at + len(secret))
        if not spans:
            return text
        return _replace(text, _merged(spans), origin)


def _trie_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """A regex matching any of ``secrets``, as a trie: at each position, each character
    is compared once whatever the number of secrets sharing the prefix before it."""
    trie: dict[str, Any] = {}
    for secret in secrets:
        node = trie
        for char in secret:
            node = node.setdefault(char, {})
        node[""] = {}
    if not trie:
        return None

    def pattern(node: dict[str, Any]) -> str:
        # A run of single children is one literal, without recursing: a URL may be long.
        run = []
        while len(node) == 1 and "" not in node:
            ((char, node),) = node.items()
            run.append(re.escape(char))
        if "" in node:
            return "".join(run)  # a secret ends here: enough for a search, not a match
        branches = [re.escape(char) + pattern(child) for char, child in node.items()]
        return "".join(run) + "(?:" + "|".join(branches) + ")"

    return re.compile(pattern(trie))


def _merged(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Overlapping spans as one, with the replacement of the longest among them."""
    spans.sort()
    merged: list[tuple[int, int, str]] = []
    longest = 0
    for start, end, replacement in spans:
        if merged and start < merged[-1][1]:
            first, last, kept = merged[-1]
            if end - start > longest:
                kept, longest = replacement, end - start
            merged[-1] = (first, max(last, end), kept)
        else:
            merged.append((start, end, replacement))
            longest = end - start
    return merged


def _replace(text: str, spans: list[tuple[int, int, str]], origin: list[int] | None) -> str:
    """Replace canonical ``spans`` in ``text``; ``origin`` maps canonical offsets back
    (``None``: the canonical text has the same offsets)."""
    pieces: list[str] = []
    done = 0
    for start, end, replacement in spans:
        first = origin[start] if origin is not None else start
        last = origin[end] if origin is not None else end
        pieces.append(text[done:first])
        pieces.append(replacement)
        done = last
    pieces.append(text[done:])
    return "".join(pieces)


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_KEY_WORDS)


def _is_secret_value(value: str, *, is_secret_key: bool) -> bool:
    if len(value) < MIN_SECRET_CHARS:
        return False
    if is_secret_key or len(value) >= LONG_VALUE_CHARS:
        return True
    # Ids, keys and signatures mix cases or digits; words ("triggers", "invoke") do not.
    classes = (str.isdigit, str.islower, str.isupper)
    mixed = sum(any(test(c) for c in value) for test in classes) >= 2
    return mixed and len(value) >= MIXED_VALUE_CHARS


# The escapes that one canonical character may be written as. A JSON-escaped
# percent (\\u0025) counts as a percent: a URL percent-encoded and then JSON-escaped.
_ESCAPE = re.compile(
    r"(?:%|\\u0025)(?:25)?([0-9a-fA-F]{2})"
    r"|\\u([0-9a-fA-F]{4})"
    r"|\\x([0-9a-fA-F]{2})"
    r"|\\([/\\\"])"
)


def _canonical_plain(text: str) -> str:
    """Lower case with ``+`` as a space, one character for one."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lower to two ("İ")
        lowered = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return lowered.replace("+", " ")


def _canonical_text(text: str) -> tuple[str, list[int] | None]:
    """``text`` decoded and lower-cased, and the offset in ``text`` of each of its
    characters (one more for the end); ``None`` when the offsets are the same."""
    if "%" not in text and "\\" not in text:
        return _canonical_plain(text), None
    pieces: list[str] = []
    origin: list[int] = []
    done = 0
    for match in _ESCAPE.finditer(text):
        start = match.start()
        pieces.append(_canonical_plain(text[done:start]))
        origin.extend(range(done, start))
        byte, unit, ascii_code, char = match.groups()
        code = byte or unit or ascii_code
        pieces.append(_canonical_plain(chr(int(code, 16)) if code else char))
        origin.append(start)
        done = match.end()
    pieces.append(_canonical_plain(text[done:]))
    origin.extend(range(done, len(text) + 1))
    return "".join(pieces), origin


def _secret_forms(secret: str) -> list[str]:
    """The canonical forms of a secret: itself, and, when it is not ASCII, its UTF-8
    bytes as percent-encoding leaves them (one character a byte) and UTF-16 units."""
    forms = [_canonical_plain(secret)]
    if not secret.isascii():
        forms.append(_canonical_text(quote(secret, safe=""))[0])
        units = secret.encode("utf-16-be", "surrogatepass")
        forms.append(
            "".join(chr(int.from_bytes(units[i : i + 2])) for i in range(0, len(units), 2))
        )
    return list(dict.fromkeys(forms))
