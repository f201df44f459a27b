"""Build hook: the wheel ships the repository's top-level settings.toml inside the package.

`settings.toml` is the one file of shipped defaults, kept at the top of the repository where
people look for it. A wheel cannot install a file from outside its packages, so the build copies
it to `socketrush/settings.toml` in the build tree; the checkout never holds that copy (an
editable install reads the top-level file itself, see socketrush/config/layering.py).
Everything else about the build is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DEFAULTS = "settings.toml"


class BuildPyWithDefaults(build_py):
    """build_py that also puts the shipped defaults into the built package."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            self.copy_file(DEFAULTS, str(Path(self.build_lib, "socketrush", DEFAULTS)))


setup(cmdclass={"build_py": BuildPyWithDefaults})
