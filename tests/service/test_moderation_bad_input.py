"""Bad input never crashes moderation: empty, 1 MB, binary garbage and mixed-script texts get a decision through the
worker and a decision or a clear error from CheckText; content without an id goes to the dead-letter topic."""

from __future__ import annotations

import uuid

import grpc
import pytest

from sotong.intake.v1 import intake_events_pb2
from sotong.moderation.v1 import moderation_events_pb2 as epb
from sotong.moderation.v1 import moderation_service_pb2 as pb
from sotong.moderation.v1 import moderation_service_pb2_grpc as pb_grpc
from sotong_common import events, topics
from sotong_common.errors import field_violations
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, eventually, produce_raw, read_all, sql, token

pytestmark = pytest.mark.service

GARBAGE = "".join(chr(c) for c in (0, 1, 2, 0xFFFD, 0x7F, 0x202E, 0xFEFF, 0x10FFFF, 0xE000)) * 50
MIXED = "Привет 안녕하세요 こんにちは 你好 مرحبا שלום 🙂 ＦＵＬＬ ｗｉｄｔｈ ㅅㅂ x̸̢̛ 시1발 ㄱㄴㄷ"
ONE_MB = "가" * (1 << 20)  # a million characters (3 MB of UTF-8) for the API
# About 1 MB on the wire, the most a Kafka record takes with the broker's default limit.
ONE_MB_RECORD = "가" * 333_000

TEXTS = {"empty": "", "one_mb": ONE_MB_RECORD, "garbage": GARBAGE, "mixed": MIXED, "spaces": " \t\n "}


def submit(stack: Stack, submission_id: str, text: str) -> None:
    message = intake_events_pb2.SubmissionReceived(submission_id=submission_id, text=text, channel="app")
    meta = events.EventMetadata.new(topics.SUBMISSION_RECEIVED, "test")
    produce_raw(
        stack,
        topics.SUBMISSION_RECEIVED,
        events.encode(message),
        key=submission_id.encode() or b"none",
        headers=meta.headers(with_trace=False),
    )


async def test_the_worker_decides_every_strange_text_and_dead_letters_what_is_not_content(
    fresh_stack: Stack,
) -> None:
    fresh_stack.start_services(("moderation-worker",), say=False)
    ids = {name: str(uuid.uuid4()) for name in TEXTS}
    for name, text in TEXTS.items():
        submit(fresh_stack, ids[name], text)
    submit(fresh_stack, "", "이 제보에는 아이디가 없습니다")  # not content: poison
    after = str(uuid.uuid4())
    submit(fresh_stack, after, "남산 둘레길 안내판이 훼손됐어요")  # and the worker goes on

    async def decided() -> dict[str, tuple[str, list[str]]] | None:
        ready = await sql(fresh_stack, "SELECT to_regclass('decisions') AS t", schema="moderation")
        if ready[0]["t"] is None:
            return None
        rows = await sql(
            fresh_stack,
            "SELECT content_id, action, evidence FROM decisions WHERE content_id = ANY($1)",
            [*ids.values(), after],
            schema="moderation",
        )
        return {r["content_id"]: (r["action"], r["evidence"]) for r in rows} if len(rows) == len(ids) + 1 else None

    got = await eventually(decided, timeout=90)
    assert got[after][0] == "publish"
    assert got[ids["empty"]][0] == "publish" and got[ids["spaces"]][0] == "publish"
    # A text over the pipeline's size cap is judged on its start and always seen by a person.
    assert got[ids["one_mb"]][0] == "review" and "pipeline.truncated" in got[ids["one_mb"]][1]
    assert got[ids["garbage"]][0] in {"publish", "review"}
    assert got[ids["mixed"]][0] in {"publish", "review", "remove"}
    stored = await sql(
        fresh_stack, "SELECT text FROM contents WHERE content_id = $1", ids["garbage"], schema="moderation"
    )
    assert "\x00" not in stored[0]["text"] and "\x01" in stored[0]["text"]  # NUL cannot be stored; the rest is

    dead = read_all(fresh_stack, topics.dlq_name(topics.SUBMISSION_RECEIVED))
    assert [r.key for r in dead] == [b"none"]
    assert b"no content id" in dict(dead[0].headers)[events.H_ERROR]
    assert fresh_stack.processes["moderation-worker"].poll() is None, "the worker must still be running"


async def test_check_text_answers_strange_texts_or_names_the_field(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("moderation-api",), say=False)
    meta = token(fresh_stack, "citizen")
    async with channel(fresh_stack, "moderation-api") as ch:
        stub = pb_grpc.ModerationServiceStub(ch)
        for text in ("", " \n\t"):
            with pytest.raises(grpc.aio.AioRpcError) as empty:
                await stub.CheckText(pb.CheckTextRequest(text=text), metadata=meta)
            assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert [v.field for v in field_violations(empty.value)] == ["text"]
        with pytest.raises(grpc.aio.AioRpcError) as big:
            await stub.CheckText(pb.CheckTextRequest(text=ONE_MB), metadata=meta)
        assert big.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in field_violations(big.value)] == ["text"]
        for text in (GARBAGE, MIXED):
            reply = await stub.CheckText(pb.CheckTextRequest(text=text, author="x"), metadata=meta)
            assert reply.decision.action in (epb.ACTION_PUBLISH, epb.ACTION_REVIEW, epb.ACTION_REMOVE)
            assert reply.decision.policy_version
        profane = await stub.CheckText(pb.CheckTextRequest(text="이 시1발 공무원들아 일 좀 해라"), metadata=meta)
        assert profane.decision.action != epb.ACTION_PUBLISH and "profanity" in profane.decision.categories
        assert any(e.clause == "profanity" and e.text for e in profane.decision.evidence)
        with pytest.raises(grpc.aio.AioRpcError) as long_id:
            await stub.GetDecision(
                pb.GetDecisionRequest(content_id="x" * 1000), metadata=token(fresh_stack, "moderator")
            )
        assert [v.field for v in field_violations(long_id.value)] == ["content_id"]
