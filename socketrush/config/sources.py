"""The sources above the shipped defaults: environment variables, the `.env` file and the JSON
config file, each read into a Layer of raw values that remember where they came from."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from socketrush.config.errors import ConfigError
from socketrush.config.values import Given, Layer, parse_value, pick
from socketrush.options import BY_NAME, OPTIONS, Scope

# --- environment and .env ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnvFile:
    """The `.env` values (empty when the default file does not exist) and the path read."""

    values: Mapping[str, str | None]
    path: str


def read_env_file(flags: Layer, file_server: Layer) -> EnvFile:
    """The `.env` file named by flag or config file, else ./.env; only a named file must exist."""
    given = flags.get("env_file") or file_server.get("env_file")
    explicit = given is not None
    given = given or Given(BY_NAME["env_file"].default, "default")
    path = Path(str(parse_value(BY_NAME["env_file"], given)))
    if not path.exists():
        if explicit:
            raise ConfigError(f"env file {str(path)!r} from {given.source} does not exist")
        return EnvFile({}, str(path))
    try:
        return EnvFile(dotenv_values(path, interpolate=False), str(path))
    except (OSError, UnicodeDecodeError) as problem:
        raise ConfigError(
            f"cannot read env file {str(path)!r} from {given.source}: {problem}"
        ) from None


def read_environment(environ: Mapping[str, str], dotenv: EnvFile) -> Layer:
    """Every option set by a variable; real variables win over `.env`, empty ones count as unset."""
    layer: Layer = {}
    for option in OPTIONS:
        real = [Given(environ[name], f"env {name}") for name in option.env if environ.get(name)]
        from_file = [
            Given(dotenv.values[name], f"{name} in env file {dotenv.path}")
            for name in option.env
            if dotenv.values.get(name)
        ]
        if picked := pick(option, real or from_file):
            layer[option.name] = picked
    return layer


# --- JSON config file -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """The JSON config file split into the server layer and one layer per application."""

    server: Layer
    apps: tuple[tuple[str, Layer], ...]  # (label for messages, layer)


_JSON_KEYS = {
    scope: {key: option for option in OPTIONS if option.scope is scope for key in option.json_keys}
    for scope in Scope
}


def read_config_file(given: Given | None) -> ConfigFile:
    """The file named by `--config-file`, or nothing; unknown keys are refused by name."""
    if given is None:
        return ConfigFile({}, ())
    path = str(parse_value(BY_NAME["config_file"], given))
    try:
        document = json.loads(Path(path).read_bytes())
    except OSError as problem:
        raise ConfigError(
            f"cannot read config file {path!r} from {given.source}: {problem.strerror}"
        ) from None
    except ValueError as problem:
        where = (
            f" at line {problem.lineno} column {problem.colno}"
            if isinstance(problem, json.JSONDecodeError)
            else ""
        )
        raise ConfigError(f"config file {path!r} is not valid JSON{where}: {problem}") from None
    document = _expect_object(document, path, "the top level")
    _reject_unknown(document, {"server": None, "applications": None}, path, "the top level")
    server = _section(document.get("server", {}), Scope.SERVER, path, "server")
    apps = document.get("applications", [])
    if not isinstance(apps, list):
        raise ConfigError(f'config file {path!r}: "applications" must be a list of objects')
    return ConfigFile(
        server,
        tuple(
            (
                f"applications[{index}] in config file {path!r}",
                _section(app, Scope.APP, path, f"applications[{index}]"),
            )
            for index, app in enumerate(apps)
        ),
    )


def _expect_object(value: object, path: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"config file {path!r}: {where} must be a JSON object")
    return value


def _reject_unknown(section: dict, known: Mapping[str, object], path: str, where: str) -> None:
    for key in section:
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown key {key!r} in {where} of config file {path!r}{hint}")


def _section(raw: object, scope: Scope, path: str, where: str) -> Layer:
    section = _expect_object(raw, path, where)
    known = _JSON_KEYS[scope]
    _reject_unknown(section, known, path, where)
    layer: Layer = {}
    for option in {known[key] for key in section}:
        candidates = (
            Given(section[key], f"config file {path!r} key {where}.{key}")
            for key in option.json_keys
            if section.get(key) is not None
        )
        if picked := pick(option, candidates):
            layer[option.name] = picked
    return layer
