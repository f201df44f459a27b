"""moto's standalone server on a free loopback port: DynamoDB, SQS and SNS over their real wire
protocols, driven by boto3 exactly as AWS would be (real AWS is never reachable from tests).

The server runs in its own process group and is killed as a whole. Clients get dummy
credentials and never look for others: `env` is what a server process under test needs (no
profile files, no instance metadata lookups). Tests share one server per session and keep apart
by using fresh table and queue names.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.polling import wait_until
from tests.support.server import free_port

REGION = "us-east-1"
STARTUP_TIMEOUT = 30.0
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
KEY_INDEX = "AppKeyIndex"


class MotoServer:
    """One `python -m moto.server` process; `.url` is its endpoint for every service."""

    def __init__(self) -> None:
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log = Path(tempfile.gettempdir()) / f"socketrush-moto-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for a process that talks to this server through boto3's default chain."""
        return {
            **CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def client(self, service: str) -> Any:
        # Imported here: boto3 loads urllib3 and ssl, and tests/conftest.py imports this module
        # before locust's tests monkey-patch ssl, which must come first.
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def start(self) -> MotoServer:
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self._answers, STARTUP_TIMEOUT, lambda: f"moto did not start:\n{self.log()}")
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def log(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def _answers(self) -> bool:
        """Polled: the port is not bound until moto has loaded, and nothing signals that."""
        assert self._process is not None
        assert self._process.poll() is None, f"moto exited:\n{self.log()}"
        try:
            with urllib.request.urlopen(self.url + "/moto-api/", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server for the whole session; tests use fresh names (`unique`)."""
    server = MotoServer()
    try:
        server.start()
    except AssertionError as problem:
        pytest.fail(str(problem), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_apps_table(dynamodb: Any, table: str) -> None:
    """The table docs/app-managers.md tells operators to create (soketi's layout)."""
    dynamodb.create_table(
        TableName=table,
        AttributeDefinitions=[
            {"AttributeName": "AppId", "AttributeType": "S"},
            {"AttributeName": "AppKey", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "AppId", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": KEY_INDEX,
                "KeySchema": [{"AttributeName": "AppKey", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
