"""open_messages_json: tar, bare JSON and gzip of either, decided by content; the tar
reader's handling of real archive variants (GNU tar, pax, long names, v7)."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from services.ingest.worker.skype import (
    InvalidExport,
    ParseLimits,
    open_messages_json,
    parse_export,
)
from services.ingest.worker.skype.container import normalise_member_name
from tests.services.ingest.worker.skype.conftest import Sample
from tests.services.ingest.worker.skype.support import conversation, export, message

DOCUMENT = export(conversation([message("hello"), message("again", message_id="2")]))


def _count(path: Path, limits: ParseLimits | None = None) -> int:
    with open_messages_json(path, limits) as stream:
        return sum(1 for _ in parse_export(stream, limits).messages())


def _tar(
    path: Path, members: list[tuple[str, bytes | None]], fmt: int = tarfile.USTAR_FORMAT
) -> Path:
    with tarfile.open(path, "w", format=fmt) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


def test_a_generated_tar_and_its_gzip(sample_tar: Sample, tmp_path: Path) -> None:
    assert _count(sample_tar.path) == sample_tar.truth.message_count
    packed = tmp_path / "export.tar.gz"
    with open(sample_tar.path, "rb") as source, gzip.open(packed, "wb") as sink:
        shutil.copyfileobj(source, sink)
    assert _count(packed) == sample_tar.truth.message_count


def test_bare_json_and_its_gzip(tmp_path: Path) -> None:
    bare = tmp_path / "messages.json"
    bare.write_bytes(b"\n  " + DOCUMENT)
    assert _count(bare) == 2
    packed = tmp_path / "messages.json.gz"
    packed.write_bytes(gzip.compress(DOCUMENT))
    assert _count(packed) == 2


def test_the_name_of_the_file_does_not_matter(tmp_path: Path) -> None:
    tar_named_json = _tar(tmp_path / "export.json", [("messages.json", DOCUMENT)])
    json_named_tar = tmp_path / "export.tar"
    json_named_tar.write_bytes(DOCUMENT)
    assert _count(tar_named_json) == _count(json_named_tar) == 2


def test_messages_json_anywhere_in_the_archive_with_dot_slash_and_directories(
    tmp_path: Path,
) -> None:
    path = _tar(
        tmp_path / "a.tar",
        [
            ("media", None),
            ("media/0-weu-d1-abc.json", b"{}"),
            ("./messages.json", DOCUMENT),
            ("endpoints.json", b"{}"),
        ],
    )
    assert _count(path) == 2


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_long_and_non_ascii_member_names(tmp_path: Path, fmt: int) -> None:
    long_name = "media/" + "ü" * 150 + ".1.png"
    path = _tar(tmp_path / "a.tar", [(long_name, b"\x89PNG"), ("messages.json", DOCUMENT)], fmt)
    assert _count(path) == 2


def test_an_archive_made_by_gnu_tar(tmp_path: Path) -> None:
    tar = shutil.which("tar")
    if tar is None:
        pytest.skip("GNU tar (Debian package 'tar') is not installed")
    source = tmp_path / "export"
    (source / "media").mkdir(parents=True)
    (source / "messages.json").write_bytes(DOCUMENT)
    (source / "media" / ("x" * 120 + ".json")).write_bytes(b"{}")
    for fmt in ("gnu", "posix", "ustar"):
        out = tmp_path / f"{fmt}.tar"
        names = ["messages.json", "media"] if fmt != "ustar" else ["messages.json"]
        subprocess.run([tar, f"--format={fmt}", "-cf", str(out), *names], cwd=source, check=True)
        assert _count(out) == 2, fmt


def test_an_old_v7_archive_without_magic(tmp_path: Path) -> None:
    path = _tar(tmp_path / "a.tar", [("messages.json", DOCUMENT)], tarfile.USTAR_FORMAT)
    data = bytearray(path.read_bytes())
    data[257:265] = bytes(8)  # no "ustar" magic or version
    data[148:156] = b" " * 8
    data[148:156] = b"%06o\x00 " % sum(data[:512])
    path.write_bytes(bytes(data))
    assert _count(path) == 2


def test_the_stream_reports_size_and_progress(sample_tar: Sample) -> None:
    with open_messages_json(sample_tar.path) as stream:
        assert stream.size is not None
        assert stream.size > 0
        assert stream.progress() < 0.01
        seen = []
        for index, _ in enumerate(parse_export(stream).messages()):
            if index % 2000 == 0:
                seen.append(stream.progress())
        assert seen == sorted(seen)
        assert stream.progress() > 0.9
        assert stream.bytes_read == stream.size


def test_a_member_cut_short_is_truncation(tmp_path: Path) -> None:
    path = _tar(tmp_path / "a.tar", [("messages.json", DOCUMENT * 50)])
    data = path.read_bytes()
    path.write_bytes(data[:700])
    with pytest.raises(InvalidExport, match="truncated"):
        _count(path)


def test_a_compression_ratio_above_the_limit_is_a_bomb(tmp_path: Path) -> None:
    """Valid JSON that compresses too well (the same message 200k times)."""
    repeated = b",".join(
        [
            b'{"id":"1","originalarrivaltime":"2020-07-06T17:20:30Z","from":"8:a","content":"aaaa","messagetype":"RichText"}'
        ]
        * 200_000
    )
    data = b'{"userId":"8:x","conversations":[{"id":"8:a","MessageList":[' + repeated + b"]}]}"
    path = tmp_path / "bomb.json.gz"
    path.write_bytes(gzip.compress(data, 9))
    limits = ParseLimits(ratio_grace_bytes=1 << 20, max_compression_ratio=50)
    with pytest.raises(InvalidExport, match="decompression bomb"):
        _count(path, limits)
    with pytest.raises(InvalidExport, match="decompression bomb"):
        _count(path, ParseLimits(max_uncompressed_bytes=1 << 20))


def test_too_many_members(tmp_path: Path) -> None:
    path = _tar(
        tmp_path / "a.tar", [("messages.json", DOCUMENT)] + [(f"media/{i}", b"") for i in range(20)]
    )
    with pytest.raises(InvalidExport, match="more than 10 members"):
        _count(path, ParseLimits(max_tar_members=10))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("messages.json", "messages.json"),
        ("./messages.json", "messages.json"),
        ("a//b/./c", "a/b/c"),
        ("media/", "media"),
    ],
)
def test_member_names_are_normalised(name: str, expected: str) -> None:
    assert normalise_member_name(name) == expected


@pytest.mark.parametrize(
    "name",
    ["/etc/passwd", "\\windows\\x", "C:evil", "C:/evil", "../x", "a/../../x", "a\\..\\x", "x\x00y"],
)
def test_dangerous_member_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidExport, match=r"absolute|'\.\.'|NUL"):
        normalise_member_name(name)
