"""The interest table both bus adapters share: who waits for which topic, and what to ask."""

from __future__ import annotations

import random

from socketrush.adapters.interest import Interest


def connected() -> Interest:
    interest = Interest()
    interest.connected = True
    return interest


def test_the_first_watcher_waits_for_the_confirmation_the_next_ones_do_not() -> None:
    interest, ready = connected(), []
    assert interest.watch("news", lambda: ready.append("first")) is False
    assert interest.watch("news", lambda: ready.append("second")) is False  # still unconfirmed
    assert interest.requests() == (["news"], [])
    assert interest.requests() == ([], [])  # asked once
    assert not interest.settled("news")
    for release in interest.answered("news"):
        release()
    assert ready == ["first", "second"]
    assert interest.settled("news") and len(interest) == 1
    assert interest.watch("news", lambda: ready.append("third")) is True


def test_the_last_watcher_leaving_unsubscribes_once() -> None:
    interest = connected()
    interest.watch("news", lambda: None)
    interest.watch("news", lambda: None)
    interest.requests()
    interest.answered("news")
    interest.unwatch("news")
    assert interest.requests() == ([], [])
    interest.unwatch("news")
    assert interest.requests() == ([], ["news"])
    assert interest.settled("news")  # nobody watches it: nothing can be missed
    assert interest.answered("news") == []
    assert len(interest) == 0 and interest.wanted() == []


def test_watched_again_before_the_unsubscribe_went_out_it_never_leaves_the_bus() -> None:
    interest = connected()
    interest.watch("news", lambda: None)
    interest.requests()
    interest.answered("news")
    interest.unwatch("news")
    assert interest.watch("news", lambda: None) is True
    assert interest.requests() == ([], [])


def test_watched_again_after_the_unsubscribe_went_out_it_waits_for_the_new_subscribe() -> None:
    interest, ready = connected(), []
    interest.watch("news", lambda: None)
    interest.requests()
    interest.answered("news")
    interest.unwatch("news")
    assert interest.requests() == ([], ["news"])
    assert interest.watch("news", lambda: ready.append("again")) is False
    assert interest.requests() == (["news"], [])
    assert interest.answered("news") == []  # the unsubscribe's answer: not active yet
    assert not interest.settled("news")
    for release in interest.answered("news"):
        release()
    assert ready == ["again"] and interest.settled("news")


def test_an_answer_nobody_awaits_is_ignored() -> None:
    interest = connected()
    assert interest.answered("news") == []
    interest.watch("news", lambda: None)
    interest.requests()
    interest.answered("news")
    assert interest.answered("news") == []  # a second confirmation of one request


def test_a_lost_connection_releases_every_waiter_and_asks_everything_again() -> None:
    interest, ready = connected(), []
    interest.watch("news", lambda: None)
    interest.watch("sport", lambda: ready.append("sport"))
    interest.requests()
    interest.answered("news")
    released = interest.connection_lost()
    assert [release() for release in released] == [None] and ready == ["sport"]
    assert not interest.connected and len(interest) == 0
    assert interest.watch("weather", lambda: ready.append("weather")) is True  # bus down
    interest.connected = True
    subscribe, unsubscribe = interest.requests()
    assert sorted(subscribe) == ["news", "sport", "weather"] and unsubscribe == []
    assert not interest.settled("news")  # until its new subscription is confirmed


def test_a_client_that_resubscribes_by_itself_only_ends_the_waiting() -> None:
    interest, ready = connected(), []
    interest.watch("news", lambda: None)
    interest.requests()
    interest.answered("news")
    interest.watch("sport", lambda: ready.append("sport"))
    interest.requests()
    for release in interest.connection_lost(forget=False):
        release()
    assert ready == ["sport"]
    interest.connected = True
    assert interest.requests() == ([], [])
    assert interest.settled("news") and not interest.settled("sport")
    assert interest.answered("sport") == []  # its waiter was released already
    assert interest.settled("sport")


def test_a_moved_topic_is_asked_again_and_keeps_its_waiters() -> None:
    interest, ready = connected(), []
    interest.watch("news", lambda: ready.append("news"))
    interest.requests()
    assert interest.lost(["news"], release=False) == []
    assert interest.requests() == (["news"], [])
    for release in interest.answered("news"):
        release()
    assert ready == ["news"]


def test_a_topic_left_and_lost_before_its_unsubscribe_went_out_is_not_asked_for() -> None:
    """Its last watcher left, then the connection broke before the owner asked anything: the
    topic is forgotten, and the next requests must not trip over it (found by the soak)."""
    interest = connected()
    interest.watch("news", lambda: None)
    interest.requests()
    interest.answered("news")
    interest.unwatch("news")
    interest.connection_lost()
    assert interest.requests() == ([], [])
    assert interest.wanted() == []


def test_a_failed_subscribe_keeps_its_waiters_and_is_asked_again() -> None:
    interest, ready = connected(), []
    interest.watch("news", lambda: ready.append("news"))
    interest.watch("sport", lambda: ready.append("sport"))
    subscribe, _ = interest.requests()
    assert sorted(subscribe) == ["news", "sport"] and len(interest) == 2
    interest.failed("news")
    for release in interest.answered("sport"):
        release()
    assert ready == ["sport"]  # news was not subscribed: its watcher is not told it is
    assert not interest.asked_for("news") and not interest.settled("news")
    assert len(interest) == 1
    assert interest.requests() == (["news"], [])  # asked again with the next requests
    for release in interest.answered("news"):
        release()
    assert ready == ["sport", "news"] and interest.settled("news")


def test_a_failed_request_followed_by_another_is_settled_by_the_later_one() -> None:
    interest = connected()
    interest.watch("news", lambda: None)
    interest.requests()
    interest.unwatch("news")
    interest.requests()  # its unsubscribe, sent before the subscribe was answered
    interest.failed("news")
    assert interest.requests() == ([], [])  # nothing to ask: the unsubscribe is in flight
    interest.answered("news")
    assert interest.wanted() == [] and len(interest) == 0
    assert interest.requests() == ([], [])


def test_a_failed_unsubscribe_of_a_topic_nobody_watches_forgets_it() -> None:
    interest = connected()
    interest.watch("news", lambda: None)
    interest.requests()
    interest.answered("news")
    interest.unwatch("news")
    assert interest.requests() == ([], ["news"])
    interest.failed("news")
    assert interest.requests() == ([], []) and len(interest) == 0
    interest.failed("news")  # a failure nobody awaits is ignored, like an answer
    assert interest.watch("news", lambda: None) is False  # a new subscription, awaited
    assert interest.requests() == (["news"], [])


def test_len_counts_the_asked_topics_through_every_change() -> None:
    """`len` is a running count (it runs at every request batch); it must agree with the
    entries after any sequence of watches, requests, answers and losses."""
    interest, rng = connected(), random.Random(7)
    names = [f"t{number}" for number in range(6)]
    sizes = set()
    for _ in range(2000):
        name, step = rng.choice(names), rng.randrange(9)
        if step < 2:
            interest.watch(name, lambda: None)
        elif step < 4:
            interest.unwatch(name)
        elif step == 4:
            interest.requests()
        elif step == 5:
            interest.answered(name)
        elif step == 6:
            interest.lost([name], release=rng.random() < 0.5)
        elif step == 7:
            interest.failed(name)
        elif rng.random() < 0.1:
            interest.connection_lost(forget=rng.random() < 0.5)
            interest.connected = True
        assert len(interest) == sum(entry.asked for entry in interest._entries.values())
        sizes.add(len(interest))
    assert sizes == set(range(len(names) + 1))  # the sequence went through every size
