"""Actor lifecycle, tell/ask semantics, stopping, bounded mailboxes and greenlet economy."""

from __future__ import annotations

import gc

import gevent
import greenlet
import pytest

from actors import Actor, ActorDeadError, AskTimeout, MailboxFull, runners
from tests.actors.recorder import AskSelf, Fail, Ping, Recorder, StopSelf, blocked


def test_tells_arrive_in_order() -> None:
    actor = Recorder().start()
    for number in range(1000):
        assert actor.tell(number) is True
    actor.stop(drain=True)
    assert actor.join(1) is True
    assert actor.seen == list(range(1000))


def test_on_start_runs_in_the_actor_greenlet_before_the_first_message() -> None:
    actor = Recorder()
    assert actor.tell("told before start") is True
    assert actor.is_alive is False
    actor.start()
    assert actor.is_alive is True
    assert actor.ask("asked") == "asked"
    assert actor.events == ["start"]
    assert actor.seen == ["told before start", "asked"]
    assert actor.greenlets[0] is not gevent.getcurrent()
    assert actor.greenlets[0] is actor.greenlets[1]


def test_ask_returns_the_value_of_receive() -> None:
    actor = Recorder().start()
    assert actor.ask({"n": 1}) == {"n": 1}


def test_ask_reraises_the_same_exception_and_the_actor_carries_on() -> None:
    actor = Recorder().start()
    error = ValueError("bad request")
    with pytest.raises(ValueError) as raised:
        actor.ask(Fail(error))
    assert raised.value is error
    assert actor.ask("next") == "next"
    assert actor.is_alive is True
    assert actor.events == ["start"]  # not a crash: no restart


def test_ask_times_out_and_the_message_is_still_handled_later() -> None:
    actor = Recorder().start()
    block = blocked(actor)
    with pytest.raises(AskTimeout, match="rec did not answer str within 0.01s"):
        actor.ask("late", timeout=0.01)
    block.release.set()
    assert actor.ask("barrier") == "barrier"
    assert actor.seen == ["late", "barrier"]


def test_ask_and_tell_on_a_stopped_actor() -> None:
    actor = Recorder().start()
    actor.stop()
    with pytest.raises(ActorDeadError, match="rec is stopped"):
        actor.ask("hello")
    assert actor.tell("hello") is False
    assert actor.join(1) is True
    assert actor.seen == []


def test_pending_asks_fail_when_the_actor_stops() -> None:
    actor = Recorder().start()
    block = blocked(actor)
    # Spawned greenlets run in order: the asker queues its ask, then the stopper drops it.
    asker = gevent.spawn(actor.ask, "queued")
    gevent.spawn(actor.stop)
    with pytest.raises(ActorDeadError, match="rec stopped before handling str"):
        asker.get(timeout=1)
    block.release.set()
    assert actor.join(1) is True
    assert actor.seen == []
    assert actor.events == ["start", "stop"]


def test_stop_from_inside_receive_fails_asks_queued_behind_it() -> None:
    actor = Recorder().start()
    actor.tell(StopSelf())
    with pytest.raises(ActorDeadError):
        actor.ask("behind the stop")
    assert actor.join(1) is True
    assert actor.events == ["start", "stop"]


def test_stop_with_drain_handles_what_is_queued() -> None:
    actor = Recorder().start()
    block = blocked(actor)
    for number in (1, 2, 3):
        actor.tell(number)
    actor.stop(drain=True)
    assert actor.is_alive is False
    assert actor.tell(4) is False
    assert actor.join(0) is False  # still draining
    block.release.set()
    assert actor.join(1) is True
    assert actor.seen == [1, 2, 3]
    assert actor.events == ["start", "stop"]


def test_stop_without_drain_drops_what_is_queued() -> None:
    actor = Recorder().start()
    block = blocked(actor)
    for number in (1, 2, 3):
        actor.tell(number)
    actor.stop()
    assert actor.mailbox_depth == 0
    block.release.set()
    assert actor.join(1) is True
    assert actor.seen == []
    assert actor.dropped == [1, 2, 3]  # handed to on_dropped, in order
    assert actor.events == ["start", "stop"]
    assert actor.failure is None and actor.failure_at_stop is None  # stopped on request


def test_stop_of_an_idle_actor_runs_on_stop_at_once_and_only_once() -> None:
    actor = Recorder().start()
    actor.ask("barrier")
    actor.stop()
    assert actor.events == ["start", "stop"]
    assert actor.join(0) is True
    actor.stop(drain=True)
    assert actor.events == ["start", "stop"]


def test_stopping_a_never_started_actor_runs_no_hooks() -> None:
    actor = Recorder()
    actor.tell("queued")
    actor.stop()
    assert actor.join(0) is True
    assert actor.events == []
    assert actor.mailbox_depth == 0
    with pytest.raises(RuntimeError, match="cannot be started twice"):
        actor.start()


def test_a_bounded_mailbox_refuses_messages_when_full() -> None:
    actor = Recorder(mailbox_size=2).start()
    block = blocked(actor)
    assert actor.tell(1) is True
    assert actor.tell(2) is True
    with pytest.raises(MailboxFull, match=r"rec: mailbox full \(2 messages\)"):
        actor.tell(3)
    with pytest.raises(MailboxFull):
        actor.ask(4)
    assert actor.mailbox_depth == 2
    actor.stop(drain=True)
    block.release.set()
    assert actor.join(1) is True
    assert actor.seen == [1, 2]


def test_mailbox_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="mailbox_size must be >= 1"):
        Recorder(mailbox_size=0)


def test_asking_yourself_raises_at_once_instead_of_deadlocking() -> None:
    actor = Recorder().start()
    with pytest.raises(RuntimeError, match="rec cannot ask itself"):
        actor.ask(AskSelf(), timeout=5)
    assert actor.ask("still fine") == "still fine"


def test_one_greenlet_handles_a_burst_and_exits_when_idle() -> None:
    actor = Recorder().start()
    block = blocked(actor)
    for number in range(10):
        actor.tell(number)
    block.release.set()
    assert actor.ask("end") == "end"
    assert {id(g) for g in actor.greenlets} == {id(actor.greenlets[0])}
    assert actor._greenlet is None


class Echo(Actor):
    def receive(self, message: object) -> object:
        return message


def _count_greenlets() -> int:
    gc.collect()
    return sum(isinstance(obj, greenlet.greenlet) for obj in gc.get_objects())


def _busy_then_idle(count: int) -> list[Actor]:
    actors = [Echo().start() for _ in range(count)]
    for actor in actors:
        actor.tell("a")
        actor.tell("b")
    assert [actor.ask("c") for actor in actors] == ["c"] * count
    return actors


def test_idle_actors_hold_no_greenlets() -> None:
    gevent.get_hub()  # the hub is a greenlet too: create it before counting
    before = _count_greenlets() - runners.idle_runners()
    actors = _busy_then_idle(1000)
    assert all(actor._greenlet is None for actor in actors)
    assert all(actor.is_alive for actor in actors)
    # Only the bounded pool of parked runners remains, whatever the number of actors.
    assert runners.idle_runners() <= runners.MAX_IDLE_RUNNERS
    assert _count_greenlets() - runners.idle_runners() == before


def test_repr_and_default_state_summary_name_the_actor() -> None:
    actor = Echo(name="echo")
    assert actor.state_summary() == "<Echo 'echo' new mailbox=0>"
    actor.tell("queued")
    actor.start()
    assert repr(actor) == "<Echo 'echo' running mailbox=1>"
    actor.stop()
    assert repr(actor) == "<Echo 'echo' stopping mailbox=0>"
    assert actor.join(1) is True
    assert repr(actor) == "<Echo 'echo' stopped mailbox=0>"


def test_default_names_are_unique_per_actor() -> None:
    first, second = Echo(), Echo()
    assert first.name.startswith("Echo-")
    assert first.name != second.name


def test_joining_yourself_raises_at_once_instead_of_deadlocking() -> None:
    class SelfJoiner(Actor):
        def receive(self, message: object) -> object:
            return self.join(timeout=5)

    actor = SelfJoiner(name="joiner").start()
    with pytest.raises(RuntimeError, match="joiner cannot join itself"):
        actor.ask("join")


def test_a_killed_greenlet_is_replaced_and_queued_messages_are_still_handled() -> None:
    actor = Recorder().start()
    blocked(actor)
    queued = Ping("queued")
    actor.tell(queued)
    busy = actor._greenlet
    gevent.kill(busy)
    assert queued.done.wait(1) is True
    assert actor.seen == ["queued"]
    assert actor.greenlets[-1] is not busy


class Batcher(Actor):
    """On "run", takes the ints queued behind it (below 3 at most) and records them as one."""

    def __init__(self) -> None:
        super().__init__(name="batcher")
        self.seen: list[object] = []

    def receive(self, message: object) -> object:
        if message == "run":
            self.seen.append(self.take_queued(lambda queued: isinstance(queued, int), 3))
        else:
            self.seen.append(message)
        return None


def test_take_queued_takes_a_bounded_run_of_accepted_tells_in_order() -> None:
    actor = Batcher()
    for message in ["run", 1, 2, 3, 4, "run", 5, "x", 6, "run"]:
        actor.tell(message)
    actor.start()
    actor.stop(drain=True)
    assert actor.join(1) is True
    assert actor.seen == [[1, 2, 3], 4, [5], "x", 6, []]


def test_take_queued_stops_at_an_ask() -> None:
    actor = Batcher()
    actor.tell("run")
    actor.tell(1)
    asked = gevent.spawn(actor.ask, 2)
    gevent.idle()  # the ask is queued behind the tells
    actor.tell(3)
    actor.start()
    assert asked.get(timeout=1) is None
    actor.stop(drain=True)
    assert actor.join(1) is True
    assert actor.seen == [[1], 2, 3]


def test_tell_inline_runs_an_idle_actor_in_the_callers_greenlet() -> None:
    actor = Recorder().start()
    assert actor.ask("started") == "started"
    assert actor.tell_inline("inline") is True
    assert actor.seen == ["started", "inline"]  # handled before tell_inline returned
    assert actor.greenlets[-1] is gevent.getcurrent()
    assert actor.tell_inline(Fail(ValueError("boom"))) is True  # a crash is the actor's
    assert actor.events[-1][0] == "restart"
    assert actor.ask("after") == "after"


def test_tell_inline_queues_behind_work_already_there() -> None:
    actor = Recorder().start()
    block = blocked(actor)
    assert actor.tell_inline("queued") is True
    assert actor.seen == []
    block.release.set()
    assert actor.ask("next") == "next"
    assert actor.seen == ["queued", "next"]
    assert actor.greenlets[1] is not gevent.getcurrent()


def test_an_actor_is_idle_exactly_when_tell_inline_would_run_at_once() -> None:
    actor = Recorder()
    assert not actor.idle  # not started
    actor.start()
    assert not actor.idle  # on_start still pending
    assert actor.ask("started") == "started"
    assert actor.idle
    block = blocked(actor)
    assert not actor.idle  # its greenlet at work
    actor.tell("queued")
    block.release.set()
    assert actor.ask("next") == "next"
    assert actor.idle
    actor.stop()
    assert not actor.idle


def test_tell_inline_before_start_and_after_stop_behaves_like_tell() -> None:
    actor = Recorder()
    assert actor.tell_inline("early") is True
    assert actor.seen == []
    actor.start()
    assert actor.ask("late") == "late"
    assert actor.seen == ["early", "late"]
    actor.stop()
    assert actor.tell_inline("gone") is False


class Relayer(Actor):
    """On "echo", tells itself "echoed"; on "stop", stops itself."""

    def __init__(self) -> None:
        super().__init__(name="relayer")
        self.seen: list[object] = []
        self.stopped = False

    def receive(self, message: object) -> object:
        self.seen.append(message)
        if message == "echo":
            self.tell("echoed")
            assert self.seen[-1] == "echo"  # the tell from inside only queued
        elif message == "stop":
            self.stop()
        return None

    def on_stop(self) -> None:
        self.stopped = True


def test_tells_from_inside_an_inline_receive_run_after_it_in_a_runner() -> None:
    actor = Relayer().start()
    gevent.idle()  # on_start has run
    assert actor.tell_inline("echo") is True
    assert actor.seen == ["echo"]
    assert actor.ask("sync") is None
    assert actor.seen == ["echo", "echoed", "sync"]


def test_an_actor_stopping_itself_inline_still_runs_on_stop() -> None:
    actor = Relayer().start()
    gevent.idle()
    assert actor.tell_inline("stop") is True
    assert actor.join(1) is True
    assert actor.stopped is True
    assert actor.is_alive is False
