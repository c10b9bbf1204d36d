"""Auth served by the gateway: register, login, rotating refresh tokens, logout, me."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid

import httpx
import jwt
import psycopg
import pytest

from svckit import auth
from tests.gateway.conftest import assert_status_body, reason, violation_fields

pytestmark = pytest.mark.integration

PASSWORD = "correct horse 42"


def new_email() -> str:
    return f"User.{uuid.uuid4().hex[:10]}@Example.COM"


async def register(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/api/v1/auth/register", json={"email": email, "password": password})


async def test_register_normalises_email_and_returns_tokens(
    client: httpx.AsyncClient, secret: str
) -> None:
    email = new_email()
    response = await register(client, f"  {email} ")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["user"]["email"] == email.lower()
    assert body["user"]["role"] == "customer"
    assert body["tokenType"] == "Bearer" and body["expiresIn"] == 900
    principal = auth.verify_access_token(secret, body["accessToken"])
    assert principal.subject == body["user"]["userId"] and principal.email == email.lower()
    assert response.headers["cache-control"] == "no-store"


async def test_register_same_email_any_case_is_409(client: httpx.AsyncClient) -> None:
    email = new_email()
    assert (await register(client, email)).status_code == 201
    body = assert_status_body(await register(client, email.upper()), 409, 6)
    assert reason(body) == "EMAIL_TAKEN"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@b.co", "password": "short1"}, "password"),
        ({"email": "a@b.co", "password": "onlyletterslong"}, "password"),
        ({"email": "a@b.co", "password": "x" * 129 + "1"}, "password"),
        ({"email": "somebody@b.co", "password": "somebody12345"}, "password"),
        ({"email": "a@b.co"}, "password"),
        ({"email": "a@b.co", "password": 1234567890}, "password"),
        ({"email": "a@b.co", "password": PASSWORD, "role": "admin"}, "role"),
        ({"email": "a@b.co", "password": PASSWORD, "locale": "english please"}, "locale"),
    ],
)
async def test_register_rejects_bad_input_naming_the_field(
    client: httpx.AsyncClient, payload: dict[str, object], field: str
) -> None:
    body = assert_status_body(await client.post("/api/v1/auth/register", json=payload), 400, 3)
    assert violation_fields(body) == [field]


async def test_login_then_me(client: httpx.AsyncClient) -> None:
    email = new_email()
    await client.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "locale": "es", "displayName": "Ana"},
    )
    login = await client.post(
        "/api/v1/auth/login", json={"email": email.upper(), "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    token = login.json()["accessToken"]
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["user"]["locale"] == "es" and me.json()["user"]["displayName"] == "Ana"


async def test_login_failures_do_not_tell_which_part_was_wrong(client: httpx.AsyncClient) -> None:
    email = new_email()
    await register(client, email)
    wrong_password = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": "wrong password 1"}
    )
    no_such_user = await client.post(
        "/api/v1/auth/login", json={"email": new_email(), "password": PASSWORD}
    )
    for response in (wrong_password, no_such_user):
        body = assert_status_body(response, 401, 16)
        assert reason(body) == "INVALID_CREDENTIALS"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert wrong_password.json() == no_such_user.json()


async def test_refresh_rotates_and_reuse_revokes_the_family(client: httpx.AsyncClient) -> None:
    # Given a session
    first = (await register(client, new_email())).json()["refreshToken"]
    # When the refresh token is rotated twice
    second_pair = await client.post("/api/v1/auth/refresh", json={"refreshToken": first})
    assert second_pair.status_code == 200, second_pair.text
    second = second_pair.json()["refreshToken"]
    third = (await client.post("/api/v1/auth/refresh", json={"refresh_token": second})).json()[
        "refreshToken"
    ]
    # And the first (already rotated) token is presented again
    reused = await client.post("/api/v1/auth/refresh", json={"refreshToken": first})
    # Then it is refused as a reuse, and the newest token of the family is dead too
    assert reason(assert_status_body(reused, 401, 16)) == "REFRESH_TOKEN_REUSED"
    after = await client.post("/api/v1/auth/refresh", json={"refreshToken": third})
    assert reason(assert_status_body(after, 401, 16)) == "INVALID_REFRESH_TOKEN"


async def test_other_sessions_survive_a_family_revocation(client: httpx.AsyncClient) -> None:
    email = new_email()
    await register(client, email)
    login = lambda: client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})  # noqa: E731
    phone = (await login()).json()["refreshToken"]
    laptop = (await login()).json()["refreshToken"]
    await client.post("/api/v1/auth/refresh", json={"refreshToken": phone})
    await client.post("/api/v1/auth/refresh", json={"refreshToken": phone})  # reuse
    assert (
        await client.post("/api/v1/auth/refresh", json={"refreshToken": laptop})
    ).status_code == 200


async def test_logout_revokes(client: httpx.AsyncClient) -> None:
    token = (await register(client, new_email())).json()["refreshToken"]
    assert (
        await client.post("/api/v1/auth/logout", json={"refreshToken": token})
    ).status_code == 204
    response = await client.post("/api/v1/auth/refresh", json={"refreshToken": token})
    assert_status_body(response, 401, 16)


async def test_refresh_tokens_are_stored_hashed(
    client: httpx.AsyncClient, database_url: str
) -> None:
    token = (await register(client, new_email())).json()["refreshToken"]
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM identity.refresh_tokens WHERE token_hash = %s", (token,)
        ).fetchone()
        stored = conn.execute("SELECT password_hash FROM identity.users LIMIT 1").fetchone()
    assert rows == (0,)
    assert stored is not None and stored[0].startswith("$argon2id$")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def bad_tokens(secret: str, good: str, refresh: str) -> dict[str, str | None]:
    """Every way a bearer token can be wrong, by name (None: no Authorization header)."""
    now = time.time()
    header, _, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    claims_admin = {**claims, "role": "admin"}
    return {
        "none": None,
        "empty bearer": "Bearer ",
        "expired": "Bearer "
        + auth.issue_token(secret, claims["sub"], "customer", ttl_seconds=60, now=now - 3600),
        "wrong key": "Bearer "
        + auth.issue_token(
            "another-secret-of-sufficient-length-0000", claims["sub"], "customer", ttl_seconds=60
        ),
        "alg none": "Bearer " + _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + ".",
        "tampered payload": f"Bearer {header}.{_b64(claims_admin)}.{signature}",
        "refresh as access": f"Bearer {refresh}",
        "garbage": "Bearer abc.def.ghi",
    }


async def test_tokens_table_on_me(client: httpx.AsyncClient, secret: str) -> None:
    pair = (await register(client, new_email())).json()
    for name, value in bad_tokens(secret, pair["accessToken"], pair["refreshToken"]).items():
        headers = {"Authorization": value} if value is not None else {}
        response = await client.get("/api/v1/auth/me", headers=headers)
        assert response.status_code == 401, name
        assert_status_body(response, 401, 16)
        assert response.headers["www-authenticate"].startswith("Bearer"), name


async def test_racing_registrations_create_one_account(client: httpx.AsyncClient) -> None:
    email = new_email()
    responses = await asyncio.gather(*(register(client, email) for _ in range(6)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5


async def test_racing_refreshes_rotate_once(client: httpx.AsyncClient) -> None:
    # Given one refresh token presented six times at once
    token = (await register(client, new_email())).json()["refreshToken"]
    responses = await asyncio.gather(
        *(client.post("/api/v1/auth/refresh", json={"refreshToken": token}) for _ in range(6))
    )
    # Then exactly one rotation happens; the others are reuses (which revoke the family)
    assert sorted(r.status_code for r in responses) == [200] + [401] * 5
    refused = {reason(r.json()) for r in responses if r.status_code == 401}
    # (the first reuse revokes the family; later ones meet a revoked token)
    assert "REFRESH_TOKEN_REUSED" in refused
    assert refused <= {"REFRESH_TOKEN_REUSED", "INVALID_REFRESH_TOKEN"}
