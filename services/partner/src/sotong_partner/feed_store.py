"""Feeds streamed straight out of PostgreSQL: one `COPY (SELECT …) TO STDOUT` per pull, in constant memory.

Every value a feed shows was checked when it was stored (`catalogue`), so a feed row is a projection of the
product and merchant rows: each format's columns are SQL expressions (`feeds`), and PostgreSQL formats the rows
as tab-separated lines (one text value per row, copied out unchanged). The process only passes chunks on to the HTTP
response (gzip-compressed when the platform asks), so a million products cost no more memory than ten.

A pull reads in one REPEATABLE READ, read-only transaction, so the rows, the group version in the ETag and the
summary's cursor are one snapshot. The summary covers products whose group version is above the snapshot of
the platform's last completed pull (full or summary) of that group and format; a pull counts as completed once
its last byte was handed to the connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import asyncpg

from sotong_common import database
from sotong_partner.feeds import FULL, SUMMARY, FeedFormat

MERCHANTS = "(SELECT m0.*, $2 || '/m/' || m0.slug || '#p-' AS page FROM merchants m0 WHERE m0.feed_group = $1) m"
"""The group's merchants, with what is the same for all of a merchant's rows (its page URL) computed once."""
LISTED_MERCHANTS = (
    "(SELECT m0.*, $2 || '/m/' || m0.slug || '#p-' AS page FROM merchants m0 WHERE m0.feed_group = $1"
    " AND m0.status = 'verified' AND EXISTS (SELECT 1 FROM consents c WHERE c.merchant_id = m0.id"
    " AND c.platform = $3 AND c.granted)) m"
)
"""The merchants a full feed lists (verified, consented to the feed's platform), decided once per merchant."""
LISTABLE = (
    "(p.deleted_at IS NULL AND p.status = 'on_sale' AND p.stock > 0 AND m.status = 'verified'"
    " AND COALESCE(c.granted, false))"
)


def _tabs(count: int) -> str:
    return "E'" + "\\t" * count + "'"


def _line(expressions: list[str | None]) -> str:
    """One SQL text expression for a whole TSV line: `concat` of the columns and the tabs between them.

    `concat` renders every argument once into one value and treats NULL as empty, which is an empty field;
    PostgreSQL formats that one value per row far faster than fifty columns (most of an EP's are empty) or a
    chain of `||`. Runs of always-empty columns are a literal run of tabs.
    """
    pieces: list[str] = []
    tabs = 0
    for position, expression in enumerate(expressions):
        if position:
            tabs += 1
        if expression is None:
            continue
        if tabs:
            pieces.append(_tabs(tabs))
            tabs = 0
        pieces.append(expression)
    if tabs:
        pieces.append(_tabs(tabs))
    return f"concat({', '.join(pieces)})"


def header(fmt: FeedFormat, kind: str) -> bytes:
    return ("\t".join(c.name for c in fmt.columns(kind)) + "\n").encode()


def feed_query(fmt: FeedFormat, kind: str) -> str:
    """The SELECT a pull copies out, one text column per line. Parameters: $1 group, $2 public base URL,
    $3 platform, $4 since (summary)."""
    columns = fmt.columns(kind)
    if kind == FULL:
        line = _line([None if c.sql == "NULL" else c.sql for c in columns])
        return (
            f"SELECT {line} FROM products p JOIN {LISTED_MERCHANTS} ON m.id = p.merchant_id"
            " WHERE p.deleted_at IS NULL AND p.status = 'on_sale' AND p.stock > 0"
        )
    class_sql = (
        f"CASE WHEN NOT {LISTABLE} THEN 'D'"
        " WHEN greatest(p.listed_gv, m.listed_gv, COALESCE(c.changed_gv, 0)) > $4 THEN 'I' ELSE 'U' END"
    )
    expressions: list[str | None] = []
    for column in columns:
        sql = class_sql if column.name == fmt.class_column else column.sql
        if sql == "NULL":
            expressions.append(None)
            continue
        if column.name not in fmt.delete_needs:
            sql = f"CASE WHEN {LISTABLE} THEN {sql} END"
        expressions.append(sql)
    return (
        f"SELECT {_line(expressions)} FROM products p JOIN {MERCHANTS} ON m.id = p.merchant_id"
        " LEFT JOIN consents c ON c.merchant_id = m.id AND c.platform = $3 WHERE p.changed_gv > $4"
    )


@dataclass
class Snapshot:
    group: str
    format: FeedFormat
    kind: str
    version: int
    since: int | None
    etag: str
    _conn: database.Connection
    _args: tuple[object, ...]

    async def copy(self, sink: Callable[[bytes], Coroutine[Any, Any, None]]) -> None:
        """Send the feed (header row first) to `sink`, chunk by chunk as PostgreSQL produces it.

        Each row is one text value holding the whole line. COPY's CSV mode with \\x02 as the delimiter and
        \\x01 as the quote character writes it as it is: stored values hold no control character, so nothing is
        ever quoted or escaped (text mode would escape the tabs).
        """
        await sink(header(self.format, self.kind))
        query = feed_query(self.format, self.kind)
        await self._conn.copy_from_query(query, *self._args, output=sink, format="csv", delimiter="\x02", quote="\x01")


class FeedStore:
    def __init__(self, pool: asyncpg.Pool, public_url: str, config_tag: str = "1") -> None:
        self.pool = pool
        self._public_url = public_url.rstrip("/")
        self._tag = config_tag

    @contextlib.asynccontextmanager
    async def snapshot(self, group: str, fmt: FeedFormat, kind: str) -> AsyncIterator[Snapshot | None]:
        """The pull's snapshot (None for an unknown group), valid inside the `async with`."""
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            version = await conn.fetchval("SELECT version FROM feed_groups WHERE name = $1", group)
            if version is None:
                yield None
                return
            since: int | None = None
            args: tuple[object, ...] = (group, self._public_url, fmt.platform)
            etag = f'W/"{fmt.name}.{kind}.{group}.{version}.{self._tag}"'
            if kind == SUMMARY:
                since = await conn.fetchval(
                    "SELECT snapshot_gv FROM feed_pulls WHERE feed_group = $1 AND format = $2"
                    " AND finished_at IS NOT NULL ORDER BY id DESC LIMIT 1",
                    group,
                    fmt.name,
                )
                since = int(since or 0)
                args = (*args, since)
                etag = f'W/"{fmt.name}.{kind}.{group}.{since}-{version}.{self._tag}"'
            yield Snapshot(group, fmt, kind, int(version), since, etag, conn, args)

    async def record_pull(self, snap: Snapshot, user_agent: str, size: int) -> None:
        """A pull whose every byte went out: the next summary starts from its snapshot."""
        await self.pool.execute(
            "INSERT INTO feed_pulls (feed_group, format, kind, since_gv, snapshot_gv, user_agent, finished_at, bytes)"
            " VALUES ($1, $2, $3, $4, $5, $6, now(), $7)",
            snap.group,
            snap.format.name,
            snap.kind,
            snap.since,
            snap.version,
            user_agent[:200],
            size,
        )
