"""Demo accounts `make run` creates: idempotent, and the printed passwords always work."""

from __future__ import annotations

import asyncio
import os
import uuid

import psycopg

from gateway.passwords import Passwords
from svckit.db import libpq_url

# (email, password, role, locale, display name); passwords may be overridden by environment.
DEMO_USERS: list[tuple[str, str, str, str, str]] = [
    ("admin@example.com", "admin-demo-pass-1", "admin", "en", "Demo admin"),
    ("alice@example.com", "alice-demo-pass-1", "customer", "en", "Alice"),
    ("bob@example.com", "bob-demo-pass-1", "customer", "es", "Bob"),
]


def seed_users(url: str, passwords: Passwords | None = None) -> list[tuple[str, str, str]]:
    """Creates the demo users or resets them to the demo password; returns (email, pw, role)."""
    hasher = passwords or Passwords()
    created: list[tuple[str, str, str]] = []
    with psycopg.connect(libpq_url(url)) as conn:
        for email, default_password, role, locale, name in DEMO_USERS:
            env_key = f"SEED_{email.split('@')[0].upper()}_PASSWORD"
            password = os.environ.get(env_key) or default_password
            conn.execute(
                """INSERT INTO identity.users
                     (user_id, email, password_hash, role, locale, display_name)
                   VALUES (%s, %s, %s, %s, %s, %s)
                   ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash,
                     role = EXCLUDED.role, locale = EXCLUDED.locale,
                     display_name = EXCLUDED.display_name, update_time = now()""",
                (str(uuid.uuid4()), email, hasher.hash_sync(password), role, locale, name),
            )
            created.append((email, password, role))
    return created


def curl_walkthrough(base: str = "http://localhost:8080") -> list[str]:
    """Shell lines that log in as Alice, place an order and watch it to the end."""
    email, password = DEMO_USERS[1][0], DEMO_USERS[1][1]
    pick = "python3 -c 'import json,sys; print(json.load(sys.stdin)%s)'"
    return [
        f"TOKEN=$(curl -s {base}/api/v1/auth/login -H 'Content-Type: application/json' "
        f'-d \'{{"email": "{email}", "password": "{password}"}}\' | '
        + pick % '["accessToken"]'
        + ")",
        f"PRODUCT=$(curl -s '{base}/api/v1/products?query=KB-001' | "
        + pick % '["products"][0]["productId"]'
        + ")",
        f'ORDER=$(curl -s -i {base}/api/v1/orders -H "Authorization: Bearer $TOKEN" '
        "-H 'Content-Type: application/json' -H \"Idempotency-Key: demo-$RANDOM\" "
        '-d "{\\"items\\": [{\\"productId\\": \\"$PRODUCT\\", \\"quantity\\": 1}]}" '
        "| tee /dev/stderr | sed -n 's|^location: /api/v1/orders/||Ip' | tr -d '\\r')",
        f'curl -sN {base}/api/v1/orders/$ORDER:watch -H "Authorization: Bearer $TOKEN"',
    ]


async def seed_demo_users(database_url: str) -> str:
    """devstack seeder: the demo accounts, then the curl sequence to try (one printed block)."""
    users = await asyncio.to_thread(seed_users, database_url)
    lines = ["users (email / password) for the gateway at http://localhost:8080:"]
    lines += [f"  {email} / {password}  ({role})" for email, password, role in users]
    lines += ["", "Try the HTTP API (log in as Alice, place an order, watch it):"]
    lines += [f"  {line}" for line in curl_walkthrough()]
    lines += ["API docs: http://localhost:8080/docs"]
    # The launcher indents the first line; the block keeps that indentation on every line.
    return "\n  ".join(lines)
