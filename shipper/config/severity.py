"""The severity scale (debug < info < low < medium < high < critical) and its aliases.

Pure: turns whatever an event carries in its severity field into a ``Severity``,
or ``None`` when the value is not recognised (the caller applies the configured
default and counts it).
"""

from __future__ import annotations

from enum import IntEnum


class Severity(IntEnum):
    """Ordered severities; comparisons follow the scale."""

    DEBUG = 0
    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @property
    def label(self) -> str:
        """The lower-case name users write in configs and see in messages."""
        return self.name.lower()


SEVERITY_NAMES: tuple[str, ...] = tuple(s.label for s in Severity)

# Aliases from syslog, log4j and common audit schemas, mapped onto our scale.
_ALIASES: dict[str, Severity] = {
    "trace": Severity.DEBUG,
    "notice": Severity.INFO,
    "informational": Severity.INFO,
    "warn": Severity.MEDIUM,
    "warning": Severity.MEDIUM,
    "error": Severity.HIGH,
    "err": Severity.HIGH,
    "fatal": Severity.CRITICAL,
    "crit": Severity.CRITICAL,
    "alert": Severity.CRITICAL,
    "emerg": Severity.CRITICAL,
    "emergency": Severity.CRITICAL,
}

SEVERITY_LOOKUP: dict[str, Severity] = {s.label: s for s in Severity} | _ALIASES


def parse_severity(value: object) -> Severity | None:
    """Map a severity value (any case, surrounding blanks ignored) onto the scale.

    Returns ``None`` for anything that is not a recognised string, so the caller
    can apply its default and count the unknown value.
    """
    if not isinstance(value, str):
        return None
    found = SEVERITY_LOOKUP.get(value)
    if found is None:
        found = SEVERITY_LOOKUP.get(value.strip().lower())
    return found
