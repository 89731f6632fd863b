"""The demo's own console lines, in the launcher's format (time, process, level,
message), so they read as one more voice of ``make up``'s console."""

from __future__ import annotations

import os
import sys
import threading
from datetime import datetime
from typing import TextIO

NAME_WIDTH = 9
_LABELS = {"info": "INFO ", "warning": "WARN ", "error": "ERROR"}
_COLOURS = {"warning": "\033[33m", "error": "\033[1;31m"}
_DIM, _BOLD, _RESET = "\033[2m", "\033[1m", "\033[0m"


class Progress:
    """Writes one line per step; colour only on a terminal without ``NO_COLOR``."""

    def __init__(self, stream: TextIO | None = None, *, colour: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        if colour is None:
            colour = self.stream.isatty() and "NO_COLOR" not in os.environ
        self.colour = colour
        self._lock = threading.Lock()

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.colour and code else text

    def line(self, message: str, level: str = "info") -> None:
        stamp = datetime.now().strftime("%H:%M:%S")
        head = f"{self._paint(_DIM, stamp)} {self._paint(_BOLD, 'demo'.ljust(NAME_WIDTH))}"
        body = self._paint(_COLOURS.get(level, ""), f"{_LABELS[level]}  {message}")
        self.write(f"{head} {body}")

    def info(self, message: str) -> None:
        self.line(message)

    def warning(self, message: str) -> None:
        self.line(message, "warning")

    def error(self, message: str) -> None:
        self.line(message, "error")

    def write(self, text: str) -> None:
        """``text`` in one write, so another process's line cannot split it."""
        with self._lock:
            self.stream.write(text if text.endswith("\n") else text + "\n")
            self.stream.flush()
