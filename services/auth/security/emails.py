"""E-mail addresses: one comparable form, and no look-alikes of another script.

Two addresses are the same account when their *normalised* forms are equal:
NFKC (compatibility forms fold: fullwidth ``a`` (U+FF41) is ``a``, the ligature U+FB01 is ``fi``,
mathematical letters are plain), then case-folded, local part and domain alike.

The local part is case-folded too, a decision: RFC 5321 lets a mail server treat
``Alice`` and ``alice`` as two mailboxes, but no mainstream provider does, and Quarry
always compared addresses case-insensitively; keeping them apart would let anyone
register a case variant of someone else's address. The address is stored as the
person typed it after NFKC (so the stored form has no compatibility characters); the
normalised form has a unique index.

An address whose local part or a domain label mixes scripts with characters that
look alike across them (a Cyrillic ``a``, U+0430, among Latin letters) is refused
outright: it exists to be mistaken for another address (Unicode TR39 mixed-script
confusables, via the ``confusable_homoglyphs`` data). A label written entirely in one
script is accepted, so is a mix of scripts without look-alikes.
"""

from __future__ import annotations

import unicodedata

from confusable_homoglyphs import confusables

from services.auth.errors import EmailNotAllowed


def canonical_email(address: str) -> str:
    """The address as stored: NFKC, surrounding spaces removed, the domain in lower case."""
    local, _, domain = unicodedata.normalize("NFKC", address.strip()).rpartition("@")
    return f"{local}@{domain.casefold()}" if local else address.strip()


def normalized_email(address: str) -> str:
    """The form two addresses are compared in (and unique by)."""
    return unicodedata.normalize("NFKC", canonical_email(address).casefold())


def check_unambiguous(address: str) -> None:
    """Refuse an address with mixed-script look-alike characters (:class:`EmailNotAllowed`)."""
    local, _, domain = canonical_email(address).rpartition("@")
    for part in (local, *domain.split(".")):
        if part and confusables.is_dangerous(part):
            raise EmailNotAllowed()
