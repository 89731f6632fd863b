"""Avatars made here, with no outgoing request: the spec's initials SVG (the last tier)
and a deterministic identicon (the generator tier's answer when no service answers)."""

from __future__ import annotations

import hashlib
import re
from xml.sax.saxutils import escape

from services.profile.avatars.images import ValidImage, validate_svg

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def initials_for(display_name: str) -> str:
    """The spec's initials: the first letter, plus the second word's first letter or the
    second letter — taken from the letters of the name, so "john_doe" gives "JD",
    "@42anna" gives "AN"; a name with no letters falls back to its first characters."""
    words = _WORD.findall(display_name)
    if not words:
        cleaned = re.sub(r"[\W_]+", "", display_name) or "?"
        return str(cleaned[:2].upper())
    initials = str(words[0][0]).upper()
    if len(words) > 1:
        initials += words[1][0].upper()
    elif len(words[0]) > 1:
        initials += words[0][1].upper()
    return initials


def colour_for(username: str) -> tuple[int, int, int]:
    digest = hashlib.md5(username.encode(), usedforsecurity=False).hexdigest()
    return int(digest[0:2], 16), int(digest[2:4], 16), int(digest[4:6], 16)


def text_colour(rgb: tuple[int, int, int]) -> str:
    r, g, b = rgb
    brightness = (r * 299 + g * 587 + b * 114) / 1000
    return "#ffffff" if brightness < 128 else "#000000"


def initials_svg(username: str, display_name: str | None = None) -> ValidImage:
    """The spec's 120x120 circle with the initials, its colour from the username's md5."""
    rgb = colour_for(username)
    text = escape(initials_for(display_name or username))
    svg = (
        '<svg width="120" height="120" xmlns="http://www.w3.org/2000/svg">'
        f'<circle cx="60" cy="60" r="60" fill="rgb({rgb[0]},{rgb[1]},{rgb[2]})"/>'
        '<text x="60" y="75" font-family="Arial, sans-serif" font-size="40" '
        f'font-weight="bold" text-anchor="middle" fill="{text_colour(rgb)}">{text}</text>'
        "</svg>"
    )
    return validate_svg(svg.encode())


def identicon_svg(username: str) -> ValidImage:
    """A 5x5 mirrored identicon from the username's sha256 (same name, same picture)."""
    digest = hashlib.sha256(username.encode()).digest()
    hue = digest[0] * 360 // 256
    cells: list[str] = []
    for row in range(5):
        for col in range(3):
            if digest[1 + row * 3 + col] % 2 == 0:
                for x in {col, 4 - col}:
                    cells.append(
                        f'<rect x="{10 + x * 20}" y="{10 + row * 20}" width="20" height="20"/>'
                    )
    svg = (
        '<svg width="120" height="120" viewBox="0 0 120 120" xmlns="http://www.w3.org/2000/svg">'
        '<rect width="120" height="120" fill="#f0f0f0"/>'
        f'<g fill="hsl({hue},55%,50%)">{"".join(cells)}</g></svg>'
    )
    return validate_svg(svg.encode())
