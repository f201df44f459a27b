"""Shell commands in the README, docs/ and the examples' READMEs work after `make serve`.

`make serve` installs into `.venv`, which is not on PATH, so a bare `socketrush` or `gunicorn`
command fails unless the page has said `. .venv/bin/activate` in a shell block before it (or
the command names `.venv/bin/...` itself). test_getting_started.py runs that guide's commands;
this checks every other page says so too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.server import REPO_ROOT
from tests.support.shell_docs import command_lines, shell_blocks

PAGES = sorted(
    [REPO_ROOT / "README.md", *REPO_ROOT.glob("docs/*.md"), *REPO_ROOT.glob("examples/*/README.md")]
)
ACTIVATE = re.compile(r"^(\.|source) \.venv/bin/activate$")
ASSIGNMENTS = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)+")
VENV_COMMANDS = ("socketrush", "gunicorn")


def commands_before_activation(markdown: str) -> list[str]:
    """Bare `socketrush`/`gunicorn` command lines of shell blocks before the first activation."""
    found: list[str] = []
    for block in shell_blocks(markdown):
        for line in command_lines(block):
            if ACTIVATE.match(line):
                return found
            program = ASSIGNMENTS.sub("", line).split(" ", 1)[0]
            if program in VENV_COMMANDS:
                found.append(line)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_bare_venv_commands_come_after_activation(page: Path) -> None:
    assert commands_before_activation(page.read_text()) == []


def test_the_check_finds_a_bare_command() -> None:
    page = "```bash\nexport X=1\nAPP_ID=1 socketrush serve \\\n  --port 1\n```\n"
    assert commands_before_activation(page) == ["APP_ID=1 socketrush serve --port 1"]
    activated = "```sh\n. .venv/bin/activate  # once\n```\n" + page
    assert commands_before_activation(activated) == []
    assert commands_before_activation("```bash\n.venv/bin/socketrush serve\n```\n") == []
