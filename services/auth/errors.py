"""Error types of the auth service (rendered in each route's dialect by the shared handlers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from shared.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidToken,
    NotFound,
    RateLimited,
    Unauthorized,
)


class WeakPassword(BadRequest):
    code = "weak_password"
    default_message = "Password does not meet the password policy"


class EmailNotAllowed(BadRequest):
    code = "email_not_allowed"
    default_message = (
        "This e-mail address mixes look-alike characters from different scripts; "
        "use the address as your provider spells it"
    )


class RegistrationThrottled(RateLimited):
    """Too many registrations from one client (they tell whether names are taken)."""


class PasswordMismatch(BadRequest):
    code = "password_mismatch"
    default_message = "Passwords do not match"


class AccountExists(Conflict):
    code = "account_exists"
    default_message = "Username already exists"


class AccountExistsBadRequest(BadRequest):
    """The same refusal where a spec answers duplicates with 400 (Profile, Skype)."""

    code = "account_exists"
    default_message = "Username already exists"


@contextmanager
def duplicates_as_bad_request() -> Iterator[None]:
    """Where a spec answers a taken username or email with 400 rather than 409."""
    try:
        yield
    except AccountExists as exc:
        raise AccountExistsBadRequest(exc.message) from exc


class TotpRequired(InvalidCredentials):
    code = "totp_required"
    default_message = "Two-factor authentication code required"


class InvalidTotp(InvalidCredentials):
    code = "invalid_totp"
    default_message = "Invalid two-factor authentication code"


class InvalidTotpCode(BadRequest):
    """A wrong code while enrolling or disabling 2FA (the caller is already signed in)."""

    code = "invalid_totp"
    default_message = "Invalid two-factor authentication code"


class TwoFactorStateError(BadRequest):
    code = "two_factor_state"
    default_message = "Two-factor authentication is not in the required state"


class LoginThrottled(RateLimited):
    """Too many failed logins for this account or from this address."""


class NotLoggedIn(Unauthorized):
    code = "not_logged_in"
    default_message = "Not logged in"


class RefreshTokenInvalid(InvalidToken):
    default_message = "Invalid or expired refresh token"


class RefreshTokenReused(InvalidToken):
    code = "refresh_token_reused"
    default_message = "Refresh token was already used; the session has been revoked"


class RoleNotAllowed(Forbidden):
    default_message = "Only an administrator can create accounts with this role"


class PermissionNotAllowed(Forbidden):
    default_message = "A key cannot be granted permissions its creator does not hold"


class ApiKeyNotFound(NotFound):
    code = "api_key_not_found"
    default_message = "API key not found"


class AccountDisabled(Unauthorized):
    code = "account_disabled"
    default_message = "Account is disabled"


class ReauthenticationFailed(BadRequest):
    """A signed-in user's password check failed (400: their session stays valid)."""

    code = "invalid_password"
    default_message = "Invalid password"
