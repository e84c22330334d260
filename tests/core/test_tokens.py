"""JWT access tokens are validated strictly: anything not exactly right is 401 with ``WWW-Authenticate: Bearer``."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.config import Settings
from eventeye.core.storage.tables import users
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME

PROTECTED = "/v1/apps"  # admin only: a token that gets through is a real user's


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token with any header, signed with nothing we hold (as an attacker would make it)."""
    parts = [json.dumps(header).encode(), json.dumps(claims, default=str).encode()]
    return ".".join(b64(part) for part in parts) + "." + b64(b"\x01" * 256)


@pytest.fixture
async def admin_id(client: httpx.AsyncClient) -> str:
    """The first user (an admin); tokens below are made for it by hand, so no login is needed."""
    created = await client.post("/users", json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.fixture
def secret(settings: Settings) -> str:
    assert settings.secret_key is not None
    return settings.secret_key.get_secret_value()


@pytest.fixture
def claims_for(admin_id: str) -> Callable[..., dict[str, Any]]:
    """Valid claims for the admin, with ``overrides`` applied (``None`` removes a claim)."""

    def make(**overrides: Any) -> dict[str, Any]:
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "sub": admin_id,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(minutes=5)).timestamp()),
            "iss": "eventeye",
            "aud": "eventeye",
        }
        claims.update(overrides)
        return {key: value for key, value in claims.items() if value is not None}

    return make


async def call_with(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(PROTECTED, headers={"Authorization": f"Bearer {token}"})


def assert_rejected(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


class TestWellFormedToken:
    async def test_token_made_the_same_way_is_accepted(
        self, client: httpx.AsyncClient, claims_for: Callable[..., dict[str, Any]], secret: str
    ) -> None:
        # The control for every rejection below: only the one named defect differs.
        response = await call_with(client, jwt.encode(claims_for(), secret, algorithm="HS256"))
        assert response.status_code == 200, response.text


class TestRejectedToken:
    async def test_expired(
        self, client: httpx.AsyncClient, claims_for: Callable[..., dict[str, Any]], secret: str
    ) -> None:
        past = datetime.now(UTC) - timedelta(minutes=1)
        token = jwt.encode(claims_for(exp=int(past.timestamp())), secret, algorithm="HS256")
        response = await call_with(client, token)
        assert_rejected(response)
        assert response.json()["error"]["message"] == "Token has expired"

    async def test_wrong_signature(self, client: httpx.AsyncClient, claims_for: Callable[..., dict[str, Any]]) -> None:
        assert_rejected(await call_with(client, jwt.encode(claims_for(), "another-key-" + "y" * 32, algorithm="HS256")))

    async def test_tampered_claims(
        self, client: httpx.AsyncClient, claims_for: Callable[..., dict[str, Any]], secret: str
    ) -> None:
        header, _, signature = jwt.encode(claims_for(), secret, algorithm="HS256").split(".")
        forged = b64(json.dumps(claims_for(sub=str(uuid.uuid4()))).encode())
        assert_rejected(await call_with(client, f"{header}.{forged}.{signature}"))

    async def test_alg_none(self, client: httpx.AsyncClient, claims_for: Callable[..., dict[str, Any]]) -> None:
        header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        payload = b64(json.dumps(claims_for()).encode())
        assert_rejected(await call_with(client, f"{header}.{payload}."))

    @pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
    async def test_alg_swapped_to_hs512_with_the_right_key(
        self, client: httpx.AsyncClient, claims_for: Callable[..., dict[str, Any]], secret: str
    ) -> None:
        assert_rejected(await call_with(client, jwt.encode(claims_for(), secret, algorithm="HS512")))

    async def test_alg_swapped_to_rs256(
        self, client: httpx.AsyncClient, claims_for: Callable[..., dict[str, Any]]
    ) -> None:
        assert_rejected(await call_with(client, unsigned({"alg": "RS256", "typ": "JWT"}, claims_for())))

    @pytest.mark.parametrize(("claim", "value"), [("aud", "someone-else"), ("iss", "someone-else")])
    async def test_wrong_audience_or_issuer(
        self,
        client: httpx.AsyncClient,
        claims_for: Callable[..., dict[str, Any]],
        secret: str,
        claim: str,
        value: str,
    ) -> None:
        token = jwt.encode(claims_for(**{claim: value}), secret, algorithm="HS256")
        assert_rejected(await call_with(client, token))

    async def test_missing_required_claim(
        self, client: httpx.AsyncClient, claims_for: Callable[..., dict[str, Any]], secret: str
    ) -> None:
        for claim in ("sub", "exp", "iat", "iss", "aud"):
            token = jwt.encode(claims_for(**{claim: None}), secret, algorithm="HS256")
            response = await call_with(client, token)
            assert response.status_code == 401, f"token without {claim!r} accepted"
            assert_rejected(response)

    async def test_issued_in_the_future(
        self, client: httpx.AsyncClient, claims_for: Callable[..., dict[str, Any]], secret: str
    ) -> None:
        later = datetime.now(UTC) + timedelta(hours=1)
        token = jwt.encode(claims_for(iat=int(later.timestamp())), secret, algorithm="HS256")
        assert_rejected(await call_with(client, token))

    @pytest.mark.parametrize("subject", ["not-a-uuid", str(uuid.uuid4())])
    async def test_subject_that_is_no_user(
        self, client: httpx.AsyncClient, claims_for: Callable[..., dict[str, Any]], secret: str, subject: str
    ) -> None:
        assert_rejected(await call_with(client, jwt.encode(claims_for(sub=subject), secret, algorithm="HS256")))

    async def test_garbage(self, client: httpx.AsyncClient) -> None:
        for garbage in ("garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "Bearer", "é" * 10, "x" * 10_000):
            response = await client.get(PROTECTED, headers={"Authorization": f"Bearer {garbage}".encode()})
            assert response.status_code == 401, f"{garbage[:20]!r} accepted"
            assert_rejected(response)

    async def test_token_of_a_deleted_user(
        self, client: httpx.AsyncClient, claims_for: Callable[..., dict[str, Any]], secret: str, engine: AsyncEngine
    ) -> None:
        token = jwt.encode(claims_for(), secret, algorithm="HS256")
        assert (await call_with(client, token)).status_code == 200
        async with engine.begin() as conn:
            await conn.execute(delete(users).where(users.c.username == ADMIN_USERNAME))
        assert_rejected(await call_with(client, token))


class TestMissingCredentials:
    @pytest.mark.parametrize("header", [{}, {"Authorization": "Basic YWRtaW46YWRtaW4="}, {"Authorization": "Bearer "}])
    async def test_no_usable_credential(self, client: httpx.AsyncClient, header: dict[str, str]) -> None:
        assert_rejected(await client.get(PROTECTED, headers=header))
