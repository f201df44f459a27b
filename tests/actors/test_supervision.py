"""Crashes (exceptions from receive for a tell): logging, restart, stop, restart limits."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import pytest

from actors import Actor, ActorDeadError, RestartPolicy, Supervisor
from tests.actors.recorder import Fail, Recorder


class RecordingSupervisor(Supervisor):
    """Remembers every decision it was asked for and every child it lost."""

    def __init__(
        self,
        *,
        policy: RestartPolicy = RestartPolicy.RESTART,
        max_restarts: int = 5,
        within: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(policy=policy, max_restarts=max_restarts, within=within, clock=clock)
        self.failed: list[tuple[Actor, BaseException, object]] = []
        self.stopped: list[tuple[Actor, BaseException, list[object]]] = []

    def child_failed(self, actor: Actor, error: BaseException, message: object) -> RestartPolicy:
        self.failed.append((actor, error, message))
        return super().child_failed(actor, error, message)

    def child_stopped(self, actor: Actor, error: BaseException) -> None:
        assert isinstance(actor, Recorder)
        self.stopped.append((actor, error, list(actor.events)))


def fixed_clock(*times: float) -> Iterator[float]:
    return iter(times)


def test_an_unsupervised_crash_is_logged_restarted_and_the_actor_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    actor = Recorder().start()
    actor.tell(1)
    error = ValueError("boom")
    with caplog.at_level(logging.ERROR, logger="actors"):
        actor.tell(Fail(error))
        assert actor.ask("after") == "after"
    assert actor.events == ["start", ("restart", error)]
    assert actor.seen == [1, "after"]
    assert actor.is_alive is True
    [record] = caplog.records
    assert record.name == "actors"
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "actor rec crashed handling Fail; state: seen=1"
    assert record.exc_info is not None and record.exc_info[1] is error


def test_restart_policy_asks_the_supervisor_then_calls_on_restart() -> None:
    supervisor = RecordingSupervisor(policy=RestartPolicy.RESTART)
    actor = Recorder(supervisor=supervisor).start()
    message = Fail(KeyError("k"))
    actor.tell(message)
    assert actor.ask("after") == "after"
    assert supervisor.failed == [(actor, message.error, message)]
    assert supervisor.stopped == []
    assert actor.events == ["start", ("restart", message.error)]


def test_stop_policy_stops_the_actor_and_reports_it_after_on_stop() -> None:
    supervisor = RecordingSupervisor(policy=RestartPolicy.STOP)
    actor = Recorder(supervisor=supervisor).start()
    error = RuntimeError("fatal")
    actor.tell(Fail(error))
    actor.tell("dropped")
    with pytest.raises(ActorDeadError):
        actor.ask("queued behind the crash")
    assert actor.join(1) is True
    assert actor.is_alive is False
    assert actor.tell("late") is False
    assert actor.seen == []
    assert supervisor.stopped == [(actor, error, ["start", "stop"])]
    # on_stop could tell the crash from a stop on request; the dropped tell was handed back
    # (the ask failed instead).
    assert actor.failure is error and actor.failure_at_stop is error
    assert actor.dropped == ["dropped"]


def test_an_ask_that_raises_is_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    supervisor = RecordingSupervisor(policy=RestartPolicy.STOP)
    actor = Recorder(supervisor=supervisor).start()
    with caplog.at_level(logging.ERROR, logger="actors"), pytest.raises(ValueError):
        actor.ask(Fail(ValueError("bad")))
    assert supervisor.failed == []
    assert actor.is_alive is True
    assert caplog.records == []


def test_the_sixth_crash_within_ten_seconds_stops_the_actor_by_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor = RecordingSupervisor(clock=fixed_clock(0, 1, 2, 3, 4, 5).__next__)
    actor = Recorder(supervisor=supervisor).start()
    errors = [ValueError(str(n)) for n in range(6)]
    with caplog.at_level(logging.ERROR, logger="actors"):
        for error in errors:
            actor.tell(Fail(error))
        assert actor.join(1) is True
    assert caplog.records[-1].getMessage() == (
        "actor rec restarted 5 times within 10s and crashed again: stopping it"
    )
    assert actor.events == ["start"] + [("restart", e) for e in errors[:5]] + ["stop"]
    assert supervisor.stopped == [(actor, errors[5], actor.events)]


def test_restarts_older_than_the_window_are_forgotten() -> None:
    clock = fixed_clock(0.0, 5.0, 10.0, 11.0).__next__
    supervisor = RecordingSupervisor(max_restarts=2, within=10.0, clock=clock)
    actor = Recorder(supervisor=supervisor).start()
    errors = [ValueError(str(n)) for n in range(4)]
    for error in errors:
        actor.tell(Fail(error))
    assert actor.join(1) is True
    # At 10.0 the crash at 0.0 has left the window; at 11.0 two restarts (5.0, 10.0) remain.
    assert actor.events == ["start"] + [("restart", e) for e in errors[:3]] + ["stop"]
    assert [error for _, error, _ in supervisor.stopped] == [errors[3]]


def test_restart_history_is_kept_per_child() -> None:
    supervisor = Supervisor(max_restarts=1, clock=fixed_clock(0, 0).__next__)
    first = Recorder(name="first", supervisor=supervisor).start()
    second = Recorder(name="second", supervisor=supervisor).start()
    first.tell(Fail(ValueError()))
    second.tell(Fail(ValueError()))
    assert first.ask("ok") == "ok"
    assert second.ask("ok") == "ok"


def test_policy_for_can_choose_per_error_type() -> None:
    class StopOnKeyError(RecordingSupervisor):
        def policy_for(self, actor: Actor, error: BaseException) -> RestartPolicy:
            return RestartPolicy.STOP if isinstance(error, KeyError) else RestartPolicy.RESTART

    supervisor = StopOnKeyError()
    actor = Recorder(supervisor=supervisor).start()
    value_error, key_error = ValueError(), KeyError("k")
    actor.tell(Fail(value_error))
    actor.tell(Fail(key_error))
    assert actor.join(1) is True
    assert actor.events == ["start", ("restart", value_error), "stop"]
    assert [error for _, error, _ in supervisor.stopped] == [key_error]


def test_a_crash_in_on_start_is_handled_like_any_other() -> None:
    class BadStart(Recorder):
        def on_start(self) -> None:
            raise OSError("no luck")

    actor = BadStart().start()
    assert actor.ask("first") == "first"
    [(name, error)] = actor.events
    assert name == "restart"
    assert isinstance(error, OSError)


def test_failing_hooks_and_supervisors_are_logged_and_never_escape(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    class BrokenSupervisor(Supervisor):
        def child_failed(self, actor: Actor, error: BaseException, message: object):
            if isinstance(error, KeyError):
                return RestartPolicy.STOP
            raise LookupError("cannot decide")

        def child_stopped(self, actor: Actor, error: BaseException) -> None:
            raise LookupError("cannot clean up")

    class Fragile(Recorder):
        def on_restart(self, error: BaseException) -> None:
            raise OSError("on_restart broke")

        def on_stop(self) -> None:
            raise OSError("on_stop broke")

        def state_summary(self) -> str:
            raise OSError("summary broke")

    actor = Fragile(supervisor=BrokenSupervisor()).start()
    with caplog.at_level(logging.ERROR, logger="actors"):
        actor.tell(Fail(ValueError("one")))  # supervisor raises -> restart; on_restart raises
        assert actor.ask("alive") == "alive"
        actor.tell(Fail(KeyError("two")))  # stop; on_stop and child_stopped raise
        assert actor.join(1) is True
    assert [record.getMessage() for record in caplog.records] == [
        "actor rec crashed handling Fail; state: <state_summary failed: OSError('summary broke')>",
        "actor rec: supervisor failed to decide; restarting",
        "actor rec: on_restart failed",
        "actor rec crashed handling Fail; state: <state_summary failed: OSError('summary broke')>",
        "actor rec: on_stop failed",
        "actor rec: supervisor child_stopped failed",
    ]
    assert capfd.readouterr().err == ""


def test_on_restart_hears_each_restart_but_not_stops() -> None:
    heard: list[tuple[Actor, BaseException]] = []
    clock = fixed_clock(0, 1, 2).__next__
    supervisor = Supervisor(max_restarts=2, clock=clock, on_restart=lambda *a: heard.append(a))
    actor = Recorder(supervisor=supervisor).start()
    errors = [ValueError(str(n)) for n in range(3)]
    for error in errors:
        actor.tell(Fail(error))
    assert actor.join(1) is True  # the third crash passes max_restarts: stopped, not restarted
    assert heard == [(actor, errors[0]), (actor, errors[1])]
    stopping = Recorder(supervisor=Supervisor(policy=RestartPolicy.STOP, on_restart=heard.append))
    stopping.start().tell(Fail(KeyError("fatal")))
    assert stopping.join(1) is True
    assert len(heard) == 2


def test_a_failing_on_restart_hook_is_logged_and_the_child_still_restarts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(actor: Actor, error: BaseException) -> None:
        raise LookupError("counter broke")

    actor = Recorder(supervisor=Supervisor(on_restart=broken)).start()
    error = ValueError("boom")
    with caplog.at_level(logging.ERROR, logger="actors"):
        actor.tell(Fail(error))
        assert actor.ask("after") == "after"
    assert actor.events == ["start", ("restart", error)]
    assert [record.getMessage() for record in caplog.records] == [
        "actor rec crashed handling Fail; state: seen=0",
        "actor rec: on_restart hook failed",
    ]


def test_supervisor_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="max_restarts must be >= 0"):
        Supervisor(max_restarts=-1)
    with pytest.raises(ValueError, match="within must be > 0"):
        Supervisor(within=0)
