"""Reading a public profile page: the avatar URL, the nickname, and whether the user
exists at all.

Embedded JSON first (``__UNIVERSAL_DATA_FOR_REHYDRATION__``, ``SIGI_STATE``,
``__NEXT_DATA__``, walked for the user object), then the spec's regular expressions over
the raw page, then the DOM with the spec's CSS selectors.

A page carries a default picture even for users that do not exist (unavatar #293), so
"an image was found" is not "the user exists": the page's own markers (TikTok's
``statusCode`` 10202/10221/10222, "user not exist", "Couldn't find this account") make
the answer :class:`PageSaysNoSuchUser`, and no image of that page is used.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from selectolax.lexbor import LexborHTMLParser as HTMLParser

JSON_SCRIPT_IDS = ("__UNIVERSAL_DATA_FOR_REHYDRATION__", "SIGI_STATE", "__NEXT_DATA__")
AVATAR_KEYS = ("avatarLarger", "avatarMedium", "avatarThumb", "profilePicUrlHD", "avatar_thumb")
# The spec's extraction patterns, best quality first.
PATTERNS = [re.compile(rf'"{key}":"(.*?)"') for key in AVATAR_KEYS]
SELECTORS = [
    'img[data-e2e="user-avatar"]',
    "img.tiktok-avatar",
    'span[data-e2e="user-avatar"] img',
    'div[data-e2e="user-avatar"] img',
    ".avatar img",
    'img[alt*="avatar"]',
    'img[src*="avatar"]',
]
NICKNAME_SELECTORS = ['h2[data-e2e="user-subtitle"]', 'h1[data-e2e="user-title"]']
NOT_FOUND_CODES = {10202, 10221, 10222}
NOT_FOUND_TEXTS = (
    "couldn't find this account",
    "couldn&#x27;t find this account",
    "user not exist",
)


@dataclass(frozen=True)
class PageProfile:
    avatar_url: str | None
    nickname: str | None
    unique_id: str | None
    strategy: str  # "json", "pattern" or "dom"


class PageSaysNoSuchUser(Exception):
    """The page itself says the account does not exist."""


def _unescape_url(raw: str) -> str:
    url = raw.replace("\\u002F", "/").replace("\\u0026", "&").replace("\\/", "/")
    return html.unescape(url)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _not_found_in_json(documents: list[Any]) -> bool:
    for document in documents:
        for obj in _walk(document):
            code = obj.get("statusCode")
            message = str(obj.get("statusMsg", "")).lower()
            if (isinstance(code, int) and code in NOT_FOUND_CODES) or "not exist" in message:
                return True
    return False


def _user_from_json(documents: list[Any], username: str) -> PageProfile | None:
    candidates: list[dict[str, Any]] = []
    for document in documents:
        for obj in _walk(document):
            if any(isinstance(obj.get(k), str) and obj.get(k) for k in AVATAR_KEYS):
                candidates.append(obj)
    if not candidates:
        return None
    # Prefer the object that names this user (a page also lists other accounts).
    named = [c for c in candidates if str(c.get("uniqueId", "")).lower() == username]
    chosen = (named or candidates)[0]
    url = next(
        _unescape_url(chosen[k])
        for k in AVATAR_KEYS
        if isinstance(chosen.get(k), str) and chosen.get(k)
    )
    nickname = chosen.get("nickname")
    unique = chosen.get("uniqueId")
    return PageProfile(
        avatar_url=url,
        nickname=str(nickname) if nickname else None,
        unique_id=str(unique).lower() if unique else None,
        strategy="json",
    )


def _json_documents(tree: HTMLParser) -> list[Any]:
    documents: list[Any] = []
    for script_id in JSON_SCRIPT_IDS:
        node = tree.css_first(f'script[id="{script_id}"]')
        if node is None:
            continue
        try:
            documents.append(json.loads(node.text(strip=False)))
        except ValueError:
            continue
    return documents


def parse_profile_page(page: str, username: str) -> PageProfile | None:
    """The avatar found on ``page`` for ``username`` (None when there is none).

    Raises :class:`PageSaysNoSuchUser` when the page says the account does not exist.
    """
    tree = HTMLParser(page)
    documents = _json_documents(tree)
    lowered = page.lower()
    if _not_found_in_json(documents) or any(text in lowered for text in NOT_FOUND_TEXTS):
        raise PageSaysNoSuchUser(username)
    found = _user_from_json(documents, username)
    if found is not None:
        return found
    for pattern in PATTERNS:
        match = pattern.search(page)
        if match and match.group(1):
            nickname = re.search(r'"nickname":"(.*?)"', page)
            return PageProfile(
                avatar_url=_unescape_url(match.group(1)),
                nickname=html.unescape(nickname.group(1)) if nickname else None,
                unique_id=None,
                strategy="pattern",
            )
    for selector in SELECTORS:
        node = tree.css_first(selector)
        src = node.attributes.get("src") if node is not None else None
        if src:
            nickname_node = next(
                (n for n in (tree.css_first(s) for s in NICKNAME_SELECTORS) if n is not None), None
            )
            return PageProfile(
                avatar_url=html.unescape(src),
                nickname=nickname_node.text(strip=True) if nickname_node is not None else None,
                unique_id=None,
                strategy="dom",
            )
    return None
