"""Stack the sources on the shipped defaults and build the settings of the server and its apps.

Precedence, highest first: flags > environment (real variables over `.env`) > JSON config file >
`settings.toml`. `--prefer-config-file` puts the JSON file above the environment.

Which applications exist:
- Without an `applications` list in the JSON file, the one app is the *default app*, built from
  `--app-*` flags / `APP_*` variables.
- With a JSON `applications` list and no app id, key or secret given by flag or environment,
  the JSON apps are the apps, and every `--app-*` flag / `APP_*` variable applies to each of them
  (with the usual precedence over the JSON values).
- With both, the flags/environment describe the default app only: if its id matches a JSON app
  they override that app's values, otherwise the default app is added to the JSON apps.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dynaconf import Dynaconf, get_history

from socketrush.config.errors import ConfigError
from socketrush.config.migration import Notices
from socketrush.config.sources import ConfigFile
from socketrush.config.values import Given, Layer, parse_value
from socketrush.options import BY_NAME, OPTIONS, Option, Scope
from socketrush.settings import AppSettings

CREDENTIALS = ("app_id", "app_key", "app_secret")
SERVER_OPTIONS = tuple(o for o in OPTIONS if o.scope is Scope.SERVER and not o.bootstrap)
APP_OPTIONS = tuple(o for o in OPTIONS if o.scope is Scope.APP)


def _defaults_file() -> Path:
    """The repository's top-level settings.toml: copied into the package by the wheel build
    (setup.py), read from the checkout by an editable install, which has no copy."""
    package = Path(__file__).resolve().parents[1]
    packaged = package / "settings.toml"
    return packaged if packaged.is_file() else package.parent / "settings.toml"


DEFAULTS_FILE = _defaults_file()


def defaults() -> Dynaconf:
    """Dynaconf with settings.toml only: no env, .env or casting magic (we own those)."""
    if not DEFAULTS_FILE.is_file():
        raise ConfigError(
            f"the shipped defaults {str(DEFAULTS_FILE)!r} are missing: reinstall Socket Rush"
        )
    return Dynaconf(
        settings_files=[str(DEFAULTS_FILE)],
        environments=False,
        loaders=[],
        load_dotenv=False,
        auto_cast=False,
        merge_enabled=False,
    )


def resolve(defaults: Dynaconf, layers: Iterable[Layer], options: Iterable[Option]) -> Layer:
    """Stack the layers (lowest first) on the defaults and return each option's winning value.

    Dynaconf keeps every value with its source; the last one set is the one in effect.
    """
    stack = defaults.dynaconf_clone()
    for layer in layers:
        for name, given in layer.items():
            stack.set(name, given.value, loader_identifier=given.source, validate=False)
    resolved: Layer = {}
    for option in options:
        history = get_history(stack, key=option.name) if option.name in stack else []
        if history:
            winner = history[-1]
            source = winner["identifier"]
            if winner["loader"] == "toml":
                source = f"defaults in {source}"
            resolved[option.name] = Given(winner["value"], source)
    return resolved


def only(scope: Scope, layer: Layer) -> Layer:
    return {name: given for name, given in layer.items() if BY_NAME[name].scope is scope}


def ordered(file_layer: Layer, env: Layer, flags: Layer, prefer_file: bool) -> list[Layer]:
    """The layers lowest first: the JSON file under the environment unless preferred."""
    return [env, file_layer, flags] if prefer_file else [file_layer, env, flags]


def parse_resolved(resolved: Layer, options: Iterable[Option], notices: Notices) -> dict:
    """Field name -> parsed value, noting each soketi -1 that was read as unlimited."""
    values = {}
    for option in options:
        given = resolved[option.name]
        notices.unlimited(option, given)
        values[option.field] = parse_value(option, given)
    return values


def _missing_credentials(label: str, missing: list[str]) -> ConfigError:
    flags = "/".join(BY_NAME[name].flags[0] for name in missing)
    env = "/".join(BY_NAME[name].env[0] for name in missing)
    keys = "/".join(BY_NAME[name].json_paths[0] for name in missing)
    them, s = ("them", "s") if len(missing) > 1 else ("it", "")
    return ConfigError(
        f"{label} has no {' and '.join(missing)}: give {them} with the flag{s} {flags}, the "
        f"environment variable{s} {env} (or the .env file), or {keys} in a --config-file JSON"
    )


def _build_app(
    defaults: Dynaconf, label: str, layers: list[Layer], notices: Notices
) -> AppSettings:
    resolved = resolve(defaults, layers, APP_OPTIONS)
    missing = [name for name in CREDENTIALS if not str(resolved.get(name, Given("", "")).value)]
    if missing:
        raise _missing_credentials(label, missing)
    return AppSettings(**parse_resolved(resolved, APP_OPTIONS, notices))


def _app_id(layer: Layer) -> str | None:
    given = layer.get("app_id")
    return None if given is None else str(parse_value(BY_NAME["app_id"], given))


def build_apps(
    defaults: Dynaconf,
    config: ConfigFile,
    env: Layer,
    flags: Layer,
    prefer_file: bool,
    notices: Notices,
) -> tuple[tuple[str, AppSettings], ...]:
    """(label for messages, settings) of every app, as the module docstring describes."""
    env, flags = only(Scope.APP, env), only(Scope.APP, flags)
    has_default_app = any(name in env or name in flags for name in CREDENTIALS)
    if not has_default_app and not config.apps:
        raise ConfigError(
            "no application configured: give app id, key and secret with the flags "
            "--app-id/--app-key/--app-secret, the environment variables "
            'APP_ID/APP_KEY/APP_SECRET (or the .env file), or an "applications" list in a '
            "--config-file JSON"
        )
    if not has_default_app:
        return tuple(
            (label, _build_app(defaults, label, ordered(layer, env, flags, prefer_file), notices))
            for label, layer in config.apps
        )
    default_id = _app_id({**env, **flags})
    built: list[tuple[str, AppSettings]] = []
    merged = False
    for label, layer in config.apps:
        if default_id is not None and _app_id(layer) == default_id:
            layers, merged = ordered(layer, env, flags, prefer_file), True
        else:
            layers = [layer]
        built.append((label, _build_app(defaults, label, layers, notices)))
    if not merged:
        label = "the default app (flags/environment)"
        built.insert(0, (label, _build_app(defaults, label, [env, flags], notices)))
    return tuple(built)
