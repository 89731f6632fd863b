"""The Skype export format: container, streaming parser, markup, records, analytics.

This docstring is the authoritative description of the API between the Skype format code
(skypelib) and the platform that runs it (the ``skype.parse`` worker handler). It refines
/work/coord/SKYPE_INTERFACE.md; changes are said in the commit that makes them.

Pure and synchronous: no I/O beyond the file it is given, no network, no database. CPU
bound: call it off the event loop (a thread or a process).

Usage::

    from services.ingest.worker.skype import (
        InvalidExport, ParseLimits, SkypeAnalytics, open_messages_json, parse_export,
    )

    limits = ParseLimits()                            # defaults accept any real export
    try:
        with open_messages_json(path, limits) as stream:      # a MessagesStream
            export = parse_export(stream, limits)             # a ParsedExport (lazy)
            analytics = SkypeAnalytics(owner_id=None)
            for message in export.messages():                 # SkypeMessage, file order
                analytics.add(message)
                ...                                           # write the row for COPY
                stream.progress()                             # 0..1 of the upload read
            analytics.owner_id = export.header.user_id
            conversations = export.conversations()            # complete only now
            document = analytics.result(conversations, export.contact_names())
    except InvalidExport as exc:
        fail_the_job(exc.reason)                              # a sentence for the user

``open_messages_json(path, limits)`` -- a context manager yielding messages.json of the
upload as a ``MessagesStream`` (``read(n)``, ``size``, ``bytes_read``, ``progress()``).
The upload is a ``.tar`` holding ``messages.json`` (and ``media/``, ignored), or a bare
``messages.json``; either may be gzip-compressed. Decided by content (magic bytes), never
by name. Tar members are all checked before anything is read: no absolute or ``..``
paths, no links, devices, FIFOs or sparse files, bounded member count and header sizes;
gzip is bounded in expanded bytes and expansion ratio (bombs). Nothing is extracted to disk.

``parse_export(stream, limits) -> ParsedExport`` -- lazy; nothing is read until
``messages()`` is iterated:

- ``export.messages()``: ``Iterator[SkypeMessage]`` in file order (MessageList order is not
  time order; never rely on it), one pass only. Memory stays flat: one message in
  progress plus the few hundred of one 64 KB piece of input. Raises ``InvalidExport``.
- ``export.batches()``: the same messages a list at a time (a run of one conversation's
  messages from one piece of input), for work done column-wise; one pass, instead of
  ``messages()``. ``columns.message_columns(batch)`` transposes a batch (one tuple per
  field, and the send times as exact integer ms and µs arrays).
- ``export.header``: ``ExportHeader(user_id, export_date)``; Skype writes ``userId`` and
  ``exportDate`` first, so they are set after the first message at the latest, and
  certainly once ``messages()`` is exhausted.
- ``export.conversations()``: ``list[Conversation]``, only after ``messages()`` is exhausted
  (names are derived from the whole export), including conversations without messages.
- ``export.contact_names()``: ``{sender_id: display name}`` the export revealed.
- ``export.skipped``: ``{reason: count}`` of messages left out (no time, sender or id,
  content not text); such messages are rare and left out rather than failing the export.
- ``export.bytes_read``: bytes of messages.json consumed.

Every kind of bad input (truncated JSON, not a Skype export, wrong member names, tar
traversal, links, devices, tar and gzip bombs, nesting 100k deep, a 200 MB string,
invalid UTF-8, UTF-16, ZIP or other archives) raises ``InvalidExport`` with ``.reason``,
within bounded memory and time (see ``ParseLimits``). Nothing else escapes for bad input;
anything else is a bug (the handler may treat it as "retry").

``SkypeMessage`` (a NamedTuple, read by attribute; refined from the contract's slots
dataclass because its ``__init__`` cost more than tokenizing the message; fields in
``records.py``): ``conversation_id``,
``message_id``, ``sender_id``, ``sender_name``, ``sent_at`` (aware UTC), ``raw_type``
(messagetype as written), ``category`` (``text``, ``media``, ``file``, ``call``,
``contact``, ``location``, ``poll``, ``system``, ``other``), ``text`` (clean), ``edited_at``,
``deleted``, ``call_duration_s``, ``call_event`` (``started|ended|missed``), ``media_name``,
``media_size``, ``quote_of``, ``mentions``, and two refinements of the contract:
``edit_of`` (an old-style ``<e_m>`` edit record names the edited message by its arrival
time in epoch ms) and ``emoticons`` (the ``<ss type>`` of each Skype emoticon).
Message ids: ``(conversation_id, message_id)`` is unique in generated exports; real
exports can repeat a pair (re-sent edits), so a bulk load should not reject duplicates.

``Conversation``: ``id``, ``name``, ``kind`` (``one_to_one``, ``group``, ``bot``,
``special``), ``participants``, ``message_count``. ``ExportHeader``: ``user_id``,
``export_date``.

``SkypeAnalytics(owner_id)``: ``add_batch(messages, columns=None)`` per batch (numpy over
the batch's columns; the same figures as one by one) or ``add(message)`` (a batch of
one) (O(1) amortised per message; 16 bytes per
person-written message kept for response times, all else bounded counters); the owner may
be set (``analytics.owner_id = ...``) any time before ``result(conversations, names)``,
which returns the analysis document: a JSON-serialisable dict with the Skype spec's
``message_count``, ``conversation_count``, ``date_range.start/end``,
``top_contacts[{name, message_count, id}]``, and ``owner``, ``contacts``,
``conversations``, ``messages_per_day``, ``messages_per_month``, ``busiest_days``,
``activity``, ``hour_of_week``, ``hour_of_day``, ``weekday``, ``message_types``, ``text``,
``edits``, ``deleted``, ``calls``, ``media``, ``system_events``, ``response_times``,
``words``, ``emoji``, ``emoticons``, ``highlights``. Definitions: ``analytics.py``.

``services.analysis.reports.skype.render_skype_report(document, title=...)`` renders that
document as one self-contained HTML page.
"""

from services.ingest.worker.skype.analytics import SkypeAnalytics
from services.ingest.worker.skype.container import MessagesStream, open_messages_json
from services.ingest.worker.skype.errors import InvalidExport
from services.ingest.worker.skype.limits import ParseLimits
from services.ingest.worker.skype.parser import ParsedExport, parse_export
from services.ingest.worker.skype.records import (
    Conversation,
    ExportHeader,
    SkypeMessage,
)

__all__ = [
    "Conversation",
    "ExportHeader",
    "InvalidExport",
    "MessagesStream",
    "ParseLimits",
    "ParsedExport",
    "SkypeAnalytics",
    "SkypeMessage",
    "open_messages_json",
    "parse_export",
]
