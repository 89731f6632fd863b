"""The HTML report of a Skype analysis: one self-contained page.

``render_skype_report(analysis, title=...)`` takes the analysis document of
``services/ingest/worker/skype/analytics.py`` (as stored) and returns one HTML page: inline
CSS, charts as inline SVG drawn here, no script, no external style, font or image (a
Content-Security-Policy forbids them too), readable on a phone and a desktop (the layout
is a fluid grid; the charts scale with their viewBox). Every string from the export —
names, topics, words, message texts — is HTML-escaped: a contact called
``<script>alert(1)</script>`` shows as that text.

Charts: activity over time (messages per month, or per day for short exports), the
hour-of-week heatmap, top contacts, message types; plus response times, calls, words,
emoji, busiest days, the conversations and a few highlighted messages.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

# Chart colours (tests look for them in screenshots: keep them distinct).
TIMELINE = "#2563eb"
CONTACTS = "#7c3aed"
TYPES = "#d97706"
HEAT = ((236, 254, 255), (8, 145, 178))  # from empty to the busiest hour
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
DASH = "\u2013"  # shown for a figure the analysis does not have

_CSS = """
:root { color-scheme: light; --ink: #111827; --muted: #6b7280; --line: #e5e7eb;
  --card: #ffffff; --page: #f3f4f6; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: var(--page); }
header { background: #0f172a; color: #f8fafc; padding: 24px 16px; }
header h1 { margin: 0 0 4px; font-size: 1.5rem; overflow-wrap: anywhere; }
header p { margin: 0; color: #cbd5e1; }
main { max-width: 1200px; margin: 0 auto; padding: 16px; display: grid; gap: 16px;
  grid-template-columns: repeat(auto-fit, minmax(min(100%, 340px), 1fr)); }
section { background: var(--card); border: 1px solid var(--line); border-radius: 12px;
  padding: 16px; min-width: 0; }
section.wide { grid-column: 1 / -1; }
h2 { margin: 0 0 12px; font-size: 1.05rem; }
.cards { display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); }
.card { background: #f9fafb; border: 1px solid var(--line); border-radius: 10px;
  padding: 10px 12px; }
.card b { display: block; font-size: 1.35rem; }
.card span { color: var(--muted); font-size: .85rem; }
.timeline svg { width: 100%; height: 200px; display: block; border-bottom: 1px solid #9ca3af; }
.timeline .peak { color: var(--muted); font-size: .8rem; }
.ticks { display: flex; justify-content: space-between; color: var(--muted); font-size: .8rem; }
.heatmap { display: grid; grid-template-columns: 2.4em repeat(24, minmax(0, 1fr)); gap: 2px;
  font-size: .75rem; color: var(--muted); }
.heatmap .cell { aspect-ratio: 1; border-radius: 3px; min-height: 8px; }
.heatmap .day { align-self: center; }
.bars .row { display: grid; grid-template-columns: minmax(0, 40%) 1fr auto; gap: 8px;
  align-items: center; font-size: .9rem; margin: 4px 0; }
.bars .label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bars .track { background: #f3f4f6; border-radius: 4px; height: 14px; }
.bars .bar { display: block; height: 14px; border-radius: 4px; }
.bars .value { color: var(--muted); font-size: .85rem; text-align: right; min-width: 3em; }
table { width: 100%; border-collapse: collapse; font-size: .9rem; }
th, td { text-align: left; padding: 6px 4px; border-bottom: 1px solid var(--line);
  overflow-wrap: anywhere; }
td.n, th.n { text-align: right; white-space: nowrap; }
.muted { color: var(--muted); font-size: .85rem; }
blockquote { margin: 0 0 12px; padding: 8px 12px; border-left: 4px solid #93c5fd;
  background: #f8fafc; white-space: pre-wrap; overflow-wrap: anywhere; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; }
.chip { background: #eef2ff; border-radius: 999px; padding: 2px 10px; font-size: .9rem; }
footer { text-align: center; color: var(--muted); font-size: .8rem; padding: 16px; }
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _number(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return DASH
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return _e(value)


def _duration(seconds: object) -> str:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return DASH
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _date(value: object) -> str:
    if not isinstance(value, str):
        return DASH
    try:
        return datetime.fromisoformat(value).strftime("%d %b %Y")
    except ValueError:
        return _e(value)


def _get(document: dict[str, Any], *path: str) -> Any:
    node: Any = document
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _card(value: str, label: str) -> str:
    return f'<div class="card"><b>{value}</b><span>{_e(label)}</span></div>'


# -- charts -------------------------------------------------------------------------------


def _bar_chart(points: list[tuple[str, int]], colour: str, chart: str) -> str:
    """Vertical bars (a time series): the bars in SVG, the labels in HTML beneath (so
    that they keep their size when the chart scales to a phone)."""
    if not points:
        return '<p class="muted">No messages.</p>'
    width, height = 720, 200
    peak = max(count for _, count in points) or 1
    step = width / len(points)
    bars: list[str] = []
    for label, count in points:
        bar = (height - 4) * count / peak
        x = len(bars) * step
        bars.append(
            f'<rect x="{x:.2f}" y="{height - bar:.2f}" width="{max(step * 0.8, 0.6):.2f}" '
            f'height="{bar:.2f}" fill="{colour}"><title>{_e(label)}: {count:,}</title></rect>'
        )
    every = max(1, len(points) // 4)
    ticks = "".join(f"<span>{_e(points[i][0])}</span>" for i in range(0, len(points), every))
    return (
        f'<div class="timeline" data-chart="{chart}"><span class="peak">{peak:,}</span>'
        f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
        f'aria-label="{_e(chart)}">{"".join(bars)}</svg>'
        f'<div class="ticks">{ticks}</div></div>'
    )


def _horizontal_bars(rows: list[tuple[str, int]], colour: str, chart: str) -> str:
    """Labelled bars in HTML (text stays readable at any width)."""
    if not rows:
        return '<p class="muted">Nothing to show.</p>'
    peak = max(count for _, count in rows) or 1
    lines = "".join(
        f'<div class="row"><span class="label" title="{_e(label)}">{_e(label)}</span>'
        f'<span class="track"><span class="bar" style="width:{max(100 * count / peak, 0.5):.1f}%;'
        f'background:{colour}"></span></span><span class="value">{count:,}</span></div>'
        for label, count in rows
    )
    return f'<div class="bars" data-chart="{chart}">{lines}</div>'


def _heatmap(counts: list[list[int]], weekdays: list[str]) -> str:
    """7 x 24 cells in a CSS grid, shaded by their share of the busiest hour."""
    peak = max((max(row) for row in counts if row), default=0) or 1
    low, high = HEAT
    cells = ['<span class="corner"></span>'] + [
        f'<span class="hour">{hour if hour % 3 == 0 else ""}</span>' for hour in range(24)
    ]
    for day, row in enumerate(counts[:7]):
        name = str(weekdays[day])[:3] if day < len(weekdays) else str(day)
        cells.append(f'<span class="day">{_e(name)}</span>')
        for hour, count in enumerate(row[:24]):
            share = count / peak
            red, green, blue = (round(a + (b - a) * share) for a, b in zip(low, high, strict=True))
            colour = f"#{red:02x}{green:02x}{blue:02x}"
            cells.append(
                f'<span class="cell" style="background:{colour}" '
                f'title="{_e(name)} {hour:02d}:00: {count:,}"></span>'
            )
    return f'<div class="heatmap" data-chart="heatmap">{"".join(cells)}</div>'


# -- sections -----------------------------------------------------------------------------


def _timeline(document: dict[str, Any]) -> str:
    days = _list(document.get("messages_per_day"))
    months = _list(document.get("messages_per_month"))
    if 0 < len(days) <= 62:
        points = [(str(d.get("date", "")), int(d.get("count", 0))) for d in days]
        label = "per day"
    else:
        points = [(str(m.get("month", "")), int(m.get("count", 0))) for m in months]
        label = "per month"
    return (
        f'<section class="wide"><h2>Activity over time <span class="muted">(messages '
        f"{label})</span></h2>{_bar_chart(points, TIMELINE, 'timeline')}</section>"
    )


def _summary(document: dict[str, Any]) -> str:
    activity = document.get("activity") or {}
    calls = document.get("calls") or {}
    media = document.get("media") or {}
    cards = [
        _card(_number(document.get("message_count")), "messages"),
        _card(_number(document.get("conversation_count")), "conversations"),
        _card(_number(document.get("contact_count")), "contacts"),
        _card(_number(activity.get("active_days")), "active days"),
        _card(_number(activity.get("average_per_active_day")), "messages per active day"),
        _card(_number(calls.get("ended")), "calls"),
        _card(_duration(calls.get("total_duration_s")), "on calls"),
        _card(_number(media.get("count")), "photos, videos and files"),
    ]
    streak = activity.get("longest_streak") or {}
    pause = activity.get("longest_break") or {}
    notes = []
    if streak:
        notes.append(
            f"Longest streak: {_number(streak.get('days'))} days "
            f"({_date(streak.get('from'))} {DASH} {_date(streak.get('to'))})."
        )
    if pause:
        notes.append(
            f"Longest break: {_number(pause.get('days'))} days "
            f"({_date(pause.get('from'))} {DASH} {_date(pause.get('to'))})."
        )
    return (
        '<section class="wide"><h2>Overview</h2><div class="cards">'
        + "".join(cards)
        + "</div>"
        + (f'<p class="muted">{" ".join(notes)}</p>' if notes else "")
        + "</section>"
    )


def _contacts(document: dict[str, Any]) -> str:
    rows = [
        (str(c.get("name") or c.get("id") or "?"), int(c.get("message_count", 0)))
        for c in _list(document.get("top_contacts"))
        if isinstance(c, dict)
    ]
    return (
        '<section><h2>Top contacts <span class="muted">(messages they sent)</span></h2>'
        f"{_horizontal_bars(rows, CONTACTS, 'contacts')}</section>"
    )


def _types(document: dict[str, Any]) -> str:
    categories = _get(document, "message_types", "categories") or {}
    labels = {
        "text": "Text", "media": "Photos, video, audio", "file": "Files", "call": "Calls",
        "contact": "Contacts shared", "location": "Locations", "poll": "Polls",
        "system": "Group events", "other": "Other",
    }  # fmt: skip
    rows = [
        (labels.get(name, name), int(count))
        for name, count in sorted(categories.items(), key=lambda item: -int(item[1]))
        if isinstance(count, int) and count > 0
    ]
    edits = document.get("edits") or {}
    extra = (
        f'<p class="muted">Edited: {_number(edits.get("edited_messages"))} · '
        f"old-style edit records: {_number(edits.get('edit_records'))} · "
        f"deleted: {_number(document.get('deleted'))} · quotes: "
        f"{_number(_get(document, 'text', 'quotes'))} · mentions: "
        f"{_number(_get(document, 'text', 'mentions'))}</p>"
    )
    return (
        f"<section><h2>Message types</h2>{_horizontal_bars(rows, TYPES, 'types')}{extra}</section>"
    )


def _heat(document: dict[str, Any]) -> str:
    hour_of_week = document.get("hour_of_week") or {}
    counts = _list(hour_of_week.get("counts")) or [[0] * 24 for _ in range(7)]
    weekdays = _list(hour_of_week.get("weekdays")) or [
        "Mon",
        "Tue",
        "Wed",
        "Thu",
        "Fri",
        "Sat",
        "Sun",
    ]
    zone = _e(document.get("timezone") or "UTC")
    return (
        f'<section class="wide"><h2>When you chat <span class="muted">(hour of the week, '
        f"{zone})</span></h2>{_heatmap(counts, weekdays)}</section>"
    )


def _responses(document: dict[str, Any]) -> str:
    times = document.get("response_times") or {}
    cards = [
        _card(_duration(times.get("median_s")), "median reply"),
        _card(_duration(_get(times, "owner", "median_s")), "your median reply"),
        _card(_duration(_get(times, "contacts", "median_s")), "their median reply"),
        _card(_duration(_get(times, "first_response", "median_s")), "median first response"),
    ]
    rows = []
    for contact in _list(times.get("by_contact")):
        if not isinstance(contact, dict):
            continue
        rows.append(
            f"<tr><td>{_e(contact.get('name'))}</td>"
            f'<td class="n">{_duration(contact.get("their_median_s"))}</td>'
            f'<td class="n">{_duration(contact.get("your_median_s"))}</td></tr>'
        )
    table = (
        '<table><thead><tr><th>Contact</th><th class="n">They reply in</th>'
        f'<th class="n">You reply in</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
        if rows
        else ""
    )
    gap = _duration(times.get("session_gap_s"))
    return (
        f'<section><h2>Response times</h2><div class="cards">{"".join(cards)}</div>'
        f'<p class="muted">A reply is a message after someone else\'s, within a session '
        f"(a pause over {gap} starts a new one).</p>{table}</section>"
    )


def _calls(document: dict[str, Any]) -> str:
    calls = document.get("calls") or {}
    cards = [
        _card(_number(calls.get("ended")), "calls"),
        _card(_number(calls.get("missed")), "missed"),
        _card(_duration(calls.get("median_duration_s")), "median length"),
        _card(_duration(calls.get("longest_duration_s")), "longest"),
    ]
    return f'<section><h2>Calls</h2><div class="cards">{"".join(cards)}</div></section>'


def _words(document: dict[str, Any]) -> str:
    words = _list(_get(document, "words", "top"))[:30]
    chips = "".join(
        f'<span class="chip">{_e(w.get("word"))} <span class="muted">{_number(w.get("count"))}'
        "</span></span>"
        for w in words
        if isinstance(w, dict)
    )
    emoji = [e for e in _list(_get(document, "emoji", "top")) if isinstance(e, dict)][:12]
    emoticons = [e for e in _list(_get(document, "emoticons", "top")) if isinstance(e, dict)]
    glyphs = "".join(
        f'<span class="chip">{_e(e.get("emoji"))} {_number(e.get("count"))}</span>' for e in emoji
    ) + "".join(
        f'<span class="chip">{_e(e.get("glyph") or "(" + str(e.get("type")) + ")")} '
        f'<span class="muted">{_e(e.get("type"))}</span> {_number(e.get("count"))}</span>'
        for e in emoticons[:12]
    )
    return (
        f'<section><h2>Most used words</h2><div class="chips">{chips or DASH}</div>'
        f'<h2 style="margin-top:16px">Emoji and emoticons</h2><div class="chips">'
        f"{glyphs or DASH}</div></section>"
    )


def _busiest(document: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><td>{_date(d.get("date"))}</td><td class="n">{_number(d.get("count"))}</td></tr>'
        for d in _list(document.get("busiest_days"))
        if isinstance(d, dict)
    )
    return (
        '<section><h2>Busiest days</h2><table><thead><tr><th>Day</th><th class="n">Messages'
        f"</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _conversations(document: dict[str, Any]) -> str:
    kinds = {"one_to_one": "1:1", "group": "group", "bot": "bot", "special": "list"}
    rows = "".join(
        f"<tr><td>{_e(c.get('name'))}</td><td>{_e(kinds.get(str(c.get('kind')), c.get('kind')))}"
        f'</td><td class="n">{_number(c.get("message_count"))}</td>'
        f'<td class="n">{_date(c.get("last_at"))}</td></tr>'
        for c in _list(document.get("conversations"))[:20]
        if isinstance(c, dict)
    )
    return (
        '<section class="wide"><h2>Conversations</h2><table><thead><tr><th>Name</th>'
        '<th>Kind</th><th class="n">Messages</th><th class="n">Last</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></section>"
    )


def _highlights(document: dict[str, Any]) -> str:
    highlights = document.get("highlights") or {}
    blocks = []
    for key, label in (
        ("first_message", "The first message"),
        ("longest_message", "The longest message"),
        ("last_message", "The last message"),
    ):
        message = highlights.get(key)
        if not isinstance(message, dict):
            continue
        blocks.append(
            f'<p class="muted">{_e(label)} — {_e(message.get("sender"))}, '
            f"{_date(message.get('sent_at'))}</p><blockquote>{_e(message.get('text'))}"
            "</blockquote>"
        )
    return f'<section class="wide"><h2>Highlights</h2>{"".join(blocks) or DASH}</section>'


def render_skype_report(analysis: dict[str, Any], *, title: str) -> str:
    """The analysis document as one self-contained, escaped HTML page."""
    start = _date(_get(analysis, "date_range", "start"))
    end = _date(_get(analysis, "date_range", "end"))
    owner = _get(analysis, "owner", "name")
    subtitle = f"{start} {DASH} {end}" + (f" · {_e(owner)}" if owner else "")
    body = "".join(
        (
            _summary(analysis),
            _timeline(analysis),
            _heat(analysis),
            _contacts(analysis),
            _types(analysis),
            _responses(analysis),
            _calls(analysis),
            _words(analysis),
            _busiest(analysis),
            _conversations(analysis),
            _highlights(analysis),
        )
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><p>{subtitle}</p></header>"
        f"<main>{body}</main>"
        "<footer>Generated by Quarry from a Skype export. Times are UTC.</footer>"
        "</body></html>\n"
    )
