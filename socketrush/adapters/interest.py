"""Interest: which topics a node wants, and which of them the bus has confirmed.

Both bus adapters keep one `Interest` and use it from the hub's thread only (the app and
dashboard actors that watch topics, the greenlet that talks to the bus), never across a yield,
so it needs no lock. It is pure bookkeeping, the bus's requests and answers are the adapter's:

- `watch`/`unwatch` count the watchers of a topic (a channel actor, a dashboard page...). The
  first watcher of a topic the bus has not confirmed waits: its `on_ready` runs once the
  subscription is active, so nothing published after that can be missed. A topic that is
  active already, or a bus that is down (nothing can cross meanwhile), is ready at once.
- `requests` says which subscribes and unsubscribes to send now; `answered` takes each
  confirmation and says whose wait is over. A topic unwatched and watched again before its
  unsubscribe went out never leaves the bus; one whose unsubscribe went out is subscribed
  again and its new watcher waits for that confirmation, not for the old one's.
- `failed` takes a request the bus did not take: the topic counts as not asked, is asked
  again by the next `requests`, and its waiters wait for that.
- `connection_lost` releases every waiter (a client must not wait for a bus that may be away
  for minutes: it gets its subscription and, meanwhile, this node's events only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

Ready = Callable[[], None]


@dataclass(slots=True)
class _Entry:
    watchers: int = 0
    asked: bool = False  # the last request sent for it was a subscribe
    unanswered: int = 0  # requests sent and not yet confirmed
    waiting: list[Ready] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.asked and not self.unanswered


class Interest:
    """State: an entry per topic that is wanted or has requests in flight, the topics whose
    wanted state differs from what was last asked (`_dirty`), how many entries are `asked`
    (`len` runs at every request batch: counting them there would cost a pass over every
    topic), and whether the bus is up."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._dirty: set[str] = set()
        self._asked = 0
        self.connected = False

    def __len__(self) -> int:
        """Topics subscribed now (asked for and not dropped since)."""
        return self._asked

    def _set_asked(self, entry: _Entry, asked: bool) -> None:
        """The one place `asked` changes, so that `_asked` counts it."""
        if entry.asked != asked:
            entry.asked = asked
            self._asked += 1 if asked else -1

    def watch(self, name: str, on_ready: Ready) -> bool:
        """One more watcher of topic `name`. True: it is ready now; False: `on_ready` runs
        once it is (or once the connection is lost)."""
        entry = self._entries.get(name)
        if entry is None:
            entry = self._entries[name] = _Entry()
        entry.watchers += 1
        if entry.watchers == 1:
            self._dirty.add(name)
        if entry.active or not self.connected:
            return True  # (active: also when unwatched and watched again before it was sent)
        entry.waiting.append(on_ready)
        return False

    def unwatch(self, name: str) -> None:
        entry = self._entries.get(name)
        if entry is None or entry.watchers == 0:
            return
        entry.watchers -= 1
        if entry.watchers == 0:
            self._dirty.add(name)

    def settled(self, name: str) -> bool:
        """Whatever the bus delivers on `name` from now on reaches every watcher: nobody
        watches it, or its subscription is active."""
        entry = self._entries.get(name)
        return entry is None or entry.watchers == 0 or entry.active

    def requests(self) -> tuple[list[str], list[str]]:
        """(subscribe, unsubscribe): what to ask the bus now; each is then awaited."""
        subscribe: list[str] = []
        unsubscribe: list[str] = []
        for name in self._dirty:
            entry = self._entries.get(name)
            if entry is None:  # forgotten meanwhile (`lost`, `answered`): nothing to ask
                continue
            wanted = entry.watchers > 0
            if wanted != entry.asked:
                self._set_asked(entry, wanted)
                entry.unanswered += 1
                (subscribe if wanted else unsubscribe).append(name)
            elif not wanted and not entry.unanswered:
                del self._entries[name]
        self._dirty.clear()
        return subscribe, unsubscribe

    def answered(self, name: str) -> list[Ready]:
        """The bus confirmed one request about `name` (in the order they were sent): the
        waiters to release now that it is active. An answer nobody awaits is ignored."""
        entry = self._entries.get(name)
        if entry is None or not entry.unanswered:
            return []
        entry.unanswered -= 1
        if entry.unanswered:
            return []
        if not entry.asked:
            if not entry.watchers:
                del self._entries[name]
            return []
        waiting, entry.waiting = entry.waiting, []
        return waiting

    def failed(self, name: str) -> None:
        """The oldest request about `name` did not take effect, and left nothing of it on the
        bus (the adapter undoes a subscribe it could not confirm). Unless a request sent
        after it settles the topic, it counts as not asked; still watched, it is asked again
        at the next `requests`, and its waiters are not released before that is answered."""
        entry = self._entries.get(name)
        if entry is None or not entry.unanswered:
            return
        entry.unanswered -= 1
        if entry.unanswered:
            return  # a later request about it decides what the bus has
        self._set_asked(entry, False)
        if entry.watchers:
            self._dirty.add(name)
        else:
            del self._entries[name]

    def asked_for(self, name: str) -> bool:
        """The last request sent about `name` was a subscribe."""
        entry = self._entries.get(name)
        return entry is not None and entry.asked

    def lost(self, names: Iterable[str], release: bool) -> list[Ready]:
        """The bus no longer carries these topics (their connection broke, or Redis Cluster
        moved their slot): ask for them again. `release`: their waiters are released (and
        returned) rather than kept waiting for the new subscription."""
        released: list[Ready] = []
        for name in names:
            entry = self._entries.get(name)
            if entry is None:
                continue
            self._set_asked(entry, False)
            entry.unanswered = 0
            if release:
                released += entry.waiting
                entry.waiting = []
            if entry.watchers:
                self._dirty.add(name)
            else:
                del self._entries[name]
        return released

    def connection_lost(self, forget: bool = True) -> list[Ready]:
        """Every waiter is released and returned. `forget`: nothing is subscribed any more
        (Redis: a new connection must subscribe everything again); otherwise the client
        resubscribes by itself (nats-py) and only the waiting ends."""
        self.connected = False
        if forget:
            return self.lost(list(self._entries), release=True)
        released: list[Ready] = []
        for entry in self._entries.values():
            released += entry.waiting
            entry.waiting = []
        return released

    def wanted(self) -> list[str]:
        return [name for name, entry in self._entries.items() if entry.watchers]
