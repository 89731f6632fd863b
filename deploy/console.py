"""What ``make up`` shows a person: one readable line per event.

    09:41:07 auth      INFO   login_succeeded  user=alice  [req 3f2a9c1e]
    09:41:09 redis     ERROR  killed by SIGKILL; restarting in 0.4 s (attempt 1 of 5)

The processes write JSON lines (structlog's JSONRenderer, as in production); the
launcher keeps those in ``logs/<process>.log`` unchanged and renders them here:
local time, process, level, message, the other fields, the request id. Colour only
when the output is a terminal (and ``NO_COLOR`` is unset); errors are red and bold,
warnings yellow, and an exception's traceback follows its line, indented.

The backing servers' own lines (PostgreSQL, Redis, SeaweedFS, moto) reach the
console only from warnings up: their routine chatter stays in their log files.
Access lines are dropped unless ``QUARRY_ACCESS_LOG=1``: moto's request log,
uvicorn's (HTTP and WebSocket), and httpx's line per request between the services
and the worker (``HTTP Request: POST .../webhooks/job.progress``). uvicorn's own
life-cycle lines (started, waiting for shutdown, finished) count as debug: the
launcher says when the platform is up and when it stopped. ``QUARRY_CONSOLE_LEVEL``
(default ``info``) sets the lowest level shown. All of it stays in the log files.

Until :meth:`Console.started` (the banner), only warnings and errors are shown, so
the start-up banner comes last and is not scrolled away by start-up logs.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
_LABELS = {10: "DEBUG", 20: "INFO", 30: "WARN", 40: "ERROR", 50: "FATAL"}
_COLOURS = {30: "\033[33m", 40: "\033[1;31m", 50: "\033[1;31m"}
_DIM, _BOLD, _RESET = "\033[2m", "\033[1m", "\033[0m"
NAME_WIDTH = 9
# Fields every JSON line has, or that the line shows elsewhere.
_SHOWN = {"event", "level", "timestamp", "logger", "service", "request_id", "exception"}

# "127.0.0.1 - - [01/Dec/2026 09:41:07] "GET /... HTTP/1.1" 200 -" (werkzeug: moto)
_ACCESS = re.compile(r'^\S+ - - \[[^\]]+\] "[A-Z]+ ')
_GLOG = re.compile(r"^([IWEF])\d{4} ")  # SeaweedFS: I1201 09:22:37.188502 file.go:12] ...
_POSTGRES = re.compile(r"\b(LOG|INFO|NOTICE|WARNING|ERROR|FATAL|PANIC):  ")
_REDIS = re.compile(r"^\d+:[CMXS] .*? ([.\-*#]) ")
_TROUBLE = re.compile(r"(?i)error|fail|can't|cannot|unable|denied|refused|corrupt")
# A server's warning about the machine that a developer's platform cannot act on (it
# stays in the server's log file): Redis on a host without memory overcommit.
_HOST_ADVICE = re.compile(r"Memory overcommit must be enabled")
# uvicorn's WebSocket handshake and connection lines (its log of WebSocket access).
_WS_ACCESS = re.compile(r'"WebSocket [^"]*" \[(accepted|rejected)\]$|^connection (open|closed)$')
_UVICORN = frozenset({"uvicorn", "uvicorn.error"})


def _raw_level(line: str) -> int:
    """The level of a backing server's own line (info when it says nothing)."""
    if match := _GLOG.match(line):
        return {"I": 20, "W": 30, "E": 40, "F": 50}[match.group(1)]
    if match := _POSTGRES.search(line):
        word = match.group(1)
        return {"WARNING": 30, "ERROR": 40, "FATAL": 50, "PANIC": 50}.get(word, 20)
    if match := _REDIS.match(line):
        # Redis marks its start-up notices "#" too: only trouble counts as a warning.
        if _HOST_ADVICE.search(line):
            return 20
        return 30 if match.group(1) == "#" and _TROUBLE.search(line) else 20
    lowered = line.lower()
    if "traceback" in lowered or "error" in lowered or "exception" in lowered:
        return 40
    return 20


def _clock(timestamp: Any) -> str:
    if isinstance(timestamp, str):
        try:
            return datetime.fromisoformat(timestamp).astimezone().strftime("%H:%M:%S")
        except ValueError:
            pass
    return datetime.now().strftime("%H:%M:%S")


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if text and " " not in text else json.dumps(text)


@dataclass
class Console:
    """Renders and prints the platform's output; thread-safe (one line at a time)."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    colour: bool | None = None
    level: int = LEVELS["info"]
    access_log: bool = False
    quiet: bool = True  # until started(): warnings and errors only
    launcher_log: Path | None = None
    # Processes that are servers of others (their routine lines stay in their files);
    # a line that is not JSON from one of ours (a traceback before logging is set up,
    # a print) is always shown.
    servers: frozenset[str] = frozenset({"postgres", "redis", "s3", "moto"})
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.colour is None:
            isatty = getattr(self.stream, "isatty", lambda: False)
            self.colour = bool(isatty()) and "NO_COLOR" not in os.environ

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Console:
        level = LEVELS.get(environ.get("QUARRY_CONSOLE_LEVEL", "info").lower(), LEVELS["info"])
        access = environ.get("QUARRY_ACCESS_LOG", "").lower() in ("1", "true", "yes", "on")
        return cls(level=level, access_log=access)

    def started(self) -> None:
        """The banner is out: from now on, every event at the console level."""
        self.quiet = False

    # -- rendering ------------------------------------------------------------------

    def _paint(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.colour and code else text

    def _line(self, time: str, process: str, level: int, message: str, extra: str = "") -> str:
        label = _LABELS.get(level, "INFO").ljust(5)
        colour = _COLOURS.get(level, "")
        head = f"{self._paint(_DIM, time)} {self._paint(_BOLD, process.ljust(NAME_WIDTH))}"
        body = self._paint(colour, f"{label}  {message}")
        return f"{head} {body}{extra}"

    def render(self, process: str, raw: str) -> str | None:
        """The console form of one output line of ``process``, or None to show nothing."""
        line = raw.rstrip("\n")
        if not line.strip():
            return None
        event = _parse(line)
        if event is None:
            return self._render_raw(process, line)
        level = LEVELS.get(str(event.get("level", "info")).lower(), 20)
        if level < LEVELS["warning"] and _is_access(event):
            if not self.access_log:
                return None
        elif level < LEVELS["warning"] and event.get("logger") in _UVICORN:
            level = LEVELS["debug"]  # "Waiting for application shutdown." and the like
        if not self._shown(level):
            return None
        fields = "  ".join(
            f"{k}={_value(v)}" for k, v in event.items() if k not in _SHOWN and v is not None
        )
        extra = f"  {self._paint(_DIM, fields)}" if fields else ""
        if event.get("request_id"):
            extra += "  " + self._paint(_DIM, f"[req {event['request_id']}]")
        text = self._line(
            _clock(event.get("timestamp")), process, level, str(event.get("event", "")), extra
        )
        if event.get("exception"):
            trace = "\n".join(f"    {t}" for t in str(event["exception"]).splitlines())
            text += "\n" + self._paint(_COLOURS[40], trace)
        return text

    def _render_raw(self, process: str, line: str) -> str | None:
        if _ACCESS.match(line) and not self.access_log:
            return None
        level = _raw_level(line)
        if process not in self.servers:
            level = max(level, LEVELS["warning"])
        # A server's routine lines stay in its log file; its warnings and errors show.
        if level < LEVELS["warning"] and not (self.access_log and _ACCESS.match(line)):
            return None
        if not self._shown(level):
            return None
        return self._line(_clock(None), process, level, line)

    def _shown(self, level: int) -> bool:
        return level >= (LEVELS["warning"] if self.quiet else self.level)

    # -- output ---------------------------------------------------------------------

    def emit(self, process: str, raw: str) -> None:
        text = self.render(process, raw)
        if text is not None:
            self.write(text)

    def write(self, text: str) -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def launcher(self, level: str, message: str) -> None:
        """A line of the launcher's own (supervision, saving queues): shown whatever the
        start-up quiet, and kept in ``logs/launcher.log``."""
        number = LEVELS.get(level, 20)
        stamp = datetime.now().astimezone()
        if self.launcher_log is not None:
            record = {"timestamp": stamp.isoformat(), "level": level, "event": message}
            with self._lock, self.launcher_log.open("a") as out:
                out.write(json.dumps(record) + "\n")
        if number >= self.level:
            self.write(self._line(stamp.strftime("%H:%M:%S"), "launcher", number, message))


def _is_access(event: Mapping[str, Any]) -> bool:
    """A line per request: uvicorn's access log, its WebSocket handshakes, httpx's."""
    logger, message = event.get("logger"), str(event.get("event", ""))
    if logger == "uvicorn.access":
        return True
    if logger in ("httpx", "httpcore"):
        return message.startswith("HTTP Request:")
    return logger in _UVICORN and _WS_ACCESS.search(message) is not None


def _parse(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


_current: Console | None = None


def current() -> Console:
    """The launcher's console (made from the environment on first use)."""
    global _current  # one console per launcher process
    if _current is None:
        _current = Console.from_environment()
    return _current


def install(console: Console) -> Console:
    global _current
    _current = console
    return console
