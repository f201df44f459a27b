"""Generate docs/configuration.md from `socketrush.options.OPTIONS`.

The reference is generated rather than written so it cannot drift from what the server accepts:
`make docs` rewrites it, and a test fails while the committed file differs from this output.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable

from socketrush.options import BY_NAME, OPTIONS, Kind, Option, Scope

NONE = "—"  # an empty cell: the option has no spelling in that source
_SCOPE_NOTE = {
    Scope.SERVER: "JSON keys go in the `server` object.",
    Scope.APP: (
        "JSON keys go in each object of the `applications` list; flags and environment "
        "variables describe the default app (see *Which applications exist*)."
    ),
}


def _code(items: Iterable[str]) -> str:
    """Each spelling as code, one per line of the cell; an em dash when the source has none."""
    return "<br>".join(f"`{item}`" for item in items) or NONE


def _cell(text: str) -> str:
    """Keep a table cell in one piece: a bare `|` would end it early."""
    return text.replace("|", "\\|")


def type_text(option: Option) -> str:
    """The accepted values in words, with the bounds the validator enforces."""
    if option.kind is Kind.CHOICE:
        return "one of " + ", ".join(f"`{choice}`" for choice in option.choices)
    if option.kind is Kind.INT:
        low, high = option.minimum, option.maximum
        if low is not None and high is not None:
            return f"int, {low}–{high}"
        return "int" if low is None else f"int ≥ {low}"
    if option.kind is Kind.LIST:
        return "list of strings"
    if option.kind is Kind.HTTP_URLS:
        return "list of http(s) URLs"
    if option.kind is Kind.WEBHOOKS:
        return "list of webhook objects"
    return str(option.kind)


def default_text(option: Option) -> str:
    """The default as a reader would type it; app settings without one must be given."""
    default = option.default
    if default is None and option.scope is Scope.APP:
        return "required"
    if default in (None, ""):
        return "not set"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, tuple):
        return f"`{json.dumps(list(default))}`"
    return f"`{default}`"


def _description(option: Option) -> str:
    text = option.help
    if option.zero_means_unlimited:
        text += "; -1 (soketi's unlimited) is read as 0"
    if option.secret:
        text += "; printed as `***` by `socketrush config` unless `--show-secrets`"
    if option.bootstrap:
        text += "; read first, as it shapes how the other sources are read"
    return text


def option_row(option: Option) -> str:
    """One markdown table row: flags, env vars, JSON keys, type, default, description."""
    cells = (
        _code(option.flags),
        _code(option.env),
        _code(option.json_keys),
        type_text(option),
        default_text(option),
        _description(option),
    )
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def group_section(group: str, options: list[Option]) -> str:
    """A heading, where the group's JSON keys live, and one table row per option."""
    scopes = dict.fromkeys(option.scope for option in options)
    lines = [f"### {group}", "", *(_SCOPE_NOTE[scope] for scope in scopes), ""]
    lines += [
        "| Flag(s) | Env var(s) | JSON key(s) | Type | Default | Description |",
        "| --- | --- | --- | --- | --- | --- |",
        *(option_row(option) for option in options),
    ]
    return "\n".join(lines)


def groups() -> dict[str, list[Option]]:
    """Options by group, groups and options in the order of the table in options.py."""
    grouped: dict[str, list[Option]] = {}
    for option in OPTIONS:
        grouped.setdefault(option.group, []).append(option)
    return grouped


def example_config() -> dict:
    """A config file that exercises both sections; keys come from OPTIONS so a rename shows."""

    def key(name: str) -> str:
        return BY_NAME[name].json_keys[0]

    return {
        "server": {
            key("port"): 6001,
            key("adapter_driver"): "local",
            key("log_level"): "info",
        },
        "applications": [
            {
                key("app_id"): "123",
                key("app_key"): "my-key",
                key("app_secret"): "my-secret",
                key("app_enable_client_messages"): True,
                key("app_max_connections"): 1000,
                key("app_webhooks"): [
                    {
                        "url": "https://example.com/pusher/webhooks",
                        "event_types": ["channel_occupied", "channel_vacated"],
                    }
                ],
            },
            {key("app_id"): "456", key("app_key"): "other-key", key("app_secret"): "other"},
        ],
    }


def _alias_line(option: Option) -> str | None:
    """`name`: the extra spellings, per source, or None when the option has only one."""
    parts = [
        f"{source} {', '.join(f'`{alias}`' for alias in spellings[1:])} (same as `{spellings[0]}`)"
        for source, spellings in (
            ("flag", option.flags),
            ("env", option.env),
            ("JSON", option.json_keys),
        )
        if len(spellings) > 1
    ]
    return f"- `{option.name}`: " + "; ".join(parts) if parts else None


PREAMBLE = """\
# Configuration reference

<!-- Generated by `python -m socketrush.reference` from socketrush/options.py.
     Do not edit by hand: change options.py and run `make docs`. -->

Every setting can be given as a command-line flag of `socketrush serve`, an environment variable
(also read from the `.env` file), or a key of the JSON config file. Settings that have no
spelling in a source show `{none}` in that column.

## Precedence

Highest first:

1. command-line flags;
2. environment variables — real variables win over the `.env` file, and an empty variable
   counts as unset;
3. the JSON config file given with `--config-file`;
4. the shipped defaults (`settings.toml` at the top of the repository, installed with the
   package; the *Default* column below).

`--prefer-config-file` moves the JSON file above the environment; flags still win.
`socketrush config` (or `socketrush serve --print-config`) prints the effective settings as a
JSON config file, secrets masked (`--show-secrets` prints them), without starting the server:
`socketrush config --show-secrets > config.json` and `socketrush serve --config-file
config.json` run with the same settings.

## Values

- Booleans accept `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`; a boolean flag given
  without a value means `true`.
- Lists are comma-separated in flags and environment variables (`a,b,c`); a list flag may
  also be repeated. In JSON they are arrays of strings.
- Anything invalid stops start-up with one line naming the setting, where the value came
  from and what is allowed.

## The JSON config file

One object with two optional members: `server` (server settings) and `applications` (a list
with one object per app). Unknown keys are rejected. For example:

```json
{example}
```

## Which applications exist

- Without an `applications` list, the one app is the default app, built from the `--app-*`
  flags and `APP_*` environment variables.
- With an `applications` list and no app id, key or secret given by flag or environment,
  the listed apps are the apps, and every `--app-*` flag / `APP_*` variable applies to each
  of them.
- With both, flags and environment describe the default app only: when its id matches a
  listed app they override that app's values, otherwise the default app is added to the list.

App ids and keys must be unique.

## Aliases

Alternative spellings accepted for compatibility. Giving two spellings of one setting with
different values in the same source is an error.

{aliases}

## Settings

One table per group, in the order of `socketrush/options.py`. The first spelling in a cell is
the primary one; the others are the aliases above."""


def render() -> str:
    """The whole configuration reference as markdown, ending with one newline."""
    aliases = [line for option in OPTIONS if (line := _alias_line(option)) is not None]
    preamble = PREAMBLE.format(
        none=NONE,
        example=json.dumps(example_config(), indent=2),
        aliases="\n".join(aliases),
    )
    sections = [group_section(group, options) for group, options in groups().items()]
    return "\n\n".join([preamble, *sections]) + "\n"


def main() -> None:
    """Write the reference to stdout; `make docs` redirects it into docs/configuration.md."""
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
