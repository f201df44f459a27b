"""The two ways a setting is refused; a leaf module so every part of the loader can raise them."""

from __future__ import annotations


class ConfigError(Exception):
    """Configuration that cannot start a server; `str()` is one line meant for a person."""


class Unacceptable(ValueError):
    """A value of the right shape that is still wrong; its text says what is wrong with it
    (a plain ValueError from a parser says what would have been allowed instead)."""
