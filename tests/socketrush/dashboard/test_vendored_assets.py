"""The browser libraries under socketrush/dashboard/static/vendor are exactly the files of the
npm packages pinned in socketrush/dashboard/npm (what `make dashboard-assets` copies)."""

from __future__ import annotations

from pathlib import Path

import pytest

from socketrush.http.dashboard import STATIC_DIR
from tests.support.npm import npm_install
from tests.support.server import REPO_ROOT

NPM_DIR = REPO_ROOT / "socketrush" / "dashboard" / "npm"


def vendored() -> list[tuple[str, str]]:
    lines = (NPM_DIR / "vendored.txt").read_text().splitlines()
    return [tuple(line.split()) for line in lines if line and not line.startswith("#")]


@pytest.mark.parametrize("source,target", vendored())
def test_vendored_file_is_the_pinned_package_s(source: str, target: str) -> None:
    npm_install(NPM_DIR, "uplot")
    expected = (NPM_DIR / "node_modules" / source).read_bytes()
    assert (Path(str(STATIC_DIR)) / "vendor" / target).read_bytes() == expected


def test_every_vendored_file_is_listed_and_licensed() -> None:
    listed = {target for _, target in vendored()}
    assert {p.name for p in (Path(str(STATIC_DIR)) / "vendor").iterdir()} == listed
    assert {"pusher-js.LICENCE.txt", "uplot.LICENSE.txt"} <= listed
