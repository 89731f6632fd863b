"""Start-up: the runtime (keys, hasher, limiter, verifier), the development
user behind ``API_KEY`` and the first administrator. Idempotent and safe for
several replicas starting at once (advisory locks)."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.models import User
from services.auth.repository import AuthRepository
from services.auth.security.access_tokens import AccessTokenIssuer, Identity
from services.auth.security.credentials import DEV_KEY_SID
from services.auth.security.emails import canonical_email, normalized_email
from services.auth.security.encryption import SecretBox
from services.auth.security.passwords import PasswordHasher, check_password_policy
from services.auth.security.signing_keys import SigningKeyStore
from services.auth.security.throttle import LoginThrottle, RegistrationLimiter, ThrottlePolicy
from services.auth.service.accounts import identity_for
from services.auth.service.revocations import RevocationRelay
from services.auth.service.runtime import AuthRuntime, key_retention_seconds
from services.auth.settings import AuthSettings
from shared.identity import AuthMethod, Role
from shared.limits_storage import redis_storage
from shared.log import get_logger
from shared.revocation import RevocationList
from shared.tasks import stop_tasks
from shared.tokens import TokenVerifier

log = get_logger("services.auth.service.bootstrap")


def password_hasher(settings: AuthSettings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost,
        parallelism=settings.argon2_parallelism,
    )


def throttle_policy(settings: AuthSettings) -> ThrottlePolicy:
    return ThrottlePolicy(
        per_client_and_account=settings.login_max_failures_per_client_and_account,
        per_client=settings.login_max_failures_per_ip,
        client_window_seconds=settings.login_failure_window_seconds,
        per_account=settings.login_max_failures_per_account,
        account_window_seconds=settings.login_account_window_seconds,
        delay_after=settings.login_delay_after_failures,
        delay_cap_seconds=settings.login_delay_cap_seconds,
    )


def signing_key_store(
    settings: AuthSettings, sessions: async_sessionmaker[AsyncSession]
) -> SigningKeyStore:
    return SigningKeyStore(
        sessions,
        SecretBox(settings.key_encryption_secret),
        retention_seconds=key_retention_seconds(settings),
        cache_seconds=settings.signing_key_cache_seconds,
        activation_delay_seconds=settings.signing_key_activation_delay_seconds,
    )


async def build_runtime(
    stack: AsyncExitStack,
    settings: AuthSettings,
    sessions: async_sessionmaker[AsyncSession],
    redis: Redis,
) -> AuthRuntime:
    keys = signing_key_store(settings, sessions)
    await keys.ensure_key()
    hasher = password_hasher(settings)
    await hasher.warm_up()
    revocations = RevocationList(redis)
    await revocations.start()
    stack.push_async_callback(revocations.stop)
    # The limiter shares the process's Redis pool rather than opening its own.
    storage = redis_storage(settings.redis_url, redis, "quarry:auth")
    runtime = AuthRuntime(
        settings=settings,
        sessions=sessions,
        redis=redis,
        box=SecretBox(settings.key_encryption_secret),
        hasher=hasher,
        keys=keys,
        issuer=AccessTokenIssuer(keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience),
        verifier=TokenVerifier(
            lambda: keys.jwks(fresh=True),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            revocations=revocations,
        ),
        revocations=revocations,
        relay=RevocationRelay(sessions, redis),
        throttle=LoginThrottle(storage, redis, throttle_policy(settings)),
        registrations=RegistrationLimiter(
            storage,
            per_client=settings.registration_max_per_client,
            window_seconds=settings.registration_window_seconds,
        ),
    )
    runtime.dev_identity = await ensure_dev_user(runtime)
    await ensure_bootstrap_admin(runtime)
    # Publishes what was revoked while Redis was away (or by a replica that died).
    relay = asyncio.create_task(runtime.relay.run(), name="auth-revocation-relay")
    stack.push_async_callback(stop_tasks, [relay])
    return runtime


async def check_revocations(runtime: AuthRuntime) -> dict[str, Any]:
    """Revocations committed but not yet in Redis (nonzero while Redis is away)."""
    return {"unpublished": await runtime.relay.backlog()}


async def check_signing_keys(runtime: AuthRuntime) -> dict[str, Any]:
    """The health check of the key set: a key that signs, and how many are published."""
    signer = await runtime.keys.signer()
    return {"kid": signer.kid, "published": len((await runtime.keys.jwks())["keys"])}


async def ensure_dev_user(runtime: AuthRuntime) -> Identity | None:
    """The SERVICE account behind the development key, only when ``API_KEY`` is set."""
    if runtime.dev_key is None:
        return None
    settings = runtime.settings
    async with runtime.sessions() as session:
        repo = AuthRepository(session)
        await repo.lock("dev-user")
        user = await repo.user_by_username(settings.dev_username)
        if user is None:
            client = await repo.add_client("Development", personal=False)
            user = await repo.add_user(
                User(
                    id=uuid.uuid4(),
                    client_id=client.id,
                    username=settings.dev_username,
                    email=f"{settings.dev_username}@dev.quarry.invalid",
                    email_normalized=normalized_email(
                        f"{settings.dev_username}@dev.quarry.invalid"
                    ),
                    display_name="Development service account",
                    password_hash=None,  # no password: reachable only through the key
                    role=Role.SERVICE.value,
                    is_active=True,
                    totp_enabled=False,
                )
            )
        elif user.role != Role.SERVICE.value or user.password_hash is not None:
            # Never hand a person's account the development key's powers.
            raise RuntimeError(
                f"AUTH_DEV_USERNAME {settings.dev_username!r} belongs to a regular account"
            )
        await session.commit()
    log.info("development_key_enabled", username=user.username)
    return identity_for(user, DEV_KEY_SID, AuthMethod.DEV_KEY)


async def create_admin(
    sessions: async_sessionmaker[AsyncSession],
    hasher: PasswordHasher,
    username: str,
    email: str,
    password: str,
) -> tuple[User, bool]:
    """Create an administrator (own client); ``(user, False)`` when the name exists.

    An existing account is never promoted: whoever registered the name first
    must not become an administrator because of a configuration value.
    """
    check_password_policy(password, username=username, email=email)
    password_hash = await hasher.hash(password)
    async with sessions() as session:
        repo = AuthRepository(session)
        await repo.lock("bootstrap-admin")
        email = canonical_email(email)
        existing = await repo.user_by_username(username) or await repo.user_by_email(
            normalized_email(email)
        )
        if existing is not None:
            return existing, False
        client = await repo.add_client(f"{username} (administration)", personal=False)
        user = await repo.add_user(
            User(
                id=uuid.uuid4(),
                client_id=client.id,
                username=username,
                email=email,
                email_normalized=normalized_email(email),
                display_name=username,
                password_hash=password_hash,
                role=Role.ADMIN.value,
                is_active=True,
                totp_enabled=False,
            )
        )
        await session.commit()
    return user, True


async def ensure_bootstrap_admin(runtime: AuthRuntime) -> None:
    settings = runtime.settings
    username = settings.bootstrap_admin_username
    if not username:
        return
    if not settings.bootstrap_admin_email or settings.bootstrap_admin_password is None:
        log.warning("bootstrap_admin_incomplete", username=username)
        return
    user, created = await create_admin(
        runtime.sessions,
        runtime.hasher,
        username,
        settings.bootstrap_admin_email,
        settings.bootstrap_admin_password.get_secret_value(),
    )
    if created:
        log.info("bootstrap_admin_created", username=username)
    elif user.role != Role.ADMIN.value:
        log.error("bootstrap_admin_name_taken", username=username)
