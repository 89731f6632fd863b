"""What the demo keeps between runs, in one directory (``.quarry/demo/`` by default,
beside the platform's data, so deleting ``.quarry`` starts both afresh): the demo
account's credentials (``account.json``, mode 0600) and the sample files it made
(``samples/``), so a second run sends the same bytes and finds them already there."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class SavedAccount:
    gateway: str
    username: str
    email: str
    password: str
    api_key: str


class StateDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.samples = path / "samples"

    @property
    def account_file(self) -> Path:
        return self.path / "account.json"

    def load_account(self) -> SavedAccount | None:
        try:
            raw = json.loads(self.account_file.read_text())
            return SavedAccount(**raw)
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def save_account(self, account: SavedAccount) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        partial = self.account_file.with_suffix(".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(account), out, indent=2)
        os.replace(partial, self.account_file)
