"""A failed session fixture prints its cause once, not once per test."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_a_failed_session_fixture_is_reported_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makeconftest(
        """
        import pytest
        from tests.fixture_failures import pytest_runtest_makereport

        @pytest.fixture(scope="session")
        def backing():
            raise RuntimeError("initdb failed (log: /tmp/x)\\nlibpq.so.5: cannot open")
        """
    )
    pytester.makepyfile(
        "\n".join(f"def test_{n}(backing):\n    pass\n" for n in range(5))
        + "\ndef test_unrelated():\n    pass\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=5, passed=1)
    output = result.stdout.str()
    # The short summary repeats test_0's message in full where the terminal is wide (CI):
    # the repetition that matters is in the per-test reports before it.
    reports, _, _summary = output.partition("short test summary info")
    first, _, later = reports.partition("ERROR at setup of test_1")
    assert "libpq.so.5: cannot open" in first  # the whole cause, once
    assert "Traceback" not in later, later
    assert "libpq" not in later, later
    pointer = "same fixture failure as test_a_failed_session_fixture_is_reported_once.py::test_0"
    assert reports.count(pointer) == 4, output
