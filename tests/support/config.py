"""Loading settings in tests: from given flags and an explicit environment only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from socketrush.config import ConfigError, load_settings
from socketrush.settings import ServerSettings

CREDS = ["--app-id", "1", "--app-key", "k", "--app-secret", "s"]


def load(*argv: str, env: dict[str, str] | None = None) -> ServerSettings:
    """The settings of `argv` with `env` as the whole environment (./.env is still read)."""
    return load_settings(list(argv), env or {})


def error_of(*argv: str, env: dict[str, str] | None = None) -> str:
    """The one-line ConfigError loading `argv` must raise."""
    with pytest.raises(ConfigError) as caught:
        load(*argv, env=env)
    return str(caught.value)


def write_json(path: Path, document: dict) -> str:
    path.write_text(json.dumps(document))
    return str(path)
