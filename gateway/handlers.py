"""Auth use cases, each owning its transaction: register, login, refresh, logout, me."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg_pool import AsyncConnectionPool

from gateway import store
from gateway.domain import (
    BadCredentials,
    EmailTaken,
    IdentityError,
    InvalidRefreshToken,
    RefreshTokenReused,
    UnknownUser,
    User,
    check_display_name,
    check_locale,
    check_password,
    normalise_email,
)
from gateway.passwords import Passwords
from svckit import auth


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    user: User


@dataclass
class Identity:
    """The auth use cases over the identity schema."""

    pool: AsyncConnectionPool
    passwords: Passwords
    secret: str
    access_ttl: float
    refresh_ttl: float

    async def register(
        self, email: str, password: str, locale: str = "", display_name: str = ""
    ) -> TokenPair:
        email = normalise_email(email)
        check_password(password, email)
        locale = check_locale(locale)
        display_name = check_display_name(display_name)
        hashed = await self.passwords.hash(password)
        async with self.pool.connection() as conn, conn.transaction():
            user = await store.insert_user(
                conn, str(uuid.uuid4()), email, hashed, "customer", locale, display_name
            )
            if user is None:
                raise EmailTaken(email)
            return await self._issue(conn, user, str(uuid.uuid4()))

    async def login(self, email: str, password: str) -> TokenPair:
        try:
            email = normalise_email(email)
        except IdentityError:
            email = ""
        async with self.pool.connection() as conn:
            found = await store.user_with_hash(conn, email) if email else None
        stored = found[1] if found else None
        # Verify even when there is no account, so timing does not tell which e-mails exist.
        if not await self.passwords.verify(stored, password) or found is None:
            raise BadCredentials()
        user, stored_hash = found
        async with self.pool.connection() as conn, conn.transaction():
            if self.passwords.needs_rehash(stored_hash):
                await store.update_hash(conn, user.user_id, await self.passwords.hash(password))
            return await self._issue(conn, user, str(uuid.uuid4()))

    async def refresh(self, refresh_token: str) -> TokenPair:
        self._decode_refresh(refresh_token)
        now = datetime.now(UTC)
        async with self.pool.connection() as conn:
            async with conn.transaction():
                row = await store.refresh_for_update(conn, _digest(refresh_token))
                if row is None or row["revoke_time"] is not None or row["expire_time"] <= now:
                    raise InvalidRefreshToken()
                if row["rotate_time"] is not None:
                    await store.revoke_family(conn, row["family_id"], now)
                    reused = True
                else:
                    reused = False
                    await store.mark_rotated(conn, row["token_id"], now)
                    user = await store.user_by_id(conn, row["user_id"])
                    if user is None:
                        raise InvalidRefreshToken()
                    pair = await self._issue(conn, user, row["family_id"])
            # Raised after commit: the family's revocation must stick.
            if reused:
                raise RefreshTokenReused()
            return pair

    async def logout(self, refresh_token: str) -> None:
        """Revokes the token's whole family (this session on every device it was rotated to)."""
        self._decode_refresh(refresh_token)
        async with self.pool.connection() as conn, conn.transaction():
            row = await store.refresh_for_update(conn, _digest(refresh_token))
            if row is None:
                raise InvalidRefreshToken()
            await store.revoke_family(conn, row["family_id"], datetime.now(UTC))

    async def me(self, access_token: str) -> User:
        principal = auth.verify_access_token(self.secret, access_token)
        try:
            uuid.UUID(principal.subject)
        except ValueError:
            raise UnknownUser() from None
        async with self.pool.connection() as conn:
            user = await store.user_by_id(conn, principal.subject)
        if user is None:
            raise UnknownUser()
        return user

    def _decode_refresh(self, token: str) -> None:
        try:
            auth.decode_token(self.secret, token, token_type="refresh")
        except auth.TokenError:
            raise InvalidRefreshToken() from None

    async def _issue(self, conn: object, user: User, family_id: str) -> TokenPair:
        access = auth.issue_token(
            self.secret,
            user.user_id,
            user.role,
            ttl_seconds=self.access_ttl,
            email=user.email,
            locale=user.locale,
        )
        refresh = auth.issue_token(
            self.secret,
            user.user_id,
            user.role,
            ttl_seconds=self.refresh_ttl,
            token_type="refresh",
            extra={"fam": family_id},
        )
        now = datetime.now(UTC)
        await store.insert_refresh(
            conn,  # type: ignore[arg-type]
            str(uuid.uuid4()),
            family_id,
            user.user_id,
            _digest(refresh),
            now,
            now + timedelta(seconds=self.refresh_ttl),
        )
        return TokenPair(access, refresh, int(self.access_ttl), int(self.refresh_ttl), user)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
