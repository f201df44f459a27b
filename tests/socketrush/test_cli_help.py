"""`socketrush --help` and every subcommand's help: exit 0, and group flags like the reference.

docs/configuration.md is generated from the same options table, so the `###` groups there are
the groups each help page must show, in the same order.
"""

from __future__ import annotations

import re

import pytest

from socketrush.cli import main
from tests.support.server import REPO_ROOT

REFERENCE_GROUPS = re.findall(
    r"^### (.+)$", (REPO_ROOT / "docs" / "configuration.md").read_text(), re.M
)


HELP_PAGES = [["--help"], ["serve", "--help"], ["config", "--help"], ["apps", "init-db", "--help"]]


@pytest.mark.parametrize("argv", HELP_PAGES)
def test_help_lists_every_reference_group_in_order(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 0
    shown = re.findall(r"^(\S[^:\n]*):$", capsys.readouterr().out, re.M)
    assert [group for group in shown if group in REFERENCE_GROUPS] == REFERENCE_GROUPS


def help_text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def test_top_level_help_lists_one_command_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    lines = help_text(["--help"], capsys).splitlines()
    assert lines[0] == "usage: socketrush [command] [flags]"
    assert lines[2:7] == [
        "commands:",
        "  serve   run the server (the default when no command is given)",
        "  config  print the effective settings as a JSON config file, secrets masked, and exit",
        "  apps    manage the apps table of --app-manager postgres|mysql",
        "",
    ]


@pytest.mark.parametrize(
    ("argv", "usage", "description"),
    [
        (["serve", "--help"], "socketrush serve", "Run the server (the default when no command "),
        (["config", "--help"], "socketrush config", "Print the effective settings as a JSON "),
        (["apps", "init-db", "--help"], "socketrush apps init-db", "Create the apps table of "),
    ],
)
def test_each_command_help_describes_that_command(
    argv: list[str], usage: str, description: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = help_text(argv, capsys).splitlines()
    assert lines[0] == f"usage: {usage} [flags]"
    assert lines[2].startswith(description)
    assert "commands:" not in lines


def test_apps_help_lists_its_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert help_text(["apps", "--help"], capsys) == (
        "usage: socketrush apps {init-db} [flags]\n"
        "\n"
        "subcommands:\n"
        "  init-db  create the apps table of --app-manager postgres|mysql, or add new columns\n"
        "\n"
        "`socketrush apps init-db --help` lists its flags.\n"
    )


@pytest.mark.parametrize("argv", HELP_PAGES)
def test_empty_defaults_show_no_default_text(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # one line per flag
    out = help_text(argv, capsys)
    assert "(default: )" not in out
    ssl_cert = next(line for line in out.splitlines() if line.startswith("  --ssl-cert"))
    assert ssl_cert.endswith("PEM certificate file: serve wss:// and https:// [env SSL_CERT]")
    assert "[env PORT] (default: 6001)" in out


@pytest.mark.parametrize("argv", HELP_PAGES)
def test_settings_without_a_flag_are_listed_in_their_group(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    out = help_text(argv, capsys)
    group = out[out.index("\nApp webhooks:\n") :].splitlines()
    assert group[2] == (
        "  app_webhooks (JSON config file only): Webhook objects "
        '{"url" or "sns_topic_arn", "event_types", "filter"}'
    )
