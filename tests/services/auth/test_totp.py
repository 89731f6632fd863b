import pyotp

from services.auth.security import totp


def test_matching_step_accepts_one_step_either_side() -> None:
    secret = totp.new_secret()
    now = 1_700_000_000.0
    step = totp.current_step(now)
    for offset in (-1, 0, 1):
        code = totp.code_for_step(secret, step + offset)
        assert totp.matching_step(secret, code, now=now) == step + offset
    assert totp.matching_step(secret, totp.code_for_step(secret, step - 2), now=now) is None
    assert totp.matching_step(secret, totp.code_for_step(secret, step + 2), now=now) is None


def test_codes_agree_with_rfc6238_reference() -> None:
    # pyotp's TOTP is the reference implementation of RFC 6238 here.
    secret = totp.new_secret()
    now = 1_700_000_123.0
    assert pyotp.TOTP(secret).at(now) == totp.code_for_step(secret, totp.current_step(now))


def test_malformed_codes_never_match() -> None:
    secret = totp.new_secret()
    for code in ("", "12345", "1234567", "abcdef", "12 34 5"):
        assert totp.matching_step(secret, code) is None


def test_provisioning_uri_and_qr() -> None:
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, account="alice01", issuer="Quarry")
    assert uri.startswith("otpauth://totp/Quarry:alice01?")
    assert f"secret={secret}" in uri
    qr = totp.qr_data_uri(uri)
    assert qr.startswith("data:image/png;base64,iVBORw0KGgo")  # PNG magic number
