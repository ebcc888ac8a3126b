"""sotong_common.database and dedup on a real PostgreSQL: migrations apply once, edits are refused, dedup holds."""

from __future__ import annotations

import secrets

import asyncpg
import pytest

from sotong_common import database, dedup
from sotong_localstack.stack import Stack

pytestmark = pytest.mark.service


@pytest.fixture()
async def conn(infra: Stack) -> asyncpg.Connection:
    assert infra.postgres is not None
    name = "m_" + secrets.token_hex(5)
    infra.postgres.create_database(name)
    connection = await asyncpg.connect(infra.postgres.url(name))
    yield connection
    await connection.close()


def _migration(version: int, name: str, sql: str) -> database.Migration:
    return database.Migration("test.migrations", version, name, sql)


async def test_migrations_apply_once_in_order_and_refuse_edits(conn: asyncpg.Connection) -> None:
    first = [
        *database.discover(database.PLATFORM_MIGRATIONS),
        _migration(1, "things", "CREATE TABLE things (id int PRIMARY KEY)"),
        _migration(2, "more", "ALTER TABLE things ADD COLUMN name text"),
    ]
    applied = await database.migrate(conn, "svc", first)
    assert applied == [
        "sotong_common.sql/0001_outbox",
        "sotong_common.sql/0002_processed_events",
        "test.migrations/0001_things",
        "test.migrations/0002_more",
    ]
    assert await database.migrate(conn, "svc", first) == []
    columns = await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'svc' AND table_name = 'things'"
    )
    assert {c["column_name"] for c in columns} == {"id", "name"}

    edited = [*first[:-1], _migration(2, "more", "ALTER TABLE things ADD COLUMN other text")]
    with pytest.raises(database.MigrationError, match="was changed after it was applied"):
        await database.migrate(conn, "svc", edited)


async def test_a_failing_migration_leaves_nothing_half_applied(conn: asyncpg.Connection) -> None:
    broken = [_migration(1, "broken", "CREATE TABLE a (id int); CREATE TABLE a (id int)")]
    with pytest.raises(asyncpg.DuplicateTableError):
        await database.migrate(conn, "svc2", broken)
    assert await conn.fetchval("SELECT to_regclass('svc2.a')") is None
    assert await conn.fetchval("SELECT count(*) FROM svc2.schema_migrations") == 0


async def test_dedup_records_each_event_once_per_consumer(conn: asyncpg.Connection) -> None:
    await database.migrate(conn, "svc3", database.discover(database.PLATFORM_MIGRATIONS))
    await conn.execute("SET search_path TO svc3")
    assert await dedup.first_time(conn, "c1", "e1")
    assert not await dedup.first_time(conn, "c1", "e1")
    assert await dedup.first_time(conn, "c2", "e1")
    async with conn.transaction():
        assert await dedup.first_time(conn, "c1", "e2")
        await conn.execute("SELECT 1")
    tx = conn.transaction()
    await tx.start()
    assert await dedup.first_time(conn, "c1", "e3")
    await tx.rollback()  # the effect failed: the id must not count as processed
    assert await dedup.first_time(conn, "c1", "e3")
