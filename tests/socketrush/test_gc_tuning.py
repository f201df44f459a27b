"""The collector settings `serve` applies before it takes connections."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from socketrush.gc_tuning import tune_garbage_collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_start_up_objects_are_frozen_and_full_passes_spaced_out() -> None:
    gc.unfreeze()
    survivor = [["built at start-up"]]
    tune_garbage_collector()
    assert gc.get_threshold() == (700, 10, 100)
    assert gc.get_freeze_count() > 0
    assert gc.is_tracked(survivor)
    assert all(obj is not survivor for obj in gc.get_objects())  # frozen: no pass walks it
