"""Citizens' input to incidents: disaster reports grouped into candidate incidents, and moderated feedback.

Both consumers dedup on the event id in the same transaction as their effect, so a redelivered event changes
nothing twice. Feedback is only shown once moderation published it, whichever of the two events came first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sotong_alerting import timeline
from sotong_alerting.store import IncidentStore, area_names, refused_by_lifecycle
from sotong_common import database, dedup


class CitizenInput:
    def __init__(self, log: IncidentStore) -> None:
        self._log = log

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
        async with self._log.pool.acquire() as conn, conn.transaction():
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
                incident, row = await self._log.create(
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
                incident = await self._log.aggregate(conn, found["incident_id"])
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
            row = await self._log.locked(conn, incident.incident_id)
            with refused_by_lifecycle():
                decided = incident.add_note(
                    actor=actor,
                    at=max(datetime.now(UTC), incident.last_change),
                    note=f"citizens' report {tracking_id} ({hazard}, {area_names([district_code])})",
                )
            await self._log.append(conn, incident, row, [timeline.from_event(e) for e in decided])
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
        async with self._log.pool.acquire() as conn, conn.transaction():
            await _serialize_submission(conn, submission_id)
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
        async with self._log.pool.acquire() as conn, conn.transaction():
            await _serialize_submission(conn, submission_id)
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
        row = await self._log.locked(conn, item["incident_id"])
        incident = await self._log.aggregate(conn, item["incident_id"])
        if incident.stage.terminal:
            return
        now = max(datetime.now(UTC), incident.last_change)
        with refused_by_lifecycle():
            decided = incident.add_note(
                actor=f"citizen:{item['tracking_id']}", at=now, note=masked_text or item["text"]
            )
        await self._log.append(conn, incident, row, [timeline.from_event(e) for e in decided])
        await conn.execute("UPDATE feedback SET shown_at = $2 WHERE submission_id = $1", submission_id, now)


async def _serialize_submission(conn: database.Connection, submission_id: str) -> None:
    """Take a transaction lock on one submission before tagging it or recording its moderation.

    The submission and its decision arrive on different topics, handled concurrently. Without the lock, each
    transaction can miss the other's uncommitted row (the feedback row, the moderation outcome) and neither shows
    the feedback; with it the second one waits, then sees the first one's committed row.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('alerting.feedback:' || $1))", submission_id)
