"""OpenAPI description of the auth endpoints (hand-written: they have no proto)."""

from __future__ import annotations

from typing import Any


def auth_paths(errors: dict[str, Any]) -> dict[str, Any]:
    """The paths of the endpoints the gateway serves itself; `errors` are the error responses."""

    def body(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
        return {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": props,
                        "required": required,
                        "additionalProperties": False,
                    }
                }
            },
        }

    tokens = {"$ref": "#/components/schemas/AuthTokens"}
    ok = {"description": "Tokens", "content": {"application/json": {"schema": tokens}}}
    string = {"type": "string"}
    refresh = body({"refreshToken": string}, ["refreshToken"])
    tag = ["auth"]
    return {
        "/api/v1/auth/register": {
            "post": {
                "operationId": "auth_register",
                "tags": tag,
                "summary": "Create a customer account",
                "requestBody": body(
                    {"email": string, "password": string, "locale": string, "displayName": string},
                    ["email", "password"],
                ),
                "responses": {"201": ok, **errors},
            }
        },
        "/api/v1/auth/login": {
            "post": {
                "operationId": "auth_login",
                "tags": tag,
                "summary": "Exchange credentials for tokens",
                "requestBody": body({"email": string, "password": string}, ["email", "password"]),
                "responses": {"200": ok, **errors},
            }
        },
        "/api/v1/auth/refresh": {
            "post": {
                "operationId": "auth_refresh",
                "tags": tag,
                "summary": "Rotate a refresh token (a reused one revokes its session)",
                "requestBody": refresh,
                "responses": {"200": ok, **errors},
            }
        },
        "/api/v1/auth/logout": {
            "post": {
                "operationId": "auth_logout",
                "tags": tag,
                "summary": "Revoke the session",
                "requestBody": refresh,
                "responses": {"204": {"description": "Revoked"}, **errors},
            }
        },
        "/api/v1/auth/me": {
            "get": {
                "operationId": "auth_me",
                "tags": tag,
                "summary": "The caller's account",
                "security": [{"bearerAuth": []}],
                "responses": {
                    "200": {
                        "description": "The user",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "user": {"$ref": "#/components/schemas/AuthUser"}
                                    },
                                }
                            }
                        },
                    },
                    **errors,
                },
            }
        },
    }


def auth_schemas() -> dict[str, Any]:
    string = {"type": "string"}
    return {
        "AuthUser": {
            "type": "object",
            "properties": {
                "userId": string,
                "email": string,
                "role": {"type": "string", "enum": ["customer", "admin"]},
                "locale": string,
                "displayName": string,
                "createTime": {"type": "string", "format": "date-time"},
            },
        },
        "AuthTokens": {
            "type": "object",
            "properties": {
                "user": {"$ref": "#/components/schemas/AuthUser"},
                "accessToken": string,
                "refreshToken": string,
                "tokenType": string,
                "expiresIn": {"type": "integer"},
                "refreshExpiresIn": {"type": "integer"},
            },
        },
    }
