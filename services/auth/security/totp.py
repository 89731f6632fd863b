"""TOTP (RFC 6238) with a ±1 step window, replay-proof by time step."""

from __future__ import annotations

import hmac
import time

import pyotp
import segno

STEP_SECONDS = 30
VALID_WINDOW = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_data_uri(uri: str) -> str:
    """A PNG QR code of ``uri`` as a ``data:image/png;base64,...`` URI."""
    return str(segno.make(uri, error="m").png_data_uri(scale=5))


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_SECONDS)


def matching_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time step whose code equals ``code`` within the window, or ``None``.

    The caller accepts the code only if this step is later than the last one it
    accepted for the account, so a code can never be used twice.
    """
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    step = current_step(now)
    match: int | None = None
    # Check every candidate (no early exit) so timing says nothing about which matched.
    for candidate in range(step - VALID_WINDOW, step + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            match = candidate
    return match


def code_for_step(secret: str, step: int) -> str:
    """The code of ``step`` (for tests and tooling; never part of an HTTP answer)."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).generate_otp(step)
