"""Settings as the JSON config file that gives them: what `socketrush config` prints.

The output is a valid `--config-file`, so `socketrush config --show-secrets > f.json` and
`socketrush serve --config-file f.json` run with the same settings. Without `show_secrets`,
the app secrets, the TLS key passphrase and passwords inside URLs are printed as `***`.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from socketrush.config.layering import APP_OPTIONS, SERVER_OPTIONS
from socketrush.config.webhooks import webhook_json
from socketrush.options import Option
from socketrush.settings import AppSettings, ServerSettings, WebhookTarget

MASK = "***"
_URL_WITH_PASSWORD = ("redis_url", "database_url")
_SERVERS_WITH_PASSWORD = ("adapter_nats_servers",)
_WEBHOOK_URLS = "app_webhook_urls"
# A server entry with user info: what comes before it (the quote and bracket of a piece of
# soketi's JSON array, `scheme://`), the user info up to the *last* `@` (a password may hold a
# raw `@` or `/`: only the host comes after it), then the host.
_USER_INFO = re.compile(r'^([\s\["]*(?:[A-Za-z][A-Za-z0-9+.-]*://)?)(.*)@(.*)$', re.DOTALL)


def settings_document(settings: ServerSettings, *, show_secrets: bool = False) -> dict:
    """`{"server": {...}, "applications": [...]}` under each option's primary JSON key."""
    return {
        "server": {
            option.json_keys[0]: _value(option, getattr(settings, option.field), show_secrets)
            for option in SERVER_OPTIONS
        },
        "applications": [_app(app, show_secrets) for app in settings.apps],
    }


def _app(app: AppSettings, show_secrets: bool) -> dict:
    return {
        option.json_keys[0]: _value(option, getattr(app, option.field), show_secrets)
        for option in APP_OPTIONS
    }


def _value(option: Option, value: object, show_secrets: bool) -> object:
    if isinstance(value, tuple):
        if not show_secrets and option.name in _SERVERS_WITH_PASSWORD:
            return [mask_server_password(str(item)) for item in value]
        if not show_secrets and option.name == _WEBHOOK_URLS:
            return [mask_url_password(str(item)) for item in value]
        return [_item(item, show_secrets) for item in value]
    if show_secrets or not value:
        return value
    if option.name in _URL_WITH_PASSWORD:
        return mask_store_url_password(str(value))
    return MASK if option.secret else value


def _item(item: object, show_secrets: bool) -> object:
    if not isinstance(item, WebhookTarget):
        return item
    written = webhook_json(item)
    if not show_secrets and item.url:  # https://user:password@host/... (basic auth)
        written["url"] = mask_url_password(item.url)
    return written


def mask_url_password(url: str) -> str:
    """Hide the password of a webhook URL's basic auth, `https://user:password@host/path`,
    while keeping the rest readable. (Its path may hold an `@`: the user info is what
    `urlsplit` finds.)"""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def mask_server_password(entry: str) -> str:
    """Hide the secret of a NATS server entry: the password of `nats://user:password@host`,
    or the whole token of `nats://token@host`; bare `user:password@host:port` entries and
    pieces of a JSON array too, since the setting takes both."""
    return _mask_user_info(entry, token_is_secret=True)


def mask_store_url_password(url: str) -> str:
    """Hide the password of a Redis or database URL, `scheme://user:password@host/db`, even one
    holding a raw `/` or `@` (`urlsplit` would end the host at that `/` and find no password):
    only the host and database follow the last `@`."""
    return _mask_user_info(url, token_is_secret=False)


def _mask_user_info(text: str, *, token_is_secret: bool) -> str:
    found = _USER_INFO.match(text)
    if found is None:
        return text
    before, user_info, host = found.groups()
    user, colon, _secret = user_info.partition(":")
    if colon:
        return f"{before}{user}:{MASK}@{host}"
    return f"{before}{MASK}@{host}" if token_is_secret else text
