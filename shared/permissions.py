"""The permission vocabulary of API keys and access tokens (the ``scp`` claim).

A principal's scopes are what its credential may do; its role is who it is. A
password login, a session and the Skype key carry ``*`` (everything the account's
role allows); a Profile ``pk_`` key carries the permissions it was created with,
never one its creator lacks (auth checks this against the account's current role).

Services check a scope with ``Principal.has_scope(<permission>)``; a new permission
is added here (and to :data:`ROLE_PERMISSIONS`) before anything uses it.
"""

from __future__ import annotations

from enum import StrEnum

from shared.identity import Role

ALL = "*"


class Permission(StrEnum):
    READ = "read"  # read the tenant's files, analyses, profiles, sessions
    WRITE = "write"  # upload, change and delete them
    CONNECT = "connect"  # live comment sessions: /connect, /disconnect, the WebSocket
    EXPORT = "export"  # chat exports (/client/export/...)
    # Posting chat-widget messages (POST /client/chats) and nothing else: the key a
    # widget embeds in a web page, where anyone can read it.
    CHAT = "chat"
    ADMIN = "admin"  # administration across tenants (cache clearing, other users' keys)


# What each role may grant: a key of an account holds at most these.
_MEMBER = frozenset(
    {Permission.READ, Permission.WRITE, Permission.CONNECT, Permission.EXPORT, Permission.CHAT}
)
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.USER: _MEMBER,
    Role.SERVICE: _MEMBER,
    Role.ADMIN: frozenset(Permission),
}

# What a key may be created with: the permissions, or ALL.
KEY_PERMISSIONS: frozenset[str] = frozenset({ALL, *(p.value for p in Permission)})


def role_allows(role: Role, permission: str) -> bool:
    """Whether an account of ``role`` may hold ``permission`` (``*`` always: it means
    "whatever the role allows")."""
    return permission == ALL or permission in ROLE_PERMISSIONS[role]
