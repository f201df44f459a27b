"""Throw-away TLS certificates for servers started on 127.0.0.1 (benchmarks and tests)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gevent import ssl


def make_certificate(directory: Path, passphrase: str | None = None) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (encrypted with `passphrase` if
    given), made with openssl; returns (certificate, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = [
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        str(key),
        "-out",
        str(cert),
    ]
    command += ["-passout", f"pass:{passphrase}"] if passphrase else ["-nodes"]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return cert, key


def client_context(cafile: str | Path) -> ssl.SSLContext:
    """A TLS client context trusting `cafile`. gevent's own: `ssl.create_default_context`
    builds the standard library's, whose sockets block, in a process that is not patched."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(cafile))
    return context
