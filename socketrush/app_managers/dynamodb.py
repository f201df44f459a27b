"""Apps stored as items of one DynamoDB table, laid out as soketi lays them out.

The table's partition key is the string `AppId`; a global secondary index `AppKeyIndex` on the
string `AppKey` (projecting all attributes) finds apps by key. Every other app setting is an
attribute named like its option in PascalCase (`AppSecret`, `Enabled`, `MaxConnections`,
`EnableClientMessages`, `Webhooks`, ...), derived from `socketrush.options` so a new app setting
gets an attribute without a second list to keep in step. A missing attribute means the default.
docs/app-managers.md documents the table and the command that creates it.

Values are accepted in the types soketi's items use, so migrated tables work as they are:
numbers as N or numeric strings, booleans as BOOL, the strings or bytes "true"/"false", or 0/1;
lists as L, SS or JSON text; `Webhooks` as JSON text or a list of maps. `-1`, soketi's
"unlimited", means 0 (our unlimited) for the limits where 0 is unlimited. A malformed item
refuses that one app (logged, and cached like a missing app), never the server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
from boto3.dynamodb.types import Binary, TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from socketrush.app_managers.base import AppManager, AppManagerError
from socketrush.aws_client import Endpoint, describe, error_code, make_client
from socketrush.config import ConfigError, Given, parse_value
from socketrush.options import OPTIONS, Kind, Option, Scope
from socketrush.settings import AppSettings

KEY_INDEX = "AppKeyIndex"
MAX_CONCURRENT_LOOKUPS = 10  # what a flood of unknown keys may ask of the table at once
WAIT_SECONDS = 10.0  # for a free lookup slot, as the SQL managers wait for a connection
_CREDENTIALS = {"id": "AppId", "key": "AppKey", "secret": "AppSecret"}
log = logging.getLogger(__name__)


def attribute_name(option: Option) -> str:
    """`max_presence_member_size_in_kb` -> `MaxPresenceMemberSizeInKb`; id/key/secret as soketi."""
    return _CREDENTIALS.get(option.field) or "".join(
        part.capitalize() for part in option.field.split("_")
    )


ATTRIBUTES: tuple[tuple[str, Option], ...] = tuple(
    (attribute_name(option), option) for option in OPTIONS if option.scope is Scope.APP
)
# Limits whose 0 means "no limit": soketi's items say -1 there, which parse_value reads as 0.
UNLIMITED_AT_ZERO = frozenset(option.field for option in OPTIONS if option.zero_means_unlimited)

_deserializer = TypeDeserializer()


def _plain(value: object) -> object:
    """A deserialized attribute as JSON-like Python: ints for whole numbers, bytes, lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Binary):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(_plain(item) for item in value)  # type: ignore[type-var]
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _setting_value(option: Option, raw: object, source: str) -> object:
    """One attribute's value as its option's Python value, validated like a flag or JSON key."""
    if isinstance(raw, bytes):  # soketi's fixtures store booleans as binary "true"/"false"
        raw = raw.decode(errors="replace")
    kind = option.kind
    if (kind.is_list or kind is Kind.WEBHOOKS) and isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ConfigError(f"invalid JSON {raw!r} in {source}: expected a JSON list") from None
    elif kind is Kind.BOOL and isinstance(raw, int) and not isinstance(raw, bool):
        raw = raw != 0
    return parse_value(option, Given(raw, source))


def decode_item(item: Mapping[str, Any], table: str) -> AppSettings:
    """AppSettings from one item as DynamoDB's API returns it (`{"AppId": {"S": "1"}, ...}`).

    Attributes this version does not know are ignored; a NULL or missing one takes the default.
    Raises ConfigError naming the bad attribute (a webhook the app cannot deliver to included).
    """
    app_id = _plain(_deserializer.deserialize(item["AppId"])) if "AppId" in item else None
    values: dict[str, object] = {}
    for name, option in ATTRIBUTES:
        source = f"attribute {name} of app {app_id!r} in DynamoDB table {table}"
        raw = _plain(_deserializer.deserialize(item[name])) if name in item else None
        if raw is None:
            if option.field in _CREDENTIALS:
                raise ConfigError(f"{source} is missing: every app needs AppId, AppKey, AppSecret")
            continue
        values[option.field] = _setting_value(option, raw, source)
    return AppSettings(**values)  # type: ignore[arg-type]


class DynamoDbAppManager(AppManager):
    """Looks apps up in the table on every call; wrap it in CachedAppManager.

    Reads by id are strongly consistent; reads by key go through the global secondary index,
    which DynamoDB updates within about a second of a write. Two items with one key refuse that
    key, rather than pick a secret at random.
    """

    def __init__(self, table: str, endpoint: Endpoint, client: Any = None) -> None:
        self._table = table
        self._client = client if client is not None else make_client(endpoint)
        meta = self._client.meta
        self._where = f"region {meta.region_name}, endpoint {meta.endpoint_url}"
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT_LOOKUPS)  # gevent's, once patched

    def find_by_id(self, app_id: str) -> AppSettings | None:
        response = self._call(
            "get_item",
            TableName=self._table,
            Key={"AppId": {"S": app_id}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return None if item is None else self._decode(item)

    def find_by_key(self, key: str) -> AppSettings | None:
        response = self._call(
            "query",
            TableName=self._table,
            IndexName=KEY_INDEX,
            KeyConditionExpression="AppKey = :key",
            ExpressionAttributeValues={":key": {"S": key}},
            Limit=2,
        )
        items = response.get("Items", [])
        if len(items) > 1:
            ids = ", ".join(repr(_plain(_deserializer.deserialize(i["AppId"]))) for i in items)
            log.error(
                "app manager: key %r refused: apps %s in DynamoDB table %s share it",
                key,
                ids,
                self._table,
            )
            return None
        return self._decode(items[0]) if items else None

    def close(self) -> None:
        self._client.close()

    def _decode(self, item: Mapping[str, Any]) -> AppSettings | None:
        try:
            return decode_item(item, self._table)
        except ConfigError as error:
            # Logged, answered "no such app", and so cached like a miss: a broken item must not
            # cost one read per connection attempt.
            log.error("app manager: app refused until its item is fixed: %s", error)
            return None

    def _call(self, operation: str, **request: object) -> dict:
        if not self._slots.acquire(timeout=WAIT_SECONDS):
            raise AppManagerError(
                f"{MAX_CONCURRENT_LOOKUPS} lookups in DynamoDB table {self._table} "
                f"({self._where}) stayed busy for {WAIT_SECONDS:g} s"
            )
        try:
            return getattr(self._client, operation)(**request)
        except ClientError as error:
            raise self._failure(error) from None
        except BotoCoreError as error:  # unreachable endpoint, no credentials, timeouts
            raise AppManagerError(
                f"app lookup in DynamoDB table {self._table} ({self._where}) failed: "
                f"{describe(error)}"
            ) from None
        finally:
            self._slots.release()

    def _failure(self, error: ClientError) -> AppManagerError:
        if error_code(error) == "ResourceNotFoundException":
            return AppManagerError(
                f"DynamoDB table {self._table} or its index {KEY_INDEX} does not exist "
                f"({self._where}): {describe(error)}; create them as docs/app-managers.md shows"
            )
        return AppManagerError(
            f"app lookup in DynamoDB table {self._table} ({self._where}) failed: {describe(error)}"
        )
