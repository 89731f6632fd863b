"""Deterministic tabular datasets with planted quality issues, and hostile files.

``mixed_table(rows)`` builds a table of ten mixed columns (identifier, constant,
integers, floats, categories, dates, booleans, a column of mixed types, free text)
and the ground truth of what a profiler must find in it: every planted issue sits
in its own set of rows, so each count is exact by construction. ``write_csv``,
``write_parquet`` and ``write_xlsx`` store it; the ``hostile_*`` functions write the
files an upload must refuse or survive (a ``.csv`` that is a zip, an ``.xlsx``
that is not one, zip bombs, XML entity expansion, truncated Parquet, ...).

``python -m samples.datasets OUT_DIR [--rows N] [--xlsx-rows N]`` writes the
benchmark set (``mixed.csv``, ``mixed.parquet``, ``mixed.xlsx``, ``truth.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

SEED = 20260123
MIN_ROWS = 200

DEPARTMENTS = ["Sales", "Engineering", "Marketing", "Support", "Finance", "HR", "Legal"]
DEPARTMENT_WEIGHTS = [0.34, 0.26, 0.14, 0.12, 0.07, 0.04, 0.03]
CASE_VARIANTS = ["sales", "SALES", "engineering"]
WHITESPACE_VARIANTS = [" Support", "Finance ", "  Marketing  "]
RATING_WORDS = ["five", "4 stars", "three"]
MOJIBAKE_PHRASES = [
    "the cafÃ© was closed",  # "café" decoded as cp1252
    "I donâ\u20ac\u2122t know",  # "don\u2019t" decoded as cp1252
    "naÃ¯ve question about the rÃ©sumÃ©",
]
VOCABULARY = (  # noqa: SIM905 (a sentence is easier to read than a list of 150 words)
    "account order delivery invoice refund late early great poor fast slow price "
    "support team product service quality package box damaged perfect again never "
    "always helpful rude friendly waited minutes hours days week month call email "
    "chat store online app website login password update upgrade plan cheap costly "
    "café naïve résumé don\u2019t can\u2019t won\u2019t it\u2019s déjà vu Zoë François Müller "
    "blue green red small large medium new old first last next really very quite "
    "happy unhappy satisfied disappointed recommend return exchange warranty broken "
    "works fine okay excellent terrible average decent reliable unreliable issue "
    "problem solved open closed pending shipped tracking number address city"
).split()
START_DATE = dt.date(2020, 1, 1)

# Share of rows receiving each planted issue (at least one row each).
RATES = {
    "duplicate_rows": 0.001,
    "age_missing": 0.02,
    "age_negative": 0.001,
    "salary_outlier": 0.0002,
    "department_case": 0.005,
    "department_whitespace": 0.003,
    "start_date_format": 0.004,
    "start_after_end": 0.002,
    "rating_words": 0.003,
    "comment_mojibake": 0.002,
    "rating_missing": 0.30,
}


@dataclass(frozen=True)
class PlantedIssue:
    check: str
    column: str
    affected_rows: int


@dataclass
class GroundTruth:
    """What a profile of ``mixed_table(rows)`` must report."""

    rows: int
    columns: int
    duplicate_rows: int
    null_counts: dict[str, int]
    semantic_types: dict[str, str]
    issues: list[PlantedIssue]
    alerts: list[tuple[str, str | None]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def issue(self, check: str, column: str) -> int:
        for item in self.issues:
            if item.check == check and item.column == column:
                return item.affected_rows
        raise KeyError((check, column))


def _counts(rows: int) -> dict[str, int]:
    return {name: max(1, round(rows * rate)) for name, rate in RATES.items()}


def mixed_table(rows: int, seed: int = SEED) -> tuple[pl.DataFrame, GroundTruth]:
    """The ten-column table and its ground truth (``rows`` >= 200)."""
    if rows < MIN_ROWS:
        raise ValueError(f"mixed_table needs at least {MIN_ROWS} rows")
    rng = np.random.default_rng(seed)
    counts = _counts(rows)
    order = rng.permutation(rows)
    slices: dict[str, np.ndarray] = {}
    cursor = 0
    # Duplicates take two disjoint clean sets: sources are copied onto targets.
    for name in ["dup_sources", "dup_targets", *(k for k in RATES if k != "duplicate_rows")]:
        size = counts["duplicate_rows"] if name.startswith("dup_") else counts[name]
        slices[name] = order[cursor : cursor + size]
        cursor += size

    customer_id = np.arange(1, rows + 1, dtype=np.int64)
    age = rng.integers(18, 91, rows).astype(np.float64)
    salary = np.round(rng.uniform(30_000, 120_000, rows), 2)
    department = np.array(DEPARTMENTS, dtype=object)[
        rng.choice(len(DEPARTMENTS), rows, p=DEPARTMENT_WEIGHTS)
    ]
    start_offset = rng.integers(0, 1500, rows)
    end_offset = start_offset + rng.integers(1, 400, rows)
    is_active = rng.random(rows) < 0.93
    rating = rng.integers(1, 6, rows).astype(str).astype(object)

    age[slices["age_missing"]] = np.nan
    age[slices["age_negative"]] = -rng.integers(1, 4, len(slices["age_negative"]))
    salary[slices["salary_outlier"]] = np.round(
        rng.uniform(1_800_000, 2_500_000, len(slices["salary_outlier"])), 2
    )
    department[slices["department_case"]] = np.array(CASE_VARIANTS, dtype=object)[
        np.arange(len(slices["department_case"])) % len(CASE_VARIANTS)
    ]
    department[slices["department_whitespace"]] = np.array(WHITESPACE_VARIANTS, dtype=object)[
        np.arange(len(slices["department_whitespace"])) % len(WHITESPACE_VARIANTS)
    ]
    sae = slices["start_after_end"]
    end_offset[sae] = start_offset[sae] - rng.integers(1, 100, len(sae))
    rating[slices["rating_words"]] = np.array(RATING_WORDS, dtype=object)[
        np.arange(len(slices["rating_words"])) % len(RATING_WORDS)
    ]
    rating[slices["rating_missing"]] = None

    start = (np.datetime64(START_DATE) + start_offset.astype("timedelta64[D]")).astype(
        "datetime64[D]"
    )
    end = (np.datetime64(START_DATE) + end_offset.astype("timedelta64[D]")).astype("datetime64[D]")
    start_text = np.datetime_as_string(start, unit="D").astype(object)
    # Day-first dates with a day above 12, so the format is unambiguous.
    fmt_rows = slices["start_date_format"]
    fmt_dates = [
        dt.date(2021 + int(i) % 3, 1 + int(i) % 12, 13 + int(i) % 15) for i in range(len(fmt_rows))
    ]
    start_text[fmt_rows] = [d.strftime("%d/%m/%Y") for d in fmt_dates]
    end[fmt_rows] = [np.datetime64(d + dt.timedelta(days=30)) for d in fmt_dates]

    comment = _comments(rng, rows)
    comment[slices["comment_mojibake"]] = np.array(MOJIBAKE_PHRASES, dtype=object)[
        np.arange(len(slices["comment_mojibake"])) % len(MOJIBAKE_PHRASES)
    ]

    columns: dict[str, Any] = {
        "customer_id": customer_id,
        "channel": np.full(rows, "web", dtype=object),
        "age": age,
        "salary": salary,
        "department": department,
        "start_date": start_text,
        "end_date": end,
        "is_active": is_active,
        "rating": rating,
        "comment": comment,
    }
    src, dst = slices["dup_sources"], slices["dup_targets"]
    for values in columns.values():
        values[dst] = values[src]

    frame = pl.DataFrame(
        {
            "customer_id": pl.Series(columns["customer_id"], dtype=pl.Int64),
            "channel": pl.Series(columns["channel"].tolist(), dtype=pl.String),
            "age": pl.Series(columns["age"], dtype=pl.Float64, nan_to_null=True).cast(pl.Int64),
            "salary": pl.Series(columns["salary"], dtype=pl.Float64),
            "department": pl.Series(columns["department"].tolist(), dtype=pl.String),
            "start_date": pl.Series(columns["start_date"].tolist(), dtype=pl.String),
            "end_date": pl.Series(columns["end_date"]).cast(pl.Date),
            "is_active": pl.Series(columns["is_active"], dtype=pl.Boolean),
            "rating": pl.Series(columns["rating"].tolist(), dtype=pl.String),
            "comment": pl.Series(columns["comment"].tolist(), dtype=pl.String),
        }
    )
    truth = GroundTruth(
        rows=rows,
        columns=len(frame.columns),
        duplicate_rows=counts["duplicate_rows"],
        null_counts={
            **{name: 0 for name in frame.columns},
            "age": counts["age_missing"],
            "rating": counts["rating_missing"],
        },
        semantic_types={
            "customer_id": "identifier",
            "channel": "constant",
            "age": "integer",
            "salary": "float",
            "department": "categorical",
            "start_date": "datetime",
            "end_date": "datetime",
            "is_active": "boolean",
            "rating": "integer",
            "comment": "text",
        },
        issues=[
            PlantedIssue("duplicate_rows", "*", counts["duplicate_rows"]),
            PlantedIssue("missing_values", "age", counts["age_missing"]),
            PlantedIssue("missing_values", "rating", counts["rating_missing"]),
            PlantedIssue("negative_values", "age", counts["age_negative"]),
            PlantedIssue("outliers", "salary", counts["salary_outlier"]),
            PlantedIssue("inconsistent_case", "department", counts["department_case"]),
            PlantedIssue("whitespace", "department", counts["department_whitespace"]),
            PlantedIssue("mixed_date_formats", "start_date", counts["start_date_format"]),
            PlantedIssue("start_after_end", "start_date", counts["start_after_end"]),
            PlantedIssue("mixed_types", "rating", counts["rating_words"]),
            PlantedIssue("mojibake", "comment", counts["comment_mojibake"]),
        ],
        alerts=[
            ("duplicates", None),
            ("constant", "channel"),
            ("identifier", "customer_id"),
            ("high_null_share", "rating"),
            ("skewed", "salary"),
            ("imbalanced", "is_active"),
        ],
    )
    return frame, truth


def _comments(rng: np.random.Generator, rows: int) -> np.ndarray:
    """Sentences of 3 to 8 words: practically unique, i.e. free text."""
    words = pl.Series(VOCABULARY, dtype=pl.String)
    length = rng.integers(3, 9, rows)
    picks = rng.integers(0, len(VOCABULARY), (8, rows))
    parts = [
        pl.when(pl.lit(pl.Series(length > i))).then(words.gather(pl.Series(picks[i])))
        for i in range(8)
    ]
    text = pl.select(pl.concat_str(parts, separator=" ", ignore_nulls=True)).to_series()
    return text.to_numpy().astype(object)


# ---------------------------------------------------------------------------- writers


def write_csv(
    frame: pl.DataFrame,
    path: Path,
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    bom: bool = False,
    quote_all: bool = False,
    line_terminator: str = "\n",
) -> Path:
    """``frame`` as CSV in the given dialect and encoding (UTF-8 streams; others in memory;
    ``bom`` applies to UTF-8)."""
    style: Literal["always", "necessary"] = "always" if quote_all else "necessary"
    if encoding.replace("_", "-").lower() in ("utf-8", "utf8"):
        frame.write_csv(
            path,
            separator=delimiter,
            include_bom=bom,
            quote_style=style,
            line_terminator=line_terminator,
        )
        return path
    # Python's "utf-16" codec writes a BOM itself; "utf-16-le"/"-be" and 8-bit codecs don't.
    text = frame.write_csv(separator=delimiter, quote_style=style, line_terminator=line_terminator)
    path.write_bytes(text.encode(encoding))
    return path


def write_parquet(frame: pl.DataFrame, path: Path) -> Path:
    frame.write_parquet(path)
    return path


def write_xlsx(frame: pl.DataFrame, path: Path, *, sheet: str = "data") -> Path:
    """``frame`` as one worksheet, streamed (constant memory): numbers as numbers, dates
    as Excel dates, booleans as booleans, and a column of mixed types as it is (digit
    strings become numbers, words stay text)."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    worksheet = workbook.add_worksheet(sheet)
    worksheet.write_row(0, 0, frame.columns)
    for r, row in enumerate(frame.iter_rows(), start=1):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, dt.date):
                worksheet.write_datetime(r, c, value, date_format)
            elif isinstance(value, bool):
                worksheet.write_boolean(r, c, value)
            elif isinstance(value, str) and value.isdigit() and len(value) < 15:
                worksheet.write_number(r, c, int(value))
            elif isinstance(value, str):
                worksheet.write_string(r, c, value)
            else:
                worksheet.write_number(r, c, value)
    workbook.close()
    return path


# ---------------------------------------------------------------------- hostile files


def hostile_zip_named_csv(path: Path) -> Path:
    """A zip archive (holding a CSV) uploaded under a ``.csv`` name."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    return path


def hostile_text_named_xlsx(path: Path) -> Path:
    """A CSV text uploaded under an ``.xlsx`` name."""
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    return path


def hostile_plain_zip_named_xlsx(path: Path) -> Path:
    """A zip archive that holds no workbook, uploaded under an ``.xlsx`` name."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("readme.txt", "not a workbook")
    return path


_OOXML = "http://schemas.openxmlformats.org"
_REL = f"{_OOXML}/officeDocument/2006/relationships"
_SML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'


def _workbook_parts(sheet_xml: bytes, shared_strings: bytes | None = None) -> dict[str, bytes]:
    """The parts of a minimal one-sheet workbook, for hand-made (hostile) workbooks."""
    shared = shared_strings is not None
    overrides = [
        ("/xl/workbook.xml", f"{_SML}.sheet.main+xml"),
        ("/xl/worksheets/sheet1.xml", f"{_SML}.worksheet+xml"),
        *([("/xl/sharedStrings.xml", f"{_SML}.sharedStrings+xml")] if shared else []),
    ]
    content_types = (
        f'{_XML_DECLARATION}<Types xmlns="{_OOXML}/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        + "".join(f'<Override PartName="{n}" ContentType="{t}"/>' for n, t in overrides)
        + "</Types>"
    )
    rels = (
        f'{_XML_DECLARATION}<Relationships xmlns="{_OOXML}/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    )
    workbook = (
        f'{_XML_DECLARATION}<workbook xmlns="{_OOXML}/spreadsheetml/2006/main" '
        f'xmlns:r="{_REL}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets>'
        "</workbook>"
    )
    workbook_rels = (
        f'{_XML_DECLARATION}<Relationships xmlns="{_OOXML}/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        + (
            f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
            if shared
            else ""
        )
        + "</Relationships>"
    )
    parts = {
        "[Content_Types].xml": content_types.encode(),
        "_rels/.rels": rels.encode(),
        "xl/workbook.xml": workbook.encode(),
        "xl/_rels/workbook.xml.rels": workbook_rels.encode(),
        "xl/worksheets/sheet1.xml": sheet_xml,
    }
    if shared_strings is not None:
        parts["xl/sharedStrings.xml"] = shared_strings
    return parts


SHEET_HEAD = (
    f'{_XML_DECLARATION}<worksheet xmlns="{_OOXML}/spreadsheetml/2006/main"><sheetData>'
).encode()
SHEET_TAIL = b"</sheetData></worksheet>"


def hostile_xlsx_zip_bomb(path: Path, uncompressed_bytes: int = 2 << 30) -> Path:
    """A workbook whose one sheet inflates to ``uncompressed_bytes`` of repeated rows
    (about a thousandth of that on disk)."""
    row = b'<row><c t="inlineStr"><is><t>boom</t></is></c></row>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in _workbook_parts(b"").items():
            if name != "xl/worksheets/sheet1.xml":
                archive.writestr(name, data)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(SHEET_HEAD)
            block = row * ((1 << 20) // len(row))
            written = len(SHEET_HEAD)
            while written < uncompressed_bytes:
                sheet.write(block)
                written += len(block)
            sheet.write(SHEET_TAIL)
    return path


def hostile_xlsx_entity_expansion(path: Path) -> Path:
    """A workbook whose shared strings declare a "billion laughs" entity chain and an
    external entity (XXE)."""
    laughs = b"".join(
        b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1)) * 10 if i else b"lol")
        for i in range(10)
    )
    shared = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b"<!DOCTYPE sst [" + laughs + b'<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        b'count="2" uniqueCount="2">'
        b"<si><t>&lol9;</t></si><si><t>&xxe;</t></si></sst>"
    )
    sheet = (
        SHEET_HEAD + b'<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
        b'<row r="2"><c r="A2"><v>1</v></c><c r="B2"><v>2</v></c></row>' + SHEET_TAIL
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in _workbook_parts(sheet, shared).items():
            archive.writestr(name, data)
    return path


def xlsx_sheets_and_formulas(path: Path) -> Path:
    """Three sheets; the first has formulas with cached values (read as values, never
    evaluated) and a formula that would be dangerous if it were evaluated."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path))
    first = workbook.add_worksheet("Orders")
    first.write_row(0, 0, ["item", "qty", "price", "total"])
    for r, (item, qty, price) in enumerate(
        [("apple", 3, 0.5), ("pear", 2, 0.75), ("plum", 10, 0.2), ("fig", 1, 2.5)], start=1
    ):
        first.write_string(r, 0, item)
        first.write_number(r, 1, qty)
        first.write_number(r, 2, price)
        first.write_formula(r, 3, f"=B{r + 1}*C{r + 1}", None, qty * price)
    first.write_string(5, 0, "=cmd|' /C calc'!A0")  # text that looks like a formula
    second = workbook.add_worksheet("Customers")
    second.write_row(0, 0, ["name", "city"])
    second.write_row(1, 0, ["Ann", "Oslo"])
    workbook.add_worksheet("Empty")
    workbook.close()
    return path


def parquet_unusual_types(path: Path) -> Path:
    """Nested and unusual Parquet types: list, struct, decimal, time, duration, binary,
    categorical, unsigned 64-bit."""
    frame = pl.DataFrame(
        {
            "tags": [["a", "b"], [], None, ["c"]],
            "point": [{"x": 1, "y": 2}, {"x": 3, "y": None}, None, {"x": 5, "y": 6}],
            "amount": pl.Series(["1.50", "2.25", None, "10.00"]).cast(pl.Decimal(10, 2)),
            "at": [dt.time(9, 30), dt.time(17, 0), None, dt.time(0, 0)],
            "took": [dt.timedelta(seconds=5), dt.timedelta(minutes=2), None, dt.timedelta(0)],
            "blob": [b"\x00\x01", b"", None, b"abc"],
            "kind": pl.Series(["x", "y", "x", None], dtype=pl.Categorical),
            "big": pl.Series([1, 2, 2**63 + 5, None], dtype=pl.UInt64),
        }
    )
    frame.write_parquet(path)
    return path


def hostile_parquet_truncated(path: Path) -> Path:
    """A Parquet file cut in the middle (its footer is gone)."""
    buffer = io.BytesIO()
    pl.DataFrame({"a": list(range(1000)), "b": ["x"] * 1000}).write_parquet(buffer)
    data = buffer.getvalue()
    path.write_bytes(data[: len(data) // 2])
    return path


def hostile_csv_ragged(path: Path) -> Path:
    """Rows with too few and too many fields among good ones."""
    path.write_text(
        "id,name,score\n1,Ann,3\n2,Bob\n3,Cid,4,extra,more\n4,Dee,5\n5,Eve,1,\n6,Fay,2\n",
        encoding="utf-8",
    )
    return path


def hostile_csv_binary(path: Path) -> Path:
    """A PNG image uploaded under a ``.csv`` name."""
    rng = np.random.default_rng(SEED)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + rng.bytes(4096))
    return path


def hostile_csv_gzip(path: Path) -> Path:
    """A gzip-compressed CSV uploaded under a ``.csv`` name."""
    import gzip

    path.write_bytes(gzip.compress(b"a,b\n1,2\n"))
    return path


def hostile_csv_huge_cell(path: Path, cell_bytes: int) -> Path:
    """One cell of ``cell_bytes`` bytes."""
    with path.open("w", encoding="utf-8") as out:
        out.write("id,blob\n1,small\n2,")
        out.write("x" * cell_bytes)
        out.write("\n3,small\n")
    return path


def hostile_csv_wide(path: Path, columns: int) -> Path:
    """A table with ``columns`` columns."""
    header = ",".join(f"c{i}" for i in range(columns))
    row = ",".join(str(i) for i in range(columns))
    path.write_text(f"{header}\n{row}\n{row}\n", encoding="utf-8")
    return path


def hostile_csv_long(path: Path, rows: int) -> Path:
    """A narrow table with ``rows`` data rows."""
    with path.open("w", encoding="utf-8") as out:
        out.write("n\n")
        for chunk in _chunks(rows, 100_000):
            out.write("\n".join(map(str, chunk)))
            out.write("\n")
    return path


def _chunks(total: int, size: int) -> Iterator[range]:
    for start in range(0, total, size):
        yield range(start, min(total, start + size))


# ------------------------------------------------------------------------------ CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--xlsx-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    frame, truth = mixed_table(args.rows, args.seed)
    write_csv(frame, args.out / "mixed.csv")
    write_parquet(frame, args.out / "mixed.parquet")
    small, small_truth = mixed_table(args.xlsx_rows, args.seed)
    write_xlsx(small, args.out / "mixed.xlsx")
    (args.out / "truth.json").write_text(
        json.dumps({"csv_parquet": truth.to_json(), "xlsx": small_truth.to_json()}, indent=2)
    )
    print(json.dumps({"out": str(args.out), "rows": args.rows, "xlsx_rows": args.xlsx_rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
