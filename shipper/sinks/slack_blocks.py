"""Slack incoming-webhook payloads: Block Kit blocks plus a plain ``text`` fallback.

Pure; the Slack sink (``slack``) renders with it. ``render_slack`` turns a
batch of alerts into one message within Slack's limits (reference 1.5): at
most 50 blocks, a header of 150 characters, section text of 3000, at most 10
fields of 2000 each, a fallback of 4000, and the whole block text well under
the ~12,000 characters where Slack answers ``msg_blocks_too_long``. A lone
alert gets a header, a fields section, its facts and a context line; a batch
gets one compact section per alert. Fields are a two-column table, so from
the first labelled item with a run too long for a phone's column on
(``fits_table``), the items are lines of text, which wrap. When a batch does not fit, the message
covers only its first alerts and says so in ``Rendered.count``. All event
text goes through ``escape_slack`` and every mrkdwn object is ``verbatim``,
so an event can neither mention nor link.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Required, TypedDict

from shipper.config.model import ChannelConfig
from shipper.config.severity import Severity
from shipper.routing.event import Alert
from shipper.sinks.base import Rendered
from shipper.sinks.escape import ELLIPSIS, escape_slack, fits_table, truncate, utf16_len

MAX_BLOCKS = 50
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_MAX = 2000
FALLBACK_MAX = 4000
# Slack refuses messages whose blocks hold ~13.2k characters in all (bolt-js#2509)
# and caps markdown at 12k; staying at 10k leaves room for its own counting.
BLOCK_TEXT_BUDGET = 10_000
# One fact line may not crowd out the others.
FACT_LINE_MAX = 1000
BATCH_FACT_LINE_MAX = 300
BATCH_ALERT_MAX = 2000
TITLE_MAX = 200

SEVERITY_EMOJI: dict[Severity, str] = {
    Severity.DEBUG: ":mag:",
    Severity.INFO: ":information_source:",
    Severity.LOW: ":large_blue_circle:",
    Severity.MEDIUM: ":warning:",
    Severity.HIGH: ":rotating_light:",
    Severity.CRITICAL: ":fire:",
}


class PlainText(TypedDict):
    type: Literal["plain_text"]
    text: str
    emoji: bool


class Mrkdwn(TypedDict):
    type: Literal["mrkdwn"]
    text: str
    verbatim: bool


class HeaderBlock(TypedDict):
    type: Literal["header"]
    text: PlainText


class SectionBlock(TypedDict, total=False):
    type: Required[Literal["section"]]
    text: Mrkdwn
    fields: list[Mrkdwn]


class ContextBlock(TypedDict):
    type: Literal["context"]
    elements: list[Mrkdwn]


class DividerBlock(TypedDict):
    type: Literal["divider"]


Block = HeaderBlock | SectionBlock | ContextBlock | DividerBlock


class SlackMessage(TypedDict):
    text: str
    blocks: list[Block]
    unfurl_links: bool
    unfurl_media: bool


def render_slack(channel: ChannelConfig, alerts: Sequence[Alert]) -> Rendered:
    """One Slack message for the first alerts of ``alerts`` (at least one)."""
    if not alerts:
        raise ValueError("render_slack needs at least one alert")
    texts = _batch_texts(alerts) if len(alerts) > 1 else []
    count = len(texts) or 1
    covered = alerts[:count]
    blocks = (
        _single_blocks(channel, covered[0])
        if count == 1
        else _batch_blocks(channel, covered, texts)
    )
    message: SlackMessage = {
        "text": _fallback(covered),
        "blocks": blocks,
        # Slack would otherwise fetch every URL found in audit data (reference 1.7).
        "unfurl_links": False,
        "unfurl_media": False,
    }
    return Rendered(payload=message, count=count)


def _single_blocks(channel: ChannelConfig, alert: Alert) -> list[Block]:
    blocks: list[Block] = [_header(_title(alert))]
    labelled = [(label, value) for label, value in _labelled(alert) if value is not None]
    # Fields are a two-column table: from the first value with a run too long for
    # a column at phone width on, the items are lines of text, which wrap.
    cut = next((i for i, (_, value) in enumerate(labelled) if not fits_table(value)), None)
    fields = [_mrkdwn(_field(label, value)) for label, value in labelled[:cut]]
    blocks.append({"type": "section", "fields": fields})
    context = _context(f"shipper · {_channel_title(channel)} · line {alert.line}")
    used = sum(utf16_len(t) for t in _texts(blocks)) + utf16_len(context["elements"][0]["text"])
    lines = [
        truncate(f"*{label}:* {value}", FACT_LINE_MAX)
        for label, value in (labelled[cut:] if cut is not None else [])
    ]
    lines += [truncate(_fact(key, value), FACT_LINE_MAX) for key, value in alert.facts]
    sections = _pack(lines, BLOCK_TEXT_BUDGET - used, MAX_BLOCKS - len(blocks) - 1)
    blocks.extend({"type": "section", "text": _mrkdwn(text)} for text in sections)
    blocks.append(context)
    return blocks


def _batch_blocks(
    channel: ChannelConfig, alerts: Sequence[Alert], texts: Sequence[str]
) -> list[Block]:
    worst = max(alert.severity for alert in alerts)
    blocks: list[Block] = [_header(f"{SEVERITY_EMOJI[worst]} {len(alerts)} events")]
    for index, text in enumerate(texts):
        if index:
            blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": _mrkdwn(text)})
    lines = f"lines {alerts[0].line}–{alerts[-1].line}"
    blocks.append(_context(f"shipper · {_channel_title(channel)} · {lines}"))
    return blocks


def _batch_texts(alerts: Sequence[Alert]) -> list[str]:
    """The sections of the leading alerts that fit one batch message (at least one)."""
    # Header, context and their text, sized for the widest values they can take.
    blocks = 2
    used = HEADER_MAX + TITLE_MAX + 64
    texts: list[str] = []
    for alert in alerts:
        need = 2 if texts else 1
        text = _batch_text(alert)
        size = utf16_len(text)
        if texts and (blocks + need > MAX_BLOCKS or used + size > BLOCK_TEXT_BUDGET):
            break
        blocks += need
        used += size
        texts.append(text)
    return texts


def _batch_text(alert: Alert) -> str:
    """One alert as a compact section: title, one labelled item a line, then facts."""
    head = [_title(alert)]
    head += [
        f"*{label}:* {truncate(value, BATCH_FACT_LINE_MAX)}"
        for label, value in _labelled(alert)
        if value is not None
    ]
    facts = [truncate(_fact(key, value), BATCH_FACT_LINE_MAX) for key, value in alert.facts]
    budget = BATCH_ALERT_MAX - sum(utf16_len(line) + 1 for line in head)
    return "\n".join([*head, *_pack(facts, budget, 1)])


def _pack(lines: list[str], budget: int, max_sections: int) -> list[str]:
    """Fact lines -> section texts within ``budget`` characters in all; what does not
    fit is named by a closing "… (N more facts)" line, never silently dropped."""
    if not lines or max_sections < 1:
        return []
    reserve = utf16_len(f"{ELLIPSIS} ({len(lines)} more facts)") + 1
    sections: list[list[str]] = [[]]
    section_size = 0
    used = 0
    placed = 0
    for line in lines:
        size = utf16_len(line) + 1
        if used + size > budget - reserve:
            break
        if section_size + size > SECTION_TEXT_MAX - reserve:
            if len(sections) == max_sections:
                break
            sections.append([])
            section_size = 0
        sections[-1].append(line)
        section_size += size
        used += size
        placed += 1
    if placed < len(lines):
        sections[-1].append(f"{ELLIPSIS} ({len(lines) - placed} more facts)")
    return ["\n".join(section) for section in sections if section]


def _fallback(alerts: Sequence[Alert]) -> str:
    """The notification text: one plain line per alert."""
    lines = [_summary(alert) for alert in alerts]
    if len(alerts) > 1:
        lines.insert(0, f"{len(alerts)} events")
    return truncate("\n".join(lines), FALLBACK_MAX)


def _summary(alert: Alert) -> str:
    text = f"{alert.severity.label}: {escape_slack(alert.action) or '(no action)'}"
    if alert.actor is not None:
        text += f" by {escape_slack(alert.actor)}"
    if alert.status is not None:
        text += f" ({escape_slack(alert.status)})"
    return truncate(text, FACT_LINE_MAX)


def _labelled(alert: Alert) -> list[tuple[str, str | None]]:
    """The labelled items every message shows, escaped; ``None`` where missing."""

    def shown(value: str | None) -> str | None:
        return None if value is None else escape_slack(value)

    return [
        ("Severity", alert.severity.label),
        ("Actor", shown(alert.actor)),
        ("Status", shown(alert.status)),
        ("Time", shown(alert.timestamp)),
    ]


def _title(alert: Alert) -> str:
    action = escape_slack(alert.action) or "(no action)"
    return truncate(f"{SEVERITY_EMOJI[alert.severity]} {action}", HEADER_MAX)


def _field(label: str, value: str) -> str:
    # The label sits alone on its line, so a stray "*" in the value cannot pair with it.
    prefix = f"*{label}*\n"
    return prefix + truncate(value, min(FIELD_MAX, FACT_LINE_MAX) - utf16_len(prefix))


def _fact(key: str, value: str) -> str:
    return f"{escape_slack(key)}: {escape_slack(value)}"


def _channel_title(channel: ChannelConfig) -> str:
    return truncate(escape_slack(channel.title), TITLE_MAX)


def _header(text: str) -> HeaderBlock:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _mrkdwn(text: str) -> Mrkdwn:
    # verbatim: Slack must not turn names, channels or URLs in the text into links.
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _context(text: str) -> ContextBlock:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def _texts(blocks: list[Block]) -> list[str]:
    """Every text string in ``blocks`` (for measuring)."""
    out: list[str] = []
    for block in blocks:
        if block["type"] == "header":
            out.append(block["text"]["text"])
        elif block["type"] == "section":
            if "text" in block:
                out.append(block["text"]["text"])
            out.extend(field["text"] for field in block.get("fields", []))
        elif block["type"] == "context":
            out.extend(element["text"] for element in block["elements"])
    return out
