"""parse_value: each kind of setting parsed and checked, refusals naming the source."""

from __future__ import annotations

import pytest

from socketrush.config import ConfigError, Given, parse_value
from socketrush.options import BY_NAME, Kind, Option, Scope


def test_float_kind_parses_numbers_and_names_the_source() -> None:
    option = Option("ratio", Kind.FLOAT, 0.5, (), (), (), Scope.SERVER, "Server", "test")
    assert parse_value(option, Given("0.25", "env RATIO")) == 0.25
    with pytest.raises(ConfigError, match=r"^invalid value 'x' for ratio from env RATIO: "):
        parse_value(option, Given("x", "env RATIO"))


@pytest.mark.parametrize("given", [-1, "-1", " -1 "])
def test_soketis_unlimited_is_read_as_0_where_0_means_unlimited(given: object) -> None:
    option = BY_NAME["app_max_connections"]
    assert option.zero_means_unlimited
    assert parse_value(option, Given(given, "env APP_MAX_CONNECTIONS")) == 0


def test_minus_1_stays_refused_where_0_is_a_real_limit() -> None:
    option = BY_NAME["app_max_presence_members_per_channel"]
    with pytest.raises(ConfigError) as refused:
        parse_value(option, Given(-1, "env X"))
    assert str(refused.value) == (
        "invalid value -1 for app_max_presence_members_per_channel from env X: "
        "expected an integer >= 0"
    )


def test_minus_2_is_no_limit_anyone_means() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_value(BY_NAME["app_max_connections"], Given("-2", "env APP_MAX_CONNECTIONS"))
    assert str(refused.value) == (
        "invalid value '-2' for app_max_connections from env APP_MAX_CONNECTIONS: "
        "expected an integer >= 0 (0 or -1 for unlimited)"
    )
