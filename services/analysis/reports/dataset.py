"""The dataset profile as one self-contained HTML page: inline CSS and SVG (histograms,
the correlation matrix), no script, no external resource, every user-supplied string
escaped. Readable on a phone (one column) and on a desktop (a grid of column cards)."""

from __future__ import annotations

import math
from html import escape
from typing import Any

_CSS = """
:root{--ink:#1d2430;--muted:#5b6575;--line:#dde2ea;--card:#fff;--bg:#f4f6f9;--bar:#3b6fd8;
--high:#b42318;--medium:#b54708;--low:#475467}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",
Roboto,sans-serif;color:var(--ink);background:var(--bg)}
main{max-width:1180px;margin:0 auto;padding:16px}
h1{font-size:1.5rem;margin:.2rem 0 1rem;overflow-wrap:anywhere}
h2{font-size:1.15rem;margin:1.8rem 0 .6rem}h3{font-size:1rem;margin:0 0 .3rem;
overflow-wrap:anywhere}
.cards{display:grid;gap:12px;grid-template-columns:repeat(auto-fill,minmax(260px,1fr))}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:12px}
.kpis{display:grid;gap:8px;grid-template-columns:repeat(auto-fill,minmax(140px,1fr))}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px}
.kpi b{display:block;font-size:1.25rem}.kpi span{color:var(--muted);font-size:.85rem}
.tag{display:inline-block;font-size:.75rem;padding:1px 8px;border-radius:99px;
background:#e8eefc;color:#1f4bb0;margin-left:4px}
dl{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:.4rem 0;font-size:.88rem}
dt{color:var(--muted)}dd{margin:0;text-align:right;overflow-wrap:anywhere}
.scroll{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:10px}
table{border-collapse:collapse;width:100%;font-size:.88rem}
th,td{padding:6px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#f8f9fb;position:sticky;top:0}td.num{text-align:right}
.sev-high{color:var(--high);font-weight:600}.sev-medium{color:var(--medium);font-weight:600}
.sev-low{color:var(--low)}
ul.alerts{margin:0;padding-left:1.1rem}svg{display:block;max-width:100%;height:auto}
.muted{color:var(--muted)}.top{font-size:.85rem;margin:.3rem 0 0;padding-left:1.1rem}
.cell{max-width:24ch;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.top li{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.top li .cell{display:inline-block;vertical-align:bottom}
.issues{display:grid;gap:8px}.issue p{margin:.25rem 0;overflow-wrap:anywhere}
.issue .head{display:flex;flex-wrap:wrap;gap:6px;align-items:baseline}
.issue .rows{margin-left:auto;color:var(--muted);font-size:.88rem}
.examples{font-size:.85rem}
@media (max-width:600px){main{padding:10px}h1{font-size:1.25rem}}
"""


def render_dataset_report(
    profile: dict[str, Any],
    *,
    title: str,
    preview: dict[str, Any] | None = None,
    preview_rows: int = 20,
) -> str:
    """``profile`` as produced by the worker's dataset profiler; ``title`` (the uploaded
    file's name) and every value in it are escaped."""
    table = profile.get("table", {})
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_e(title)} · dataset profile</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
        _overview(table, profile.get("source", {})),
        _alerts(profile.get("alerts", [])),
        _quality(profile.get("quality", [])),
        _columns(profile.get("columns", [])),
        _correlations(profile.get("correlations")),
        _preview(preview, preview_rows),
        _warnings(profile.get("warnings", [])),
        "</main></body></html>",
    ]
    return "".join(parts)


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _number(value: Any, digits: int = 4) -> str:
    """A figure for people: thousands separated, a few decimals, no exponent below 1e9."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        size = abs(value)
        if value.is_integer() and size < 1e15:
            return f"{int(value):,}"
        if size >= 1e9 or size < 1e-3:
            return f"{value:.{digits}g}"
        decimals = 1 if size >= 100 else 2 if size >= 1 else 3
        return f"{value:,.{decimals}f}"
    return _e(value)


def _share(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1%}"


def _overview(table: dict[str, Any], source: dict[str, Any]) -> str:
    kpis = [
        ("rows", _number(table.get("rows"))),
        ("columns", _number(table.get("columns"))),
        ("missing cells", _share(table.get("missing_cells_share"))),
        ("duplicate rows", _number(table.get("duplicate_rows"))),
        ("memory", _bytes(table.get("memory_bytes"))),
    ]
    described = [_e(source.get("format", "")).upper()]
    for key in ("encoding", "delimiter_name", "sheet"):
        if source.get(key):
            described.append(f"{key.replace('_name', '')}: {_e(source[key])}")
    types = ", ".join(f"{_e(t)} {n}" for t, n in table.get("types", {}).items())
    sheets = ""
    if source.get("sheets"):
        sheets = (
            "<p class='muted'>Sheets: "
            + ", ".join(
                f"{_e(s.get('name'))} ({_number(s.get('rows'))}&times;{_number(s.get('columns'))})"
                + (" — profiled" if s.get("profiled") else "")
                for s in source["sheets"]
            )
            + "</p>"
        )
    return (
        "<section><div class='kpis'>"
        + "".join(f"<div class='kpi'><b>{v}</b><span>{_e(k)}</span></div>" for k, v in kpis)
        + f"</div><p class='muted'>{' · '.join(described)}. Column types: {types}.</p>"
        + sheets
        + "</section>"
    )


def _bytes(value: Any) -> str:
    if not isinstance(value, int | float):
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} GB"


def _alerts(alerts: list[dict[str, Any]]) -> str:
    if not alerts:
        return "<h2>Alerts</h2><p class='muted'>No alerts.</p>"
    items = "".join(
        f"<li><span class='tag'>{_e(a.get('type'))}</span> {_e(a.get('message'))}</li>"
        for a in alerts
    )
    return f"<h2>Alerts</h2><div class='card'><ul class='alerts'>{items}</ul></div>"


def _quality(issues: list[dict[str, Any]]) -> str:
    if not issues:
        return "<h2>Data quality</h2><p class='muted'>No data-quality issues found.</p>"
    items = "".join(
        "<div class='card issue'>"
        f"<div class='head'><span class='sev-{_e(i.get('severity'))}'>{_e(i.get('severity'))}"
        f"</span> <b>{_e(str(i.get('check', '')).replace('_', ' '))}</b> "
        f"<span class='muted'>in {_e(i.get('column') or 'all columns')}</span>"
        f"<span class='rows'>{_number(i.get('affected_rows'))} rows "
        f"({_share(i.get('share'))})</span></div>"
        f"<p>{_e(i.get('message'))}</p>"
        f"<p class='muted'>Fix: {_e(i.get('suggested_fix'))}</p>{_examples(i.get('examples'))}"
        "</div>"
        for i in issues
    )
    return f"<h2>Data quality</h2><div class='issues'>{items}</div>"


def _examples(examples: Any) -> str:
    if not examples:
        return ""
    shown = ", ".join(_e(repr(v) if isinstance(v, str) else v) for v in list(examples)[:5])
    return f"<p class='muted examples'>e.g. {shown}</p>"


def _columns(columns: list[dict[str, Any]]) -> str:
    cards = "".join(_column_card(c) for c in columns)
    return f"<h2>Columns</h2><div class='cards'>{cards}</div>"


def _column_card(c: dict[str, Any]) -> str:
    facts: list[tuple[str, str]] = [
        ("missing", f"{_number(c.get('null_count'))} ({_share(c.get('null_share'))})"),
        ("distinct", _number(c.get("distinct"))),
    ]
    numeric = c.get("numeric")
    if numeric:
        q = numeric.get("quantiles", {})
        facts += [
            ("min / max", f"{_number(numeric.get('min'))} / {_number(numeric.get('max'))}"),
            ("mean ± std", f"{_number(numeric.get('mean'))} ± {_number(numeric.get('std'))}"),
            ("median", _number(q.get("50%"))),
            ("5% to 95%", f"{_number(q.get('5%'))} &ndash; {_number(q.get('95%'))}"),
            ("skewness", _number(numeric.get("skewness"), 3)),
            (
                "zeros / negative",
                f"{_number(numeric.get('zeros'))} / {_number(numeric.get('negatives'))}",
            ),
        ]
    dates = c.get("datetime")
    if dates:
        facts += [
            ("from", _e(_day(dates.get("min")))),
            ("to", _e(_day(dates.get("max")))),
            ("granularity", _e(dates.get("granularity"))),
        ]
    length = c.get("length")
    if length:
        facts.append(
            (
                "length",
                f"{_number(length.get('length_min'))}&ndash;{_number(length.get('length_max'))}"
                f", mean {_number(length.get('length_mean'), 3)}",
            )
        )
    boolean = c.get("boolean")
    if boolean:
        facts.append(
            ("true / false", f"{_number(boolean.get('true'))} / {_number(boolean.get('false'))}")
        )
    body = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in facts)
    chart = _histogram_svg(c.get("histogram"), dated=bool(dates))
    top = ""
    if c.get("top_values") and not numeric:
        top = (
            "<ol class='top'>"
            + "".join(
                f"<li><span class='cell'>{_e(t.get('value'))}</span> "
                f"<span class='muted'>&times; {_number(t.get('count'))}</span></li>"
                for t in c["top_values"][:5]
            )
            + "</ol>"
        )
    return (
        f"<div class='card'><h3>{_e(c.get('name'))}<span class='tag'>"
        f"{_e(c.get('semantic_type'))}</span></h3><dl>{body}</dl>{chart}{top}</div>"
    )


def _day(value: Any) -> Any:
    """A time at midnight shown as its date."""
    text = "" if value is None else str(value)
    return text[:10] if text.endswith("T00:00:00") else text


def _histogram_svg(histogram: dict[str, Any] | None, *, dated: bool) -> str:
    if not histogram or not histogram.get("counts"):
        return ""
    counts = [int(n) for n in histogram["counts"]]
    edges = histogram.get("edges", [])
    width, height, pad = 240, 90, 14
    peak = max(counts) or 1
    bar = (width - 2) / len(counts)
    bars = "".join(
        f"<rect x='{1 + i * bar:.2f}' y='{height - pad - (n / peak) * (height - pad - 4):.2f}' "
        f"width='{max(bar - 1, 0.5):.2f}' height='{(n / peak) * (height - pad - 4):.2f}' "
        f"fill='#3b6fd8'><title>{_e(_edge(edges, i, dated))}: {n:,}</title></rect>"
        for i, n in enumerate(counts)
    )
    low, high = (_edge(edges, 0, dated), _edge(edges, len(counts), dated)) if edges else ("", "")
    return (
        f"<svg viewBox='0 0 {width} {height}' role='img' aria-label='histogram'>{bars}"
        f"<text x='1' y='{height - 2}' font-size='10' fill='#5b6575'>{_e(low)}</text>"
        f"<text x='{width - 1}' y='{height - 2}' font-size='10' fill='#5b6575' "
        f"text-anchor='end'>{_e(high)}</text></svg>"
    )


def _edge(edges: list[Any], i: int, dated: bool) -> str:
    if i >= len(edges):
        return ""
    value = edges[i]
    if dated and isinstance(value, str):
        return value[:10]
    return _number(value, 3) if isinstance(value, int | float) else str(value)


def _correlations(matrix: dict[str, Any] | None) -> str:
    if not matrix:
        return ""
    names = matrix["columns"]
    return (
        "<h2>Correlations</h2><div class='cards'>"
        + _matrix_svg(names, matrix.get("pearson", []), "Pearson")
        + _matrix_svg(names, matrix.get("spearman", []), "Spearman")
        + "</div>"
    )


def _matrix_svg(names: list[str], values: list[list[Any]], label: str) -> str:
    size = len(names)
    cell = 28
    left = 110
    top = 110
    width, height = left + size * cell + 2, top + size * cell + 2
    cells = []
    for i in range(size):
        for j in range(size):
            r = values[i][j] if i < len(values) and j < len(values[i]) else None
            fill = _color(r)
            text = "" if r is None else f"{r:.2f}"
            cells.append(
                f"<rect x='{left + j * cell}' y='{top + i * cell}' width='{cell - 1}' "
                f"height='{cell - 1}' fill='{fill}'><title>{_e(names[i])} &times; {_e(names[j])}: "
                f"{_e(text or 'n/a')}</title></rect>"
                f"<text x='{left + j * cell + cell / 2}' y='{top + i * cell + cell / 2 + 3}' "
                f"font-size='8' text-anchor='middle'>{_e(text)}</text>"
            )
    labels = "".join(
        f"<text x='{left - 4}' y='{top + i * cell + cell / 2 + 3}' font-size='10' "
        f"text-anchor='end'>{_e(_short(n))}</text>"
        f"<text transform='translate({left + i * cell + cell / 2},{top - 4}) rotate(-60)' "
        f"font-size='10'>{_e(_short(n))}</text>"
        for i, n in enumerate(names)
    )
    return (
        f"<div class='card'><h3>{label}</h3><svg viewBox='0 0 {width} {height}' role='img' "
        f"aria-label='{label} correlation matrix'>{labels}{''.join(cells)}</svg></div>"
    )


def _short(name: str, limit: int = 16) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _color(r: Any) -> str:
    """Blue for positive, red for negative, white at zero, grey when undefined."""
    if r is None:
        return "#eceff3"
    strength = min(1.0, abs(float(r)))
    base = (59, 111, 216) if r >= 0 else (204, 51, 51)
    mix = [round(255 - (255 - c) * strength) for c in base]
    return f"rgb({mix[0]},{mix[1]},{mix[2]})"


def _preview(preview: dict[str, Any] | None, rows: int) -> str:
    if not preview or not preview.get("columns"):
        return ""
    head = "".join(f"<th>{_e(c)}</th>" for c in preview["columns"])
    body = "".join(
        "<tr>" + "".join(f"<td class='cell'>{_e(v)}</td>" for v in row) + "</tr>"
        for row in preview.get("rows", [])[:rows]
    )
    return (
        f"<h2>First rows</h2><div class='scroll'><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def _warnings(warnings: list[dict[str, Any]]) -> str:
    if not warnings:
        return ""
    items = "".join(f"<li>{_e(w.get('message'))}</li>" for w in warnings)
    return f"<h2>Reading notes</h2><div class='card'><ul class='alerts'>{items}</ul></div>"
