"""Opinion leaders and briefings in PostgreSQL; the approval hands the briefing to the publishing service through
the outbox in its own transaction (one dispatch per channel, each leader a sealed target, `not_before` = the
embargo), so an approval is either recorded with its dispatches or not at all."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from sotong.intake.v1 import intake_service_pb2 as ipb
from sotong.intake.v1 import intake_types_pb2 as itypes
from sotong.publishing.v1 import publishing_events_pb2 as ppb
from sotong_common import at_rest, database, events, outbox, topics
from sotong_common.at_rest import KeyRing
from sotong_common.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from sotong_common.sealing import Sealer
from sotong_community import briefings
from sotong_community.announcements import SOURCE, ts

Conn = database.Connection
CHANNEL = {"sms": ppb.CHANNEL_SMS, "kakao": ppb.CHANNEL_KAKAO_BOT, "mail": ppb.CHANNEL_PRESS_MAIL}
OUTCOME = {
    ppb.DELIVERY_OUTCOME_DELIVERED: "delivered",
    ppb.DELIVERY_OUTCOME_FAILED: "failed",
    ppb.DELIVERY_OUTCOME_DEAD_LETTERED: "dead_lettered",
}
_NAMESPACE = uuid.UUID("6b0f37a4-2c8e-4f4e-9f57-1f5b0f1a9c21")


@dataclass(frozen=True)
class NewLeader:
    name: str
    organisation: str
    field: str
    district_code: str
    channel: str
    contact: str
    consent_purpose: str
    consent_expires_at: datetime


def _context(leader_id: uuid.UUID) -> bytes:
    return f"sotong.community.leader.v1|{leader_id}".encode()


class BriefingStore:
    def __init__(self, pool: asyncpg.Pool, keys: KeyRing | None, sealer: Sealer | None) -> None:
        self.pool = pool
        self.keys = keys
        self.sealer = sealer

    def _ready(self) -> tuple[KeyRing, Sealer]:
        if self.keys is None or self.sealer is None:
            raise FailedPrecondition(
                "briefings need SOTONG_COMMUNITY_CONTACT_KEYS and SOTONG_PUBLISHING_SEAL_PUBLIC_KEYS"
            )
        return self.keys, self.sealer

    def personal(self, row: asyncpg.Record) -> dict[str, str]:
        keys, _ = self._ready()
        opened = at_rest.open_sealed(at_rest.Sealed.from_bytes(row["personal"]), keys, _context(row["leader_id"]),
                                     what="leader")  # fmt: skip
        found: dict[str, str] = json.loads(opened)
        return found

    async def register(self, caller: str, new: NewLeader, request_id: str) -> tuple[asyncpg.Record, bool]:
        keys, _ = self._ready()
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM leaders WHERE created_by = $1 AND request_id = $2", caller, request_id
            )
            if existing is not None:
                return existing, False
            leader_id = uuid.uuid4()
            sealed = at_rest.seal(json.dumps({"name": new.name, "contact": new.contact}).encode(), keys,
                                  _context(leader_id))  # fmt: skip
            row = await conn.fetchrow(
                "INSERT INTO leaders (leader_id, personal, organisation, field, district_code, channel,"
                " consent_purpose, consent_expires_at, created_by, request_id)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *",
                leader_id,
                sealed.to_bytes(),
                new.organisation,
                new.field,
                new.district_code,
                new.channel,
                new.consent_purpose,
                new.consent_expires_at,
                caller,
                request_id,
            )
            assert row is not None
            return row, True

    async def draft(
        self, caller: str, title: str, body: str, embargo: datetime | None, leaders: list[uuid.UUID], request_id: str
    ) -> tuple[asyncpg.Record, bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM briefings WHERE drafted_by = $1 AND request_id = $2", caller, request_id
            )
            if existing is not None:
                return existing, False
            known = {r["leader_id"] for r in await conn.fetch(
                "SELECT leader_id FROM leaders WHERE leader_id = ANY($1::uuid[])", leaders)}  # fmt: skip
            missing = [i for i, leader in enumerate(leaders) if leader not in known]
            if missing:
                raise InvalidArgument([FieldViolation(f"leader_ids[{i}]", "no such leader") for i in missing])
            briefing_id = uuid.uuid4()
            row = await conn.fetchrow(
                "INSERT INTO briefings (briefing_id, title, body, embargo_until, status, drafted_by, request_id)"
                " VALUES ($1, $2, $3, $4, 'draft', $5, $6) RETURNING *",
                briefing_id,
                title,
                body,
                embargo,
                caller,
                request_id,
            )
            await conn.execute(
                "INSERT INTO briefing_recipients (briefing_id, leader_id) SELECT $1, unnest($2::uuid[])",
                briefing_id,
                sorted(set(leaders)),
            )
            assert row is not None
            return row, True

    async def get(self, briefing_id: uuid.UUID) -> tuple[asyncpg.Record, list[asyncpg.Record]]:
        row = await self.pool.fetchrow("SELECT * FROM briefings WHERE briefing_id = $1", briefing_id)
        if row is None:
            raise NotFound(f"no briefing {briefing_id}")
        recipients = await self.pool.fetch(
            "SELECT * FROM briefing_recipients WHERE briefing_id = $1 ORDER BY leader_id", briefing_id
        )
        return row, list(recipients)

    async def approve(self, briefing_id: uuid.UUID, caller: str) -> asyncpg.Record:
        _, sealer = self._ready()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT * FROM briefings WHERE briefing_id = $1 FOR UPDATE", briefing_id)
            if row is None:
                raise NotFound(f"no briefing {briefing_id}")
            if row["status"] == "approved":
                return row
            now = datetime.now(UTC)
            deliver_at = max(row["embargo_until"] or now, now)
            leaders = await conn.fetch(
                "SELECT l.* FROM leaders l JOIN briefing_recipients r USING (leader_id) WHERE r.briefing_id = $1"
                " ORDER BY l.leader_id",
                briefing_id,
            )
            by_channel: dict[str, list[ppb.SealedTarget]] = defaultdict(list)
            lapsed = []
            for leader in leaders:
                if not briefings.consented(leader["consent_expires_at"], deliver_at):
                    lapsed.append(leader["leader_id"])
                    continue
                contact = self.personal(leader)["contact"]
                ref = briefings.leader_ref(str(leader["leader_id"]))
                sealed = sealer.seal(briefings.address(leader["channel"], contact), ref)
                by_channel[leader["channel"]].append(
                    ppb.SealedTarget(key_id=sealed.key_id, ciphertext=sealed.ciphertext, ref=sealed.ref)
                )
            if lapsed:
                await conn.execute(
                    "UPDATE briefing_recipients SET delivery = 'consent_expired' WHERE briefing_id = $1"
                    " AND leader_id = ANY($2::uuid[])",
                    briefing_id,
                    lapsed,
                )
            for channel, targets in sorted(by_channel.items()):
                await _dispatch(conn, row, channel, targets)
            approved = await conn.fetchrow(
                "UPDATE briefings SET status = 'approved', approved_by = $2, approved_at = now()"
                " WHERE briefing_id = $1 RETURNING *",
                briefing_id,
                caller,
            )
            assert approved is not None
            return approved

    async def rsvp(self, briefing_id: uuid.UUID, leader_id: uuid.UUID, answer: str) -> bool:
        row = await self.pool.fetchval(
            "UPDATE briefing_recipients SET rsvp = $3 WHERE briefing_id = $1 AND leader_id = $2"
            " AND rsvp IS DISTINCT FROM $3 RETURNING 1",
            briefing_id,
            leader_id,
            answer,
        )
        if row is None:
            await self._recipient(briefing_id, leader_id)
        return bool(row == 1)

    async def _recipient(self, briefing_id: uuid.UUID, leader_id: uuid.UUID) -> asyncpg.Record:
        found = await self.pool.fetchrow(
            "SELECT * FROM briefing_recipients WHERE briefing_id = $1 AND leader_id = $2", briefing_id, leader_id
        )
        if found is None:
            raise NotFound(f"leader {leader_id} is not a recipient of briefing {briefing_id}")
        return found

    async def reply(self, briefing_id: uuid.UUID, leader_id: uuid.UUID, text: str, district_code: str) -> bool:
        """File the reply with intake as an opinion, once per text (the digest is kept on the recipient)."""
        message_id = briefings.reply_channel_message_id(str(briefing_id), str(leader_id), text)
        async with self.pool.acquire() as conn, conn.transaction():
            recipient = await conn.fetchrow(
                "SELECT * FROM briefing_recipients WHERE briefing_id = $1 AND leader_id = $2 FOR UPDATE",
                briefing_id,
                leader_id,
            )
            if recipient is None:
                raise NotFound(f"leader {leader_id} is not a recipient of briefing {briefing_id}")
            if recipient["reply_digest"] == message_id:
                return False
            request = ipb.SubmitReportRequest(
                kind=itypes.SUBMISSION_KIND_OPINION, text=text, channel="app", channel_message_id=message_id
            )
            if district_code:
                request.district_code = district_code
            topic = topics.RAW_SUBMISSION
            await outbox.add(conn, topic, message_id, request, events.EventMetadata.new(topic, SOURCE))
            await conn.execute(
                "UPDATE briefing_recipients SET reply_digest = $3 WHERE briefing_id = $1 AND leader_id = $2",
                briefing_id,
                leader_id,
                message_id,
            )
            return True


async def _dispatch(conn: Conn, row: asyncpg.Record, channel: str, targets: list[ppb.SealedTarget]) -> None:
    dispatch_id = str(uuid.uuid5(_NAMESPACE, f"{row['briefing_id']}|{channel}"))
    message = ppb.DispatchRequested(
        dispatch_id=dispatch_id,
        message_id=briefings.message_id(str(row["briefing_id"])),
        thread_id=f"community:briefing:{row['briefing_id']}",
        channel=CHANNEL[channel],
        priority=ppb.PRIORITY_ROUTINE,
        purpose="briefing",
        audience=ppb.Audience(sealed_targets=targets),
        renderings=[ppb.Rendering(language="ko", title=row["title"], body=row["body"])],
        requested_at=ts(datetime.now(UTC)),
        requester="community",
    )
    if row["embargo_until"] is not None:
        message.not_before.CopyFrom(ts(row["embargo_until"]))
    topic = topics.COMMUNITY_DISPATCH
    await outbox.add(conn, topic, dispatch_id, message, events.EventMetadata.new(topic, SOURCE, event_id=dispatch_id))


async def record_receipts(conn: Conn, receipts: list[tuple[str, str, str, datetime]]) -> int:
    """(briefing id, leader id, outcome, at) from publishing's receipts; a delivery is never undone by a later
    failure report of the same leader."""
    changed = 0
    for briefing_id, leader_id, outcome, at in receipts:
        try:
            b, leader = uuid.UUID(briefing_id), uuid.UUID(leader_id)
        except ValueError:
            continue
        result = await conn.execute(
            "UPDATE briefing_recipients SET delivery = $3, delivered_at = CASE WHEN $3 = 'delivered' THEN $4"
            " ELSE delivered_at END WHERE briefing_id = $1 AND leader_id = $2 AND delivery <> 'delivered'",
            b,
            leader,
            outcome,
            at,
        )
        changed += int(result.split()[-1])
    return changed


async def record_reply_tracking(conn: Conn, briefing_id: str, leader_id: str, tracking_id: str) -> None:
    try:
        b, leader = uuid.UUID(briefing_id), uuid.UUID(leader_id)
    except ValueError:
        return
    await conn.execute(
        "UPDATE briefing_recipients SET reply_tracking_id = $3 WHERE briefing_id = $1 AND leader_id = $2",
        b,
        leader,
        tracking_id,
    )


def personal_view(data: dict[str, Any]) -> tuple[str, str]:
    return str(data.get("name", "")), str(data.get("contact", ""))
