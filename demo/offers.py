"""What the platform serves, read from its own ``/openapi.json`` (every public route of
every service, merged by the gateway), so the demo shows what exists and says plainly
what it skipped."""

from __future__ import annotations

from dataclasses import dataclass

from demo.client import Platform


@dataclass(frozen=True)
class Offers:
    operations: frozenset[tuple[str, str]]  # (method, path template)

    def serves(self, method: str, path: str) -> bool:
        return (method.upper(), path) in self.operations

    def missing(self, *operations: str) -> list[str]:
        """Those of ``"POST /client/chats"``-style ``operations`` that are not served."""
        return [op for op in operations if not self.serves(*op.split(" ", 1))]


async def read_offers(platform: Platform) -> Offers:
    document = await platform.get_json("/openapi.json", authenticated=False)
    found = {
        (method.upper(), path)
        for path, item in document.get("paths", {}).items()
        for method in item
        if method.lower() in ("get", "post", "put", "patch", "delete")
    }
    return Offers(frozenset(found))
