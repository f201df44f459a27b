"""An installed Socket Rush, not the checkout, finds the shipped defaults.

The sources are copied to a temporary directory, built into a wheel the way `pip install .`
builds one, and the wheel is installed into a fresh virtual environment outside the checkout.
Its dependencies come from this test run's environment (a path entry, not an install), so the
test needs no network beyond what building needs. The copy's settings.toml gets a port no
other source gives, so the installed server can only print it by reading its packaged copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.support.server import REPO_ROOT

BUILD_SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "settings.toml")
PACKAGES = ("actors", "socketrush")
MARKER_PORT = 6123  # in the built copy's settings.toml only
BUILD_TIMEOUT = 300


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_SOURCES:
        shutil.copy2(REPO_ROOT / name, source / name)
    for package in PACKAGES:
        shutil.copytree(
            REPO_ROOT / package,
            source / package,
            ignore=shutil.ignore_patterns("__pycache__", "node_modules", "settings.toml"),
        )
    defaults = source / "settings.toml"
    text = defaults.read_text()
    assert "\nport = 6001\n" in text
    defaults.write_text(text.replace("\nport = 6001\n", f"\nport = {MARKER_PORT}\n"))
    dist = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    (built,) = dist.glob("socketrush-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel; the bin directory of its console scripts."""
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=False)
    python = home / "bin" / "python"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", str(wheel)],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    # The dependencies, as a plain path entry: .pth files there (our editable install) stay off.
    Path(site, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return home / "bin"


def test_the_wheel_ships_the_top_level_settings_toml_inside_the_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "socketrush/settings.toml" in names
        assert "settings.toml" not in names
        shipped = archive.read("socketrush/settings.toml").decode()
    assert f"\nport = {MARKER_PORT}\n" in shipped


def test_the_installed_server_reads_its_packaged_defaults(installed: Path, tmp_path: Path) -> None:
    env = {"PATH": f"{installed}:/usr/bin:/bin"}  # no PYTHONPATH: nothing of the checkout
    where = subprocess.run(
        [str(installed / "python"), "-c",
         "import socketrush.config as c; print(c.__file__); print(c.DEFAULTS_FILE)"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    module, defaults = where.stdout.split()
    site = Path(module).parents[2]  # site-packages/socketrush/config/__init__.py
    assert not Path(module).is_relative_to(REPO_ROOT)
    assert Path(defaults) == site / "socketrush" / "settings.toml"
    done = subprocess.run(
        ["socketrush", "config", "--app-id", "1", "--app-key", "k", "--app-secret", "s"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["server"]["port"] == MARKER_PORT
