"""The CSV dialect (delimiter, quoting) from a sample of the decoded text."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass

DELIMITERS = (",", ";", "\t", "|")
_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_MAX_RECORDS = 500


@dataclass(frozen=True)
class CsvDialect:
    delimiter: str
    quote: str | None = '"'

    @property
    def delimiter_name(self) -> str:
        return _NAMES.get(self.delimiter, repr(self.delimiter))


def sniff_dialect(sample: str, *, complete: bool) -> CsvDialect:
    """The delimiter that splits the sample's records into the most consistent number of
    fields (more than one). ``complete`` says the sample is the whole file; otherwise its
    last, possibly cut, record is ignored. A file no delimiter splits is one column."""
    if not complete:
        cut = max(sample.rfind("\n"), 0)
        sample = sample[:cut]
    best: tuple[float, int, int] | None = None
    chosen = ","
    for priority, delimiter in enumerate(reversed(DELIMITERS)):
        counts = _field_counts(sample, delimiter)
        if not counts:
            continue
        mode, frequency = Counter(counts).most_common(1)[0]
        if mode < 2:
            continue
        score = (frequency / len(counts), mode, priority)
        if best is None or score > best:
            best, chosen = score, delimiter
    return CsvDialect(delimiter=chosen)


def _field_counts(sample: str, delimiter: str) -> list[int]:
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, quotechar='"')
    counts: list[int] = []
    try:
        for record in reader:
            if record:
                counts.append(len(record))
            if len(counts) >= _MAX_RECORDS:
                break
    except csv.Error:
        return counts
    return counts
