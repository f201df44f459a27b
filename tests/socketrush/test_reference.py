"""The generated configuration reference: current, complete, and its example really loads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from socketrush import reference
from socketrush.config import load_settings
from socketrush.options import BY_NAME, OPTIONS, Kind, Option, Scope
from socketrush.settings import WebhookTarget
from tests.support.server import REPO_ROOT

DOC = REPO_ROOT / "docs" / "configuration.md"


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text()


@pytest.fixture(scope="module")
def code_spans(doc: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", doc))


def test_committed_reference_is_current(doc: str) -> None:
    assert doc == reference.render(), (
        "docs/configuration.md is out of date with socketrush/options.py: run `make docs`"
    )


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.name)
def test_every_spelling_is_documented(option: Option, code_spans: set[str]) -> None:
    spellings = {*option.flags, *option.env, *option.json_keys}
    assert spellings <= code_spans


def test_one_table_per_group_in_options_order(doc: str) -> None:
    headings = re.findall(r"^### (.+)$", doc, flags=re.MULTILINE)
    assert headings == list(dict.fromkeys(option.group for option in OPTIONS))
    rows = [line for line in doc.splitlines() if line.startswith("| `") or line.startswith("| —")]
    assert len(rows) == len(OPTIONS)


def test_port_row() -> None:
    assert reference.option_row(BY_NAME["port"]) == (
        "| `--port` | `PORT` | `port` | int, 1–65535 | `6001` | Port on which to run the server |"
    )


def test_row_lists_aliases_and_marks_missing_sources() -> None:
    assert reference.option_row(BY_NAME["config_file"]) == (
        "| `--config-file`<br>`--config` | — | — | string | not set | Path to a config JSON "
        "file; read first, as it shapes how the other sources are read |"
    )


def test_row_notes_secrets_and_required_app_credentials() -> None:
    assert reference.option_row(BY_NAME["app_secret"]) == (
        "| `--app-secret`<br>`--default-app-secret` | `APP_SECRET` | `app_secret` | string | "
        "required | App secret for the default app; printed as `***` by `socketrush config` "
        "unless `--show-secrets` |"
    )


def test_row_says_soketis_unlimited_is_read_as_0() -> None:
    assert reference.option_row(BY_NAME["app_max_connections"]).endswith(
        "| Max concurrent connections (0 for unlimited); -1 (soketi's unlimited) is read as 0 |"
    )


def test_pipe_in_help_text_does_not_split_the_cell() -> None:
    option = Option(
        "x", Kind.STR, "a", flags=(), env=("X",), json_keys=("x",), scope=Scope.SERVER,
        group="G", help="this|that",
    )  # fmt: skip
    assert reference.option_row(option) == "| — | `X` | `x` | string | `a` | this\\|that |"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("port", "int, 1–65535"),
        ("socket_backlog_limit_kb", "int ≥ 1"),
        ("adapter_driver", "one of `local`, `redis`, `nats`"),
        ("redis_tls", "bool"),
        ("app_allowed_origins", "list of strings"),
        ("app_webhooks", "list of webhook objects"),
        ("app_webhook_urls", "list of http(s) URLs"),
        ("redis_url", "string"),
    ],
)
def test_type_text(name: str, expected: str) -> None:
    assert reference.type_text(BY_NAME[name]) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("port", "`6001`"),
        ("redis_cluster", "`false`"),
        ("app_enabled", "`true`"),
        ("app_webhook_urls", "`[]`"),
        ("app_id", "required"),
        ("config_file", "not set"),
        ("redis_url", "`localhost:6379`"),
        ("env_file", "`./.env`"),
    ],
)
def test_default_text(name: str, expected: str) -> None:
    assert reference.default_text(BY_NAME[name]) == expected


def test_empty_string_default_reads_not_set() -> None:
    option = Option(
        "x", Kind.STR, "", flags=(), env=(), json_keys=(), scope=Scope.SERVER, group="G", help="",
    )  # fmt: skip
    assert reference.default_text(option) == "not set"


def test_aliases_section_lists_every_alternative_spelling(doc: str) -> None:
    section = doc.split("## Aliases", 1)[1].split("## Settings", 1)[0]
    assert "- `adapter_driver`: flag `--adapter-manager` (same as `--adapter-driver`)" in section
    assert "- `redis_cluster`: JSON `redis_cluster_mode` (same as `redis_cluster`)" in section
    aliases = {
        alias
        for option in OPTIONS
        for spellings in (option.flags, option.env, option.json_keys)
        for alias in spellings[1:]
    }
    assert aliases == set(re.findall(r"`([^`]+)` \(same as", section))


def test_preamble_states_precedence(doc: str) -> None:
    section = doc.split("## Precedence", 1)[1].split("## Values", 1)[0]
    steps = re.findall(r"^\d\. (.+?)[;.—]", section, flags=re.MULTILINE)
    assert steps == [
        "command-line flags",
        "environment variables ",
        "the JSON config file given with `--config-file`",
        "the shipped defaults (`settings",
    ]
    assert "`--prefer-config-file` moves the JSON file above the environment" in section


def test_documented_example_is_a_valid_config_file(
    doc: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = doc.split("```json\n", 1)[1].split("```", 1)[0]
    assert json.loads(example) == reference.example_config()
    monkeypatch.chdir(tmp_path)  # no ./.env
    path = tmp_path / "config.json"
    path.write_text(example)
    settings = load_settings(["--config-file", str(path)], environ={})
    assert settings.port == 6001
    assert [(app.id, app.key, app.enable_client_messages) for app in settings.apps] == [
        ("123", "my-key", True),
        ("456", "other-key", False),
    ]
    assert settings.apps[0].max_connections == 1000
    assert settings.apps[0].webhooks == (
        WebhookTarget(
            "https://example.com/pusher/webhooks",
            frozenset({"channel_occupied", "channel_vacated"}),
        ),
    )


def test_main_prints_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    reference.main()
    assert capsys.readouterr().out == reference.render()


def test_make_docs_regenerates_the_file() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    recipe = makefile.split("\ndocs:", 1)[1].splitlines()[1]
    assert recipe == "\t$(BIN)/python -m socketrush.reference > docs/configuration.md"
