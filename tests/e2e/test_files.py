"""The Files routes through the gateway: storage, history, presigned downloads,
removal, conversions, parsing and tonality with the synchronous wait, the 202 path,
the cache, and other users' ids (404, nothing touched)."""

from __future__ import annotations

import io

import httpx
import pytest

from samples import documents as samples
from tests.e2e.accounts_helpers import bearer, person, register
from tests.services.ingest.worker.documents.conftest import normalised

Headers = dict[str, str]


async def user(gw: httpx.AsyncClient, unique: str, stem: str = "files") -> Headers:
    who = person(unique, stem)
    await register(gw, who)
    headers = await bearer(gw, who)
    gw.cookies.clear()  # the login's session cookie: each request names its caller
    return headers


async def upload(
    gw: httpx.AsyncClient, headers: Headers, name: str, data: bytes, status: int = 201
) -> dict[str, object]:
    response = await gw.post("/files/upload", files={"file": (name, data)}, headers=headers)
    assert response.status_code == status, response.text
    body: dict[str, object] = response.json()
    return body


async def fetch(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(url)


@pytest.fixture
async def alice(gateway_client: httpx.AsyncClient, unique: str) -> Headers:
    return await user(gateway_client, unique, "alice")


@pytest.fixture
async def bob(gateway_client: httpx.AsyncClient, unique: str) -> Headers:
    return await user(gateway_client, unique, "bob")


# -- storage ------------------------------------------------------------------------------


async def test_upload_answers_the_metadata_with_the_sniffed_kind(
    gateway_client: httpx.AsyncClient, alice: Headers
) -> None:
    document = samples.sample("pdf", 50, sections=1, paragraphs=2)
    body = await upload(gateway_client, alice, "notes.txt", document.data)  # named wrong
    assert isinstance(body["id"], int)
    assert body["filename"] == "notes.txt"
    assert body["kind"] == "pdf"
    assert body["content_type"] == "application/pdf"
    assert body["size"] == len(document.data)
    assert len(str(body["sha256"])) == 64
    assert str(body["s3_url"]).endswith(str(body["s3_key"]))
    assert body["uploaded_at"]
    markdown = await upload(gateway_client, alice, "readme.md", b"# Title\n\nSome *text*.\n")
    assert markdown["kind"] == "md"
    page = await upload(gateway_client, alice, "page", b"<!DOCTYPE html><html><p>x</p></html>")
    assert page["kind"] == "html"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("program.pdf", b"\x7fELF\x02\x01\x01" + b"\x00" * 64),
        ("archive.docx", b"PK\x03\x04" + b"\x00" * 26 + b"plain/file.bin" + b"\x00" * 40),
        ("legacy.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64),
    ],
    ids=["executable", "plain-zip", "ole2"],
)
async def test_upload_refuses_what_is_no_document(
    gateway_client: httpx.AsyncClient, alice: Headers, name: str, data: bytes
) -> None:
    response = await gateway_client.post(
        "/files/upload", files={"file": (name, data)}, headers=alice
    )
    assert response.status_code == 400, response.text
    assert "Unsupported file type" in response.json()["detail"]


async def test_upload_refuses_empty_files_missing_parts_and_anonymous_callers(
    gateway_client: httpx.AsyncClient, alice: Headers
) -> None:
    empty = await gateway_client.post(
        "/files/upload", files={"file": ("e.txt", b"")}, headers=alice
    )
    assert empty.status_code == 400
    missing = await gateway_client.post(
        "/files/upload", files={"other": ("e.txt", b"x")}, headers=alice
    )
    assert missing.status_code == 400
    anonymous = await gateway_client.post("/files/upload", files={"file": ("e.txt", b"hello")})
    assert anonymous.status_code == 401
    assert "detail" in anonymous.json()


async def test_the_same_content_twice_is_stored_once(
    gateway_client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    data = samples.sample("txt", 51, sections=1, paragraphs=1).data
    first = await upload(gateway_client, alice, "a.txt", data)
    second = await upload(gateway_client, alice, "b.txt", data)
    assert second["id"] == first["id"]
    assert second["s3_key"] == first["s3_key"]
    history = (await gateway_client.get("/files/storage", headers=alice)).json()
    assert [f["id"] for f in history].count(first["id"]) == 1
    theirs = await upload(gateway_client, bob, "a.txt", data)  # another user: their own copy
    assert theirs["id"] != first["id"]


async def test_history_is_newest_first_and_narrows(
    gateway_client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    ids = []
    for seed, kind in ((52, "txt"), (53, "md"), (54, "txt")):
        document = samples.sample(kind, seed, sections=1, paragraphs=1)
        ids.append((await upload(gateway_client, alice, f"f{seed}.{kind}", document.data))["id"])
    await upload(gateway_client, bob, "bob.txt", b"Bob's own words.\n")
    history = (await gateway_client.get("/files/storage", headers=alice)).json()
    assert [f["id"] for f in history] == ids[::-1]
    page = (await gateway_client.get("/files/storage?limit=1&offset=1", headers=alice)).json()
    assert [f["id"] for f in page] == [ids[1]]
    markdown = (await gateway_client.get("/files/storage?kind=md", headers=alice)).json()
    assert [f["id"] for f in markdown] == [ids[1]]
    bad = await gateway_client.get("/files/storage?limit=0", headers=alice)
    assert bad.status_code == 422


async def test_download_is_a_presigned_url_with_the_original_name(
    gateway_client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    data = samples.sample("docx", 55, sections=1, paragraphs=1).data
    stored = await upload(gateway_client, alice, "Résumé 2026.docx", data)
    answer = await gateway_client.get(f"/files/download/{stored['id']}", headers=alice)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert 0 < body["expires_in"] <= 3600
    fetched = await fetch(body["file_url"])
    assert fetched.status_code == 200
    assert fetched.content == data
    disposition = fetched.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''R%C3%A9sum%C3%A9%202026.docx" in disposition
    tampered = await fetch(body["file_url"].replace("X-Amz-Signature=", "X-Amz-Signature=0"))
    assert tampered.status_code == 403
    assert (
        await gateway_client.get(f"/files/download/{stored['id']}", headers=bob)
    ).status_code == 404
    assert (await gateway_client.get("/files/download/999999999", headers=alice)).status_code == 404
    assert (await gateway_client.get("/files/download/abc", headers=alice)).status_code == 422


async def test_remove_takes_the_file_its_derived_files_and_objects(
    gateway_client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    data = samples.sample("md", 56, sections=1, paragraphs=2).data
    stored = await upload(gateway_client, alice, "remove-me.md", data)
    converted = await gateway_client.post(
        "/files/convert",
        json={"s3_key": stored["s3_key"], "format_from": "md", "format_to": "html"},
        headers=alice,
    )
    assert converted.status_code == 201, converted.text
    derived_id = converted.json()["file_id"]
    source_url = (await gateway_client.get(f"/files/download/{stored['id']}", headers=alice)).json()
    derived_url = (await gateway_client.get(f"/files/download/{derived_id}", headers=alice)).json()

    # Another user's attempt touches nothing.
    assert (
        await gateway_client.delete(f"/files/remove/{stored['id']}", headers=bob)
    ).status_code == 404
    assert (await fetch(source_url["file_url"])).status_code == 200

    removed = await gateway_client.delete(f"/files/remove/{stored['id']}", headers=alice)
    assert removed.status_code == 204
    assert removed.content == b""
    assert (
        await gateway_client.delete(f"/files/remove/{stored['id']}", headers=alice)
    ).status_code == 404
    for file_id in (stored["id"], derived_id):
        assert (
            await gateway_client.get(f"/files/download/{file_id}", headers=alice)
        ).status_code == 404
    assert (await fetch(source_url["file_url"])).status_code == 404
    assert (await fetch(derived_url["file_url"])).status_code == 404
    history = (await gateway_client.get("/files/storage", headers=alice)).json()
    assert not {stored["id"], derived_id} & {f["id"] for f in history}


# -- processing -------------------------------------------------------------------------------


async def test_convert_docx_to_pdf_adds_a_linked_file_and_is_cached(
    gateway_client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    document = samples.sample("docx", 57, sections=2, paragraphs=2)
    stored = await upload(gateway_client, alice, "quarterly.docx", document.data)
    request = {"s3_key": stored["s3_key"], "format_from": "docx", "format_to": "pdf"}
    first = await gateway_client.post("/files/convert", json=request, headers=alice)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["status"] == "success"
    assert body["message"] is None
    assert body["cached"] is False
    pdf = await fetch(body["file_url"])
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF-")
    import pypdfium2

    text = "\n".join(p.get_textpage().get_text_range() for p in pypdfium2.PdfDocument(pdf.content))
    for paragraph in document.text.paragraphs:
        assert normalised(paragraph) in normalised(text)

    history = (await gateway_client.get("/files/storage", headers=alice)).json()
    derived = next(f for f in history if f["id"] == body["file_id"])
    assert derived["source_file_id"] == stored["id"]
    assert derived["kind"] == "pdf"
    assert derived["filename"] == "quarterly.pdf"
    assert derived["s3_key"] == body["new_s3_key"]

    again = (await gateway_client.post("/files/convert", json=request, headers=alice)).json()
    assert again["cached"] is True
    assert again["file_id"] == body["file_id"]
    history = (await gateway_client.get("/files/storage", headers=alice)).json()
    assert [f["id"] for f in history].count(body["file_id"]) == 1

    # Bob has the same content: the cached conversion is copied into his files.
    theirs = await upload(gateway_client, bob, "same.docx", document.data)
    copied = await gateway_client.post(
        "/files/convert", json={**request, "s3_key": theirs["s3_key"]}, headers=bob
    )
    assert copied.status_code == 201, copied.text
    assert copied.json()["cached"] is True
    assert copied.json()["file_id"] != body["file_id"]
    assert (await fetch(copied.json()["file_url"])).content == pdf.content


async def test_convert_refuses_an_unsupported_pair_listing_the_supported_ones(
    gateway_client: httpx.AsyncClient, alice: Headers
) -> None:
    stored = await upload(gateway_client, alice, "t.pdf", samples.sample("pdf", 58).data)
    response = await gateway_client.post(
        "/files/convert",
        json={"s3_key": stored["s3_key"], "format_from": "pdf", "format_to": "docx"},
        headers=alice,
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("Unsupported conversion pdf->docx; supported: ")
    for pair in ("docx->pdf", "csv->xlsx", "md->html"):
        assert pair in detail
    wrong_source = await gateway_client.post(
        "/files/convert",
        json={"s3_key": stored["s3_key"], "format_from": "docx", "format_to": "pdf"},
        headers=alice,
    )
    assert wrong_source.status_code == 400
    assert wrong_source.json()["detail"] == "The file is pdf, not docx"


async def test_another_users_key_is_a_file_that_does_not_exist(
    gateway_client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    stored = await upload(gateway_client, alice, "private.txt", b"Alice's private text.\n")
    for path, body in (
        ("/files/convert", {"s3_key": stored["s3_key"], "format_from": "txt", "format_to": "pdf"}),
        ("/files/parse-file", {"s3_key": stored["s3_key"], "keywords": ["private"]}),
        ("/files/tonality-analysis", {"s3_key": stored["s3_key"]}),
    ):
        response = await gateway_client.post(path, json=body, headers=bob)
        assert response.status_code == 400, response.text
        assert response.json()["detail"] == "File does not exist"
    assert (await gateway_client.get("/files/storage", headers=bob)).json() == []


async def test_a_table_converts_to_a_workbook_whose_cells_read_back(
    gateway_client: httpx.AsyncClient, alice: Headers
) -> None:
    csv_data = b'id,name,score\n1,Ann,9.5\n2,"Bob, Jr.",7\n'
    stored = await upload(gateway_client, alice, "scores.csv", csv_data)
    assert stored["kind"] == "csv"
    answer = await gateway_client.post(
        "/files/convert",
        json={"s3_key": stored["s3_key"], "format_from": "csv", "format_to": "xlsx"},
        headers=alice,
    )
    assert answer.status_code == 201, answer.text
    import openpyxl

    workbook = (await fetch(answer.json()["file_url"])).content
    sheet = openpyxl.load_workbook(io.BytesIO(workbook)).active
    assert sheet is not None
    assert list(sheet.iter_rows(values_only=True)) == [
        ("id", "name", "score"),
        (1, "Ann", 9.5),
        (2, "Bob, Jr.", 7),
    ]


async def test_parse_file_needs_credentials_and_finds_the_sentences(
    gateway_client: httpx.AsyncClient, alice: Headers
) -> None:
    document = samples.sample("docx", 59, sections=2, paragraphs=3)
    stored = await upload(gateway_client, alice, "parse.docx", document.data)
    request = {"s3_key": stored["s3_key"], "keywords": ["budget", "migration plan"]}
    anonymous = await gateway_client.post("/files/parse-file", json=request)
    assert anonymous.status_code == 401
    response = await gateway_client.post("/files/parse-file", json=request, headers=alice)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = sorted(
        set(document.text.sentences_with("budget"))
        | set(document.text.sentences_with("migration plan"))
    )
    assert body["status"] == "success"
    assert body["s3_key"] == stored["s3_key"]
    assert sorted(body["sentences"]) == expected
    assert body["count"] == len(expected)
    assert body["language"]["code"] == "en"
    assert isinstance(body["top_keywords"][0]["score"], float)
    again = (await gateway_client.post("/files/parse-file", json=request, headers=alice)).json()
    assert again["cached"] is True
    assert again["sentences"] == body["sentences"]
    invalid = await gateway_client.post(
        "/files/parse-file", json={"s3_key": stored["s3_key"], "keywords": []}, headers=alice
    )
    assert invalid.status_code == 422


async def test_tonality_answers_every_field_and_is_cached(
    gateway_client: httpx.AsyncClient, alice: Headers
) -> None:
    document = samples.sample("txt", 60, sections=1, paragraphs=3)  # seed 60: positive
    stored = await upload(gateway_client, alice, "tone.txt", document.data)
    first = await gateway_client.post(
        "/files/tonality-analysis", json={"s3_key": stored["s3_key"]}, headers=alice
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["status"] == "success"
    assert body["polarity"] > 0.3
    assert body["polarity_status"] in ("moderate_positive", "strong_positive")
    assert set(body["sentences"][0]) == {
        "text",
        "polarity",
        "subjectivity",
        "compound",
    }
    second = await gateway_client.post(
        "/files/tonality-analysis", json={"s3_key": stored["s3_key"]}, headers=alice
    )
    assert second.json()["cached"] is True
    assert {k: v for k, v in second.json().items() if k not in ("cached", "job_id", "job_url")} == {
        k: v for k, v in body.items() if k not in ("cached", "job_id", "job_url")
    }


async def test_past_the_wait_the_answer_is_202_with_a_pollable_job(
    gateway_client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    document = samples.sample("html", 61, sections=1, paragraphs=2)
    stored = await upload(gateway_client, alice, "page.html", document.data)
    response = await gateway_client.post(
        "/files/tonality-analysis",
        json={"s3_key": stored["s3_key"]},
        headers={**alice, "Prefer": "wait=0"},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "pending"
    assert response.headers["location"] == f"/jobs/{body['job_id']}"
    assert (await gateway_client.get(f"/jobs/{body['job_id']}", headers=bob)).status_code == 404
    job = await gateway_client.get(
        f"/jobs/{body['job_id']}", headers={**alice, "Prefer": "wait=120"}
    )
    assert job.status_code == 200
    assert job.json()["status"] == "completed", job.json()
    assert job.json()["result"]["polarity_status"]
    # Asked again while nothing changed: the cached result at once, even with wait=0.
    cached = await gateway_client.post(
        "/files/tonality-analysis",
        json={"s3_key": stored["s3_key"]},
        headers={**alice, "Prefer": "wait=0"},
    )
    assert cached.status_code == 201
    assert cached.json()["cached"] is True


async def test_a_pending_request_asked_again_joins_the_same_job(
    gateway_client: httpx.AsyncClient, alice: Headers
) -> None:
    stored = await upload(gateway_client, alice, "join.md", samples.sample("md", 62).data)
    request = {"s3_key": stored["s3_key"], "keywords": ["budget"]}
    wait0 = {**alice, "Prefer": "wait=0"}
    first = await gateway_client.post("/files/parse-file", json=request, headers=wait0)
    assert first.status_code == 202, first.text
    second = await gateway_client.post("/files/parse-file", json=request, headers=wait0)
    if second.status_code == 202:
        assert second.json()["job_id"] == first.json()["job_id"]
    else:  # the job finished in between: then the cache answers
        assert second.status_code == 200
        assert second.json()["cached"] is True


async def test_a_hostile_document_fails_with_the_reason(
    gateway_client: httpx.AsyncClient, alice: Headers
) -> None:
    stored = await upload(gateway_client, alice, "locked.pdf", samples.encrypted_pdf())
    answer = await gateway_client.post(
        "/files/convert",
        json={"s3_key": stored["s3_key"], "format_from": "pdf", "format_to": "txt"},
        headers=alice,
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "failed"
    assert body["message"] == "the PDF is encrypted (password-protected)"
    assert body["file_url"] is None
    assert body["new_s3_key"] is None
    job = (await gateway_client.get(f"/jobs/{body['job_id']}", headers=alice)).json()
    assert job["status"] == "failed"
    bomb = samples.zip_bomb_docx(inflated_mb=600)
    stored = await upload(gateway_client, alice, "bomb.docx", bomb)
    parsed = await gateway_client.post(
        "/files/parse-file", json={"s3_key": stored["s3_key"], "keywords": ["x"]}, headers=alice
    )
    assert parsed.status_code == 200
    assert parsed.json()["status"] == "failed"
    assert "zip bomb" in parsed.json()["message"]
