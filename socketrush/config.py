"""Turn flags, environment, `.env`, a JSON config file and shipped defaults into settings.

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

Every value keeps the place it came from, so a bad value stops start-up with one line naming the
setting, its source, the value and what is allowed.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values
from dynaconf import Dynaconf, get_history

from socketrush.options import BY_NAME, OPTIONS, Kind, Option, Scope

DEFAULTS_FILE = Path(__file__).with_name("settings.toml")
MASK = "***"
_CREDENTIALS = ("app_id", "app_key", "app_secret")
DATABASE_APP_MANAGERS = ("postgres", "mysql")
# App managers that read apps from a store, never from flags, environment or the config file.
STORED_APP_MANAGERS = (*DATABASE_APP_MANAGERS, "dynamodb")


class ConfigError(Exception):
    """Configuration that cannot start a server; `str()` is one line meant for a person."""


@dataclass(frozen=True, slots=True)
class AppSettings:
    """One application's settings; field names are the option names without `app_`."""

    id: str
    key: str
    secret: str
    enabled: bool = True
    activity_timeout: int = 60
    require_channel_authorization: bool = False
    authorization_timeout_seconds: int = 5
    enable_client_messages: bool = False
    max_connections: int = 0
    max_backend_events_per_second: int = 0
    max_client_events_per_second: int = 0
    max_read_requests_per_second: int = 0
    max_presence_members_per_channel: int = 100
    max_presence_member_size_in_kb: int = 10
    max_channel_name_length: int = 200
    max_event_channels_at_once: int = 10
    max_event_name_length: int = 200
    max_event_payload_in_kb: int = 10
    max_event_batch_size: int = 10
    subscription_count_enabled: bool = False
    webhooks_enabled: bool = False
    has_client_event_webhooks: bool = False
    has_channel_occupied_webhooks: bool = False
    has_channel_vacated_webhooks: bool = False
    has_member_added_webhooks: bool = False
    has_member_removed_webhooks: bool = False
    has_cache_miss_webhooks: bool = False
    has_webhook_batching_enabled: bool = False
    webhook_urls: tuple[str, ...] = ()
    webhooks: tuple[dict, ...] = ()
    allowed_origins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The effective settings of one server process."""

    port: int
    bind_address: str
    cache_driver: str
    queue_driver: str
    adapter_driver: str
    app_manager: str
    database_url: str
    app_manager_cache_ttl: int
    app_env: str
    redis_prefix: str
    redis_url: str
    redis_tls: bool
    redis_cluster: bool
    node_timeout_seconds: int
    adapter_nats_servers: tuple[str, ...]
    adapter_nats_prefix: str
    adapter_nats_user: str
    adapter_nats_password: str
    adapter_nats_token: str
    adapter_nats_timeout: int
    adapter_nats_requests_timeout: int
    adapter_nats_tls_ca_file: str
    log_level: str
    log_format: str
    ignore_logger_middleware: bool
    socket_backlog_limit_kb: int
    publish_queue_limit: int
    handshake_timeout_ms: int
    frame_timeout_ms: int
    shutdown_grace_period: int
    ssl_cert: str
    ssl_key: str
    ssl_passphrase: str
    webhook_member_removed_delay_ms: int
    webhook_batch_window_ms: int
    webhook_batch_max_events: int
    webhook_timeout_ms: int
    webhook_max_attempts: int
    webhook_retry_base_ms: int
    webhook_retry_max_ms: int
    queue_workers: int
    queue_redis_lease_ms: int
    app_manager_dynamodb_table: str
    app_manager_dynamodb_region: str
    app_manager_dynamodb_endpoint: str
    queue_sqs_url: str
    queue_sqs_region: str
    queue_sqs_endpoint: str
    queue_sqs_batch_size: int
    queue_sqs_polling_wait_time_ms: int
    queue_sqs_visibility_timeout_seconds: int
    webhook_sns_region: str
    webhook_sns_endpoint: str
    metrics_enabled: bool
    metrics_port: int
    cors_allowed_origins: tuple[str, ...]
    dashboard_enabled: bool
    dashboard_username: str
    dashboard_password: str
    apps: tuple[AppSettings, ...]

    def masked(self) -> dict:
        """Settings as plain data, safe to print or log: secrets and passwords become `***`."""
        data = asdict(self)
        data["redis_url"] = _mask_url_password(self.redis_url)
        data["database_url"] = _mask_url_password(self.database_url)
        secrets = ("ssl_passphrase", "dashboard_password", "adapter_nats_password")
        for secret in (*secrets, "adapter_nats_token"):
            if data[secret]:
                data[secret] = MASK
        for app in data["apps"]:
            app["secret"] = MASK
        return data


def _mask_url_password(url: str) -> str:
    """Hide the password of `redis://user:password@host` (or a database URL) while keeping the
    rest readable."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# --- values and where they came from -------------------------------------------------------


class Given(NamedTuple):
    """A raw value and the place it came from (e.g. `flag --port`, `env PORT`)."""

    value: object
    source: str


Layer = dict[str, Given]  # option name -> value given by one source


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _as_str(option: Option, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("a string")
    return str(value)  # JSON ids are often numbers: {"app_id": 123}


def _as_int(option: Option, value: object) -> int:
    low, high = option.minimum, option.maximum
    if low is not None and high is not None:
        allowed = f"an integer from {low} to {high}"
    else:
        allowed = "an integer" if low is None else f"an integer >= {low}"
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValueError(allowed) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(allowed)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(allowed)
    return value


def _as_float(option: Option, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("a number")
    return float(value)


def _as_bool(option: Option, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError("true or false (or 1/0, yes/no, on/off)")


def _as_choice(option: Option, value: object) -> str:
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in option.choices:
        raise ValueError("one of: " + ", ".join(option.choices))
    return text


def _as_list(option: Option, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return _split(value)
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ValueError("a list of strings or one comma-separated string")


def _as_objects(option: Option, value: object) -> tuple[dict, ...]:
    if isinstance(value, list | tuple) and all(isinstance(item, dict) for item in value):
        return tuple(value)
    raise ValueError("a list of JSON objects")


_PARSERS: dict[Kind, Callable[[Option, object], object]] = {
    Kind.STR: _as_str,
    Kind.INT: _as_int,
    Kind.FLOAT: _as_float,
    Kind.BOOL: _as_bool,
    Kind.CHOICE: _as_choice,
    Kind.LIST: _as_list,
    Kind.OBJECTS: _as_objects,
}


def parse_value(option: Option, given: Given) -> object:
    """Validate and convert one value, or raise a ConfigError that names its source."""
    try:
        return _PARSERS[option.kind](option, given.value)
    except ValueError as allowed:
        raise ConfigError(
            f"invalid value {given.value!r} for {option.name} from {given.source}: "
            f"expected {allowed}"
        ) from None


def _split(text: str) -> tuple[str, ...]:
    """`a, b,,c` -> ("a", "b", "c"): list settings are comma-separated in flags and env vars."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _pick(option: Option, candidates: Iterable[Given]) -> Given | None:
    """One value from several spellings of the same setting in one source; they must agree."""
    found = list(candidates)
    for other in found[1:]:
        if other.value != found[0].value:
            raise ConfigError(
                f"conflicting values for {option.name}: {found[0].value!r} from "
                f"{found[0].source} and {other.value!r} from {other.source}; keep one"
            )
    return found[0] if found else None


# --- flags ------------------------------------------------------------------------------------


class _FlagParser(argparse.ArgumentParser):
    """argparse that raises ConfigError instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ConfigError(f"{message} (see `{self.prog} --help`)")


class _Record(argparse.Action):
    """Store a flag's raw text with the spelling used, so errors can quote it back.

    Values are validated later, together with every other source; list flags accumulate.
    """

    def __init__(self, option: Option, **kwargs: object) -> None:
        self.option = option
        super().__init__(**kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        source = f"flag {option_string}"
        if self.option.kind is Kind.LIST:
            previous = getattr(namespace, self.dest, Given([], source))
            values = [*previous.value, *_split(values)]  # a list: Dynaconf stringifies tuples
        setattr(namespace, self.dest, Given(values, source))


def _metavar(option: Option) -> str:
    if option.kind is Kind.CHOICE:
        return "{" + ",".join(option.choices) + "}"
    return {Kind.BOOL: "true|false", Kind.INT: "N", Kind.FLOAT: "X", Kind.LIST: "A,B"}.get(
        option.kind, "TEXT"
    )


def _help(option: Option) -> str:
    text = option.help
    if option.env:
        text += f" [env {', '.join(option.env)}]"
    if option.default not in (None, (), ""):  # "(default: )" would read as a missing value
        default = str(option.default).lower() if option.kind is Kind.BOOL else option.default
        text += f" (default: {default})"
    return text.replace("%", "%%")


def _flagless_note(group: str) -> str | None:
    """Settings without a flag still belong on the help page of their group, or --help would
    hide that they exist (e.g. app_webhooks, which only JSON can express)."""
    flagless = [o for o in OPTIONS if o.group == group and not o.flags]
    if not flagless:
        return None
    lines = []
    for option in flagless:
        where = f"env {', '.join(option.env)} or JSON" if option.env else "JSON config file only"
        lines.append(f"{option.name} ({where}): {option.help}")
    return "\n".join(lines).replace("%", "%%")


def flag_parser(
    prog: str = "socketrush serve", *, add_help: bool = True
) -> argparse.ArgumentParser:
    """An argparse parser with one flag (and its aliases) per option, grouped for `--help`."""
    parser = _FlagParser(
        prog=prog,
        usage="%(prog)s [flags]",
        allow_abbrev=False,
        add_help=add_help,
        argument_default=argparse.SUPPRESS,
        epilog=(
            "Precedence, highest first: flags, environment variables (and the .env file), "
            "the JSON config file, built-in defaults; --prefer-config-file puts the config "
            "file above the environment."
        ),
    )
    groups: dict[str, argparse._ArgumentGroup] = {}
    for option in OPTIONS:
        if option.group not in groups:
            groups[option.group] = parser.add_argument_group(
                option.group, _flagless_note(option.group)
            )
        if not option.flags:
            continue
        extra = {"nargs": "?", "const": "true"} if option.kind is Kind.BOOL else {}
        groups[option.group].add_argument(
            *option.flags,
            dest=option.name,
            action=_Record,
            option=option,
            metavar=_metavar(option),
            help=_help(option),
            **extra,
        )
    return parser


def _read_flags(argv: Sequence[str]) -> Layer:
    return vars(flag_parser(add_help=False).parse_args(list(argv)))


# --- environment and .env ---------------------------------------------------------------------


def _read_env_file(flags: Layer, file_server: Layer) -> tuple[Mapping[str, str | None], str]:
    """The `.env` values and the path they came from; only an explicitly named file must exist."""
    given = flags.get("env_file") or file_server.get("env_file")
    explicit = given is not None
    given = given or Given(BY_NAME["env_file"].default, "default")
    path = Path(parse_value(BY_NAME["env_file"], given))
    if not path.exists():
        if explicit:
            raise ConfigError(f"env file {str(path)!r} from {given.source} does not exist")
        return {}, str(path)
    try:
        return dotenv_values(path, interpolate=False), str(path)
    except (OSError, UnicodeDecodeError) as problem:
        raise ConfigError(
            f"cannot read env file {str(path)!r} from {given.source}: {problem}"
        ) from None


def _read_environment(
    environ: Mapping[str, str], dotenv: Mapping[str, str | None], path: str
) -> Layer:
    """Every option set by a variable; real variables win over `.env`, empty ones count as unset."""
    layer: Layer = {}
    for option in OPTIONS:
        real = [Given(environ[name], f"env {name}") for name in option.env if environ.get(name)]
        from_file = [
            Given(dotenv[name], f"{name} in env file {path}")
            for name in option.env
            if dotenv.get(name)
        ]
        if picked := _pick(option, real or from_file):
            layer[option.name] = picked
    return layer


# --- JSON config file -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ConfigFile:
    """The JSON config file split into the server layer and one layer per application."""

    server: Layer
    apps: tuple[tuple[str, Layer], ...]  # (label for messages, layer)


_JSON_KEYS = {
    scope: {key: option for option in OPTIONS if option.scope is scope for key in option.json_keys}
    for scope in Scope
}


def _read_config_file(given: Given | None) -> _ConfigFile:
    if given is None:
        return _ConfigFile({}, ())
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
    return _ConfigFile(
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
        if picked := _pick(option, candidates):
            layer[option.name] = picked
    return layer


# --- layering ---------------------------------------------------------------------------------


def _defaults() -> Dynaconf:
    """Dynaconf with settings.toml only: no env, .env or casting magic (we own those)."""
    return Dynaconf(
        settings_files=[str(DEFAULTS_FILE)],
        environments=False,
        loaders=[],
        load_dotenv=False,
        auto_cast=False,
        merge_enabled=False,
    )


def _resolve(defaults: Dynaconf, layers: Iterable[Layer], options: Iterable[Option]) -> Layer:
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


def _only(scope: Scope, layer: Layer) -> Layer:
    return {name: given for name, given in layer.items() if BY_NAME[name].scope is scope}


def _ordered(file_layer: Layer, env: Layer, flags: Layer, prefer_file: bool) -> list[Layer]:
    return [env, file_layer, flags] if prefer_file else [file_layer, env, flags]


_SERVER_OPTIONS = tuple(o for o in OPTIONS if o.scope is Scope.SERVER and not o.bootstrap)
_APP_OPTIONS = tuple(o for o in OPTIONS if o.scope is Scope.APP)


def _missing_credentials(label: str, missing: list[str]) -> ConfigError:
    flags = "/".join(BY_NAME[name].flags[0] for name in missing)
    env = "/".join(BY_NAME[name].env[0] for name in missing)
    keys = "/".join(BY_NAME[name].json_paths[0] for name in missing)
    them, s = ("them", "s") if len(missing) > 1 else ("it", "")
    return ConfigError(
        f"{label} has no {' and '.join(missing)}: give {them} with the flag{s} {flags}, the "
        f"environment variable{s} {env} (or the .env file), or {keys} in a --config-file JSON"
    )


def _build_app(defaults: Dynaconf, label: str, layers: list[Layer]) -> AppSettings:
    resolved = _resolve(defaults, layers, _APP_OPTIONS)
    missing = [name for name in _CREDENTIALS if not str(resolved.get(name, Given("", "")).value)]
    if missing:
        raise _missing_credentials(label, missing)
    return AppSettings(**{o.field: parse_value(o, resolved[o.name]) for o in _APP_OPTIONS})


def _app_id(layer: Layer) -> str | None:
    given = layer.get("app_id")
    return None if given is None else str(parse_value(BY_NAME["app_id"], given))


def _build_apps(
    defaults: Dynaconf, config: _ConfigFile, env: Layer, flags: Layer, prefer_file: bool
) -> tuple[tuple[str, AppSettings], ...]:
    env, flags = _only(Scope.APP, env), _only(Scope.APP, flags)
    has_default_app = any(name in env or name in flags for name in _CREDENTIALS)
    if not has_default_app and not config.apps:
        raise ConfigError(
            "no application configured: give app id, key and secret with the flags "
            "--app-id/--app-key/--app-secret, the environment variables "
            'APP_ID/APP_KEY/APP_SECRET (or the .env file), or an "applications" list in a '
            "--config-file JSON"
        )
    if not has_default_app:
        return tuple(
            (label, _build_app(defaults, label, _ordered(layer, env, flags, prefer_file)))
            for label, layer in config.apps
        )
    default_id = _app_id({**env, **flags})
    built: list[tuple[str, AppSettings]] = []
    merged = False
    for label, layer in config.apps:
        if default_id is not None and _app_id(layer) == default_id:
            layers, merged = _ordered(layer, env, flags, prefer_file), True
        else:
            layers = [layer]
        built.append((label, _build_app(defaults, label, layers)))
    if not merged:
        label = "the default app (flags/environment)"
        built.insert(0, (label, _build_app(defaults, label, [env, flags])))
    return tuple(built)


def _reject_duplicates(apps: Iterable[tuple[str, AppSettings]]) -> None:
    for attribute in ("id", "key"):
        seen: dict[str, str] = {}
        for label, app in apps:
            value = getattr(app, attribute)
            if value in seen:
                raise ConfigError(
                    f"duplicate app {attribute} {value!r}: used by {seen[value]} and {label}"
                )
            seen[value] = label


def _check_database_app_manager(
    server: Layer, config: _ConfigFile, env: Layer, flags: Layer
) -> None:
    """A database app manager needs its URL, and takes apps from the database (or DynamoDB) only:
    refusing apps also given by flags, environment or config file beats silently ignoring them."""
    manager = server["app_manager"]
    name = str(manager.value).strip().lower()
    store = "its DynamoDB table" if name == "dynamodb" else "the database"
    if name in DATABASE_APP_MANAGERS and not str(server["database_url"].value):
        raise ConfigError(
            f"app_manager {name} from {manager.source} needs database_url: give it with the flag "
            "--database-url, the environment variable DATABASE_URL (or the .env file), or "
            "server.database_url in a --config-file JSON"
        )
    static = [layer[key].source for layer in (flags, env) for key in _CREDENTIALS if key in layer]
    static += [label for label, _ in config.apps]
    if static:
        raise ConfigError(
            f"app_manager {name} from {manager.source} reads apps from {store}, but an app "
            f"is also given by {static[0]}; remove it (add the app to the table instead) or use "
            "--app-manager array"
        )


def _check_webhooks(label: str, app: AppSettings) -> None:
    """Webhook objects are parsed where they are used; refuse malformed ones at start-up."""
    from socketrush.webhooks.events import targets  # it imports this module

    try:
        targets(app)
    except ValueError as error:
        raise ConfigError(f"{label}: invalid app_webhooks: {error}") from None


def load_settings(
    argv: Sequence[str], environ: Mapping[str, str] | None = None, *, server_only: bool = False
) -> ServerSettings:
    """Build the effective settings from `serve` flags, the environment and the files they name.

    Raises ConfigError for anything that would stop the server from starting correctly.
    `server_only` skips the applications (apps=()) for commands that serve none.
    """
    environ = os.environ if environ is None else environ
    flags = _read_flags(argv)
    config = _read_config_file(flags.get("config_file"))
    dotenv, dotenv_path = _read_env_file(flags, config.server)
    env = _read_environment(environ, dotenv, dotenv_path)
    prefer_given = flags.get("prefer_config_file")
    prefer_file = bool(prefer_given and parse_value(BY_NAME["prefer_config_file"], prefer_given))

    defaults = _defaults()
    layers = _ordered(
        config.server, _only(Scope.SERVER, env), _only(Scope.SERVER, flags), prefer_file
    )
    server = _resolve(defaults, layers, _SERVER_OPTIONS)
    values = {o.field: parse_value(o, server[o.name]) for o in _SERVER_OPTIONS}
    _check_tls_files(values, server)
    _check_dashboard(values, server)
    apps: tuple[tuple[str, AppSettings], ...] = ()
    if values["app_manager"] in STORED_APP_MANAGERS:
        _check_database_app_manager(server, config, env, flags)
    elif not server_only:
        apps = _build_apps(defaults, config, env, flags, prefer_file)
    _reject_duplicates(apps)
    for label, app in apps:
        _check_webhooks(label, app)
    return ServerSettings(**values, apps=tuple(app for _, app in apps))


def _check_dashboard(values: Mapping[str, object], given: Layer) -> None:
    """The dashboard is never served without its login: refuse to start instead."""
    if not values["dashboard_enabled"]:
        return
    for name in ("dashboard_username", "dashboard_password"):
        if not values[name]:
            raise ConfigError(
                f"dashboard_enabled from {given['dashboard_enabled'].source} needs {name} "
                f"(--{name.replace('_', '-')}): the dashboard is only served behind a login"
            )


def _check_tls_files(values: Mapping[str, object], given: Layer) -> None:
    """TLS needs both files, and both readable: fail at start-up, not at the first client."""
    cert, key = values["ssl_cert"], values["ssl_key"]
    if bool(cert) != bool(key):
        present, missing = ("ssl_cert", "ssl_key") if cert else ("ssl_key", "ssl_cert")
        raise ConfigError(
            f"{present} from {given[present].source} needs {missing} too "
            f"(--{missing.replace('_', '-')}): TLS takes a certificate and its private key"
        )
    for name in ("ssl_cert", "ssl_key"):
        path = values[name]
        if path and not os.access(str(path), os.R_OK):
            raise ConfigError(f"{name} {path!r} from {given[name].source} is not a readable file")
