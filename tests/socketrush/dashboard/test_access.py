"""Unit tests of the dashboard's credentials, sessions and debug channel signatures."""

from __future__ import annotations

import base64

import pytest

from socketrush.dashboard.access import SESSION_SECONDS, DashboardAccess, private_transport

ACCESS = DashboardAccess("admin", "s3cret:with:colons")
NOW = 1_800_000_000.0


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_login_needs_both_user_and_password() -> None:
    assert ACCESS.login_valid(basic("admin:s3cret:with:colons"))
    assert ACCESS.login_valid("basic " + basic("admin:s3cret:with:colons")[6:])
    for wrong in ("admin:s3cret", "Admin:s3cret:with:colons", "admin", ":s3cret:with:colons", ""):
        assert not ACCESS.login_valid(basic(wrong)), wrong


@pytest.mark.parametrize("header", [None, "", "Basic", "Basic ***", "Bearer abc", "Basic YQ"])
def test_malformed_authorization_is_refused(header: str | None) -> None:
    assert not ACCESS.login_valid(header)


def test_session_lasts_until_it_expires() -> None:
    token = ACCESS.new_session(NOW)
    assert ACCESS.session_valid(token, NOW + SESSION_SECONDS - 1)
    assert not ACCESS.session_valid(token, NOW + SESSION_SECONDS)


def test_session_cannot_be_forged_or_extended() -> None:
    token = ACCESS.new_session(NOW)
    expires, signature = token.split(".")
    assert not ACCESS.session_valid(f"{int(expires) + 3600}.{signature}", NOW)
    assert not ACCESS.session_valid(f"{expires}.{'0' * 64}", NOW)
    for bad in (None, "", ".", expires, "x.y", "-1." + signature, "1" * 40 + "." + signature):
        assert not ACCESS.session_valid(bad, NOW), bad


def test_another_password_ends_every_session_and_signature() -> None:
    other = DashboardAccess("admin", "another password")
    assert not other.session_valid(ACCESS.new_session(NOW), NOW)
    assert not other.channel_auth_valid("1", "1.2", ACCESS.channel_auth("1", "1.2"))


def test_channel_auth_binds_app_and_socket() -> None:
    auth = ACCESS.channel_auth("app-1", "123.456")
    assert auth.startswith("dashboard:")
    assert ACCESS.channel_auth_valid("app-1", "123.456", auth)
    assert not ACCESS.channel_auth_valid("app-2", "123.456", auth)
    assert not ACCESS.channel_auth_valid("app-1", "123.457", auth)
    assert not ACCESS.channel_auth_valid("app-1", "123.456", None)
    assert not ACCESS.channel_auth_valid("app-1", "123.456", 42)


@pytest.mark.parametrize(
    "is_tls,address,allowed",
    [
        (False, "127.0.0.1", True),
        (False, "127.8.9.10", True),
        (False, "::1", True),
        (False, "::ffff:127.0.0.1", True),
        (False, "10.0.0.5", False),
        (False, "192.168.1.2", False),
        (False, "::ffff:10.0.0.5", False),
        (False, None, False),
        (False, "not an address", False),
        (True, "10.0.0.5", True),
    ],
)
def test_credentials_only_over_tls_or_loopback(
    is_tls: bool, address: str | None, allowed: bool
) -> None:
    assert private_transport(is_tls, address) is allowed
