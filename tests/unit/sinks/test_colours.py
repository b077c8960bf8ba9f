"""Severity colours: WCAG contrast against Teams' light and dark backgrounds."""

from __future__ import annotations

import pytest

from shipper.config.severity import Severity
from shipper.sinks.slack_blocks import SEVERITY_EMOJI as SLACK_EMOJI
from shipper.sinks.teams_cards import SEVERITY_EMOJI, THEME_COLOR

# Teams' light theme, and its dark theme's message and app backgrounds.
BACKGROUNDS = {"light": "FFFFFF", "dark": "292929", "darker": "1F1F1F"}
# WCAG 2.x, 1.4.11 non-text contrast: user-interface parts and graphics, 3:1.
MINIMUM = 3.0


def luminance(hex_colour: str) -> float:
    """WCAG relative luminance of an sRGB colour "RRGGBB"."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(one: str, other: str) -> float:
    lighter, darker = sorted((luminance(one), luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_the_formula_matches_known_values() -> None:
    assert contrast("FFFFFF", "000000") == pytest.approx(21.0)
    assert contrast("777777", "FFFFFF") == pytest.approx(4.48, abs=0.01)
    # The figures for the old medium and low colours.
    assert contrast("F8D22A", "FFFFFF") == pytest.approx(1.5, abs=0.05)
    assert contrast("92C353", "FFFFFF") == pytest.approx(2.1, abs=0.05)


@pytest.mark.parametrize("background", list(BACKGROUNDS))
@pytest.mark.parametrize("severity", list(Severity))
def test_every_colour_reads_on_light_and_dark(severity: Severity, background: str) -> None:
    ratio = contrast(THEME_COLOR[severity], BACKGROUNDS[background])
    assert ratio >= MINIMUM, f"{severity.label} on {background}: {ratio:.2f}:1"


def test_colour_is_never_the_only_signal() -> None:
    # Each severity has its own emoji in both services, shown in every title.
    assert len(set(SEVERITY_EMOJI.values())) == len(Severity)
    assert len(set(SLACK_EMOJI.values())) == len(Severity)
    assert len(set(THEME_COLOR.values())) == len(Severity)
