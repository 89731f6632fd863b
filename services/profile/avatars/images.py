"""Is it an image? Every byte string is checked before it is stored or served.

- Raster images (JPEG, PNG, GIF, WebP) are decoded by Pillow: the format comes from
  the bytes, never from the sender's Content-Type; dimensions are bounded before
  decoding (decompression bombs), and a truncated or corrupt file is refused.
- SVG (what the generator services answer) is kept as SVG, not rasterised: it must be
  well-formed XML with an ``<svg>`` root, no DTD or entities, and self-contained — no
  scripts, event handlers, ``foreignObject``, external ``href``/``url(...)`` or
  ``@import``. A data URL of such an SVG cannot fetch or run anything in a browser.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
from dataclasses import dataclass

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from PIL import Image, UnidentifiedImageError

RASTER_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
SVG_TYPE = "image/svg+xml"
SVG_NS = "{http://www.w3.org/2000/svg}"
_FORBIDDEN_ELEMENTS = {"script", "foreignobject", "iframe", "embed", "object", "handler"}
_HREF = re.compile(r"(^|\})href$")
_SAFE_HREF = re.compile(r"^(#|data:image/(png|jpeg|gif|webp);base64,)", re.I)
_CSS_URL = re.compile(r"url\(\s*['\"]?\s*(?!#)", re.I)


class InvalidImage(ValueError):
    """Not an image this service stores."""


@dataclass(frozen=True)
class ValidImage:
    data: bytes
    content_type: str
    width: int | None
    height: int | None
    sha256: str

    def data_url(self) -> str:
        return f"data:{self.content_type};base64,{base64.b64encode(self.data).decode('ascii')}"


def _looks_like_svg(data: bytes) -> bool:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<svg", b"<?xml", b"<!--"))


def validate_image(
    data: bytes, *, min_bytes: int = 1, max_bytes: int, max_pixels: int
) -> ValidImage:
    """A :class:`ValidImage` of ``data``, or :class:`InvalidImage` saying why not."""
    if len(data) < min_bytes:
        raise InvalidImage(f"{len(data)} bytes is below the {min_bytes}-byte minimum")
    if len(data) > max_bytes:
        raise InvalidImage(f"{len(data)} bytes is over the {max_bytes}-byte limit")
    if _looks_like_svg(data):
        return validate_svg(data)
    return _validate_raster(data, max_pixels)


def _validate_raster(data: bytes, max_pixels: int) -> ValidImage:
    try:
        with Image.open(io.BytesIO(data)) as probe:
            fmt = probe.format or ""
            width, height = probe.size
            if fmt not in RASTER_TYPES:
                raise InvalidImage(f"image format {fmt or 'unknown'} is not accepted")
            if width * height > max_pixels or width < 1 or height < 1:
                raise InvalidImage(f"{width}x{height} pixels is outside the accepted size")
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # decodes every pixel: a truncated file fails here
    except InvalidImage:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as exc:
        raise InvalidImage(f"not a decodable image ({type(exc).__name__})") from exc
    return ValidImage(
        data=data,
        content_type=RASTER_TYPES[fmt],
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def validate_svg(data: bytes) -> ValidImage:
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, SafeET.ParseError, ValueError) as exc:
        raise InvalidImage(f"not well-formed, self-contained SVG ({type(exc).__name__})") from exc
    if root.tag not in (f"{SVG_NS}svg", "svg"):
        raise InvalidImage("the XML root is not <svg>")
    for element in root.iter():
        tag = str(element.tag).rsplit("}", 1)[-1].lower()
        if tag in _FORBIDDEN_ELEMENTS:
            raise InvalidImage(f"SVG with <{tag}> is refused")
        if tag == "style" and element.text and _unsafe_css(element.text):
            raise InvalidImage("SVG style sheet refers to an external resource")
        for name, value in element.attrib.items():
            local = name.rsplit("}", 1)[-1].lower()
            if local.startswith("on"):
                raise InvalidImage(f"SVG event handler {local!r} is refused")
            if _HREF.search(name) and not _SAFE_HREF.match(value.strip()):
                raise InvalidImage("SVG refers to an external resource")
            if _unsafe_css(value):
                raise InvalidImage("SVG attribute refers to an external resource")
    width = _dimension(root.attrib.get("width"))
    height = _dimension(root.attrib.get("height"))
    return ValidImage(
        data=data,
        content_type=SVG_TYPE,
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _unsafe_css(value: str) -> bool:
    lowered = value.lower()
    return "@import" in lowered or bool(_CSS_URL.search(value)) or "javascript:" in lowered


def _dimension(value: str | None) -> int | None:
    if value is None:
        return None
    match = re.match(r"^\s*(\d+)(px)?\s*$", value)
    return int(match.group(1)) if match else None
