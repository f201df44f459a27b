"""The `socketrush` command: `serve` (the default), `config` and `apps init-db`.

Configuration mistakes end with one `socketrush: …` line on stderr and exit status 2, never a
traceback, so a container log shows exactly what to fix.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import orjson

from socketrush.config import (
    DATABASE_APP_MANAGERS,
    ConfigError,
    Loaded,
    flag_parser,
    load,
    mask_store_url_password,
    settings_document,
)
from socketrush.logging_setup import configure_logging

COMMANDS = {
    "serve": "run the server (the default when no command is given)",
    "config": "print the effective settings as a JSON config file, secrets masked, and exit",
    "apps": "manage the apps table of --app-manager postgres|mysql",
}
APPS_SUBCOMMANDS = {
    "init-db": "create the apps table of --app-manager postgres|mysql, or add new columns",
}
HELP_FLAGS = ("-h", "--help")
PRINT_CONFIG = "--print-config"
SHOW_SECRETS = "--show-secrets"
log = logging.getLogger(__name__)


def _split_command(argv: Sequence[str]) -> tuple[str, list[str]]:
    """`socketrush --port 8080` means `socketrush serve --port 8080`."""
    if argv and argv[0] in COMMANDS:
        return argv[0], list(argv[1:])
    return "serve", list(argv)


def _print_settings(loaded: Loaded, show_secrets: bool) -> None:
    """The settings as a `--config-file` on stdout; notices on stderr, so stdout stays JSON."""
    for notice in loaded.notices:
        sys.stderr.write(f"socketrush: warning: {notice}\n")
    document = settings_document(loaded.settings, show_secrets=show_secrets)
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


def _serve(loaded: Loaded) -> int:
    settings = loaded.settings
    configure_logging(settings.log_level, settings.log_format)
    for notice in loaded.notices:
        log.warning("%s", notice)
    log.debug("effective settings: %s", orjson.dumps(settings_document(settings)).decode())
    from socketrush.server import run  # heavy (gevent server, Flask); only `serve` needs it

    try:
        return run(settings)
    except ConfigError as error:  # found while building a driver: a bad database URL, no boto3
        sys.stderr.write(f"socketrush: {error}\n")
        return 2


def _apps(argv: Sequence[str]) -> int:
    """`socketrush apps init-db [flags]`: the database comes from the same flags, environment
    and config file as `serve`, so the command runs with exactly the server's settings."""
    if argv and argv[0] in HELP_FLAGS:
        sys.stdout.write(
            f"usage: socketrush apps {{{','.join(APPS_SUBCOMMANDS)}}} [flags]\n\n"
            f"subcommands:\n{_listing(APPS_SUBCOMMANDS)}\n\n"
            "`socketrush apps init-db --help` lists its flags.\n"
        )
        return 0
    if not argv or argv[0] not in APPS_SUBCOMMANDS:
        given = f" {argv[0]!r}" if argv else ""
        sys.stderr.write(
            f"socketrush: unknown apps subcommand{given}: expected {', '.join(APPS_SUBCOMMANDS)}\n"
        )
        return 2
    flags = list(argv[1:])
    parser = _command_parser(f"apps {argv[0]}", APPS_SUBCOMMANDS[argv[0]])
    try:
        parser.parse_args(flags)  # --help exits here; bad flags raise ConfigError
        loaded = load(flags, server_only=True)
        settings = loaded.settings
        if settings.app_manager not in DATABASE_APP_MANAGERS:
            raise ConfigError(
                f"apps {argv[0]} needs --app-manager {'|'.join(DATABASE_APP_MANAGERS)} (or "
                f"APP_MANAGER) and --database-url, not app_manager {settings.app_manager}"
            )
    except ConfigError as error:
        sys.stderr.write(f"socketrush: {error}\n")
        return 2
    except SystemExit as done:  # argparse after printing --help
        return int(done.code or 0)
    configure_logging(settings.log_level, settings.log_format)
    for notice in loaded.notices:
        log.warning("%s", notice)
    from socketrush.app_managers import AppManagerError, init_db  # loads the database drivers

    try:
        init_db(settings.app_manager, settings.database_url)  # type: ignore[arg-type]
    except AppManagerError as error:
        sys.stderr.write(f"socketrush: {error}\n")
        return 1
    sys.stdout.write(f"apps table is ready in {mask_store_url_password(settings.database_url)}\n")
    return 0


def _listing(entries: dict[str, str]) -> str:
    """One `  name  summary` line per entry, names aligned, like argparse lists flags."""
    width = max(map(len, entries)) + 2
    return "\n".join(f"  {name:<{width}}{summary}" for name, summary in entries.items())


def _command_parser(command: str, summary: str) -> argparse.ArgumentParser:
    """The flag parser of one command, its summary as description, kept as written (the
    listings below are laid out by hand; flag help is still wrapped by argparse)."""
    parser = flag_parser(f"socketrush {command}")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = summary[0].upper() + summary[1:] + "."
    return parser


def _top_level_parser() -> argparse.ArgumentParser:
    """`socketrush --help`: the commands, then the flags of `serve`, the default command."""
    parser = _command_parser("serve", COMMANDS["serve"])
    parser.usage = "socketrush [command] [flags]"
    parser.description = (
        f"commands:\n{_listing(COMMANDS)}\n\n"
        "`socketrush <command> --help` shows one command; the flags below are those of\n"
        "`serve`, the command run when none is given."
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `socketrush` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    command, flags = _split_command(argv)
    if command == "apps":
        return _apps(flags)
    if argv and argv[0] == command:
        parser = _command_parser(command, COMMANDS[command])
    else:
        parser = _top_level_parser()
    if command == "serve":
        parser.add_argument(
            PRINT_CONFIG,
            action="store_true",
            default=False,
            help=COMMANDS["config"].replace("print", "only print"),
        )
    parser.add_argument(
        SHOW_SECRETS,
        action="store_true",
        default=False,
        help="with config or --print-config: print secrets and passwords as they are",
    )
    try:
        options = parser.parse_args(flags)  # --help exits here; bad flags raise ConfigError
        print_only = command == "config" or options.print_config
        loaded = load([arg for arg in flags if arg not in (PRINT_CONFIG, SHOW_SECRETS)])
    except ConfigError as error:
        sys.stderr.write(f"socketrush: {error}\n")
        return 2
    except SystemExit as done:  # argparse after printing --help
        return int(done.code or 0)
    if print_only:
        _print_settings(loaded, options.show_secrets)
        return 0
    return _serve(loaded)
