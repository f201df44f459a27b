"""Real PostgreSQL and MariaDB servers for tests, each on a free loopback port in a temp dir.

Both refuse to run as root, and CI runs as root: then the servers run as a dedicated system
user (created with `useradd --system` when missing). Missing server binaries fail the tests
with a message naming `.ci/run`, which installs them; nothing is skipped.
"""

from __future__ import annotations

import glob
import os
import pwd
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pg8000.dbapi
import pymysql
import pytest

from tests.support.server import free_port

OS_USER = "socketrush-db"
DB_USER = "socketrush"
DB_PASSWORD = "p@ss:w/rd"  # URL-special characters prove the URL is decoded
DB_NAME = "socketrush_test"
STARTUP_TIMEOUT = 60.0
INSTALL_HINT = "run .ci/run (it installs postgresql and mariadb-server) or apt-get install them"


class DatabaseUnavailable(RuntimeError):
    """A test database could not be started; the message says why and what to do."""


@dataclass
class DatabaseServer:
    """A running database server and a URL for its test database."""

    dialect: str
    port: int
    process: subprocess.Popen
    workdir: Path
    log: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        password = quote(DB_PASSWORD, safe="")
        return f"{self.dialect}://{DB_USER}:{password}@127.0.0.1:{self.port}/{DB_NAME}"

    def quote(self, name: str) -> str:
        """Quote an identifier for this server's SQL dialect."""
        return f'"{name}"' if self.dialect == "postgres" else f"`{name}`"

    def execute(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        """Run one statement on a fresh autocommit connection, as an operator's tool would."""
        if self.dialect == "postgres":
            connection = pg8000.dbapi.connect(
                user=DB_USER,
                password=DB_PASSWORD,
                host="127.0.0.1",
                port=self.port,
                database=DB_NAME,
            )
            connection.autocommit = True
        else:
            connection = pymysql.connect(
                host="127.0.0.1",
                port=self.port,
                user=DB_USER,
                password=DB_PASSWORD,
                database=DB_NAME,
                autocommit=True,
            )
        try:
            cursor = connection.cursor()
            cursor.execute(sql, tuple(params))
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            connection.close()


# --- running as a non-root user ---------------------------------------------------------------


def _os_user() -> pwd.struct_passwd | None:
    """The user the servers run as when we are root, created if missing; None when not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", OS_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(OS_USER)


@contextmanager
def _workdir() -> Iterator[tuple[Path, dict]]:
    """A temp dir the server user owns, and the Popen arguments that run as that user."""
    path = Path(tempfile.mkdtemp(prefix="socketrush-db-"))
    user = _os_user()
    run_as: dict = {"env": {**os.environ, "HOME": str(path), "LC_ALL": "C"}}
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)
        run_as.update(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
    try:
        yield path, run_as
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _write_owned(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)
    owner = path.parent.stat()
    os.chown(path, owner.st_uid, owner.st_gid)


def _run(command: Sequence[str], run_as: dict, what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, **run_as)
    if done.returncode != 0:
        raise DatabaseUnavailable(f"{what} failed ({done.returncode}): {done.stderr[-2000:]}")


def _start(
    command: Sequence[str], run_as: dict, ready_marker: str
) -> tuple[subprocess.Popen, list[str]]:
    """Start a server and return once its log says `ready_marker`.

    A thread keeps draining the log (so the pipe never fills) and hands each line over; we
    wait on those lines, not on a timer.
    """
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **run_as
    )
    lines: queue.Queue[str | None] = queue.Queue()
    log: list[str] = []

    def drain() -> None:
        for line in process.stderr:  # type: ignore[union-attr]
            log.append(line.rstrip())
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            _stop(process)
            tail = "\n".join(log[-20:])
            raise DatabaseUnavailable(f"{command[0]} did not become ready:\n{tail}")
        if ready_marker in line:
            return process, log


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- PostgreSQL -------------------------------------------------------------------------------


def _postgres_bin() -> Path:
    """Debian keeps initdb and postgres out of PATH, under /usr/lib/postgresql/<version>/bin."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    found = candidates[-1] if candidates else shutil.which("initdb")
    if found is None or not (Path(found).parent / "postgres").exists():
        raise DatabaseUnavailable(
            f"PostgreSQL server binaries (initdb, postgres) not found under "
            f"/usr/lib/postgresql/*/bin or in PATH: {INSTALL_HINT}"
        )
    return Path(found).parent


@contextmanager
def running_postgres() -> Iterator[DatabaseServer]:
    """A PostgreSQL server with password (SCRAM) login and an empty test database."""
    bin_dir = _postgres_bin()
    with _workdir() as (workdir, run_as):
        _write_owned(workdir / "pwfile", DB_PASSWORD + "\n")
        data = workdir / "data"
        _run(
            [
                str(bin_dir / "initdb"),
                f"--pgdata={data}",
                f"--username={DB_USER}",
                f"--pwfile={workdir / 'pwfile'}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            run_as,
            "initdb",
        )
        port = free_port()
        process, log = _start(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-p",
                str(port),
                "-h",
                "127.0.0.1",
                "-k",
                str(workdir),
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "synchronous_commit=off",
            ],
            run_as,
            "database system is ready to accept connections",
        )
        try:
            admin = pg8000.dbapi.connect(
                user=DB_USER, password=DB_PASSWORD, host="127.0.0.1", port=port, database="postgres"
            )
            admin.autocommit = True
            admin.cursor().execute(f"CREATE DATABASE {DB_NAME}")
            admin.close()
            yield DatabaseServer("postgres", port, process, workdir, log)
        finally:
            _stop(process, signal.SIGINT)  # "fast" shutdown; SIGTERM would wait for clients


# --- MariaDB ----------------------------------------------------------------------------------


def _mariadb_bins() -> tuple[str, str]:
    server = shutil.which("mariadbd") or shutil.which("mysqld", path="/usr/sbin:/usr/bin")
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    if server is None and Path("/usr/sbin/mariadbd").exists():
        server = "/usr/sbin/mariadbd"
    if server is None or install is None:
        raise DatabaseUnavailable(
            f"MariaDB server binaries (mariadbd, mariadb-install-db) not found: {INSTALL_HINT}"
        )
    return server, install


@contextmanager
def running_mariadb() -> Iterator[DatabaseServer]:
    """A MariaDB server with a password user that owns an empty test database."""
    server_bin, install_bin = _mariadb_bins()
    with _workdir() as (workdir, run_as):
        data = workdir / "data"
        _run(
            [
                install_bin,
                "--no-defaults",
                f"--datadir={data}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            run_as,
            "mariadb-install-db",
        )
        port = free_port()
        socket_path = workdir / "mysqld.sock"
        process, log = _start(
            [
                server_bin,
                "--no-defaults",
                f"--datadir={data}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--socket={socket_path}",
                f"--pid-file={workdir / 'mysqld.pid'}",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
                "--innodb-flush-log-at-trx-commit=0",
            ],
            run_as,
            "ready for connections",
        )
        try:
            admin = pymysql.connect(unix_socket=str(socket_path), user="root", autocommit=True)
            with admin.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE {DB_NAME}")
                cursor.execute(
                    "CREATE USER %s@'127.0.0.1' IDENTIFIED BY %s", (DB_USER, DB_PASSWORD)
                )
                cursor.execute(f"GRANT ALL ON {DB_NAME}.* TO %s@'127.0.0.1'", (DB_USER,))
            admin.close()
            yield DatabaseServer("mysql", port, process, workdir, log)
        finally:
            _stop(process)


# --- pytest fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[DatabaseServer]:
    """One PostgreSQL server for the whole test session."""
    try:
        with running_postgres() as server:
            yield server
    except DatabaseUnavailable as problem:
        pytest.fail(str(problem), pytrace=False)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[DatabaseServer]:
    """One MariaDB server for the whole test session."""
    try:
        with running_mariadb() as server:
            yield server
    except DatabaseUnavailable as problem:
        pytest.fail(str(problem), pytrace=False)


def insert(database: DatabaseServer, table: str, **columns: object) -> None:
    """One row of `columns` (name -> value) into `table`."""
    names = ", ".join(database.quote(name) for name in columns)
    marks = ", ".join(["%s"] * len(columns))
    database.execute(
        f"INSERT INTO {database.quote(table)} ({names}) VALUES ({marks})", list(columns.values())
    )
