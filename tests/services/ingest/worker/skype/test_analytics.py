"""SkypeAnalytics against the generator's ground truth (counts, top contact, date range,
response times, calls, words, emoji), and the definitions on handcrafted sequences."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.ingest.worker.skype import (
    SkypeAnalytics,
    SkypeMessage,
    open_messages_json,
    parse_export,
)
from services.ingest.worker.skype.records import Conversation
from tests.services.ingest.worker.skype.conftest import Sample

T0 = datetime(2021, 3, 1, 12, 0, tzinfo=UTC)
OWNER = "8:me"


def _analyse(sample: Sample) -> dict[str, Any]:
    with open_messages_json(sample.path) as stream:
        export = parse_export(stream)
        analytics = SkypeAnalytics()
        for message in export.messages():
            analytics.add(message)
        analytics.owner_id = export.header.user_id
        return analytics.result(export.conversations(), export.contact_names())


@pytest.fixture(scope="module")
def analysed(sample_tar: Sample) -> tuple[dict[str, Any], dict[str, Any]]:
    return _analyse(sample_tar), sample_tar.truth.to_dict()


def test_the_spec_fields_match_the_truth(analysed: tuple[dict[str, Any], dict[str, Any]]) -> None:
    document, truth = analysed
    json.dumps(document)  # JSON-serialisable as it is
    assert document["message_count"] == truth["message_count"]
    assert document["conversation_count"] == truth["conversation_count"]
    assert document["date_range"] == truth["date_range"]
    assert [(c["id"], c["name"], c["message_count"]) for c in document["top_contacts"]] == [
        (c["id"], c["name"], c["message_count"]) for c in truth["top_contacts"]
    ]


def test_per_conversation_contact_day_and_hour_counts(
    analysed: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    document, truth = analysed
    conversations = {c["id"]: c for c in document["conversations"]}
    for identity, expected in truth["conversations"].items():
        assert conversations[identity]["message_count"] == expected["message_count"]
        assert conversations[identity]["name"] == expected["name"]
    people = {c["id"]: c for c in document["contacts"]}
    for identity, expected in truth["contacts"].items():
        if expected["message_count"]:
            assert people[identity]["message_count"] == expected["message_count"]
            assert people[identity]["name"] == expected["name"]
    assert document["owner"]["message_count"] == truth["owner_message_count"]
    assert {d["date"]: d["count"] for d in document["messages_per_day"]} == truth[
        "messages_per_day"
    ]
    assert document["hour_of_week"]["counts"] == truth["hour_of_week"]
    assert document["busiest_days"] == truth["busiest_days"]
    assert sum(m["count"] for m in document["messages_per_month"]) == truth["message_count"]


def test_message_types_edits_media_and_events(
    analysed: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    document, truth = analysed
    categories = document["message_types"]["categories"]
    assert {k: v for k, v in categories.items() if v} == truth["categories"]
    assert document["message_types"]["raw_types"] == truth["raw_types"]
    assert document["edits"] == {
        "edited_messages": truth["edited"],
        "edit_records": truth["edit_records"],
    }
    assert document["deleted"] == truth["deleted"]
    assert document["text"]["quotes"] == truth["quotes"]
    assert document["text"]["mentions"] == truth["mentions"]
    assert document["text"]["with_links"] == truth["links"]
    assert document["media"] == truth["media"]
    assert document["system_events"]["by_type"] == truth["system_events"]


def test_calls_with_durations(analysed: tuple[dict[str, Any], dict[str, Any]]) -> None:
    document, truth = analysed
    calls, expected = document["calls"], truth["calls"]
    for key in ("started", "ended", "missed", "call_log_entries", "total_duration_s"):
        assert calls[key] == expected[key], key
    assert calls["median_duration_s"] == pytest.approx(expected["median_duration_s"], abs=0.01)
    assert calls["longest_duration_s"] == pytest.approx(expected["longest_duration_s"])


def test_response_times_match_the_truth(analysed: tuple[dict[str, Any], dict[str, Any]]) -> None:
    document, truth = analysed
    got, expected = document["response_times"], truth["response_times"]
    assert got["replies"] == expected["replies"] > 1000
    assert got["median_s"] == pytest.approx(expected["median_s"], abs=1e-3)
    for side in ("owner", "contacts"):
        assert got[side]["replies"] == expected[side]["replies"]
        assert got[side]["median_s"] == pytest.approx(expected[side]["median_s"], abs=1e-3)
    assert got["first_response"]["sessions"] == expected["first_response"]["sessions"]
    assert got["first_response"]["answered"] == expected["first_response"]["answered"]
    assert got["first_response"]["median_s"] == pytest.approx(
        expected["first_response"]["median_s"], abs=1e-3
    )
    top = got["by_contact"][0]
    assert top["id"] == truth["top_contacts"][0]["id"]
    assert top["their_replies"] > 0
    assert top["your_replies"] > 0


def test_planted_words_emoji_and_emoticons(analysed: tuple[dict[str, Any], dict[str, Any]]) -> None:
    document, truth = analysed
    words = {w["word"]: w["count"] for w in document["words"]["top"]}
    assert document["words"]["exact"] is True
    for word, count in truth["planted_words"].items():
        assert words[word] == count, word
    assert document["words"]["top"][0]["word"] == "quarry"
    assert {e["emoji"]: e["count"] for e in document["emoji"]["top"]} == truth["emoji"]
    assert {e["type"]: e["count"] for e in document["emoticons"]["top"]} == truth["emoticons"]
    assert not {"the", "and", "https", "com"} & set(words)


def test_hostile_strings_are_kept_as_data(sample_json: Sample) -> None:
    document = _analyse(sample_json)
    names = [c["name"] for c in document["contacts"]] + [
        c["name"] for c in document["conversations"]
    ]
    assert "<script>alert(1)</script>" in names
    highlights = json.dumps(document["highlights"], ensure_ascii=False)
    assert "<script>alert(1)</script>" in highlights


# -- definitions on small, handmade sequences ---------------------------------------------


def _message(
    at: float, sender: str, *, conversation: str = "8:ana", category: str = "text", **fields: Any
) -> SkypeMessage:
    return SkypeMessage(
        conversation,
        str(at),
        sender,
        None,
        T0 + timedelta(seconds=at),
        "RichText",
        category,
        fields.pop("text", "hi"),
        **fields,
    )  # type: ignore[arg-type]


def test_response_time_definitions_in_any_input_order() -> None:
    messages = [
        _message(0, "8:ana"),
        _message(30, OWNER),  # reply 30 s (owner); first response 30 s
        _message(40, OWNER),  # same sender: no reply
        _message(100, "8:ana"),  # reply 60 s (contact)
        _message(100 + 7 * 3600, OWNER),  # > 6 h later: a new session, not a reply
        _message(100 + 7 * 3600 + 10, OWNER, category="system"),  # not a written message
        _message(100 + 7 * 3600 + 20, "8:ana", edit_of="1"),  # an edit record: ignored
        _message(100 + 7 * 3600 + 50, "8:ana"),  # reply 50 s; first response 50 s
        _message(5, "8:bob", conversation="8:bob"),  # alone in its conversation
    ]
    for order in (messages, messages[::-1], messages[3:] + messages[:3]):
        analytics = SkypeAnalytics(OWNER)
        for message in order:
            analytics.add(message)
        times = analytics.result()["response_times"]
        assert times["replies"] == 3
        assert times["median_s"] == 50.0
        assert times["owner"] == {"replies": 1, "median_s": 30.0}
        assert times["contacts"] == {"replies": 2, "median_s": 55.0}
        assert times["first_response"] == {"sessions": 3, "answered": 2, "median_s": 40.0}


def test_owner_is_recognised_with_or_without_the_numeric_prefix() -> None:
    analytics = SkypeAnalytics()
    analytics.add(_message(0, "live:.cid.me"))
    analytics.add(_message(10, "8:ana"))
    analytics.owner_id = "8:live:.cid.me"
    document = analytics.result()
    assert document["owner"]["message_count"] == 1
    assert [c["id"] for c in document["top_contacts"]] == ["8:ana"]


def test_contact_names_come_from_names_or_conversations() -> None:
    analytics = SkypeAnalytics(OWNER)
    analytics.add(_message(0, "8:ana"))
    analytics.add(_message(1, "8:bob", conversation="19:g@thread.skype"))
    analytics.add(_message(2, "8:cy", conversation="19:g@thread.skype"))
    conversations = [Conversation("8:ana", "Ana R", "one_to_one", (OWNER, "8:ana"), 1)]
    document = analytics.result(conversations, {"8:bob": "Bob B"})
    assert {c["id"]: c["name"] for c in document["contacts"]} == {
        "8:ana": "Ana R",
        "8:bob": "Bob B",
        "8:cy": "cy",
    }


def test_an_empty_export() -> None:
    document = SkypeAnalytics(OWNER).result(
        [Conversation("8:ana", "Ana", "one_to_one", (OWNER,), 0)]
    )
    json.dumps(document)
    assert document["message_count"] == 0
    assert document["conversation_count"] == 1
    assert document["date_range"] == {"start": None, "end": None}
    assert document["top_contacts"] == []
    assert document["response_times"]["median_s"] is None
    assert document["activity"]["active_days"] == 0


def test_words_are_folded_and_pruning_is_reported() -> None:
    analytics = SkypeAnalytics(OWNER, word_capacity=50)
    texts = ["Quarry, quarry! QUARRY? o'clock 42 https://x.test/quarry (heart)"] * 3
    texts += [f"unique{i:04d}x word{i}" for i in range(200)]
    for index, text in enumerate(texts):
        analytics.add(_message(index, "8:ana", text=text))
    words = analytics.result()["words"]
    counts = {w["word"]: w["count"] for w in words["top"]}
    assert counts["quarry"] == 9
    assert counts["o'clock"] == 3
    assert counts["heart"] == 3
    assert "42" not in counts
    assert words["exact"] is False


def test_activity_streaks_and_breaks() -> None:
    analytics = SkypeAnalytics(OWNER)
    for day in (0, 1, 2, 10, 11):
        analytics.add(_message(day * 86400, "8:ana"))
    activity = analytics.result()["activity"]
    assert activity["active_days"] == 5
    assert activity["longest_streak"] == {"days": 3, "from": "2021-03-01", "to": "2021-03-03"}
    assert activity["longest_break"] == {"days": 7, "from": "2021-03-04", "to": "2021-03-10"}


@pytest.mark.parametrize("size", [1, 7, 500, 8192])
def test_batches_of_any_size_give_the_document_one_by_one_gives(
    sample_tar: Sample, size: int
) -> None:
    with open_messages_json(sample_tar.path) as stream:
        export = parse_export(stream)
        messages = list(export.messages())
        conversations, names = export.conversations(), export.contact_names()
        owner = export.header.user_id
    documents = []
    for batch_size in (1, size):
        # A small word capacity, so that pruning happens (at the same points) too.
        analytics = SkypeAnalytics(owner, word_capacity=300)
        for start in range(0, len(messages), batch_size):
            analytics.add_batch(messages[start : start + batch_size])
        documents.append(analytics.result(conversations, names))
    assert documents[0]["words"]["exact"] is False
    assert documents[1] == documents[0]
