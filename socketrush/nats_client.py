"""One way to reach NATS: connection options from settings, and every subject and key name.

The adapter (subjects) and the cluster store (JetStream key-value entries) get their options
from `nats_options` and their names from `NatsNames`, so URL handling, TLS, credentials and
the naming scheme are decided once. The connection itself lives in `nats_bridge.py`.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

from socketrush.adapters.topics import Topic, TopicKind, channel_topic
from socketrush.config import ConfigError
from socketrush.settings import ServerSettings

_SCHEMES = ("nats", "tls")
DEFAULT_PREFIX = "socketrush"
_PREFIX = re.compile(r"^[A-Za-z0-9_-]+$")
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


@dataclass(frozen=True, slots=True)
class NatsOptions:
    """What `nats.connect` needs, checked: `servers` are `nats://` or `tls://` URLs."""

    servers: tuple[str, ...]
    user: str | None
    password: str | None
    token: str | None
    connect_timeout: float  # seconds
    request_timeout: float  # seconds, one JetStream request
    tls: ssl.SSLContext | None


def nats_options(settings: ServerSettings) -> NatsOptions:
    """Options for the adapter's connection; raises ConfigError naming the faulty setting."""
    servers = server_urls(settings.adapter_nats_servers)
    secure = {urlsplit(url).scheme == "tls" for url in servers}
    if len(secure) > 1:
        raise ConfigError("adapter_nats_servers: use tls:// for every server or for none")
    tls = None
    if secure == {True} or settings.adapter_nats_tls_ca_file:
        try:
            tls = ssl.create_default_context(cafile=settings.adapter_nats_tls_ca_file or None)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(
                f"adapter_nats_tls_ca_file {settings.adapter_nats_tls_ca_file!r} is not a "
                f"readable PEM file: {error}"
            ) from None
    if settings.adapter_nats_token and settings.adapter_nats_user:
        raise ConfigError("adapter_nats_token and adapter_nats_user exclude each other: give one")
    return NatsOptions(
        servers=servers,
        user=settings.adapter_nats_user or None,
        password=settings.adapter_nats_password or None,
        token=settings.adapter_nats_token or None,
        connect_timeout=settings.adapter_nats_timeout / 1000,
        request_timeout=settings.adapter_nats_requests_timeout / 1000,
        tls=tls,
    )


def server_urls(entries: tuple[str, ...]) -> tuple[str, ...]:
    """`nats://`/`tls://` URLs from the setting: comma-separated entries, or soketi's JSON
    array (`["127.0.0.1:4222"]`, which the comma split cut into pieces)."""
    if entries and entries[0].lstrip().startswith("["):
        try:
            parsed = orjson.loads(",".join(entries))
        except orjson.JSONDecodeError:
            text = ",".join(entries)
            raise ConfigError(f"adapter_nats_servers {text!r} is not a JSON array") from None
        if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
            raise ConfigError("adapter_nats_servers: a JSON array must hold strings only")
        entries = tuple(parsed)
    if not entries:
        raise ConfigError("adapter_nats_servers is empty: give e.g. nats://127.0.0.1:4222")
    return tuple(_server_url(entry.strip()) for entry in entries)


def _server_url(entry: str) -> str:
    parts = urlsplit(entry if "://" in entry else f"nats://{entry}")
    if parts.scheme not in _SCHEMES:
        raise ConfigError(
            f"adapter_nats_servers: scheme {parts.scheme!r} is not supported: use nats://, "
            "tls:// or a bare host:port"
        )
    if not parts.hostname or parts.path.strip("/") or parts.query:
        raise ConfigError(f"adapter_nats_servers: {entry!r} is not scheme://host:port")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port is None:
        return f"{parts.scheme}://{parts.netloc}:4222"
    if not 0 < port < 65536:
        raise ConfigError(f"adapter_nats_servers: {entry!r} has no valid port (1-65535)")
    return f"{parts.scheme}://{parts.netloc}"


def escape(part: str) -> str:
    """`part` as one subject token or key token: letters, digits, `_` and `-` stay, every
    other byte becomes `=XX`, so dots, wildcards and spaces in channel names cannot split or
    widen a subject. The empty string is `=`."""
    if not part:
        return "="
    if _PLAIN.issuperset(part):
        return part
    return "".join(c if c in _PLAIN else "".join(f"={b:02X}" for b in c.encode()) for c in part)


def unescape(token: str) -> str:
    if token == "=":
        return ""
    if "=" not in token:
        return token
    raw = bytearray()
    index = 0
    while index < len(token):
        if token[index] == "=":
            raw.append(int(token[index + 1 : index + 3], 16))
            index += 3
        else:
            raw += token[index].encode()
            index += 1
    return raw.decode()


class NatsNames:
    """Every subject and key-value name of one deployment (P = adapter_nats_prefix, A = app
    id, C = channel, U = user, N = node; each escaped into one token):

        P.A.c.C          broadcasts and subscription counts of one channel
        P.A.u.U          sendToUser events and commands about one user (terminate)
        P.A.d            one app's dashboard console
        P.dashboard      the dashboards (node-wide)
        bucket P_cluster the cluster state (see `cluster/nats_store.py` for its keys)

    Each subject is a topic (adapters/topics.py): a node subscribes to those it needs.
    An empty prefix (soketi's default) is the shipped default.
    """

    def __init__(self, prefix: str) -> None:
        prefix = prefix or DEFAULT_PREFIX
        if not _PREFIX.match(prefix):
            raise ConfigError(
                f"adapter_nats_prefix {prefix!r} must be letters, digits, - and _ only "
                "(it names NATS subjects and a JetStream bucket)"
            )
        self.prefix = prefix

    def topic(self, topic: Topic) -> str:
        kind, app_id, name = topic
        if kind is TopicKind.DASHBOARD:
            return f"{self.prefix}.dashboard"
        if kind is TopicKind.CONSOLE:
            return f"{self.prefix}.{escape(app_id)}.d"
        return f"{self.prefix}.{escape(app_id)}.{kind.value}.{escape(name)}"

    def channel(self, app_id: str, channel: str) -> str:
        return self.topic(channel_topic(app_id, channel))

    def bucket(self) -> str:
        return f"{self.prefix}_cluster"
