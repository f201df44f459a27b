"""Every relative link in the README, docs/ and the examples' READMEs points at a real file.

Several people write these pages at once; a renamed page or example otherwise breaks links
silently.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.server import REPO_ROOT

PAGES = sorted(
    [REPO_ROOT / "README.md", *REPO_ROOT.glob("docs/*.md"), *REPO_ROOT.glob("examples/*/README.md")]
)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def relative_links(page: Path) -> list[str]:
    """Targets of markdown links that are neither URLs nor in-page anchors, anchor dropped."""
    targets = (match.group(1) for match in LINK.finditer(page.read_text()))
    return [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:|#", t)]


def test_the_index_and_examples_are_checked() -> None:
    names = {str(page.relative_to(REPO_ROOT)) for page in PAGES}
    assert {"README.md", "docs/README.md", "examples/chat/README.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    missing = [t for t in relative_links(page) if not (page.parent / t).exists()]
    assert missing == []


def test_readme_opens_with_the_two_commands() -> None:
    block = (REPO_ROOT / "README.md").read_text().split("```bash\n", 1)[1].split("```")[0]
    assert [line.split("#")[0].strip() for line in block.splitlines()] == [
        "make serve",
        "make test",
    ]
