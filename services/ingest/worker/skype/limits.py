"""Bounds on what an export may hold, so that hostile input costs bounded memory and time."""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Every limit the container and the parser enforce; exceeding one is ``InvalidExport``.

    The defaults accept any export Skype produces (the largest real ones are a few GB of
    JSON with a few million messages) and refuse the rest early.
    """

    # Container (services/ingest/worker/skype/container.py)
    max_uncompressed_bytes: int = 8 * GIB
    """Bytes a gzip layer may expand to, and the largest messages.json."""
    max_compression_ratio: float = 200.0
    """Expanded / compressed bytes of a gzip layer (JSON compresses 10-30x; bombs 1000x)."""
    ratio_grace_bytes: int = 16 * MIB
    """The ratio is checked once this much has been expanded (headers compress oddly)."""
    max_tar_members: int = 200_000
    max_tar_header_bytes: int = 64 * KIB
    """A pax or GNU long-name header larger than this is refused (tarfile would read it whole)."""

    # Parser (services/ingest/worker/skype/parser.py)
    max_item_bytes: int = 4 * MIB
    """Bytes of JSON one message (or one conversation's header, or one top-level value) may
    span. Skype's longest messages are tens of KB; this bounds single strings too."""
    max_depth: int = 128
    """JSON nesting depth (Skype's own is about 10). Checked before bytes reach the tokenizer."""
    max_container_items: int = 100_000
    """Items of one array or object inside a message or a conversation's header."""
    max_conversations: int = 1_000_000
    max_members: int = 100_000
    """Members listed in one conversation's ``threadProperties.members``."""
    max_messages: int = 100_000_000
    chunk_bytes: int = 64 * KIB
    """Read size from the stream."""
