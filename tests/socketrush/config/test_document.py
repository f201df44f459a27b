"""`settings_document`: the effective settings as a JSON config file that loads back to them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from socketrush.config import load_settings, mask_store_url_password, settings_document
from socketrush.options import OPTIONS, Scope
from socketrush.settings import ServerSettings
from tests.support.config import CREDS, load, write_json

CONSOLE_SCRIPT = Path(sys.executable).with_name("socketrush")


def rich_settings(tmp_path: Path) -> ServerSettings:
    """Two apps, lists, webhook objects, URLs with passwords and non-default values."""
    apps = [
        {
            "app_id": 7,
            "app_key": "seven",
            "app_secret": "s7",
            "app_webhooks": [
                {"url": "http://h/1", "event_types": ["member_added"],
                 "filter": {"channel_name_starts_with": "presence-"}},
                {"url": "http://h/2"},
            ],
            "app_allowed_origins": ["https://a.example"],
        },
        {"app_id": "8", "app_key": "eight", "app_secret": "s8", "app_max_connections": -1},
    ]  # fmt: skip
    path = write_json(
        tmp_path / "in.json", {"server": {"port": 7001, "log_format": "json"}, "applications": apps}
    )
    return load(
        "--config-file",
        path,
        "--redis-url",
        "redis://user:hunter2@cache:6379/0",
        "--app-webhook-url",
        "https://hooks.example/all",
        "--cors-allowed-origins",
        "https://x.example,https://y.example",
        env={"SHUTDOWN_GRACE_PERIOD": "3", "SSL_PASSPHRASE": "pass-phrase"},
    )


def test_every_server_and_app_option_is_written_under_its_primary_key(tmp_path: Path) -> None:
    document = settings_document(rich_settings(tmp_path))
    server_keys = [o.json_keys[0] for o in OPTIONS if o.scope is Scope.SERVER and not o.bootstrap]
    app_keys = [o.json_keys[0] for o in OPTIONS if o.scope is Scope.APP]
    assert list(document) == ["server", "applications"]
    assert list(document["server"]) == server_keys
    assert [list(app) for app in document["applications"]] == [app_keys, app_keys]


def test_secrets_and_url_passwords_are_masked(tmp_path: Path) -> None:
    settings = rich_settings(tmp_path)
    document = settings_document(settings)
    assert document["server"]["redis_url"] == "redis://user:***@cache:6379/0"
    assert document["server"]["ssl_passphrase"] == "***"
    assert [app["app_secret"] for app in document["applications"]] == ["***", "***"]
    assert [app["app_key"] for app in document["applications"]] == ["eight", "seven"][::-1]
    text = json.dumps(document)
    for secret in ("hunter2", "pass-phrase", "s7", "s8"):
        assert f'"{secret}"' not in text and f":{secret}@" not in text
    assert settings.apps[0].secret == "s7"


def test_a_database_url_keeps_all_but_its_password() -> None:
    url = "postgres://u:pw@db:5432/apps"
    settings = load("--app-manager", "postgres", "--database-url", url)
    assert settings_document(settings)["server"]["database_url"] == "postgres://u:***@db:5432/apps"
    assert settings_document(settings, show_secrets=True)["server"]["database_url"] == url


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("redis://user:p/ss@cache:6379/0", "redis://user:***@cache:6379/0"),
        ("redis://:p@s/s@cache:6379", "redis://:***@cache:6379"),
        ("redis://user@cache:6379", "redis://user@cache:6379"),  # a user name is no secret
    ],
)
def test_a_store_url_password_holding_a_raw_slash_or_at_is_masked_whole(
    given: str, shown: str
) -> None:
    """urlsplit would end the host part at the `/` and find no password to hide."""
    assert mask_store_url_password(given) == shown


def test_a_soketi_json_array_of_nats_servers_is_masked_piece_by_piece() -> None:
    """The comma split cuts soketi's array into pieces (nats_client.server_urls reads them)."""
    settings = load(*CREDS, "--adapter-nats-servers", '["nats://u:pw@n1:4222","u:pw@n2:4222"]')
    assert settings_document(settings)["server"]["adapter_nats_servers"] == [
        '["nats://u:***@n1:4222"',
        '"u:***@n2:4222"]',
    ]


def test_a_nats_password_holding_a_raw_at_or_slash_is_masked_whole() -> None:
    """Only the host follows the last `@`: nothing of the password may be left."""
    servers = "nats://u:p@ss@n1:4222,nats://u:p/ss@n2:4222,tok@en@n3:4222"
    settings = load(*CREDS, "--adapter-nats-servers", servers)
    assert settings_document(settings)["server"]["adapter_nats_servers"] == [
        "nats://u:***@n1:4222",
        "nats://u:***@n2:4222",
        "***@n3:4222",
    ]
    shown = settings_document(settings, show_secrets=True)["server"]["adapter_nats_servers"]
    assert shown == servers.split(",")


def test_webhook_url_passwords_are_masked(tmp_path: Path) -> None:
    """Basic auth in a webhook URL is a password like any other, in either form of the URL."""
    app = {
        "app_id": "1",
        "app_key": "k",
        "app_secret": "s",
        "app_webhook_urls": ["https://hooks.example/plain", "https://u:pw-one@hooks.example/a"],
        "app_webhooks": [
            {"url": "https://u:pw-two@hooks.example/b", "event_types": ["member_added"]},
            {"url": "https://hooks.example/c"},
        ],
    }
    settings = load("--config-file", write_json(tmp_path / "in.json", {"applications": [app]}))
    [masked] = settings_document(settings)["applications"]
    assert masked["app_webhook_urls"] == [
        "https://hooks.example/plain",
        "https://u:***@hooks.example/a",
    ]
    assert masked["app_webhooks"] == [
        {"url": "https://u:***@hooks.example/b", "event_types": ["member_added"]},
        {"url": "https://hooks.example/c"},
    ]
    [shown] = settings_document(settings, show_secrets=True)["applications"]
    assert (shown["app_webhook_urls"], shown["app_webhooks"]) == (
        app["app_webhook_urls"],
        app["app_webhooks"],
    )


def test_the_document_with_secrets_loads_back_to_the_same_settings(tmp_path: Path) -> None:
    settings = rich_settings(tmp_path)
    document = settings_document(settings, show_secrets=True)
    path = tmp_path / "out.json"
    path.write_bytes(orjson.dumps(document))
    assert load("--config-file", str(path)) == settings


def test_the_masked_document_is_a_config_file_too(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_bytes(orjson.dumps(settings_document(load(*CREDS))))
    assert load("--config-file", str(path)).apps[0].secret == "***"


def _console(*argv: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [str(CONSOLE_SCRIPT), *argv], capture_output=True, text=True, timeout=60, env=env, cwd=cwd
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_config_output_round_trips_through_serve(tmp_path: Path) -> None:
    """`socketrush config --show-secrets > f.json` then `socketrush serve --config-file f.json`:
    serve's own view of its settings (--print-config) is what config printed."""
    base = {"PATH": os.environ["PATH"]}
    env = {**base, "APP_ID": "5", "APP_KEY": "key5", "APP_SECRET": "secret5", "PORT": "7002"}
    flags = ["--app-webhook-url", "http://h/x", "--redis-url", "redis://:pw@r:6380/2"]
    printed = _console("config", "--show-secrets", *flags, env=env, cwd=tmp_path)
    (tmp_path / "f.json").write_text(printed)
    served = _console(
        "serve", "--config-file", "f.json", "--print-config", "--show-secrets", env=base,
        cwd=tmp_path,
    )  # fmt: skip
    assert json.loads(served) == json.loads(printed)
    assert json.loads(printed)["applications"][0]["app_secret"] == "secret5"
    assert load_settings(["--config-file", str(tmp_path / "f.json")], {}).port == 7002
