"""boto3 clients for the AWS drivers: what they are built with, and clear errors instead."""

from __future__ import annotations

import sys

import pytest

from socketrush.aws_client import (
    Endpoint,
    describe,
    error_code,
    make_client,
    region_of_arn,
    region_of_sqs_url,
    require_boto3,
)
from socketrush.config import ConfigError


def test_a_client_takes_the_given_region_endpoint_and_timeouts() -> None:
    client = make_client(Endpoint("sqs", "eu-west-1", "http://127.0.0.1:9", "queue_sqs"))
    assert (client.meta.region_name, client.meta.endpoint_url) == (
        "eu-west-1",
        "http://127.0.0.1:9",
    )
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (3.0, 5.0)
    assert client.meta.config.retries == {"total_max_attempts": 2, "mode": "standard"}


def test_without_a_region_the_default_chain_then_us_east_1_decide(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert make_client(Endpoint("sqs")).meta.region_name == "us-east-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert make_client(Endpoint("sqs")).meta.region_name == "ap-south-1"


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError) as raised:
        make_client(Endpoint("sqs", "", "localhost:4566", "queue_sqs"))
    assert str(raised.value) == (
        "invalid queue_sqs_endpoint 'localhost:4566': expected an http:// or https:// URL"
    )
    with pytest.raises(ConfigError) as raised:
        make_client(Endpoint("sqs", "eu west", "", "queue_sqs"))
    assert str(raised.value) == (
        "invalid queue_sqs_region 'eu west': Provided region_name 'eu west' doesn't match a "
        "supported format."
    )


def test_a_missing_boto3_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # `import boto3` raises ImportError
    with pytest.raises(ConfigError) as raised:
        require_boto3("queue_driver sqs")
    assert str(raised.value) == (
        "queue_driver sqs needs boto3, which is not installed: pip install 'socketrush[aws]'"
    )


def test_regions_are_read_from_queue_urls_and_arns() -> None:
    assert region_of_sqs_url("https://sqs.eu-west-1.amazonaws.com/123456789012/jobs") == (
        "eu-west-1"
    )
    assert region_of_sqs_url("http://127.0.0.1:4566/000000000000/jobs") == ""
    assert region_of_arn("arn:aws:sns:ap-south-1:123456789012:hooks") == "ap-south-1"
    assert region_of_arn("hooks") == ""


def test_errors_are_described_in_one_line() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError

    refused = ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "GetItem")
    assert (describe(refused), error_code(refused)) == ("AccessDenied: not allowed", "AccessDenied")
    down = EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    assert (describe(down), error_code(down)) == (
        'Could not connect to the endpoint URL: "http://127.0.0.1:9"',
        "",
    )
