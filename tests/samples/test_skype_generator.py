"""samples.skype writes the real export format, deterministically, with a ground truth
that a plain ``json.load`` of the written file confirms (independently of the parser)."""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
import tarfile
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from samples.skype import write_export
from samples.skype_truth import RESPONSE_CATEGORIES

ROOT = Path(__file__).resolve().parents[2]

# Every message type of ../shared/reference/skype-export-format.md ("Message types").
REFERENCE_TYPES = {
    "RichText", "Text", "RichText/Html", "RichText/UriObject", "RichText/Media_GenericFile",
    "RichText/Media_Video", "RichText/Media_AudioMsg", "RichText/Media_Album",
    "RichText/Media_Card", "RichText/Media_FlikMsg", "RichText/Media_CallRecording",
    "RichText/Contacts", "RichText/Location", "RichText/ScheduledCallInvite", "Poll",
    "Event/Call", "ThreadActivity/AddMember", "ThreadActivity/DeleteMember",
    "ThreadActivity/TopicUpdate", "ThreadActivity/PictureUpdate",
    "ThreadActivity/HistoryDisclosedUpdate", "ThreadActivity/JoiningEnabledUpdate",
    "ThreadActivity/RoleUpdate", "Notice", "PopCard",
    "InviteFreeRelationshipChanged/Initialized", "Translation",
    "EndToEndEncryption/EncryptedText",
}  # fmt: skip


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(path: Path) -> dict[str, Any]:
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as archive:
            member = archive.extractfile("messages.json")
            assert member is not None
            return json.load(member)  # type: ignore[no-any-return]
    return json.loads(path.read_bytes())  # type: ignore[no-any-return]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


@pytest.fixture(scope="module")
def export_2000(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    path = tmp_path_factory.mktemp("gen") / "export.tar"
    return path, write_export(path, 2000, seed=1)


def test_the_same_arguments_write_the_same_bytes(tmp_path: Path) -> None:
    for bare in (False, True):
        first, second, other = (tmp_path / f"{name}-{bare}" for name in ("a", "b", "c"))
        write_export(first, 500, bare=bare, seed=5)
        write_export(second, 500, bare=bare, seed=5)
        write_export(other, 500, bare=bare, seed=6)
        assert _digest(first) == _digest(second)
        assert _digest(first) != _digest(other)


def test_the_tar_holds_messages_json_endpoints_and_media(export_2000: tuple[Path, Any]) -> None:
    path, truth = export_2000
    with tarfile.open(path) as archive:
        members = archive.getmembers()
        names = [m.name for m in members]
        assert names[0] == "messages.json"
        assert "endpoints.json" in names
        media = [m for m in members if m.name.startswith("media/") and m.isfile()]
        metadata = [m for m in media if m.name.endswith(".json")]
        assert len(metadata) == truth.media_files > 0
        for member in metadata:
            handle = archive.extractfile(member)
            assert handle is not None
            meta = json.load(handle)
            assert set(meta) == {"expiry_date", "filename", "contents"}
            docid = member.name.removeprefix("media/").removesuffix(".json")
            assert any(m.name.startswith(f"media/{docid}.1.") for m in media)
        assert all(m.isfile() or m.isdir() for m in members)


def test_the_json_has_skypes_shape(export_2000: tuple[Path, Any]) -> None:
    path, _ = export_2000
    document = _load(path)
    assert list(document) == ["userId", "exportDate", "conversations"]
    assert document["userId"].startswith("8:live:.cid.")
    assert document["exportDate"] == "2024-05-05T20:55"  # no seconds, as Skype writes it
    prefixes = Counter(c["id"].split(":", 1)[0] for c in document["conversations"])
    assert {"8", "4", "19", "28", "48"} <= set(prefixes)
    for conversation in document["conversations"]:
        assert list(conversation)[:5] == [
            "id", "displayName", "version", "properties", "threadProperties"
        ]  # fmt: skip
        if conversation["id"].startswith("19:"):
            members = conversation["threadProperties"]["members"]
            assert isinstance(members, str)  # a JSON *string*
            assert document["userId"] in json.loads(members)
        for message in conversation["MessageList"]:
            assert set(message) == {
                "id", "displayName", "originalarrivaltime", "messagetype", "version",
                "content", "conversationid", "from", "properties", "amsreferences",
            }  # fmt: skip
            assert message["conversationid"] == conversation["id"]
            assert message["originalarrivaltime"].endswith("Z")
    assert sum(1 for c in document["conversations"] if not c["MessageList"]) >= 2


def test_every_message_type_of_the_reference_appears(export_2000: tuple[Path, Any]) -> None:
    path, truth = export_2000
    document = _load(path)
    written = {m["messagetype"] for c in document["conversations"] for m in c["MessageList"]}
    assert written >= REFERENCE_TYPES
    assert set(truth.raw_types) == written
    contents = [m for c in document["conversations"] for m in c["MessageList"]]
    markup = "".join(m["content"] for m in contents)
    for needle in (
        "<ss type=", "<a href=", "<at id=", "<quote ", "<legacyquote>", "<e_m ", "<partlist",
        "<duration>", "<URIObject", "<OriginalName", "<FileSize", "<contacts>", "<location ",
        "<topicupdate>", "<addmember>", "<deletemember>", "&amp;", "&lt;", "&quot;", "&apos;",
    ):  # fmt: skip
        assert needle in markup, needle
    properties = [m["properties"] for m in contents if m["properties"]]
    assert any("edittime" in p for p in properties)
    assert any("deletetime" in p for p in properties)
    assert any("call-log" in p for p in properties)
    assert any("emotions" in p for p in properties)
    deleted = [m for m in contents if m["properties"] and "deletetime" in m["properties"]]
    assert all(m["content"] == "" for m in deleted)


def test_message_lists_are_not_in_time_order(export_2000: tuple[Path, Any]) -> None:
    document = _load(export_2000[0])
    biggest = max(document["conversations"], key=lambda c: len(c["MessageList"]))
    times = [_time(m["originalarrivaltime"]) for m in biggest["MessageList"]]
    assert times != sorted(times)
    assert times != sorted(times, reverse=True)
    assert len(set(times)) == len(times)  # strictly ordered once sorted: no ties


def test_the_truth_agrees_with_a_plain_json_load(export_2000: tuple[Path, Any]) -> None:
    path, truth = export_2000
    document = _load(path)
    messages = [m for c in document["conversations"] for m in c["MessageList"]]
    assert truth.message_count == len(messages) == 2000
    assert truth.conversation_count == len(document["conversations"])
    for conversation in document["conversations"]:
        counted = truth.conversations[conversation["id"]]["message_count"]
        assert counted == len(conversation["MessageList"])
    assert truth.raw_types == Counter(m["messagetype"] for m in messages)
    times = sorted(_time(m["originalarrivaltime"]) for m in messages)
    data = truth.to_dict()
    assert _time(data["date_range"]["start"]) == times[0]
    assert _time(data["date_range"]["end"]) == times[-1]
    assert times[-1] < _time(document["exportDate"] + ":00+00:00")
    days = Counter(t.date().isoformat() for t in times)
    assert data["messages_per_day"] == dict(sorted(days.items()))
    assert sum(map(sum, data["hour_of_week"])) == 2000
    calls = [m for m in messages if m["messagetype"] == "Event/Call" and not m["properties"]]
    assert data["calls"]["ended"] == sum('type="ended"' in m["content"] for m in calls)
    assert data["calls"]["missed"] == sum('type="missed"' in m["content"] for m in calls)
    assert data["deleted"] == sum(
        bool(m["properties"] and "deletetime" in m["properties"]) for m in messages
    )
    assert data["edit_records"] == sum("<e_m " in m["content"] for m in messages)
    assert data["quotes"] == sum("<quote " in m["content"] for m in messages)


def test_the_top_contact_is_clear_and_named(export_2000: tuple[Path, Any]) -> None:
    truth = export_2000[1]
    top = truth.top_contacts()
    assert len(top) == 10
    assert top[0]["message_count"] > top[1]["message_count"]
    assert all(c["name"] and not c["name"].startswith("8:") for c in top)


def test_response_times_follow_the_documented_definition(export_2000: tuple[Path, Any]) -> None:
    """Recomputed here from the JSON (time order, sessions split at 6 h, replies = sender
    changes), the way the analytics docstring defines them."""
    path, truth = export_2000
    document = _load(path)
    owner = document["userId"]
    category = {
        "RichText": "text", "Text": "text", "RichText/Html": "text", "Translation": "text",
        "RichText/UriObject": "media", "RichText/Media_Video": "media",
        "RichText/Media_AudioMsg": "media", "RichText/Media_Album": "media",
        "RichText/Media_FlikMsg": "media", "RichText/Media_CallRecording": "media",
        "RichText/Media_GenericFile": "file", "RichText/Contacts": "contact",
        "RichText/Location": "location", "Poll": "poll",
    }  # fmt: skip
    gaps: list[int] = []
    for conversation in document["conversations"]:
        if conversation["id"].startswith(("28:", "48:")):
            continue
        eligible = sorted(
            (int(_time(m["originalarrivaltime"]).timestamp() * 1000 + 0.5), m["from"])
            for m in conversation["MessageList"]
            if category.get(m["messagetype"]) in RESPONSE_CATEGORIES and "<e_m " not in m["content"]
        )
        for (t0, s0), (t1, s1) in itertools.pairwise(eligible):
            if t1 - t0 <= 6 * 3600 * 1000 and s1 != s0:
                gaps.append(t1 - t0)
    assert owner
    assert truth.response_times["replies"] == len(gaps)
    gaps.sort()
    middle = len(gaps) // 2
    median = gaps[middle] if len(gaps) % 2 else (gaps[middle - 1] + gaps[middle]) / 2
    assert truth.response_times["median_s"] == pytest.approx(median / 1000)


def test_planted_words_and_emoji_are_counted(export_2000: tuple[Path, Any]) -> None:
    truth = export_2000[1]
    assert truth.planted_words["quarry"] > truth.planted_words["basalt"] > 0
    assert sum(truth.emoji.values()) > 0
    assert sum(truth.emoticons.values()) > 0


@pytest.mark.parametrize("messages", [0, 1, 5, 37])
def test_a_handful_of_messages(tmp_path: Path, messages: int) -> None:
    path = tmp_path / "small.json"
    truth = write_export(path, messages, bare=True)
    document = json.loads(path.read_bytes())
    written = sum(len(c["MessageList"]) for c in document["conversations"])
    assert written == truth.message_count == messages


def test_hostile_mode_plants_markup_in_names_and_text(tmp_path: Path) -> None:
    path = tmp_path / "hostile.json"
    truth = write_export(path, 3000, bare=True, hostile=True)
    raw = path.read_text()
    assert "<script>alert(1)</script>" in raw  # in names and topics (JSON strings)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw  # in RichText content
    assert "<script>alert(1)</script>" in truth.hostile_strings


def test_gzip_wraps_the_same_export(tmp_path: Path) -> None:
    import gzip

    plain, packed = tmp_path / "a.tar", tmp_path / "a.tar.gz"
    write_export(plain, 300, seed=2)
    write_export(packed, 300, seed=2, gzip=True)
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()


def test_the_cli_writes_and_prints_the_truth(tmp_path: Path) -> None:
    out = tmp_path / "cli.json"
    result = subprocess.run(
        [sys.executable, "-m", "samples.skype", "--messages", "120", "--bare", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["message_count"] == 120
    assert summary["bare"] is True
    assert json.loads(out.read_bytes())["userId"] == summary["user_id"]


@pytest.mark.slow
def test_memory_stays_flat_while_generating(tmp_path: Path) -> None:
    """Peak RSS of the generator at 100k messages is within a few MB of that at 5k."""
    code = (
        "import re, sys; from samples.skype import write_export;"
        "write_export(sys.argv[1], int(sys.argv[2]), seed=1);"
        "status = open('/proc/self/status').read();"
        "print(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1))"
    )
    peaks = []
    for messages in (5_000, 100_000):
        result = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / f"{messages}.tar"), str(messages)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=280,
        )
        peaks.append(int(result.stdout.strip()) / 1024)
    small, large = peaks
    # The truth keeps 8 bytes per reply and per call for exact medians (~0.4 MB here).
    assert large - small < 25, peaks
