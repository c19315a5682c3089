"""A real PostgreSQL server for the tests: Debian's `initdb` and `pg_ctl` in a temp dir, on a
free loopback port (run as the `postgres` user when the tests run as root, which initdb refuses).
Each test gets a database of its own. Skipped, with the reason, only where PostgreSQL is not
installed."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ollama_fixtures import free_port

USER = "summarizer"


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2]))
    return Path(dirs[-1]) if dirs else None


@dataclass
class PostgresServer:
    """A running server: its data dir, port and the commands that run as its owner."""

    bindir: Path
    data: Path
    port: int
    as_owner: list[str]

    @property
    def admin_url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_owner, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=200 -c full_page_writes=off"
        )
        self.pg_ctl("-o", options, "-l", str(self.data / "server.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "-w", "stop")

    def create_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        return self.url(name)


def start_server(base: Path) -> PostgresServer:
    """initdb and start a server in `base` (skips when PostgreSQL is not installed)."""
    bindir = _bindir()
    if bindir is None or not (bindir / "initdb").exists():
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    data = base / "pgdata"
    as_owner: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the server runs as the postgres user
        import pwd

        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run PostgreSQL as")
        # The pytest temp dirs are private to root: the server's dir is one the owner can reach.
        import tempfile

        data = Path(tempfile.mkdtemp(prefix="summarizer-pg-")) / "pgdata"
        data.parent.chmod(0o755)
        data.mkdir()
        os.chown(data, owner.pw_uid, owner.pw_gid)
        as_owner = [
            "setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--clear-groups"
        ]  # fmt: skip
    subprocess.run(
        [*as_owner, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", USER,
         "--no-sync", "-E", "UTF8", "--locale=C"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip
    server = PostgresServer(bindir, data, free_port(), as_owner)
    server.start()
    return server


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = start_server(tmp_path_factory.mktemp("postgres"))
    yield server
    with contextlib.suppress(subprocess.SubprocessError):
        server.stop("immediate")
    shutil.rmtree(server.data, ignore_errors=True)


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh database on the session's server, for one test; its pools closed after it."""
    from summarizer import database

    url = postgres_server.create_database()
    yield url
    with database._pools_lock:
        pool = database._pools.pop(url, None)
    if pool is not None:
        pool.close()
