"""tell_later and the Cancellable handle: delivery, cancellation, cleanup on stop."""

from __future__ import annotations

import logging

import pytest
from gevent.event import Event

from actors import Cancellable, timer
from tests.actors.recorder import Ping, Recorder, blocked


def probe_after(delay: float) -> Event:
    """An event set by a loop timer after `delay`: timers fire in expiry order, so once it is
    set every timer due earlier has fired."""
    fired = Event()
    Cancellable.after(delay, fired.set)
    return fired


def test_tell_later_delivers_the_message() -> None:
    actor = Recorder().start()
    ping = Ping("late")
    handle = actor.tell_later(0.01, ping)
    assert handle.active is True
    assert ping.done.wait(1) is True
    assert actor.seen == ["late"]
    assert handle.active is False
    assert actor._timers == set()


def test_cancel_prevents_delivery() -> None:
    actor = Recorder().start()
    cancelled, kept = Ping("cancelled"), Ping("kept")
    handle = actor.tell_later(0.01, cancelled)
    handle.cancel()
    handle.cancel()  # idempotent
    assert handle.active is False
    assert actor._timers == set()
    actor.tell_later(0.03, kept)
    assert kept.done.wait(1) is True
    assert actor.seen == ["kept"]


def test_stopping_the_actor_cancels_its_timers() -> None:
    actor = Recorder().start()
    pending = actor.tell_later(0.01, Ping("never"))
    actor.stop()
    assert pending.active is False
    assert actor.tell_later(0.01, Ping("after stop")).active is False
    assert probe_after(0.03).wait(1) is True
    assert actor.join(1) is True
    assert actor.seen == []


def test_a_delayed_message_to_a_full_mailbox_is_dropped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    actor = Recorder(mailbox_size=1).start()
    block = blocked(actor)
    actor.tell("fills the mailbox")
    with caplog.at_level(logging.WARNING, logger="actors"):
        actor.tell_later(0.01, Ping("overflow"))
        assert probe_after(0.03).wait(1) is True
    assert [record.getMessage() for record in caplog.records] == [
        "actor rec: mailbox full, dropped delayed Ping"
    ]
    actor.stop(drain=True)
    block.release.set()
    assert actor.join(1) is True
    assert actor.seen == ["fills the mailbox"]


def test_on_release_runs_once_whether_the_call_fires_or_is_cancelled() -> None:
    released: list[Cancellable] = []
    fired = Event()
    firing = Cancellable.after(0.01, fired.set, on_release=released.append)
    cancelled = Cancellable.after(0.01, fired.set, on_release=released.append)
    cancelled.cancel()
    cancelled.cancel()
    assert released == [cancelled]
    assert fired.wait(1) is True
    assert released == [cancelled, firing]


def test_an_empty_handle_has_nothing_pending() -> None:
    handle = Cancellable()
    assert handle.active is False
    handle.cancel()
    assert handle.active is False


def test_pending_timers_counts_armed_calls_until_they_fire_or_are_cancelled() -> None:
    before = timer.pending_timers()
    kept, cancelled = Cancellable.after(0.01, lambda: None), Cancellable.after(60, lambda: None)
    assert timer.pending_timers() == before + 2
    cancelled.cancel()
    cancelled.cancel()  # a second cancel releases nothing more
    assert timer.pending_timers() == before + 1
    assert probe_after(0.02).wait(1) is True
    assert kept.active is False
    assert timer.pending_timers() == before


def test_stopping_an_actor_releases_its_pending_timers() -> None:
    before = timer.pending_timers()
    actor = Recorder().start()
    for _ in range(3):
        actor.tell_later(60, Ping("never"))
    assert timer.pending_timers() == before + 3
    actor.stop()
    assert timer.pending_timers() == before
