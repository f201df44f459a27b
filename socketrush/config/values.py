"""One raw value and where it came from, and how each kind of setting is parsed and checked.

Every source (flags, environment, `.env`, JSON file, database row) hands its raw values to
`parse_value`, so a setting is validated the same way wherever it was given, and a refusal
always names the setting, its source, the value and what is allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

from socketrush.config.errors import ConfigError, Unacceptable
from socketrush.config.webhooks import parse_urls, parse_webhooks
from socketrush.options import Kind, Option


class Given(NamedTuple):
    """A raw value and the place it came from (e.g. `flag --port`, `env PORT`)."""

    value: object
    source: str


Layer = dict[str, Given]  # option name -> value given by one source

UNLIMITED = -1  # soketi's "no limit", read as our 0 by options where 0 means unlimited

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _as_str(option: Option, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("a string")
    return str(value)  # JSON ids are often numbers: {"app_id": 123}


def _as_int(option: Option, value: object) -> int:
    low, high = option.minimum, option.maximum
    if low is not None and high is not None:
        allowed = f"an integer from {low} to {high}"
    else:
        allowed = "an integer" if low is None else f"an integer >= {low}"
    if option.zero_means_unlimited:
        allowed += " (0 or -1 for unlimited)"
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValueError(allowed) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(allowed)
    if value == UNLIMITED and option.zero_means_unlimited:
        return 0
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(allowed)
    return value


def _as_float(option: Option, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("a number")
    return float(value)


def _as_bool(option: Option, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError("true or false (or 1/0, yes/no, on/off)")


def _as_choice(option: Option, value: object) -> str:
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in option.choices:
        raise ValueError("one of: " + ", ".join(option.choices))
    return text


def _as_list(option: Option, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return split(value)
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ValueError("a list of strings or one comma-separated string")


_PARSERS: dict[Kind, Callable[[Option, object], object]] = {
    Kind.STR: _as_str,
    Kind.INT: _as_int,
    Kind.FLOAT: _as_float,
    Kind.BOOL: _as_bool,
    Kind.CHOICE: _as_choice,
    Kind.LIST: _as_list,
    Kind.HTTP_URLS: lambda option, value: parse_urls(_as_list(option, value)),
    Kind.WEBHOOKS: lambda option, value: parse_webhooks(value),
}


def parse_value(option: Option, given: Given) -> object:
    """Validate and convert one value, or raise a ConfigError that names its source."""
    try:
        return _PARSERS[option.kind](option, given.value)
    except Unacceptable as wrong:
        raise ConfigError(f"invalid {option.name} from {given.source}: {wrong}") from None
    except ValueError as allowed:
        raise ConfigError(
            f"invalid value {given.value!r} for {option.name} from {given.source}: "
            f"expected {allowed}"
        ) from None


def is_unlimited(option: Option, given: Given) -> bool:
    """Whether `given` is soketi's -1 for an option that reads it as 0 (unlimited)."""
    value = given.value.strip() if isinstance(given.value, str) else given.value
    return option.zero_means_unlimited and value in (UNLIMITED, str(UNLIMITED))


def split(text: str) -> tuple[str, ...]:
    """`a, b,,c` -> ("a", "b", "c"): list settings are comma-separated in flags and env vars."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def pick(option: Option, candidates: Iterable[Given]) -> Given | None:
    """One value from several spellings of the same setting in one source; they must agree."""
    found = list(candidates)
    for other in found[1:]:
        if other.value != found[0].value:
            raise ConfigError(
                f"conflicting values for {option.name}: {found[0].value!r} from "
                f"{found[0].source} and {other.value!r} from {other.source}; keep one"
            )
    return found[0] if found else None
