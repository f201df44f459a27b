"""A Redis queue consumer process for tests: `python -m tests.socketrush.queues.consumer ...`.

It runs like a node's queue (monkey-patched, RedisQueue + WebhookSender) so tests can SIGKILL it
mid-delivery. It prints `ready` once it is consuming and stops cleanly on SIGTERM.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402
import redis  # noqa: E402
from gevent.event import Event  # noqa: E402

from socketrush.queues.redis import RedisQueue  # noqa: E402
from socketrush.redis_client import RedisKeys  # noqa: E402
from socketrush.webhooks.sender import RetryPolicy, WebhookSender  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--node-id", required=True)
    parser.add_argument("--lease", type=float, default=1.0)
    parser.add_argument("--stop-timeout", type=float, default=5.0)
    args = parser.parse_args()
    queue = RedisQueue(
        redis.Redis.from_url(args.url),
        RedisKeys(args.prefix),
        workers=2,
        lease=args.lease,
        node_id=args.node_id,
    )
    queue.start(WebhookSender(RetryPolicy(max_attempts=3, base_delay=0.05, timeout=30)))
    stop = Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    stop.wait()
    queue.stop(args.stop_timeout)
    sys.exit(0)


if __name__ == "__main__":
    main()
