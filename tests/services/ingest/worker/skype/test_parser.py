"""The streaming parser: what it yields for every message type, independence from key
order, chunk boundaries and MessageList order, and agreement with the generator's truth."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from services.ingest.worker.skype import (
    InvalidExport,
    ParseLimits,
    open_messages_json,
    parse_export,
)
from tests.services.ingest.worker.skype.conftest import Sample
from tests.services.ingest.worker.skype.support import (
    OWNER,
    conversation,
    export,
    message,
    one,
    parse,
)


def test_a_generated_export_parses_to_its_ground_truth(sample_tar: Sample) -> None:
    truth = sample_tar.truth
    with open_messages_json(sample_tar.path) as stream:
        parsed = parse_export(stream)
        messages = list(parsed.messages())
        assert stream.bytes_read == stream.size
    assert parsed.header.user_id == truth.user_id
    assert parsed.header.export_date == datetime(2024, 5, 5, 20, 55, tzinfo=UTC)
    assert len(messages) == truth.message_count
    assert Counter(m.category for m in messages) == truth.categories
    assert Counter(m.raw_type for m in messages) == truth.raw_types
    assert parsed.skipped == {}
    conversations = parsed.conversations()
    assert len(conversations) == truth.conversation_count
    for found in conversations:
        expected = truth.conversations[found.id]
        assert found.message_count == expected["message_count"]
        assert found.name == expected["name"], found.id
        assert found.kind == expected["kind"]
        assert set(expected["participants"]) <= set(found.participants)
    assert sum(m.deleted for m in messages) == truth.deleted
    assert sum(m.quote_of is not None for m in messages) == truth.quotes
    assert sum(len(m.mentions) for m in messages) == truth.mentions
    assert sum(m.edit_of is not None for m in messages) == truth.edit_records
    ended = [m for m in messages if m.call_event == "ended" and m.raw_type == "Event/Call"]
    assert (
        round(
            sum(m.call_duration_s or 0 for m in ended if not m.conversation_id.startswith("48:")), 2
        )
        == truth.calls["total_duration_s"]
    )
    media = [m for m in messages if m.category in ("media", "file")]
    assert sum(m.media_size or 0 for m in media) == truth.media["total_bytes"]


def test_every_message_is_a_complete_record(sample_json: Sample) -> None:
    with open_messages_json(sample_json.path) as stream:
        messages = list(parse_export(stream).messages())
    for m in messages:
        assert m.sent_at.tzinfo is UTC
        assert m.message_id
        assert m.sender_id
        assert m.conversation_id
        assert m.category in (
            "text",
            "media",
            "file",
            "call",
            "contact",
            "location",
            "poll",
            "system",
            "other",
        )
        for tag in (
            "<ss ",
            "<a ",
            "<at ",
            "<quote",
            "<legacyquote",
            "<e_m",
            "<URIObject",
            "<partlist",
            "<OriginalName",
            "<contacts",
            "<location",
            "<topicupdate",
            "<addmember",
        ):
            assert tag not in m.text, (tag, m)
        if m.raw_type != "Text":
            for entity in ("&amp;", "&lt;", "&apos;"):
                assert entity not in m.text


@pytest.mark.parametrize("chunk", [1, 7, 100, 4096])
def test_the_result_does_not_depend_on_where_the_input_is_cut(
    sample_json: Sample, chunk: int
) -> None:
    data = sample_json.path.read_bytes()
    reference, _ = parse(data)
    cut, parsed = parse(data, ParseLimits(chunk_bytes=chunk))
    assert cut == reference
    assert parsed.bytes_read == len(data)


def test_message_list_order_is_not_relied_on() -> None:
    ordered = [
        message(f"m{i}", at=f"2020-07-06T17:2{i}:00.000Z", message_id=str(i)) for i in range(5)
    ]
    forward, _ = parse(export(conversation(ordered)))
    backward, _ = parse(export(conversation(ordered[::-1])))
    assert sorted(m.sent_at for m in forward) == sorted(m.sent_at for m in backward)
    assert [m.message_id for m in backward] == ["4", "3", "2", "1", "0"]  # file order


def test_keys_in_any_order_and_the_header_after_the_conversations() -> None:
    data = json.dumps(
        {
            "conversations": [
                {
                    "MessageList": [message("late header")],
                    "threadProperties": None,
                    "displayName": "Ana R",
                    "id": "8:ana",
                }
            ],
            "exportDate": "2020-07-06T20:55",
            "userId": OWNER,
        }
    ).encode()
    messages, parsed = parse(data)
    assert messages[0].conversation_id == "8:ana"  # from the message's conversationid
    assert parsed.header.user_id == OWNER
    (found,) = parsed.conversations()
    assert found.name == "Ana R"
    assert found.participants == (OWNER, "8:ana")


def test_rich_text_markup_becomes_clean_text_and_fields() -> None:
    content = (
        '<quote author="8:bob" authorname="Bob" timestamp="1594056000" conversation="8:ana" '
        'messageid="1594056000111"><legacyquote>[1594056000] Bob: </legacyquote>old text'
        "<legacyquote>&lt;&lt;&lt; </legacyquote></quote>"
        '<at id="8:bob">Bob</at> see <a href="https://x.test/a?b=1&amp;c=2">https://x.test/a?b=1&amp;c=2</a> '  # noqa: E501
        '<ss type="smile">:)</ss> Tom &amp; Jerry &lt;3 &quot;hi&quot; it&apos;s &#128512;'
    )
    m = one(content)
    assert m.text == 'Bob see https://x.test/a?b=1&c=2 :) Tom & Jerry <3 "hi" it\'s 😀'
    assert m.quote_of == "1594056000111"
    assert m.mentions == ("8:bob",)
    assert m.emoticons == ("smile",)
    assert m.category == "text"


def test_plain_text_type_is_taken_as_written() -> None:
    m = one("a &amp; <b>", messagetype="Text")
    assert m.text == "a &amp; <b>"


def test_edits_deletions_and_old_style_edit_records() -> None:
    edited = one("final", properties={"edittime": "1594056090000"})
    assert edited.edited_at == datetime(2020, 7, 6, 17, 21, 30, tzinfo=UTC)
    assert edited.edit_of is None
    deleted = one("", properties={"deletetime": "1594056090000"})
    assert deleted.deleted
    assert deleted.text == ""
    record = one(
        'Edited previous message: new words<e_m ts="1594056000" ts_ms="1594056000123" a="ana" t="61"/>'  # noqa: E501
    )
    assert record.text == "new words"
    assert record.edit_of == "1594056000123"
    assert record.edited_at == record.sent_at
    emptied = one('<e_m ts="1594056000" ts_ms="1594056000123" a="ana" t="61"/>')
    assert emptied.deleted


def test_calls_with_durations_and_names() -> None:
    content = (
        '<partlist type="ended" alt="" callId="1593784540478"><part identity="8:ana"><name>Ana R</name>'  # noqa: E501
        '<duration>84.82</duration></part><part identity="8:live:.cid.owner"><name>Me</name>'
        "<duration>84.80</duration></part></partlist>"
    )
    messages, parsed = parse(
        export(
            conversation(
                [
                    message(content, messagetype="Event/Call", sender=OWNER),
                    message(
                        '<partlist type="missed" alt=""><part identity="8:ana"><name>Ana R</name></part></partlist>',  # noqa: E501
                        messagetype="Event/Call",
                        message_id="2",
                    ),
                ],
                name=None,
            )
        )
    )
    ended, missed = messages
    assert (ended.category, ended.call_event, ended.call_duration_s, ended.text) == (
        "call",
        "ended",
        84.82,
        "",
    )
    assert (missed.call_event, missed.call_duration_s) == ("missed", None)
    assert missed.sender_name == "Ana R"  # named by the call's participant list
    assert parsed.conversations()[0].name == "Ana R"


def test_call_log_entries() -> None:
    log = {
        "startTime": "2020-07-06T17:20:00Z", "connectTime": "2020-07-06T17:20:05Z",
        "endTime": "2020-07-06T17:21:05Z", "callState": "accepted",
        "originatorParticipant": {"id": "8:ana", "displayName": "Ana R"},
    }  # fmt: skip
    messages, parsed = parse(
        export(
            conversation(
                [
                    message(
                        "",
                        messagetype="Text",
                        sender=OWNER,
                        properties={"call-log": json.dumps(log)},
                    )
                ],
                identity="48:calllogs",
                name=None,
            )
        )
    )
    (entry,) = messages
    assert (entry.category, entry.call_event, entry.call_duration_s) == ("call", "ended", 60.0)
    assert parsed.conversations()[0].kind == "special"
    assert parsed.contact_names()["8:ana"] == "Ana R"


@pytest.mark.parametrize(
    ("messagetype", "content", "category", "text", "name", "size"),
    [
        (
            "RichText/UriObject",
            '<URIObject type="Picture.1" uri="u" doc_id="d">To view <a href="x">x</a><OriginalName v="f &amp; g.png"/><FileSize v="108188"/><meta type="photo" originalName="f &amp; g.png"/></URIObject>',  # noqa: E501
            "media",
            "f & g.png",
            "f & g.png",
            108188,
        ),
        (
            "RichText/Media_GenericFile",
            '<URIObject type="File.1" uri="u" doc_id="d"><OriginalName v="notes.txt"></OriginalName><FileSize v="447"></FileSize></URIObject>',  # noqa: E501
            "file",
            "notes.txt",
            "notes.txt",
            447,
        ),
        (
            "RichText/Media_Album",
            '<URIObject type="Picture.1"><OriginalName v="a.jpg"/><FileSize v="10"/></URIObject><URIObject type="Picture.1"><OriginalName v="b.jpg"/><FileSize v="5"/></URIObject>',  # noqa: E501
            "media",
            "a.jpg",
            "a.jpg",
            15,
        ),
        (
            "RichText/Media_Card",
            '<URIObject type="SWIFT.1" uri="u"><Title>Card</Title></URIObject>',
            "media",
            "",
            None,
            None,
        ),
        (
            "Poll",
            '<URIObject type="poll.1"><Title>Where &amp; when?</Title></URIObject>',
            "poll",
            "Where & when?",
            None,
            None,
        ),
        (
            "RichText/Contacts",
            '<contacts><c t="s" s="bob" f="Bob B"></c><c t="s" s="cy" f="Cy"/></contacts>',
            "contact",
            "Bob B, Cy",
            None,
            None,
        ),
        (
            "RichText/Location",
            '<location latitude="59436810" longitude="24740695" address="Kesklinn, Tallinn &amp; more"><a href="m">Kesklinn</a></location>',  # noqa: E501
            "location",
            "Kesklinn, Tallinn & more",
            None,
            None,
        ),
        (
            "RichText/ScheduledCallInvite",
            '<URIObject type="ScheduledCall.1"><Title>Weekly sync</Title></URIObject>',
            "call",
            "Weekly sync",
            None,
            None,
        ),
        ("EndToEndEncryption/EncryptedText", "a1b2c3", "other", "", None, None),
        (
            "Notice",
            'Skype is changing. <a href="https://go.skype.com">Learn more</a>',
            "system",
            "Skype is changing. Learn more",
            None,
            None,
        ),
        ("Some/FutureType", "<x>what</x> is this", "other", "what is this", None, None),
    ],
)
def test_structured_message_types(
    messagetype: str, content: str, category: str, text: str, name: str | None, size: int | None
) -> None:
    m = one(content, messagetype=messagetype)
    assert (m.category, m.text, m.media_name, m.media_size) == (category, text, name, size)


def test_thread_events_are_attributed_to_their_initiator() -> None:
    members = json.dumps([OWNER, "8:ana", "8:bob"])
    group = conversation(
        [
            message(
                "<topicupdate><eventtime>1</eventtime><initiator>8:bob</initiator><value>Trip &amp; plans</value></topicupdate>",  # noqa: E501
                messagetype="ThreadActivity/TopicUpdate",
                sender="19:g@thread.skype",
                conversation="19:g@thread.skype",
            ),
            message(
                "<addmember><eventtime>1</eventtime><initiator>8:ana</initiator><target>8:cy</target></addmember>",
                messagetype="ThreadActivity/AddMember",
                sender="19:g@thread.skype",
                message_id="2",
            ),
            message(
                "<deletemember><eventtime>1</eventtime><initiator>8:cy</initiator><target>8:cy</target></deletemember>",
                messagetype="ThreadActivity/DeleteMember",
                sender="19:g@thread.skype",
                message_id="3",
            ),
            message(
                "<roleupdate><eventtime>1</eventtime><initiator>8:ana</initiator><target><id>8:bob</id><role>admin</role></target></roleupdate>",
                messagetype="ThreadActivity/RoleUpdate",
                sender="19:g@thread.skype",
                message_id="4",
            ),
        ],
        identity="19:g@thread.skype",
        name=None,
        thread={"membercount": 3, "members": members, "topic": "Trip &amp; plans"},
    )
    messages, parsed = parse(export(group))
    assert [(m.sender_id, m.category, m.text) for m in messages] == [
        ("8:bob", "system", "Topic: Trip & plans"),
        ("8:ana", "system", "Added 8:cy"),
        ("8:cy", "system", "Left the conversation"),
        ("8:ana", "system", "8:bob is now admin"),
    ]
    (found,) = parsed.conversations()
    assert (found.kind, found.name) == ("group", "Trip & plans")
    assert found.participants == (OWNER, "8:ana", "8:bob", "8:cy")


def test_conversation_names_are_derived_when_missing() -> None:
    members = json.dumps([OWNER, "8:ana", "8:bob"])
    messages, parsed = parse(
        export(
            conversation([message("hi", display_name="Ana R")], name=None),
            conversation(
                [
                    message(
                        "yo", sender="8:bob", display_name="Bob B", conversation="19:g@thread.skype"
                    )
                ],
                identity="19:g@thread.skype",
                name=None,
                thread={"members": members},
            ),
            conversation([], identity="2:+15551234567", name=None),
            conversation(
                [message("beep", sender="28:bot", conversation="28:bot")],
                identity="28:bot",
                name=None,
            ),
        )
    )
    names = {c.id: (c.name, c.kind) for c in parsed.conversations()}
    assert names == {
        "8:ana": ("Ana R", "one_to_one"),
        "19:g@thread.skype": ("Ana R, Bob B", "group"),
        "2:+15551234567": ("+15551234567", "one_to_one"),
        "28:bot": ("bot", "bot"),
    }
    assert messages[0].sender_name == "Ana R"


def test_messages_without_time_sender_or_id_are_skipped_and_counted() -> None:
    good = message("ok")
    no_time = {**message("x"), "originalarrivaltime": "yesterday"}
    no_sender = {**message("x"), "from": None}
    no_id = {**message("x"), "id": None}
    bad_content = {**message("x"), "content": {"a": 1}}
    messages, parsed = parse(export(conversation([good, no_time, no_sender, no_id, bad_content])))
    assert [m.text for m in messages] == ["ok"]
    assert parsed.skipped == {
        "without a readable time": 1,
        "without a sender": 1,
        "without an id": 1,
        "whose content is not text": 1,
    }


def test_an_export_whose_every_message_is_unreadable_is_refused() -> None:
    with pytest.raises(InvalidExport, match="No message of the export could be read"):
        parse(export(conversation([{**message("x"), "originalarrivaltime": None}])))


def test_an_export_with_no_messages_is_valid() -> None:
    messages, parsed = parse(export(conversation([])))
    assert messages == []
    assert [c.message_count for c in parsed.conversations()] == [0]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            b'{"userId": "8:x", "conversations": [1]}',
            "conversation in the export is not a JSON object",
        ),
        (
            b'{"userId": "8:x", "conversations": [{"id": "8:a", "MessageList": [1]}]}',
            "message in the export is not a JSON object",
        ),
        (
            b'{"userId": "8:x", "conversations": [{"id": "8:a", "MessageList": "x"}]}',
            "'MessageList' is not a list",
        ),
        (b'{"userId": "8:x"}', "no 'conversations'"),
        (b'{"userId": "8:x", "conversations": [{"MessageList": []}]}', "has no 'id'"),
        (b"123", "not a JSON object"),
        (b'"text"', "not a JSON object"),
        (b"   \n", "ends early"),
        (b'{"a": tru}', "not valid JSON"),
    ],
)
def test_structural_errors_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidExport, match=reason):
        parse(data)


def test_a_duplicate_key_cannot_hide_a_deep_structure() -> None:
    """A second "properties" keeps the first one's place among the keys; the depth guard
    still sees what is being built under it."""
    head = b'{"userId":"8:x","conversations":[{"id":"8:a","MessageList":[{"id":"1","properties":null,"content":"x","properties":'  # noqa: E501
    data = head + b"[" * 50_000 + b"]" * 50_000 + b"}]}]}"
    with pytest.raises(InvalidExport, match="nested more than 128 levels"):
        parse(data)


def test_limits_on_conversations_members_and_messages() -> None:
    many = export(*[conversation([message("hi")], identity=f"8:c{i}") for i in range(5)])
    with pytest.raises(InvalidExport, match="more than 3 conversations"):
        parse(many, ParseLimits(max_conversations=3))
    with pytest.raises(InvalidExport, match="more than 3 messages"):
        parse(many, ParseLimits(max_messages=3))
    members = json.dumps([f"8:m{i}" for i in range(10)])
    group = export(conversation([], identity="19:g@thread.skype", thread={"members": members}))
    with pytest.raises(InvalidExport, match="more than 5 members"):
        parse(group, ParseLimits(max_members=5))


def test_messages_iterate_once_and_conversations_come_after() -> None:
    parsed = parse_export(io.BytesIO(export(conversation([message("hi")]))))
    with pytest.raises(RuntimeError):
        parsed.conversations()
    assert len(list(parsed.messages())) == 1
    with pytest.raises(RuntimeError):
        list(parsed.messages())
    assert len(parsed.conversations()) == 1


def test_a_bom_is_accepted() -> None:
    messages, _ = parse(b"\xef\xbb\xbf" + export(conversation([message("hi")])))
    assert [m.text for m in messages] == ["hi"]


def test_owner_ids_with_other_prefixes_and_bare_ids() -> None:
    messages, _ = parse(
        export(
            conversation([message("hi", sender="live:.cid.owner")], identity="8:ana"),
            user_id="8:live:.cid.owner",
        )
    )
    assert messages[0].sender_id == "live:.cid.owner"  # as written; analytics compares bare ids
