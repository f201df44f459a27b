"""The flags of `socketrush serve` (and of every command that reads the same settings).

One flag, plus its aliases, per option of `socketrush.options`; argparse only records the raw
text and the spelling used, and `parse_value` validates it with every other source.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from socketrush.config.errors import ConfigError
from socketrush.config.values import Given, Layer, split
from socketrush.options import OPTIONS, Kind, Option


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
        if self.option.kind.is_list:
            previous = getattr(namespace, self.dest, Given([], source))
            values = [*previous.value, *split(values)]  # a list: Dynaconf stringifies tuples
        setattr(namespace, self.dest, Given(values, source))


def _metavar(option: Option) -> str:
    if option.kind is Kind.CHOICE:
        return "{" + ",".join(option.choices) + "}"
    if option.kind.is_list:
        return "A,B"
    return {Kind.BOOL: "true|false", Kind.INT: "N", Kind.FLOAT: "X"}.get(option.kind, "TEXT")


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


def read_flags(argv: Sequence[str]) -> Layer:
    """Every option given on the command line, as raw text with the flag spelling used."""
    return vars(flag_parser(add_help=False).parse_args(list(argv)))
