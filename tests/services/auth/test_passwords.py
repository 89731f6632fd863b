import pytest
from argon2 import PasswordHasher as RawArgon2

from services.auth.errors import WeakPassword
from services.auth.security.passwords import PasswordHasher, check_password_policy

SPEC_PASSWORDS = [
    "securepassword",
    "strongpassword123",
    "SecurePassword123!",
    "Str0ng_Pass!",
    "Admin123!",
]


@pytest.mark.parametrize("password", SPEC_PASSWORDS)
def test_policy_accepts_every_password_the_specs_use(password: str) -> None:
    check_password_policy(password, username="johndoe", email="john@example.com")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1!", "at least 8 characters"),
        ("x" * 129, "at most 128 characters"),
        ("password", "too common"),
        ("Password1", "too common"),  # case does not make a common password safe
        ("12345678", "too common"),
        ("qwertyuiop", "too common"),
        ("johndoe-99", "same as your username"),
        ("john.doe@example.com", "same as your username or email"),
    ],
)
def test_policy_refuses_with_a_clear_message(password: str, message: str) -> None:
    username = "johndoe-99" if password == "johndoe-99" else "johndoe"
    with pytest.raises(WeakPassword) as caught:
        check_password_policy(password, username=username, email="john.doe@example.com")
    assert message in caught.value.message
    assert caught.value.status_code == 400


def test_policy_refuses_the_email_local_part() -> None:
    with pytest.raises(WeakPassword):
        check_password_policy("john.doe.smith", username="jd", email="John.Doe.Smith@example.com")


async def test_hash_is_argon2id_and_verifies() -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    stored = await hasher.hash("Str0ng_Pass!")
    assert stored.startswith("$argon2id$")
    assert await hasher.verify(stored, "Str0ng_Pass!")
    assert not await hasher.verify(stored, "Str0ng_Pass?")
    assert not await hasher.verify("not-a-hash", "Str0ng_Pass!")


async def test_unknown_user_is_checked_against_a_dummy_hash() -> None:
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    assert not await hasher.verify(None, "whatever-password")
    # The dummy hash exists now and has the configured cost, like a real one.
    dummy = await hasher._dummy()
    assert dummy.startswith("$argon2id$v=19$m=1024,t=1,p=1$")


def test_needs_rehash_when_parameters_change() -> None:
    old = RawArgon2(time_cost=1, memory_cost=1024, parallelism=1).hash("Str0ng_Pass!")
    same = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    assert not same.needs_rehash(old)
    assert stronger.needs_rehash(old)
