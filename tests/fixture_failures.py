"""A session fixture that fails (PostgreSQL did not start, say) is reported once.

pytest re-raises a failed session fixture's exception for every test that uses it,
so one cause used to print 170 identical tracebacks. The first test that meets the
exception keeps the full report; every later one gets one line naming the cause
and the test whose report has it. ``tests/conftest.py`` installs this hook.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

# id(exception) -> (the exception, kept alive so its id is not reused; first test's id)
_seen: dict[int, tuple[BaseException, str]] = {}


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when != "setup" or not report.failed or call.excinfo is None:
        return report
    error = call.excinfo.value
    _, first = _seen.setdefault(id(error), (error, item.nodeid))
    if first != item.nodeid:
        report.longrepr = f"{first_line(error)}  [same fixture failure as {first}, reported there]"
    return report
