"""Identity rules: e-mail normalisation, the password policy and the auth error hierarchy."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

MIN_PASSWORD = 10
MAX_PASSWORD = 128
MAX_EMAIL = 254
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
ROLES = ("customer", "admin")


class IdentityError(Exception):
    """Raised when an auth use case cannot be carried out (base of the hierarchy)."""


class InvalidInput(IdentityError):
    """Raised when a field of an auth request breaks a rule; `field` names it."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field
        self.description = description


class EmailTaken(IdentityError):
    """Raised when registering an e-mail address that already has an account."""


class BadCredentials(IdentityError):
    """Raised when an e-mail/password pair does not match an account (which one is not said)."""


class InvalidRefreshToken(IdentityError):
    """Raised when a refresh token is unknown, expired, revoked or forged."""


class RefreshTokenReused(IdentityError):
    """Raised when an already rotated refresh token comes back: its whole family is revoked."""


class UnknownUser(IdentityError):
    """Raised when a valid token names a user that no longer exists."""


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    role: str
    locale: str
    display_name: str
    create_time: datetime


def normalise_email(raw: str) -> str:
    """NFKC, trimmed, lower-cased; the whole address is compared case-insensitively."""
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        raise InvalidInput("email", "is not a valid e-mail address")
    return email


def check_password(password: str, email: str) -> None:
    """At least 10 characters (at most 128), a letter and a digit, not the e-mail's name."""
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("password", f"must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput("password", f"must have at most {MAX_PASSWORD} characters")
    if not any(c.isalpha() for c in password) or not any(c.isdigit() for c in password):
        raise InvalidInput("password", "must contain a letter and a digit")
    local = email.split("@", 1)[0]
    if len(local) >= 4 and local in password.lower():
        raise InvalidInput("password", "must not contain the e-mail address")
    if len(set(password)) < 4:
        raise InvalidInput("password", "is too repetitive")


def check_locale(locale: str) -> str:
    if locale and not _LOCALE.match(locale):
        raise InvalidInput("locale", "must be a language tag such as 'en' or 'es-ES'")
    return locale


def check_display_name(name: str) -> str:
    name = name.strip()
    if len(name) > 100:
        raise InvalidInput("display_name", "must have at most 100 characters")
    return name
