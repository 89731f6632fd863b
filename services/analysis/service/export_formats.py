"""The three export formats of the Export spec, written as rows arrive.

- JSON (``application/json``): ``{"export_info": ..., "messages": [...], "summary": ...}``
  in the spec's order and field names; one message per line inside the array. Each
  message has ``geo_data`` when ``include_geo`` and ``meta_data`` when ``include_meta``;
  fields nobody knows are ``null`` (GeoLite2 country data has no region, city,
  coordinates or time zone).
- Excel (``.xlsx``): sheet "Chat Messages" (a row per message in the same order,
  typed cells: dates as dates, numbers as numbers, booleans; frozen header, autofilter)
  and sheet "Summary" (:mod:`services.analysis.service.xlsx_stream`).
- Both (``application/zip``): the JSON file and the workbook. The JSON is streamed into
  the ZIP as it is made; the workbook, built from the same rows meanwhile in a
  temporary file, follows it. One pass over the rows feeds both.

Rows are the repository's records (:data:`CHAT_EXPORT_COLUMNS` order). ``summary`` is
computed by SQL over exactly the exported rows (:class:`ExportSummary`), so it comes
last in every format.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, cast

import orjson

from services.analysis.repository import CHAT_EXPORT_COLUMNS
from services.analysis.service.xlsx_stream import (
    STYLE_HEADER,
    STYLE_TITLE,
    ByteSink,
    Column,
    Kind,
    XlsxStream,
)

_I = {name: index for index, name in enumerate(CHAT_EXPORT_COLUMNS)}
ID, FROM_NAME, MESSAGE, REPLY, TIMESTAMP = (
    _I["id"],
    _I["from_name"],
    _I["message"],
    _I["reply"],
    _I["ts"],
)
CONVERSATION, TOKENS, IP, AGENT, REFERRER = (
    _I["conversation_id"],
    _I["token_cost"],
    _I["user_ip"],
    _I["user_agent"],
    _I["referrer"],
)
SESSION, EMBED, COUNTRY, CODE, ISP, ORGANIZATION, IP_TYPE = (
    _I["session_id"],
    _I["is_embed_user"],
    _I["country"],
    _I["country_code"],
    _I["isp"],
    _I["organization"],
    _I["ip_type"],
)
CREATED, CLIENT, FROM_USER, USER_NAME, USER_EMAIL, EXPORT_ID = (
    _I["created_at"],
    _I["client_id"],
    _I["from_user_id"],
    _I["user_name"],
    _I["user_email"],
    _I["skype_export_id"],
)

JSON_TYPE = "application/json"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ZIP_TYPE = "application/zip"
_JSON_OPTIONS = orjson.OPT_UTC_Z
MESSAGES_SHEET = "Chat Messages"
SUMMARY_SHEET = "Summary"
TOP = 10
COPY_PIECE = 1024 * 1024

Record = Sequence[Any]


@dataclass(frozen=True, slots=True)
class ExportLayout:
    """What goes into the file besides the messages' own fields."""

    include_geo: bool
    include_meta: bool
    # When a Skype export was loaded (its messages' meta_data.created_at).
    skype_loaded_at: Mapping[int, datetime] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExportSummary:
    total_messages: int
    total_tokens: int
    unique_users: int
    first: datetime | None
    last: datetime | None
    top_countries: list[tuple[str, int]]
    top_isps: list[tuple[str, int]]
    ip_types: dict[str, int]
    conversations: int
    longest_conversation: int

    @property
    def date_range(self) -> str | None:
        return date_range(self.first, self.last)

    @property
    def average_per_conversation(self) -> float:
        if not self.conversations:
            return 0.0
        return round(self.total_messages / self.conversations, 2)

    def as_json(self) -> dict[str, Any]:
        return {
            "total_messages": self.total_messages,
            "total_tokens": self.total_tokens,
            "unique_users": self.unique_users,
            "date_range": self.date_range,
            "top_countries": [{"country": c, "count": n} for c, n in self.top_countries],
            "top_isps": [{"isp": i, "count": n} for i, n in self.top_isps],
            "ip_type_breakdown": dict(self.ip_types),
            "conversation_stats": {
                "total_conversations": self.conversations,
                "avg_messages_per_conversation": self.average_per_conversation,
                "longest_conversation": self.longest_conversation,
            },
        }


def date_range(first: datetime | None, last: datetime | None) -> str | None:
    """The spec's ``"2024-01-01 to 2024-01-15"``; ``None`` when nothing is known."""
    if first is None and last is None:
        return None
    start = first.date().isoformat() if first else "…"
    end = last.date().isoformat() if last else "…"
    return f"{start} to {end}"


def _created_at(row: Record, layout: ExportLayout) -> datetime | None:
    created: datetime | None = row[CREATED]
    if created is None and row[EXPORT_ID] is not None:
        created = layout.skype_loaded_at.get(row[EXPORT_ID])
    return created


def message_json(row: Record, layout: ExportLayout) -> dict[str, Any]:
    """One message of the JSON export, the spec's fields in the spec's order."""
    message: dict[str, Any] = {
        "id": row[ID],
        "from_name": row[FROM_NAME],
        "message": row[MESSAGE],
        "reply": row[REPLY],
        "timestamp": row[TIMESTAMP],
        "conversation_id": row[CONVERSATION],
        "token_cost": row[TOKENS],
        "user_ip": row[IP],
        "user_agent": row[AGENT],
        "referrer": row[REFERRER],
        "session_id": row[SESSION],
        "is_embed_user": row[EMBED],
    }
    if layout.include_geo:
        message["geo_data"] = {
            "country": row[COUNTRY],
            "country_code": row[CODE],
            "region": None,
            "region_name": None,
            "city": None,
            "latitude": None,
            "longitude": None,
            "timezone": None,
            "isp": row[ISP],
            "organization": row[ORGANIZATION],
            "ip_type": row[IP_TYPE],
        }
    if layout.include_meta:
        message["meta_data"] = {
            "created_at": _created_at(row, layout),
            "client_id": row[CLIENT],
            "from_user_id": row[FROM_USER],
            "user_name": row[USER_NAME],
            "user_email": row[USER_EMAIL],
        }
    return message


# --- JSON ---


class JsonExport:
    media_type = JSON_TYPE
    extension = "json"

    def __init__(self, info: dict[str, Any], layout: ExportLayout) -> None:
        self._info = info
        self._layout = layout
        self._first = True

    def head(self) -> bytes:
        info = orjson.dumps(self._info, option=_JSON_OPTIONS)
        return b'{"export_info":' + info + b',"messages":['

    def add(self, rows: Sequence[Record]) -> bytes:
        if not rows:
            return b""
        layout = self._layout
        # One orjson call per batch (a call per message costs three times as much: each
        # allocates its own buffer), then one message per line: every message starts
        # with '{"id":', which no string value can hold unescaped ('"' always is), so
        # '},{"id":' occurs only between two messages.
        batch = orjson.dumps([message_json(row, layout) for row in rows], option=_JSON_OPTIONS)
        body = batch[1:-1].replace(b'},{"id":', b'},\n{"id":')
        prefix = b"\n" if self._first else b",\n"
        self._first = False
        return prefix + body

    def finish(self, summary: ExportSummary) -> Iterator[bytes]:
        yield (b'\n],"summary":' + orjson.dumps(summary.as_json(), option=_JSON_OPTIONS) + b"}\n")


# --- Excel ---


def message_columns(layout: ExportLayout) -> list[Column]:
    columns = [
        Column("ID", Kind.TEXT, 38),
        Column("From", Kind.TEXT, 18),
        Column("Message", Kind.TEXT, 60),
        Column("Reply", Kind.TEXT, 60),
        Column("Timestamp (UTC)", Kind.DATE, 20),
        Column("Conversation ID", Kind.TEXT, 22),
        Column("Token Cost", Kind.NUMBER, 11),
        Column("User IP", Kind.TEXT, 18),
        Column("User Agent", Kind.TEXT, 40),
        Column("Referrer", Kind.TEXT, 30),
        Column("Session ID", Kind.TEXT, 22),
        Column("Embed User", Kind.BOOL, 11),
    ]
    if layout.include_geo:
        columns += [
            Column("Country", Kind.TEXT, 18),
            Column("Country Code", Kind.TEXT, 8),
            Column("ISP", Kind.TEXT, 28),
            Column("Organization", Kind.TEXT, 28),
            Column("IP Type", Kind.TEXT, 12),
        ]
    if layout.include_meta:
        columns += [
            Column("Created At (UTC)", Kind.DATE, 20),
            Column("Client ID", Kind.TEXT, 38),
            Column("From User ID", Kind.TEXT, 24),
            Column("User Name", Kind.TEXT, 18),
            Column("User Email", Kind.TEXT, 26),
        ]
    return columns


def message_cells(row: Record, layout: ExportLayout) -> list[Any]:
    cells = [
        row[ID],
        row[FROM_NAME],
        row[MESSAGE],
        row[REPLY],
        row[TIMESTAMP],
        row[CONVERSATION],
        row[TOKENS],
        row[IP],
        row[AGENT],
        row[REFERRER],
        row[SESSION],
        row[EMBED],
    ]
    if layout.include_geo:
        cells += [row[COUNTRY], row[CODE], row[ISP], row[ORGANIZATION], row[IP_TYPE]]
    if layout.include_meta:
        cells += [
            _created_at(row, layout),
            row[CLIENT],
            row[FROM_USER],
            row[USER_NAME],
            row[USER_EMAIL],
        ]
    return cells


SUMMARY_COLUMNS = [Column("", Kind.ANY, 36), Column("", Kind.ANY, 22)]


def write_summary_sheet(book: XlsxStream, info: Mapping[str, Any], summary: ExportSummary) -> None:
    book.open_sheet(SUMMARY_SHEET, SUMMARY_COLUMNS, header=False, freeze_header=False)
    row = book.write_raw_row
    row(["Chat export summary"], style=STYLE_TITLE)
    row(["Export date (UTC)", info["export_date"]])
    row(["Client", info["client_id"] or "all clients"])
    row(["Requested date range", info["date_range"] or ""])
    row(["Format", info["format"]])
    row([])
    row(["Total messages", summary.total_messages])
    row(["Total tokens", summary.total_tokens])
    row(["Unique users", summary.unique_users])
    row(["Date range", summary.date_range or ""])
    row([])
    row(["Top countries", "Messages"], style=STYLE_HEADER)
    for country, count in summary.top_countries:
        row([country, count])
    row([])
    row(["Top ISPs", "Messages"], style=STYLE_HEADER)
    for isp, count in summary.top_isps:
        row([isp, count])
    row([])
    row(["IP type", "Messages"], style=STYLE_HEADER)
    for ip_type, count in summary.ip_types.items():
        row([ip_type, count])
    row([])
    row(["Conversations", "Value"], style=STYLE_HEADER)
    row(["Total conversations", summary.conversations])
    row(["Average messages per conversation", summary.average_per_conversation])
    row(["Longest conversation (messages)", summary.longest_conversation])


class _Workbook:
    """The two sheets of the workbook, into any sink."""

    def __init__(self, sink: Any, info: dict[str, Any], layout: ExportLayout) -> None:
        self._info = info
        self._layout = layout
        self.book = XlsxStream(sink, sheet_count=2)
        self.book.open_sheet(MESSAGES_SHEET, message_columns(layout))

    def add(self, rows: Sequence[Record]) -> None:
        layout = self._layout
        self.book.write_rows(message_cells(row, layout) for row in rows)

    def close(self, summary: ExportSummary) -> None:
        write_summary_sheet(self.book, self._info, summary)
        self.book.close()


class ExcelExport:
    media_type = XLSX_TYPE
    extension = "xlsx"

    def __init__(self, info: dict[str, Any], layout: ExportLayout) -> None:
        self._sink = ByteSink()
        self._workbook = _Workbook(self._sink, info, layout)

    def head(self) -> bytes:
        return self._sink.take()

    def add(self, rows: Sequence[Record]) -> bytes:
        self._workbook.add(rows)
        return self._sink.take()

    def finish(self, summary: ExportSummary) -> Iterator[bytes]:
        self._workbook.close(summary)
        yield self._sink.take()


# --- both: a ZIP of the two ---


class ZipExport:
    media_type = ZIP_TYPE
    extension = "zip"

    def __init__(self, info: dict[str, Any], layout: ExportLayout, stem: str) -> None:
        self._sink = ByteSink()
        self._zip = zipfile.ZipFile(
            cast(IO[bytes], self._sink),  # write + tell: an unseekable stream
            "w",
            compression=zipfile.ZIP_DEFLATED,
            compresslevel=1,
        )
        self._json = JsonExport(info, layout)
        self._json_member = self._zip.open(f"{stem}.json", "w")
        self._xlsx_name = f"{stem}.xlsx"
        self._spool = tempfile.TemporaryFile(prefix="quarry-export-")  # noqa: SIM115 - closed in finish
        self._workbook = _Workbook(self._spool, info, layout)

    def head(self) -> bytes:
        self._json_member.write(self._json.head())
        return self._sink.take()

    def add(self, rows: Sequence[Record]) -> bytes:
        self._json_member.write(self._json.add(rows))
        self._workbook.add(rows)
        return self._sink.take()

    def finish(self, summary: ExportSummary) -> Iterator[bytes]:
        try:
            for piece in self._json.finish(summary):
                self._json_member.write(piece)
            self._json_member.close()
            yield self._sink.take()
            self._workbook.close(summary)
            self._spool.seek(0)
            with self._zip.open(self._xlsx_name, "w") as member:
                while piece := self._spool.read(COPY_PIECE):
                    member.write(piece)
                    yield self._sink.take()
            self._zip.close()
            yield self._sink.take()
        finally:
            self.discard()

    def discard(self) -> None:
        self._spool.close()


def writer_for(
    fmt: str, info: dict[str, Any], layout: ExportLayout, stem: str
) -> JsonExport | ExcelExport | ZipExport:
    if fmt == "json":
        return JsonExport(info, layout)
    if fmt == "excel":
        return ExcelExport(info, layout)
    return ZipExport(info, layout, stem)
