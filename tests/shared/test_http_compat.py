"""shared.http_compat: HEAD served as GET without a body (and without producing one);
`curl -d` JSON read as JSON."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from shared.http_compat import HeadAsGetMiddleware, JsonBodyMiddleware
from shared.proof import proof_headers
from shared.service_app import create_service_app
from shared.settings import CommonSettings

CHUNK = 64 * 1024
CHUNKS = 256  # 16 MiB


@dataclass
class Produced:
    chunks: int = 0
    closed: int = 0


def streaming_service(produced: Produced) -> FastAPI:
    """A service (the real factory) with two 16 MiB downloads that count what they make."""
    router = APIRouter()

    async def body() -> AsyncIterator[bytes]:
        try:
            for _ in range(CHUNKS):
                produced.chunks += 1
                yield b"x" * CHUNK
        finally:
            produced.closed += 1

    @router.get("/files/download/{file_id}")
    async def download(file_id: str) -> StreamingResponse:
        return StreamingResponse(body(), media_type="application/octet-stream")

    @router.get("/files/sized/{file_id}")
    async def sized(file_id: str) -> StreamingResponse:
        return StreamingResponse(
            body(),
            media_type="application/octet-stream",
            headers={"Content-Length": str(CHUNK * CHUNKS)},
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    return create_service_app(
        name="demo",
        title="demo",
        settings=CommonSettings(internal_token="head-test-token-0123456789", log_json=False),
        lifespan=lifespan,
        routers=[router],
    )


class Body(BaseModel):
    name: str


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/thing")
    async def thing() -> dict[str, str]:
        return {"hello": "world"}

    @app.post("/echo")
    async def echo(body: Body) -> dict[str, str]:
        return {"name": body.name}

    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(HeadAsGetMiddleware)
    return app


async def test_head_is_get_without_a_body() -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        head = await client.head("/thing")
        get = await client.get("/thing")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]


async def test_form_encoded_json_is_read_as_json_and_real_forms_are_not() -> None:
    transport = httpx.ASGITransport(app=make_app())
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        as_curl = await client.post("/echo", content=b'{"name": "curl"}', headers=form)
        real_form = await client.post("/echo", content=b"name=curl", headers=form)
        not_json = await client.post("/echo", content=b"{name=curl", headers=form)
    assert as_curl.status_code == 200
    assert as_curl.json() == {"name": "curl"}
    assert real_form.status_code == 422
    assert not_json.status_code == 422


async def test_head_on_a_stream_produces_no_body() -> None:
    produced = Produced()
    transport = httpx.ASGITransport(app=streaming_service(produced))
    proof = proof_headers("head-test-token-0123456789")
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=proof) as c:
        head = await c.head("/files/download/1")
        assert head.status_code == 200
        assert head.headers["content-type"] == "application/octet-stream"
        assert head.content == b""
        # Stopped once its headers were out: not one chunk made, the generator closed.
        assert produced.chunks == 0
        sized = await c.head("/files/sized/1")
        assert sized.status_code == 200
        assert sized.headers["content-length"] == str(CHUNK * CHUNKS)
        assert sized.content == b""
        # A declared length: stopped at the first chunk, its generator closed (as after a
        # client disconnect: by the loop's async-generator finalizer).
        assert produced.chunks <= 1
        for _ in range(10):
            await asyncio.sleep(0)
        assert produced.closed == produced.chunks
        get = await c.get("/files/download/1")
    assert len(get.content) == CHUNK * CHUNKS
