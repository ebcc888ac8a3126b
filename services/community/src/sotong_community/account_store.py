"""The official SNS account registry in PostgreSQL, with its history, its feed to the publishing directory, and the
audit's runs.

Every change is one transaction: the account row (its `version` + 1), a history row, and, when the account's
entry in the publishing service's list `sns:official` changes, a `DirectoryEntryChanged` on
community.sns-directory-changed.v1 through the outbox. Directory versions come from one sequence, so an entry
whose target moved from one account to another is still ordered (the engine ignores an older version).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from sotong.publishing.v1 import publishing_events_pb2 as ppb
from sotong_common import database, events, outbox, topics
from sotong_common.errors import AlreadyExists, FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from sotong_community import accounts, audit
from sotong_community.announcements import SOURCE, ts

Conn = database.Connection


@dataclass(frozen=True)
class NewAccount:
    platform: str
    handle: str
    url: str
    department: str
    department_name: str
    managers: list[str]
    purpose: str
    audience: str
    publishing_target: str
    district_code: str
    language: str


@dataclass(frozen=True)
class AuditResult:
    month: str
    ran_at: datetime
    newly_dormant: list[str]
    candidates: list[audit.Candidate]
    counts: dict[str, int]


def display_name(row: asyncpg.Record | dict[str, Any]) -> str:
    return f"{row['department_name']} {row['platform']} {row['handle']}"


async def _directory(conn: Conn, row: asyncpg.Record, target: str, active: bool) -> None:
    """The account's entry of sns:official as it now is (or the entry of a target it no longer uses)."""
    version = await conn.fetchval("SELECT nextval('sns_directory_versions')")
    key = f"{accounts.OFFICIAL_LIST}|{target}"
    message = ppb.DirectoryEntryChanged(
        list=accounts.OFFICIAL_LIST,
        target=target,
        active=active,
        district_code=row["district_code"],
        language=row["language"],
        display_name=display_name(row),
        version=int(version),
        changed_at=ts(datetime.now(UTC)),
    )
    topic = topics.COMMUNITY_SNS_DIRECTORY
    await outbox.add(conn, topic, key, message, events.EventMetadata.new(topic, SOURCE))


async def _history(
    conn: Conn, row: asyncpg.Record, change: str, actor: str, reason: str = "", fields: Sequence[str] = ()
) -> None:
    await conn.execute(
        "INSERT INTO sns_account_history (account_id, sequence, change, status, fields, actor, reason)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        row["account_id"],
        row["version"],
        change,
        row["status"],
        list(fields),
        actor,
        reason,
    )


class AccountStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def register(self, caller: str, new: NewAccount, request_id: str) -> tuple[asyncpg.Record, bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM sns_accounts WHERE registered_by = $1 AND request_id = $2", caller, request_id
            )
            if existing is not None:
                return existing, False
            await self._refuse_duplicates(conn, new.platform, new.handle, new.publishing_target, None)
            row = await conn.fetchrow(
                "INSERT INTO sns_accounts (account_id, platform, handle, handle_key, url, department, department_name,"
                " managers, purpose, audience, status, publishing_target, district_code, language, registered_by,"
                " request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11, $12, $13, $14, $15)"
                " RETURNING *",
                uuid.uuid4(),
                new.platform,
                new.handle,
                accounts.canonical_handle(new.platform, new.handle),
                new.url,
                new.department,
                new.department_name,
                new.managers,
                new.purpose,
                new.audience,
                new.publishing_target,
                new.district_code,
                new.language,
                caller,
                request_id,
            )
            assert row is not None
            await _history(conn, row, "registered", caller)
            await _directory(conn, row, row["publishing_target"], True)
            return row, True

    async def _refuse_duplicates(
        self, conn: Conn, platform: str, handle: str, target: str, account_id: uuid.UUID | None
    ) -> None:
        """ALREADY_EXISTS naming the field, before the unique indexes would refuse it less clearly."""
        other = await conn.fetchval(
            "SELECT account_id FROM sns_accounts WHERE platform = $1 AND handle_key = $2"
            " AND account_id IS DISTINCT FROM $3",
            platform,
            accounts.canonical_handle(platform, handle),
            account_id,
        )
        if other is not None:
            raise AlreadyExists(f"handle: {platform} account {handle!r} is already registered as {other}")
        other = await conn.fetchval(
            "SELECT account_id FROM sns_accounts WHERE publishing_target = $1 AND status IN ('active', 'dormant')"
            " AND account_id IS DISTINCT FROM $2",
            target,
            account_id,
        )
        if other is not None:
            raise AlreadyExists(f"publishing_target: {target!r} is the publishing target of account {other}")

    async def get(self, account_id: uuid.UUID, conn: Conn | None = None) -> asyncpg.Record:
        row = await (conn or self.pool).fetchrow("SELECT * FROM sns_accounts WHERE account_id = $1", account_id)
        if row is None:
            raise NotFound(f"no SNS account {account_id}")
        return row

    async def history(self, account_id: uuid.UUID) -> list[asyncpg.Record]:
        return list(
            await self.pool.fetch(
                "SELECT * FROM sns_account_history WHERE account_id = $1 ORDER BY sequence", account_id
            )
        )

    async def find(self, department: str, platform: str, status: str) -> list[asyncpg.Record]:
        return list(
            await self.pool.fetch(
                "SELECT * FROM sns_accounts WHERE ($1 = '' OR department = $1) AND ($2 = '' OR platform = $2)"
                " AND ($3 = '' OR status = $3) ORDER BY department, platform, handle_key",
                department,
                platform,
                status,
            )
        )

    async def department_accounts(self, department: str) -> list[asyncpg.Record]:
        """The live accounts of a department, in registration order (cards, footers)."""
        return list(
            await self.pool.fetch(
                "SELECT * FROM sns_accounts WHERE department = $1 AND status IN ('active', 'dormant')"
                " ORDER BY registered_at, account_id",
                department,
            )
        )

    async def update(
        self, account_id: uuid.UUID, changes: dict[str, Any], expected_version: int, actor: str
    ) -> asyncpg.Record:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT * FROM sns_accounts WHERE account_id = $1 FOR UPDATE", account_id)
            if row is None:
                raise NotFound(f"no SNS account {account_id}")
            if expected_version and row["version"] != expected_version:
                raise FailedPrecondition(
                    f"expected_version: the account is at version {row['version']}, not {expected_version}"
                )
            if row["status"] not in accounts.LIVE:
                raise FailedPrecondition(f"a {row['status']} account cannot be changed")
            merged = {**dict(row), **changes}
            if "url" not in changes and "handle" in changes:
                raise InvalidArgument(FieldViolation("url", "url must change with the handle (it names the handle)"))
            changed = sorted(k for k, value in changes.items() if row[k] != value)
            if not changed:
                return row
            await self._refuse_duplicates(
                conn, row["platform"], merged["handle"], merged["publishing_target"], account_id
            )
            updated = await conn.fetchrow(
                "UPDATE sns_accounts SET handle = $2, handle_key = $3, url = $4, department = $5,"
                " department_name = $6, managers = $7, purpose = $8, audience = $9, publishing_target = $10,"
                " district_code = $11, language = $12, version = version + 1 WHERE account_id = $1 RETURNING *",
                account_id,
                merged["handle"],
                accounts.canonical_handle(row["platform"], merged["handle"]),
                merged["url"],
                merged["department"],
                merged["department_name"],
                merged["managers"],
                merged["purpose"],
                merged["audience"],
                merged["publishing_target"],
                merged["district_code"],
                merged["language"],
            )
            assert updated is not None
            await _history(conn, updated, "updated", actor, fields=changed)
            if row["publishing_target"] != updated["publishing_target"]:
                await _directory(conn, updated, row["publishing_target"], False)
            if set(changed) & {"publishing_target", "district_code", "language", "department_name", "handle"}:
                await _directory(conn, updated, updated["publishing_target"], True)
            return updated

    async def change_status(
        self, account_id: uuid.UUID, status: str, reason: str, merged_into: uuid.UUID | None, actor: str
    ) -> tuple[asyncpg.Record, bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT * FROM sns_accounts WHERE account_id = $1 FOR UPDATE", account_id)
            if row is None:
                raise NotFound(f"no SNS account {account_id}")
            if row["status"] == status:
                return row, False
            problem = accounts.transition_problem(row["status"], status)
            if problem is not None:
                raise FailedPrecondition(f"status: {problem}")
            if status == accounts.MERGED:
                assert merged_into is not None
                if merged_into == account_id:
                    raise InvalidArgument(FieldViolation("merged_into", "merged_into must be another account"))
                target = await conn.fetchrow("SELECT status FROM sns_accounts WHERE account_id = $1", merged_into)
                if target is None or target["status"] not in accounts.LIVE:
                    raise FailedPrecondition(f"merged_into: {merged_into} is not a live (active or dormant) account")
            return await _set_status(conn, row, status, actor, reason, merged_into), True

    async def record_posts(self, conn: Conn, posts: Sequence[tuple[str, datetime]]) -> int:
        """Receipts of posts: each target's last post moves forward; a dormant account that posts is active again.

        Returns how many dormant accounts woke up."""
        latest: dict[str, datetime] = {}
        for target, at in posts:
            latest[target] = max(at, latest.get(target, at))
        if not latest:
            return 0
        rows = await conn.fetch(
            "UPDATE sns_accounts a SET last_post_at = greatest(a.last_post_at, p.at)"
            " FROM unnest($1::text[], $2::timestamptz[]) AS p(target, at)"
            " WHERE a.publishing_target = p.target AND a.status IN ('active', 'dormant')"
            " RETURNING a.account_id, a.status",
            list(latest),
            list(latest.values()),
        )
        woken = 0
        for r in sorted(rows, key=lambda r: r["account_id"]):
            if r["status"] == accounts.DORMANT:
                row = await conn.fetchrow(
                    "SELECT * FROM sns_accounts WHERE account_id = $1 FOR UPDATE", r["account_id"]
                )
                assert row is not None
                await _set_status(conn, row, accounts.ACTIVE, "publishing receipts", "posted again", None)
                woken += 1
        return woken

    async def run_audit(self, now: datetime, dormant_after: timedelta, merge_overlap: float) -> AuditResult:
        """Mark silent accounts dormant, propose merges, and store the month's report (one transaction)."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch("SELECT * FROM sns_accounts ORDER BY account_id FOR UPDATE")
            newly: list[str] = []
            for row in rows:
                if audit.falls_dormant(_audit_row(row), now, dormant_after):
                    await _set_status(
                        conn, row, accounts.DORMANT, "audit", f"no post for {dormant_after.days} days", None
                    )
                    newly.append(str(row["account_id"]))
            rows = await conn.fetch("SELECT * FROM sns_accounts ORDER BY account_id")
            plain = [_audit_row(r) for r in rows]
            candidates = audit.merge_candidates(plain, merge_overlap)
            month = audit.month_of(now)
            counts = {s: sum(1 for r in plain if r.status == s) for s in accounts.STATUSES}
            await conn.execute(
                "INSERT INTO sns_audits (month, ran_at, newly_dormant, merge_candidates, counts, report_csv,"
                " report_html) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (month) DO UPDATE SET"
                " ran_at = EXCLUDED.ran_at, newly_dormant = EXCLUDED.newly_dormant,"
                " merge_candidates = EXCLUDED.merge_candidates, counts = EXCLUDED.counts,"
                " report_csv = EXCLUDED.report_csv, report_html = EXCLUDED.report_html",
                month,
                now,
                newly,
                json.dumps([c.__dict__ for c in candidates]),
                json.dumps(counts),
                audit.as_csv(plain, now, newly, candidates),
                audit.as_html(plain, now, newly, candidates, month),
            )
            return AuditResult(month, now, newly, candidates, counts)

    async def audit_report(self, month: str) -> asyncpg.Record:
        row = await self.pool.fetchrow("SELECT * FROM sns_audits WHERE month = $1", month)
        if row is None:
            raise NotFound(f"no account audit for {month}")
        return row

    async def last_audit_at(self) -> datetime | None:
        found: datetime | None = await self.pool.fetchval("SELECT max(ran_at) FROM sns_audits")
        return found


def result_of(row: asyncpg.Record) -> AuditResult:
    candidates = [audit.Candidate(**c) for c in json.loads(row["merge_candidates"])]
    return AuditResult(row["month"], row["ran_at"], list(row["newly_dormant"]), candidates, json.loads(row["counts"]))


async def _set_status(
    conn: Conn, row: asyncpg.Record, status: str, actor: str, reason: str, merged_into: uuid.UUID | None
) -> asyncpg.Record:
    updated = await conn.fetchrow(
        "UPDATE sns_accounts SET status = $2, merged_into = $3, version = version + 1 WHERE account_id = $1"
        " RETURNING *",
        row["account_id"],
        status,
        merged_into,
    )
    assert updated is not None
    await _history(conn, updated, "status_changed", actor, reason)
    if accounts.in_directory(row["status"]) != accounts.in_directory(status):
        await _directory(conn, updated, updated["publishing_target"], accounts.in_directory(status))
    return updated


def _audit_row(row: asyncpg.Record) -> audit.AccountRow:
    return audit.AccountRow(
        str(row["account_id"]),
        row["platform"],
        row["handle"],
        row["url"],
        row["department"],
        row["department_name"],
        row["purpose"],
        row["audience"],
        row["status"],
        row["registered_at"],
        row["last_post_at"],
    )
