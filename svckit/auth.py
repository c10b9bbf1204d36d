"""JWT access tokens: issuing, verifying (algorithm pinned) and the caller's principal."""

from __future__ import annotations

import contextvars
import time
import uuid
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
ISSUER = "shop-platform"
ROLES = ("customer", "admin", "service")


class TokenError(Exception):
    """Raised when a bearer token is missing, malformed, expired, forged or of the wrong type."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: token subject, role and the contact claims the saga needs."""

    subject: str
    role: str
    email: str = ""
    locale: str = ""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_service(self) -> bool:
        return self.role == "service"


current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "current_principal", default=None
)


def issue_token(
    secret: str,
    subject: str,
    role: str,
    *,
    ttl_seconds: float,
    email: str = "",
    locale: str = "",
    token_type: str = "access",
    now: float | None = None,
    extra: dict[str, object] | None = None,
) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    issued = int(now if now is not None else time.time())
    claims: dict[str, object] = {
        "iss": ISSUER,
        "sub": subject,
        "role": role,
        "typ": token_type,
        "iat": issued,
        "exp": issued + int(ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    if email:
        claims["email"] = email
    if locale:
        claims["locale"] = locale
    claims.update(extra or {})
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str, *, token_type: str = "access") -> dict[str, object]:
    """The verified claims of a token of the given type."""
    if not token:
        raise TokenError("missing bearer token")
    try:
        claims: dict[str, object] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token: {exc}") from None
    if claims.get("typ") != token_type:
        raise TokenError(f"not an {token_type} token")
    if claims.get("role") not in ROLES:
        raise TokenError("token has no valid role")
    return claims


def verify_access_token(secret: str, token: str) -> Principal:
    claims = decode_token(secret, token)
    return Principal(
        subject=str(claims["sub"]),
        role=str(claims["role"]),
        email=str(claims.get("email", "")),
        locale=str(claims.get("locale", "")),
    )


def bearer(header_value: str | None) -> str:
    """The token of an `authorization: Bearer <token>` value."""
    if not header_value:
        raise TokenError("missing authorization metadata")
    scheme, _, token = header_value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenError("authorization must be 'Bearer <token>'")
    return token.strip()
