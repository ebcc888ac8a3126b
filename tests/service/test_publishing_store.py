"""The publishing engine's schema on real PostgreSQL: a provider's error text with NUL is recorded (it failed the
insert and so the dispatch); the directory's sources never undo each other, and a late feed change loses to a
newer one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio

from sotong_common import database
from sotong_localstack.stack import Stack
from sotong_publishing import settings
from sotong_publishing.store import DeliveryStore, DirectoryStore, Entry, Finished


@pytest_asyncio.fixture
async def pool(fresh_stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    assert fresh_stack.state is not None
    created = await database.connect(fresh_stack.state.database_url, settings.SCHEMA, settings.MIGRATIONS)
    try:
        yield created
    finally:
        await created.close()


async def test_a_provider_error_text_with_nul_or_any_control_character_is_recorded(pool: asyncpg.Pool) -> None:
    store = DeliveryStore(pool)
    errors = [
        "E101 bad number\x00\x00",
        "\x00",
        "a\r\nb\x1b[31m",
        "\ud800 lone surrogate".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    ]
    await store.record(
        "d-nul",
        [
            Finished(f"0101111000{i}", "failed", "sms-primary", 1, f"d-nul:0101111000{i}", e)
            for i, e in enumerate(errors)
        ],
    )
    assert await store.finished_targets("d-nul") == {f"0101111000{i}" for i in range(len(errors))}
    stored = [r["error"] for r in await pool.fetch("SELECT error FROM deliveries ORDER BY target")]
    assert stored[0] == "E101 bad number\ufffd\ufffd" and "\x00" not in "".join(stored)


async def test_the_directory_file_feeds_and_provider_imports_never_undo_each_other(pool: asyncpg.Pool) -> None:
    lists = DirectoryStore(pool)
    await lists.seed({"sns:official": ["seoul", "mapo-gu"], "drill:sms": ["01099990001"]}, "config")
    await lists.apply(Entry("sns:official", "new-dept", version=3), "community.sns-account-changed.v1")
    await lists.apply(Entry("sns:official", "mapo-gu", active=False, version=5), "community.sns-account-changed.v1")
    assert await lists.members("sns:official") == ["new-dept", "seoul"]
    # A restart with the same file does not bring back what the feed closed, nor drop what the feed added.
    await lists.seed({"sns:official": ["seoul", "mapo-gu"], "drill:sms": ["01099990001"]}, "config")
    assert await lists.members("sns:official") == ["new-dept", "seoul"]
    # A late, older change from the feed loses; a newer one wins.
    assert not await lists.apply(
        Entry("sns:official", "mapo-gu", active=True, version=4), "community.sns-account-changed.v1"
    )
    assert await lists.apply(
        Entry("sns:official", "mapo-gu", active=True, version=6), "community.sns-account-changed.v1"
    )
    assert await lists.members("sns:official") == ["mapo-gu", "new-dept", "seoul"]
    # An entry removed from the file is deactivated at the next start; a list dropped from the file goes too.
    await lists.seed({"sns:official": []}, "config")
    assert await lists.members("sns:official") == ["mapo-gu", "new-dept"]
    assert await lists.members("drill:sms") == []
