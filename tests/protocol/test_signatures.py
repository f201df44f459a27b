"""Signatures against Pusher's documented examples and the official `pusher` SDK's output."""

from __future__ import annotations

import json
import time

import pusher

from socketrush.protocol.signatures import (
    channel_auth_valid,
    constant_time_equal,
    hmac_sha256_hex,
    user_auth_valid,
    webhook_signature,
)

KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"
SOCKET = "1234.1234"
SDK = pusher.Pusher(app_id="3", key=KEY, secret=SECRET)


def test_hmac_sha256_hex_documented_channel_example() -> None:
    assert hmac_sha256_hex(SECRET, "1234.1234:private-foobar") == (
        "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
    )
    assert hmac_sha256_hex(SECRET, b"1234.1234:private-foobar") == hmac_sha256_hex(
        SECRET, "1234.1234:private-foobar"
    )


def test_documented_private_channel_auth() -> None:
    auth = f"{KEY}:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
    assert channel_auth_valid(KEY, SECRET, SOCKET, "private-foobar", auth)
    assert not channel_auth_valid(KEY, SECRET, SOCKET, "private-foobaz", auth)


def test_documented_user_auth() -> None:
    auth = f"{KEY}:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
    assert user_auth_valid(KEY, SECRET, SOCKET, '{"id":"12345"}', auth)
    assert not user_auth_valid(KEY, SECRET, SOCKET, '{"id":"12346"}', auth)


def test_sdk_private_channel_auth() -> None:
    auth = SDK.authenticate("private-chat", "55.66")["auth"]
    assert channel_auth_valid(KEY, SECRET, "55.66", "private-chat", auth)
    assert not channel_auth_valid(KEY, SECRET, "55.67", "private-chat", auth)
    assert not channel_auth_valid(KEY, SECRET, "55.66", "private-chat", auth[:-1] + "0")
    assert not channel_auth_valid("otherkey", SECRET, "55.66", "private-chat", auth)
    assert not channel_auth_valid(KEY, "othersecret", "55.66", "private-chat", auth)


def test_sdk_presence_channel_auth_covers_channel_data() -> None:
    member = {"user_id": "7", "user_info": {"name": "Ann"}}
    response = SDK.authenticate("presence-room", "55.66", member)
    auth, channel_data = response["auth"], response["channel_data"]
    assert channel_auth_valid(KEY, SECRET, "55.66", "presence-room", auth, channel_data)
    assert not channel_auth_valid(KEY, SECRET, "55.66", "presence-room", auth)
    forged = json.dumps({"user_id": "8", "user_info": {"name": "Ann"}})
    assert not channel_auth_valid(KEY, SECRET, "55.66", "presence-room", auth, forged)


def test_sdk_user_auth() -> None:
    response = SDK.authenticate_user("55.66", {"id": "7", "watchlist": ["1", "2"]})
    auth, user_data = response["auth"], response["user_data"]
    assert user_auth_valid(KEY, SECRET, "55.66", user_data, auth)
    assert not user_auth_valid(KEY, SECRET, "55.67", user_data, auth)
    assert not user_auth_valid(KEY, SECRET, "55.66", user_data.replace('"7"', '"8"'), auth)


def test_malformed_auth_strings_are_rejected() -> None:
    signature = hmac_sha256_hex(SECRET, "1.1:private-a")
    for auth in ["", signature, f"{KEY}{signature}", f"{KEY}:", f"{KEY}:é", f"é:{signature}"]:
        assert not channel_auth_valid(KEY, SECRET, "1.1", "private-a", auth)
    assert channel_auth_valid(KEY, SECRET, "1.1", "private-a", f"{KEY}:{signature}")


def test_webhook_signature_matches_sdk_validation() -> None:
    # The SDK also rejects a time_ms older than 5 minutes, so the body must be fresh.
    body = json.dumps({"time_ms": int(time.time() * 1000), "events": []}).encode()
    signature = webhook_signature(SECRET, body)
    assert SDK.validate_webhook(KEY, signature, body.decode()) == json.loads(body)
    tampered = body.decode().replace('"events": []', '"events": [{}]')
    assert SDK.validate_webhook(KEY, signature, tampered) is None


def test_constant_time_equal() -> None:
    assert constant_time_equal("abc", "abc")
    assert not constant_time_equal("abc", "abd")
    assert not constant_time_equal("é", "e")
