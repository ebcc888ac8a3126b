"""Intake's operator and citizen RPCs on the real stack: batches, listing, status workflow, watching, following,
near-duplicates and geography."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_events_pb2 as ev
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common import auth, events
from sotong_common.errors import field_violations
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, read_all, sql, stored, token

pytestmark = pytest.mark.service

CITY_HALL = geo_pb2.GeoPoint(lat=37.5663, lng=126.9779)
GANGNAM_GU_OFFICE = geo_pb2.GeoPoint(lat=37.5172, lng=127.0473)


@pytest.fixture()
def intake(fresh_stack: Stack) -> Stack:
    fresh_stack.start_services(("intake-api", "intake-worker"), say=False)
    return fresh_stack


def report(**overrides: object) -> pb.SubmitReportRequest:
    fields: dict[str, object] = {
        "kind": types.SUBMISSION_KIND_REPORT,
        "text": "시청역 앞 가로등이 꺼져 있어요",
        "category": "streetlight",
        "point": CITY_HALL,
        "channel": "app",
    }
    fields.update(overrides)
    return pb.SubmitReportRequest(**fields)  # type: ignore[arg-type]


async def test_submit_batch_answers_per_item_in_order(intake: Stack) -> None:
    items = [
        report(text="가로등 1", channel="kakao", channel_message_id="b-1"),
        report(text=""),  # refused: empty text
        report(text="가로등 1 again", channel="kakao", channel_message_id="b-1"),  # same message as item 0
        report(point=geo_pb2.GeoPoint(lat=35.1796, lng=129.0756)),  # refused: Busan
        report(text="쓰레기 무단투기", category="garbage", point=GANGNAM_GU_OFFICE),
    ]

    async def stream() -> object:
        for item in items:
            yield pb.SubmitBatchRequest(report=item)

    async with channel(intake, "intake-api") as ch:
        stub = pb_grpc.IntakeServiceStub(ch)
        reply = await stub.SubmitBatch(stream(), metadata=token(intake, "service"))
        again = await stub.SubmitBatch(
            iter([pb.SubmitBatchRequest(report=items[0])]), metadata=token(intake, "service")
        )
        with pytest.raises(grpc.aio.AioRpcError) as citizen:
            await stub.SubmitBatch(iter([pb.SubmitBatchRequest(report=items[0])]), metadata=token(intake, "citizen"))
    assert [r.index for r in reply.results] == [0, 1, 2, 3, 4]
    assert (reply.accepted, reply.refused) == (3, 2)
    ok, empty, same, busan, other = reply.results
    assert ok.tracking_id and ok.created
    assert not empty.tracking_id and "text" in [v.field for v in empty.violations]
    assert same.tracking_id == ok.tracking_id and not same.created
    assert not busan.tracking_id and "location" in [v.field for v in busan.violations]
    assert other.tracking_id and other.created
    assert again.results[0].tracking_id == ok.tracking_id and not again.results[0].created
    assert citizen.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await stored(intake, ok.tracking_id, other.tracking_id)
    rows = await sql(intake, "SELECT count(*) AS n FROM submissions", schema="intake")
    assert rows[0]["n"] == 2
    received = await eventually(lambda: _topic(intake, "intake.submission-received.v1", 2))
    assert len(received) == 2


async def _topic(stack: Stack, topic: str, want: int) -> list[object] | None:
    records = await asyncio.to_thread(read_all, stack, topic, 1000)
    return records if len(records) >= want else None


async def test_list_filters_and_pages_with_a_cursor(intake: Stack) -> None:
    async with channel(intake, "intake-api") as ch:
        stub = pb_grpc.IntakeServiceStub(ch)
        citizen = token(intake, "citizen")
        filed = [
            await stub.SubmitReport(report(text=f"가로등 고장 신고 번호 {i} 입니다 {'ㅋ' * i}"), metadata=citizen)
            for i in range(5)
        ]
        filed.append(
            await stub.SubmitReport(
                report(
                    text="강남역 쓰레기",
                    category="garbage",
                    point=GANGNAM_GU_OFFICE,
                    channel="sns",
                    channel_message_id="x:1",
                ),
                metadata=citizen,
            )
        )
        await stored(intake, *(f.tracking_id for f in filed))
        operator = token(intake, "operator")
        first = await stub.ListSubmissions(
            pb.ListSubmissionsRequest(district_code="11140", page_size=2), metadata=operator
        )
        second = await stub.ListSubmissions(
            pb.ListSubmissionsRequest(district_code="11140", page_size=2, page_token=first.next_page_token),
            metadata=operator,
        )
        third = await stub.ListSubmissions(
            pb.ListSubmissionsRequest(district_code="11140", page_size=2, page_token=second.next_page_token),
            metadata=operator,
        )
        sns = await stub.ListSubmissions(pb.ListSubmissionsRequest(channel="sns"), metadata=operator)
        garbage = await stub.ListSubmissions(
            pb.ListSubmissionsRequest(category="garbage", kind=types.SUBMISSION_KIND_REPORT), metadata=operator
        )
        later = pb.ListSubmissionsRequest()
        later.received_after.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
        future = await stub.ListSubmissions(later, metadata=operator)
        with pytest.raises(grpc.aio.AioRpcError) as other_filters:
            await stub.ListSubmissions(
                pb.ListSubmissionsRequest(district_code="11680", page_token=first.next_page_token), metadata=operator
            )
        with pytest.raises(grpc.aio.AioRpcError) as garbage_token:
            await stub.ListSubmissions(pb.ListSubmissionsRequest(page_token="not-a-cursor"), metadata=operator)
        with pytest.raises(grpc.aio.AioRpcError) as citizen_lists:
            await stub.ListSubmissions(pb.ListSubmissionsRequest(), metadata=citizen)
    pages = [first, second, third]
    ids = [s.tracking_id for page in pages for s in page.submissions]
    assert [len(p.submissions) for p in pages] == [2, 2, 1] and len(set(ids)) == 5
    assert third.next_page_token == ""
    times = [s.received_at.ToDatetime() for page in pages for s in page.submissions]
    assert times == sorted(times, reverse=True)
    assert [s.channel for s in sns.submissions] == ["sns"]
    assert [s.district_code for s in garbage.submissions] == ["11680"]  # 강남구
    assert len(future.submissions) == 0
    assert other_filters.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in [v.field for v in field_violations(other_filters.value)]
    assert "page_token" in [v.field for v in field_violations(garbage_token.value)]
    assert citizen_lists.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_update_status_records_history_and_tells_the_citizen(intake: Stack) -> None:
    async with channel(intake, "intake-api") as ch:
        stub = pb_grpc.IntakeServiceStub(ch)
        citizen = token(intake, "citizen")
        operator = token(intake, "operator")
        first = await stub.SubmitReport(
            report(channel="kakao", channel_message_id="k-1", contact=pb.ReporterContact(phone="010-2345-6789")),
            metadata=citizen,
        )
        other = await stub.SubmitReport(
            report(text="전혀 다른 내용: 공원 벤치 파손", category="park-facility"), metadata=citizen
        )
        await stored(intake, first.tracking_id, other.tracking_id)
        await stub.UpdateStatus(
            pb.UpdateStatusRequest(tracking_id=first.tracking_id, status=types.SUBMISSION_STATUS_ACKNOWLEDGED),
            metadata=operator,
        )
        done = await stub.UpdateStatus(
            pb.UpdateStatusRequest(
                tracking_id=first.tracking_id, status=types.SUBMISSION_STATUS_RESOLVED, note="교체 완료"
            ),
            metadata=operator,
        )
        dup = await stub.UpdateStatus(
            pb.UpdateStatusRequest(
                tracking_id=other.tracking_id, status=types.SUBMISSION_STATUS_DUPLICATE, duplicate_of=first.tracking_id
            ),
            metadata=operator,
        )
        bad = {}
        upd = pb.UpdateStatusRequest
        st = types
        for name, request, meta in [
            ("moderation-status", upd(tracking_id=first.tracking_id, status=st.SUBMISSION_STATUS_PUBLISHED), operator),
            ("no-target", upd(tracking_id=other.tracking_id, status=st.SUBMISSION_STATUS_DUPLICATE), operator),
            (
                "self",
                upd(
                    tracking_id=other.tracking_id,
                    status=st.SUBMISSION_STATUS_DUPLICATE,
                    duplicate_of=other.tracking_id,
                ),
                operator,
            ),
            ("unknown", upd(tracking_id="000000-NOTHERE", status=st.SUBMISSION_STATUS_RESOLVED), operator),
            ("citizen", upd(tracking_id=first.tracking_id, status=st.SUBMISSION_STATUS_RESOLVED), citizen),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.UpdateStatus(request, metadata=meta)
            bad[name] = caught.value
    assert [h.status for h in done.submission.history] == [
        types.SUBMISSION_STATUS_RECEIVED,
        types.SUBMISSION_STATUS_ACKNOWLEDGED,
        types.SUBMISSION_STATUS_RESOLVED,
    ]
    assert done.submission.history[-1].note == "교체 완료"
    assert done.submission.history[-1].changed_by == "test-operator"
    assert (
        dup.submission.status == types.SUBMISSION_STATUS_DUPLICATE and dup.submission.duplicate_of == first.tracking_id
    )
    assert bad["moderation-status"].code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "status" in [v.field for v in field_violations(bad["moderation-status"])]
    assert "duplicate_of" in [v.field for v in field_violations(bad["no-target"])]
    assert "duplicate_of" in [v.field for v in field_violations(bad["self"])]
    assert bad["unknown"].code() == grpc.StatusCode.NOT_FOUND
    assert bad["citizen"].code() == grpc.StatusCode.PERMISSION_DENIED

    records = await eventually(lambda: _topic(intake, "intake.submission-status-changed.v1", 3))
    changes = [ev.SubmissionStatusChanged.FromString(r.value) for r in records]
    resolved = next(c for c in changes if c.status == types.SUBMISSION_STATUS_RESOLVED)
    assert resolved.tracking_id == first.tracking_id and resolved.note == "교체 완료"
    assert (resolved.channel, resolved.channel_message_id) == ("kakao", "k-1")
    assert resolved.contact_ref.startswith("intake:contact:")  # a reference, never the phone number
    assert all(b"2345" not in r.value for r in records)
    meta = events.EventMetadata.from_headers([(k, v) for k, v in records[0].headers])
    assert meta.event_type == "intake.submission-status-changed.v1"
    closed = await sql(
        intake, "SELECT closed_at FROM submissions WHERE tracking_id = $1", first.tracking_id, schema="intake"
    )
    assert closed[0]["closed_at"] is not None


async def test_watch_streams_history_then_changes_and_ends_on_cancel(intake: Stack) -> None:
    async with channel(intake, "intake-api") as ch:
        stub = pb_grpc.IntakeServiceStub(ch)
        first = await stub.SubmitReport(report(), metadata=token(intake, "citizen"))
        await stored(intake, first.tracking_id)
        call = stub.WatchSubmission(
            pb.WatchSubmissionRequest(tracking_id=first.tracking_id), metadata=token(intake, "citizen")
        )
        seen: list[int] = []
        seen.append((await call.read()).change.status)
        await stub.UpdateStatus(
            pb.UpdateStatusRequest(tracking_id=first.tracking_id, status=types.SUBMISSION_STATUS_IN_PROGRESS),
            metadata=token(intake, "operator"),
        )
        started = asyncio.get_running_loop().time()
        seen.append((await asyncio.wait_for(call.read(), 10)).change.status)
        took = asyncio.get_running_loop().time() - started
        call.cancel()
        assert await call.code() == grpc.StatusCode.CANCELLED
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            async for _ in stub.WatchSubmission(
                pb.WatchSubmissionRequest(tracking_id="000000-NOTHERE"), metadata=token(intake, "citizen")
            ):
                pass
        # The server is still healthy after the cancelled stream.
        again = await stub.GetSubmission(
            pb.GetSubmissionRequest(tracking_id=first.tracking_id), metadata=token(intake, "citizen")
        )
    assert seen == [types.SUBMISSION_STATUS_RECEIVED, types.SUBMISSION_STATUS_IN_PROGRESS]
    assert took < 3.0  # woken by NOTIFY, not by the 5 s safety poll
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert again.submission.status == types.SUBMISSION_STATUS_IN_PROGRESS


async def test_near_duplicates_link_to_the_first_report_and_citizens_follow(intake: Stack) -> None:
    near = geo_pb2.GeoPoint(lat=37.5665, lng=126.9781)  # ~30 m from the first
    async with channel(intake, "intake-api") as ch:
        stub = pb_grpc.IntakeServiceStub(ch)
        meta = token(intake, "citizen")
        first = await stub.SubmitReport(report(text="시청역 앞 가로등이 꺼져 있어요"), metadata=meta)
        second = await stub.SubmitReport(report(text="시청역앞 가로등 꺼져있어요 ㅠㅠ", point=near), metadata=meta)
        third = await stub.SubmitReport(report(text="시청 앞 가로등이 또 꺼져 있네요", point=near), metadata=meta)
        other_category = await stub.SubmitReport(
            report(category="garbage", text="시청역 앞 가로등이 꺼져 있어요"), metadata=meta
        )
        far = await stub.SubmitReport(report(point=GANGNAM_GU_OFFICE), metadata=meta)
        filed = (first, second, third, other_category, far)
        await stored(intake, *(f.tracking_id for f in filed))
        got = {
            t: (await stub.GetSubmission(pb.GetSubmissionRequest(tracking_id=t), metadata=meta)).submission
            for t in (
                first.tracking_id,
                second.tracking_id,
                third.tracking_id,
                other_category.tracking_id,
                far.tracking_id,
            )
        }
        follow = pb.FollowSubmissionRequest(tracking_id=first.tracking_id)
        follows = [await stub.FollowSubmission(follow, metadata=_as(intake, who)) for who in ("kim", "kim", "lee")]
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.FollowSubmission(pb.FollowSubmissionRequest(tracking_id="000000-NOTHERE"), metadata=meta)
        after = await stub.GetSubmission(pb.GetSubmissionRequest(tracking_id=first.tracking_id), metadata=meta)
    assert got[first.tracking_id].duplicate_candidate_of == ""
    assert got[second.tracking_id].duplicate_candidate_of == first.tracking_id
    assert got[second.tracking_id].duplicate_score >= 0.55
    assert got[third.tracking_id].duplicate_candidate_of == first.tracking_id  # linked to the first, not the second
    assert got[other_category.tracking_id].duplicate_candidate_of == ""
    assert got[far.tracking_id].duplicate_candidate_of == ""
    assert [(f.follower_count, f.created) for f in follows] == [(1, True), (1, False), (2, True)]
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert after.submission.follower_count == 2
    records = await eventually(lambda: _topic(intake, "intake.submission-received.v1", 5))
    by_tracking = {e.tracking_id: e for e in (ev.SubmissionReceived.FromString(r.value) for r in records)}
    assert by_tracking[second.tracking_id].duplicate_candidate_of == by_tracking[first.tracking_id].submission_id


def _as(stack: Stack, subject: str) -> tuple[tuple[str, str], ...]:
    assert stack.state is not None
    return (("authorization", "Bearer " + auth.issue(stack.state.jwt_secret, subject, ["citizen"])),)


@pytest.mark.parametrize(
    ("where", "district", "neighbourhood"),
    [
        ({"point": CITY_HALL}, "11140", True),  # 중구
        ({"point": GANGNAM_GU_OFFICE}, "11680", True),  # 강남구
        ({"address_text": "서울특별시 마포구 월드컵북로 396"}, "11440", False),  # 마포구 by address text
        ({"district_code": "11110"}, "11110", False),  # 종로구 as given
    ],
    ids=["city-hall", "gangnam", "address-text", "district-code"],
)
async def test_geography_resolves_district_and_neighbourhood(
    intake: Stack, where: dict[str, object], district: str, neighbourhood: bool
) -> None:
    fields: dict[str, object] = {"kind": types.SUBMISSION_KIND_OPINION, "text": "의견입니다", "channel": "app", **where}
    async with channel(intake, "intake-api") as ch:
        stub = pb_grpc.IntakeServiceStub(ch)
        reply = await stub.SubmitReport(pb.SubmitReportRequest(**fields), metadata=token(intake, "citizen"))  # type: ignore[arg-type]
        await stored(intake, reply.tracking_id)
        got = await stub.GetSubmission(
            pb.GetSubmissionRequest(tracking_id=reply.tracking_id), metadata=token(intake, "citizen")
        )
    assert got.submission.district_code == district
    assert bool(got.submission.neighbourhood_code) == neighbourhood
    if neighbourhood:
        assert got.submission.neighbourhood_code.startswith(district)
