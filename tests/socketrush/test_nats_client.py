"""NATS options and names: what users may write for servers, what is refused and how, and
that any channel name becomes exactly one subject or key token, reversibly."""

from __future__ import annotations

import dataclasses
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socketrush.config import ConfigError, load_settings
from socketrush.nats_client import NatsNames, escape, nats_options, server_urls, unescape


def settings(**values: object):
    base = load_settings(["--env-file", os.devnull], environ={}, server_only=True)
    return dataclasses.replace(base, **values)


def test_servers_in_every_form_users_write_them() -> None:
    assert server_urls(("127.0.0.1:4222", " nats://a:1 ", "tls://b:2", "c")) == (
        "nats://127.0.0.1:4222",
        "nats://a:1",
        "tls://b:2",
        "nats://c:4222",
    )
    # soketi's JSON array, cut at its commas by the list setting
    assert server_urls(('["127.0.0.1:4222"', '"nats://d:5"]')) == (
        "nats://127.0.0.1:4222",
        "nats://d:5",
    )
    assert server_urls(("nats://user:pw@e:6",)) == ("nats://user:pw@e:6",)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ((), "adapter_nats_servers is empty: give e.g. nats://127.0.0.1:4222"),
        (
            ("redis://a:1",),
            "adapter_nats_servers: scheme 'redis' is not supported: use nats://, "
            "tls:// or a bare host:port",
        ),
        (("nats://a:99999",), "adapter_nats_servers: 'nats://a:99999' has no valid port (1-65535)"),
        (("nats://a:1/x",), "adapter_nats_servers: 'nats://a:1/x' is not scheme://host:port"),
        (("[1, 2]",), "adapter_nats_servers: a JSON array must hold strings only"),
        (("[nope",), "adapter_nats_servers '[nope' is not a JSON array"),
    ],
)
def test_bad_servers_are_refused_by_name(entries: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        server_urls(entries)
    assert str(refused.value) == message


def test_options_carry_credentials_timeouts_and_tls() -> None:
    options = nats_options(
        settings(
            adapter_nats_servers=("tls://a:1",),
            adapter_nats_user="u",
            adapter_nats_password="p",
            adapter_nats_timeout=2500,
            adapter_nats_requests_timeout=750,
        )
    )
    assert (options.user, options.password, options.token) == ("u", "p", None)
    assert (options.connect_timeout, options.request_timeout) == (2.5, 0.75)
    assert options.tls is not None
    assert nats_options(settings()).tls is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"adapter_nats_servers": ("tls://a:1", "nats://b:2")},
            "adapter_nats_servers: use tls:// for every server or for none",
        ),
        (
            {"adapter_nats_token": "t", "adapter_nats_user": "u"},
            "adapter_nats_token and adapter_nats_user exclude each other: give one",
        ),
    ],
)
def test_contradictions_are_refused(values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        nats_options(settings(**values))
    assert str(refused.value) == message


def test_an_unreadable_ca_file_is_refused(tmp_path) -> None:
    missing = tmp_path / "none.pem"
    with pytest.raises(ConfigError) as refused:
        nats_options(settings(adapter_nats_tls_ca_file=str(missing)))
    assert str(refused.value).startswith(
        f"adapter_nats_tls_ca_file {str(missing)!r} is not a readable PEM file"
    )


def test_names_are_one_token_per_part() -> None:
    names = NatsNames("rush")
    assert names.channel("1", "news") == "rush.1.c.news"
    assert names.channel("1", "private-a.b*c>d e") == "rush.1.c.private-a=2Eb=2Ac=3Ed=20e"
    assert names.channel("app.1", "#server-to-user-carol") == "rush.app=2E1.u.carol"
    assert names.bucket() == "rush_cluster"
    assert NatsNames("").channel("1", "news") == "socketrush.1.c.news"  # soketi's empty default
    with pytest.raises(ConfigError) as refused:
        NatsNames("a.b")
    assert "adapter_nats_prefix 'a.b' must be letters, digits, - and _ only" in str(refused.value)


@given(st.text())
def test_escaping_is_reversible_and_stays_within_one_key_token(text: str) -> None:
    token = escape(text)
    assert unescape(token) == text
    assert token and all(c.isascii() and (c.isalnum() or c in "_-=") for c in token)
