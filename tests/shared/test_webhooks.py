from __future__ import annotations

import pytest

from shared.webhooks import WebhookSignatureError, sign, verify

SECRET = "s3cret-for-tests"


def test_signed_webhook_verifies_and_yields_its_event_id() -> None:
    headers = sign(SECRET, "evt-1", b'{"ok":true}', now=1_000_000)
    assert verify(SECRET, headers, b'{"ok":true}', now=1_000_010) == "evt-1"


@pytest.mark.parametrize(
    ("secret", "body", "now"),
    [
        ("other-secret", b'{"ok":true}', 1_000_010),  # wrong key
        (SECRET, b'{"ok":false}', 1_000_010),  # tampered body
        (SECRET, b'{"ok":true}', 1_000_000 + 301),  # replayed outside the window
    ],
)
def test_bad_or_stale_signatures_are_refused(secret: str, body: bytes, now: int) -> None:
    headers = sign(SECRET, "evt-1", b'{"ok":true}', now=1_000_000)
    with pytest.raises(WebhookSignatureError):
        verify(secret, headers, body, now=now)


def test_event_id_is_bound_to_the_signature() -> None:
    headers = sign(SECRET, "evt-1", b"{}", now=1_000_000)
    headers["X-Quarry-Event-Id"] = "evt-2"
    with pytest.raises(WebhookSignatureError):
        verify(SECRET, headers, b"{}", now=1_000_000)


def test_missing_or_malformed_headers_are_refused() -> None:
    with pytest.raises(WebhookSignatureError):
        verify(SECRET, {}, b"{}")
    with pytest.raises(WebhookSignatureError):
        verify(SECRET, {"X-Quarry-Signature": "garbage", "X-Quarry-Event-Id": "e"}, b"{}")
