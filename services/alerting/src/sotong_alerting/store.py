"""Alerting's PostgreSQL store: the append-only incident log, reports and stage 0, pages, dispatches, receipts.

Every command runs in one transaction that (1) locks the incident row, so two operators cannot both move the
same incident, (2) rebuilds the `Incident` aggregate from its stored log and lets it decide, (3) appends the
resulting entries to the append-only log, and (4) queues their `alerting.incident-changed.v1` events and any
`DispatchRequested` in the outbox. Either all of it happens or none of it does: a dispatch is never requested
for a transition that was not recorded, and a recorded transition is always announced. Alerts (`alerts.py`)
and citizens' input (`citizens.py`) are built on the same primitives: `locked`, `aggregate`, `append`,
`request_dispatch`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from sotong.publishing.v1 import publishing_events_pb2 as dispatch
from sotong_alerting import publishing, timeline
from sotong_alerting.cap import Alert, MsgType, Status, parse_cap
from sotong_alerting.districts import GEOCODE_NAME, district
from sotong_alerting.incident import Incident, IncidentError
from sotong_alerting.response import ResponsePlan
from sotong_alerting.timeline import Entry
from sotong_common import database, dedup, events, outbox, topics
from sotong_common.errors import FailedPrecondition, NotFound

SOURCE = "sotong.alerting"
TERMINAL = ("all_clear", "cancelled")
RECENT = timedelta(hours=24)


def new_incident_id(now: datetime) -> str:
    """INC-20260714-3F2A1B: sortable by day, short enough to read out on a radio call."""
    return f"INC-{now:%Y%m%d}-{secrets.token_hex(3).upper()}"


@contextmanager
def refused_by_lifecycle() -> Iterator[None]:
    try:
        yield
    except IncidentError as error:
        raise FailedPrecondition(str(error)) from None


def area_names(codes: Sequence[str]) -> str:
    names = []
    for code in codes:
        try:
            names.append(district(code).name("ko"))
        except KeyError:
            names.append(code)
    return ", ".join(names) or "서울 전역"


@dataclass(frozen=True)
class IncidentView:
    row: asyncpg.Record
    page: asyncpg.Record | None
    entries: list[Entry]
    alerts: list[asyncpg.Record]
    deliveries: list[asyncpg.Record]


def _entry(row: asyncpg.Record) -> Entry:
    return Entry(
        incident_id=row["incident_id"],
        event_type=row["event_type"],
        actor=row["actor"],
        occurred_at=row["occurred_at"],
        payload=json.loads(row["payload"]),
        event_id=str(row["event_id"]),
        sequence=row["sequence"],
        stage=row["stage"],
    )


def stored_alert(row: asyncpg.Record) -> Alert:
    """The alert exactly as stored (only valid CAP is ever stored, so this cannot fail)."""
    document = parse_cap(row["cap_xml"].encode())
    if document.alert is None:
        raise RuntimeError(f"stored alert {row['identifier']} is not valid CAP: {document.problems}")
    return document.alert


class IncidentStore:
    def __init__(self, pool: asyncpg.Pool, plan: ResponsePlan) -> None:
        self.pool = pool
        self.plan = plan

    # --- the log ------------------------------------------------------------------------------------------

    async def locked(self, conn: database.Connection, incident_id: str) -> asyncpg.Record:
        row = await conn.fetchrow("SELECT * FROM incidents WHERE incident_id = $1 FOR UPDATE", incident_id)
        if row is None:
            raise NotFound(f"no incident {incident_id}")
        return row

    async def _entries(self, conn: database.Connection, incident_id: str, after: int = 0) -> list[Entry]:
        rows = await conn.fetch(
            "SELECT * FROM incident_log WHERE incident_id = $1 AND sequence > $2 ORDER BY sequence",
            incident_id,
            after,
        )
        return [_entry(row) for row in rows]

    async def aggregate(self, conn: database.Connection, incident_id: str) -> Incident:
        entries = await self._entries(conn, incident_id)
        return Incident.from_events(timeline.to_event(e) for e in entries if e.lifecycle)

    async def append(
        self, conn: database.Connection, incident: Incident | None, row: asyncpg.Record, entries: Sequence[Entry]
    ) -> Incident:
        """Append entries after the incident's last one; lifecycle entries move the aggregate (or refuse)."""
        sequence = row["sequence"]
        for entry in entries:
            if entry.lifecycle:
                event = timeline.to_event(entry)
                with refused_by_lifecycle():
                    incident = Incident.from_events([event]) if incident is None else incident.apply(event)
            if incident is None:
                raise RuntimeError("an incident's log must start with its report")
            sequence += 1
            stored = Entry(
                entry.incident_id,
                entry.event_type,
                entry.actor,
                entry.occurred_at,
                entry.payload,
                entry.event_id,
                sequence,
                incident.stage.value,
            )
            await conn.execute(
                "INSERT INTO incident_log (incident_id, sequence, event_id, event_type, actor, occurred_at, stage,"
                " lifecycle, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
                stored.incident_id,
                sequence,
                stored.event_id,
                stored.event_type,
                stored.actor,
                stored.occurred_at,
                stored.stage,
                stored.lifecycle,
                json.dumps(dict(stored.payload), ensure_ascii=False),
            )
            await outbox.add(
                conn,
                topics.INCIDENT_CHANGED,
                stored.incident_id,
                timeline.to_changed(stored, row["hazard"], list(row["area_codes"])),
                events.EventMetadata.new(topics.INCIDENT_CHANGED, SOURCE, event_id=stored.event_id),
            )
        assert incident is not None
        await conn.execute(
            "UPDATE incidents SET stage = $2, sequence = $3, updated_at = $4 WHERE incident_id = $1",
            row["incident_id"],
            incident.stage.value,
            sequence,
            incident.last_change,
        )
        return incident

    async def request_dispatch(self, conn: database.Connection, message: dispatch.DispatchRequested) -> bool:
        """Queue one DispatchRequested unless its id was requested before (retries are no-ops)."""
        inserted = await conn.fetchval(
            "INSERT INTO dispatches (dispatch_id, incident_id, message_id, channel, purpose, requested_at)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1",
            message.dispatch_id,
            message.thread_id,
            message.message_id,
            int(message.channel),
            message.purpose,
            message.requested_at.ToDatetime(tzinfo=UTC),
        )
        if inserted != 1:
            return False
        topic = (
            topics.DISPATCH_EMERGENCY if message.priority == dispatch.PRIORITY_EMERGENCY else topics.DISPATCH_ROUTINE
        )
        await outbox.add(
            conn,
            topic,
            message.dispatch_id,
            message,
            events.EventMetadata.new(
                topic, SOURCE, event_id=events.derived_event_id(message.dispatch_id, "alerting.dispatch")
            ),
        )
        return True

    # --- reports and stage 0 ------------------------------------------------------------------------------

    async def create(
        self,
        conn: database.Connection,
        *,
        actor: str,
        hazard: str,
        area_codes: Sequence[str],
        summary: str,
        source: str,
        request_key: str | None,
        at: datetime,
    ) -> tuple[Incident, asyncpg.Record]:
        incident_id = new_incident_id(at)
        with refused_by_lifecycle():
            event = Incident.report(
                incident_id, actor=actor, at=at, hazard=hazard, area_codes=area_codes, summary=summary, source=source
            )
        row = await conn.fetchrow(
            "INSERT INTO incidents (incident_id, hazard, area_codes, stage, summary, source, reported_at, reported_by,"
            " request_key, last_report_at, updated_at) VALUES ($1, $2, $3, 'reported', $4, $5, $6, $7, $8, $9, $6)"
            " RETURNING *",
            incident_id,
            hazard,
            list(area_codes),
            summary,
            source,
            at,
            actor,
            request_key,
            at if source == "citizens" else None,
        )
        assert row is not None  # INSERT ... RETURNING always returns the row
        incident = await self.append(conn, None, row, [timeline.from_event(event)])
        return incident, row

    async def _open_stage0(
        self, conn: database.Connection, incident: Incident, row: asyncpg.Record, actor: str, at: datetime
    ) -> Incident:
        departments = self.plan.departments(incident.hazard, incident.area_codes)
        with refused_by_lifecycle():
            decided = incident.open_internal_sharing(actor=actor, at=at, departments=departments)
        incident = await self.append(conn, incident, row, [timeline.from_event(e) for e in decided])
        names = area_names(incident.area_codes)
        await self.request_dispatch(
            conn,
            publishing.group_chat_dispatch(
                incident.incident_id, incident.hazard, names, row["summary"], departments, at
            ),
        )
        await self.request_dispatch(
            conn,
            publishing.page_dispatch(incident.incident_id, incident.hazard, names, 0, self.plan.targets_of(0), at),
        )
        await conn.execute(
            "INSERT INTO pages (incident_id, level, paged_at, next_due_at) VALUES ($1, 0, $2, $3)"
            " ON CONFLICT DO NOTHING",
            incident.incident_id,
            at,
            self.plan.next_page(0, at),
        )
        return incident

    async def report(
        self,
        *,
        actor: str,
        hazard: str,
        area_codes: Sequence[str],
        summary: str,
        request_key: str | None,
        source: str = "staff",
        open_stage0: bool = True,
    ) -> tuple[str, bool]:
        """A new incident (at stage 0 unless `open_stage0` is False); the same request key gives the same one."""
        if request_key:
            found = await self.pool.fetchval("SELECT incident_id FROM incidents WHERE request_key = $1", request_key)
            if found:
                return str(found), False
        at = datetime.now(UTC)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                incident, row = await self.create(
                    conn,
                    actor=actor,
                    hazard=hazard,
                    area_codes=area_codes,
                    summary=summary,
                    source=source,
                    request_key=request_key,
                    at=at,
                )
                if open_stage0:
                    row = await self.locked(conn, incident.incident_id)
                    await self._open_stage0(conn, incident, row, actor, at)
        except asyncpg.UniqueViolationError:
            found = await self.pool.fetchval("SELECT incident_id FROM incidents WHERE request_key = $1", request_key)
            if not found:
                raise
            return str(found), False
        return incident.incident_id, True

    async def confirm(self, incident_id: str, actor: str) -> None:
        """Open stage 0 of a candidate incident (grouped citizens' reports)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self.locked(conn, incident_id)
            incident = await self.aggregate(conn, incident_id)
            await self._open_stage0(conn, incident, row, actor, datetime.now(UTC))

    async def note_upstream(self, referenced_keys: Sequence[str], actor: str, note: str) -> str | None:
        """Record an upstream Update/Cancel on the incident its referenced alert opened; None when unknown."""
        async with self.pool.acquire() as conn, conn.transaction():
            incident_id = await conn.fetchval(
                "SELECT incident_id FROM incidents WHERE request_key = ANY($1::text[]) ORDER BY reported_at LIMIT 1",
                list(referenced_keys),
            )
            if incident_id is None:
                return None
            row = await self.locked(conn, incident_id)
            incident = await self.aggregate(conn, incident_id)
            if incident.stage.terminal:
                return str(incident_id)
            with refused_by_lifecycle():
                decided = incident.add_note(actor=actor, at=max(datetime.now(UTC), incident.last_change), note=note)
            await self.append(conn, incident, row, [timeline.from_event(e) for e in decided])
            return str(incident_id)

    async def acknowledge(self, incident_id: str, actor: str) -> None:
        """Stop the escalation of the incident's page (idempotent; the first acknowledgement is recorded)."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self.locked(conn, incident_id)
            page = await conn.fetchrow("SELECT * FROM pages WHERE incident_id = $1 FOR UPDATE", incident_id)
            if page is None:
                raise FailedPrecondition(f"incident {incident_id} has no page to acknowledge (it is {row['stage']})")
            if page["acknowledged_at"] is not None:
                return
            now = datetime.now(UTC)
            await conn.execute(
                "UPDATE pages SET acknowledged_by = $2, acknowledged_at = $3, next_due_at = NULL"
                " WHERE incident_id = $1",
                incident_id,
                actor,
                now,
            )
            incident = await self.aggregate(conn, incident_id)
            entry = timeline.audit(
                incident_id,
                timeline.PAGE_ACKNOWLEDGED,
                actor,
                now,
                detail=f"level {page['level']}",
                level=page["level"],
            )
            await self.append(conn, incident, row, [entry])

    async def escalate_due(self, now: datetime | None = None, limit: int = 50) -> int:
        """Page the next level for every unacknowledged page whose timer ran out; the number escalated.

        Due times live in PostgreSQL, so a restarted worker picks up exactly where the last one stopped. Each
        page is escalated in its own transaction that locks the incident first and the page second (the order
        Acknowledge uses, so the two never deadlock) and re-checks the timer under the lock, so several workers
        can share the scan; each level's dispatch id is fixed, so nobody is paged twice for one level.
        """
        now = now or datetime.now(UTC)
        done = 0
        due = await self.pool.fetch(
            "SELECT incident_id FROM pages WHERE acknowledged_at IS NULL AND next_due_at <= $1"
            " ORDER BY next_due_at LIMIT $2",
            now,
            limit,
        )
        for item in due:
            incident_id = item["incident_id"]
            async with self.pool.acquire() as conn, conn.transaction():
                row = await self.locked(conn, incident_id)
                page = await conn.fetchrow(
                    "SELECT level FROM pages WHERE incident_id = $1 AND acknowledged_at IS NULL AND next_due_at <= $2"
                    " FOR UPDATE",
                    incident_id,
                    now,
                )
                if page is None:
                    continue  # acknowledged, or another worker escalated it meanwhile
                level = page["level"] + 1
                if row["stage"] in TERMINAL or level > len(self.plan.escalation):
                    await conn.execute("UPDATE pages SET next_due_at = NULL WHERE incident_id = $1", incident_id)
                    continue
                targets = self.plan.targets_of(level)
                incident = await self.aggregate(conn, incident_id)
                await self.request_dispatch(
                    conn,
                    publishing.page_dispatch(
                        incident_id, incident.hazard, area_names(incident.area_codes), level, targets, now
                    ),
                )
                await conn.execute(
                    "UPDATE pages SET level = $2, paged_at = $3, next_due_at = $4 WHERE incident_id = $1",
                    incident_id,
                    level,
                    now,
                    self.plan.next_page(level, now),
                )
                entry = timeline.audit(
                    incident_id,
                    timeline.PAGE_ESCALATED,
                    "system:escalation",
                    max(now, incident.last_change),
                    detail=f"level {level}: {', '.join(targets)}",
                    level=level,
                    targets=list(targets),
                )
                await self.append(conn, incident, row, [entry])
                done += 1
        return done

    # --- reading ------------------------------------------------------------------------------------------

    async def view(self, incident_id: str) -> IncidentView:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM incidents WHERE incident_id = $1", incident_id)
            if row is None:
                raise NotFound(f"no incident {incident_id}")
            page = await conn.fetchrow("SELECT * FROM pages WHERE incident_id = $1", incident_id)
            entries = await self._entries(conn, incident_id)
            alerts = await conn.fetch("SELECT * FROM alerts WHERE incident_id = $1 ORDER BY drafted_at", incident_id)
            deliveries = await conn.fetch(
                "SELECT * FROM deliveries WHERE incident_id = $1 ORDER BY channel", incident_id
            )
        return IncidentView(row, page, entries, list(alerts), list(deliveries))

    async def incident_row(self, incident_id: str) -> tuple[asyncpg.Record, asyncpg.Record | None]:
        row = await self.pool.fetchrow("SELECT * FROM incidents WHERE incident_id = $1", incident_id)
        if row is None:
            raise NotFound(f"no incident {incident_id}")
        page = await self.pool.fetchrow("SELECT * FROM pages WHERE incident_id = $1", incident_id)
        return row, page

    async def entries_after(self, incident_id: str, after: int) -> list[Entry]:
        async with self.pool.acquire() as conn:
            return await self._entries(conn, incident_id, after)

    async def alert(self, identifier: str) -> asyncpg.Record:
        row = await self.pool.fetchrow("SELECT * FROM alerts WHERE identifier = $1", identifier)
        if row is None:
            raise NotFound(f"no alert {identifier}")
        return row

    async def listing(self, open_only: bool, limit: int) -> list[asyncpg.Record]:
        """Incidents newest first, each with its page's columns (page_*; NULL when it has no page)."""
        rows = await self.pool.fetch(
            "SELECT i.*, p.level AS page_level, p.acknowledged_by AS page_acknowledged_by,"
            " p.next_due_at AS page_next_due_at, p.incident_id AS page_incident FROM incidents i"
            " LEFT JOIN pages p USING (incident_id)"
            " WHERE NOT $1 OR i.stage NOT IN ('all_clear', 'cancelled') ORDER BY i.reported_at DESC LIMIT $2",
            open_only,
            limit,
        )
        return list(rows)

    async def issued_alerts(self, since: datetime) -> list[Alert]:
        """Alerts issued since `since` (the feed filters them to the active ones)."""
        rows = await self.pool.fetch(
            "SELECT cap_xml, identifier FROM alerts WHERE state = 'issued' AND issued_at >= $1 ORDER BY issued_at",
            since,
        )
        return [stored_alert(row) for row in rows]

    # --- consumers ----------------------------------------------------------------------------------------

    async def record_delivery(
        self,
        consumer: str,
        event_id: str,
        incident_id: str,
        channel: int,
        delivered: int,
        failed: int,
        dead_lettered: int,
    ) -> bool:
        """Add a receipt's counts to the incident's per-channel totals, once per receipt."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await dedup.first_time(conn, consumer, event_id):
                return False
            await conn.execute(
                "INSERT INTO deliveries (incident_id, channel, delivered, failed, dead_lettered, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, now()) ON CONFLICT (incident_id, channel) DO UPDATE SET"
                " delivered = deliveries.delivered + EXCLUDED.delivered, failed = deliveries.failed + EXCLUDED.failed,"
                " dead_lettered = deliveries.dead_lettered + EXCLUDED.dead_lettered, updated_at = now()",
                incident_id,
                channel,
                delivered,
                failed,
                dead_lettered,
            )
            return True


def upstream_hazard(alert: Alert) -> tuple[str, list[str], str]:
    """Hazard (the Korean event name when there is one), districts (SIG_CD geocodes) and headline of a CAP alert."""
    info = alert.info_for("ko") or (alert.infos[0] if alert.infos else None)
    if info is None:
        return "", [], ""
    codes = [
        code.value for area in info.areas for code in area.geocodes if code.name == GEOCODE_NAME and _known(code.value)
    ]
    return info.event, list(dict.fromkeys(codes)), info.headline or ""


def _known(code: str) -> bool:
    try:
        district(code)
    except KeyError:
        return False
    return True


def actionable(alert: Alert) -> bool:
    return alert.status is Status.ACTUAL and alert.msg_type is MsgType.ALERT
