"""The DynamoDB app manager: item decoding (pure) and lookups against moto's DynamoDB."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from socketrush.app_managers.base import AppManagerError
from socketrush.app_managers.cached import CachedAppManager
from socketrush.app_managers.dynamodb import (
    ATTRIBUTES,
    UNLIMITED_AT_ZERO,
    DynamoDbAppManager,
    decode_item,
)
from socketrush.aws_client import Endpoint
from socketrush.config import ConfigError
from socketrush.settings import AppSettings, WebhookTarget
from tests.support.moto import (
    REGION,
    MotoServer,
    create_apps_table,
    unique,
)
from tests.support.server import free_port

DOCS = Path(__file__).resolve().parents[3] / "docs" / "app-managers.md"
TABLE = "apps"

# An item as soketi's own test fixture writes it: booleans as binary text, -1 for "unlimited".
SOKETI_ITEM = {
    "AppId": {"S": "app-id"},
    "AppKey": {"S": "app-key"},
    "AppSecret": {"S": "app-secret"},
    "MaxConnections": {"N": "-1"},
    "EnableClientMessages": {"B": b"false"},
    "Enabled": {"B": b"true"},
    "MaxBackendEventsPerSecond": {"N": "-1"},
    "MaxClientEventsPerSecond": {"N": "-1"},
    "MaxReadRequestsPerSecond": {"N": "-1"},
    "Webhooks": {"S": "[]"},
}


def item(**attributes: dict[str, Any]) -> dict[str, Any]:
    return {"AppId": {"S": "1"}, "AppKey": {"S": "k"}, "AppSecret": {"S": "s"}, **attributes}


def test_attribute_names_are_soketis() -> None:
    names = {name for name, _ in ATTRIBUTES}
    assert {
        "AppId",
        "AppKey",
        "AppSecret",
        "Enabled",
        "EnableClientMessages",
        "MaxConnections",
        "MaxBackendEventsPerSecond",
        "MaxClientEventsPerSecond",
        "MaxReadRequestsPerSecond",
        "MaxPresenceMembersPerChannel",
        "MaxPresenceMemberSizeInKb",
        "MaxChannelNameLength",
        "MaxEventChannelsAtOnce",
        "MaxEventNameLength",
        "MaxEventPayloadInKb",
        "MaxEventBatchSize",
        "Webhooks",
    } <= names
    assert len(names) == len(ATTRIBUTES) == len(AppSettings.__dataclass_fields__)


def test_minus_one_means_unlimited_exactly_where_zero_does() -> None:
    assert {
        "max_connections",
        "max_backend_events_per_second",
        "max_client_events_per_second",
        "max_read_requests_per_second",
    } == UNLIMITED_AT_ZERO


def test_a_soketi_item_decodes_as_it_did_there() -> None:
    assert decode_item(SOKETI_ITEM, TABLE) == AppSettings(
        id="app-id", key="app-key", secret="app-secret"
    )


def test_native_types_map_to_every_kind_of_setting() -> None:
    hook = {"url": {"S": "https://h.example/in"}, "event_types": {"L": [{"S": "member_added"}]}}
    decoded = decode_item(
        item(
            Enabled={"BOOL": False},
            EnableClientMessages={"N": "1"},
            ActivityTimeout={"N": "30"},
            MaxPresenceMembersPerChannel={"S": "50"},
            AllowedOrigins={"SS": ["https://b.example", "https://a.example"]},
            WebhookUrls={"L": [{"S": "https://one.example/hook"}]},
            Webhooks={"L": [{"M": hook}]},
            SubscriptionCountEnabled={"S": "true"},
            MaxEventBatchSize={"NULL": True},
            CreatedAt={"S": "2026-01-01"},  # not ours: ignored
        ),
        TABLE,
    )
    assert decoded == AppSettings(
        id="1",
        key="k",
        secret="s",
        enabled=False,
        enable_client_messages=True,
        activity_timeout=30,
        max_presence_members_per_channel=50,
        allowed_origins=("https://a.example", "https://b.example"),
        webhook_urls=("https://one.example/hook",),
        webhooks=(WebhookTarget("https://h.example/in", frozenset({"member_added"})),),
        subscription_count_enabled=True,
    )


def test_numeric_ids_and_json_webhooks_are_read() -> None:
    decoded = decode_item(
        item(
            AppId={"N": "42"},
            Webhooks={"S": '[{"url": "https://h.example/in", "event_types": ["client_event"]}]'},
        ),
        TABLE,
    )
    assert (decoded.id, decoded.webhooks) == (
        "42",
        (WebhookTarget("https://h.example/in", frozenset({"client_event"})),),
    )


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        (
            {"AppSecret": {"NULL": True}},
            "attribute AppSecret of app '1' in DynamoDB table apps is missing: every app needs "
            "AppId, AppKey, AppSecret",
        ),
        (
            {"MaxConnections": {"N": "-5"}},
            "invalid value -5 for app_max_connections from attribute MaxConnections of app '1' "
            "in DynamoDB table apps: expected an integer >= 0 (0 or -1 for unlimited)",
        ),
        (
            {"MaxPresenceMembersPerChannel": {"N": "-1"}},
            "invalid value -1 for app_max_presence_members_per_channel from attribute "
            "MaxPresenceMembersPerChannel of app '1' in DynamoDB table apps: expected an "
            "integer >= 0",
        ),
        (
            {"Enabled": {"S": "maybe"}},
            "invalid value 'maybe' for app_enabled from attribute Enabled of app '1' in DynamoDB "
            "table apps: expected true or false (or 1/0, yes/no, on/off)",
        ),
        (
            {"ActivityTimeout": {"N": "1.5"}},
            "invalid value 1.5 for app_activity_timeout from attribute ActivityTimeout of app "
            "'1' in DynamoDB table apps: expected an integer >= 1",
        ),
        (
            {"Webhooks": {"S": "[{"}},
            "invalid JSON '[{' in attribute Webhooks of app '1' in DynamoDB table apps: expected "
            "a JSON list",
        ),
        (
            {"Webhooks": {"S": '[{"url": "https://h.example/in", "event_types": ["joined"]}]'}},
            "invalid app_webhooks from attribute Webhooks of app '1' in DynamoDB table apps: "
            "webhook https://h.example/in: unknown event types ['joined']; known: "
            "channel_occupied, channel_vacated, member_added, member_removed, client_event, "
            "cache_miss, subscription_count",
        ),
    ],
)
def test_a_malformed_item_names_the_attribute(attributes: dict, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        decode_item(item(**attributes), TABLE)
    assert str(raised.value) == message


def test_the_docs_describe_every_attribute() -> None:
    text = DOCS.read_text()
    for name, _ in ATTRIBUTES:
        assert f"| `{name}` |" in text, name


# --- against moto's DynamoDB ------------------------------------------------------------------


@pytest.fixture
def dynamodb(moto_server: MotoServer) -> Any:
    return moto_server.client("dynamodb")


@pytest.fixture
def table(dynamodb: Any) -> Iterator[str]:
    name = unique("apps")
    create_apps_table(dynamodb, name)
    yield name
    dynamodb.delete_table(TableName=name)


def manager_for(moto: MotoServer, table: str) -> DynamoDbAppManager:
    return DynamoDbAppManager(table, Endpoint("dynamodb", REGION, moto.url, "app_manager_dynamodb"))


@pytest.fixture
def aws_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3's default chain finds moto's dummy credentials, as a server process would."""
    for name, value in moto_server.env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def manager(
    moto_server: MotoServer,
    table: str,
    aws_env: None,
) -> Iterator[DynamoDbAppManager]:
    found = manager_for(moto_server, table)
    yield found
    found.close()


def test_apps_are_found_by_id_and_by_key(dynamodb: Any, table: str, manager) -> None:
    dynamodb.put_item(TableName=table, Item={**SOKETI_ITEM, "MaxConnections": {"N": "3"}})
    expected = AppSettings(id="app-id", key="app-key", secret="app-secret", max_connections=3)
    assert manager.find_by_id("app-id") == expected
    assert manager.find_by_key("app-key") == expected
    assert manager.find_by_id("app-key") is None
    assert manager.find_by_key("app-id") is None


def test_a_malformed_item_is_refused_and_logged(
    dynamodb: Any, table: str, manager, caplog: pytest.LogCaptureFixture
) -> None:
    dynamodb.put_item(TableName=table, Item=item(MaxConnections={"N": "-5"}))
    with caplog.at_level(logging.ERROR, logger="socketrush.app_managers.dynamodb"):
        assert manager.find_by_key("k") is None
    assert [r.getMessage() for r in caplog.records] == [
        "app manager: app refused until its item is fixed: invalid value -5 for "
        "app_max_connections from attribute MaxConnections of app '1' in DynamoDB table "
        f"{table}: expected an integer >= 0 (0 or -1 for unlimited)"
    ]


def test_two_apps_with_one_key_refuse_the_key(
    dynamodb: Any, table: str, manager, caplog: pytest.LogCaptureFixture
) -> None:
    dynamodb.put_item(TableName=table, Item=item(AppId={"S": "1"}))
    dynamodb.put_item(TableName=table, Item=item(AppId={"S": "2"}))
    with caplog.at_level(logging.ERROR, logger="socketrush.app_managers.dynamodb"):
        assert manager.find_by_key("k") is None
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("app manager: key 'k' refused: apps ")
    assert line.endswith(f" in DynamoDB table {table} share it")
    assert "'1'" in line and "'2'" in line
    assert manager.find_by_id("2") == AppSettings(id="2", key="k", secret="s")


def test_a_missing_table_is_an_error_not_a_missing_app(
    moto_server: MotoServer,
    aws_env: None,
) -> None:
    missing = manager_for(moto_server, "no-such-table")
    with pytest.raises(AppManagerError) as raised:
        missing.find_by_id("1")
    assert str(raised.value) == (
        f"DynamoDB table no-such-table or its index AppKeyIndex does not exist (region "
        f"{REGION}, endpoint {moto_server.url}): ResourceNotFoundException: Requested resource "
        "not found; create them as docs/app-managers.md shows"
    )


def test_a_table_without_the_key_index_is_an_error(
    moto_server: MotoServer,
    dynamodb: Any,
    aws_env: None,
) -> None:
    name = unique("no-index")
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "AppId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "AppId", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        with pytest.raises(AppManagerError, match=f"^DynamoDB table {name} or its index Ap"):
            manager_for(moto_server, name).find_by_key("k")
    finally:
        dynamodb.delete_table(TableName=name)


def test_an_unreachable_endpoint_fails_the_lookup_and_is_not_cached(
    moto_server: MotoServer,
    dynamodb: Any,
    table: str,
    manager,
) -> None:
    dynamodb.put_item(TableName=table, Item=item())
    nowhere = f"http://127.0.0.1:{free_port()}"
    down = DynamoDbAppManager(table, Endpoint("dynamodb", REGION, nowhere, "x"))
    cached = CachedAppManager(down, ttl_seconds=60)
    with pytest.raises(AppManagerError) as raised:
        cached.find_by_key("k")
    assert str(raised.value).startswith(
        f"app lookup in DynamoDB table {table} (region {REGION}, endpoint {nowhere}) failed: "
        f'Could not connect to the endpoint URL: "{nowhere}/"'
    )
    down._client = manager._client  # the endpoint is back: the failure was not cached
    assert cached.find_by_key("k") == AppSettings(id="1", key="k", secret="s")
