"""Application API keys: 256 random bits, shown once, stored as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "ee_"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    # A fast digest is enough here: the key has 256 bits of entropy, so there
    # is nothing to brute-force, and lookups stay one indexed equality.
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """The first characters of a key, kept to tell keys apart in listings."""
    return key[: len(KEY_PREFIX) + 6]
