"""Moderation's human side on the real stack: the review queue, moderators' decisions, appeals and the export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import grpc
import pytest

from sotong.intake.v1 import intake_events_pb2
from sotong.moderation.v1 import moderation_events_pb2 as epb
from sotong.moderation.v1 import moderation_service_pb2 as pb
from sotong.moderation.v1 import moderation_service_pb2_grpc as pb_grpc
from sotong_common import auth, events, topics
from sotong_common.errors import field_violations
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, produce_raw, read_all, sql, token

pytestmark = pytest.mark.service

TEXTS = {
    "political": "다음 선거에서 김철수 후보를 찍어 주세요, 민주당 화이팅",
    "slander": "구청장 홍길동은 뇌물 받은 사기꾼이다",
    "copyright": "최신 영화 토렌트 공유합니다 무료다시보기 링크 드려요",
    "advert": "최저가 대출 상담은 오픈채팅 open.kakao.com/o/abc123 으로 오세요",
    "clean": "한강공원 산책로 가로등이 밤마다 꺼져 있어요",
}


def submit(stack: Stack, text: str, author: str = "test-citizen") -> str:
    submission_id = str(uuid.uuid4())
    message = intake_events_pb2.SubmissionReceived(submission_id=submission_id, text=text, channel="app", author=author)
    meta = events.EventMetadata.new(topics.SUBMISSION_RECEIVED, "test")
    produce_raw(
        stack,
        topics.SUBMISSION_RECEIVED,
        events.encode(message),
        key=submission_id.encode(),
        headers=meta.headers(with_trace=False),
    )
    return submission_id


async def decided(stack: Stack, ids: list[str]) -> dict[str, str]:
    async def check() -> dict[str, str] | None:
        ready = await sql(stack, "SELECT to_regclass('contents') AS t", schema="moderation")
        if ready[0]["t"] is None:
            return None
        rows = await sql(
            stack, "SELECT content_id, action FROM decisions WHERE content_id = ANY($1)", ids, schema="moderation"
        )
        return {r["content_id"]: r["action"] for r in rows} if len(rows) == len(ids) else None

    return await eventually(check)


@pytest.fixture()
def moderation(fresh_stack: Stack) -> Stack:
    fresh_stack.start_services(("moderation-api", "moderation-worker"), say=False)
    return fresh_stack


async def test_queue_shows_what_people_must_judge_paged_and_filtered(moderation: Stack) -> None:
    ids = {name: submit(moderation, text) for name, text in TEXTS.items()}
    actions = await decided(moderation, list(ids.values()))
    assert actions[ids["advert"]] == "remove" and actions[ids["clean"]] == "publish"
    moderator = token(moderation, "moderator")
    async with channel(moderation, "moderation-api") as ch:
        stub = pb_grpc.ModerationServiceStub(ch)
        seen: list[pb.QueueItem] = []
        page_token = ""
        pages = 0
        while True:
            page = await stub.ListQueue(pb.ListQueueRequest(page_size=2, page_token=page_token), metadata=moderator)
            assert page.total == 3  # what is waiting, on every page, not only this one
            seen.extend(page.items)
            pages += 1
            page_token = page.next_page_token
            if not page_token:
                break
        # Slander, defamation, political purposes and copyright are never removed automatically: they wait here.
        assert {i.content_id for i in seen} == {ids["political"], ids["slander"], ids["copyright"]}
        assert pages == 2
        by_id = {i.content_id: i for i in seen}
        assert "political" in by_id[ids["political"]].decision.categories
        assert {"slander", "defamation"} <= set(by_id[ids["slander"]].decision.categories)
        assert "copyright" in by_id[ids["copyright"]].decision.categories
        assert all(i.reason == pb.QUEUE_REASON_PIPELINE and i.decision.evidence for i in seen)
        assert by_id[ids["political"]].decision.evidence[0].text  # the moderator sees what fired

        only = await stub.ListQueue(pb.ListQueueRequest(clauses=["political"]), metadata=moderator)
        assert [i.content_id for i in only.items] == [ids["political"]] and only.total == 1
        assert not (await stub.ListQueue(pb.ListQueueRequest(content_type="comment"), metadata=moderator)).items
        assert not (await stub.ListQueue(pb.ListQueueRequest(min_age_seconds=3600), metadata=moderator)).items
        assert len((await stub.ListQueue(pb.ListQueueRequest(max_age_seconds=3600), metadata=moderator)).items) == 3

        with pytest.raises(grpc.aio.AioRpcError) as bad_token:
            await stub.ListQueue(pb.ListQueueRequest(page_token="not-ours!"), metadata=moderator)
        assert bad_token.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in field_violations(bad_token.value)] == ["page_token"]
        with pytest.raises(grpc.aio.AioRpcError) as bad_clause:
            await stub.ListQueue(pb.ListQueueRequest(clauses=["rudeness"]), metadata=moderator)
        assert [v.field for v in field_violations(bad_clause.value)] == ["clauses"]
        with pytest.raises(grpc.aio.AioRpcError) as citizen:
            await stub.ListQueue(pb.ListQueueRequest(), metadata=token(moderation, "citizen"))
        assert citizen.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_decide_and_appeal_are_audited_announced_and_exported(moderation: Stack) -> None:
    political = submit(moderation, TEXTS["political"])
    advert = submit(moderation, TEXTS["advert"])
    await decided(moderation, [political, advert])
    moderator = token(moderation, "moderator")
    async with channel(moderation, "moderation-api") as ch:
        stub = pb_grpc.ModerationServiceStub(ch)
        first = (await stub.GetDecision(pb.GetDecisionRequest(content_id=political), metadata=moderator)).decision
        assert first.decided_by == "pipeline" and first.action == epb.ACTION_REVIEW

        for request, field in [
            (pb.DecideRequest(content_id=political, action=epb.ACTION_REMOVE, clauses=["political"]), "reason"),
            (pb.DecideRequest(content_id=political, action=epb.ACTION_REMOVE, reason="선거운동"), "clauses"),
            (pb.DecideRequest(content_id=political, action=epb.ACTION_REVIEW, reason="?"), "action"),
            (pb.DecideRequest(action=epb.ACTION_PUBLISH, reason="ok"), "content_id"),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as bad:
                await stub.Decide(request, metadata=moderator)
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert field in [v.field for v in field_violations(bad.value)]
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.Decide(
                pb.DecideRequest(content_id="nope", action=epb.ACTION_PUBLISH, reason="ok"), metadata=moderator
            )
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as not_moderator:
            await stub.Decide(
                pb.DecideRequest(content_id=political, action=epb.ACTION_PUBLISH, reason="ok"),
                metadata=token(moderation, "citizen"),
            )
        assert not_moderator.value.code() == grpc.StatusCode.PERMISSION_DENIED

        removed = await stub.Decide(
            pb.DecideRequest(
                content_id=political,
                action=epb.ACTION_REMOVE,
                clauses=["political"],
                reason="특정 후보 지지: 선거운동 게시물",
                expected_decision_id=first.decision_id,
            ),
            metadata=moderator,
        )
        assert removed.decision.decided_by == "test-moderator"
        assert removed.decision.previous_decision_id == first.decision_id
        with pytest.raises(grpc.aio.AioRpcError) as stale:  # a second moderator looked at the old decision
            await stub.Decide(
                pb.DecideRequest(
                    content_id=political,
                    action=epb.ACTION_PUBLISH,
                    reason="문제 없음",
                    expected_decision_id=first.decision_id,
                ),
                metadata=moderator,
            )
        assert stale.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        queue = await stub.ListQueue(pb.ListQueueRequest(), metadata=moderator)
        assert political not in {i.content_id for i in queue.items}

        # Another citizen may not appeal it (only its author may).
        other = (("authorization", "Bearer " + auth.issue(moderation.state.jwt_secret, "someone-else", ["citizen"])),)
        with pytest.raises(grpc.aio.AioRpcError) as not_theirs:
            await stub.Appeal(pb.AppealRequest(content_id=political, reason="제 글이 아니지만"), metadata=other)
        assert not_theirs.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "only the author" in (not_theirs.value.details() or "")

        # The author appeals the removal: back in the queue, audited; a second open appeal is refused.
        citizen = token(moderation, "citizen")
        with pytest.raises(grpc.aio.AioRpcError) as no_reason:
            await stub.Appeal(pb.AppealRequest(content_id=political), metadata=citizen)
        assert [v.field for v in field_violations(no_reason.value)] == ["reason"]
        appeal = (
            await stub.Appeal(pb.AppealRequest(content_id=political, reason="정책 제안일 뿐입니다"), metadata=citizen)
        ).appeal
        assert appeal.appealed_by == "test-citizen" and appeal.decision_id == removed.decision.decision_id
        with pytest.raises(grpc.aio.AioRpcError) as twice:
            await stub.Appeal(pb.AppealRequest(content_id=political, reason="다시"), metadata=citizen)
        assert twice.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        with pytest.raises(grpc.aio.AioRpcError) as moderator_appeals:
            await stub.Appeal(pb.AppealRequest(content_id=advert, reason="x"), metadata=moderator)
        assert moderator_appeals.value.code() == grpc.StatusCode.PERMISSION_DENIED
        queue = await stub.ListQueue(pb.ListQueueRequest(), metadata=moderator)
        appealed = [i for i in queue.items if i.content_id == political]
        assert len(appealed) == 1 and appealed[0].reason == pb.QUEUE_REASON_APPEAL
        assert appealed[0].appeal_reason == "정책 제안일 뿐입니다"
        assert appealed[0].decision.decision_id == removed.decision.decision_id

        upheld = await stub.Decide(
            pb.DecideRequest(content_id=political, action=epb.ACTION_PUBLISH, reason="정책 의견으로 판단"),
            metadata=moderator,
        )
        got = await stub.GetDecision(pb.GetDecisionRequest(content_id=political), metadata=moderator)
        assert [d.decided_by for d in got.history] == ["pipeline", "test-moderator", "test-moderator"]
        assert [d.action for d in got.history] == [epb.ACTION_REVIEW, epb.ACTION_REMOVE, epb.ACTION_PUBLISH]
        assert got.decision.decision_id == upheld.decision.decision_id
        assert got.decision.evidence and got.history[0].evidence[0].clause == "political"
        assert got.appeals[0].resolved_by_decision_id == upheld.decision.decision_id
        assert not got.in_queue

        # Every decision went out on moderation.decision-made.v1, the moderators' ones with who and why.
        async def announced() -> list[epb.DecisionMade] | None:
            found = [
                epb.DecisionMade.FromString(r.value)
                for r in read_all(moderation, topics.DECISION_MADE, timeout_ms=1000)
                if r.key == political.encode()
            ]
            return found if len({d.decision_id for d in found}) == 3 else None

        out = await eventually(announced, timeout=30)
        reasons = {d.decision_id: d.reason for d in out}
        assert reasons[upheld.decision.decision_id] == "정책 의견으로 판단"

        exported = [
            r async for r in stub.ExportDecisions(pb.ExportDecisionsRequest(), metadata=token(moderation, "operator"))
        ]
        assert [(r.content_id, r.action, list(r.labels), r.decided_by) for r in exported] == [
            (political, epb.ACTION_REMOVE, ["political"], "test-moderator"),
            (political, epb.ACTION_PUBLISH, [], "test-moderator"),
        ]
        assert exported[0].text == TEXTS["political"] and exported[0].reason == "특정 후보 지지: 선거운동 게시물"
        everything = [
            r async for r in stub.ExportDecisions(pb.ExportDecisionsRequest(include_pipeline=True), metadata=moderator)
        ]
        assert len(everything) == 4

    # The same records as JSON lines from the command line, for training machines.
    assert moderation.state is not None
    cli = Path(sys.executable).parent / "sotong-moderation-export"
    done = subprocess.run(
        [str(cli)],
        env={**os.environ, **moderation.state.env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(x["content_id"], x["action"], x["labels"]) for x in lines] == [
        (political, "remove", ["political"]),
        (political, "publish", []),
    ]
    assert lines[0]["text"] == TEXTS["political"] and lines[0]["decided_by"] == "test-moderator"
