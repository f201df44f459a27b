"""Command-line flags: aliases, boolean forms, repeatable list flags, unknown flags."""

from __future__ import annotations

import pytest

from tests.support.config import CREDS, error_of, load


@pytest.mark.parametrize(
    ("alias", "primary", "value", "attribute", "expected"),
    [
        ("--adapter-manager", "--adapter-driver", "redis", "adapter_driver", "redis"),
        ("--default-app-id", "--app-id", "9", "id", "9"),
        ("--default-app-key", "--app-key", "kk", "key", "kk"),
        ("--default-app-secret", "--app-secret", "ss", "secret", "ss"),
        ("--app-webhook-enabled", "--app-webhooks-enabled", "true", "webhooks_enabled", True),
        (
            "--app-require-authorization",
            "--app-require-channel-authorization",
            "true",
            "require_channel_authorization",
            True,
        ),
        (
            "--app-max-presence-users",
            "--app-max-presence-members-per-channel",
            "7",
            "max_presence_members_per_channel",
            7,
        ),
    ],
)
def test_flag_aliases(alias, primary, value, attribute, expected) -> None:
    for flag in (alias, primary):
        settings = load(*CREDS, flag, value)
        target = settings if hasattr(settings, attribute) else settings.apps[0]
        assert getattr(target, attribute) == expected, flag


def test_config_alias_for_config_file(port_file: str) -> None:
    assert load(*CREDS, "--config-file", port_file).port == 7000
    assert load(*CREDS, "--config", port_file).port == 7000


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], False),
        (["--redis-tls"], True),
        (["--redis-tls", "true"], True),
        (["--redis-tls", "false"], False),
        (["--redis-tls=false"], False),
        (["--redis-tls=TRUE"], True),
        (["--redis-tls", "--port", "80"], True),
    ],
)
def test_boolean_flag_forms(argv: list[str], expected: bool) -> None:
    assert load(*CREDS, *argv).redis_tls is expected


def test_bad_flag_boolean() -> None:
    assert error_of(*CREDS, "--app-enable-client-messages", "sure") == (
        "invalid value 'sure' for app_enable_client_messages from flag "
        "--app-enable-client-messages: expected true or false (or 1/0, yes/no, on/off)"
    )


def test_webhook_url_flag_is_repeatable_and_splits_commas() -> None:
    argv = ("--app-webhook-url", "http://a/1", "--app-webhook-url", "http://b/2,http://c/3")
    assert load(*CREDS, *argv).apps[0].webhook_urls == ("http://a/1", "http://b/2", "http://c/3")


def test_port_not_a_number() -> None:
    assert error_of(*CREDS, "--port", "abc") == (
        "invalid value 'abc' for port from flag --port: expected an integer from 1 to 65535"
    )


def test_unknown_log_level() -> None:
    assert error_of(*CREDS, "--log-level", "loud") == (
        "invalid value 'loud' for log_level from flag --log-level: "
        "expected one of: trace, debug, info, warn, error"
    )


def test_unknown_flag() -> None:
    assert error_of(*CREDS, "--prot", "1") == (
        "unrecognized arguments: --prot 1 (see `socketrush serve --help`)"
    )
