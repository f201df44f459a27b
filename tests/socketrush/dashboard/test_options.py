"""The dashboard's settings: off by default, and never on without its login."""

from __future__ import annotations

import pytest

from socketrush.config import ConfigError, load_settings, settings_document

CREDS = ["--app-id", "1", "--app-key", "k", "--app-secret", "s"]


def test_off_by_default() -> None:
    settings = load_settings(CREDS, {})
    assert (settings.dashboard_enabled, settings.dashboard_username) == (False, "")


def test_flags_and_environment() -> None:
    settings = load_settings(
        [*CREDS, "--dashboard-enabled", "true", "--dashboard-username", "ops"],
        {"DASHBOARD_PASSWORD": "pw"},
    )
    assert (settings.dashboard_enabled, settings.dashboard_username) == (True, "ops")
    assert settings.dashboard_password == "pw"
    assert settings_document(settings)["server"]["dashboard_password"] == "***"


@pytest.mark.parametrize(
    "extra,missing",
    [
        ([], "dashboard_username"),
        (["--dashboard-username", "ops"], "dashboard_password"),
        (["--dashboard-password", "pw"], "dashboard_username"),
    ],
)
def test_enabled_without_login_stops_start_up(extra: list[str], missing: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings([*CREDS, "--dashboard-enabled", "true", *extra], {})
    assert str(caught.value) == (
        f"dashboard_enabled from flag --dashboard-enabled needs {missing} "
        f"(--{missing.replace('_', '-')}): the dashboard is only served behind a login"
    )
