"""Fixtures of the config tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.config import write_json


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every config test runs in an empty directory: a developer's ./.env never leaks in."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def port_file(tmp_path: Path) -> str:
    """A config file that sets the port to 7000 and nothing else."""
    return write_json(tmp_path / "c.json", {"server": {"port": 7000}})
