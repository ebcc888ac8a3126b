"""Feeds streamed straight out of PostgreSQL: one `COPY (SELECT …) TO STDOUT` per pull, in constant memory.

Every value a feed shows was checked when it was stored (`catalogue`), so a feed row is a projection of the
product and merchant rows: each format's columns are SQL expressions (`feeds`), and PostgreSQL formats the rows
as tab-separated lines (one text value per row, copied out unchanged). The process only passes chunks on to the HTTP
response (gzip-compressed when the platform asks), so a million products cost no more memory than ten.

A format with a `stored_line` (the Naver EP) keeps each product's full-feed line in that products column, rendered
by PostgreSQL when the product is written (a trigger, in the writing transaction) with the same expression a
read-time rendering uses (`stored_line_function`), so its full feed is a copy of one stored column. The line
depends on the product's own columns, the merchant's slug (re-rendered by a trigger if it ever changes) and the
public base URL, which is configuration: the stored line holds `BASE_URL_MARK` in its place and the pull puts the
configured URL in (`replace`), so a changed URL is never stale. Whether a product is listed (deleted, hidden, sold
out, its merchant's status and consent) is not in the line: the pull decides it, as before.

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
LISTED_MERCHANT_IDS = (
    "(SELECT m0.id FROM merchants m0 WHERE m0.feed_group = $1 AND m0.status = 'verified' AND EXISTS (SELECT 1"
    " FROM consents c WHERE c.merchant_id = m0.id AND c.platform = $3 AND c.granted)) m"
)
"""The same merchants, for a feed of stored lines (which carry the page URL already)."""
BASE_URL_MARK = "\x03"
"""Stands for the public base URL in a stored line; no stored value holds a control character."""
STORED_MERCHANT = "(SELECT merchant_slug AS slug, E'\\x03/m/' || merchant_slug || '#p-' AS page) m"
"""The merchant as a stored line sees it: its slug, and its page URL with the base URL marked."""
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


def full_line(fmt: FeedFormat) -> str:
    """The SQL expression of a product's full-feed line, over `p` and `m` (with `m.page`)."""
    return _line([None if c.sql == "NULL" else c.sql for c in fmt.columns(FULL)])


def stored_line_function(fmt: FeedFormat) -> str:
    """The SQL function rendering a product's stored line, `<stored_line>_line(p products, merchant_slug text)`.

    The migration that keeps the column defines the function with exactly this text (a unit test holds them to
    it), so a change to the format's columns fails that test until a new migration replaces the function and
    re-renders the stored lines.
    """
    assert fmt.stored_line is not None
    return (
        f"CREATE OR REPLACE FUNCTION {fmt.stored_line}_line(p products, merchant_slug text) RETURNS text"
        f" LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$ SELECT {full_line(fmt)} FROM {STORED_MERCHANT} $$;"
    )


def feed_query(fmt: FeedFormat, kind: str, rendered: bool = False) -> str:
    """The SELECT a pull copies out, one text column per line. Parameters: $1 group, $2 public base URL,
    $3 platform, $4 since (summary). `rendered` renders a full feed at read time even when its lines are stored
    (what the stored lines must equal, byte for byte)."""
    columns = fmt.columns(kind)
    listable = " WHERE p.deleted_at IS NULL AND p.status = 'on_sale' AND p.stock > 0"
    if kind == FULL and fmt.stored_line and not rendered:
        return (
            f"SELECT replace(p.{fmt.stored_line}, E'\\x03', $2) FROM products p"
            f" JOIN {LISTED_MERCHANT_IDS} ON m.id = p.merchant_id{listable}"
        )
    if kind == FULL:
        return f"SELECT {full_line(fmt)} FROM products p JOIN {LISTED_MERCHANTS} ON m.id = p.merchant_id{listable}"
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
