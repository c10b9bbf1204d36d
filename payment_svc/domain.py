"""Payments: money rules, request validation, idempotency hashes and the error hierarchy."""

from __future__ import annotations

import enum
import hashlib
import json
import re
from dataclasses import dataclass

# ISO 4217 currencies accepted; all of them have two decimal places.
CURRENCIES = frozenset({"EUR", "USD", "GBP", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN"})
MAX_AMOUNT_MINOR = 10**12  # far above the fraud threshold; keeps sums well inside bigint
MAX_KEY_LENGTH = 255
MAX_ID_LENGTH = 128
MAX_TEXT_LENGTH = 500
_METHOD = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class PaymentStatus(enum.StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    DECLINED = "DECLINED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


CAPTURED_STATUSES = frozenset(
    {PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
)


class Outcome(enum.StrEnum):
    """What one gateway attempt came to (the attempts table's `outcome`)."""

    IN_FLIGHT = "IN_FLIGHT"
    SUCCEEDED = "SUCCEEDED"
    DECLINED = "DECLINED"
    FRAUD_SUSPECTED = "FRAUD_SUSPECTED"
    TRANSIENT = "TRANSIENT"
    VELOCITY_LIMITED = "VELOCITY_LIMITED"
    ABANDONED = "ABANDONED"


@dataclass(frozen=True)
class Money:
    currency_code: str
    amount_minor: int


@dataclass(frozen=True)
class ChargeCommand:
    idempotency_key: str
    order_id: str
    customer_id: str
    amount: Money
    payment_method: str
    description: str

    def request_hash(self) -> str:
        """Fingerprint of everything but the key: a reused key with other parameters differs."""
        return _digest(
            {
                "order_id": self.order_id,
                "customer_id": self.customer_id,
                "currency": self.amount.currency_code,
                "amount_minor": self.amount.amount_minor,
                "payment_method": self.payment_method,
                "description": self.description,
            }
        )


@dataclass(frozen=True)
class RefundCommand:
    idempotency_key: str
    payment_id: str
    amount: Money | None  # None: everything not yet refunded
    reason: str
    actor: str

    def request_hash(self) -> str:
        return _digest(
            {
                "payment_id": self.payment_id,
                "currency": self.amount.currency_code if self.amount else None,
                "amount_minor": self.amount.amount_minor if self.amount else None,
                "reason": self.reason,
            }
        )


def _digest(fields: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def check_money(field: str, money: Money | None, out: list[tuple[str, str]]) -> None:
    if money is None:
        out.append((field, "required"))
        return
    if money.currency_code not in CURRENCIES:
        out.append(
            (f"{field}.currency_code", f"unsupported currency; use one of {sorted(CURRENCIES)}")
        )
    if money.amount_minor <= 0:
        out.append((f"{field}.amount_minor", "must be greater than zero"))
    elif money.amount_minor > MAX_AMOUNT_MINOR:
        out.append((f"{field}.amount_minor", f"must be at most {MAX_AMOUNT_MINOR}"))


def _check_text(
    field: str, value: str, limit: int, required: bool, out: list[tuple[str, str]]
) -> None:
    if required and not value.strip():
        out.append((field, "required"))
    elif len(value) > limit:
        out.append((field, f"at most {limit} characters"))


def charge_violations(cmd: ChargeCommand, amount_given: bool) -> list[tuple[str, str]]:
    """Field violations of a charge request (empty when valid)."""
    out: list[tuple[str, str]] = []
    _check_text("idempotency_key", cmd.idempotency_key, MAX_KEY_LENGTH, True, out)
    _check_text("order_id", cmd.order_id, MAX_ID_LENGTH, True, out)
    _check_text("customer_id", cmd.customer_id, MAX_ID_LENGTH, True, out)
    check_money("amount", cmd.amount if amount_given else None, out)
    if cmd.payment_method and not _METHOD.match(cmd.payment_method):
        out.append(("payment_method", "1-64 letters, digits or underscores"))
    _check_text("description", cmd.description, MAX_TEXT_LENGTH, False, out)
    return out


def refund_violations(cmd: RefundCommand) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    _check_text("idempotency_key", cmd.idempotency_key, MAX_KEY_LENGTH, True, out)
    _check_text("payment_id", cmd.payment_id, MAX_ID_LENGTH, True, out)
    if cmd.amount is not None:
        check_money("amount", cmd.amount, out)
    _check_text("reason", cmd.reason, MAX_TEXT_LENGTH, False, out)
    return out


def status_after_refund(captured_minor: int, refunded_minor: int) -> PaymentStatus:
    if refunded_minor >= captured_minor:
        return PaymentStatus.REFUNDED
    return PaymentStatus.PARTIALLY_REFUNDED if refunded_minor > 0 else PaymentStatus.SUCCEEDED


class PaymentError(Exception):
    """Raised when a payment request cannot be carried out (base of this service's errors)."""


class InvalidRequest(PaymentError):
    """Raised when request fields break the rules; carries (field, description) pairs."""

    def __init__(self, violations: list[tuple[str, str]]) -> None:
        super().__init__("invalid request: " + ", ".join(f for f, _ in violations))
        self.violations = violations


class IdempotencyKeyReused(PaymentError):
    """Raised when a key already used for a request with other parameters comes again."""


class PaymentDeclined(PaymentError):
    """Raised when the card issuer declines a charge; final for its idempotency key."""

    reason = "PAYMENT_DECLINED"

    def __init__(self, message: str, *, decline_code: str, payment_id: str) -> None:
        super().__init__(message)
        self.decline_code = decline_code
        self.payment_id = payment_id


class FraudSuspected(PaymentDeclined):
    """Raised when a charge is declined as likely fraud (test card or amount over the limit)."""

    reason = "FRAUD_SUSPECTED"


class GatewayUnavailable(PaymentError):
    """Raised when an attempt fails transiently; nothing was captured, retry the same key."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class VelocityLimitExceeded(PaymentError):
    """Raised when a customer starts more new charges a minute than the limit allows."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PaymentNotFound(PaymentError):
    """Raised when no payment has the id (or the caller may not see it)."""


class PaymentNotRefundable(PaymentError):
    """Raised when a refund targets a payment that was never captured."""


class ChargeInFlight(PaymentError):
    """Raised when a refund targets a payment whose charge attempt is still running."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RefundExceedsCaptured(PaymentError):
    """Raised when a refund would take cumulative refunds above the captured amount."""


class CurrencyMismatch(PaymentError):
    """Raised when a refund's currency differs from its payment's."""


class PermissionDenied(PaymentError):
    """Raised when the caller's role may not perform the operation."""
