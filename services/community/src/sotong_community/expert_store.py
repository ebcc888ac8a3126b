"""Experts, panels, invitations and RSVPs in PostgreSQL. An invitation is one transaction: the invitees (members
whose consent holds at the meeting) and one mail dispatch through the publishing service, each address sealed
with the ref `community:expert:<id>`."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from sotong.publishing.v1 import publishing_events_pb2 as ppb
from sotong_common import at_rest, events, outbox, topics
from sotong_common.at_rest import KeyRing
from sotong_common.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from sotong_common.sealing import Sealer
from sotong_community import experts
from sotong_community.announcements import SOURCE, ts

_NAMESPACE = uuid.UUID("2d9c5f0e-7a41-4d3b-8e0c-5b6a7c8d9e10")


@dataclass(frozen=True)
class NewExpert:
    name: str
    email: str
    organisation: str
    country: str
    languages: list[str]
    fields: list[str]
    consent_purpose: str
    consent_expires_at: datetime


def _context(expert_id: uuid.UUID) -> bytes:
    return f"sotong.community.expert.v1|{expert_id}".encode()


class ExpertStore:
    def __init__(self, pool: asyncpg.Pool, keys: KeyRing | None, sealer: Sealer | None) -> None:
        self.pool = pool
        self.keys = keys
        self.sealer = sealer

    def _ready(self) -> tuple[KeyRing, Sealer]:
        if self.keys is None or self.sealer is None:
            raise FailedPrecondition(
                "experts need SOTONG_COMMUNITY_CONTACT_KEYS and SOTONG_PUBLISHING_SEAL_PUBLIC_KEYS"
            )
        return self.keys, self.sealer

    def personal(self, row: asyncpg.Record) -> dict[str, str]:
        keys, _ = self._ready()
        opened = at_rest.open_sealed(at_rest.Sealed.from_bytes(row["personal"]), keys, _context(row["expert_id"]),
                                     what="expert")  # fmt: skip
        found: dict[str, str] = json.loads(opened)
        return found

    async def register(self, caller: str, new: NewExpert, request_id: str) -> tuple[asyncpg.Record, bool]:
        keys, _ = self._ready()
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM experts WHERE created_by = $1 AND request_id = $2", caller, request_id
            )
            if existing is not None:
                return existing, False
            expert_id = uuid.uuid4()
            sealed = at_rest.seal(json.dumps({"name": new.name, "email": new.email}).encode(), keys,
                                  _context(expert_id))  # fmt: skip
            row = await conn.fetchrow(
                "INSERT INTO experts (expert_id, personal, organisation, country, languages, fields, consent_purpose,"
                " consent_expires_at, created_by, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                " RETURNING *",
                expert_id,
                sealed.to_bytes(),
                new.organisation,
                new.country,
                new.languages,
                new.fields,
                new.consent_purpose,
                new.consent_expires_at,
                caller,
                request_id,
            )
            assert row is not None
            return row, True

    async def search(self, field: str, language: str, now: datetime) -> list[asyncpg.Record]:
        return list(
            await self.pool.fetch(
                "SELECT * FROM experts WHERE consent_expires_at > $3 AND ($1 = '' OR $1 = ANY(fields))"
                " AND ($2 = '' OR $2 = ANY(languages)) ORDER BY country, expert_id",
                field,
                language,
                now,
            )
        )

    async def create_panel(
        self, caller: str, title: str, field: str, members: list[uuid.UUID], request_id: str
    ) -> tuple[asyncpg.Record, list[uuid.UUID], bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM panels WHERE created_by = $1 AND request_id = $2", caller, request_id
            )
            if existing is None:
                known = {r["expert_id"] for r in await conn.fetch(
                    "SELECT expert_id FROM experts WHERE expert_id = ANY($1::uuid[])", members)}  # fmt: skip
                missing = [i for i, m in enumerate(members) if m not in known]
                if missing:
                    raise InvalidArgument([FieldViolation(f"panel.expert_ids[{i}]", "no such expert") for i in missing])
                existing = await conn.fetchrow(
                    "INSERT INTO panels (panel_id, title, field, created_by, request_id) VALUES ($1, $2, $3, $4, $5)"
                    " RETURNING *",
                    uuid.uuid4(),
                    title,
                    field,
                    caller,
                    request_id,
                )
                assert existing is not None
                await conn.execute(
                    "INSERT INTO panel_members (panel_id, expert_id) SELECT $1, unnest($2::uuid[])",
                    existing["panel_id"],
                    sorted(set(members)),
                )
                created = True
            else:
                created = False
            rows = await conn.fetch(
                "SELECT expert_id FROM panel_members WHERE panel_id = $1 ORDER BY expert_id", existing["panel_id"]
            )
            return existing, [r["expert_id"] for r in rows], created

    async def invite(
        self, caller: str, panel_id: uuid.UUID, title: str, starts_at: datetime, request_id: str
    ) -> tuple[asyncpg.Record, list[str], bool]:
        _, sealer = self._ready()
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM panel_invitations WHERE created_by = $1 AND request_id = $2", caller, request_id
            )
            if existing is not None:
                return existing, [], False
            panel = await conn.fetchrow("SELECT * FROM panels WHERE panel_id = $1", panel_id)
            if panel is None:
                raise NotFound(f"no panel {panel_id}")
            members = await conn.fetch(
                "SELECT e.* FROM experts e JOIN panel_members m USING (expert_id) WHERE m.panel_id = $1"
                " ORDER BY e.expert_id",
                panel_id,
            )
            invited = [m for m in members if experts.in_force(m["consent_expires_at"], starts_at)]
            lapsed = [str(m["expert_id"]) for m in members if m not in invited]
            invitation = await conn.fetchrow(
                "INSERT INTO panel_invitations (invitation_id, panel_id, title, starts_at, created_by, request_id)"
                " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                uuid.uuid4(),
                panel_id,
                title,
                starts_at,
                caller,
                request_id,
            )
            assert invitation is not None
            await conn.execute(
                "INSERT INTO panel_invitees (invitation_id, expert_id) SELECT $1, unnest($2::uuid[])",
                invitation["invitation_id"],
                [m["expert_id"] for m in invited],
            )
            if invited:
                targets = []
                for m in invited:
                    sealed = sealer.seal(self.personal(m)["email"], f"community:expert:{m['expert_id']}")
                    targets.append(ppb.SealedTarget(key_id=sealed.key_id, ciphertext=sealed.ciphertext,
                                                    ref=sealed.ref))  # fmt: skip
                dispatch_id = str(uuid.uuid5(_NAMESPACE, str(invitation["invitation_id"])))
                message = ppb.DispatchRequested(
                    dispatch_id=dispatch_id,
                    message_id=f"panel-invitation:{invitation['invitation_id']}",
                    thread_id=f"community:panel:{panel_id}",
                    channel=ppb.CHANNEL_PRESS_MAIL,
                    priority=ppb.PRIORITY_ROUTINE,
                    purpose="panel_invitation",
                    audience=ppb.Audience(sealed_targets=targets),
                    renderings=[ppb.Rendering(language="ko", title=f"[서울시 자문단] {title}",
                                              body=f"{panel['title']} 회의에 초대합니다: "
                                              f"{starts_at:%Y-%m-%d %H:%M} UTC")],
                    requested_at=ts(datetime.now(UTC)),
                    requester="community",
                )  # fmt: skip
                topic = topics.COMMUNITY_DISPATCH
                await outbox.add(conn, topic, dispatch_id, message,
                                 events.EventMetadata.new(topic, SOURCE, event_id=dispatch_id))  # fmt: skip
            return invitation, lapsed, True

    async def rsvp(self, invitation_id: uuid.UUID, expert_id: uuid.UUID, answer: str) -> None:
        row = await self.pool.fetchval(
            "UPDATE panel_invitees SET rsvp = $3 WHERE invitation_id = $1 AND expert_id = $2 RETURNING 1",
            invitation_id,
            expert_id,
            answer,
        )
        if row is None:
            raise NotFound(f"expert {expert_id} is not invited by {invitation_id}")

    async def invitation(self, invitation_id: uuid.UUID) -> tuple[asyncpg.Record, dict[str, str]]:
        row = await self.pool.fetchrow("SELECT * FROM panel_invitations WHERE invitation_id = $1", invitation_id)
        if row is None:
            raise NotFound(f"no invitation {invitation_id}")
        invitees = await self.pool.fetch("SELECT * FROM panel_invitees WHERE invitation_id = $1", invitation_id)
        return row, {str(r["expert_id"]): r["rsvp"] for r in invitees if r["rsvp"]}
