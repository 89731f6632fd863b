"""The framer's two ways (fast item-boundary pieces, exact structural scan) read the same
messages, whatever the JSON's layout; what the typed decode skips is still checked."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path
from typing import Any

import pytest

from services.ingest.worker.skype import InvalidExport, ParseLimits, parse_export
from tests.services.ingest.worker.skype.conftest import Sample
from tests.services.ingest.worker.skype.support import conversation, export, message


def _read(data: bytes, *, fast: bool = True, limits: ParseLimits | None = None) -> dict[str, Any]:
    parsed = parse_export(io.BytesIO(data), limits)
    parsed._framer.fast = fast
    messages = list(parsed.messages())
    return {
        "messages": messages,
        "conversations": parsed.conversations(),
        "names": parsed.contact_names(),
        "header": parsed.header,
        "skipped": parsed.skipped,
    }


def _layouts(data: bytes) -> dict[str, bytes]:
    document = json.loads(data)
    return {
        "as written": data,
        "compact": json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(),
        "spaced": json.dumps(document).encode(),
        "indented": json.dumps(document, indent=2).encode(),
    }


def _long_export(count: int = 3000) -> str:
    messages = [message(f"m{i} <b>x</b> &amp;", message_id=str(i)) for i in range(count)]
    messages[count // 2]["amsreferences"] = "MARK"
    return export(conversation(messages)).decode().replace(", ", ",").replace(": ", ":")


def test_fast_and_exact_read_the_same_in_every_layout(sample_json: Sample) -> None:
    reference = _read(sample_json.path.read_bytes(), fast=False)
    assert len(reference["messages"]) == sample_json.truth.message_count
    for name, data in _layouts(sample_json.path.read_bytes()).items():
        for fast in (True, False):
            assert _read(data, fast=fast) == reference, (name, fast)


def test_small_reads_and_small_limits_change_nothing(sample_json: Sample) -> None:
    data = sample_json.path.read_bytes()
    reference = _read(data)
    small = ParseLimits(chunk_bytes=997, max_container_items=300)
    assert _read(data, limits=small) == reference


@pytest.mark.parametrize("where", ["key", "skipped value"])
def test_invalid_utf8_in_what_the_typed_decode_skips_is_refused(where: str) -> None:
    text = _long_export()
    target = '"amsreferences":"MARK"'
    broken = text.encode().replace(
        target.encode(),
        b'"ams\xffreferences":null' if where == "key" else b'"amsreferences":"M\xc3\x28RK"',
    )
    assert broken != text.encode()
    with pytest.raises(InvalidExport, match="not valid UTF-8"):
        _read(broken)


def test_a_stray_quote_is_a_json_error_not_a_truncation() -> None:
    text = _long_export()
    broken = text.replace('"amsreferences":"MARK"', '"amsreferences":"MA"RK"')
    with pytest.raises(InvalidExport, match="not valid JSON") as caught:
        _read(broken.encode())
    assert "truncated" not in caught.value.reason


def test_a_real_truncation_says_so() -> None:
    data = _long_export().encode()
    with pytest.raises(InvalidExport, match="truncated"):
        _read(data[: len(data) // 2])


def test_mutated_exports_read_alike_or_fail_alike_both_ways(tmp_path: Path) -> None:
    """Truncations, flipped, dropped and duplicated bytes: the fast way and the exact
    scan agree (the same messages, or both ``InvalidExport``), and nothing else raises."""
    base = _long_export(400).encode()
    rng = random.Random(7)
    special = b'{}[]",:\\ 0n\xff'
    for _ in range(120):
        data = bytearray(base)
        position = rng.randrange(len(data))
        kind = rng.randrange(4)
        if kind == 0:
            del data[position:]
        elif kind == 1:
            data[position] = special[rng.randrange(len(special))]
        elif kind == 2:
            del data[position]
        else:
            data[position:position] = data[position : position + rng.randrange(1, 100)]
        outcomes: list[dict[str, Any] | None] = []
        for fast in (True, False):
            try:
                outcomes.append(_read(bytes(data), fast=fast))
            except InvalidExport:
                outcomes.append(None)
        assert outcomes[0] == outcomes[1], (kind, position)
