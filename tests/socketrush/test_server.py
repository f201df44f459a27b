"""The server process as operators see it: TLS on the same port, and graceful shutdown."""

from __future__ import annotations

import json
import signal
import socket
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pusher
import pytest
import websocket

from loadtests.certificates import make_certificate
from tests.support.client import ConnectionClosed, PusherClient
from tests.support.server import ServerProcess, TlsServerProcess


@pytest.mark.parametrize("passphrase", [None, "s3cret"])
def test_tls_serves_wss_and_https_on_one_port(tmp_path: Path, passphrase: str | None) -> None:
    cert, key = make_certificate(tmp_path, passphrase)
    args = ["--ssl-passphrase", passphrase] if passphrase else []
    with TlsServerProcess(args=args, certificate=(cert, key)) as server:
        context = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(server.http_url + "/", context=context, timeout=5) as reply:
            assert reply.status == 200
            assert reply.read() == b"OK"
        ws = websocket.create_connection(server.ws_url(), timeout=5, sslopt={"ca_certs": str(cert)})
        established = json.loads(ws.recv())
        assert established["event"] == "pusher:connection_established"
        ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "news"}}))
        assert json.loads(ws.recv())["event"] == "pusher_internal:subscription_succeeded"
        _trigger_https(server, str(cert))
        event = json.loads(ws.recv())
        assert event == {"event": "tls-event", "channel": "news", "data": "over tls"}
        ws.close()


def _trigger_https(server: TlsServerProcess, cafile: str) -> None:
    """Publish with the official SDK over https, trusting the throw-away certificate."""
    client = pusher.Pusher(
        app_id="424242",
        key="test-key",
        secret="test-secret",
        host="127.0.0.1",
        port=server.port,
        ssl=True,
    )
    client._pusher_client.http.options["verify"] = cafile
    assert client.trigger("news", "tls-event", "over tls") == {}


def test_tls_needs_both_files(tmp_path: Path) -> None:
    cert, _ = make_certificate(tmp_path)
    result = subprocess.run(
        ServerProcess(args=["--ssl-cert", str(cert)]).command(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "ssl_cert" in result.stderr and "ssl_key" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_tells_clients_to_reconnect_and_exits_cleanly() -> None:
    server = ServerProcess(args=["--shutdown-grace-period", "5"]).start()
    try:
        first, second = PusherClient.connect(server), PusherClient.connect(server)
        server.process.send_signal(signal.SIGTERM)
        for client in (first, second):
            error = client.recv()
            assert error == {
                "event": "pusher:error",
                "data": {"code": 4200, "message": "Server is shutting down, reconnect"},
            }
            with pytest.raises(ConnectionClosed) as closed:
                client.recv()
            assert closed.value.code == 4200
        assert server.process.wait(10) == 0
    finally:
        server.stop()


@pytest.mark.parametrize("ignore", [False, True])
def test_request_logs_follow_ignore_logger_middleware(ignore: bool) -> None:
    args = ["--ignore-logger-middleware", "true"] if ignore else []
    server = ServerProcess(args=args, env={"LOG_LEVEL": "info"}).start()
    try:
        with urllib.request.urlopen(server.http_url + "/usage", timeout=5) as reply:
            assert reply.status == 200
        server.stop()
        logged = '"GET /usage HTTP/1.1" 200' in server.log()
        assert logged is not ignore
    finally:
        server.stop()


def test_a_request_line_with_nul_and_high_bytes_is_logged_escaped() -> None:
    """The access log line quotes the client's request line: a NUL or a 0xFF byte in it must
    not make the log binary."""
    server = ServerProcess(env={"LOG_LEVEL": "info"}).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"GET /\x00\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 404 ")
        server.stop()
        log = server.log_path.read_bytes()
        assert b"\x00" not in log and b"\xff" not in log
        assert '"GET /\\x00\\xff HTTP/1.1" 404' in log.decode("ascii")
    finally:
        server.stop()
