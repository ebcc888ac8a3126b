"""Alerting's PostgreSQL store: the incident log, alerts, pages, dispatches, deliveries and citizens' input.

Every command runs in one transaction that (1) locks the incident row, so two operators cannot both move the
same incident, (2) rebuilds the `Incident` aggregate from its stored log and lets it decide, (3) appends the
resulting entries to the append-only log, and (4) queues their `alerting.incident-changed.v1` events and any
`DispatchRequested` in the outbox. Either all of it happens or none of it does: a dispatch is never requested
for a transition that was not recorded, and a recorded transition is always announced.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from sotong.alerting.v1 import alerting_dispatch_pb2 as dispatch
from sotong.alerting.v1 import alerting_service_pb2 as pb
from sotong_alerting import publishing, timeline
from sotong_alerting.approval import ApprovalRefused, Person, approve, derive_cancel, derive_update, duplicate_warnings
from sotong_alerting.cap import Alert, MsgType, Status, parse_cap, render_cap, validate_alert
from sotong_alerting.channels import check_channels
from sotong_alerting.districts import GEOCODE_NAME, district
from sotong_alerting.drafting import Problem, compose, replaced_texts
from sotong_alerting.incident import Incident, IncidentError, Stage
from sotong_alerting.response import ResponsePlan
from sotong_alerting.timeline import Entry
from sotong_common import database, dedup, events, outbox, topics
from sotong_common.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, PermissionDenied

SOURCE = "sotong.alerting"
TERMINAL = ("all_clear", "cancelled")
RECENT = timedelta(hours=24)


def new_incident_id(now: datetime) -> str:
    """INC-20260714-3F2A1B: sortable by day, short enough to read out on a radio call."""
    return f"INC-{now:%Y%m%d}-{secrets.token_hex(3).upper()}"


@contextmanager
def _refused_by_lifecycle() -> Iterator[None]:
    try:
        yield
    except IncidentError as error:
        raise FailedPrecondition(str(error)) from None


def _invalid(problems: Sequence[Problem]) -> InvalidArgument:
    return InvalidArgument([FieldViolation(p.field, p.description) for p in problems])


def area_names(codes: Sequence[str]) -> str:
    names = []
    for code in codes:
        try:
            names.append(district(code).name("ko"))
        except KeyError:
            names.append(code)
    return ", ".join(names) or "서울 전역"


@dataclass(frozen=True)
class Drafted:
    row: asyncpg.Record
    renderings: list[pb.ChannelRendering]
    warnings: list[pb.DuplicateAlertWarning]


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
    def __init__(self, pool: asyncpg.Pool, plan: ResponsePlan, sender: str = "alert@seoul.go.kr") -> None:
        self._pool = pool
        self.plan = plan
        self._sender = sender

    # --- the log ------------------------------------------------------------------------------------------

    async def _locked(self, conn: database.Connection, incident_id: str) -> asyncpg.Record:
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

    async def _aggregate(self, conn: database.Connection, incident_id: str) -> Incident:
        entries = await self._entries(conn, incident_id)
        return Incident.from_events(timeline.to_event(e) for e in entries if e.lifecycle)

    async def _append(
        self, conn: database.Connection, incident: Incident | None, row: asyncpg.Record, entries: Sequence[Entry]
    ) -> Incident:
        """Append entries after the incident's last one; lifecycle entries move the aggregate (or refuse)."""
        sequence = row["sequence"]
        for entry in entries:
            if entry.lifecycle:
                event = timeline.to_event(entry)
                with _refused_by_lifecycle():
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

    async def _dispatch(self, conn: database.Connection, message: dispatch.DispatchRequested) -> bool:
        """Queue one DispatchRequested unless its id was requested before (retries are no-ops)."""
        inserted = await conn.fetchval(
            "INSERT INTO dispatches (dispatch_id, incident_id, message_id, channel, purpose, requested_at)"
            " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1",
            message.dispatch_id,
            message.incident_id,
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

    async def _create(
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
        with _refused_by_lifecycle():
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
        incident = await self._append(conn, None, row, [timeline.from_event(event)])
        return incident, row

    async def _open_stage0(
        self, conn: database.Connection, incident: Incident, row: asyncpg.Record, actor: str, at: datetime
    ) -> Incident:
        departments = self.plan.departments(incident.hazard, incident.area_codes)
        with _refused_by_lifecycle():
            decided = incident.open_internal_sharing(actor=actor, at=at, departments=departments)
        incident = await self._append(conn, incident, row, [timeline.from_event(e) for e in decided])
        names = area_names(incident.area_codes)
        await self._dispatch(
            conn,
            publishing.group_chat_dispatch(
                incident.incident_id, incident.hazard, names, row["summary"], departments, at
            ),
        )
        await self._dispatch(
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
            found = await self._pool.fetchval("SELECT incident_id FROM incidents WHERE request_key = $1", request_key)
            if found:
                return str(found), False
        at = datetime.now(UTC)
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                incident, row = await self._create(
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
                    row = await self._locked(conn, incident.incident_id)
                    await self._open_stage0(conn, incident, row, actor, at)
        except asyncpg.UniqueViolationError:
            found = await self._pool.fetchval("SELECT incident_id FROM incidents WHERE request_key = $1", request_key)
            if not found:
                raise
            return str(found), False
        return incident.incident_id, True

    async def confirm(self, incident_id: str, actor: str) -> None:
        """Open stage 0 of a candidate incident (grouped citizens' reports)."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._locked(conn, incident_id)
            incident = await self._aggregate(conn, incident_id)
            await self._open_stage0(conn, incident, row, actor, datetime.now(UTC))

    async def note_upstream(self, referenced_keys: Sequence[str], actor: str, note: str) -> str | None:
        """Record an upstream Update/Cancel on the incident its referenced alert opened; None when unknown."""
        async with self._pool.acquire() as conn, conn.transaction():
            incident_id = await conn.fetchval(
                "SELECT incident_id FROM incidents WHERE request_key = ANY($1::text[]) ORDER BY reported_at LIMIT 1",
                list(referenced_keys),
            )
            if incident_id is None:
                return None
            row = await self._locked(conn, incident_id)
            incident = await self._aggregate(conn, incident_id)
            if incident.stage.terminal:
                return str(incident_id)
            with _refused_by_lifecycle():
                decided = incident.add_note(actor=actor, at=max(datetime.now(UTC), incident.last_change), note=note)
            await self._append(conn, incident, row, [timeline.from_event(e) for e in decided])
            return str(incident_id)

    async def acknowledge(self, incident_id: str, actor: str) -> None:
        """Stop the escalation of the incident's page (idempotent; the first acknowledgement is recorded)."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._locked(conn, incident_id)
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
            incident = await self._aggregate(conn, incident_id)
            entry = timeline.audit(
                incident_id,
                timeline.PAGE_ACKNOWLEDGED,
                actor,
                now,
                detail=f"level {page['level']}",
                level=page["level"],
            )
            await self._append(conn, incident, row, [entry])

    async def escalate_due(self, now: datetime | None = None, limit: int = 50) -> int:
        """Page the next level for every unacknowledged page whose timer ran out; the number escalated.

        Due times live in PostgreSQL, so a restarted worker picks up exactly where the last one stopped. Each
        page is escalated in its own transaction that locks the incident first and the page second (the order
        Acknowledge uses, so the two never deadlock) and re-checks the timer under the lock, so several workers
        can share the scan; each level's dispatch id is fixed, so nobody is paged twice for one level.
        """
        now = now or datetime.now(UTC)
        done = 0
        due = await self._pool.fetch(
            "SELECT incident_id FROM pages WHERE acknowledged_at IS NULL AND next_due_at <= $1"
            " ORDER BY next_due_at LIMIT $2",
            now,
            limit,
        )
        for item in due:
            incident_id = item["incident_id"]
            async with self._pool.acquire() as conn, conn.transaction():
                row = await self._locked(conn, incident_id)
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
                incident = await self._aggregate(conn, incident_id)
                await self._dispatch(
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
                await self._append(conn, incident, row, [entry])
                done += 1
        return done

    # --- alerts -------------------------------------------------------------------------------------------

    async def _recent_alerts(self, conn: database.Connection, now: datetime) -> list[Alert]:
        rows = await conn.fetch("SELECT cap_xml, identifier FROM alerts WHERE issued_at >= $1", now - RECENT)
        return [stored_alert(row) for row in rows]

    async def _next_identifier(self, conn: database.Connection, incident_id: str) -> str:
        count = await conn.fetchval("SELECT count(*) FROM alerts WHERE incident_id = $1", incident_id)
        return f"{incident_id}-A{count + 1}"

    def _check(
        self, alert: Alert, channels: Sequence[dispatch.Channel.ValueType], short_texts: dict[str, str]
    ) -> list[pb.ChannelRendering]:
        """Per-channel renderings, or INVALID_ARGUMENT naming each limit the text breaks."""
        problems = [Problem("cap", str(p)) for p in validate_alert(alert)]
        overrides = publishing.overrides_of(short_texts)
        rules = publishing.checked_channels(channels)
        for language in publishing.LANGUAGES:
            for violation in check_channels(alert, rules, (language,), overrides):
                problems.append(Problem(f"texts[{language}]", str(violation)))
        if problems:
            raise _invalid(problems)
        shown = []
        for channel in channels:
            for rendering in publishing.renderings(alert, channel, "", short_texts):
                shown.append(
                    pb.ChannelRendering(
                        channel=channel,
                        language=rendering.language,
                        title=rendering.title,
                        text=rendering.body,
                    )
                )
        return shown

    async def _insert_alert(
        self,
        conn: database.Connection,
        *,
        alert: Alert,
        incident: Incident,
        row: asyncpg.Record,
        purpose: str,
        short_texts: dict[str, str],
        area_codes: Sequence[str],
        channels: Sequence[dispatch.Channel.ValueType],
        references: str | None,
        actor: str,
        at: datetime,
    ) -> asyncpg.Record:
        stored = await conn.fetchrow(
            "INSERT INTO alerts (identifier, incident_id, purpose, state, msg_type, status, cap_xml, short_texts,"
            " area_codes, channels, references_identifier, drafted_by, drafted_at)"
            " VALUES ($1, $2, $3, 'drafted', $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12) RETURNING *",
            alert.identifier,
            incident.incident_id,
            purpose,
            alert.msg_type.value,
            alert.status.value,
            render_cap(alert).decode(),
            json.dumps(short_texts, ensure_ascii=False),
            list(area_codes),
            [int(c) for c in channels],
            references,
            actor,
            at,
        )
        entry = timeline.audit(
            incident.incident_id,
            timeline.ALERT_DRAFTED,
            actor,
            max(at, incident.last_change),
            alert_identifier=alert.identifier,
            channels=[dispatch.Channel.Name(c) for c in channels],
            detail=f"{purpose} {alert.status.value} {alert.msg_type.value}",
        )
        await self._append(conn, incident, row, [entry])
        assert stored is not None
        return stored

    def _warnings(self, alert: Alert, recent: list[Alert]) -> list[pb.DuplicateAlertWarning]:
        return [
            pb.DuplicateAlertWarning(other_identifier=w.other.identifier, message=w.message)
            for w in duplicate_warnings(alert, recent)
        ]

    async def draft(self, request: pb.DraftAlertRequest, actor: str) -> Drafted:
        """Compose the alert for the incident's next stage; refused when invalid or over a channel's limit."""
        at = datetime.now(UTC).replace(microsecond=0)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._locked(conn, request.incident_id)
            incident = await self._aggregate(conn, request.incident_id)
            purpose = {Stage.STAGE_0: publishing.STAGE1, Stage.STAGE_1: publishing.STAGE2}.get(incident.stage)
            if purpose is None:
                hint = (
                    "confirm it first (ConfirmIncident)"
                    if incident.stage is Stage.REPORTED
                    else "use UpdateAlert or CancelAlert"
                )
                raise FailedPrecondition(
                    f"incident {incident.incident_id} is {incident.stage.value}; a new alert is drafted at stage_0 "
                    f"(first message) or stage_1 (second message); {hint}"
                )
            identifier = await self._next_identifier(conn, incident.incident_id)
            composed = compose(
                request,
                identifier=identifier,
                sender=self._sender,
                incident_id=incident.incident_id,
                incident_area=incident.area_codes,
                at=at,
            )
            if isinstance(composed, list):
                raise _invalid(composed)
            channels = publishing.channels_for(purpose)
            shown = self._check(composed.alert, channels, composed.short_texts)
            warnings = self._warnings(composed.alert, await self._recent_alerts(conn, at))
            area_codes = list(request.area_codes) or list(incident.area_codes)
            stored = await self._insert_alert(
                conn,
                alert=composed.alert,
                incident=incident,
                row=row,
                purpose=purpose,
                short_texts=composed.short_texts,
                area_codes=area_codes,
                channels=channels,
                references=None,
                actor=actor,
                at=at,
            )
        return Drafted(stored, shown, warnings)

    async def _issued_alert(self, conn: database.Connection, identifier: str) -> asyncpg.Record:
        row = await conn.fetchrow("SELECT * FROM alerts WHERE identifier = $1", identifier)
        if row is None:
            raise NotFound(f"no alert {identifier}")
        if row["state"] != "issued":
            raise FailedPrecondition(
                f"alert {identifier} is {row['state']}; only an issued alert can be updated or cancelled"
            )
        return row

    async def _issued_channels(self, conn: database.Connection, incident_id: str) -> list[dispatch.Channel.ValueType]:
        rows = await conn.fetch(
            "SELECT channels FROM alerts WHERE incident_id = $1 AND state = 'issued' ORDER BY issued_at", incident_id
        )
        return [dispatch.Channel.ValueType(c) for r in rows for c in r["channels"]]

    async def draft_update(self, references: str, texts: Sequence[pb.AlertText], reason: str, actor: str) -> Drafted:
        """An Update of an issued alert, as a new drafted alert referencing it (approved and issued like any)."""
        if not references.strip():
            raise InvalidArgument(
                FieldViolation("references", "an Update must name the issued alert it updates (CAP <references>)")
            )
        at = datetime.now(UTC).replace(microsecond=0)
        async with self._pool.acquire() as conn, conn.transaction():
            original_row = await self._issued_alert(conn, references)
            row = await self._locked(conn, original_row["incident_id"])
            incident = await self._aggregate(conn, row["incident_id"])
            if incident.stage not in {Stage.STAGE_1, Stage.STAGE_2, Stage.UPDATING}:
                raise FailedPrecondition(
                    f"incident {incident.incident_id} is {incident.stage.value}; it cannot be updated"
                )
            original = stored_alert(original_row)
            infos, shorts, problems = replaced_texts(original, texts)
            if problems:
                raise _invalid(problems)
            identifier = await self._next_identifier(conn, incident.incident_id)
            alert = derive_update(original, identifier=identifier, sent=at, infos=infos, note=reason or None)
            channels = publishing.channels_for(
                publishing.UPDATE, await self._issued_channels(conn, incident.incident_id)
            )
            shorts = shorts or json.loads(original_row["short_texts"])
            shown = self._check(alert, channels, shorts)
            stored = await self._insert_alert(
                conn,
                alert=alert,
                incident=incident,
                row=row,
                purpose=publishing.UPDATE,
                short_texts=shorts,
                area_codes=list(original_row["area_codes"]),
                channels=channels,
                references=references,
                actor=actor,
                at=at,
            )
        return Drafted(stored, shown, [])

    async def cancel(self, incident_id: str, references: str, reason: str, actor: str) -> asyncpg.Record | None:
        """Cancel: directly when no official message went out, else a drafted Cancel alert (None when direct)."""
        if not reason.strip():
            raise InvalidArgument(FieldViolation("reason", "a cancellation needs a reason"))
        at = datetime.now(UTC).replace(microsecond=0)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._locked(conn, incident_id)
            incident = await self._aggregate(conn, incident_id)
            if not references.strip():
                if incident.alert_identifiers:
                    raise InvalidArgument(
                        FieldViolation(
                            "references",
                            f"incident {incident_id} issued {', '.join(incident.alert_identifiers)}; name the alert "
                            "to cancel so the Cancel alert references it",
                        )
                    )
                with _refused_by_lifecycle():
                    decided = incident.cancel(actor=actor, at=max(at, incident.last_change), reason=reason)
                await self._append(conn, incident, row, [timeline.from_event(e) for e in decided])
                await conn.execute("UPDATE pages SET next_due_at = NULL WHERE incident_id = $1", incident_id)
                return None
            original_row = await self._issued_alert(conn, references)
            if original_row["incident_id"] != incident_id:
                raise InvalidArgument(
                    FieldViolation("references", f"alert {references} is not an alert of {incident_id}")
                )
            if incident.stage.terminal:
                raise FailedPrecondition(f"incident {incident_id} is already {incident.stage.value}")
            original = stored_alert(original_row)
            identifier = await self._next_identifier(conn, incident_id)
            alert = derive_cancel(original, identifier=identifier, sent=at, note=reason)
            channels = publishing.channels_for(publishing.CANCEL, await self._issued_channels(conn, incident_id))
            shorts = cancel_texts(original)
            self._check(alert, channels, shorts)
            return await self._insert_alert(
                conn,
                alert=alert,
                incident=incident,
                row=row,
                purpose=publishing.CANCEL,
                short_texts=shorts,
                area_codes=list(original_row["area_codes"]),
                channels=channels,
                references=references,
                actor=actor,
                at=at,
            )

    async def approve(self, identifier: str, approver: Person) -> tuple[asyncpg.Record, list[pb.DuplicateAlertWarning]]:
        """The two-person rule, enforced here: the approver is the caller, never the drafter of an Actual alert."""
        now = datetime.now(UTC)
        async with self._pool.acquire() as conn, conn.transaction():
            found = await conn.fetchrow("SELECT * FROM alerts WHERE identifier = $1 FOR UPDATE", identifier)
            if found is None:
                raise NotFound(f"no alert {identifier}")
            if found["state"] != "drafted":
                if found["approved_by"] == approver.id:
                    return found, []
                raise FailedPrecondition(
                    f"alert {identifier} was already approved by {found['approved_by']} and never changes"
                )
            row = await self._locked(conn, found["incident_id"])
            alert = stored_alert(found)
            approved_rows = await conn.fetch(
                "SELECT * FROM alerts WHERE incident_id = $1 AND approved_at IS NOT NULL", found["incident_id"]
            )
            approved_alerts = {r["identifier"]: stored_alert(r) for r in approved_rows}
            try:
                approve(alert, Person(found["drafted_by"]), approver, now, approved=approved_alerts)
            except ApprovalRefused as refused:
                if any("second person" in r or "may not approve" in r for r in refused.reasons):
                    raise PermissionDenied(str(refused)) from None
                raise FailedPrecondition(str(refused)) from None
            updated = await conn.fetchrow(
                "UPDATE alerts SET state = 'approved', approved_by = $2, approved_at = $3 WHERE identifier = $1"
                " RETURNING *",
                identifier,
                approver.id,
                now,
            )
            incident = await self._aggregate(conn, found["incident_id"])
            entry = timeline.audit(
                incident.incident_id,
                timeline.ALERT_APPROVED,
                approver.id,
                max(now, incident.last_change),
                alert_identifier=identifier,
                detail=f"drafted by {found['drafted_by']}",
            )
            await self._append(conn, incident, row, [entry])
            warnings = self._warnings(alert, await self._recent_alerts(conn, now))
        assert updated is not None
        return updated, warnings

    def _dispatches(self, alert_row: asyncpg.Record, alert: Alert, at: datetime) -> list[dispatch.DispatchRequested]:
        return publishing.alert_dispatches(
            alert,
            alert_row["incident_id"],
            alert_row["purpose"],
            [dispatch.Channel.ValueType(c) for c in alert_row["channels"]],
            list(alert_row["area_codes"]),
            json.loads(alert_row["short_texts"]),
            self.plan,
            at,
        )

    async def issue(self, identifier: str, actor: str) -> tuple[asyncpg.Record, list[str]]:
        """Publish an approved alert: the lifecycle move and one DispatchRequested per channel, once."""
        now = datetime.now(UTC)
        async with self._pool.acquire() as conn, conn.transaction():
            found = await conn.fetchrow("SELECT * FROM alerts WHERE identifier = $1 FOR UPDATE", identifier)
            if found is None:
                raise NotFound(f"no alert {identifier}")
            alert = stored_alert(found)
            if found["state"] == "issued":
                ids = [d.dispatch_id for d in self._dispatches(found, alert, found["issued_at"])]
                return found, ids
            if found["state"] != "approved":
                raise FailedPrecondition(
                    f"alert {identifier} is {found['state']}; it must be approved by a second person first"
                )
            row = await self._locked(conn, found["incident_id"])
            incident = await self._aggregate(conn, found["incident_id"])
            at = max(now, incident.last_change)
            names = [dispatch.Channel.Name(c) for c in found["channels"]]
            purpose = found["purpose"]
            with _refused_by_lifecycle():
                if purpose == publishing.STAGE1:
                    decided = incident.issue_first_message(
                        actor=actor, at=at, alert_identifier=identifier, channels=names
                    )
                elif purpose == publishing.STAGE2:
                    decided = incident.issue_second_message(
                        actor=actor, at=at, alert_identifier=identifier, channels=names
                    )
                elif purpose == publishing.UPDATE:
                    decided = incident.issue_update(
                        actor=actor, at=at, alert_identifier=identifier, reason=alert.note or ""
                    )
                else:
                    decided = incident.cancel(
                        actor=actor, at=at, reason=alert.note or "cancelled", alert_identifier=identifier
                    )
            await self._append(conn, incident, row, [timeline.from_event(e) for e in decided])
            requested = self._dispatches(found, alert, now)
            for message in requested:
                await self._dispatch(conn, message)
            if alert.msg_type is MsgType.CANCEL:
                await conn.execute("UPDATE pages SET next_due_at = NULL WHERE incident_id = $1", incident.incident_id)
            updated = await conn.fetchrow(
                "UPDATE alerts SET state = 'issued', issued_by = $2, issued_at = $3 WHERE identifier = $1 RETURNING *",
                identifier,
                actor,
                now,
            )
        assert updated is not None
        return updated, [m.dispatch_id for m in requested]

    # --- reading ------------------------------------------------------------------------------------------

    async def view(self, incident_id: str) -> IncidentView:
        async with self._pool.acquire() as conn:
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
        row = await self._pool.fetchrow("SELECT * FROM incidents WHERE incident_id = $1", incident_id)
        if row is None:
            raise NotFound(f"no incident {incident_id}")
        page = await self._pool.fetchrow("SELECT * FROM pages WHERE incident_id = $1", incident_id)
        return row, page

    async def entries_after(self, incident_id: str, after: int) -> list[Entry]:
        async with self._pool.acquire() as conn:
            return await self._entries(conn, incident_id, after)

    async def alert(self, identifier: str) -> asyncpg.Record:
        row = await self._pool.fetchrow("SELECT * FROM alerts WHERE identifier = $1", identifier)
        if row is None:
            raise NotFound(f"no alert {identifier}")
        return row

    async def listing(self, open_only: bool, limit: int) -> list[tuple[asyncpg.Record, asyncpg.Record | None]]:
        rows = await self._pool.fetch(
            "SELECT i.*, p.level AS page_level, p.acknowledged_by AS page_acknowledged_by,"
            " p.next_due_at AS page_next_due_at, p.incident_id AS page_incident FROM incidents i"
            " LEFT JOIN pages p USING (incident_id)"
            " WHERE NOT $1 OR i.stage NOT IN ('all_clear', 'cancelled') ORDER BY i.reported_at DESC LIMIT $2",
            open_only,
            limit,
        )
        return [(row, None) for row in rows]

    async def issued_alerts(self) -> list[Alert]:
        """Every issued alert (the feed filters to the active ones)."""
        rows = await self._pool.fetch(
            "SELECT cap_xml, identifier FROM alerts WHERE state = 'issued' ORDER BY issued_at"
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
        async with self._pool.acquire() as conn, conn.transaction():
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

    async def group_report(
        self,
        consumer: str,
        event_id: str,
        *,
        submission_id: str,
        tracking_id: str,
        hazard: str,
        district_code: str,
        received_at: datetime,
        window: timedelta,
    ) -> tuple[str, bool] | None:
        """Group a citizens' disaster report into an open incident of the same hazard and district seen within
        `window`, or start a candidate incident; (incident id, created), or None for a redelivered report."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await dedup.first_time(conn, consumer, event_id):
                return None
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"group:{hazard}:{district_code}")
            found = await conn.fetchrow(
                "SELECT * FROM incidents WHERE hazard = $1 AND $2 = ANY(area_codes)"
                " AND stage NOT IN ('all_clear', 'cancelled')"
                " AND COALESCE(last_report_at, reported_at) >= $3 ORDER BY reported_at DESC LIMIT 1 FOR UPDATE",
                hazard,
                district_code,
                received_at - window,
            )
            actor = f"citizen:{tracking_id}"
            if found is None:
                incident, row = await self._create(
                    conn,
                    actor="system:grouping",
                    hazard=hazard,
                    area_codes=[district_code],
                    summary=f"citizens' reports of {hazard} in {area_names([district_code])}",
                    source="citizens",
                    request_key=None,
                    at=datetime.now(UTC),
                )
                created = True
            else:
                row = found
                incident = await self._aggregate(conn, found["incident_id"])
                created = False
            await conn.execute(
                "INSERT INTO citizen_reports"
                " (submission_id, incident_id, tracking_id, hazard, district_code, received_at)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                submission_id,
                incident.incident_id,
                tracking_id,
                hazard,
                district_code,
                received_at,
            )
            await conn.execute(
                "UPDATE incidents SET last_report_at = GREATEST(last_report_at, $2) WHERE incident_id = $1",
                incident.incident_id,
                received_at,
            )
            row = await self._locked(conn, incident.incident_id)
            with _refused_by_lifecycle():
                decided = incident.add_note(
                    actor=actor,
                    at=max(datetime.now(UTC), incident.last_change),
                    note=f"citizens' report {tracking_id} ({hazard}, {area_names([district_code])})",
                )
            await self._append(conn, incident, row, [timeline.from_event(e) for e in decided])
            return incident.incident_id, created

    async def take_feedback(
        self,
        consumer: str,
        event_id: str,
        *,
        submission_id: str,
        tracking_id: str,
        text: str,
        district_code: str,
        received_at: datetime,
    ) -> str | None:
        """Tag a submission with the incident whose second message reached its district, if any; shown once
        moderation publishes it (maybe already, when the decision came first). The tagged incident id or None."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await dedup.first_time(conn, consumer, event_id):
                return None
            incident_id = await conn.fetchval(
                "SELECT incident_id FROM incidents WHERE $1 = ANY(area_codes) AND stage IN ('stage_2', 'updating')"
                " ORDER BY reported_at DESC LIMIT 1",
                district_code,
            )
            if incident_id is None:
                return None
            await conn.execute(
                "INSERT INTO feedback (submission_id, incident_id, tracking_id, text, received_at)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                submission_id,
                incident_id,
                tracking_id,
                text,
                received_at,
            )
            outcome = await conn.fetchrow("SELECT * FROM moderation_outcomes WHERE submission_id = $1", submission_id)
            if outcome is not None and outcome["published"]:
                await self._show_feedback(conn, submission_id, outcome["masked_text"])
            return str(incident_id)

    async def moderated(
        self, consumer: str, event_id: str, submission_id: str, published: bool, masked_text: str
    ) -> bool:
        """Remember moderation's verdict; a published submission tagged with an incident joins its timeline."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await dedup.first_time(conn, consumer, event_id):
                return False
            await conn.execute(
                "INSERT INTO moderation_outcomes (submission_id, published, masked_text, decided_at)"
                " VALUES ($1, $2, $3, now()) ON CONFLICT (submission_id) DO UPDATE SET published = EXCLUDED.published,"
                " masked_text = EXCLUDED.masked_text, decided_at = now()",
                submission_id,
                published,
                masked_text,
            )
            if published:
                await self._show_feedback(conn, submission_id, masked_text)
            return True

    async def _show_feedback(self, conn: database.Connection, submission_id: str, masked_text: str) -> None:
        item = await conn.fetchrow(
            "SELECT * FROM feedback WHERE submission_id = $1 AND shown_at IS NULL FOR UPDATE", submission_id
        )
        if item is None:
            return
        row = await self._locked(conn, item["incident_id"])
        incident = await self._aggregate(conn, item["incident_id"])
        if incident.stage.terminal:
            return
        now = max(datetime.now(UTC), incident.last_change)
        with _refused_by_lifecycle():
            decided = incident.add_note(
                actor=f"citizen:{item['tracking_id']}", at=now, note=masked_text or item["text"]
            )
        await self._append(conn, incident, row, [timeline.from_event(e) for e in decided])
        await conn.execute("UPDATE feedback SET shown_at = $2 WHERE submission_id = $1", submission_id, now)


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


def cancel_texts(original: Alert) -> dict[str, str]:
    """Short texts of a cancellation (SMS, cell broadcast): which message is withdrawn, in each language."""
    found = {}
    for info in original.infos:
        language = info.language.split("-")[0].lower()
        headline = info.headline or info.event
        found[language] = f"{headline} 안내를 취소합니다." if language == "ko" else f"Withdrawn: {headline}."
    return found


def actionable(alert: Alert) -> bool:
    return alert.status is Status.ACTUAL and alert.msg_type is MsgType.ALERT
