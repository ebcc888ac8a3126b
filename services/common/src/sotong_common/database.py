"""PostgreSQL access: an asyncpg pool per service schema, and versioned SQL migrations applied at start.

Each service owns one schema (one database in production, DESIGN.md). Migrations are plain SQL files named
`NNNN_what.sql` in a Python package; the platform's own (`sotong_common.sql`: outbox, processed events) come
first, then the service's. Each package keeps its own version sequence. Migrations are applied in order, each
in its own transaction, under an advisory lock so that several replicas starting together apply them once, and
an applied file that was edited afterwards stops the start instead of silently diverging.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from sotong_common import logs

UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,  # "connection is closed", "connection was closed in the middle of operation"
    asyncpg.exceptions.InternalClientError,  # a connection reused after it broke mid-protocol (a restart)
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
)
"""Errors that say the database is away (restarting, failing over, full), not that the statement is wrong: a
consumer holds its partition and retries, an API answers UNAVAILABLE, a relay reconnects."""

# A connection as handlers get it: a plain one, or one borrowed from a pool.
Connection = asyncpg.Connection | PoolConnectionProxy

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_ID = 0x50746F6E67  # "Stong": one advisory lock id for all migrations


PLATFORM_MIGRATIONS = "sotong_common.sql"


@dataclass(frozen=True)
class Migration:
    package: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    """The migrations on disk disagree with what the database says was applied."""


def discover(package: str) -> list[Migration]:
    """Every migration in `package` (a Python package holding .sql files), in version order."""
    root: Traversable = resources.files(package)
    found: list[Migration] = []
    for entry in root.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(package, int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version in {package}: {versions}")
    return found


async def migrate(conn: asyncpg.Connection, schema: str, migrations: list[Migration]) -> list[str]:
    """Apply what is missing; return the versions applied now. Refuses if an applied file was edited."""
    log = logs.get("migrations")
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations ('
            " package text NOT NULL, version integer NOT NULL, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (package, version))"
        )
        rows = await conn.fetch(f'SELECT package, version, checksum FROM "{schema}".schema_migrations')
        applied = {(r["package"], r["version"]): r["checksum"] for r in rows}
        done: list[str] = []
        for migration in migrations:
            if (migration.package, migration.version) in applied:
                if applied[(migration.package, migration.version)] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.package}/{migration.version:04d}_{migration.name} was changed after it "
                        "was applied; "
                        "add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(f'SET LOCAL search_path TO "{schema}"')
                await conn.execute(migration.sql)
                await conn.execute(
                    f'INSERT INTO "{schema}".schema_migrations (package, version, name, checksum)'
                    " VALUES ($1, $2, $3, $4)",
                    migration.package,
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("migration applied", schema=schema, package=migration.package, version=migration.version)
            done.append(f"{migration.package}/{migration.version:04d}_{migration.name}")
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)


async def connect(url: str, schema: str, migrations_package: str | None = None, **pool_args: int) -> asyncpg.Pool:
    """A pool whose connections work in `schema`, after applying the service's migrations."""
    if migrations_package:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn, schema, discover(PLATFORM_MIGRATIONS) + discover(migrations_package))
        finally:
            await conn.close()
    pool = await asyncpg.create_pool(
        url,
        min_size=pool_args.get("min_size", 2),
        max_size=pool_args.get("max_size", 10),
        # A connection attempt to a database that is restarting fails within this instead of holding the call
        # (and its caller's deadline) for asyncpg's default minute.
        timeout=pool_args.get("connect_timeout", 5),
        server_settings={"search_path": schema, "application_name": f"sotong-{schema}"},
    )
    assert pool is not None
    return pool
