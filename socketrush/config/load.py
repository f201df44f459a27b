"""`load`: flags, environment, `.env`, a JSON config file and the shipped defaults to settings.

Every value keeps the place it came from, so a bad value stops start-up with one line naming the
setting, its source, the value and what is allowed; values that start the server but may not
mean what a soketi user expects come back as notices.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from socketrush.config import checks, layering
from socketrush.config.flags import read_flags
from socketrush.config.migration import Notices
from socketrush.config.sources import read_config_file, read_env_file, read_environment
from socketrush.config.values import parse_value
from socketrush.options import BY_NAME, Scope
from socketrush.settings import AppSettings, ServerSettings


class Loaded(NamedTuple):
    settings: ServerSettings
    notices: tuple[str, ...]  # one line each, for the log or stderr


def load(
    argv: Sequence[str], environ: Mapping[str, str] | None = None, *, server_only: bool = False
) -> Loaded:
    """Build the effective settings from `serve` flags, the environment and the files they name.

    Raises ConfigError for anything that would stop the server from starting correctly.
    `server_only` skips the applications (apps=()) for commands that serve none.
    """
    environ = os.environ if environ is None else environ
    notices = Notices()
    flags = read_flags(argv)
    config = read_config_file(flags.get("config_file"))
    dotenv = read_env_file(flags, config.server)
    env = read_environment(environ, dotenv)
    notices.soketi_variables([(environ, ""), (dotenv.values, f" in env file {dotenv.path}")])
    prefer_given = flags.get("prefer_config_file")
    prefer_file = bool(prefer_given and parse_value(BY_NAME["prefer_config_file"], prefer_given))

    defaults = layering.defaults()
    layers = layering.ordered(
        config.server,
        layering.only(Scope.SERVER, env),
        layering.only(Scope.SERVER, flags),
        prefer_file,
    )
    server = layering.resolve(defaults, layers, layering.SERVER_OPTIONS)
    values = layering.parse_resolved(server, layering.SERVER_OPTIONS, notices)
    notices.grace_period(server["shutdown_grace_period"], values["shutdown_grace_period"])
    checks.check_tls_files(values, server)
    checks.check_dashboard(values, server)
    apps: tuple[tuple[str, AppSettings], ...] = ()
    if values["app_manager"] in checks.STORED_APP_MANAGERS:
        checks.check_database_app_manager(server, config, env, flags)
    elif not server_only:
        apps = layering.build_apps(defaults, config, env, flags, prefer_file, notices)
    checks.reject_duplicate_apps(apps)
    settings = ServerSettings(**values, apps=tuple(app for _, app in apps))
    return Loaded(settings, notices.lines)


def load_settings(
    argv: Sequence[str], environ: Mapping[str, str] | None = None, *, server_only: bool = False
) -> ServerSettings:
    """`load` for callers that have no one to show notices to (tests, tools)."""
    return load(argv, environ, server_only=server_only).settings
