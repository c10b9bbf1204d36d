"""The identity schema (users, refresh tokens) and its queries on the psycopg pool."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
)

from gateway.domain import User

SCHEMA = "identity"
metadata = MetaData(schema=SCHEMA)

users = Table(
    "users",
    metadata,
    Column("user_id", Uuid, primary_key=True),
    Column("email", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("locale", Text, nullable=False, server_default=""),
    Column("display_name", Text, nullable=False, server_default=""),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("update_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("email = lower(email)", name="users_email_lower"),
    CheckConstraint("role IN ('customer', 'admin')", name="users_role_known"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_id", Uuid, primary_key=True),
    Column("family_id", Uuid, nullable=False),
    Column("user_id", Uuid, ForeignKey(users.c.user_id, ondelete="CASCADE"), nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("issue_time", DateTime(timezone=True), nullable=False),
    Column("expire_time", DateTime(timezone=True), nullable=False),
    Column("rotate_time", DateTime(timezone=True)),
    Column("revoke_time", DateTime(timezone=True)),
    CheckConstraint("expire_time > issue_time", name="refresh_tokens_expiry_after_issue"),
    Index("refresh_tokens_family", "family_id"),
)

_USER_COLUMNS = "user_id::text, email, role, locale, display_name, create_time"


def _user(row: dict[str, Any]) -> User:
    return User(
        user_id=row["user_id"],
        email=row["email"],
        role=row["role"],
        locale=row["locale"],
        display_name=row["display_name"],
        create_time=row["create_time"],
    )


async def insert_user(
    conn: AsyncConnection,
    user_id: str,
    email: str,
    password_hash: str,
    role: str,
    locale: str,
    display_name: str,
) -> User | None:
    """The new user, or None when the e-mail is taken."""
    cur = await conn.execute(
        f"""INSERT INTO identity.users (user_id, email, password_hash, role, locale, display_name)
            VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (email) DO NOTHING
            RETURNING {_USER_COLUMNS}""",
        (user_id, email, password_hash, role, locale, display_name),
    )
    row = await cur.fetchone()
    return _user(row) if row else None  # type: ignore[arg-type]


async def user_with_hash(conn: AsyncConnection, email: str) -> tuple[User, str] | None:
    cur = await conn.execute(
        f"SELECT {_USER_COLUMNS}, password_hash FROM identity.users WHERE email = %s", (email,)
    )
    row: dict[str, Any] | None = await cur.fetchone()  # type: ignore[assignment]
    return (_user(row), row["password_hash"]) if row else None


async def user_by_id(conn: AsyncConnection, user_id: str) -> User | None:
    cur = await conn.execute(
        f"SELECT {_USER_COLUMNS} FROM identity.users WHERE user_id = %s", (user_id,)
    )
    row = await cur.fetchone()
    return _user(row) if row else None  # type: ignore[arg-type]


async def update_hash(conn: AsyncConnection, user_id: str, password_hash: str) -> None:
    await conn.execute(
        "UPDATE identity.users SET password_hash = %s, update_time = now() WHERE user_id = %s",
        (password_hash, user_id),
    )


async def insert_refresh(
    conn: AsyncConnection,
    token_id: str,
    family_id: str,
    user_id: str,
    token_hash: str,
    issue_time: datetime,
    expire_time: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO identity.refresh_tokens
             (token_id, family_id, user_id, token_hash, issue_time, expire_time)
           VALUES (%s, %s, %s, %s, %s, %s)""",
        (token_id, family_id, user_id, token_hash, issue_time, expire_time),
    )


async def refresh_for_update(conn: AsyncConnection, token_hash: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        """SELECT token_id::text, family_id::text, user_id::text, expire_time, rotate_time,
                  revoke_time
             FROM identity.refresh_tokens WHERE token_hash = %s FOR UPDATE""",
        (token_hash,),
    )
    return await cur.fetchone()  # type: ignore[return-value]


async def mark_rotated(conn: AsyncConnection, token_id: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE identity.refresh_tokens SET rotate_time = %s WHERE token_id = %s", (now, token_id)
    )


async def revoke_family(conn: AsyncConnection, family_id: str, now: datetime) -> int:
    cur = await conn.execute(
        """UPDATE identity.refresh_tokens SET revoke_time = %s
            WHERE family_id = %s AND revoke_time IS NULL""",
        (now, family_id),
    )
    return cur.rowcount


async def upsert_user(
    conn: AsyncConnection,
    user_id: str,
    email: str,
    password_hash: str,
    role: str,
    locale: str,
    display_name: str,
) -> None:
    """Seeding: create the account or reset its password and role to the demo values."""
    await conn.execute(
        """INSERT INTO identity.users (user_id, email, password_hash, role, locale, display_name)
           VALUES (%s, %s, %s, %s, %s, %s)
           ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash,
             role = EXCLUDED.role, locale = EXCLUDED.locale,
             display_name = EXCLUDED.display_name, update_time = now()""",
        (user_id, email, password_hash, role, locale, display_name),
    )
