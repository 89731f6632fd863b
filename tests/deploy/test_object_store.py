"""The local S3 (SeaweedFS): what our aioboto3 code uses works, it checks signatures as
AWS does, and a ``kill -9`` loses no object whose upload was acknowledged."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aioboto3
import httpx
import pytest
from botocore.config import Config

from deploy.backing import BackingServices
from deploy.object_store import StoreCredentials, endpoint, launch_object_store
from deploy.processes import ManagedProcess, spawn, wait_until
from shared.aws import open_s3
from shared.settings import CommonSettings

CREDENTIALS = StoreCredentials("test-key", "test-secret-0123456789")


def settings_for(url: str, credentials: StoreCredentials) -> CommonSettings:
    return CommonSettings(
        s3_endpoint_url=url,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
    )


@pytest.fixture
async def s3(backing: BackingServices) -> AsyncIterator[Any]:
    credentials = StoreCredentials(backing.aws_access_key_id, backing.aws_secret_access_key)
    async with AsyncExitStack() as stack:
        yield await open_s3(stack, settings_for(backing.s3_endpoint_url, credentials))


@pytest.fixture
async def bucket(s3: Any) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"
    await s3.create_bucket(Bucket=name)
    return name


async def test_multipart_upload_keeps_bytes_type_and_metadata(s3: Any, bucket: str) -> None:
    upload = await s3.create_multipart_upload(
        Bucket=bucket, Key="export.tar", ContentType="application/x-tar", Metadata={"kind": "tar"}
    )
    parts, whole = [], hashlib.sha256()
    for number in (1, 2, 3):
        chunk = os.urandom(5 * 1024 * 1024 + number)  # S3's 5 MiB minimum part
        whole.update(chunk)
        part = await s3.upload_part(
            Bucket=bucket,
            Key="export.tar",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=chunk,
        )
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    await s3.complete_multipart_upload(
        Bucket=bucket,
        Key="export.tar",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": parts},
    )
    response = await s3.get_object(Bucket=bucket, Key="export.tar")
    async with response["Body"] as body:
        assert hashlib.sha256(await body.read()).hexdigest() == whole.hexdigest()
    assert response["ContentType"] == "application/x-tar"
    assert response["Metadata"] == {"kind": "tar"}
    assert response["ETag"].endswith('-3"')


async def test_an_aborted_multipart_upload_leaves_no_object(s3: Any, bucket: str) -> None:
    upload = await s3.create_multipart_upload(Bucket=bucket, Key="half.bin")
    await s3.upload_part(
        Bucket=bucket, Key="half.bin", UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 100
    )
    await s3.abort_multipart_upload(Bucket=bucket, Key="half.bin", UploadId=upload["UploadId"])
    listed = await s3.list_objects_v2(Bucket=bucket)
    assert listed.get("Contents", []) == []


async def test_presigned_get_names_the_download_and_expires(s3: Any, bucket: str) -> None:
    await s3.put_object(
        Bucket=bucket, Key="r/1.html", Body=b"<p>report</p>", ContentType="text/html"
    )
    url = await s3.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket,
            "Key": "r/1.html",
            "ResponseContentDisposition": 'attachment; filename="report.html"',
        },
        ExpiresIn=300,
    )
    async with httpx.AsyncClient() as client:
        ok = await client.get(url)
        assert ok.status_code == 200, ok.text
        assert ok.content == b"<p>report</p>"
        assert ok.headers["content-disposition"] == 'attachment; filename="report.html"'
        forged = await client.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"))
        assert forged.status_code == 403
        unsigned = await client.get(url.split("?", 1)[0])
        assert unsigned.status_code == 403  # anonymous access is refused


async def test_metadata_headers_ranges_copies_and_deletes(s3: Any, bucket: str) -> None:
    await s3.put_object(
        Bucket=bucket,
        Key="a/notes ü.txt",
        Body=b"hello quarry",
        ContentType="text/plain; charset=utf-8",
        ContentDisposition='attachment; filename="notes.txt"',
        Metadata={"sha256": "abc", "owner": "u1"},
    )
    head = await s3.head_object(Bucket=bucket, Key="a/notes ü.txt")
    assert head["Metadata"] == {"sha256": "abc", "owner": "u1"}
    assert head["ContentDisposition"] == 'attachment; filename="notes.txt"'
    assert head["ContentLength"] == 12
    ranged = await s3.get_object(Bucket=bucket, Key="a/notes ü.txt", Range="bytes=6-11")
    async with ranged["Body"] as body:
        assert await body.read() == b"quarry"
    await s3.copy_object(
        Bucket=bucket, Key="copy.txt", CopySource={"Bucket": bucket, "Key": "a/notes ü.txt"}
    )
    await s3.delete_object(Bucket=bucket, Key="copy.txt")
    with pytest.raises(s3.exceptions.NoSuchKey):
        await s3.get_object(Bucket=bucket, Key="copy.txt")


@pytest.fixture
def store_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="quarry-s3-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def restart_same(process: ManagedProcess, port: int, tmp_path: Path) -> ManagedProcess:
    """Start the store again exactly as before (same ports, same data)."""
    argv = process.popen.args
    assert isinstance(argv, list)
    guarded = argv[argv.index("--") + 1 :]
    again = spawn("s3", guarded, log_path=tmp_path / "s3-again.log")
    wait_until(lambda: _answers(port), what="restarted store", timeout=60, process=again)
    return again


def _answers(port: int) -> bool:
    from deploy.object_store import answers

    return answers(port)


def body_of(n: int) -> bytes:
    return hashlib.sha256(str(n).encode()).digest() * (1 + (n % 5) * 2000)


async def test_kill_9_loses_no_acknowledged_upload(store_dir: Path, tmp_path: Path) -> None:
    launch = launch_object_store(store_dir, credentials=CREDENTIALS, log_path=tmp_path / "s3.log")
    port = launch.wait()
    settings = settings_for(endpoint(port), CREDENTIALS).model_copy(
        update={"http_timeout_seconds": 5.0}
    )
    acknowledged: list[int] = []
    enough = asyncio.Event()
    no_retries = Config(
        retries={"max_attempts": 1}, signature_version="s3v4", s3={"addressing_style": "path"}
    )
    async with aioboto3.Session().client(
        "s3",
        endpoint_url=endpoint(port),
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS.access_key_id,
        aws_secret_access_key=CREDENTIALS.secret_access_key,
        config=no_retries,
    ) as s3:
        await s3.create_bucket(Bucket="durable")

        async def writer(offset: int) -> None:
            for n in range(offset, offset + 100_000):
                try:
                    await s3.put_object(
                        Bucket="durable", Key=f"k/{n}", Body=body_of(n), Metadata={"n": str(n)}
                    )
                except Exception:
                    return  # the server is gone: this upload was never acknowledged
                acknowledged.append(n)
                if len(acknowledged) >= 150:
                    enough.set()

        writers = [asyncio.create_task(writer(w * 1_000_000)) for w in range(6)]
        await asyncio.wait_for(enough.wait(), 120)
        os.kill(launch.process.pid, signal.SIGKILL)  # while six uploads are in flight
        await asyncio.gather(*writers)
    launch.process.popen.wait(10)

    again = restart_same(launch.process, port, tmp_path)
    try:
        async with AsyncExitStack() as stack:
            s3 = await open_s3(stack, settings)
            for n in acknowledged:
                response = await s3.get_object(Bucket="durable", Key=f"k/{n}")
                async with response["Body"] as body:
                    assert await body.read() == body_of(n), n
                assert response["Metadata"] == {"n": str(n)}
    finally:
        again.stop(timeout=10)


def test_a_persistent_store_comes_back_on_its_ports(store_dir: Path, tmp_path: Path) -> None:
    ports = []
    for _ in range(2):
        launch = launch_object_store(store_dir, credentials=CREDENTIALS, log_path=tmp_path / "l")
        ports.append(launch.wait())
        launch.stop(timeout=15)
    assert ports[0] == ports[1]
