"""The `socketrush` command line: commands, exit codes, printed settings and logging set-up."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import types
from pathlib import Path

import pytest

from socketrush.cli import main
from socketrush.logging_setup import TRACE, configure_logging
from socketrush.options import OPTIONS
from socketrush.settings import ServerSettings

CREDS = ["--app-id", "1", "--app-key", "k", "--app-secret", "top-secret"]
CONSOLE_SCRIPT = Path(sys.executable).with_name("socketrush")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ./.env and no settings from the developer's environment."""
    monkeypatch.chdir(tmp_path)
    for option in OPTIONS:
        for name in option.env:
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def root_logger():
    """Restore the root logger that configure_logging replaces."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch) -> list[ServerSettings]:
    """Stand in for socketrush.server so `serve` can be tested without binding a port."""
    calls: list[ServerSettings] = []
    module = types.ModuleType("socketrush.server")
    module.run = lambda settings: calls.append(settings) or 0
    monkeypatch.setitem(sys.modules, "socketrush.server", module)
    return calls


def test_config_prints_effective_settings_with_secret_masked(capsys) -> None:
    assert main(["config", *CREDS, "--port", "8080"]) == 0
    out = capsys.readouterr().out
    printed = json.loads(out)
    assert printed["server"]["port"] == 8080
    (app,) = printed["applications"]
    assert (app["app_id"], app["app_key"], app["app_secret"]) == ("1", "k", "***")
    assert "top-secret" not in out


def test_config_masks_passwords_in_nats_server_urls(capsys, monkeypatch) -> None:
    servers = "nats://user:pw1@n1:4222,nats://t0ken@n2:4222,user:pw3@n3:4222"
    monkeypatch.setenv("ADAPTER_NATS_SERVERS", servers)
    assert main(["config", *CREDS]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["server"]["adapter_nats_servers"] == [
        "nats://user:***@n1:4222",
        "nats://***@n2:4222",
        "user:***@n3:4222",
    ]
    assert [secret for secret in ("pw1", "t0ken", "pw3") if secret in out] == []
    assert main(["config", *CREDS, "--show-secrets"]) == 0
    shown = json.loads(capsys.readouterr().out)["server"]["adapter_nats_servers"]
    assert shown == servers.split(",")


def test_config_masks_passwords_in_webhook_urls(capsys) -> None:
    url = "https://hooks:hook-pw@receiver.example/in"
    assert main(["config", *CREDS, "--app-webhook-url", url]) == 0
    out = capsys.readouterr().out
    [app] = json.loads(out)["applications"]
    assert app["app_webhook_urls"] == ["https://hooks:***@receiver.example/in"]
    assert "hook-pw" not in out


def test_config_show_secrets_prints_them(capsys) -> None:
    assert main(["config", *CREDS, "--show-secrets"]) == 0
    assert json.loads(capsys.readouterr().out)["applications"][0]["app_secret"] == "top-secret"


def test_serve_print_config_prints_and_does_not_serve(capsys, fake_server) -> None:
    assert main(["serve", "--print-config", *CREDS]) == 0
    assert json.loads(capsys.readouterr().out)["applications"][0]["app_secret"] == "***"
    assert fake_server == []


def test_config_writes_notices_to_stderr_and_keeps_stdout_json(capsys, monkeypatch) -> None:
    monkeypatch.setenv("SOKETI_PORT", "6001")
    assert main(["config", *CREDS, "--app-max-connections", "-1"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["applications"][0]["app_max_connections"] == 0
    assert captured.err == (
        "socketrush: warning: SOKETI_PORT is a soketi setting and is ignored: set PORT instead\n"
        "socketrush: warning: app_max_connections -1 from flag --app-max-connections means no "
        "limit, as in soketi: read as 0 (unlimited)\n"
    )


def test_serve_logs_notices_as_warnings(monkeypatch, fake_server, root_logger, capsys) -> None:
    monkeypatch.setenv("SHUTDOWN_GRACE_PERIOD", "30000")
    assert main(["serve", *CREDS, "--log-level", "warn"]) == 0
    assert fake_server[0].shutdown_grace_period == 30000
    assert capsys.readouterr().err.endswith(
        " WARNING socketrush.cli: shutdown_grace_period 30000 from env SHUTDOWN_GRACE_PERIOD is "
        "in seconds, not milliseconds as in soketi: a drain may take up to 500 minutes\n"
    )


def test_no_command_means_serve(fake_server, root_logger) -> None:
    assert main(["--port", "8080", *CREDS, "--log-level", "warn"]) == 0
    assert [(s.port, s.apps[0].id) for s in fake_server] == [(8080, "1")]
    assert root_logger.level == logging.WARNING


def test_serve_reads_the_environment(monkeypatch, fake_server, root_logger) -> None:
    monkeypatch.setenv("APP_ID", "env-app")
    monkeypatch.setenv("APP_KEY", "env-key")
    monkeypatch.setenv("APP_SECRET", "env-secret")
    assert main(["serve"]) == 0
    assert fake_server[0].apps[0].key == "env-key"


def test_config_error_is_one_line_on_stderr_with_exit_2(capsys) -> None:
    assert main(["--port", "abc", *CREDS]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "socketrush: invalid value 'abc' for port from flag --port: "
        "expected an integer from 1 to 65535\n"
    )


def test_unknown_flag_exits_2(capsys) -> None:
    assert main(["config", "--nope"]) == 2
    assert capsys.readouterr().err == (
        "socketrush: unrecognized arguments: --nope (see `socketrush config --help`)\n"
    )


def test_help_lists_flags_by_group(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # argparse wraps help text to the terminal width
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    for group in (
        "Server:",
        "Drivers:",
        "Redis:",
        "NATS:",
        "Logging:",
        "App limits:",
        "App webhooks:",
    ):
        assert f"\n{group}\n" in out
    assert "--adapter-driver {local,redis,nats}, --adapter-manager {local,redis,nats}" in out
    assert "[env PORT] (default: 6001)" in out


def test_console_script_config_exit_0() -> None:
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "config", *CREDS], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["applications"][0]["app_secret"] == "***"


def test_console_script_bad_input_exit_2_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "config", *CREDS, "--log-level", "loud"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr == (
        "socketrush: invalid value 'loud' for log_level from flag --log-level: "
        "expected one of: trace, debug, info, warn, error\n"
    )


def test_a_driver_setting_refused_at_start_up_exits_2_without_traceback(tmp_path: Path) -> None:
    """Some settings are checked when their driver is built, after the server began to start."""
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "serve", "--app-manager", "postgres"]
        + ["--database-url", "redis://db", "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "socketrush: invalid database_url 'redis://db' for app_manager postgres: the scheme "
        "must be postgres or postgresql; expected postgres://user:password@host:5432/database "
        "(optionally ?sslmode=disable|require|verify-full)\n"
    )


# logging_setup is exercised here because `serve` is its only caller.


def test_json_log_lines_at_trace_level(capsys, root_logger) -> None:
    configure_logging("trace", "json")
    logging.getLogger("socketrush.test").log(TRACE, "frame %s", "in")
    line = json.loads(capsys.readouterr().err)
    assert (line["level"], line["logger"], line["message"]) == (
        "trace",
        "socketrush.test",
        "frame in",
    )


def test_human_log_lines_and_level_filter(capsys, root_logger) -> None:
    configure_logging("warn", "human")
    configure_logging("warn", "human")  # twice: still one handler, one line per record
    logging.getLogger("socketrush.test").info("hidden")
    logging.getLogger("socketrush.test").warning("shown")
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.endswith(" WARNING socketrush.test: shown\n")
