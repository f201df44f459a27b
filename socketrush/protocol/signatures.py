"""HMAC-SHA256 signatures of Pusher channel authorization, user authentication and webhooks.

Every comparison goes through `hmac.compare_digest` on bytes: timing must not reveal how much
of a guessed signature is right, and bytes keep non-ASCII input from raising.
"""

from __future__ import annotations

import hashlib
import hmac


def hmac_sha256_hex(secret: str, message: str | bytes) -> str:
    raw = message.encode() if isinstance(message, str) else message
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def constant_time_equal(given: str, expected: str) -> bool:
    """Constant-time equality of two strings."""
    return hmac.compare_digest(given.encode(), expected.encode())


def _auth_valid(app_key: str, app_secret: str, signed: str, auth: str) -> bool:
    """`auth` is "<app key>:<hex signature of `signed`>", the format both Pusher's docs and
    its server SDKs produce."""
    key, colon, signature = auth.partition(":")
    if not colon:
        return False
    # Evaluate both so a wrong key costs the same time as a wrong signature.
    key_ok = constant_time_equal(key, app_key)
    signature_ok = constant_time_equal(signature, hmac_sha256_hex(app_secret, signed))
    return key_ok and signature_ok


def channel_auth_valid(
    app_key: str,
    app_secret: str,
    socket_id: str,
    channel: str,
    auth: str,
    channel_data: str | None = None,
) -> bool:
    """Private/encrypted channels sign "socket_id:channel"; presence channels append
    ":channel_data" so the member's identity cannot be swapped."""
    signed = f"{socket_id}:{channel}"
    if channel_data is not None:
        signed = f"{signed}:{channel_data}"
    return _auth_valid(app_key, app_secret, signed, auth)


def user_auth_valid(
    app_key: str, app_secret: str, socket_id: str, user_data: str, auth: str
) -> bool:
    """``pusher:signin`` signs "socket_id::user::user_data"."""
    return _auth_valid(app_key, app_secret, f"{socket_id}::user::{user_data}", auth)


def webhook_signature(app_secret: str, body: bytes) -> str:
    """Value of the ``X-Pusher-Signature`` header: HMAC-SHA256 hex of the exact body sent."""
    return hmac_sha256_hex(app_secret, body)
