"""Guard for ``/internal/...`` and webhook routes: callers present the shared internal token.

The gateway never routes these paths; the token keeps them closed even to a
client that reaches a service's port directly.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from shared.errors import Unauthorized

INTERNAL_TOKEN_HEADER = "X-Internal-Token"

# The longest raw credential (API key, session id) auth's introspection accepts; none
# it issues comes close, so a longer one is simply not a valid credential.
MAX_INTROSPECTED_CREDENTIAL = 1024


def check_internal_token(request: Request, expected: str) -> None:
    given = request.headers.get(INTERNAL_TOKEN_HEADER, "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("Internal route")
