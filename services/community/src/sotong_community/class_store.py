"""SNS classes in PostgreSQL: the catalogue, enrolments, the waitlist and its offers, attendance, reminders.

Every change of a class's seats takes the class row's lock first and changes its counters in the same
transaction (a CHECK keeps enrolled + offered <= capacity even against a bug here). An offer is one transaction:
the enrolment becomes `offered` with its deadline and the notice to the person goes into the outbox
(community.dispatch-requested.v1, SMS or KakaoTalk through the publishing service, the contact sealed to the
engine), with a dispatch id derived from the enrolment and its offer number; so a crash before the commit
offers nothing and sends nothing, a crash after it has both, and the engine delivers each dispatch once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from sotong.publishing.v1 import publishing_events_pb2 as ppb
from sotong_common import at_rest, database, events, outbox, topics
from sotong_common.at_rest import KeyRing
from sotong_common.errors import FailedPrecondition, NotFound, PermissionDenied
from sotong_common.sealing import Sealer
from sotong_community import classes
from sotong_community.announcements import SOURCE, ts

Conn = database.Connection
_NAMESPACE = uuid.UUID("0f6f1c1e-5d43-4b0e-9a51-3c1a2f7e8b12")


@dataclass(frozen=True)
class Contact:
    phone: str
    kakao_user_key: str

    def target(self, channel: str) -> tuple[ppb.Channel.ValueType, str]:
        """KakaoTalk for who enrolled through the city's KakaoTalk channel, else SMS."""
        if channel == "kakao" and self.kakao_user_key:
            return ppb.CHANNEL_KAKAO_BOT, self.kakao_user_key
        return ppb.CHANNEL_SMS, classes.phone_digits(self.phone)


@dataclass(frozen=True)
class NewClass:
    title: str
    level: str
    venue: dict[str, Any]
    instructor: str
    sessions: list[tuple[datetime, int]]
    capacity: int
    min_age: int
    waitlist: bool
    offer_hold: timedelta


def _context(enrolment_id: uuid.UUID) -> bytes:
    return f"sotong.community.class-contact.v1|{enrolment_id}".encode()


class ClassStore:
    def __init__(self, pool: asyncpg.Pool, keys: KeyRing | None, sealer: Sealer | None) -> None:
        self.pool = pool
        self.keys = keys
        self.sealer = sealer

    def _ready(self) -> tuple[KeyRing, Sealer]:
        if self.keys is None or self.sealer is None:
            raise FailedPrecondition(
                "classes need SOTONG_COMMUNITY_CONTACT_KEYS and SOTONG_PUBLISHING_SEAL_PUBLIC_KEYS to keep and reach"
                " contacts"
            )
        return self.keys, self.sealer

    def person_of_phone(self, class_id: uuid.UUID, phone: str) -> str:
        """A person enrolled by phone: a keyed hash of the number (per class), so the number is never a key."""
        keys, _ = self._ready()
        digest = hmac.new(keys.keys[keys.current], f"{class_id}|{classes.phone_digits(phone)}".encode(), hashlib.sha256)
        return "phone:" + digest.hexdigest()[:32]

    async def create(self, caller: str, new: NewClass, request_id: str) -> tuple[asyncpg.Record, bool]:
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM classes WHERE created_by = $1 AND request_id = $2", caller, request_id
            )
            if existing is not None:
                return existing, False
            row = await conn.fetchrow(
                "INSERT INTO classes (class_id, title, level, venue, district_code, instructor, sessions,"
                " first_session, capacity, min_age, waitlist, offer_hold_s, created_by, request_id)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING *",
                uuid.uuid4(),
                new.title,
                new.level,
                json.dumps(new.venue),
                new.venue.get("district_code", ""),
                new.instructor,
                json.dumps([{"starts_at": at.isoformat(), "minutes": minutes} for at, minutes in new.sessions]),
                new.sessions[0][0],
                new.capacity,
                new.min_age,
                new.waitlist,
                int(new.offer_hold.total_seconds()),
                caller,
                request_id,
            )
            assert row is not None
            return row, True

    async def get(self, class_id: uuid.UUID) -> asyncpg.Record:
        row = await self.pool.fetchrow("SELECT * FROM classes WHERE class_id = $1", class_id)
        if row is None:
            raise NotFound(f"no class {class_id}")
        return row

    async def find(self, district_code: str, level: str) -> list[asyncpg.Record]:
        return list(
            await self.pool.fetch(
                "SELECT * FROM classes WHERE ($1 = '' OR district_code = $1) AND ($2 = '' OR level = $2)"
                " ORDER BY first_session, class_id",
                district_code,
                level,
            )
        )

    async def enrol(
        self,
        class_id: uuid.UUID,
        person: str,
        channel: str,
        birth_year: int,
        contact: Contact,
        caller: str,
        request_id: str,
    ) -> tuple[asyncpg.Record, bool]:
        keys, _ = self._ready()
        async with self.pool.acquire() as conn, conn.transaction():
            existing = await conn.fetchrow(
                "SELECT * FROM enrolments WHERE enrolled_by = $1 AND request_id = $2", caller, request_id
            )
            if existing is not None:
                return existing, False
            course = await conn.fetchrow("SELECT * FROM classes WHERE class_id = $1 FOR UPDATE", class_id)
            if course is None:
                raise NotFound(f"no class {class_id}")
            live = await conn.fetchrow(
                "SELECT * FROM enrolments WHERE class_id = $1 AND person = $2"
                " AND status IN ('enrolled', 'waitlisted', 'offered')",
                class_id,
                person,
            )
            if live is not None:
                return live, False
            problem = classes.eligibility_problem(course["min_age"], birth_year, course["first_session"])
            if problem is not None:
                raise FailedPrecondition(problem)
            seats = classes.Seats(course["capacity"], course["enrolled"], course["offered"], course["waitlisted"])
            status = classes.placement(seats, course["waitlist"])
            if status is None:
                raise FailedPrecondition("class_id: the class is full and keeps no waitlist")
            enrolment_id = uuid.uuid4()
            sealed = at_rest.seal(json.dumps(contact.__dict__).encode(), keys, _context(enrolment_id))
            waiting = status == classes.WAITLISTED
            updated = await conn.fetchrow(
                "UPDATE classes SET arrivals = arrivals + 1, enrolled = enrolled + $2, waitlisted = waitlisted + $3,"
                " last_position = last_position + $3 WHERE class_id = $1 RETURNING arrivals, last_position",
                class_id,
                0 if waiting else 1,
                1 if waiting else 0,
            )
            assert updated is not None
            row = await conn.fetchrow(
                "INSERT INTO enrolments (enrolment_id, class_id, person, channel, status, arrival, position, contact,"
                " enrolled_by, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *",
                enrolment_id,
                class_id,
                person,
                channel,
                status,
                updated["arrivals"],
                updated["last_position"] if waiting else 0,
                sealed.to_bytes(),
                caller,
                request_id,
            )
            assert row is not None
            return row, True

    async def enrolment(self, enrolment_id: uuid.UUID) -> asyncpg.Record:
        row = await self.pool.fetchrow("SELECT * FROM enrolments WHERE enrolment_id = $1", enrolment_id)
        if row is None:
            raise NotFound(f"no enrolment {enrolment_id}")
        return row

    async def enrolments(self, class_id: uuid.UUID) -> list[asyncpg.Record]:
        return list(await self.pool.fetch("SELECT * FROM enrolments WHERE class_id = $1 ORDER BY arrival", class_id))

    async def attended(self, enrolment_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[int]]:
        rows = await self.pool.fetch(
            "SELECT enrolment_id, array_agg(session ORDER BY session) AS sessions FROM class_attendance"
            " WHERE enrolment_id = ANY($1::uuid[]) GROUP BY enrolment_id",
            enrolment_ids,
        )
        return {r["enrolment_id"]: list(r["sessions"]) for r in rows}

    async def _locked(self, conn: Conn, enrolment_id: uuid.UUID) -> tuple[asyncpg.Record, asyncpg.Record]:
        class_id = await conn.fetchval("SELECT class_id FROM enrolments WHERE enrolment_id = $1", enrolment_id)
        if class_id is None:
            raise NotFound(f"no enrolment {enrolment_id}")
        course = await conn.fetchrow("SELECT * FROM classes WHERE class_id = $1 FOR UPDATE", class_id)
        row = await conn.fetchrow("SELECT * FROM enrolments WHERE enrolment_id = $1 FOR UPDATE", enrolment_id)
        assert course is not None and row is not None
        return course, row

    async def cancel(self, enrolment_id: uuid.UUID, caller: str, staff: bool) -> asyncpg.Record:
        async with self.pool.acquire() as conn, conn.transaction():
            course, row = await self._locked(conn, enrolment_id)
            _owner_or_staff(row, caller, staff)
            if row["status"] not in classes.LIVE:
                return row
            freed = row["status"] in classes.HOLDS_SEAT
            updated = await conn.fetchrow(
                "UPDATE enrolments SET status = 'cancelled', position = 0 WHERE enrolment_id = $1 RETURNING *",
                enrolment_id,
            )
            await conn.execute(
                "UPDATE classes SET enrolled = enrolled - $2, offered = offered - $3, waitlisted = waitlisted - $4"
                " WHERE class_id = $1",
                course["class_id"],
                1 if row["status"] == classes.ENROLLED else 0,
                1 if row["status"] == classes.OFFERED else 0,
                1 if row["status"] == classes.WAITLISTED else 0,
            )
            if freed:
                await self._offer_next(conn, course["class_id"])
            assert updated is not None
            return updated

    async def accept(self, enrolment_id: uuid.UUID, caller: str, staff: bool) -> asyncpg.Record:
        async with self.pool.acquire() as conn, conn.transaction():
            course, row = await self._locked(conn, enrolment_id)
            _owner_or_staff(row, caller, staff)
            if row["status"] == classes.ENROLLED:
                return row
            if row["status"] != classes.OFFERED:
                raise FailedPrecondition(f"enrolment_id: no seat is offered to this enrolment ({row['status']})")
            if row["offer_expires_at"] <= datetime.now(UTC):
                raise FailedPrecondition("enrolment_id: the offer has expired")
            updated = await conn.fetchrow(
                "UPDATE enrolments SET status = 'enrolled' WHERE enrolment_id = $1 RETURNING *", enrolment_id
            )
            await conn.execute(
                "UPDATE classes SET enrolled = enrolled + 1, offered = offered - 1 WHERE class_id = $1",
                course["class_id"],
            )
            assert updated is not None
            return updated

    async def _offer_next(self, conn: Conn, class_id: uuid.UUID) -> None:
        """Offer every free seat to the first waitlisted people (the class row is locked by the caller)."""
        course = await conn.fetchrow("SELECT * FROM classes WHERE class_id = $1", class_id)
        assert course is not None
        seats = classes.Seats(course["capacity"], course["enrolled"], course["offered"], course["waitlisted"])
        if seats.free <= 0 or seats.waitlisted == 0:
            return
        waiting = await conn.fetch(
            "SELECT * FROM enrolments WHERE class_id = $1 AND status = 'waitlisted' ORDER BY position LIMIT $2"
            " FOR UPDATE",
            class_id,
            seats.free,
        )
        expires = datetime.now(UTC) + timedelta(seconds=course["offer_hold_s"])
        for row in waiting:
            offered = await conn.fetchrow(
                "UPDATE enrolments SET status = 'offered', offer_expires_at = $2, offers = offers + 1"
                " WHERE enrolment_id = $1 RETURNING *",
                row["enrolment_id"],
                expires,
            )
            assert offered is not None
            await self._notify(conn, offered, f"offer:{offered['offers']}", "class_offer", "SNS 교실 자리 안내",
                               classes.offer_text(course["title"], expires))  # fmt: skip
        await conn.execute(
            "UPDATE classes SET offered = offered + $2, waitlisted = waitlisted - $2 WHERE class_id = $1",
            class_id,
            len(waiting),
        )

    async def _notify(self, conn: Conn, row: asyncpg.Record, what: str, purpose: str, title: str, body: str) -> None:
        keys, sealer = self._ready()
        contact = Contact(**json.loads(at_rest.open_sealed(at_rest.Sealed.from_bytes(row["contact"]), keys,
                                                           _context(row["enrolment_id"]), what="contact")))  # fmt: skip
        channel, address = contact.target(row["channel"])
        ref = f"community:enrolment:{row['enrolment_id']}"
        sealed = sealer.seal(address, ref)
        dispatch_id = str(uuid.uuid5(_NAMESPACE, f"{row['enrolment_id']}|{what}"))
        message = ppb.DispatchRequested(
            dispatch_id=dispatch_id,
            message_id=f"{ref}:{what}",
            thread_id=f"community:class:{row['class_id']}",
            channel=channel,
            priority=ppb.PRIORITY_ROUTINE,
            purpose=purpose,
            audience=ppb.Audience(
                sealed_targets=[ppb.SealedTarget(key_id=sealed.key_id, ciphertext=sealed.ciphertext, ref=sealed.ref)]
            ),
            renderings=[ppb.Rendering(language="ko", title=title, body=body)],
            requested_at=ts(datetime.now(UTC)),
            requester="community",
        )
        topic = topics.COMMUNITY_DISPATCH
        await outbox.add(
            conn, topic, dispatch_id, message, events.EventMetadata.new(topic, SOURCE, event_id=dispatch_id)
        )

    async def expire_offers(self, now: datetime) -> int:
        """Offers not taken in time pass on, one class per transaction; returns how many expired."""
        due = await self.pool.fetch(
            "SELECT DISTINCT class_id FROM enrolments WHERE status = 'offered' AND offer_expires_at <= $1", now
        )
        expired = 0
        for r in due:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT 1 FROM classes WHERE class_id = $1 FOR UPDATE", r["class_id"])
                rows = await conn.fetch(
                    "UPDATE enrolments SET status = 'offer_expired', position = 0 WHERE class_id = $1"
                    " AND status = 'offered' AND offer_expires_at <= $2 RETURNING enrolment_id",
                    r["class_id"],
                    now,
                )
                await conn.execute(
                    "UPDATE classes SET offered = offered - $2 WHERE class_id = $1", r["class_id"], len(rows)
                )
                await self._offer_next(conn, r["class_id"])
                expired += len(rows)
        return expired

    async def remind(self, now: datetime, ahead: timedelta) -> int:
        """Reminders for sessions starting within `ahead` (the day before), once per enrolment and session."""
        courses = await self.pool.fetch(
            "SELECT * FROM classes WHERE enrolled > 0 AND first_session <= $1::timestamptz + $2::interval"
            " AND EXISTS (SELECT 1 FROM jsonb_array_elements(sessions) s"
            "  WHERE (s->>'starts_at')::timestamptz BETWEEN $1::timestamptz AND $1::timestamptz + $2::interval)",
            now,
            ahead,
        )
        sent = 0
        for course in courses:
            for index, session in enumerate(json.loads(course["sessions"])):
                starts = datetime.fromisoformat(session["starts_at"])
                if not now <= starts <= now + ahead:
                    continue
                async with self.pool.acquire() as conn, conn.transaction():
                    rows = await conn.fetch(
                        "INSERT INTO class_reminders (enrolment_id, session) SELECT enrolment_id, $2 FROM enrolments"
                        " WHERE class_id = $1 AND status = 'enrolled' ON CONFLICT DO NOTHING RETURNING enrolment_id",
                        course["class_id"],
                        index,
                    )
                    venue = json.loads(course["venue"]).get("name", "")
                    for r in rows:
                        row = await conn.fetchrow("SELECT * FROM enrolments WHERE enrolment_id = $1",
                                                  r["enrolment_id"])  # fmt: skip
                        assert row is not None
                        await self._notify(conn, row, f"reminder:{index}", "class_reminder", "SNS 교실 안내",
                                           classes.reminder_text(course["title"], starts, venue))  # fmt: skip
                    sent += len(rows)
        return sent

    async def record_attendance(self, class_id: uuid.UUID, session: int, enrolment_ids: list[uuid.UUID]) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            course = await conn.fetchrow("SELECT sessions FROM classes WHERE class_id = $1", class_id)
            if course is None:
                raise NotFound(f"no class {class_id}")
            if not 0 <= session < len(json.loads(course["sessions"])):
                raise FailedPrecondition(f"session: the class has no session {session}")
            known = await conn.fetch(
                "SELECT enrolment_id FROM enrolments WHERE class_id = $1 AND status = 'enrolled'"
                " AND enrolment_id = ANY($2::uuid[])",
                class_id,
                enrolment_ids,
            )
            missing = set(enrolment_ids) - {r["enrolment_id"] for r in known}
            if missing:
                raise FailedPrecondition(f"enrolment_ids: not enrolled in this class: {sorted(map(str, missing))[:5]}")
            rows = await conn.fetch(
                "INSERT INTO class_attendance (enrolment_id, session) SELECT unnest($1::uuid[]), $2"
                " ON CONFLICT DO NOTHING RETURNING 1",
                sorted(set(enrolment_ids)),
                session,
            )
            return len(rows)


def _owner_or_staff(row: asyncpg.Record, caller: str, staff: bool) -> None:
    if not staff and row["person"] != caller:
        raise PermissionDenied("enrolment_id: only the enrolled person or staff may change this enrolment")
