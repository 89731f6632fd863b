"""What the demo prints at the end: per system, what it holds and where to look, each
look a command (or URL) on a line of its own, so it can be pasted as printed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

RULE = "=" * 72


@dataclass(frozen=True)
class Look:
    """One thing to look at: ``what`` it shows, then the line that shows it."""

    what: str
    command: str


@dataclass
class Section:
    title: str
    looks: list[Look] = field(default_factory=list)


@dataclass(frozen=True)
class Skipped:
    """A part the platform does not offer (yet), or one that failed: and why."""

    what: str
    why: str


def render(header: Sequence[str], sections: Sequence[Section], skipped: Sequence[Skipped]) -> str:
    lines = [RULE, *header]
    for section in sections:
        lines += ["", section.title]
        for look in section.looks:
            lines += [f"  {look.what}", f"    {look.command}"]
    if skipped:
        lines += ["", "Not shown"]
        lines += [f"  {item.what}: {item.why}" for item in skipped]
    lines.append(RULE)
    return "\n".join(lines) + "\n"
