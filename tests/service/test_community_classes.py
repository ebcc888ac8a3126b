"""Free SNS classes on the real stack (issue 12, item 6): 500 concurrent enrolments for a 20-seat class end with
exactly 20 enrolled and 480 waitlisted in arrival order; 5 cancellations offer the seats to the first 5
waitlisted, each told exactly once at the SMS or KakaoTalk stand-in (through the publishing service); an offer not
taken in time passes on; a SIGKILL of the worker while it passes offers on loses no offer and sends no notice
twice; eligibility, a full class without a waitlist, repeats."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
import pytest_asyncio

from sotong.community.v1 import community_outreach_pb2 as opb
from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong_localstack import publishing as localrun
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, person, sql
from sotong_standins.control import StandinControl

pytestmark = pytest.mark.service

SEATS = 20
PEOPLE = 500


@dataclass
class Engine:
    stack: Stack
    control: StandinControl

    async def told(self, contact: opb.ClassContact, channel: opb.EnrolmentChannel.ValueType) -> int:
        """Messages the person received at the stand-ins (KakaoTalk for the KakaoTalk channel, else SMS)."""
        if channel == opb.ENROLMENT_CHANNEL_KAKAO:
            return len(await self.control.deliveries("kakao_bot", target=contact.kakao_user_key))
        return len(await self.control.deliveries("sms", target=contact.phone.replace("-", "")))


@pytest_asyncio.fixture()
async def engine(fresh_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Engine]:
    assert fresh_stack.state is not None
    monkeypatch.setenv("SOTONG_COMMUNITY_TIMER_SECONDS", "1")
    run = Path(fresh_stack.state.run_dir)
    standins, ports = localrun.start_standins(run, "standins")
    env = localrun.dispatch_env(ports, publishing_channels="sms,kakao_bot", publishing_backoff_cap_s="0.5")
    dispatch = localrun.start_dispatch(run, fresh_stack.state.env(), env)
    fresh_stack.start_services(("community-api", "community-worker"), say=False)
    try:
        async with StandinControl(ports["base_url"]) as control:
            yield Engine(fresh_stack, control)
    finally:
        localrun.stop(dispatch)
        localrun.stop(standins)


def contact_of(i: int) -> tuple[opb.EnrolmentChannel.ValueType, opb.ClassContact]:
    """Every third person enrols through the KakaoTalk channel, the others in the app."""
    if i % 3 == 0:
        return opb.ENROLMENT_CHANNEL_KAKAO, opb.ClassContact(kakao_user_key=f"bot-user-{i:04d}")
    return opb.ENROLMENT_CHANNEL_APP, opb.ClassContact(phone=f"010-{i // 10000:04d}-{i % 10000:04d}")


async def create_class(
    stub: pb_grpc.CommunityServiceStub,
    operator: object,
    *,
    capacity: int,
    hold_s: int,
    waitlist: bool = True,
    request_id: str = "class-1",
    min_age: int = 65,
    first_in: timedelta = timedelta(days=3),
) -> opb.SnsClass:
    course = opb.SnsClass(
        title="어르신 카카오톡·유튜브 첫걸음", level="beginner", instructor="디지털 배움터 강사",
        venue=opb.ClassVenue(name="마포구청 디지털 배움터", district_code="11440", accessible=True),
        capacity=capacity, min_age=min_age, waitlist=waitlist,
    )  # fmt: skip
    for week in range(5):
        session = course.sessions.add(minutes=90)
        session.starts_at.FromDatetime(datetime.now(UTC) + first_in + timedelta(weeks=week))
    course.offer_hold.FromSeconds(hold_s)
    made = await stub.CreateClass(opb.CreateClassRequest(sns_class=course, request_id=request_id), metadata=operator)
    return made.sns_class


async def test_500_enrolments_for_20_seats_then_cancellations_offers_and_an_expired_offer(engine: Engine) -> None:
    stack = engine.stack
    operator = person(stack, "class-coordinator", "operator")
    async with channel(stack, "community-api") as ch:
        stub = pb_grpc.CommunityServiceStub(ch)
        course = await create_class(stub, operator, capacity=SEATS, hold_s=8)
        people = {i: person(stack, f"senior-{i:04d}") for i in range(PEOPLE)}

        async def enrol(i: int) -> opb.Enrolment:
            kind, contact = contact_of(i)
            answer = await stub.EnrolInClass(
                opb.EnrolInClassRequest(class_id=course.class_id, channel=kind, birth_year=1950 + i % 10,
                                        contact=contact, request_id=f"enrol-{i}"),
                metadata=people[i], timeout=120,
            )  # fmt: skip
            assert answer.created
            return answer.enrolment

        answers = dict(zip(range(PEOPLE), await asyncio.gather(*(enrol(i) for i in range(PEOPLE))), strict=True))
        enrolled = {i: e for i, e in answers.items() if e.status == opb.ENROLMENT_STATUS_ENROLLED}
        waiting = {i: e for i, e in answers.items() if e.status == opb.ENROLMENT_STATUS_WAITLISTED}
        assert (len(enrolled), len(waiting)) == (SEATS, PEOPLE - SEATS)
        arrivals = sorted(e.arrival for e in answers.values())
        assert arrivals == list(range(1, PEOPLE + 1))  # each enrolment reached the class once, in one order
        assert max(e.arrival for e in enrolled.values()) < min(e.arrival for e in waiting.values())
        by_arrival = sorted(waiting.values(), key=lambda e: e.arrival)
        assert [e.position for e in by_arrival] == list(range(1, PEOPLE - SEATS + 1))  # first come, first in line
        got = await stub.GetClass(opb.GetClassRequest(class_id=course.class_id), metadata=operator)
        assert (got.sns_class.enrolled, got.sns_class.offered, got.sns_class.waitlisted) == (SEATS, 0, PEOPLE - SEATS)

        repeat = await stub.EnrolInClass(
            opb.EnrolInClassRequest(class_id=course.class_id, channel=contact_of(7)[0], birth_year=1950,
                                    contact=contact_of(7)[1], request_id="another-id"),
            metadata=people[7],
        )  # fmt: skip
        assert not repeat.created and repeat.enrolment.enrolment_id == answers[7].enrolment_id
        with pytest.raises(grpc.aio.AioRpcError) as young:
            await stub.EnrolInClass(
                opb.EnrolInClassRequest(class_id=course.class_id, channel=opb.ENROLMENT_CHANNEL_APP, birth_year=1990,
                                        contact=opb.ClassContact(phone="010-9999-0001"), request_id="young"),
                metadata=person(stack, "young-1"),
            )  # fmt: skip
        assert young.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert (young.value.details() or "").startswith("birth_year:")

        # Five enrolled people cancel: the first five in line are offered the seats, each told once.
        first_five = [i for i, _ in sorted(waiting.items(), key=lambda kv: kv[1].position)[:6]]
        for i in list(enrolled)[:5]:
            cancelled = await stub.CancelEnrolment(
                opb.CancelEnrolmentRequest(enrolment_id=enrolled[i].enrolment_id), metadata=people[i]
            )
            assert cancelled.enrolment.status == opb.ENROLMENT_STATUS_CANCELLED
        for i in first_five[:5]:
            mine = await stub.GetEnrolment(
                opb.GetEnrolmentRequest(enrolment_id=answers[i].enrolment_id), metadata=people[i]
            )
            assert mine.enrolment.status == opb.ENROLMENT_STATUS_OFFERED and mine.enrolment.HasField("offer_expires_at")

        async def all_told() -> bool:
            return all([await engine.told(contact_of(i)[1], contact_of(i)[0]) == 1 for i in first_five[:5]])

        await eventually(all_told, timeout=60)
        # Four accept; the fifth does not answer and the seat passes to the sixth in line.
        for i in first_five[:4]:
            taken = await stub.AcceptSeat(
                opb.AcceptSeatRequest(enrolment_id=answers[i].enrolment_id), metadata=people[i]
            )
            assert taken.enrolment.status == opb.ENROLMENT_STATUS_ENROLLED
        other = person(stack, "senior-other")
        with pytest.raises(grpc.aio.AioRpcError) as not_theirs:
            await stub.AcceptSeat(opb.AcceptSeatRequest(enrolment_id=answers[first_five[4]].enrolment_id),
                                  metadata=other)  # fmt: skip
        assert not_theirs.value.code() == grpc.StatusCode.PERMISSION_DENIED

        async def passed_on() -> bool:
            sixth = await stub.GetEnrolment(
                opb.GetEnrolmentRequest(enrolment_id=answers[first_five[5]].enrolment_id), metadata=operator
            )
            return sixth.enrolment.status == opb.ENROLMENT_STATUS_OFFERED

        await eventually(passed_on, timeout=60)
        fifth = await stub.GetEnrolment(
            opb.GetEnrolmentRequest(enrolment_id=answers[first_five[4]].enrolment_id), metadata=operator
        )
        assert fifth.enrolment.status == opb.ENROLMENT_STATUS_OFFER_EXPIRED
        with pytest.raises(grpc.aio.AioRpcError) as late:
            await stub.AcceptSeat(
                opb.AcceptSeatRequest(enrolment_id=answers[first_five[4]].enrolment_id), metadata=people[first_five[4]]
            )
        assert late.value.code() == grpc.StatusCode.FAILED_PRECONDITION

        async def sixth_told() -> bool:
            return await engine.told(contact_of(first_five[5])[1], contact_of(first_five[5])[0]) == 1

        await eventually(sixth_told, timeout=60)
        await asyncio.sleep(2)  # anything sent twice would have arrived by now
        for i in first_five:
            assert await engine.told(contact_of(i)[1], contact_of(i)[0]) == 1, i
        seventh = sorted(waiting.items(), key=lambda kv: kv[1].position)[6][0]
        assert await engine.told(contact_of(seventh)[1], contact_of(seventh)[0]) == 0
        got = await stub.GetClass(opb.GetClassRequest(class_id=course.class_id), metadata=operator)
        assert (got.sns_class.enrolled, got.sns_class.offered) == (SEATS - 1, 1)
        assert got.sns_class.waitlisted == PEOPLE - SEATS - 6

        # Contacts are encrypted at rest: no phone number or bot key in clear in the table.
        rows = await sql(stack, "SELECT contact, person FROM enrolments", schema="community")
        assert not any(b"010-" in bytes(r["contact"]) or b"bot-user" in bytes(r["contact"]) for r in rows)

        # Attendance and completion: 4 of 5 sessions complete the course.
        someone = enrolled[list(enrolled)[5]]
        for session in range(4):
            await stub.RecordClassAttendance(
                opb.RecordClassAttendanceRequest(class_id=course.class_id, session=session,
                                                 enrolment_ids=[someone.enrolment_id]),
                metadata=operator,
            )  # fmt: skip
        done = await stub.GetEnrolment(opb.GetEnrolmentRequest(enrolment_id=someone.enrolment_id), metadata=operator)
        assert list(done.enrolment.attended) == [0, 1, 2, 3] and done.enrolment.completed


async def test_a_full_class_without_waitlist_refuses_phone_enrolments_need_an_operator_and_reminders_go_once(
    engine: Engine,
) -> None:
    stack = engine.stack
    operator = person(stack, "class-coordinator", "operator")
    async with channel(stack, "community-api") as ch:
        stub = pb_grpc.CommunityServiceStub(ch)
        course = await create_class(stub, operator, capacity=1, hold_s=60, waitlist=False, request_id="c2",
                                    min_age=0, first_in=timedelta(hours=2))  # fmt: skip
        by_phone = await stub.EnrolInClass(
            opb.EnrolInClassRequest(class_id=course.class_id, channel=opb.ENROLMENT_CHANNEL_PHONE,
                                    contact=opb.ClassContact(phone="010-2222-3333"), request_id="p1"),
            metadata=operator,
        )  # fmt: skip
        assert by_phone.enrolment.status == opb.ENROLMENT_STATUS_ENROLLED
        again = await stub.EnrolInClass(
            opb.EnrolInClassRequest(class_id=course.class_id, channel=opb.ENROLMENT_CHANNEL_PHONE,
                                    contact=opb.ClassContact(phone="01022223333"), request_id="p2"),
            metadata=operator,
        )  # fmt: skip
        assert not again.created and again.enrolment.enrolment_id == by_phone.enrolment.enrolment_id
        with pytest.raises(grpc.aio.AioRpcError) as full:
            await stub.EnrolInClass(
                opb.EnrolInClassRequest(class_id=course.class_id, channel=opb.ENROLMENT_CHANNEL_APP,
                                        contact=opb.ClassContact(phone="010-4444-5555"), request_id="a1"),
                metadata=person(stack, "citizen-late"),
            )  # fmt: skip
        assert full.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert (full.value.details() or "").startswith("class_id:")
        with pytest.raises(grpc.aio.AioRpcError) as self_phone:
            await stub.EnrolInClass(
                opb.EnrolInClassRequest(class_id=course.class_id, channel=opb.ENROLMENT_CHANNEL_PHONE,
                                        contact=opb.ClassContact(phone="010-4444-5555"), request_id="a2"),
                metadata=person(stack, "citizen-late"),
            )  # fmt: skip
        assert self_phone.value.code() == grpc.StatusCode.PERMISSION_DENIED
        rows = await sql(stack, "SELECT count(*) AS n FROM enrolments", schema="community")
        assert rows[0]["n"] == 1

        # The first session is in two hours: the enrolled person is reminded once (the worker ticks every second).
        async def reminded() -> int:
            return len(await engine.control.deliveries("sms", target="01022223333"))

        await eventually(reminded, timeout=60)
        await asyncio.sleep(3)
        texts = [str(d) for d in await engine.control.deliveries("sms", target="01022223333")]
        assert len(texts) == 1 and "내일" in texts[0]


async def test_a_worker_killed_while_passing_offers_on_loses_none_and_sends_none_twice(engine: Engine) -> None:
    stack = engine.stack
    operator = person(stack, "class-coordinator", "operator")
    seats, waiting = 10, 40
    async with channel(stack, "community-api") as ch:
        stub = pb_grpc.CommunityServiceStub(ch)
        course = await create_class(stub, operator, capacity=seats, hold_s=2, request_id="c3")
        people = {i: person(stack, f"kill-{i:03d}") for i in range(seats + waiting)}
        answers = {}
        for i in range(seats + waiting):  # one by one: arrival order is the index
            kind, contact = contact_of(i)
            answer = await stub.EnrolInClass(
                opb.EnrolInClassRequest(class_id=course.class_id, channel=kind, birth_year=1950, contact=contact,
                                        request_id=f"k-{i}"),
                metadata=people[i],
            )  # fmt: skip
            answers[i] = answer.enrolment
        assert [answers[i].position for i in range(seats, seats + waiting)] == list(range(1, waiting + 1))
        for i in range(seats):  # nobody accepts: every 2 s the worker passes ten offers on
            await stub.CancelEnrolment(opb.CancelEnrolmentRequest(enrolment_id=answers[i].enrolment_id),
                                       metadata=people[i])  # fmt: skip

        async def expired_count() -> int:
            rows = await sql(stack, "SELECT count(*) AS n FROM enrolments WHERE status = 'offer_expired'",
                             schema="community")  # fmt: skip
            return int(rows[0]["n"])

        await eventually(lambda: _at_least(expired_count, seats), timeout=60)
        stack.processes["community-worker"].send_signal(signal.SIGKILL)
        stack.processes["community-worker"].wait()
        await asyncio.sleep(3)  # offers fall due while no worker runs
        stack.start_services(("community-worker",), say=False)
        await eventually(lambda: _at_least(expired_count, waiting), timeout=120)

        async def everyone_told() -> bool:
            counts = [await engine.told(contact_of(i)[1], contact_of(i)[0]) for i in range(seats, seats + waiting)]
            return all(c >= 1 for c in counts)

        await eventually(everyone_told, timeout=60)
        await asyncio.sleep(2)
        counts = {i: await engine.told(contact_of(i)[1], contact_of(i)[0]) for i in range(seats, seats + waiting)}
        assert set(counts.values()) == {1}, counts  # each offer told exactly once, none lost
        rows = await sql(stack, "SELECT status, offers FROM enrolments WHERE class_id = $1::uuid AND position >= 0"
                         " AND status <> 'cancelled'", course.class_id, schema="community")  # fmt: skip
        assert sorted((r["status"], r["offers"]) for r in rows) == [("offer_expired", 1)] * waiting
        got = await stub.GetClass(opb.GetClassRequest(class_id=course.class_id), metadata=operator)
        assert (got.sns_class.enrolled, got.sns_class.offered, got.sns_class.waitlisted) == (0, 0, 0)


async def _at_least(count: object, target: int) -> bool:
    assert callable(count)
    return bool(await count() >= target)
