"""Documents with known text (docx, pdf, odt, txt, md, html), and hostile ones.

``python -m samples.documents OUT [--count 20] [--seed 0]`` writes ``count`` documents
of every kind (about ten pages each) into ``OUT``; ``--hostile`` writes the hostile set.

Every document is built from a :class:`KnownText` (title, sections of paragraphs, a
table, one marker sentence), so a test can check what a conversion or an extraction
gives back. The text is ASCII: PDF core fonts and every converter render it as is.
The generators are independent of the converters under test: python-docx writes the
docx, reportlab the PDF, and the odt is written by hand (ODF's zip layout).
"""

from __future__ import annotations

import argparse
import html
import io
import random
import struct
import sys
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

TONES = ("positive", "negative", "neutral")
KINDS = ("docx", "pdf", "odt", "txt", "md", "html")

_SUBJECTS = (
    "The quarterly report",
    "Our regional team",
    "The new analytics service",
    "The budget review",
    "Customer support",
    "The product roadmap",
    "The migration plan",
    "The research group",
    "The finance department",
    "The data platform",
)
_VERBS = (
    "describes",
    "summarises",
    "changes",
    "covers",
    "follows",
    "records",
    "explains",
    "compares",
)
_OBJECTS = (
    "the delivery schedule for the spring release",
    "the cost of storage in three regions",
    "the results of the second pilot study",
    "the number of support tickets per week",
    "the hiring plan for the next two quarters",
    "the timeline of the warehouse upgrade",
    "the revenue of the northern market",
    "the backlog of the infrastructure team",
)
_TONE_WORDS = {
    "positive": (
        "an excellent and encouraging result",
        "a wonderful improvement that everyone loves",
        "a great success and a pleasant surprise",
        "a remarkable, delightful outcome",
    ),
    "negative": (
        "a terrible and disappointing result",
        "an awful failure that everyone hates",
        "a bad, frustrating and painful setback",
        "a horrible, miserable outcome",
    ),
    "neutral": (
        "a result measured over twelve weeks",
        "a figure recorded in the monthly table",
        "an outcome listed in the appendix",
        "a value taken from the audit log",
    ),
}


@dataclass(frozen=True)
class Section:
    heading: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class KnownText:
    """What a sample document says, in reading order."""

    title: str
    sections: tuple[Section, ...]
    table: tuple[tuple[str, ...], ...]
    marker: str
    tone: str
    keywords: tuple[str, ...] = field(default=("budget", "migration plan"))

    @property
    def paragraphs(self) -> list[str]:
        return [p for section in self.sections for p in section.paragraphs]

    def sentences_with(self, keyword: str) -> list[str]:
        """The sentences that contain ``keyword`` (a whole word, any case)."""
        import re

        pattern = re.compile(rf"(?<!\w){re.escape(keyword)}(?!\w)", re.I)
        return [
            s for p in [self.title, *self.paragraphs] for s in _sentences(p) if pattern.search(s)
        ]

    def plain(self) -> str:
        parts = [self.title]
        for section in self.sections:
            parts.append(section.heading)
            parts.extend(section.paragraphs)
        parts.extend("\t".join(row) for row in self.table)
        return "\n\n".join(parts) + "\n"


def _sentences(paragraph: str) -> list[str]:
    return [s if s.endswith(".") else s + "." for s in paragraph.split(". ") if s]


def known_text(
    seed: int, *, sections: int = 8, paragraphs: int = 7, tone: str | None = None
) -> KnownText:
    """About 350 words per section: the default is a ten-page document."""
    rng = random.Random(seed)
    tone = tone or TONES[seed % len(TONES)]
    marker = f"Sample document {seed} carries the marker phrase quarry-{seed:04d}-check."
    built: list[Section] = []
    for number in range(1, sections + 1):
        body = []
        for _ in range(paragraphs):
            sentences = []
            for _ in range(5):
                subject, verb, thing = (
                    rng.choice(_SUBJECTS),
                    rng.choice(_VERBS),
                    rng.choice(_OBJECTS),
                )
                if rng.random() < 0.5:
                    sentences.append(f"{subject} {verb} {thing}, {rng.choice(_TONE_WORDS[tone])}.")
                else:
                    sentences.append(f"{subject} {verb} {thing}.")
            body.append(" ".join(sentences))
        if number == 1:
            body[0] = f"{marker} {body[0]}"
        built.append(
            Section(
                heading=f"Section {number}: {rng.choice(_OBJECTS).capitalize()}",
                paragraphs=tuple(body),
            )
        )
    figures = [(f"Region {i}", f"Q{1 + i % 4}", str(1000 + 37 * i)) for i in range(1, 6)]
    table = (("Region", "Quarter", "Revenue"), *figures)
    return KnownText(
        title=f"Quarry sample report {seed}",
        sections=tuple(built),
        table=table,
        marker=marker,
        tone=tone,
    )


# -- writers -------------------------------------------------------------------------


def text_document(text: KnownText) -> bytes:
    return text.plain().encode()


def markdown_document(text: KnownText) -> bytes:
    lines = [f"# {text.title}", ""]
    for section in text.sections:
        lines += [f"## {section.heading}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
    header, *rows = text.table
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return ("\n".join(lines) + "\n").encode()


def html_document(text: KnownText) -> bytes:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(text.title)}</title>",
        "<style>body { font-family: sans-serif; } td, th { border: 1px solid #999; }</style>",
        "</head><body>",
        f"<h1>{html.escape(text.title)}</h1>",
    ]
    for section in text.sections:
        parts.append(f"<h2>{html.escape(section.heading)}</h2>")
        parts += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
    header, *rows = text.table
    parts.append("<table><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>")
    parts += ["<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows]
    parts.append("</table></body></html>")
    return "\n".join(parts).encode()


def docx_document(text: KnownText) -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = text.title
    document.add_heading(text.title, 0)
    for section in text.sections:
        document.add_heading(section.heading, 1)
        for paragraph in section.paragraphs:
            document.add_paragraph(paragraph)
    header, *_rows = text.table
    table = document.add_table(rows=len(text.table), cols=len(header))
    for r, row in enumerate(text.table):
        for c, cell in enumerate(row):
            table.cell(r, c).text = cell
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def pdf_document(text: KnownText, *, user_password: str | None = None) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table

    xml_escape = html.escape  # reportlab's paragraphs are a small XML markup
    styles = getSampleStyleSheet()
    story = [Paragraph(xml_escape(text.title), styles["Title"])]
    for section in text.sections:
        story.append(Paragraph(xml_escape(section.heading), styles["Heading2"]))
        story += [Paragraph(xml_escape(p), styles["BodyText"]) for p in section.paragraphs]
    story.append(Table([list(row) for row in text.table]))
    encrypt = None
    if user_password is not None:
        from reportlab.lib.pdfencrypt import StandardEncryption

        encrypt = StandardEncryption(user_password, ownerPassword=f"owner-{user_password}")
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, title=text.title, encrypt=encrypt).build(story)
    return buffer.getvalue()


def odt_document(text: KnownText) -> bytes:
    """An OpenDocument text written by hand: ``mimetype`` first and stored, the
    manifest, and a content.xml with headings, paragraphs and a table."""
    esc = html.escape
    body = [f'<text:h text:outline-level="1">{esc(text.title)}</text:h>']
    for section in text.sections:
        body.append(f'<text:h text:outline-level="2">{esc(section.heading)}</text:h>')
        body += [f"<text:p>{esc(p)}</text:p>" for p in section.paragraphs]
    columns = len(text.table[0])
    body.append(
        '<table:table table:name="Figures">'
        f'<table:table-column table:number-columns-repeated="{columns}"/>'
    )
    for row in text.table:
        cells = "".join(
            '<table:table-cell office:value-type="string">'
            f"<text:p>{esc(c)}</text:p></table:table-cell>"
            for c in row
        )
        body.append(f"<table:table-row>{cells}</table:table-row>")
    body.append("</table:table>")
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.2">'
        "<office:body><office:text>" + "".join(body) + "</office:text></office:body>"
        "</office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest manifest:version="1.2" '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"),
            "application/vnd.oasis.opendocument.text",
            zipfile.ZIP_STORED,
        )
        archive.writestr("META-INF/manifest.xml", manifest, zipfile.ZIP_DEFLATED)
        archive.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


WRITERS = {
    "docx": docx_document,
    "pdf": pdf_document,
    "odt": odt_document,
    "txt": text_document,
    "md": markdown_document,
    "html": html_document,
}


@dataclass(frozen=True)
class SampleDocument:
    name: str
    kind: str
    data: bytes
    text: KnownText


def sample(kind: str, seed: int, **shape: int) -> SampleDocument:
    text = known_text(seed, **shape)  # type: ignore[arg-type]
    return SampleDocument(f"report-{seed:02d}.{kind}", kind, WRITERS[kind](text), text)


def corpus(kind: str, count: int = 20, *, seed: int = 0, **shape: int) -> list[SampleDocument]:
    """``count`` documents of one kind, each with its own text."""
    return [sample(kind, seed + i, **shape) for i in range(count)]


# -- hostile documents -----------------------------------------------------------------


def _deflated(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def _docx_with(document_xml: bytes | Iterator[bytes], *, name: str = "word/document.xml") -> bytes:
    """A docx whose main part is ``document_xml`` (streamed into the zip if an iterator)."""
    template = zipfile.ZipFile(io.BytesIO(docx_document(known_text(0, sections=1, paragraphs=1))))
    buffer = io.BytesIO()
    with template, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in template.infolist():
            if info.filename != name:
                archive.writestr(info.filename, template.read(info.filename))
        with archive.open(_deflated(name), "w") as member:
            if isinstance(document_xml, bytes):
                member.write(document_xml)
            else:
                for chunk in document_xml:
                    member.write(chunk)
    return buffer.getvalue()


def _zeros_document(inflated_bytes: int) -> Iterator[bytes]:
    yield b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>'
    chunk = b" " * (1 << 20)
    for _ in range(inflated_bytes // len(chunk)):
        yield chunk
    yield b"</w:t></w:r></w:p></w:body></w:document>"


def zip_bomb_docx(inflated_mb: int = 1024) -> bytes:
    """A docx whose document.xml inflates to ``inflated_mb`` MB of spaces (about 1000:1)."""
    return _docx_with(_zeros_document(inflated_mb << 20))


def lying_zip_bomb_docx(inflated_mb: int = 256) -> bytes:
    """The bomb above, its headers patched to claim that document.xml inflates to 1 KB."""
    data = bytearray(zip_bomb_docx(inflated_mb))
    for signature, offset in ((b"PK\x01\x02", 24), (b"PK\x03\x04", 22)):
        start = 0
        while (found := data.find(signature, start)) >= 0:
            name_length = struct.unpack_from(
                "<H", data, found + (28 if signature == b"PK\x01\x02" else 26)
            )[0]
            name_start = found + (46 if signature == b"PK\x01\x02" else 30)
            if bytes(data[name_start : name_start + name_length]) == b"word/document.xml":
                struct.pack_into("<I", data, found + offset, 1024)
            start = found + 4
    return bytes(data)


def zip_bomb_xlsx(inflated_mb: int = 1024) -> bytes:
    """An xlsx whose first sheet inflates to ``inflated_mb`` MB."""
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    workbook.add_worksheet().write_row(0, 0, ["a", "b"])
    workbook.close()
    template = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    name = "xl/worksheets/sheet1.xml"
    with template, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in template.infolist():
            if info.filename != name:
                archive.writestr(info.filename, template.read(info.filename))
        with archive.open(_deflated(name), "w", force_zip64=True) as member:
            member.write(
                b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            )
            row = b'<row><c t="inlineStr"><is><t>' + b"x" * 1000 + b"</t></is></c></row>"
            block = row * 1024
            for _ in range((inflated_mb << 20) // len(block)):
                member.write(block)
            member.write(b"</sheetData></worksheet>")
    return out.getvalue()


def entity_expansion_docx(levels: int = 10) -> bytes:
    """Billion laughs in word/document.xml: ten levels of ten references each."""
    entities = ['<!ENTITY lol0 "lol">']
    entities += [f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">' for i in range(1, levels)]
    xml = (
        '<?xml version="1.0"?><!DOCTYPE w:document [' + "".join(entities) + "]>"
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body><w:p><w:r><w:t>&lol{levels - 1};</w:t></w:r></w:p></w:body></w:document>"
    )
    return _docx_with(xml.encode())


def _pdf(objects: list[bytes], *, trailer_extra: bytes = b"", prev_self: bool = False) -> bytes:
    """A PDF from numbered object bodies, with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    prev = b" /Prev %d" % xref if prev_self else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s%s >>\n" % (len(objects) + 1, prev, trailer_extra)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def looping_pdf() -> bytes:
    """A page tree whose node lists itself among its kids, and a cross-reference
    table whose ``/Prev`` points back at itself."""
    content = b"BT /F1 24 Tf 72 720 Td (A page inside a loop) Tj ET"
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [2 0 R 3 0 R 2 0 R] /Count 3 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ],
        prev_self=True,
    )


def flate_bomb_pdf(inflated_mb: int = 2048) -> bytes:
    """One page whose content stream inflates to ``inflated_mb`` MB of text operators."""
    compressor = zlib.compressobj(1)
    operator = b"BT /F1 1 Tf 1 1 Td (x) Tj ET\n"
    block = operator * (1 << 15)
    pieces = [compressor.compress(block) for _ in range((inflated_mb << 20) // len(block))]
    stream = b"".join(pieces) + compressor.flush()
    return _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream)
            + stream
            + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def encrypted_pdf(password: str = "s3cret") -> bytes:  # noqa: S107 (a sample's password)
    """A PDF that opens only with a user password."""
    return pdf_document(known_text(7, sections=1, paragraphs=2), user_password=password)


def external_image_docx(url: str) -> bytes:
    """A docx that shows an image linked, not embedded, from ``url`` (Word fetches
    linked images when it opens the file): a converter that fetches it is an SSRF."""
    namespaces = (
        'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
        'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
        'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
        'xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"'
    )
    drawing = (
        '<w:drawing><wp:inline><wp:extent cx="952500" cy="952500"/><wp:docPr id="1" name="p"/>'
        '<a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture">'
        '<pic:pic><pic:nvPicPr><pic:cNvPr id="1" name="p"/><pic:cNvPicPr/></pic:nvPicPr>'
        '<pic:blipFill><a:blip r:link="rIdRemote"/></pic:blipFill>'
        '<pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="952500" cy="952500"/></a:xfrm>'
        '<a:prstGeom prst="rect"/></pic:spPr></pic:pic></a:graphicData></a:graphic>'
        "</wp:inline></w:drawing>"
    )
    document = (
        f'<?xml version="1.0" encoding="UTF-8"?><w:document {namespaces}><w:body>'
        "<w:p><w:r><w:t>A document with a linked picture.</w:t></w:r></w:p>"
        f"<w:p><w:r>{drawing}</w:r></w:p></w:body></w:document>"
    )
    base = zipfile.ZipFile(io.BytesIO(_docx_with(document.encode())))
    rels_name = "word/_rels/document.xml.rels"
    relationship = (
        '<Relationship Id="rIdRemote" TargetMode="External" Target="'
        + html.escape(url)
        + '" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image"/>'
    )
    out = io.BytesIO()
    with base, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in base.infolist():
            data = base.read(info.filename)
            if info.filename == rels_name:
                data = data.replace(
                    b"</Relationships>", relationship.encode() + b"</Relationships>"
                )
            archive.writestr(info.filename, data)
    return out.getvalue()


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]


def hostile_set() -> dict[str, bytes]:
    """Every hostile sample, by file name (bombs at their default, big sizes)."""
    return {
        "zip-bomb.docx": zip_bomb_docx(),
        "lying-zip-bomb.docx": lying_zip_bomb_docx(),
        "zip-bomb.xlsx": zip_bomb_xlsx(),
        "entity-expansion.docx": entity_expansion_docx(),
        "looping.pdf": looping_pdf(),
        "flate-bomb.pdf": flate_bomb_pdf(),
        "encrypted.pdf": encrypted_pdf(),
        "truncated.docx": truncated(docx_document(known_text(3))),
        "truncated.pdf": truncated(pdf_document(known_text(4))),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m samples.documents")
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hostile", action="store_true", help="write the hostile set instead")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.hostile:
        for name, data in hostile_set().items():
            (args.out / name).write_bytes(data)
    else:
        for kind in KINDS:
            for document in corpus(kind, args.count, seed=args.seed):
                (args.out / document.name).write_bytes(document.data)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
