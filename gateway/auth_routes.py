"""The auth endpoints the gateway serves itself, and identity errors → HTTP by one table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.domain import (
    BadCredentials,
    EmailTaken,
    IdentityError,
    InvalidInput,
    InvalidRefreshToken,
    RefreshTokenReused,
    UnknownUser,
    User,
)
from gateway.errors import GatewayError, bad_request, unauthenticated
from gateway.handlers import Identity, TokenPair
from gateway.jsonbody import read_json
from gateway.transcode import FORBIDDEN_CHARS
from svckit import auth

# (code, reason, message) per identity error; InvalidInput is a 400 naming its field.
_ERRORS: dict[type[IdentityError], tuple[grpc.StatusCode, str, str]] = {
    EmailTaken: (
        grpc.StatusCode.ALREADY_EXISTS,
        "EMAIL_TAKEN",
        "an account with this e-mail exists",
    ),
    BadCredentials: (
        grpc.StatusCode.UNAUTHENTICATED,
        "INVALID_CREDENTIALS",
        "invalid e-mail or password",
    ),
    InvalidRefreshToken: (
        grpc.StatusCode.UNAUTHENTICATED,
        "INVALID_REFRESH_TOKEN",
        "refresh token is not valid",
    ),
    RefreshTokenReused: (
        grpc.StatusCode.UNAUTHENTICATED,
        "REFRESH_TOKEN_REUSED",
        "refresh token was already used; the session is revoked, log in again",
    ),
    UnknownUser: (grpc.StatusCode.UNAUTHENTICATED, "UNKNOWN_USER", "the token's user is gone"),
}

# Request fields per endpoint: proto name → required; lowerCamelCase spellings are accepted too.
REGISTER_FIELDS = {"email": True, "password": True, "locale": False, "display_name": False}
LOGIN_FIELDS = {"email": True, "password": True}
REFRESH_FIELDS = {"refresh_token": True}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def fields_of(body: Any, spec: dict[str, bool]) -> dict[str, str]:
    """Strict reading: an object of known string fields, both spellings, required ones present."""
    if not isinstance(body, dict):
        raise bad_request("body", "must be a JSON object")
    aliases = {**{n: n for n in spec}, **{_camel(n): n for n in spec}}
    values: dict[str, str] = {}
    for key, value in body.items():
        name = aliases.get(key)
        if name is None:
            raise bad_request(key, "unknown field", "UNKNOWN_FIELD")
        if name in values:
            raise bad_request(name, "set twice")
        if not isinstance(value, str):
            raise bad_request(name, "must be a string")
        if FORBIDDEN_CHARS.search(value):
            raise bad_request(name, "contains a control or bidirectional-override character")
        values[name] = value
    for name, required in spec.items():
        if required and not values.get(name):
            raise bad_request(name, "is required")
    return values


def user_json(user: User) -> dict[str, str]:
    return {
        "userId": user.user_id,
        "email": user.email,
        "role": user.role,
        "locale": user.locale,
        "displayName": user.display_name,
        "createTime": user.create_time.isoformat().replace("+00:00", "Z"),
    }


def pair_json(pair: TokenPair) -> dict[str, object]:
    return {
        "user": user_json(pair.user),
        "accessToken": pair.access_token,
        "refreshToken": pair.refresh_token,
        "tokenType": "Bearer",
        "expiresIn": pair.expires_in,
        "refreshExpiresIn": pair.refresh_expires_in,
    }


def to_gateway_error(exc: IdentityError) -> GatewayError:
    if isinstance(exc, InvalidInput):
        return bad_request(exc.field, exc.description)
    code, reason, message = _ERRORS[type(exc)]
    return GatewayError(code, message, reason=reason)


Handler = Callable[[Request, dict[str, str]], Awaitable[Response]]


class AuthRoutes:
    def __init__(self, identity: Identity, body_limit: int) -> None:
        self.identity = identity
        self.body_limit = body_limit

    async def _fields(self, request: Request, spec: dict[str, bool]) -> dict[str, str]:
        return fields_of(await read_json(request, self.body_limit, required=True), spec)

    async def register(self, request: Request, _: dict[str, str]) -> Response:
        f = await self._fields(request, REGISTER_FIELDS)
        try:
            pair = await self.identity.register(
                f["email"], f["password"], f.get("locale", ""), f.get("display_name", "")
            )
        except IdentityError as exc:
            raise to_gateway_error(exc) from None
        return JSONResponse(pair_json(pair), status_code=201, headers=_no_store())

    async def login(self, request: Request, _: dict[str, str]) -> Response:
        f = await self._fields(request, LOGIN_FIELDS)
        try:
            pair = await self.identity.login(f["email"], f["password"])
        except IdentityError as exc:
            raise to_gateway_error(exc) from None
        return JSONResponse(pair_json(pair), headers=_no_store())

    async def refresh(self, request: Request, _: dict[str, str]) -> Response:
        f = await self._fields(request, REFRESH_FIELDS)
        try:
            pair = await self.identity.refresh(f["refresh_token"])
        except IdentityError as exc:
            raise to_gateway_error(exc) from None
        return JSONResponse(pair_json(pair), headers=_no_store())

    async def logout(self, request: Request, _: dict[str, str]) -> Response:
        f = await self._fields(request, REFRESH_FIELDS)
        try:
            await self.identity.logout(f["refresh_token"])
        except IdentityError as exc:
            raise to_gateway_error(exc) from None
        return Response(status_code=204)

    async def me(self, request: Request, _: dict[str, str]) -> Response:
        try:
            token = auth.bearer(request.headers.get("authorization"))
            user = await self.identity.me(token)
        except auth.TokenError as exc:
            raise unauthenticated(str(exc)) from None
        except IdentityError as exc:
            raise to_gateway_error(exc) from None
        return JSONResponse({"user": user_json(user)}, headers=_no_store())

    def table(self) -> list[tuple[str, str, Handler, str]]:
        """(method, path, handler, rate-limit bucket) of every auth endpoint."""
        return [
            ("POST", "/api/v1/auth/register", self.register, "login"),
            ("POST", "/api/v1/auth/login", self.login, "login"),
            ("POST", "/api/v1/auth/refresh", self.refresh, "login"),
            ("POST", "/api/v1/auth/logout", self.logout, "default"),
            ("GET", "/api/v1/auth/me", self.me, "default"),
        ]


def _no_store() -> dict[str, str]:
    return {"Cache-Control": "no-store"}
