"""Checks across settings: duplicate apps."""

from __future__ import annotations

from pathlib import Path

from tests.support.config import error_of, write_json


def test_duplicate_app_key(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "c.json",
        {"applications": [{"app_id": "1", "app_key": "same", "app_secret": "a"},
                          {"app_id": "2", "app_key": "same", "app_secret": "b"}]},
    )  # fmt: skip
    assert error_of("--config", path) == (
        f"duplicate app key 'same': used by applications[0] in config file '{path}' and "
        f"applications[1] in config file '{path}'"
    )


def test_duplicate_app_id(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "c.json",
        {"applications": [{"app_id": "1", "app_key": "a", "app_secret": "a"},
                          {"app_id": 1, "app_key": "b", "app_secret": "b"}]},
    )  # fmt: skip
    assert error_of("--config", path) == (
        f"duplicate app id '1': used by applications[0] in config file '{path}' and "
        f"applications[1] in config file '{path}'"
    )
