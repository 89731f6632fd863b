"""Headless Chromium for tests that look at a page as a person would.

``chromium()`` finds Debian's ``chromium`` (or another Chromium/Chrome on PATH); when it
is missing and we are root with apt-get, it installs it (``apt-get install -y
chromium``); otherwise the test is skipped with a reason that names the package, never
silently. ``screenshot(html, width, height)`` renders a page to PNG; ``dump_dom(html)``
returns the DOM after load (no network: pages are loaded from a local file).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import pytest

PACKAGE = "chromium"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _find() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@cache
def _install() -> str:
    """The browser's path, or why there is none (a sentence naming the package)."""
    found = _find()
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return (
            f"SKIPPED: headless Chromium is not installed and cannot be installed here "
            f"(not root or no apt-get): install the Debian package '{PACKAGE}'."
        )
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", PACKAGE]):
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=900, env=environment, check=False
        )
        if result.returncode != 0 and command[1] == "install":
            return (
                f"SKIPPED: 'apt-get install -y {PACKAGE}' failed "
                f"({result.stderr.strip()[-300:]}): install the Debian package '{PACKAGE}'."
            )
    return _find() or f"SKIPPED: '{PACKAGE}' installed but not found on PATH."


def chromium() -> str:
    """The Chromium executable, installing it when possible; skips loudly otherwise."""
    outcome = _install()
    if outcome.startswith("SKIPPED"):
        pytest.skip(outcome)
    return outcome


def _run(html: str, *arguments: str) -> subprocess.CompletedProcess[bytes]:
    browser = chromium()
    with tempfile.TemporaryDirectory(prefix="quarry-browser-") as directory:
        page = Path(directory) / "page.html"
        page.write_text(html, encoding="utf-8")
        profile = Path(directory) / "profile"
        command = [
            browser,
            "--headless",
            "--no-sandbox",  # root in CI; the page is our own file, offline
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--user-data-dir={profile}",
            *arguments,
            page.as_uri(),
        ]
        return subprocess.run(command, capture_output=True, timeout=120, check=True, cwd=directory)


def screenshot(html: str, width: int, height: int, out: Path) -> Path:
    """``html`` rendered at ``width`` x ``height`` CSS pixels into the PNG ``out``."""
    _run(html, f"--window-size={width},{height}", f"--screenshot={out}")
    return out


def dump_dom(html: str) -> str:
    """The serialised DOM once the page has loaded."""
    return _run(html, "--dump-dom").stdout.decode("utf-8")
