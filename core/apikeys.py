"""API key format and hashing. A key reads `flyp_<prefix>_<secret>`.

The prefix (12 hex digits) is stored in clear to find the key's row and to name the key in
listings. Only the sha256 of the whole key is stored. A plain hash is enough because the
secret has 256 random bits, a space too large to search. The slow, salted hashes built for
human passwords (bcrypt, argon2) would add, at their usual cost settings, an estimated tens
of milliseconds to every request and no protection.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_SCHEME = "flyp"
PREFIX_HEX_DIGITS = 12
SECRET_BYTES = 32


@dataclass(frozen=True)
class NewKey:
    """A freshly made key: `token` goes to the user once, `secret_hash` to the database."""

    token: str
    prefix: str
    secret_hash: str


def generate_key() -> NewKey:
    prefix = secrets.token_hex(PREFIX_HEX_DIGITS // 2)
    token = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return NewKey(token=token, prefix=prefix, secret_hash=hash_key(token))


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_prefix(token: str) -> str | None:
    """Return the lookup prefix of a well-formed key, or None for anything else."""
    scheme, _, rest = token.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != KEY_SCHEME or len(prefix) != PREFIX_HEX_DIGITS or not secret:
        return None
    if any(character not in "0123456789abcdef" for character in prefix):
        return None
    return prefix


def key_matches(token: str, secret_hash: str) -> bool:
    """Compare in constant time, so response timing reveals nothing about the stored hash."""
    return hmac.compare_digest(hash_key(token), secret_hash)
