"""The shapes of the two Teams messages, as ``TypedDict``s: MessageCard and the Workflows
envelope around an Adaptive Card. Pure; ``teams_cards`` builds them."""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict


class Fact(TypedDict):
    name: str
    value: str


class Section(TypedDict):
    activityTitle: str
    activitySubtitle: str
    facts: list[Fact]
    markdown: bool
    text: NotRequired[str]


MessageCard = TypedDict(
    "MessageCard",
    {
        "@type": Literal["MessageCard"],
        "@context": str,
        "summary": str,
        "themeColor": str,
        "title": str,
        "sections": list[Section],
    },
)


class TextBlock(TypedDict):
    type: Literal["TextBlock"]
    text: str
    wrap: bool
    weight: NotRequired[str]
    size: NotRequired[str]
    color: NotRequired[str]
    isSubtle: NotRequired[bool]
    separator: NotRequired[bool]
    spacing: NotRequired[str]


AdaptiveCard = TypedDict(
    "AdaptiveCard",
    {
        "$schema": str,
        "type": Literal["AdaptiveCard"],
        "version": str,
        "body": list[TextBlock],
        "msteams": dict[str, str],
    },
)


class Attachment(TypedDict):
    contentType: str
    contentUrl: None
    content: AdaptiveCard


class WorkflowsMessage(TypedDict):
    type: Literal["message"]
    attachments: list[Attachment]
