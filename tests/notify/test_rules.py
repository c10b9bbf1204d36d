"""Unit rules of the notification service: validation, templates, SMS segments, signatures, SSRF."""

from __future__ import annotations

import ipaddress

import pytest

from notify_svc.config import ConfigError, RetryPolicy, Settings
from notify_svc.domain import (
    Channel,
    InvalidRequest,
    SendCommand,
    is_e164,
    is_email,
    resolve_locale,
    sms_segments,
    validate,
    verify_webhook_signature,
    webhook_signature,
)
from notify_svc.rendering import Renderer
from notify_svc.ssrf import AddressRefused, AllowList, forbidden, resolve_target

pytestmark = pytest.mark.unit

CONTEXT: dict[str, object] = {
    "order_id": "ord-1",
    "customer_name": "Ana",
    "total": "39.97",
    "currency": "EUR",
    "cancel_reason": "OUT_OF_STOCK",
    "items": [{"name": "Blue mug", "quantity": 2, "line_total": "19.98"}],
}


def command(**overrides: object) -> SendCommand:
    fields: dict[str, object] = {
        "idempotency_key": "ord-1:SEND_CONFIRMATION",
        "order_id": "ord-1",
        "customer_id": "c1",
        "template": "ORDER_CONFIRMED",
        "locale": "en",
        "variables": {"customer_name": "Ana"},
        "items": (),
        "channels": (Channel.EMAIL,),
        "email": "ana@example.com",
    }
    fields.update(overrides)
    return SendCommand(**fields)  # type: ignore[arg-type]


def test_every_template_renders_in_every_locale() -> None:
    renderer = Renderer()
    for template in ("ORDER_CONFIRMED", "ORDER_CANCELLED", "PAYMENT_FAILED"):
        for locale in ("en", "es"):
            rendered = renderer.render(template, locale, CONTEXT)
            assert "ord-1" in rendered.subject
            assert rendered.text and rendered.html and rendered.sms


def test_spanish_rendering_and_english_fallback() -> None:
    renderer = Renderer()
    spanish = renderer.render("ORDER_CONFIRMED", "es-ES", CONTEXT)
    assert spanish.locale == "es"
    assert spanish.subject == "Tu pedido ord-1 está confirmado"
    assert "Gracias" in spanish.text and 'lang="es"' in spanish.html
    fallback = renderer.render("ORDER_CONFIRMED", "fr-FR", CONTEXT)
    assert fallback.locale == "en"
    assert fallback.subject == "Your order ord-1 is confirmed"


def test_html_is_escaped_and_text_is_not() -> None:
    context = {**CONTEXT, "items": [{"name": "<script>alert(1)</script>", "quantity": 1,
                                     "line_total": "1.00"}]}
    rendered = Renderer().render("ORDER_CONFIRMED", "en", context)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<script>alert(1)</script>" in rendered.text


def test_missing_variable_is_an_error_naming_it() -> None:
    context = {k: v for k, v in CONTEXT.items() if k != "cancel_reason"}
    with pytest.raises(InvalidRequest) as caught:
        Renderer().render("ORDER_CANCELLED", "en", context)
    assert caught.value.violations[0][0] == "variables.cancel_reason"


def test_subject_cannot_carry_a_header_break() -> None:
    rendered = Renderer().render("ORDER_CONFIRMED", "en", {**CONTEXT, "order_id": "a\r\nBcc: x"})
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


@pytest.mark.parametrize("phone,ok", [
    ("+34600111222", True), ("+14155552671", True), ("34600111222", False),
    ("+0123456789", False), ("+34 600 111 222", False), ("+1234", False),
    ("+1234567890123456", False), ("+34600111222\n", False),
])
def test_e164(phone: str, ok: bool) -> None:
    assert is_e164(phone) is ok


@pytest.mark.parametrize("address,ok", [
    ("ana@example.com", True), ("a.b+tag@sub.example.es", True), ("ana@localhost", False),
    ("ana", False), ("a b@example.com", False), ("ana@example.com\r\nBcc: x@y.z", False),
    ("<ana@example.com>", False), ("ana@example.com\n", False),
])
def test_email(address: str, ok: bool) -> None:
    assert is_email(address) is ok


def test_validate_collects_every_violation() -> None:
    bad = command(idempotency_key="", template="HELLO", email="nope",
                  channels=(Channel.EMAIL, Channel.SMS, Channel.WEBHOOK),
                  phone="600111222", callback_url="ftp://x")
    with pytest.raises(InvalidRequest) as caught:
        validate(bad)
    fields = {f for f, _ in caught.value.violations}
    assert fields == {"idempotency_key", "template", "recipient.email", "recipient.phone",
                      "callback_url"}


def test_locale_resolution() -> None:
    assert resolve_locale("es") == "es"
    assert resolve_locale("es_MX") == "es"
    assert resolve_locale("ES-es") == "es"
    assert resolve_locale("de") == "en"
    assert resolve_locale("") == "en"


def test_sms_segments_gsm_and_ucs2() -> None:
    assert sms_segments("a" * 160).segments == 1
    assert sms_segments("a" * 161).segments == 2
    assert sms_segments("a" * 306).segments == 2
    assert sms_segments("a" * 307).segments == 3
    assert sms_segments("€" * 80).units == 160  # extension table: two septets each
    assert sms_segments("¡Gracias!").encoding == "GSM-7"
    unicode = sms_segments("Pedido confirmado ✓")
    assert unicode.encoding == "UCS-2" and unicode.segments == 1
    assert sms_segments("✓" * 71).segments == 2


def test_webhook_signature_is_hmac_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    body = b'{"a":1}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert webhook_signature("s3cret", "1700000000", body) == expected
    assert verify_webhook_signature("s3cret", "1700000000", body, expected)
    assert not verify_webhook_signature("s3cret", "1700000001", body, expected)


@pytest.mark.parametrize("address", [
    "10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "169.254.169.254", "0.0.0.0",
    "100.64.0.1", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "240.0.0.1",
])
def test_non_public_addresses_are_forbidden(address: str) -> None:
    assert forbidden(ipaddress.ip_address(address))


def test_public_addresses_are_allowed() -> None:
    assert not forbidden(ipaddress.ip_address("93.184.216.34"))
    assert not forbidden(ipaddress.ip_address("2606:2800:220:1::1"))


async def test_guard_refuses_private_literal_unless_allow_listed() -> None:
    with pytest.raises(AddressRefused):
        await resolve_target("10.1.2.3", 80, AllowList())
    with pytest.raises(AddressRefused):
        await resolve_target("localhost", 80, AllowList())  # a name resolving to loopback
    allow = AllowList.parse(["10.0.0.0/8", "localhost"])
    assert await resolve_target("10.1.2.3", 80, allow) == "10.1.2.3"
    assert ipaddress.ip_address(await resolve_target("localhost", 80, allow)).is_loopback


def test_retry_policy_doubles() -> None:
    policy = RetryPolicy(4, 0.5)
    assert [policy.delay(i) for i in range(3)] == [0.5, 1.0, 2.0]


def test_settings_defaults_and_loud_errors() -> None:
    settings = Settings.from_env({"DATABASE_URL": "postgresql://x/y", "JWT_SECRET": "s"})
    assert settings.email_mode == "record" and settings.grpc_port == 50053
    assert settings.email_retry == RetryPolicy(3, 0.5)
    with pytest.raises(ConfigError, match="NOTIFY_EMAIL_MODE"):
        Settings.from_env({"DATABASE_URL": "postgresql://x/y", "JWT_SECRET": "s",
                           "NOTIFY_EMAIL_MODE": "carrier-pigeon"})
    with pytest.raises(ConfigError, match="NOTIFY_EMAIL_MAX_ATTEMPTS"):
        Settings.from_env({"DATABASE_URL": "postgresql://x/y", "JWT_SECRET": "s",
                           "NOTIFY_EMAIL_MAX_ATTEMPTS": "0"})
