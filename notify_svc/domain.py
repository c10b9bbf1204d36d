"""Notification rules: channels, statuses, validation, SMS segments, webhook signatures, errors."""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

TEMPLATES = ("ORDER_CONFIRMED", "ORDER_CANCELLED", "PAYMENT_FAILED")
LOCALES = ("en", "es")
DEFAULT_LOCALE = "en"


class Channel(enum.StrEnum):
    EMAIL = "EMAIL"
    SMS = "SMS"
    WEBHOOK = "WEBHOOK"


class DeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    BOUNCED = "BOUNCED"
    FAILED = "FAILED"
    SUPPRESSED = "SUPPRESSED"

    @property
    def settled(self) -> bool:
        return self is not DeliveryStatus.PENDING


class AttemptOutcome(enum.StrEnum):
    DELIVERED = "DELIVERED"
    TRANSIENT_ERROR = "TRANSIENT_ERROR"
    PERMANENT_ERROR = "PERMANENT_ERROR"


# --- errors -------------------------------------------------------------------------------------


class NotifyError(Exception):
    """Raised when a notification request cannot be served; subclasses name the condition."""


class InvalidRequest(NotifyError):
    """Raised when a request has invalid fields; carries every (field, description) found."""

    def __init__(self, violations: list[tuple[str, str]]) -> None:
        super().__init__("invalid request: " + ", ".join(f for f, _ in violations))
        self.violations = violations


class IdempotencyKeyReused(NotifyError):
    """Raised when an idempotency key comes back with a request different from its first one."""


class NotificationsNotFound(NotifyError):
    """Raised when an order has no notifications the caller may see."""


class NotAllowed(NotifyError):
    """Raised when the caller's role may not perform the operation."""


class DeliveryPending(NotifyError):
    """Raised when a channel is still failing transiently after this call's retries."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeliveryInProgress(NotifyError):
    """Raised when another call is delivering the same key and did not finish in time."""


# --- values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineItem:
    name: str
    quantity: int
    line_total: str
    unit_price: str = ""


@dataclass(frozen=True)
class SendCommand:
    """A Send request in domain terms."""

    idempotency_key: str
    order_id: str
    customer_id: str
    template: str
    locale: str
    variables: dict[str, str]
    items: tuple[LineItem, ...]
    channels: tuple[Channel, ...]
    email: str = ""
    phone: str = ""
    callback_url: str = ""

    def fingerprint(self) -> str:
        """A digest of everything that shapes the notification (key reuse detection)."""
        canonical = json.dumps(
            {
                "order_id": self.order_id,
                "customer_id": self.customer_id,
                "template": self.template,
                "locale": self.locale,
                "variables": self.variables,
                "items": [vars(item) for item in self.items],
                "channels": sorted(self.channels),
                "email": self.email,
                "phone": self.phone,
                "callback_url": self.callback_url,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def context(self) -> dict[str, object]:
        """The template variables: the request's map plus order_id and items."""
        return {
            **self.variables,
            "order_id": self.order_id,
            "items": [vars(item) for item in self.items],
        }

    def destination(self, channel: Channel) -> str:
        return {
            Channel.EMAIL: self.email,
            Channel.SMS: self.phone,
            Channel.WEBHOOK: self.callback_url,
        }[channel]


@dataclass(frozen=True)
class Rendered:
    locale: str
    subject: str
    text: str
    html: str
    sms: str


@dataclass(frozen=True)
class AttemptResult:
    """What one delivery attempt came to, and the channel status it leaves behind."""

    outcome: AttemptOutcome
    status: DeliveryStatus
    provider_message_id: str = ""
    error: str = ""
    # Transient only: False when retrying inside this call cannot help (e.g. a rate limit).
    retry_now: bool = True
    retry_after: float | None = None

    @classmethod
    def delivered(cls, provider_message_id: str) -> AttemptResult:
        return cls(AttemptOutcome.DELIVERED, DeliveryStatus.DELIVERED, provider_message_id)

    @classmethod
    def transient(
        cls, error: str, *, retry_now: bool = True, retry_after: float | None = None
    ) -> AttemptResult:
        return cls(
            AttemptOutcome.TRANSIENT_ERROR,
            DeliveryStatus.PENDING,
            error=error,
            retry_now=retry_now,
            retry_after=retry_after,
        )

    @classmethod
    def permanent(cls, status: DeliveryStatus, error: str) -> AttemptResult:
        return cls(AttemptOutcome.PERMANENT_ERROR, status, error=error)


@dataclass
class Attempt:
    number: int
    attempt_time: float
    outcome: AttemptOutcome
    provider_message_id: str
    error: str
    duration_ms: int


@dataclass
class Delivery:
    channel: Channel
    status: DeliveryStatus
    destination: str
    provider_message_id: str = ""
    last_error: str = ""
    attempt_count: int = 0
    attempts: list[Attempt] = field(default_factory=list)


@dataclass
class Notification:
    """A stored notification with its rendered content and per-channel deliveries."""

    notification_id: str
    idempotency_key: str
    fingerprint: str
    order_id: str
    customer_id: str
    template: str
    locale: str
    subject: str
    text: str
    html: str
    sms: str
    email: str
    phone: str
    callback_url: str
    variables: dict[str, str]
    items: list[dict[str, object]]
    create_time: float
    update_time: float
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        return all(d.status.settled for d in self.deliveries)

    def pending(self) -> list[Delivery]:
        return [d for d in self.deliveries if not d.status.settled]


# --- rules --------------------------------------------------------------------------------------

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Deliberately plain: one @, a dotted domain, no spaces or angle brackets (header injection).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(r"^[^@\s<>,;\"]{1,64}@" + _LABEL + r"(?:\." + _LABEL + r")+$")


def is_e164(phone: str) -> bool:
    return bool(_E164.fullmatch(phone))


def is_email(address: str) -> bool:
    return len(address) <= 254 and bool(_EMAIL.fullmatch(address))


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a webhook target, or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        return f"not a URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username or parts.password:
        return "must not carry credentials"
    return None


def resolve_locale(requested: str) -> str:
    """'es', 'es-ES', 'es_MX' -> 'es'; anything without a translation -> English."""
    language = requested.replace("_", "-").split("-")[0].strip().lower()
    return language if language in LOCALES else DEFAULT_LOCALE


def validate(command: SendCommand) -> None:
    """Raises InvalidRequest with every violation of the request."""
    problems: list[tuple[str, str]] = []
    if not command.idempotency_key.strip():
        problems.append(("idempotency_key", "is required"))
    elif len(command.idempotency_key) > 200:
        problems.append(("idempotency_key", "must be at most 200 characters"))
    if not command.order_id.strip():
        problems.append(("order_id", "is required"))
    if command.template not in TEMPLATES:
        problems.append(("template", f"must be one of {', '.join(TEMPLATES)}"))
    if not command.channels:
        problems.append(("channels", "at least one channel is required"))
    elif len(set(command.channels)) != len(command.channels):
        problems.append(("channels", "must not repeat a channel"))
    if Channel.EMAIL in command.channels and not is_email(command.email):
        problems.append(("recipient.email", "must be a valid email address"))
    if Channel.SMS in command.channels and not is_e164(command.phone):
        problems.append(("recipient.phone", "must be an E.164 number such as +34600111222"))
    if Channel.WEBHOOK in command.channels:
        problem = url_problem(command.callback_url)
        if problem:
            problems.append(("callback_url", problem))
    for index, item in enumerate(command.items):
        if item.quantity < 1:
            problems.append((f"items[{index}].quantity", "must be at least 1"))
    if problems:
        raise InvalidRequest(problems)


# GSM 03.38: the basic set costs one septet, the extension table two (escape + char).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsEncoding:
    encoding: str
    units: int
    segments: int


def sms_segments(text: str) -> SmsEncoding:
    """GSM-7 when every character fits (160 per message, 153 per part), else UCS-2 (70 / 67)."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text):
        units = sum(2 if ch in _GSM_EXTENDED else 1 for ch in text)
        single, part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = 70, 67, "UCS-2"
    segments = 1 if units <= single else math.ceil(units / part)
    return SmsEncoding(encoding, units, segments)


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of f"{timestamp}.{body}" under the shared secret (Stripe's scheme)."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_webhook_signature(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(webhook_signature(secret, timestamp, body), signature)
