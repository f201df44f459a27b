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


@pytest.mark.parametrize(
    "argv", [["--help"], ["serve", "--help"], ["config", "--help"], ["apps", "init-db", "--help"]]
)
def test_help_lists_every_reference_group_in_order(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 0
    shown = re.findall(r"^(\S[^:\n]*):$", capsys.readouterr().out, re.M)
    assert [group for group in shown if group in REFERENCE_GROUPS] == REFERENCE_GROUPS


def test_apps_help_names_its_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apps", "--help"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "usage: socketrush apps {init-db} [flags]"
