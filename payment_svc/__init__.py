"""The payment service: a gateway simulator with idempotent charges and refunds."""
