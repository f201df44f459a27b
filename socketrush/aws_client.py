"""boto3 clients for the AWS drivers: the DynamoDB app manager, the SQS queue, SNS webhooks.

boto3 is the optional `aws` extra and is imported only when one of those drivers is built, so
`pip install socketrush` stays light. Credentials come from boto3's standard chain
(`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE`, web identity, container and
instance roles). `socketrush serve` and gunicorn's gevent worker monkey-patch the standard
library before boto3 is imported (`socketrush/entrypoint.py`), so botocore's urllib3 sockets
yield to other greenlets: a slow AWS call holds its own greenlet, never the node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from socketrush.config import ConfigError

DEFAULT_REGION = "us-east-1"  # soketi's default, and boto3's usual one
INSTALL_HINT = "pip install 'socketrush[aws]'"
_SQS_URL_REGION = re.compile(r"^https://sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one AWS service is reached; empty fields mean boto3's own choice."""

    service: str
    region: str = ""
    url: str = ""
    option_prefix: str = ""  # e.g. "queue_sqs": named in error messages


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per call: botocore retries throttling, 5xx and timeouts itself, `attempts` in all."""

    connect: float = 3.0
    read: float = 5.0
    attempts: int = 2
    pool: int = 10  # open connections kept per client; more concurrent calls open and close


def region_of_sqs_url(url: str) -> str:
    """`https://sqs.eu-west-1.amazonaws.com/123/q` -> `eu-west-1`; "" for other URLs."""
    found = _SQS_URL_REGION.match(url)
    return found.group(1) if found else ""


def region_of_arn(arn: str) -> str:
    """`arn:aws:sns:eu-west-1:123:topic` -> `eu-west-1`; "" when the ARN names none."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 5 and parts[0] == "arn" else ""


def require_boto3(what: str) -> None:
    """Raise a ConfigError naming `what` (e.g. "app_manager dynamodb") if boto3 is missing."""
    try:
        import boto3  # noqa: F401
    except ImportError:
        raise ConfigError(f"{what} needs boto3, which is not installed: {INSTALL_HINT}") from None


def make_client(endpoint: Endpoint, timeouts: Timeouts = Timeouts()) -> Any:
    """A boto3 client, or a ConfigError saying what to install or which option is wrong."""
    require_boto3(endpoint.option_prefix or endpoint.service)
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    if endpoint.url:
        parts = urlsplit(endpoint.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"invalid {endpoint.option_prefix}_endpoint {endpoint.url!r}: expected an "
                "http:// or https:// URL"
            )
    session = boto3.session.Session()
    config = Config(
        connect_timeout=timeouts.connect,
        read_timeout=timeouts.read,
        retries={"total_max_attempts": timeouts.attempts, "mode": "standard"},
        max_pool_connections=timeouts.pool,
    )
    try:
        return session.client(
            endpoint.service,
            region_name=endpoint.region or session.region_name or DEFAULT_REGION,
            endpoint_url=endpoint.url or None,
            config=config,
        )
    except (ValueError, BotoCoreError) as error:  # a region name botocore refuses
        raise ConfigError(
            f"invalid {endpoint.option_prefix}_region {endpoint.region!r}: {error}"
        ) from None


def describe(error: Exception) -> str:
    """One line for a log: AWS's error code and message, or botocore's own words."""
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        details = response["Error"]
        return f"{details.get('Code', 'Error')}: {details.get('Message', '')}".rstrip(": ")
    return str(error) or type(error).__name__


def error_code(error: Exception) -> str:
    """AWS's error code of a ClientError (e.g. `ResourceNotFoundException`), else ""."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
