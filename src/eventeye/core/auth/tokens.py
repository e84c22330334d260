"""JWT access tokens: HS256 only, with ``sub``, ``exp``, ``iat``, ``iss`` and ``aud`` required."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from eventeye.errors import Unauthorized

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "exp", "iat", "iss", "aud"]


@dataclass(frozen=True, slots=True)
class TokenIssuer:
    """Issues and verifies access tokens with one key, issuer and audience."""

    secret_key: str
    issuer: str
    audience: str
    ttl: timedelta

    def issue(self, subject: str, *, ttl: timedelta | None = None, **claims: Any) -> str:
        now = datetime.now(UTC)
        payload = {
            "sub": subject,
            "iat": now,
            "exp": now + (ttl or self.ttl),
            "iss": self.issuer,
            "aud": self.audience,
            "jti": uuid.uuid4().hex,
            **claims,
        }
        return jwt.encode(payload, self.secret_key, algorithm=ALGORITHM)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or ``Unauthorized`` for anything not exactly right."""
        try:
            return jwt.decode(
                token,
                self.secret_key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS, "verify_signature": True},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("Token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("Invalid token") from exc
