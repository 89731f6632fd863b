"""How the skype.parse job hands a chunk's rows to analysis: inline in the webhook
(base64) when they fit one, else as an S3 artifact whose temporary file is removed."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from services.ingest.worker import skype_parse
from services.ingest.worker.skype_parse import Chunk


class StubContext:
    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.uploaded: list[tuple[str, bytes, str]] = []

    async def upload_artifact(self, name: str, path: Path, content_type: str) -> dict[str, Any]:
        self.uploaded.append((name, path.read_bytes(), content_type))
        return {"bucket": "b", "key": f"artifacts/j/{name}", "size": path.stat().st_size}


ROWS = b'1,0,c,8:a,1,8:b,,2020-07-06T17:00:00.000000+00:00,,text,RichText,"a ""b""\r\n",false\n'


async def test_rows_that_fit_a_webhook_go_inline(tmp_path: Path) -> None:
    ctx = StubContext(tmp_path)
    source = await skype_parse._chunk_source(ctx, Chunk(0, 0, 1, ROWS))  # type: ignore[arg-type]
    assert base64.b64decode(source["csv_base64"]) == ROWS
    assert ctx.uploaded == []


async def test_rows_too_large_for_a_webhook_go_through_s3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(skype_parse, "INLINE_CHUNK_BYTES", len(ROWS))  # base64 is larger
    ctx = StubContext(tmp_path)
    source = await skype_parse._chunk_source(ctx, Chunk(3, 0, 1, ROWS))  # type: ignore[arg-type]
    assert source == {
        "bucket": "b",
        "key": "artifacts/j/messages/chunk-00003.csv",
        "size": len(ROWS),
    }
    assert ctx.uploaded == [("messages/chunk-00003.csv", ROWS, "text/csv")]
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone
