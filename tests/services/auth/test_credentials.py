from services.auth.security.credentials import digest, new_api_key, parse_api_key, same_digest


def test_api_key_format_round_trips() -> None:
    for kind in ("pk", "sk"):
        parts = new_api_key(kind)
        full = parts.full
        assert full.startswith(f"{kind}_{parts.prefix}_")
        assert len(parts.prefix) == 8
        assert parse_api_key(full) == parts
        assert parts.preview == f"{kind}_{parts.prefix}..."


def test_foreign_or_malformed_keys_are_not_parsed() -> None:
    good = new_api_key("pk").full
    for raw in (
        "dev-api-key-12345",
        "pk_short",
        "xx_abcdefgh_" + "s" * 40,
        good[:12],
        "pk_ABCDEFGH_" + "s" * 40,
    ):
        assert parse_api_key(raw) is None


def test_digest_comparison() -> None:
    stored = digest("secret-value")
    assert same_digest("secret-value", stored)
    assert not same_digest("secret-valuf", stored)
