"""A deterministic generator of Skype exports in the real format, with their ground truth.

``write_export(path, messages=N)`` writes what Skype's "export my data" produces: a
``.tar`` holding ``messages.json``, ``endpoints.json`` and ``media/`` (``<docid>.json``
metadata and ``<docid>.1.<ext>`` files), or with ``bare=True`` only the messages.json;
``gzip=True`` compresses either. Every message type of
../shared/reference/skype-export-format.md appears (given enough messages): RichText with
emoticons, links, mentions, quotes, entities, edits (``edittime`` and old-style ``<e_m>``
records) and deletions (``deletetime``); pictures, files, video, audio, albums, cards,
mojis, call recordings; calls with ``partlist`` durations; contacts, locations, polls,
scheduled calls; thread events; notices; ``48:calllogs`` entries. Conversations are 1:1
(``8:`` and other numeric prefixes), groups (``19:``, members as a JSON *string*), a bot
(``28:``) and the call log list (``48:``), plus empty ones. Each MessageList is written
out of time order (shuffled in blocks).

It streams: one block of messages is in memory at a time, whatever N; the ground truth
keeps counters and, for exact medians, one 8-byte integer per reply and per call.
The same arguments always produce the same bytes.

CLI: ``python -m samples.skype --messages 1000000 [--bare] [--gzip] [--seed 0] OUT``
prints the ground truth's summary as JSON.
"""

from __future__ import annotations

import argparse
import gzip as gzip_module
import itertools
import math
import os
import random
import shutil
import sys
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from samples import skype_markup as mk
from samples.skype_truth import GroundTruth, TruthRecorder, iso

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
BLOCK_MESSAGES = 256
# Share of each hour of the day (UTC) at which sessions start: quiet nights, busy evenings.
HOUR_WEIGHTS = (
    0.15, 0.08, 0.05, 0.04, 0.04, 0.06, 0.15, 0.35, 0.55, 0.65, 0.7, 0.7,
    0.8, 0.7, 0.65, 0.65, 0.7, 0.8, 0.9, 1.0, 1.0, 0.95, 0.7, 0.35,
)  # fmt: skip
WEEKDAY_WEIGHTS = (0.9, 0.95, 1.0, 0.95, 0.9, 0.7, 0.6)

# Slot types by conversation kind, with weights (the real mix: RichText ~87%, pictures ~6%,
# AddMember ~4%, DeleteMember ~1%, files ~0.5%).
COMMON_TYPES: dict[str, float] = {
    "RichText": 86.0,
    "RichText/UriObject": 6.0,
    "RichText/Media_GenericFile": 0.6,
    "RichText/Media_Video": 0.3,
    "RichText/Media_AudioMsg": 0.3,
    "RichText/Media_Album": 0.15,
    "RichText/Media_FlikMsg": 0.05,
    "RichText/Media_CallRecording": 0.05,
    "RichText/Contacts": 0.15,
    "RichText/Location": 0.1,
    "RichText/ScheduledCallInvite": 0.05,
    "Event/Call:pair": 1.2,
    "Event/Call:missed": 0.4,
    "Text": 0.8,
    "RichText/Html": 0.2,
    "Translation": 0.05,
    "EndToEndEncryption/EncryptedText": 0.03,
    "RichText:edit-record": 0.3,
    "Notice": 0.03,
    "PopCard": 0.02,
    "InviteFreeRelationshipChanged/Initialized": 0.02,
}
GROUP_TYPES: dict[str, float] = {
    **COMMON_TYPES,
    "ThreadActivity/AddMember": 4.0,
    "ThreadActivity/DeleteMember": 1.0,
    "ThreadActivity/TopicUpdate": 0.3,
    "ThreadActivity/PictureUpdate": 0.1,
    "ThreadActivity/HistoryDisclosedUpdate": 0.05,
    "ThreadActivity/JoiningEnabledUpdate": 0.05,
    "ThreadActivity/RoleUpdate": 0.05,
    "Poll": 0.2,
}
BOT_TYPES: dict[str, float] = {"RichText": 80.0, "RichText/Media_Card": 20.0}
CATEGORY = {
    "RichText": "text", "Text": "text", "RichText/Html": "text", "Translation": "text",
    "RichText:edit-record": "text",
    "RichText/UriObject": "media", "RichText/Media_Video": "media",
    "RichText/Media_AudioMsg": "media", "RichText/Media_Album": "media",
    "RichText/Media_Card": "media", "RichText/Media_FlikMsg": "media",
    "RichText/Media_CallRecording": "media", "RichText/Media_GenericFile": "file",
    "Event/Call": "call", "RichText/ScheduledCallInvite": "call",
    "RichText/Contacts": "contact", "RichText/Location": "location", "Poll": "poll",
    "Notice": "system", "PopCard": "system",
    "InviteFreeRelationshipChanged/Initialized": "system",
    "EndToEndEncryption/EncryptedText": "other",
}  # fmt: skip
URI_KINDS = {
    "RichText/UriObject": "Picture.1",
    "RichText/Media_GenericFile": "File.1",
    "RichText/Media_Video": "Video.1/Message.1",
    "RichText/Media_AudioMsg": "Audio.1/Message.1",
    "RichText/Media_CallRecording": "Video.1/CallRecording.1",
    "RichText/Media_FlikMsg": "FlikMsg.1",
    "RichText/Media_Card": "SWIFT.1",
}


def category_of(raw_type: str) -> str:
    if raw_type.startswith("ThreadActivity/"):
        return "system"
    return CATEGORY.get(raw_type, "other")


@dataclass
class Person:
    id: str
    name: str


@dataclass
class ConversationPlan:
    id: str
    kind: str
    display_name: str | None
    topic: str | None
    members: list[Person]
    size: int
    name: str
    """The name the parser should derive (displayName, topic, the partner's name)."""
    weights: list[float] = field(default_factory=list)


@dataclass
class _Message:
    ms: int
    record: dict[str, Any]


class _Writer:
    """Counts what goes to the file (for the tar header patched afterwards)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def write(self, data: bytes) -> None:
        self.raw.write(data)
        self.count += len(data)


class ExportGenerator:
    """One export: population, conversation plans, then messages streamed to a writer."""

    def __init__(
        self,
        messages: int,
        *,
        seed: int = 0,
        hostile: bool = False,
        export_date: str = "2024-05-05T20:55",
        years: float = 3.0,
        media_files: int = 8,
        bare: bool = False,
    ) -> None:
        if messages < 0:
            raise ValueError("messages must be >= 0")
        self.rng = random.Random(seed)
        self.total = messages
        self.hostile = hostile
        self.export_date = export_date
        self.export_ms = int(
            datetime.fromisoformat(export_date).replace(tzinfo=UTC).timestamp() * 1000
        )
        self.start_ms = self.export_ms - int(years * 365.25 * DAY_MS)
        self.media_budget = media_files
        self.media: list[tuple[str, str, bytes]] = []  # (docid, file name, bytes)
        self.owner = Person(f"8:live:.cid.{self.rng.getrandbits(64):016x}", "Alex Owner")
        self.truth = TruthRecorder(self.owner.id, export_date, bare=bare)
        self._unseen: dict[str, list[str]] = {
            "one_to_one": list(COMMON_TYPES),
            "group": [t for t in GROUP_TYPES if t not in COMMON_TYPES],
            "bot": ["RichText/Media_Card"],
        }
        self._vocabulary_weights = list(
            itertools.accumulate(1 / (rank + 1) ** 0.9 for rank in range(len(mk.VOCABULARY)))
        )  # cumulative: each draw is a bisection, not a pass over the vocabulary
        self.people = self._people()
        self.plans = self._plans()

    # -- population -----------------------------------------------------------------------

    def _people(self) -> list[Person]:
        rng = self.rng
        count = max(3, min(300, round(math.sqrt(max(self.total, 1)) / 2)))
        people: list[Person] = []
        used: set[str] = set()
        for index in range(count):
            first, last = rng.choice(mk.FIRST_NAMES), rng.choice(mk.LAST_NAMES)
            name = f"{first} {last}"
            while name in used:
                name = f"{first} {last} {rng.randint(2, 99)}"
            used.add(name)
            form = index % 7
            if form == 3:
                identity = f"8:{first.lower()}.{last.lower()}{index}".replace("'", "")
            elif form == 5 and index < 40:
                identity = f"4:+1555{rng.randint(1000000, 9999999)}"  # a phone contact
            else:
                identity = f"8:live:.cid.{rng.getrandbits(64):016x}"
            people.append(Person(identity, name))
        if self.hostile:
            people[1].name = mk.HOSTILE_NAMES[0]
            if len(people) > 2:
                people[2].name = mk.HOSTILE_NAMES[1]
            self.truth.truth.hostile_strings.extend(mk.HOSTILE_NAMES)
        return people

    def _plans(self) -> list[ConversationPlan]:
        rng = self.rng
        people = self.people
        plans: list[ConversationPlan] = []
        for index, person in enumerate(people):
            if index % 5 == 4 and index > 0:
                continue  # not everyone has a 1:1 chat: some are known from groups only
            nameless = index == 3
            plans.append(
                ConversationPlan(
                    id=person.id,
                    kind="one_to_one",
                    display_name=None if nameless else person.name,
                    topic=None,
                    members=[self.owner, person],
                    size=0,
                    name=person.name,
                )
            )
        named = [p for i, p in enumerate(people) if i != 3 and not (i % 5 == 4 and i > 0)]
        group_count = max(1, min(60, len(people) // 5))
        for index in range(group_count):
            untitled = index == 1
            pool = named if untitled else people
            size = rng.randint(3, max(3, min(15, len(pool) + 1)))
            members = [self.owner, *rng.sample(pool, min(size - 1, len(pool)))]
            thread = f"19:{rng.getrandbits(128):032x}@thread.skype"
            topic = mk.TOPICS[index % len(mk.TOPICS)]
            if self.hostile and index == 0:
                topic = mk.HOSTILE_NAMES[0] + " group"
                self.truth.truth.hostile_strings.append(topic)
            plans.append(
                ConversationPlan(
                    id=thread,
                    kind="group",
                    display_name=None if untitled else topic,
                    topic=None if untitled else topic,
                    members=members,
                    size=0,
                    name="" if untitled else topic,  # untitled: derived from the members
                )
            )
        if self.total >= 50:
            bot = Person("28:concierge-" + f"{rng.getrandbits(32):08x}", "Skype Concierge")
            plans.append(
                ConversationPlan(bot.id, "bot", bot.name, None, [self.owner, bot], 0, bot.name)
            )
            plans.append(
                ConversationPlan("48:calllogs", "special", None, None, [self.owner], 0, "calllogs")
            )
        # Sizes: Zipf-like over a deterministic shuffle, the biggest a 1:1 chat.
        messageable = [p for p in plans]
        weights = [1 / (rank + 1) ** 1.1 for rank in range(len(messageable))]
        order = list(range(1, len(messageable)))
        rng.shuffle(order)
        order.insert(0, 0)
        total_weight = sum(weights)
        assigned = 0
        for rank, index in enumerate(order):
            plan = messageable[index]
            share = weights[rank] / total_weight
            if plan.kind == "special":
                share = min(share, 0.005)
            plan.size = int(self.total * share)
            assigned += plan.size
        for index in order:
            if assigned >= self.total:
                break
            messageable[index].size += 1
            assigned += 1
        messageable[order[0]].size += self.total - assigned
        if self.total >= 20:
            # Two empty conversations, as real exports have: moved from the largest.
            for extra in range(2):
                gone = Person(f"8:live:.cid.{rng.getrandbits(64):016x}", f"Old contact {extra + 1}")
                plans.append(
                    ConversationPlan(
                        gone.id, "one_to_one", gone.name, None, [self.owner, gone], 0, gone.name
                    )
                )
        rng.shuffle(plans)
        for plan in plans:
            if plan.kind == "group":
                plan.weights = [3.0] + [1 / (rank + 1) for rank in range(len(plan.members) - 1)]
        return plans

    # -- writing --------------------------------------------------------------------------

    def write_json(self, out: _Writer) -> None:
        owner = self.owner.id
        out.write(b'{"userId":' + orjson.dumps(owner))
        out.write(b',"exportDate":' + orjson.dumps(self.export_date))
        out.write(b',"conversations":[')
        for index, plan in enumerate(self.plans):
            if index:
                out.write(b",")
            self._write_conversation(out, plan)
        out.write(b"]}")

    def _conversation_header(self, plan: ConversationPlan) -> dict[str, Any]:
        rng = self.rng
        last = iso(self.export_ms - rng.randint(1, 400) * HOUR_MS)
        header: dict[str, Any] = {
            "id": plan.id,
            "displayName": plan.display_name,
            "version": self.export_ms - rng.randint(0, 10**9),
            "properties": {
                "conversationblocked": False,
                "lastimreceivedtime": last if plan.size else None,
                "consumptionhorizon": (
                    f"{self.export_ms};{self.export_ms - 1000};{rng.getrandbits(60)}"
                    if plan.size
                    else None
                ),
                "conversationstatus": "Accepted" if plan.kind == "one_to_one" else None,
            },
            "threadProperties": None,
        }
        if plan.kind == "group":
            header["threadProperties"] = {
                "membercount": len(plan.members),
                "members": orjson.dumps([m.id for m in plan.members]).decode(),
                "topic": plan.topic,
                "picture": None,
            }
        return header

    def _write_conversation(self, out: _Writer, plan: ConversationPlan) -> None:
        truth = self.truth
        name = plan.name or self._derived_group_name(plan)
        plan.name = name
        truth.conversation(plan.id, name, plan.kind, [m.id for m in plan.members])
        for member in plan.members:
            truth.contact(member.id, member.name)
        header = orjson.dumps(self._conversation_header(plan))
        out.write(header[:-1] + b',"MessageList":[')
        first = True
        block: list[bytes] = []
        for message in self._messages(plan):
            block.append(orjson.dumps(message.record))
            if len(block) >= BLOCK_MESSAGES:
                self.rng.shuffle(block)
                out.write((b"," if not first else b"") + b",".join(block))
                first = False
                block = []
        if block:
            self.rng.shuffle(block)
            out.write((b"," if not first else b"") + b",".join(block))
        out.write(b"]}")

    def _derived_group_name(self, plan: ConversationPlan) -> str:
        others = [m for m in plan.members if m.id != self.owner.id]
        shown = others[:4]
        name = ", ".join(m.name for m in shown)
        extra = len(others) - len(shown)
        return name + (f" and {extra} more" if extra > 0 else "")

    # -- messages of one conversation, in time order ---------------------------------------

    def _messages(self, plan: ConversationPlan) -> Any:
        if plan.size <= 0:
            return
        rng = self.rng
        if plan.kind == "special":
            yield from self._call_log(plan)
            return
        size = plan.size
        window = self.export_ms - self.start_ms
        span = int(window * (1.0 if size > 200 else rng.uniform(0.2, 0.9)))
        begin = self.export_ms - span
        sessions = max(1, min(size // 6 if size >= 6 else 1, span // (16 * HOUR_MS)))
        base, remainder = divmod(size, sessions)
        lengths = [base + (1 if index < remainder else 0) for index in range(sessions)]
        for index in range(sessions):
            if lengths[index] > 2:
                other = rng.randrange(sessions)
                move = rng.randint(0, lengths[index] // 2)
                lengths[index] -= move
                lengths[other] += move
        # Session k starts somewhere in the k-th slot of the span, at least 7 hours after
        # the previous session ended, at an hour people chat (HOUR_WEIGHTS).
        slot = span / sessions
        session_ms = (size / sessions) * 90_000
        state = _SessionState(plan, self)
        previous_end = begin - 7 * HOUR_MS
        for index, length in enumerate(lengths):
            if length <= 0:
                continue
            target = begin + int(
                index * slot + rng.uniform(0, max(0.0, slot - session_ms - 4 * HOUR_MS))
            )
            t = self._session_start(max(target, previous_end + 7 * HOUR_MS))
            state.begin_session(t)
            remaining = length
            while remaining > 0:
                produced = state.slot(remaining)
                remaining -= len(produced)
                yield from produced
            previous_end = state.t

    def _session_start(self, t: int) -> int:
        rng = self.rng
        while True:
            moment = datetime.fromtimestamp(t / 1000, UTC)
            weight = HOUR_WEIGHTS[moment.hour] * WEEKDAY_WEIGHTS[moment.weekday()]
            if rng.random() < weight:
                return t
            t += HOUR_MS + rng.randint(0, HOUR_MS)

    def _call_log(self, plan: ConversationPlan) -> Any:
        rng = self.rng
        t = self.start_ms + rng.randint(0, DAY_MS)
        step = max(HOUR_MS, (self.export_ms - self.start_ms) // (plan.size + 1))
        partners = [p for p in self.people if p.id.startswith("8:")] or self.people
        for index in range(plan.size):
            t += rng.randint(step // 2, step + step // 2)
            partner = partners[index % len(partners)]
            state = rng.choice(("accepted", "accepted", "missed", "declined"))
            duration = rng.randint(15, 3600) if state == "accepted" else 0
            outgoing = index % 2 == 0
            log = {
                "startTime": iso(t),
                "connectTime": iso(t + 5000) if state == "accepted" else None,
                "endTime": iso(t + 5000 + duration * 1000),
                "callDirection": "outgoing" if outgoing else "incoming",
                "callType": "twoParty",
                "callState": state,
                "originator": self.owner.id if outgoing else partner.id,
                "target": partner.id if outgoing else self.owner.id,
                "originatorParticipant": {
                    "type": "default",
                    "id": (self.owner if outgoing else partner).id,
                    "displayName": (self.owner if outgoing else partner).name,
                },
                "targetParticipant": {
                    "type": "default",
                    "id": (partner if outgoing else self.owner).id,
                    "displayName": (partner if outgoing else self.owner).name,
                },
                "callId": f"{rng.getrandbits(128):032x}",
            }
            record = _record(
                message_id=str(t),
                ms=t,
                raw_type="Event/Call",
                content="",
                conversation=plan.id,
                sender=self.owner.id,
                properties={"call-log": orjson.dumps(log).decode()},
            )
            self.truth.message(sender=self.owner.id, ms=t, raw_type="Event/Call", category="call")
            yield _Message(t, record)

    # -- media files in the tar ------------------------------------------------------------

    def add_media_file(self, docid: str, name: str, size: int) -> bool:
        if len(self.media) >= self.media_budget:
            return False
        data = self.rng.randbytes(size)
        self.media.append((docid, name, data))
        return True


def _record(
    *,
    message_id: str,
    ms: int,
    raw_type: str,
    content: str,
    conversation: str,
    sender: str,
    display_name: str | None = None,
    properties: dict[str, Any] | None = None,
    ams: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "id": message_id,
        "displayName": display_name,
        "originalarrivaltime": iso(ms),
        "messagetype": raw_type,
        "version": float(ms) if ms % 2 else ms,
        "content": content,
        "conversationid": conversation,
        "from": sender,
        "properties": properties,
        "amsreferences": ams,
    }


class _SessionState:
    """The running state of one conversation while its messages are generated."""

    def __init__(self, plan: ConversationPlan, gen: ExportGenerator) -> None:
        self.plan = plan
        self.gen = gen
        self.rng = gen.rng
        self.t = 0
        self.sender: Person | None = None
        self.last_text: tuple[Person, int, str, str] | None = None  # sender, ms, id, text
        self.named: set[str] = set()
        kind = plan.kind
        table = GROUP_TYPES if kind == "group" else BOT_TYPES if kind == "bot" else COMMON_TYPES
        self.types = list(table)
        self.type_weights = list(itertools.accumulate(table.values()))

    def begin_session(self, t: int) -> None:
        self.t = t
        self.sender = None

    def _next_sender(self) -> Person:
        rng = self.rng
        members = self.plan.members
        if self.sender is not None and rng.random() < 0.45:
            return self.sender
        if len(members) == 2:
            return members[1] if self.sender is members[0] else members[0]
        weights = self.plan.weights or [1.0] * len(members)
        pairs = [(m, w) for m, w in zip(members, weights, strict=False) if m is not self.sender]
        return rng.choices([m for m, _ in pairs], [w for _, w in pairs])[0]

    def _advance(self, sender: Person) -> int:
        rng = self.rng
        if self.sender is None:
            gap = 0
        elif sender is self.sender:
            gap = rng.randint(1000, 90_000)
        else:
            gap = int(min(50 * 60_000, max(2000, rng.lognormvariate(math.log(40_000), 1.2))))
        self.t += gap + rng.randint(0, 999)
        self.sender = sender
        return self.t

    def _feasible(self, raw_type: str, remaining: int) -> bool:
        if raw_type == "Event/Call:pair":
            return remaining >= 2
        if raw_type == "RichText:edit-record":
            return self.last_text is not None
        return True

    def _choose_type(self, remaining: int) -> str:
        """The first type of this kind not written yet (so that every type appears), else
        a draw from the kind's mix."""
        lists = [self.gen._unseen.get(self.plan.kind, [])]
        if self.plan.kind == "group":
            lists.append(self.gen._unseen["one_to_one"])
        for unseen in lists:
            for index, raw_type in enumerate(unseen):
                if self._feasible(raw_type, remaining):
                    return unseen.pop(index)
        while True:
            raw_type = self.rng.choices(self.types, cum_weights=self.type_weights)[0]
            if self._feasible(raw_type, remaining):
                return raw_type

    def slot(self, remaining: int) -> list[_Message]:
        """The messages of one slot: one, or two for a call (started, ended)."""
        raw_type = self._choose_type(remaining)
        if raw_type == "Event/Call:pair":
            return self._call()
        if raw_type == "Event/Call:missed":
            return [self.missed_call(self._next_sender())]
        if raw_type.startswith("ThreadActivity/"):
            return [self._thread_event(raw_type)]
        sender = self._next_sender()
        if self.plan.kind == "bot" and raw_type == "RichText/Media_Card":
            sender = self.plan.members[1]
        return [self._build(raw_type, sender)]

    # -- builders ---------------------------------------------------------------------------

    def _id(self, ms: int) -> str:
        return str(ms)

    def _display_name(self, sender: Person) -> str | None:
        """Real exports mostly write null; group members get their name on their first
        message there and on some later ones, so every member's name is in the export."""
        if sender.id == self.gen.owner.id:
            return None
        if self.plan.kind == "one_to_one" and self.plan.display_name is None:
            # A 1:1 chat without a name: the partner's first message names them.
            if sender.id not in self.named:
                self.named.add(sender.id)
                return sender.name
            return None
        if self.plan.kind != "group":
            return None
        if sender.id not in self.named or self.rng.random() < 0.3:
            self.named.add(sender.id)
            return sender.name
        return None

    def _text(self, *, allow_markup: bool = True) -> tuple[str, str, dict[str, Any]]:
        """(content, clean text, truth extras) of a RichText message."""
        rng = self.rng
        gen = self.gen
        words = rng.choices(
            mk.VOCABULARY, cum_weights=gen._vocabulary_weights, k=rng.randint(2, 12)
        )
        for word, probability in mk.PLANTED_WORDS.items():
            if rng.random() < probability:
                words.insert(rng.randint(0, len(words)), word)
        if rng.random() < 0.02:
            words.append(rng.choice(mk.SPECIAL_SENTENCES))
        if gen.hostile and rng.random() < 0.01:
            words.append(mk.HOSTILE_TEXT)
        content_parts = [mk.escape(w) for w in words]
        clean_parts = list(words)
        extras: dict[str, Any] = {"emoji": [], "emoticons": [], "mentions": 0, "links": 0}
        if allow_markup:
            if rng.random() < 0.04:
                emoji = rng.choice(mk.EMOJI)
                content_parts.append(emoji)
                clean_parts.append(emoji)
                extras["emoji"].append(emoji)
            if rng.random() < 0.05:
                kind = rng.choice(list(mk.EMOTICONS))
                content_parts.append(mk.emoticon(kind))
                clean_parts.append(mk.EMOTICONS[kind])
                extras["emoticons"].append(kind)
            if rng.random() < 0.03:
                section = rng.choice(("docs", "news", "photos"))
                url = f"https://example.com/{section}/{rng.randint(1, 999)}"
                content_parts.append(mk.link(url))
                clean_parts.append(url)
                extras["links"] = 1
            if self.plan.kind == "group" and rng.random() < 0.05:
                target = rng.choice(self.plan.members[1:])
                content_parts.insert(0, mk.mention(target.id, target.name))
                clean_parts.insert(0, target.name)
                extras["mentions"] = 1
        return " ".join(content_parts), " ".join(clean_parts).strip(), extras

    def _build(self, raw_type: str, sender: Person) -> _Message:
        rng = self.rng
        gen = self.gen
        plan = self.plan
        truth = gen.truth
        ms = self._advance(sender)
        message_id = self._id(ms)
        properties: dict[str, Any] | None = None
        ams: list[str] | None = None
        category = category_of(raw_type)
        clean: str | None = None
        extras: dict[str, Any] = {}
        written_type = raw_type
        if raw_type == "RichText":
            content, clean, extras = self._text()
            roll = rng.random()
            if roll < 0.01:
                content, clean, extras = "", "", {}
                properties = {"deletetime": str(ms + rng.randint(1000, 600_000))}
                extras["deleted"] = True
            elif roll < 0.03:
                properties = {"edittime": str(ms + rng.randint(5000, 600_000))}
                extras["edited"] = True
            elif roll < 0.06 and self.last_text is not None:
                author, author_ms, author_id, quoted = self.last_text
                content = (
                    mk.quote(author.id, author.name, author_ms // 1000, plan.id, author_id, quoted)
                    + content
                )
                extras["quote"] = True
            if roll > 0.97:
                properties = {
                    "emotions": [
                        {
                            "key": rng.choice(("like", "heart", "laugh")),
                            "users": [
                                {"mri": m.id, "time": ms + 60_000, "value": str(ms)}
                                for m in plan.members[:3]
                            ],
                        }
                    ]
                }
            if not extras.get("deleted"):
                self.last_text = (sender, ms, message_id, " ".join(clean.split()[:6]))
        elif raw_type == "RichText:edit-record":
            author, original_ms, _, _ = self.last_text  # type: ignore[misc]
            sender = author
            self.sender = author
            new_content, clean, extras = self._text(allow_markup=False)
            content = (
                "Edited previous message: "
                + new_content
                + mk.edit_marker(original_ms, author.id.partition(":")[2])
            )
            written_type = "RichText"
            extras["edit_record"] = True
        elif raw_type == "Text":
            words = rng.choices(
                mk.VOCABULARY, cum_weights=gen._vocabulary_weights, k=rng.randint(2, 8)
            )
            clean = " ".join([*words, "& <ok>"])
            content = clean
        elif raw_type == "RichText/Html":
            words = rng.choices(
                mk.VOCABULARY, cum_weights=gen._vocabulary_weights, k=rng.randint(2, 6)
            )
            content = f"<b>{mk.escape(words[0])}</b> " + mk.escape(" ".join(words[1:]))
            clean = " ".join(words)
        elif raw_type == "Translation":
            words = rng.choices(
                mk.VOCABULARY, cum_weights=gen._vocabulary_weights, k=rng.randint(2, 6)
            )
            clean = " ".join(words)
            content = f'<translation lang="en">{mk.escape(clean)}</translation>'
        elif raw_type == "EndToEndEncryption/EncryptedText":
            content = rng.randbytes(48).hex()
        elif raw_type in URI_KINDS or raw_type == "RichText/Media_Album":
            content, ams, extras = self._media(raw_type)
        elif raw_type == "Poll":
            question = f"Where do we go for {rng.choice(('lunch', 'dinner', 'the trip'))}?"
            content = mk.uri_object("poll.1", mk.doc_id(rng), None, None, title=question)
        elif raw_type == "RichText/ScheduledCallInvite":
            content = mk.uri_object("ScheduledCall.1", mk.doc_id(rng), None, None, "Weekly sync")
        elif raw_type == "RichText/Contacts":
            shared = rng.sample(gen.people, min(2, len(gen.people)))
            content = mk.contacts([(p.id.partition(":")[2], p.name) for p in shared])
        elif raw_type == "RichText/Location":
            address = rng.choice(mk.ADDRESSES)
            content = mk.location(address, 59436810, 24740695, ms, sender.id)
        elif raw_type == "Notice":
            content = 'Skype is changing. <a href="https://go.skype.com/notice">Learn more</a>'
        elif raw_type == "PopCard":
            content = '[{"type":"popcard","version":"1.0","content":{"title":"Tip"}}]'
        elif raw_type == "InviteFreeRelationshipChanged/Initialized":
            content = "<initialized/>"
        elif raw_type == "RichText/Media_Card":
            content, ams, extras = self._media(raw_type)
        else:  # pragma: no cover - every type above
            raise AssertionError(raw_type)
        record = _record(
            message_id=message_id,
            ms=ms,
            raw_type=written_type,
            content=content,
            conversation=plan.id,
            sender=sender.id,
            display_name=self._display_name(sender),
            properties=properties,
            ams=ams,
        )
        truth.message(
            sender=sender.id,
            ms=ms,
            raw_type=written_type,
            category=category,
            clean_text=clean if category == "text" else None,
            deleted=bool(extras.get("deleted")),
            edited=bool(extras.get("edited") or extras.get("edit_record")),
            edit_record=bool(extras.get("edit_record")),
            media_size=extras.get("media_size"),
            quote=bool(extras.get("quote")),
            mentions=extras.get("mentions", 0),
            links=extras.get("links", 0),
            emoji=extras.get("emoji") if category == "text" else None,
            emoticons=extras.get("emoticons") if category == "text" else None,
        )
        return _Message(ms, record)

    def _media(self, raw_type: str) -> tuple[str, list[str], dict[str, Any]]:
        rng = self.rng
        gen = self.gen
        if raw_type == "RichText/Media_Album":
            items = rng.randint(2, 4)
            parts, refs, total = [], [], 0
            for index in range(items):
                docid = mk.doc_id(rng)
                size = rng.randint(20_000, 400_000)
                parts.append(mk.uri_object("Picture.1", docid, f"album_{index}.jpg", size))
                refs.append(docid)
                total += size
            return "".join(parts), refs, {"media_size": total}
        kind = URI_KINDS[raw_type]
        docid = mk.doc_id(rng)
        templates = mk.FILE_NAMES.get(kind)
        if templates is None:  # cards and mojis carry no file
            return mk.uri_object(kind, docid, None, None, title="Card"), [docid], {}
        name = rng.choice(templates).format(
            n=rng.randint(1, 9999), uuid=f"{rng.getrandbits(64):016x}"
        )
        size = rng.randint(1_000, 2_000_000)
        small = rng.randint(200, 4000)
        if gen.add_media_file(docid, name, small):
            size = small
        return mk.uri_object(kind, docid, name, size), [docid], {"media_size": size}

    def _call(self) -> list[_Message]:
        rng = self.rng
        gen = self.gen
        plan = self.plan
        caller = self._next_sender()
        ms = self._advance(caller)
        call_id = str(ms)
        parts = [(m.id, m.name) for m in plan.members[:4]]
        start = _record(
            message_id=self._id(ms),
            ms=ms,
            raw_type="Event/Call",
            content=mk.call("started", parts[:1], None, call_id),
            conversation=plan.id,
            sender=caller.id,
        )
        gen.truth.message(
            sender=caller.id, ms=ms, raw_type="Event/Call", category="call", call_event="started"
        )
        duration = round(rng.uniform(20, 3000), 2)
        end_ms = ms + int(duration * 1000) + rng.randint(1, 999)
        self.t = end_ms
        end = _record(
            message_id=self._id(end_ms),
            ms=end_ms,
            raw_type="Event/Call",
            content=mk.call("ended", parts, duration, call_id),
            conversation=plan.id,
            sender=caller.id,
        )
        gen.truth.message(
            sender=caller.id,
            ms=end_ms,
            raw_type="Event/Call",
            category="call",
            call_event="ended",
            duration_s=duration,
        )
        return [_Message(ms, start), _Message(end_ms, end)]

    def missed_call(self, caller: Person) -> _Message:
        ms = self._advance(caller)
        record = _record(
            message_id=self._id(ms),
            ms=ms,
            raw_type="Event/Call",
            content=mk.call("missed", [(caller.id, caller.name)], None, str(ms)),
            conversation=self.plan.id,
            sender=caller.id,
        )
        self.gen.truth.message(
            sender=caller.id, ms=ms, raw_type="Event/Call", category="call", call_event="missed"
        )
        return _Message(ms, record)

    def _thread_event(self, raw_type: str) -> _Message:
        rng = self.rng
        plan = self.plan
        initiator = self._next_sender()
        ms = self._advance(initiator)
        target = rng.choice(plan.members[1:])
        kind = raw_type.partition("/")[2].lower()
        if raw_type == "ThreadActivity/TopicUpdate":
            content = mk.thread_event(kind, ms, initiator.id, value=plan.topic or "New topic")
        elif raw_type in ("ThreadActivity/AddMember", "ThreadActivity/DeleteMember"):
            content = mk.thread_event(kind, ms, initiator.id, target=target.id)
        elif raw_type == "ThreadActivity/PictureUpdate":
            url = f"URL@https://api.asm.skype.com/v1/objects/{mk.doc_id(rng)}/views/avatar_fullsize"
            content = mk.thread_event(kind, ms, initiator.id, value=url)
        elif raw_type == "ThreadActivity/RoleUpdate":
            content = mk.thread_event(kind, ms, initiator.id, target=target.id, role="admin")
        else:
            content = mk.thread_event(kind, ms, initiator.id, value="true")
        record = _record(
            message_id=self._id(ms),
            ms=ms,
            raw_type=raw_type,
            content=content,
            conversation=plan.id,
            sender=plan.id,  # thread events come "from" the thread; the initiator is inside
        )
        self.gen.truth.message(sender=initiator.id, ms=ms, raw_type=raw_type, category="system")
        return _Message(ms, record)


def write_export(
    path: Path | str,
    messages: int,
    *,
    bare: bool = False,
    gzip: bool = False,
    seed: int = 0,
    hostile: bool = False,
    export_date: str = "2024-05-05T20:55",
    years: float = 3.0,
    media_files: int = 8,
) -> GroundTruth:
    """Write an export of ``messages`` messages to ``path``; returns its ground truth."""
    path = Path(path)
    generator = ExportGenerator(
        messages,
        seed=seed,
        hostile=hostile,
        export_date=export_date,
        years=years,
        media_files=0 if bare else media_files,
        bare=bare,
    )
    target = path.with_name(path.name + ".partial") if gzip else path
    with open(target, "wb") as raw:
        if bare:
            generator.write_json(_Writer(raw))
        else:
            _write_tar(raw, generator)
    if gzip:
        with (
            open(target, "rb") as source,
            gzip_module.GzipFile(path, "wb", compresslevel=6, mtime=0) as sink,
        ):
            shutil.copyfileobj(source, sink, 1 << 20)
        os.unlink(target)
    truth = generator.truth.finish()
    truth.media_files = len(generator.media)
    return truth


def _tar_header(name: str, size: int, *, directory: bool = False) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = 0 if directory else size
    info.mtime = 1_600_000_000
    info.mode = 0o755 if directory else 0o644
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.uname = info.gname = ""
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _pad(raw: IO[bytes], size: int) -> None:
    if size % 512:
        raw.write(b"\x00" * (512 - size % 512))


def _write_tar(raw: IO[bytes], generator: ExportGenerator) -> None:
    """messages.json first (its header patched with the size once written), then
    endpoints.json and media/."""
    header_at = raw.tell()
    raw.write(_tar_header("messages.json", 0))
    writer = _Writer(raw)
    generator.write_json(writer)
    _pad(raw, writer.count)
    end = raw.tell()
    raw.seek(header_at)
    raw.write(_tar_header("messages.json", writer.count))
    raw.seek(end)
    endpoints = orjson.dumps({"endpoints": [{"id": "{00000000-0000-0000-0000-000000000001}"}]})
    raw.write(_tar_header("endpoints.json", len(endpoints)))
    raw.write(endpoints)
    _pad(raw, len(endpoints))
    if generator.media:
        raw.write(_tar_header("media/", 0, directory=True))
    for docid, name, data in generator.media:
        meta = orjson.dumps(
            {
                "expiry_date": "3017-10-24T20:06:57.5687593Z",
                "filename": name,
                "contents": {"1": {"type": "application/octet-stream"}},
            }
        )
        extension = name.rsplit(".", 1)[-1] if "." in name else "bin"
        for member, body in ((f"media/{docid}.json", meta), (f"media/{docid}.1.{extension}", data)):
            raw.write(_tar_header(member, len(body)))
            raw.write(body)
            _pad(raw, len(body))
    raw.write(b"\x00" * 1024)


def summary(truth: GroundTruth) -> dict[str, Any]:
    """The ground truth without its per-conversation and per-contact tables."""
    data = truth.to_dict()
    for key in ("conversations", "contacts", "messages_per_day", "hour_of_week"):
        data.pop(key)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m samples.skype", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("out", type=Path, help="file to write (.tar, or .json with --bare)")
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--bare", action="store_true", help="messages.json only, no tar")
    parser.add_argument("--gzip", action="store_true", help="gzip the result")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--hostile", action="store_true", help="plant HTML/script in names and text"
    )
    args = parser.parse_args(argv)
    truth = write_export(
        args.out,
        args.messages,
        bare=args.bare,
        gzip=args.gzip,
        seed=args.seed,
        hostile=args.hostile,
    )
    sys.stdout.write(orjson.dumps(summary(truth)).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
