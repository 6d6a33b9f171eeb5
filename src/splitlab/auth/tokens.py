"""Token secrets: generation, hashing and the scope order. Pure functions, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from enum import StrEnum

TOKEN_PREFIX = "slk_"
#: How much of a secret is kept in clear to tell tokens apart in listings.
DISPLAY_PREFIX_LENGTH = 12


class Scope(StrEnum):
    """What a token may do: ``readonly`` < ``experiment`` < ``admin``, and ``sdk`` apart.

    An ``sdk`` token is a GrowthBook client key, safe to ship inside a web page: bound to one
    workspace, it reads that workspace's SDK payload and sends exposures and events to it, and
    nothing else (no experiment, user or result). Routes that take it say so explicitly
    (``api.deps.require(..., sdk=True)``); ``allows`` never lets it through otherwise.
    """

    SDK = "sdk"
    READONLY = "readonly"
    EXPERIMENT = "experiment"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, needed: Scope) -> bool:
        if self is Scope.SDK or needed is Scope.SDK:
            return self is needed
        return self.rank >= needed.rank


_RANK = {Scope.SDK: -1, Scope.READONLY: 0, Scope.EXPERIMENT: 1, Scope.ADMIN: 2}


def generate_secret() -> str:
    """A recognisable prefix plus 256 bits from the OS CSPRNG."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """SHA-256 of the secret.

    Tokens are high-entropy random strings, so a fast unsalted hash is the standard choice (as for
    GitHub or Stripe keys): it is unique, indexable for lookup, and useless to whoever reads it.
    """
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def display_prefix(secret: str) -> str:
    """The start of a secret, kept in clear to name it: never more than a quarter of it.

    Operator-chosen secrets (``SPLITLAB_ADMIN_TOKEN``) can be short; a fixed-length prefix would
    store a short one whole, in clear, defeating the hash.
    """
    return secret[: min(DISPLAY_PREFIX_LENGTH, len(secret) // 4)]


def hashes_match(expected: str, actual: str) -> bool:
    return hmac.compare_digest(expected.encode(), actual.encode())
