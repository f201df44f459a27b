"""Channel names: what kind a name denotes, and whether a name or event name is acceptable.

The kind is derived from the name alone (Pusher has no channel registry), so every part of the
server classifies names the same way by calling `classify`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from enum import Enum

from socketrush.protocol.errors import Err, ErrorSpec

SERVER_TO_USER_PREFIX = "#server-to-user-"
CLASSIFIED_NAMES_KEPT = 4096  # bounded: channel names come from clients

# Pusher's channel naming convention: letters, digits and _ - = @ , . ;
_NAME_RE = re.compile(r"[A-Za-z0-9_\-=@,.;]+")


class ChannelKind(Enum):
    PUBLIC = "public"
    PRIVATE = "private"
    PRESENCE = "presence"
    ENCRYPTED = "encrypted"
    SERVER_TO_USER = "server-to-user"


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A name's kind, and what follows from it. The derived flags are fields set once (and
    `classify` keeps its answers), not properties: a property testing the kind against
    enum members cost ~4,000 instructions per subscribe."""

    name: str
    kind: ChannelKind
    is_cache: bool
    # Private, presence and encrypted channels need a signed `auth` to subscribe.
    requires_auth: bool = field(init=False, repr=False, compare=False)
    is_presence: bool = field(init=False, repr=False, compare=False)
    # Only private and presence channels: Pusher rejects client events elsewhere, and
    # encrypted channels would relay plaintext that other members expect encrypted.
    allows_client_events: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kind = self.kind
        derived = {
            "requires_auth": kind in _AUTH_KINDS,
            "is_presence": kind is ChannelKind.PRESENCE,
            "allows_client_events": kind in _CLIENT_EVENT_KINDS,
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)


_AUTH_KINDS = (ChannelKind.PRIVATE, ChannelKind.PRESENCE, ChannelKind.ENCRYPTED)
_CLIENT_EVENT_KINDS = (ChannelKind.PRIVATE, ChannelKind.PRESENCE)


# Longest prefix first: "private-encrypted-" must win over "private-".
_KINDS: tuple[tuple[str, ChannelKind], ...] = (
    (SERVER_TO_USER_PREFIX, ChannelKind.SERVER_TO_USER),
    ("private-encrypted-", ChannelKind.ENCRYPTED),
    ("private-", ChannelKind.PRIVATE),
    ("presence-", ChannelKind.PRESENCE),
    ("", ChannelKind.PUBLIC),
)


@functools.lru_cache(maxsize=CLASSIFIED_NAMES_KEPT)
def classify(name: str) -> ChannelInfo:
    """Kind and cache flag of `name`; "cache-" follows the kind's prefix (e.g.
    "presence-cache-x"), and server-to-user channels are never cache channels.

    Cached: every client event and publish asks again for the same few names."""
    prefix, kind = next((p, k) for p, k in _KINDS if name.startswith(p))
    is_cache = kind is not ChannelKind.SERVER_TO_USER and name.startswith("cache-", len(prefix))
    return ChannelInfo(name, kind, is_cache)


def validate_channel_name(name: str, max_length: int) -> ErrorSpec | None:
    """None if `name` is acceptable, else the error to report.

    Server-to-user channels are checked against their own grammar (prefix, then a user id in
    the channel alphabet) because the HTTP API publishes to them; refusing client
    subscriptions to them is the caller's job.
    """
    if len(name) > max_length:
        return Err.CHANNEL_NAME_TOO_LONG
    if not _in_alphabet(name):
        return Err.INVALID_CHANNEL_NAME
    return None


@functools.lru_cache(maxsize=CLASSIFIED_NAMES_KEPT)
def _in_alphabet(name: str) -> bool:
    """Cached like `classify`: every subscribe asks again for the same few names, and a cache
    hit costs a fifth of the regular expression's match (callgrind: ~700 against ~3,100
    instructions for "bench-42")."""
    return _NAME_RE.fullmatch(name.removeprefix(SERVER_TO_USER_PREFIX)) is not None


def validate_event_name(name: str, max_length: int) -> ErrorSpec | None:
    """None if `name` is acceptable. Only emptiness and length are checked: real apps publish
    names such as Laravel's "App\\Events\\OrderShipped" that Pusher accepts."""
    if not name:
        return Err.INVALID_EVENT_NAME
    if len(name) > max_length:
        return Err.EVENT_NAME_TOO_LONG
    return None
