"""Exact money display: integer minor units as a decimal string (two-decimal currencies)."""

from __future__ import annotations


def format_minor(amount_minor: int) -> str:
    """'19.99' for 1999, '-0.05' for -5. Every currency the platform accepts has two decimals."""
    sign = "-" if amount_minor < 0 else ""
    whole, cents = divmod(abs(amount_minor), 100)
    return f"{sign}{whole}.{cents:02d}"
