"""Free SNS classes: the catalogue, enrolment (app, KakaoTalk, phone through an operator), the waitlist's offers,
attendance and completion."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, timedelta
from typing import Any

import asyncpg

from sotong.community.v1 import community_outreach_pb2 as opb
from sotong_common.errors import PermissionDenied
from sotong_common.server import principal
from sotong_common.text_fields import refuse_control_characters
from sotong_community import classes
from sotong_community.api import views
from sotong_community.api.context import Context
from sotong_community.class_store import Contact, NewClass
from sotong_community.input_rules import Violations

STATUS = {
    classes.ENROLLED: opb.ENROLMENT_STATUS_ENROLLED,
    classes.WAITLISTED: opb.ENROLMENT_STATUS_WAITLISTED,
    classes.OFFERED: opb.ENROLMENT_STATUS_OFFERED,
    classes.CANCELLED: opb.ENROLMENT_STATUS_CANCELLED,
    classes.OFFER_EXPIRED: opb.ENROLMENT_STATUS_OFFER_EXPIRED,
}
CHANNELS = {
    opb.ENROLMENT_CHANNEL_APP: "app",
    opb.ENROLMENT_CHANNEL_KAKAO: "kakao",
    opb.ENROLMENT_CHANNEL_PHONE: "phone",
}
CHANNEL_PROTO = {v: k for k, v in CHANNELS.items()}
STAFF = frozenset({"operator", "dept_admin"})


def class_view(row: asyncpg.Record) -> opb.SnsClass:
    venue = json.loads(row["venue"])
    hold = timedelta(seconds=row["offer_hold_s"])
    shown = opb.SnsClass(
        class_id=str(row["class_id"]),
        title=row["title"],
        level=row["level"],
        venue=opb.ClassVenue(**venue),
        instructor=row["instructor"],
        sessions=[
            opb.ClassSession(starts_at=views.ts(_parse(s["starts_at"])), minutes=s["minutes"])
            for s in json.loads(row["sessions"])
        ],
        capacity=row["capacity"],
        min_age=row["min_age"],
        waitlist=row["waitlist"],
        enrolled=row["enrolled"],
        offered=row["offered"],
        waitlisted=row["waitlisted"],
    )
    shown.offer_hold.FromTimedelta(hold)
    return shown


def _parse(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value)


def enrolment_view(row: asyncpg.Record, attended: list[int], sessions: int) -> opb.Enrolment:
    return opb.Enrolment(
        enrolment_id=str(row["enrolment_id"]),
        class_id=str(row["class_id"]),
        status=STATUS[row["status"]],
        channel=CHANNEL_PROTO[row["channel"]],
        position=row["position"],
        arrival=row["arrival"],
        offer_expires_at=views.ts(row["offer_expires_at"]) if row["status"] == classes.OFFERED else None,
        attended=attended,
        completed=classes.completed(len(attended), sessions),
    )


def _id(field: str, value: str) -> uuid.UUID:
    v = Violations()
    found = v.required_id(field, value)
    v.raise_if_any()
    return found


@refuse_control_characters
class ClassRpcs:
    ctx: Context

    async def _shown(self, row: asyncpg.Record) -> opb.Enrolment:
        course = await self.ctx.classes.get(row["class_id"])
        attended = await self.ctx.classes.attended([row["enrolment_id"]])
        return enrolment_view(row, attended.get(row["enrolment_id"], []), len(json.loads(course["sessions"])))

    async def CreateClass(self, request: opb.CreateClassRequest, context: Any) -> opb.CreateClassResponse:
        v = Violations()
        c = request.sns_class
        title = v.text("sns_class.title", c.title, limit=150, single_line=True)
        if c.level not in classes.LEVELS:
            v.add("sns_class.level", f"sns_class.level must be one of {', '.join(classes.LEVELS)}")
        venue = {
            "name": v.text("sns_class.venue.name", c.venue.name, required=not c.venue.online, limit=100,
                           single_line=True),
            "district_code": v.district("sns_class.venue.district_code", c.venue.district_code,
                                        required=not c.venue.online),
            "address": v.text("sns_class.venue.address", c.venue.address, required=False, limit=200,
                              single_line=True),
            "accessible": c.venue.accessible,
            "online": c.venue.online,
        }  # fmt: skip
        instructor = v.text("sns_class.instructor", c.instructor, required=False, limit=80, single_line=True)
        if not 1 <= len(c.sessions) <= classes.MAX_SESSIONS:
            v.add("sns_class.sessions", f"sns_class.sessions must list 1 to {classes.MAX_SESSIONS} sessions")
        sessions = []
        for i, s in enumerate(c.sessions[: classes.MAX_SESSIONS]):
            if not s.HasField("starts_at") or not 1 <= s.minutes <= 600:
                v.add(f"sns_class.sessions[{i}]", f"sns_class.sessions[{i}] needs starts_at and 1-600 minutes")
                continue
            try:
                sessions.append((s.starts_at.ToDatetime(tzinfo=UTC), s.minutes))
            except (ValueError, OverflowError):
                v.add(f"sns_class.sessions[{i}]", f"sns_class.sessions[{i}].starts_at is out of range")
        if sessions != sorted(sessions):
            v.add("sns_class.sessions", "sns_class.sessions must be in time order")
        if not 1 <= c.capacity <= classes.MAX_CAPACITY:
            v.add("sns_class.capacity", f"sns_class.capacity must be 1 to {classes.MAX_CAPACITY} seats")
        if not 0 <= c.min_age <= 120:
            v.add("sns_class.min_age", "sns_class.min_age must be 0 to 120")
        hold = classes.DEFAULT_OFFER_HOLD
        if c.HasField("offer_hold"):
            try:
                hold = c.offer_hold.ToTimedelta()
            except (ValueError, OverflowError):
                hold = timedelta(0)
            if not classes.MIN_OFFER_HOLD <= hold <= classes.MAX_OFFER_HOLD:
                v.add("sns_class.offer_hold", "sns_class.offer_hold must be 1 second to 7 days")
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        new = NewClass(title, c.level, venue, instructor, sessions, c.capacity, c.min_age, c.waitlist, hold)
        row, created = await self.ctx.classes.create(principal().subject, new, request_id)
        return opb.CreateClassResponse(sns_class=class_view(row), created=created)

    async def GetClass(self, request: opb.GetClassRequest, context: Any) -> opb.GetClassResponse:
        return opb.GetClassResponse(sns_class=class_view(await self.ctx.classes.get(_id("class_id", request.class_id))))

    async def ListClasses(self, request: opb.ListClassesRequest, context: Any) -> opb.ListClassesResponse:
        v = Violations()
        v.district("district_code", request.district_code)
        if request.level and request.level not in classes.LEVELS:
            v.add("level", f"level must be one of {', '.join(classes.LEVELS)}")
        v.raise_if_any()
        rows = await self.ctx.classes.find(request.district_code, request.level)
        return opb.ListClassesResponse(classes=[class_view(r) for r in rows])

    async def EnrolInClass(self, request: opb.EnrolInClassRequest, context: Any) -> opb.EnrolInClassResponse:
        v = Violations()
        class_id = v.required_id("class_id", request.class_id)
        channel = CHANNELS.get(request.channel)
        if channel is None:
            v.add("channel", "channel must be APP, KAKAO or PHONE")
        if request.birth_year and not 1900 <= request.birth_year <= 2100:
            v.add("birth_year", "birth_year must be a year such as 1955")
        phone = request.contact.phone.strip()
        kakao = request.contact.kakao_user_key.strip()
        if phone and not classes.valid_mobile(phone):
            v.add("contact.phone", "contact.phone must be a mobile number such as 010-1234-5678")
        if kakao and (len(kakao) > 128 or any(ch.isspace() for ch in kakao)):
            v.add("contact.kakao_user_key", "contact.kakao_user_key must be a chatbot user key without spaces")
        if channel == "kakao" and not kakao and not phone:
            v.add("contact.kakao_user_key", "contact.kakao_user_key (or a phone) is needed to reach the person")
        elif channel in ("app", "phone") and not phone:
            v.add("contact.phone", "contact.phone is needed to offer a freed seat by SMS")
        request_id = v.request_id("request_id", request.request_id)
        v.raise_if_any()
        assert channel is not None
        caller = principal()
        staff = bool(caller.roles & STAFF)
        if channel == "phone":
            if not staff:
                raise PermissionDenied("channel: enrolment by phone is made by an operator")
            person = self.ctx.classes.person_of_phone(class_id, phone)
        else:
            if "citizen" not in caller.roles:
                raise PermissionDenied("channel: app and KakaoTalk enrolments are made by the citizen")
            person = caller.subject
        row, created = await self.ctx.classes.enrol(class_id, person, channel, request.birth_year,
                                                    Contact(phone, kakao), caller.subject, request_id)  # fmt: skip
        return opb.EnrolInClassResponse(enrolment=await self._shown(row), created=created)

    async def CancelEnrolment(self, request: opb.CancelEnrolmentRequest, context: Any) -> opb.CancelEnrolmentResponse:
        caller = principal()
        row = await self.ctx.classes.cancel(_id("enrolment_id", request.enrolment_id), caller.subject,
                                            bool(caller.roles & STAFF))  # fmt: skip
        return opb.CancelEnrolmentResponse(enrolment=await self._shown(row))

    async def AcceptSeat(self, request: opb.AcceptSeatRequest, context: Any) -> opb.AcceptSeatResponse:
        caller = principal()
        row = await self.ctx.classes.accept(_id("enrolment_id", request.enrolment_id), caller.subject,
                                            bool(caller.roles & STAFF))  # fmt: skip
        return opb.AcceptSeatResponse(enrolment=await self._shown(row))

    async def GetEnrolment(self, request: opb.GetEnrolmentRequest, context: Any) -> opb.GetEnrolmentResponse:
        caller = principal()
        row = await self.ctx.classes.enrolment(_id("enrolment_id", request.enrolment_id))
        if row["person"] != caller.subject and not caller.roles & STAFF:
            raise PermissionDenied("enrolment_id: only the enrolled person or staff may read this enrolment")
        return opb.GetEnrolmentResponse(enrolment=await self._shown(row))

    async def ListEnrolments(self, request: opb.ListEnrolmentsRequest, context: Any) -> opb.ListEnrolmentsResponse:
        class_id = _id("class_id", request.class_id)
        course = await self.ctx.classes.get(class_id)
        rows = await self.ctx.classes.enrolments(class_id)
        attended = await self.ctx.classes.attended([r["enrolment_id"] for r in rows])
        sessions = len(json.loads(course["sessions"]))
        return opb.ListEnrolmentsResponse(
            enrolments=[enrolment_view(r, attended.get(r["enrolment_id"], []), sessions) for r in rows]
        )

    async def RecordClassAttendance(
        self, request: opb.RecordClassAttendanceRequest, context: Any
    ) -> opb.RecordClassAttendanceResponse:
        v = Violations()
        class_id = v.required_id("class_id", request.class_id)
        if request.session < 0:
            v.add("session", "session must be a session index (0, 1, ...)")
        if not 1 <= len(request.enrolment_ids) <= classes.MAX_CAPACITY:
            v.add("enrolment_ids", f"enrolment_ids must list 1 to {classes.MAX_CAPACITY} enrolments")
        ids = [v.required_id(f"enrolment_ids[{i}]", e) for i, e in enumerate(request.enrolment_ids[:1000])]
        v.raise_if_any()
        recorded = await self.ctx.classes.record_attendance(class_id, request.session, ids)
        return opb.RecordClassAttendanceResponse(recorded=recorded)
