"""What the parser reads from: anything with ``read(n) -> bytes`` (a file opened ``rb``,
``io.BytesIO``, the container's ``MessagesStream``)."""

from __future__ import annotations

from typing import Protocol


class ByteSource(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
