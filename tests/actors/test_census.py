"""The census of live actors: counted from start until stopped, never kept alive by it."""

from __future__ import annotations

import gc

from actors import census
from tests.actors.recorder import Fail, Recorder


class Other(Recorder):
    """A second kind, to see counts per class."""


def ours(kind: str) -> int:
    return census.live_by_kind()[kind]


def test_an_actor_counts_from_start_until_it_has_stopped() -> None:
    before = ours("Recorder")
    actor = Recorder()
    assert ours("Recorder") == before  # created, not started
    actor.start()
    assert ours("Recorder") == before + 1
    assert actor in census.live_actors()
    actor.stop(drain=True)
    assert actor.join(1) is True
    assert ours("Recorder") == before
    assert actor not in census.live_actors()


def test_counts_are_per_class() -> None:
    recorders, others = ours("Recorder"), ours("Other")
    started = [Recorder().start(), Other().start(), Other().start()]
    assert (ours("Recorder"), ours("Other")) == (recorders + 1, others + 2)
    for actor in started:
        actor.stop()
        actor.join(1)
    assert (ours("Recorder"), ours("Other")) == (recorders, others)


def test_an_actor_never_started_is_never_counted() -> None:
    before = ours("Recorder")
    actor = Recorder()
    actor.stop()
    assert ours("Recorder") == before


def test_an_actor_stopped_by_its_supervisor_leaves_the_census() -> None:
    from actors import RestartPolicy, Supervisor

    class StopOnCrash(Supervisor):
        def child_failed(self, child, error, message):
            return RestartPolicy.STOP

    actor = Recorder(supervisor=StopOnCrash()).start()
    before = ours("Recorder")
    actor.tell(Fail("boom"))
    assert actor.join(1) is True
    assert ours("Recorder") == before - 1


class Dropped(Recorder):
    """A kind only the next test starts."""


def test_the_census_does_not_keep_a_dropped_actor_alive() -> None:
    actor = Dropped().start()
    actor.ask("settled")  # on_start ran; the runner holds nothing of it any more
    assert ours("Dropped") == 1
    del actor
    gc.collect()
    assert ours("Dropped") == 0
