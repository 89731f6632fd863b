"""The shape of every record of a CSV file: how many fields each has, found without
parsing the values (vectorised over the bytes, a chunk at a time).

A record ends at a newline outside quotes: one with an even number of quote bytes
before it, which also treats an escaped ``""`` right (it counts twice). This is what
reports ragged rows (polars fills a short row with nulls and cuts a long one without a
word) and counts the rows before polars reads them, so a row limit is enforced early.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_CHUNK = 8 << 20
_EXAMPLES = 10


@dataclass
class RecordShape:
    header_fields: int
    rows: int
    """Data records, blank lines included (polars reads a blank line as an empty row)."""
    blank_rows: list[int] = field(default_factory=list)
    """0-based indexes of the data records that are blank lines."""
    short_rows: int = 0
    long_rows: int = 0
    examples: list[tuple[int, int]] = field(default_factory=list)
    """(1-based data row, number of fields) of the first ragged rows."""
    balanced_quotes: bool = True


def scan_records(path: Path, delimiter: str, quote: str | None) -> RecordShape:
    delim = ord(delimiter)
    quote_byte = ord(quote) if quote else None
    in_quote = 0
    # Delimiters seen in the record still open at a chunk's end; its length so far.
    open_delims = 0
    open_length = 0
    counts: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            data = np.frombuffer(chunk, dtype=np.uint8)
            ends = np.flatnonzero(data == 10)
            delims = np.flatnonzero(data == delim)
            if quote_byte is not None and (in_quote or quote_byte.to_bytes() in chunk):
                # Keep the newlines and delimiters with an even number of quotes before them.
                quotes = np.flatnonzero(data == quote_byte)
                ends = ends[((np.searchsorted(quotes, ends) + in_quote) & 1) == 0]
                delims = delims[((np.searchsorted(quotes, delims) + in_quote) & 1) == 0]
                in_quote = (in_quote + len(quotes)) & 1
            if len(ends) == 0:
                open_delims += len(delims)
                open_length += len(data)
                continue
            before = np.searchsorted(delims, ends)
            per_record = np.diff(before, prepend=0)
            per_record[0] += open_delims
            record_lengths = np.diff(ends, prepend=-1)
            record_lengths[0] += open_length
            # A record's bytes before its newline; a trailing \r is part of the newline.
            cr = np.zeros(len(ends), dtype=np.int64)
            valid = ends > 0
            cr[valid] = data[ends[valid] - 1] == 13
            counts.append(per_record + 1)
            lengths.append(record_lengths - 1 - cr)
            open_delims = len(delims) - int(before[-1])
            open_length = len(data) - int(ends[-1]) - 1
    if open_length > 0 or open_delims > 0:
        counts.append(np.array([open_delims + 1]))
        lengths.append(np.array([open_length]))
    return _shape(counts, lengths, balanced=in_quote == 0)


def _shape(counts: list[np.ndarray], lengths: list[np.ndarray], *, balanced: bool) -> RecordShape:
    if not counts:
        return RecordShape(header_fields=0, rows=0, balanced_quotes=balanced)
    fields_per_record = np.concatenate(counts)
    record_lengths = np.concatenate(lengths)
    header = int(fields_per_record[0])
    fields = fields_per_record[1:]
    blank = record_lengths[1:] <= 0
    short = (fields < header) & ~blank
    long = fields > header
    ragged = np.flatnonzero(short | long)[:_EXAMPLES]
    return RecordShape(
        header_fields=header,
        rows=len(fields),
        blank_rows=np.flatnonzero(blank).tolist(),
        short_rows=int(np.count_nonzero(short)),
        long_rows=int(np.count_nonzero(long)),
        examples=[(int(i) + 1, int(fields[i])) for i in ragged],
        balanced_quotes=balanced,
    )
