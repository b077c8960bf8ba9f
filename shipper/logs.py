"""Logging on stderr (text or one JSON object a line) and the redaction of webhook URLs.

stdout belongs to pipelines and ``--dry-run``, so every log line goes to stderr.
Webhook URLs are secrets: code logs the channel name and ``host_of(url)`` only,
and ``SecretFilter`` is the safety net that replaces any configured URL, or its
secret path, should one ever reach a log record (an exception message, say).
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

from shipper.log_limit import RepeatFilter

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


def redact_url(url: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/secret`` -> ``https://hooks.slack.com/…``."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "…"
    return f"{parts.scheme}://{parts.hostname or '?'}{port}/…"


class SecretFilter(logging.Filter):
    """Replaces webhook URLs and their secret parts in every record's final text."""

    def __init__(self, urls: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[tuple[str, str]] = []
        self._urls: list[str] = []
        self.set_urls(urls)

    def set_urls(self, urls: Iterable[str]) -> None:
        """Redact these URLs from now on, and only these."""
        self._urls = list(dict.fromkeys(urls))
        secrets: dict[str, str] = {}
        for url in self._urls:
            secrets[url] = redact_url(url)
            parts = urlsplit(url)
            tail = parts.path + (f"?{parts.query}" if parts.query else "")
            if len(tail) > 1:
                secrets[tail] = "/…"
            if len(parts.query) > 1:
                secrets[parts.query] = "…"
        # Longest first, so a whole URL is replaced before its path.
        self.secrets = sorted(secrets.items(), key=lambda kv: -len(kv[0]))

    def add_urls(self, urls: Iterable[str]) -> None:
        """Redact these URLs too, keeping the ones known already (a reload adds its new URLs:
        a channel it removed may still be finishing a post)."""
        self.set_urls([*self._urls, *urls])

    def scrub(self, text: str) -> str:
        """``text`` with every known secret replaced."""
        for secret, replacement in self.secrets:
            if secret in text:
                text = text.replace(secret, replacement)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = self.scrub(record.getMessage())
            record.msg, record.args = message, None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
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
    """``text`` with every configured webhook URL redacted (for bodies served over HTTP)."""
    return _secret_filter.scrub(text)


def protect_urls(urls: Iterable[str]) -> None:
    """Redact these webhook URLs too, from now on (a reload's new ones)."""
    _secret_filter.add_urls(urls)


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
    # aiohttp's own loggers may print request URLs; keep them quiet unless debugging.
    logging.getLogger("aiohttp").setLevel(max(logging.WARNING, root.level))
    return _secret_filter
