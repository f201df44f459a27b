"""Who may use the dashboard: the HTTP Basic login, the session it opens, and the signature
that lets the page's own WebSocket subscribe to an app's debug channel.

Everything is derived from the configured user name and password, so every node configured
alike accepts the sessions and signatures of the others without sharing any state, and
changing the password ends every session. The app secrets play no part: the page never sees
one, and an app backend (which knows its secret) cannot authorise a client for the debug
channel.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import time

SESSION_SECONDS = 12 * 3600
# Slow on purpose, once per process: a session token or channel signature that leaks must not
# make the password cheap to guess offline.
_KEY_ITERATIONS = 200_000
_SALT = b"socketrush-dashboard-v1"


def _equal(given: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(given, expected)


class DashboardAccess:
    """Checks credentials, issues and checks sessions, signs debug channel subscriptions."""

    def __init__(self, username: str, password: str) -> None:
        self._username = username.encode()
        self._password = password.encode()
        self._key = hashlib.pbkdf2_hmac(
            "sha256", self._password, _SALT + b"\0" + self._username, _KEY_ITERATIONS
        )

    def _sign(self, purpose: str, message: str) -> str:
        return hmac.new(self._key, f"{purpose}\0{message}".encode(), hashlib.sha256).hexdigest()

    def login_valid(self, authorization: str | None) -> bool:
        """Whether an `Authorization: Basic ...` header names the dashboard's user and password.
        Both are compared in constant time, and both always, so the time taken does not tell
        a right user name from a wrong one."""
        if not authorization or authorization[:6].lower() != "basic ":
            return False
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        username, separator, password = decoded.partition(b":")
        user_ok = _equal(username, self._username)
        password_ok = _equal(password, self._password)
        return bool(separator) and user_ok and password_ok

    def new_session(self, now: float | None = None) -> str:
        """A session token: its expiry and a signature of it (no server-side state)."""
        expires = int((time.time() if now is None else now) + SESSION_SECONDS)
        return f"{expires}.{self._sign('session', str(expires))}"

    def session_valid(self, token: str | None, now: float | None = None) -> bool:
        if not token:
            return False
        expires, _, signature = token.partition(".")
        if not expires.isdigit() or len(expires) > 12:
            return False
        if not _equal(signature.encode(), self._sign("session", expires).encode()):
            return False
        return int(expires) > (time.time() if now is None else now)

    def channel_auth(self, app_id: str, socket_id: str) -> str:
        """The `auth` a dashboard page's socket subscribes to its app's debug channel with."""
        return "dashboard:" + self._sign("channel", f"{app_id}\0{socket_id}")

    def channel_auth_valid(self, app_id: str, socket_id: str, auth: object) -> bool:
        if not isinstance(auth, str):
            return False
        return _equal(auth.encode(), self.channel_auth(app_id, socket_id).encode())


def private_transport(is_tls: bool, remote_addr: str | None) -> bool:
    """Basic credentials travel in clear text: only over TLS, or from this machine."""
    if is_tls:
        return True
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack listener
    return address.is_loopback
