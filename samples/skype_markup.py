"""Skype content markup as the real exports write it (../shared/reference/skype-export-format.md),
built from plain values. Each builder returns the ``content`` string; the generator knows
the clean text it meant, which is what the parser must get back."""

from __future__ import annotations

import random

# Skype emoticons: type -> the text shortcut shown inside <ss>.
EMOTICONS = {"smile": ":)", "laugh": ":D", "heart": "(heart)", "wink": ";)", "cry": ";("}
# Planted unicode emoji (no variation selectors or joiners, so each is one code point).
EMOJI = ("😂", "👍", "🎉", "🔥", "😢")
# Planted words: never in the vocabulary, names, links or quotes; counted exactly.
PLANTED_WORDS = {"quarry": 0.06, "basalt": 0.03, "obsidian": 0.015}

VOCABULARY = (  # noqa: SIM905 (a word list reads better as text)
    "the be to of and a in that have it for not on with he as you do at this but his by from "
    "they we say her she or an will my one all would there their what so up out if about who "
    "get which go me when make can like time no just him know take people into year your good "
    "some could them see other than then now look only come its over think also back after use "
    "two how our work first well way even new want because any these give day most us meeting "
    "lunch tomorrow tonight weekend project deadline coffee train office music movie game "
    "football holiday beach mountain river city birthday dinner party photo video call later "
    "sorry thanks great awesome cool nice okay maybe sure really busy tired happy late early "
    "home school family friend morning evening night week month summer winter spring autumn "
    "code server bug release review plan idea question answer problem solution update report "
    "car bus flight ticket hotel trip map road street shop market price money bank card phone "
    "laptop screen keyboard battery charger cable network wifi password email message chat "
    "привет спасибо hola gracias bonjour merci danke schön ciao grazie 你好 谢谢 こんにちは"
).split()
# Sentences with characters the markup must escape and the parser must decode.
SPECIAL_SENTENCES = (
    "Tom & Jerry at 5 <3",
    'she said "see you" & left',
    "it's 3 > 2 and 1 < 2",
    "R&D's <b>not</b> bold",
)
FIRST_NAMES = (
    "Ana", "Ben", "Chloé", "Dmitri", "Eva", "Farid", "Grace", "Hiro", "Inès", "Jonas", "Kasia",
    "Liam", "Mei", "Nikolai", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tala", "Uma", "Viktor",
    "Wen", "Ximena", "Yusuf", "Zoë", "Łukasz", "Søren", "Aiko", "Bjørn",
)  # fmt: skip
LAST_NAMES = (
    "Rossi", "Müller", "García", "Kowalski", "Nguyen", "Smith", "Ivanova", "Tanaka", "Silva",
    "O'Brien", "Dubois", "Novák", "Haddad", "Kim", "Larsen", "Okafor", "Petrov", "Quispe",
)  # fmt: skip
HOSTILE_NAMES = ("<script>alert(1)</script>", '"><img src=x onerror=alert(2)>')
HOSTILE_TEXT = "<script>alert(1)</script> & <img src=x onerror=alert(3)>"
TOPICS = (
    "Weekend hikes", "Project Basil", "Family 🏡", "Book club", "Football Tuesdays",
    "Release crew", "Flat 4B", "Road trip 2022", "Choir", "Startup ideas",
)  # fmt: skip
ADDRESSES = (
    "Kesklinn, Tallinn, 10146 Harju Maakond, Estonia",
    "Praça do Comércio, 1100-148 Lisboa, Portugal",
    "Kreuzberg, 10999 Berlin, Germany",
)
FILE_NAMES = {
    "Picture.1": ("IMG_{n}.jpg", "photo_{n}.png", "screenshot {n}.png"),
    "File.1": ("report_{n}.pdf", "notes {n}.txt", "budget & plan {n}.xlsx"),
    "Video.1/Message.1": ("{uuid}.mp4",),
    "Audio.1/Message.1": ("{uuid}.m4a",),
    "Video.1/CallRecording.1": ("Call recording {n}.mp4",),
}


def escape(text: str) -> str:
    """Text as RichText content holds it: the five XML entities, as Skype writes them."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )


def attr(text: str) -> str:
    return escape(text)


def doc_id(rng: random.Random) -> str:
    return f"0-weu-d{rng.randint(1, 15)}-{rng.getrandbits(128):032x}"


def emoticon(kind: str) -> str:
    return f'<ss type="{kind}">{escape(EMOTICONS[kind])}</ss>'


def link(url: str) -> str:
    return f'<a href="{attr(url)}">{escape(url)}</a>'


def mention(identity: str, name: str) -> str:
    return f'<at id="{attr(identity)}">{escape(name)}</at>'


def quote(
    author: str, author_name: str, timestamp_s: int, conversation: str, message_id: str, text: str
) -> str:
    return (
        f'<quote author="{attr(author)}" authorname="{attr(author_name)}" '
        f'timestamp="{timestamp_s}" conversation="{attr(conversation)}" '
        f'messageid="{attr(message_id)}"><legacyquote>[{timestamp_s}] {escape(author_name)}: '
        f"</legacyquote>{escape(text)}<legacyquote>\n\n&lt;&lt;&lt; </legacyquote></quote>"
    )


def edit_marker(original_ms: int, author: str) -> str:
    return f'<e_m ts="{original_ms // 1000}" ts_ms="{original_ms}" a="{attr(author)}" t="61"/>'


def call(kind: str, parts: list[tuple[str, str]], duration_s: float | None, call_id: str) -> str:
    body = []
    for identity, name in parts:
        inner = f"<name>{escape(name)}</name>"
        if duration_s is not None:
            inner += f"<duration>{duration_s:.2f}</duration>"
        body.append(f'<part identity="{attr(identity)}">{inner}</part>')
    return f'<partlist type="{kind}" alt="" callId="{call_id}">{"".join(body)}</partlist>'


_URI_TEXT = {
    "Picture.1": ("To view this shared photo, go to: ", "xmmfallback?pic="),
    "File.1": ("To view this file, go to: ", "webclient.xmm&docid="),
    "Video.1/Message.1": ("To view this video message, go to: ", "xmmfallback?vim="),
    "Audio.1/Message.1": ("To hear this voice message, go to: ", "xmmfallback?audio="),
    "Video.1/CallRecording.1": ("To view this call recording, go to: ", "xmmfallback?vim="),
}


def uri_object(kind: str, docid: str, name: str | None, size: int | None, title: str = "") -> str:
    base = f"https://api.asm.skype.com/v1/objects/{docid}"
    prefix, go = _URI_TEXT.get(kind, ("To view this, go to: ", "xmmfallback?id="))
    view = f"https://login.skype.com/login/sso?go={go}{docid}"
    parts = [
        f'<URIObject uri="{base}" url_thumbnail="{base}/views/imgt1" type="{kind}" '
        f'doc_id="{docid}" width="640" height="480">{prefix}{link(view)}'
    ]
    if title:
        parts.append(f"<Title>{escape(title)}</Title>")
    if name is not None:
        parts.append(f'<OriginalName v="{attr(name)}"></OriginalName>')
    if size is not None:
        parts.append(f'<FileSize v="{size}"></FileSize>')
    if kind == "Picture.1" and name is not None:
        parts.append(f'<meta type="photo" originalName="{attr(name)}"></meta>')
    parts.append("</URIObject>")
    return "".join(parts)


def contacts(cards: list[tuple[str, str]]) -> str:
    inner = "".join(f'<c t="s" s="{attr(i)}" f="{attr(n)}"></c>' for i, n in cards)
    return f"<contacts>{inner}</contacts>"


def location(address: str, latitude: int, longitude: int, timestamp_ms: int, mri: str) -> str:
    url = f"https://www.bing.com/maps/default.aspx?cp={latitude / 1e6}~{longitude / 1e6}&lvl=15"
    return (
        f'<location isUserLocation="0" latitude="{latitude}" longitude="{longitude}" '
        f'timeStamp="{timestamp_ms}" timezone="Europe/Tallinn" locale="en-US" language="en" '
        f'address="{attr(address)}" addressFriendlyName="{attr(address)}" '
        f'shortAddress="{attr(address)}" userMri="{attr(mri)}">{link(url)}</location>'
    )


def thread_event(kind: str, event_ms: int, initiator: str, **fields: str) -> str:
    inner = "".join(
        f"<{key}>{escape(value)}</{key}>" for key, value in fields.items() if key != "role"
    )
    if "role" in fields:
        inner = f"<target><id>{escape(fields['target'])}</id><role>{fields['role']}</role></target>"
    return (
        f"<{kind}><eventtime>{event_ms}</eventtime><initiator>{escape(initiator)}</initiator>"
        f"{inner}</{kind}>"
    )
