"""A webhook receiver in a process of its own, for the soak: each request's events go to a JSON
lines file, one line per request, with the request's id header (retries carry the same id, so
the soak counts a webhook once however often it was sent).

    python -m loadtests.webhook_receiver --port 8099 --out webhooks.jsonl

Its own process so that the soak can pause it for real (SIGSTOP: the kernel still accepts
connections, nothing answers them) and resume it (SIGCONT), as a stalled endpoint would. It
answers 200 to every POST and listens on loopback only.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ID_HEADER = "X-Socket-Rush-Webhook-Id"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # requests that arrive while paused wait in the listen backlog


def serve(port: int, out: Path) -> None:
    lock = threading.Lock()
    sink = out.open("a", encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                events = json.loads(body)["events"]
            except (ValueError, KeyError, TypeError):
                events = None
            line = json.dumps({"id": self.headers.get(ID_HEADER), "events": events})
            with lock:
                sink.write(line + "\n")
                sink.flush()
            self.send_response(200 if events is not None else 400)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = _Server(("127.0.0.1", port), Handler)
    print("ready", flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    serve(args.port, args.out)


if __name__ == "__main__":
    main()
