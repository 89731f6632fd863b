"""The console of ``make up``: one readable line per event, JSON kept in the files."""

from __future__ import annotations

import io
import json
import logging

import pytest

from deploy.console import Console
from shared.log import access_log_enabled, configure_logging


def event(**fields: object) -> str:
    base = {"timestamp": "2026-12-01T09:41:07.123Z", "level": "info", "logger": "x"}
    return json.dumps(base | fields)


def console(**kwargs: object) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    made = Console(stream=out, **kwargs)  # type: ignore[arg-type]
    made.started()
    return made, out


def test_a_json_event_becomes_one_line_with_time_process_level_message_and_request() -> None:
    made, _ = console(colour=False)
    line = made.render(
        "auth",
        event(event="login_succeeded", user="alice", request_id="3f2a9c1e", service="auth"),
    )
    assert line is not None
    assert "\n" not in line
    assert line.split()[1:4] == ["auth", "INFO", "login_succeeded"]
    assert "user=alice" in line
    assert "[req 3f2a9c1e]" in line
    assert "{" not in line  # no JSON left
    assert "\033[" not in line  # no colour off a terminal


def test_errors_stand_out_and_carry_their_traceback() -> None:
    made, _ = console(colour=True)
    line = made.render(
        "ingest",
        event(level="error", event="job_failed", exception="Traceback...\nValueError: bad"),
    )
    assert line is not None
    assert "\033[1;31mERROR" in line  # red and bold on a terminal
    assert line.splitlines()[-1].strip().endswith("ValueError: bad\033[0m")


def test_colour_only_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert Console(stream=Terminal()).colour is True
    assert Console(stream=io.StringIO()).colour is False


def test_access_noise_is_off_unless_asked_for() -> None:
    access = '127.0.0.1 - - [01/Dec/2026 09:41:07] "GET /?Action=ReceiveMessage HTTP/1.1" 200 -'
    quiet, _ = console(colour=False)
    assert quiet.render("moto", access) is None
    loud, _ = console(colour=False, access_log=True)
    shown = loud.render("moto", access)
    assert shown is not None
    assert "ReceiveMessage" in shown
    assert Console.from_environment({"QUARRY_ACCESS_LOG": "1"}).access_log is True


def test_servers_routine_lines_stay_in_their_files_their_errors_show() -> None:
    made, _ = console(colour=False)
    assert made.render("postgres", "2026-12-01 LOG:  database system is ready") is None
    assert made.render("s3", "I1201 09:22:37.188502 master.go:12] started") is None
    shown = made.render("postgres", '2026-12-01 FATAL:  password authentication failed for "x"')
    assert shown is not None
    assert "FATAL" in shown
    assert made.render("s3", "E1201 09:22:37.188502 volume.go:9] disk full") is not None


def test_a_crash_before_logging_is_set_up_is_shown_whole() -> None:
    made, _ = console(colour=False)
    for line in ("Traceback (most recent call last):", '  File "x.py", line 1', "ImportError: y"):
        assert made.render("profile", line) is not None


def test_start_up_shows_only_warnings_until_the_banner() -> None:
    out = io.StringIO()
    made = Console(stream=out, colour=False)
    made.emit("auth", event(event="application_started"))
    made.emit("auth", event(level="warning", event="slow_start"))
    assert out.getvalue().count("\n") == 1  # only the warning
    made.started()
    made.emit("auth", event(event="request_done"))
    assert "request_done" in out.getvalue()


def test_launcher_lines_are_kept_as_json(tmp_path: object) -> None:
    from pathlib import Path

    log = Path(str(tmp_path)) / "launcher.log"
    made = Console(stream=io.StringIO(), colour=False, launcher_log=log)
    made.launcher("error", "redis killed by SIGKILL; restarting in 0.4 s")
    record = json.loads(log.read_text())
    assert record["level"] == "error"
    assert record["event"].startswith("redis killed")


def test_redis_start_up_notices_are_not_warnings() -> None:
    made, _ = console(colour=False)
    assert made.render("redis", "1:M 01 Dec 2026 10:26:22.261 # Server initialized") is None
    shown = made.render("redis", "1:M 01 Dec 2026 10:26:22.261 # Failed opening the RDB file")
    assert shown is not None
    assert "WARN" in shown


def test_uvicorn_access_lines_come_back_with_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    access = logging.getLogger("uvicorn.access")
    before = (logging.getLogger().handlers[:], logging.getLogger().level, access.level)
    try:
        monkeypatch.delenv("QUARRY_ACCESS_LOG", raising=False)
        assert not access_log_enabled()
        configure_logging("test")
        assert access.getEffectiveLevel() == logging.WARNING
        monkeypatch.setenv("QUARRY_ACCESS_LOG", "1")
        assert access_log_enabled()
        configure_logging("test")
        assert access.getEffectiveLevel() == logging.INFO
    finally:
        logging.getLogger().handlers[:] = before[0]
        logging.getLogger().setLevel(before[1])
        access.setLevel(before[2])


def test_the_services_requests_to_each_other_are_access_noise() -> None:
    httpx_line = event(
        logger="httpx",
        event='HTTP Request: POST http://127.0.0.1:59227/webhooks/job.progress "HTTP/1.1 200 OK"',
    )
    quiet, _ = console(colour=False)
    assert quiet.render("worker", httpx_line) is None
    loud, _ = console(colour=False, access_log=True)
    assert "webhooks/job.progress" in (loud.render("worker", httpx_line) or "")
    # An httpx warning is not access noise.
    warning = event(logger="httpx", level="warning", event="HTTP Request: retrying")
    assert quiet.render("worker", warning) is not None


def test_websocket_handshakes_are_access_noise_the_app_events_are_not() -> None:
    lines = [
        event(
            logger="uvicorn.error",
            event='127.0.0.1:39760 - "WebSocket /ws/comments/quarry-demo?api_key=***" [accepted]',
        ),
        event(logger="uvicorn.error", event="connection open"),
        event(logger="uvicorn.error", event="connection closed"),
    ]
    quiet, _ = console(colour=False)
    assert [quiet.render("gateway", line) for line in lines] == [None, None, None]
    loud, _ = console(colour=False, access_log=True)
    assert all(loud.render("gateway", line) for line in lines)
    assert quiet.render("profile", event(logger="profile.live", event="connection open"))


def test_uvicorn_life_cycle_lines_are_debug_its_errors_show() -> None:
    chatter = event(logger="uvicorn.error", event="Waiting for application shutdown.")
    made, _ = console(colour=False)
    assert made.render("auth", chatter) is None
    debug, _ = console(colour=False, level=10)
    assert "DEBUG  Waiting for application shutdown." in (debug.render("auth", chatter) or "")
    failure = event(logger="uvicorn.error", level="error", event="Exception in ASGI application")
    assert "ERROR" in (made.render("auth", failure) or "")


def test_advice_about_the_host_is_not_a_warning() -> None:
    made, _ = console(colour=False)
    advice = (
        "23981:M 01 Dec 2026 12:40:07.058 # WARNING Memory overcommit must be enabled! Without"
        " it, a background save or replication may fail under low memory condition."
    )
    assert made.render("redis", advice) is None
    trouble = "23981:M 01 Dec 2026 12:40:07.058 # WARNING: unable to write the AOF file"
    assert "WARN" in (made.render("redis", trouble) or "")


def test_a_key_in_a_logged_url_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before = (root.handlers[:], root.level)
    try:
        configure_logging("gateway")
        logging.getLogger("uvicorn.error").info(
            '%s - "WebSocket %s" [accepted]',
            "127.0.0.1:1",
            "/ws/comments/s?api_key=pk_secret_value&x=1",
        )
        logging.getLogger("uvicorn.error").info("GET /a?token=abc.def")
    finally:
        root.handlers[:] = before[0]
        root.setLevel(before[1])
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines] == [
        '127.0.0.1:1 - "WebSocket /ws/comments/s?api_key=***&x=1" [accepted]',
        "GET /a?token=***",
    ]
