"""Channel kinds from names, and channel/event name validation."""

from __future__ import annotations

import pytest

from socketrush.protocol.channels import (
    ChannelInfo,
    ChannelKind,
    classify,
    validate_channel_name,
    validate_event_name,
)
from socketrush.protocol.errors import Err

K = ChannelKind


@pytest.mark.parametrize(
    ("name", "kind", "is_cache"),
    [
        ("my-channel", K.PUBLIC, False),
        ("cache-prices", K.PUBLIC, True),
        ("private-chat", K.PRIVATE, False),
        ("private-cache-chat", K.PRIVATE, True),
        ("presence-room", K.PRESENCE, False),
        ("presence-cache-room", K.PRESENCE, True),
        ("private-encrypted-x", K.ENCRYPTED, False),
        ("private-encrypted-cache-x", K.ENCRYPTED, True),
        ("#server-to-user-42", K.SERVER_TO_USER, False),
        ("#server-to-user-cache-42", K.SERVER_TO_USER, False),
        ("privatechat", K.PUBLIC, False),
        ("public-cache-x", K.PUBLIC, False),
    ],
)
def test_classify(name: str, kind: ChannelKind, is_cache: bool) -> None:
    assert classify(name) == ChannelInfo(name, kind, is_cache)


@pytest.mark.parametrize(
    ("kind", "requires_auth", "is_presence", "allows_client_events"),
    [
        (K.PUBLIC, False, False, False),
        (K.PRIVATE, True, False, True),
        (K.PRESENCE, True, True, True),
        (K.ENCRYPTED, True, False, False),
        (K.SERVER_TO_USER, False, False, False),
    ],
)
def test_kind_properties(
    kind: ChannelKind, requires_auth: bool, is_presence: bool, allows_client_events: bool
) -> None:
    info = ChannelInfo("x", kind, False)
    assert (info.requires_auth, info.is_presence, info.allows_client_events) == (
        requires_auth,
        is_presence,
        allows_client_events,
    )


@pytest.mark.parametrize(
    "name",
    [
        "foo-bar_1234@=,.;",
        "private-App.Models.User.1",
        "presence-room",
        "#server-to-user-user@example.com",
        "a" * 200,
    ],
)
def test_valid_channel_names(name: str) -> None:
    assert validate_channel_name(name, 200) is None


@pytest.mark.parametrize(
    "name",
    ["", "has space", "slash/", "colon:", "unicodé", "#other", "#server-to-user-", "tab\t", "x\n"],
)
def test_invalid_channel_names(name: str) -> None:
    assert validate_channel_name(name, 200) is Err.INVALID_CHANNEL_NAME


def test_channel_name_too_long() -> None:
    assert validate_channel_name("a" * 165, 164) is Err.CHANNEL_NAME_TOO_LONG
    assert validate_channel_name("a" * 164, 164) is None


def test_event_names() -> None:
    assert validate_event_name("App\\Events\\OrderShipped", 200) is None
    assert validate_event_name("e" * 200, 200) is None
    assert validate_event_name("e" * 201, 200) is Err.EVENT_NAME_TOO_LONG
    assert validate_event_name("", 200) is Err.INVALID_EVENT_NAME
