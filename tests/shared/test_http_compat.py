"""shared.http_compat: HEAD served as GET without a body; `curl -d` JSON read as JSON."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from shared.http_compat import HeadAsGetMiddleware, JsonBodyMiddleware


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
