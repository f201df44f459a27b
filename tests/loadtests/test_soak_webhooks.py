"""The soak's webhook verdict: a missing webhook and a repeated leave are told apart."""

from __future__ import annotations

from loadtests.soak_webhooks import WebhookVerdict


def verdict(channels: dict[str, int], members: dict[str, int], missing: int = 0) -> WebhookVerdict:
    return WebhookVerdict(channels, members, missing, client_events_seen=10)


def test_an_add_without_its_removal_is_lost_and_an_extra_removal_is_repeated() -> None:
    found = verdict({"news": 1}, {"presence-a u1": 2, "presence-a u2": -1}, missing=3)
    assert (found.lost, found.repeated) == (6, 1)


def test_balanced_webhooks_are_neither() -> None:
    found = verdict({}, {})
    assert (found.lost, found.repeated) == (0, 0)


def test_an_extra_vacated_counts_as_repeated() -> None:
    found = verdict({"news": -2}, {})
    assert (found.lost, found.repeated) == (0, 2)
