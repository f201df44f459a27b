"""Fixtures for pusher-js interop: the server, npm deps, the SDK-backed auth endpoint, the driver.

The official Python SDK only accepts numeric app ids, so these tests run their own server with
a numeric id instead of the shared "test-app" default. Every scenario runs twice: over ws, and
over wss with a throw-away certificate (pusher-js, the SDK and the auth endpoint unchanged).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pusher
import pytest

from loadtests.certificates import make_certificate
from tests.interop.node_driver import INTEROP_DIR, NodeDriver
from tests.support.auth_endpoint import AuthEndpoint
from tests.support.npm import npm_install
from tests.support.server import APP_KEY, APP_SECRET, ServerProcess, TlsServerProcess

APP_ID = "424242"


@pytest.fixture(scope="session")
def pusher_js() -> None:
    """Install the pinned pusher-js once; a missing Node or a failed install fails the test."""
    npm_install(INTEROP_DIR, "pusher-js")


@pytest.fixture(scope="module", params=["ws", "wss"])
def server(request, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Overrides the shared server: numeric app id for the SDK, client events enabled."""
    args = ["--app-id", APP_ID, "--app-key", APP_KEY, "--app-secret", APP_SECRET]
    args += ["--app-enable-client-messages", "true"]
    if request.param == "wss":
        certificate = make_certificate(tmp_path_factory.mktemp("tls"))
        proc = TlsServerProcess(args=args, with_default_app=False, certificate=certificate)
    else:
        proc = ServerProcess(args=args, with_default_app=False)
    with proc:
        yield proc


def cafile_of(server: ServerProcess) -> str | None:
    return server.cafile if isinstance(server, TlsServerProcess) else None


@pytest.fixture(scope="module")
def sdk(server: ServerProcess) -> pusher.Pusher:
    """The official Python server SDK pointed at our server (over https, trusting its
    certificate, when it speaks TLS), with an encryption master key."""
    cafile = cafile_of(server)
    client = pusher.Pusher(
        app_id=APP_ID,
        key=APP_KEY,
        secret=APP_SECRET,
        host="127.0.0.1",
        port=server.port,
        ssl=cafile is not None,
        encryption_master_key_base64=base64.b64encode(os.urandom(32)).decode(),
    )
    if cafile is not None:
        client._pusher_client.http.options["verify"] = cafile  # the SDK's requests options
    return client


@pytest.fixture(scope="module")
def auth_endpoint(sdk: pusher.Pusher, server: ServerProcess) -> Iterator[AuthEndpoint]:
    """Signs with `sdk`, and on its forged route with an SDK holding the wrong secret."""
    forger = pusher.Pusher(
        app_id=APP_ID,
        key=APP_KEY,
        secret="not-the-app-secret",
        host="127.0.0.1",
        port=server.port,
        ssl=False,
    )
    with AuthEndpoint(sdk, forger) as endpoint:
        yield endpoint


@pytest.fixture
def driver(pusher_js: None, server: ServerProcess) -> Iterator[NodeDriver]:
    """A fresh pusher-js process per scenario; it must end cleanly once told to."""
    node = NodeDriver(server.port, APP_KEY, cafile_of(server))
    yield node
    assert node.close() == 0, node.observed(source="driver")
