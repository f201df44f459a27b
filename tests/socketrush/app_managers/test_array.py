from __future__ import annotations

from socketrush.app_managers.array import ArrayAppManager
from socketrush.settings import AppSettings

ONE = AppSettings(id="1", key="key-one", secret="s1")
TWO = AppSettings(id="2", key="key-two", secret="s2", enabled=False)


def test_finds_each_app_by_id_and_by_key() -> None:
    manager = ArrayAppManager([ONE, TWO])
    assert manager.find_by_id("1") is ONE
    assert manager.find_by_key("key-one") is ONE
    assert manager.find_by_id("2") is TWO
    assert manager.find_by_key("key-two") is TWO


def test_unknown_and_cross_lookups_are_none() -> None:
    manager = ArrayAppManager([ONE])
    assert manager.find_by_id("key-one") is None
    assert manager.find_by_key("1") is None
    assert manager.find_by_id("3") is None


def test_empty_manager_and_close() -> None:
    manager = ArrayAppManager([])
    manager.close()
    assert manager.find_by_key("anything") is None
