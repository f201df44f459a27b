"""The Dockerfile, .dockerignore and docker-compose.yml, checked without Docker.

Docker is not available where the tests run, so the files are parsed and held against the
settings table (socketrush/options.py), the package metadata and a real server process.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from socketrush.config import load_settings
from socketrush.options import BY_NAME, OPTIONS
from tests.support.server import REPO_ROOT, ServerProcess, free_port

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
COMPOSE = REPO_ROOT / "docker-compose.yml"
OPTION_ENV_VARS = {name for option in OPTIONS for name in option.env}
DEFAULT_PORT = str(BY_NAME["port"].default)
# What `pip install .` needs: the build files, the shipped defaults and the two packages.
BUILD_SOURCES = (
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "README.md",
    "settings.toml",
    "actors",
    "socketrush",
)


class Instruction(NamedTuple):
    keyword: str  # upper case, e.g. "RUN"
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """Dockerfile instructions with `\\` continuations joined and comments dropped."""
    parsed: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        parsed.append(Instruction(keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return parsed


def final_stage(parsed: list[Instruction]) -> list[Instruction]:
    """The instructions of the last build stage: the image that actually runs."""
    last_from = max(i for i, instruction in enumerate(parsed) if instruction.keyword == "FROM")
    return parsed[last_from:]


def arguments_of(parsed: list[Instruction], keyword: str) -> list[str]:
    return [instruction.arguments for instruction in parsed if instruction.keyword == keyword]


@pytest.fixture(scope="module")
def dockerfile() -> list[Instruction]:
    return instructions(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def runtime(dockerfile: list[Instruction]) -> list[Instruction]:
    return final_stage(dockerfile)


def test_instruction_parser_joins_continuations_and_skips_comments() -> None:
    text = "# c\nFROM x AS y\nRUN a \\\n    && b\n\nuser  app\n"
    assert instructions(text) == [
        Instruction("FROM", "x AS y"),
        Instruction("RUN", "a && b"),
        Instruction("USER", "app"),
    ]


def test_docker_files_exist() -> None:
    assert DOCKERFILE.is_file()
    assert DOCKERIGNORE.is_file()
    assert COMPOSE.is_file()


def test_every_stage_builds_on_slim_python_3_11(dockerfile: list[Instruction]) -> None:
    assert arguments_of(dockerfile, "FROM") == ["python:3.11-slim AS build", "python:3.11-slim"]


def test_entrypoint_runs_the_console_script_serve_command(runtime: list[Instruction]) -> None:
    (entrypoint,) = arguments_of(runtime, "ENTRYPOINT")
    assert json.loads(entrypoint) == ["socketrush", "serve"]
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["socketrush"] == "socketrush.entrypoint:main"


def test_exposes_the_default_port_and_the_metrics_port(runtime: list[Instruction]) -> None:
    assert arguments_of(runtime, "EXPOSE") == [f"{DEFAULT_PORT} 9601"]
    assert DEFAULT_PORT == "6001"


def test_runs_as_the_non_root_user_it_creates(runtime: list[Instruction]) -> None:
    users = arguments_of(runtime, "USER")
    assert users == ["10001:10001"]
    creates_user = [run for run in arguments_of(runtime, "RUN") if "useradd" in run]
    assert len(creates_user) == 1
    assert "--uid 10001" in creates_user[0] and "--gid 10001" in creates_user[0]
    keywords = [instruction.keyword for instruction in runtime]
    assert "RUN" not in keywords[keywords.index("USER") :]  # nothing runs as root afterwards


def test_binds_all_interfaces_by_default_without_env_overrides(runtime: list[Instruction]) -> None:
    """An ENV for a setting would outrank the user's JSON config file; the defaults suffice."""
    assert BY_NAME["bind_address"].default == "0.0.0.0"
    names = {
        pair.split("=", 1)[0] for env in arguments_of(runtime, "ENV") for pair in shlex.split(env)
    }
    assert names == {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
    assert not names & OPTION_ENV_VARS


def _healthcheck_command(runtime: list[Instruction]) -> list[str]:
    (healthcheck,) = arguments_of(runtime, "HEALTHCHECK")
    options, command = healthcheck.split(" CMD ", 1)
    assert options == "--interval=10s --timeout=3s --start-period=5s --retries=3"
    return json.loads(command)


def test_healthcheck_asks_the_default_port_with_urllib(runtime: list[Instruction]) -> None:
    program, flag, script = _healthcheck_command(runtime)
    assert (program, flag) == ("python", "-c")
    assert "urllib.request.urlopen('http://127.0.0.1:'" in script
    port_env = BY_NAME["port"].env[0]
    assert f"os.environ.get('{port_env}', '{DEFAULT_PORT}')" in script


def test_healthcheck_passes_against_a_running_server(
    runtime: list[Instruction], start_server: Callable[..., ServerProcess]
) -> None:
    _, flag, script = _healthcheck_command(runtime)
    server = start_server()
    env = {**os.environ, "PORT": str(server.port)}
    done = subprocess.run([sys.executable, flag, script], env=env, capture_output=True, timeout=10)
    assert done.returncode == 0, done.stderr.decode()


def test_healthcheck_fails_when_nothing_listens(runtime: list[Instruction]) -> None:
    _, flag, script = _healthcheck_command(runtime)
    env = {**os.environ, "PORT": str(free_port())}
    done = subprocess.run([sys.executable, flag, script], env=env, capture_output=True, timeout=10)
    assert done.returncode == 1
    assert b"Connection refused" in done.stderr


def _ignored(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, pattern.removeprefix("**/")) for pattern in patterns)


def test_build_context_keeps_sources_and_drops_secrets_and_clutter() -> None:
    patterns = [
        line for line in DOCKERIGNORE.read_text().splitlines() if line and not line.startswith("#")
    ]
    for needed in BUILD_SOURCES:
        assert not _ignored(needed, patterns), needed
    for unwanted in (".env", ".venv", ".git", "tests", "node_modules"):
        assert _ignored(unwanted, patterns), unwanted


def test_copied_sources_exist(dockerfile: list[Instruction]) -> None:
    copies = [args for args in arguments_of(dockerfile, "COPY") if not args.startswith("--")]
    sources = [source for args in copies for source in args.split()[:-1]]
    assert sources == list(BUILD_SOURCES)
    for source in sources:
        assert (REPO_ROOT / source).exists(), source


# --- docker-compose.yml -------------------------------------------------------------------------


class Block(NamedTuple):
    value: str  # text after `key:` on the same line, e.g. an anchor `&node`
    body: list[str]  # the more indented lines below it


def blocks(lines: list[str], indent: int) -> dict[str, Block]:
    """YAML mapping keys at exactly `indent` spaces with their bodies (a minimal reader:
    block style only, which is all docker-compose.yml uses)."""
    found: dict[str, Block] = {}
    current: Block | None = None
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        depth = len(line) - len(line.lstrip())
        if depth == indent and ":" in line:
            key, _, value = line.strip().partition(":")
            current = found[key] = Block(value.strip(), [])
        elif depth > indent and current is not None:
            current.body.append(line)
    return found


def scalar(text: str) -> str:
    return text.strip().strip('"')


@pytest.fixture(scope="module")
def compose() -> dict[str, Block]:
    return blocks(COMPOSE.read_text().splitlines(), 0)


@pytest.fixture(scope="module")
def node_template(compose: dict[str, Block]) -> dict[str, Block]:
    (template,) = [block for key, block in compose.items() if block.value == "&node"]
    return blocks(template.body, 2)


@pytest.fixture(scope="module")
def node_env(node_template: dict[str, Block]) -> dict[str, str]:
    return {
        key: scalar(block.value)
        for key, block in blocks(node_template["environment"].body, 4).items()
    }


def test_compose_reader_splits_nested_mappings() -> None:
    text = "a: &x\n  b: 1\n  c:\n    d: 2\n# note\ne: 3\n"
    top = blocks(text.splitlines(), 0)
    assert list(top) == ["a", "e"]
    assert top["a"].value == "&x" and top["e"].value == "3"
    assert {key: block.value for key, block in blocks(top["a"].body, 2).items()} == {
        "b": "1",
        "c": "",
    }


def test_compose_runs_redis_and_two_nodes(compose: dict[str, Block]) -> None:
    services = blocks(compose["services"].body, 2)
    default = [name for name, block in services.items() if not in_nats_profile(block)]
    assert default == ["redis", "socketrush-1", "socketrush-2"]
    assert blocks(services["redis"].body, 4)["image"].value == "redis:7-alpine"
    for name, host_port in (("socketrush-1", "6001"), ("socketrush-2", "6002")):
        node = blocks(services[name].body, 4)
        assert node["<<"].value == "*node"
        ports = [scalar(line.strip().removeprefix("- ")) for line in node["ports"].body]
        assert ports == [f"{host_port}:{DEFAULT_PORT}"]


def test_compose_nodes_build_this_image(node_template: dict[str, Block]) -> None:
    assert node_template["build"].value == "."
    assert node_template["image"].value == "socketrush/socketrush"
    redis = blocks(node_template["depends_on"].body, 4)["redis"]
    assert blocks(redis.body, 6)["condition"].value == "service_healthy"


def test_compose_env_names_are_settings(node_env: dict[str, str]) -> None:
    assert set(node_env) <= OPTION_ENV_VARS
    assert {
        name: node_env[name] for name in ("ADAPTER_DRIVER", "CACHE_DRIVER", "QUEUE_DRIVER")
    } == {
        "ADAPTER_DRIVER": "redis",
        "CACHE_DRIVER": "redis",
        "QUEUE_DRIVER": "redis",
    }
    assert node_env["REDIS_URL"] == "redis://redis:6379"


def test_compose_env_is_a_valid_configuration(
    node_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./.env
    settings = load_settings([], environ=node_env)
    assert (settings.adapter_driver, settings.cache_driver, settings.queue_driver) == (
        "redis",
        "redis",
        "redis",
    )
    assert settings.redis_url == "redis://redis:6379"
    assert settings.bind_address == "0.0.0.0"
    assert [(app.id, app.key, app.secret) for app in settings.apps] == [
        ("123", "my-key", "my-secret")
    ]


def in_nats_profile(service: Block) -> bool:
    """Whether a service runs only with `--profile nats` (directly, or through its template)."""
    fields = blocks(service.body, 4)
    return "profiles" in fields or fields.get("<<", Block("", [])).value == "*nats-node"


@pytest.fixture(scope="module")
def nats_node_template(compose: dict[str, Block]) -> dict[str, Block]:
    (template,) = [block for key, block in compose.items() if block.value == "&nats-node"]
    return blocks(template.body, 2)


def test_the_nats_profile_runs_nats_and_two_nodes_without_redis(
    compose: dict[str, Block],
    nats_node_template: dict[str, Block],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = blocks(compose["services"].body, 2)
    profiled = {
        name: blocks(block.body, 4) for name, block in services.items() if in_nats_profile(block)
    }
    assert list(profiled) == ["nats", "socketrush-nats-1", "socketrush-nats-2"]
    assert profiled["nats"]["profiles"].value == nats_node_template["profiles"].value
    assert nats_node_template["profiles"].value == '["nats"]'
    assert profiled["nats"]["image"].value == "nats:2.10-alpine"
    assert '"-js"' in profiled["nats"]["command"].value  # JetStream holds the cluster state
    for name, host_port in (("socketrush-nats-1", "6011"), ("socketrush-nats-2", "6012")):
        node = profiled[name]
        assert node["<<"].value == "*nats-node"
        ports = [scalar(line.strip().removeprefix("- ")) for line in node["ports"].body]
        assert ports == [f"{host_port}:{DEFAULT_PORT}"]
    assert list(blocks(nats_node_template["depends_on"].body, 4)) == ["nats"]
    env = {
        key: scalar(block.value)
        for key, block in blocks(nats_node_template["environment"].body, 4).items()
    }
    assert set(env) <= OPTION_ENV_VARS
    monkeypatch.chdir(tmp_path)  # no ./.env
    settings = load_settings([], environ=env)
    assert (settings.adapter_driver, settings.cache_driver, settings.queue_driver) == (
        "nats",
        "local",
        "local",
    )
    assert settings.adapter_nats_servers == ("nats://nats:4222",)


def test_compose_header_explains_the_two_node_setup() -> None:
    header = COMPOSE.read_text().split("\nname:", 1)[0]
    text = " ".join(line.lstrip("# ") for line in header.splitlines())
    assert "counted across both nodes" in text
    assert "*_DRIVER variables to local" in text


def test_compose_gives_shutdown_more_time_than_the_grace_period(
    node_template: dict[str, Block],
) -> None:
    grace = node_template["stop_grace_period"].value
    assert grace == "15s"
    assert int(grace.removesuffix("s")) > BY_NAME["shutdown_grace_period"].default
