"""Logging on stderr (text or one JSON object a line) and the redaction of webhook URLs.

stdout belongs to pipelines and ``--dry-run``, so every log line goes to stderr.
Webhook URLs are secrets: code logs the channel name and ``host_of(url)`` only,
and ``SecretFilter`` is the safety net that replaces any configured URL, its
secret parts or another registered secret (``protect_secret``), in any encoding
(``redaction``), should one ever reach a log record (an exception message, an
endpoint's answer that echoes the URL). ``scrub_secrets`` applies the same to
text that is not a log record.
Repeated warnings are rate-limited by ``log_limit.RepeatFilter``.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson

from shipper.ops.log_limit import RepeatFilter
from shipper.ops.redaction import REDACTED, Redactor, redact_url, url_secrets

__all__ = [
    "EXTRA_FIELDS",
    "JsonFormatter",
    "LogFormat",
    "SecretFilter",
    "flush_suppressed",
    "host_of",
    "protect_secret",
    "protect_urls",
    "redact_url",
    "scrub_secrets",
    "setup_logging",
]

LogFormat = Literal["text", "json"]
# Fields that delivery and the pipeline attach with ``extra=``; the JSON format emits them.
EXTRA_FIELDS = ("channel", "status", "attempt", "delay", "reason", "line", "count")


@functools.lru_cache(maxsize=64)  # asked on every post
def host_of(url: str | None) -> str:
    """The host of a webhook URL: all that logs and error reasons may show of it."""
    try:
        return (urlsplit(url).hostname if url else None) or "the endpoint"
    except ValueError:
        return "the endpoint"


class SecretFilter(logging.Filter):
    """Replaces webhook URLs, their secret parts and any other registered secret, in every
    form they can take (``redaction``), in each record's message, fields and traceback."""

    def __init__(self, urls: Iterable[str] = ()) -> None:
        super().__init__()
        self._urls: list[str] = []
        self._others: dict[str, str] = {}
        self._redactor = Redactor()
        self.set_urls(urls)

    def set_urls(self, urls: Iterable[str]) -> None:
        """Redact these URLs from now on, and only these (other secrets stay)."""
        self._urls = list(dict.fromkeys(urls))
        self._rebuild()

    def add_urls(self, urls: Iterable[str]) -> None:
        """Redact these URLs too, keeping the ones known already (a reload adds its new URLs:
        a channel it removed may still be finishing a post)."""
        self.set_urls([*self._urls, *urls])

    def add_secret(self, secret: str, replacement: str = REDACTED) -> None:
        """Redact ``secret`` (a token, a key, a header value) too, in every form."""
        self._others[secret] = replacement
        self._rebuild()

    def _rebuild(self) -> None:
        secrets = [s for url in self._urls for s in url_secrets(url)]
        self._redactor = Redactor([*secrets, *self._others.items()])

    def scrub(self, text: str) -> str:
        """``text`` with every known secret replaced."""
        return self._redactor.scrub(text)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._redactor:
            message = self.scrub(record.getMessage())
            record.msg, record.args = message, None
            for name in EXTRA_FIELDS:
                value = record.__dict__.get(name)
                if isinstance(value, str):
                    record.__dict__[name] = self.scrub(value)
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
            elif record.exc_text:
                record.exc_text = self.scrub(record.exc_text)
            if record.stack_info:
                record.stack_info = self.scrub(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message and the known extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


_secret_filter = SecretFilter()
_repeat_filter = RepeatFilter()


def scrub_secrets(text: str) -> str:
    """``text`` with every configured secret redacted: for what is not a log record (bodies
    served over HTTP, dead letters, what ``check`` and ``test`` print)."""
    return _secret_filter.scrub(text)


def protect_urls(urls: Iterable[str]) -> None:
    """Redact these webhook URLs too, from now on (a reload's new ones)."""
    _secret_filter.add_urls(urls)


def protect_secret(secret: str) -> None:
    """Redact ``secret`` (a token, an API key, a header value) from now on, in every form."""
    _secret_filter.add_secret(secret)


def flush_suppressed(*, closing: bool = False) -> None:
    """Log the summaries of rate-limited warnings whose window has ended (``closing``: all)."""
    _repeat_filter.flush(closing=closing)


def setup_logging(level: str = "info", fmt: LogFormat = "text") -> SecretFilter:
    """Send shipper's logs to stderr; returns the filter to give the webhook URLs to."""
    handler = logging.StreamHandler(sys.stderr)
    # The rate limit first: it keys records by their message template, which the
    # secret filter replaces with the finished text.
    _repeat_filter.emit = handler.handle
    handler.addFilter(_repeat_filter)
    handler.addFilter(_secret_filter)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's loggers (the metrics server's) may print request URLs; quiet unless debugging.
    logging.getLogger("aiohttp").setLevel(max(logging.WARNING, root.level))
    return _secret_filter
