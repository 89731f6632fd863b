"""The Skype HTML report: self-contained, escaped, and drawn (headless Chromium
screenshots at phone and desktop widths, checked pixel by pixel)."""

from __future__ import annotations

import os
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from samples.skype import write_export
from services.analysis.reports.skype import CONTACTS, HEAT, TIMELINE, TYPES, render_skype_report
from services.ingest.worker.skype import SkypeAnalytics, open_messages_json, parse_export
from tests.support import browser

EVIL = "<script>alert(1)</script>"


class _Page(HTMLParser):
    """Tags, attributes and text of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data
        else:
            self.text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("report") / "export.tar"
    write_export(path, 6000, seed=21, hostile=True)
    with open_messages_json(path) as stream:
        export = parse_export(stream)
        analytics = SkypeAnalytics()
        for message in export.messages():
            analytics.add(message)
        analytics.owner_id = export.header.user_id
        document = analytics.result(export.conversations(), export.contact_names())
    # A message text and a title that are markup, as a user could write them.
    document["highlights"]["first_message"]["text"] = EVIL + ' "quoted" & <b>bold</b>'
    return document


@pytest.fixture(scope="module")
def html(analysis: dict[str, Any]) -> str:
    return render_skype_report(analysis, title=f"Export of {EVIL}")


def test_the_page_is_self_contained(html: str) -> None:
    page = _parse(html)
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "base", "form"}
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name not in ("src", "href", "srcset", "action", "xlink:href"), (tag, name)
            assert "javascript:" not in (value or "")
    assert "url(" not in page.style
    assert "@import" not in page.style
    assert "http://" not in page.style
    assert "https://" not in page.style
    csp = [
        a for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp
    assert "default-src 'none'" in (csp[0]["content"] or "")
    assert any(t == "meta" and a.get("name") == "viewport" for t, a in page.tags)
    charts = {a.get("data-chart") for _, a in page.tags if a.get("data-chart")}
    assert charts == {"timeline", "heatmap", "contacts", "types"}


def test_user_strings_are_escaped(html: str, analysis: dict[str, Any]) -> None:
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '"><img' not in html
    text = "".join(_parse(html).text)
    assert EVIL in text  # shown as text: title, a contact, a group name, the message
    assert f"Export of {EVIL}" in text
    names = [c["name"] for c in analysis["top_contacts"]]
    for name in names:
        assert name in text


def test_the_spec_figures_are_on_the_page(html: str, analysis: dict[str, Any]) -> None:
    text = " ".join(_parse(html).text)
    assert f"{analysis['message_count']:,}" in text
    assert analysis["top_contacts"][0]["name"] in text
    for heading in (
        "Activity over time",
        "When you chat",
        "Top contacts",
        "Message types",
        "Response times",
    ):
        assert heading in text


def test_an_empty_or_partial_analysis_still_renders() -> None:
    for document in ({}, {"message_count": 0, "top_contacts": None, "hour_of_week": {}}):
        page = render_skype_report(document, title="Empty")
        assert page.startswith("<!DOCTYPE html>")
        assert "<script" not in page


# -- in a real browser ---------------------------------------------------------------------


def _pixels(image: Image.Image, colour: str) -> tuple[int, tuple[int, int, int, int] | None]:
    """Pixels of ``colour`` (within 6 per channel) and their bounding box."""
    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    rgb = np.asarray(image.convert("RGB")).astype(int)
    hits = (np.abs(rgb - target) <= 6).all(axis=2)
    if not hits.any():
        return 0, None
    rows, columns = np.flatnonzero(hits.any(axis=1)), np.flatnonzero(hits.any(axis=0))
    return int(hits.sum()), (int(columns[0]), int(rows[0]), int(columns[-1]), int(rows[-1]))


def _heat_pixels(image: Image.Image) -> int:
    """Pixels on the heatmap's colour scale (between its empty and its busiest colour),
    the pale end excluded so that the background does not count."""
    low, high = (np.array(c) for c in HEAT)
    rgb = np.asarray(image.convert("RGB")).astype(float)
    direction = high - low
    share = ((rgb - low) @ direction) / (direction @ direction)
    nearest = low + np.clip(share, 0, 1)[..., None] * direction
    on_scale = (np.abs(rgb - nearest) <= 8).all(axis=2) & (share > 0.15)
    return int(on_scale.sum())


@pytest.mark.parametrize(("width", "name"), [(390, "phone"), (1280, "desktop")])
def test_charts_are_drawn_at_phone_and_desktop_widths(
    html: str, tmp_path: Path, width: int, name: str
) -> None:
    out = browser.screenshot(html, width, 5200, tmp_path / f"{name}.png")
    keep = os.environ.get("QUARRY_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(keep) / f"skype-report-{name}.png")
    image = Image.open(out)
    assert image.size[0] == width
    for colour, chart in ((TIMELINE, "timeline"), (CONTACTS, "contacts"), (TYPES, "types")):
        count, box = _pixels(image, colour)
        assert count > 300, (chart, count)
        assert box is not None
        _, top, right, bottom = box
        assert right <= width  # inside the page: nothing cut off sideways
        assert bottom - top > 20, chart
    assert _heat_pixels(image) > 2000


def test_the_malicious_strings_are_text_in_the_browser_dom(html: str) -> None:
    dom = browser.dump_dom(html)
    page = _parse(dom)
    assert "script" not in {tag for tag, _ in page.tags}
    assert not any(tag == "img" for tag, _ in page.tags)
    text = "".join(page.text)
    assert EVIL in text
    assert '"><img src=x onerror=alert(2)>' in text
