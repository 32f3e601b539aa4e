"""The WCAG contrast ratio, for the page tests that read colours from the browser."""

from __future__ import annotations

import re


def contrast(foreground: str, background: str) -> float:
    """The WCAG 2 contrast ratio of two CSS ``rgb()``/``rgba()`` colours (the alpha of either is ignored)."""

    def luminance(colour: str) -> float:
        channels = [float(c) / 255 for c in re.findall(r"[\d.]+", colour)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)
