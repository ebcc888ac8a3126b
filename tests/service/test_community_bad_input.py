"""Bad input and closed doors on the real stack (issue 11's last done-when item).

Every RPC of CommunityService is fuzzed with hypothesis (requests generated from the contract itself, mixed with
ids that exist so the calls reach the stores): each answer is OK or a clear error (INVALID_ARGUMENT with field
violations, NOT_FOUND, FAILED_PRECONDITION, PERMISSION_DENIED), never INTERNAL or UNKNOWN, and the API still
serves afterwards. Creating calls repeated with the same request id store nothing twice. Supporting a withdrawn,
archived or answered proposal is FAILED_PRECONDITION; a proposal whose answer passes its deadline is escalated.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sotong.community.v1 import community_service_pb2 as pb
from sotong.community.v1 import community_service_pb2_grpc as pb_grpc
from sotong.publishing.v1 import publishing_events_pb2 as ppb
from sotong_common import auth, topics
from sotong_common.errors import field_violations
from sotong_localstack.stack import Stack
from sotong_localstack.testing import read_all, sql

pytestmark = pytest.mark.service

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
CLEAR = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.ALREADY_EXISTS,
}
SERVICE = pb.DESCRIPTOR.services_by_name["CommunityService"]
F = descriptor.FieldDescriptor
# Different texts: one author posting near-identical proposals is removed as repetition by moderation.
TITLES = {
    "p": ("망원시장 앞 자전거 거치대", "거치대가 부족합니다."),
    "w": ("성산대교 북단 보행로 확장", "자전거와 보행자가 자주 부딪힙니다."),
    "a": ("연남동 경의선숲길 야간 조명", "밤 10시 이후 산책로가 너무 어둡습니다."),
    "d": ("상암동 월드컵공원 셔틀버스", "주말 행사 때 대중교통이 부족합니다."),
}


def metadata(stack: Stack, subject: str, *roles: str, verification: str = "resident") -> tuple[tuple[str, str], ...]:
    assert stack.state is not None
    return (
        (
            "authorization",
            "Bearer " + auth.issue(stack.state.jwt_secret, subject, roles or ("citizen",), verification=verification),
        ),
    )


def wait(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail("condition not met in time")


@pytest.fixture()
def community(fresh_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Stack:
    monkeypatch.setenv("SOTONG_COMMUNITY_TIMER_SECONDS", "1")
    fresh_stack.start_services(("community-api", "community-worker", "moderation-worker"), say=False)
    return fresh_stack


@pytest.fixture()
def stub(community: Stack) -> Any:
    assert community.state is not None
    with grpc.insecure_channel(f"127.0.0.1:{community.state.grpc_ports['community-api']}") as ch:
        yield pb_grpc.CommunityServiceStub(ch)


def published(stub: Any, who: Any, space_id: str = "seoul", request_id: str = "p") -> str:
    created = stub.CreateProposal(
        pb.CreateProposalRequest(
            space_id=space_id, title=TITLES[request_id][0], body=TITLES[request_id][1], district_code="11440",
            category="transport", request_id=request_id,
        ),
        metadata=who,
    )  # fmt: skip
    pid = created.proposal.proposal_id
    wait(lambda: stub.GetProposal(pb.GetProposalRequest(proposal_id=pid), metadata=who).proposal.state == "published")
    return pid


def test_closed_proposals_take_no_supports_and_overdue_answers_are_escalated(community: Stack, stub: Any) -> None:
    author = metadata(community, "author-1")
    operator = metadata(community, "operator-1", "operator")
    fan = metadata(community, "fan-1", "citizen")
    # A space whose periods are seconds long, so archiving and escalation happen while the test watches.
    space = pb.Space(space_id="fast", title="빠른 공간", support_threshold=1, answer_threshold=1)
    space.answer_period.FromSeconds(2)
    space.archive_after.FromSeconds(3)
    stub.UpsertSpace(pb.UpsertSpaceRequest(space=space), metadata=operator)

    withdrawn = published(stub, author, "fast", "w")
    stub.WithdrawProposal(
        pb.WithdrawProposalRequest(proposal_id=withdrawn, reason="다른 방법을 찾았어요"), metadata=author
    )
    archived = published(stub, author, "fast", "a")
    wait(lambda: stub.GetProposal(pb.GetProposalRequest(proposal_id=archived), metadata=author).proposal.state
         == "archived", timeout=30)  # fmt: skip
    for closed in (withdrawn, archived):
        with pytest.raises(grpc.RpcError) as refused:
            stub.SupportProposal(pb.SupportProposalRequest(proposal_id=closed), metadata=fan)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION, closed
        assert "takes no supports" in refused.value.details()
    unverified = metadata(community, "anon-1", "citizen", verification="none")
    with pytest.raises(grpc.RpcError) as denied:
        stub.SupportProposal(pb.SupportProposalRequest(proposal_id=archived), metadata=unverified)
    assert denied.value.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED)

    # One support opens the forum, one participant obliges an answer due in 2 s; it passes and is escalated.
    due = published(stub, author, "fast", "d")
    assert stub.SupportProposal(pb.SupportProposalRequest(proposal_id=due), metadata=fan).state == "forum_open"
    joined = stub.JoinForum(pb.JoinForumRequest(proposal_id=due, stance=pb.STANCE_DISAGREE), metadata=fan)
    assert joined.state == "answer_required"
    again = stub.JoinForum(pb.JoinForumRequest(proposal_id=due, stance=pb.STANCE_AGREE), metadata=fan)
    assert (again.participant_count, again.changed) == (1, True)  # a changed stance is not a new participant
    wait(lambda: stub.GetProposal(pb.GetProposalRequest(proposal_id=due), metadata=author).proposal.state
         == "answer_overdue", timeout=30)  # fmt: skip

    def escalated() -> list[ppb.DispatchRequested]:
        found = [ppb.DispatchRequested.FromString(r.value) for r in read_all(community, topics.COMMUNITY_DISPATCH)]
        return [d for d in found if d.purpose == "answer_overdue" and d.thread_id == f"community:proposal:{due}"]

    notice = wait(escalated, timeout=30)
    assert len(notice) == 1 and list(notice[0].audience.targets) == ["community-answers-desk"]
    # Still answerable late; then closed to supports.
    stub.StageAnswer(
        pb.StageAnswerRequest(proposal_id=due, state_code="rejected", text="예산이 없습니다"), metadata=operator
    )
    stub.PublishAnswer(pb.PublishAnswerRequest(proposal_id=due), metadata=operator)
    with pytest.raises(grpc.RpcError) as answered:
        stub.SupportProposal(pb.SupportProposalRequest(proposal_id=due), metadata=metadata(community, "fan-2"))
    assert answered.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    # Bad input names its field.
    with pytest.raises(grpc.RpcError) as bad:
        stub.CreateProposal(
            pb.CreateProposalRequest(title="", body="x" * 20_000, district_code="99999", request_id="a b"),
            metadata=author,
        )
    assert {v.field for v in field_violations(bad.value)} == {"title", "body", "district_code", "request_id"}


def strings(known: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(known),
        st.just(""),
        st.text(max_size=30),
        st.sampled_from(["seoul", "11440", "accepted", "identity", "comment:" + str(uuid.uuid4()), "\x00", "a\u200b"]),
        st.builds(lambda c, n: c * n, st.sampled_from(["가", "x", "\n"]), st.integers(2_000, 12_000)),
        st.builds(lambda: str(uuid.uuid4())),
    )


def messages(desc: descriptor.Descriptor, known: list[str], depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of `desc` with random values in every field (nested up to three levels)."""
    from google.protobuf import message_factory

    cls = message_factory.GetMessageClass(desc)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        out = cls()
        for field in desc.fields:
            if not draw(st.booleans()):
                continue
            values = draw(st.lists(value(field), min_size=1, max_size=4 if field.is_repeated else 1))
            if field.is_repeated:
                target = getattr(out, field.name)
                for v in values:
                    if field.type == F.TYPE_MESSAGE:
                        target.add().CopyFrom(v)
                    else:
                        target.append(v)
            elif field.type == F.TYPE_MESSAGE:
                getattr(out, field.name).CopyFrom(values[0])
            else:
                setattr(out, field.name, values[0])
        return out

    def value(field: descriptor.FieldDescriptor) -> st.SearchStrategy[Any]:
        if field.type == F.TYPE_STRING:
            return strings(known)
        if field.type == F.TYPE_BOOL:
            return st.booleans()
        if field.type == F.TYPE_ENUM:
            return st.integers(0, len(field.enum_type.values) + 1)
        if field.type in (F.TYPE_INT32, F.TYPE_SINT32):
            return st.one_of(st.integers(-(2**31), 2**31 - 1), st.integers(-2, 200))
        if field.type in (F.TYPE_INT64, F.TYPE_SINT64):
            return st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-2, 50))
        if field.type == F.TYPE_MESSAGE:
            if field.message_type.full_name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
                return st.builds(
                    lambda s, n: message_factory.GetMessageClass(field.message_type)(seconds=s, nanos=n),
                    st.one_of(st.integers(-(2**40), 2**40), st.integers(-100, 10**9)),
                    st.integers(0, 999_999_999),
                )
            if depth >= 3:
                return st.just(message_factory.GetMessageClass(field.message_type)())
            return messages(field.message_type, known, depth + 1)
        return st.none()

    return build()


def test_every_rpc_fuzzed_gets_a_clear_answer_and_nothing_is_stored_twice(community: Stack, stub: Any) -> None:
    everyone = metadata(community, "fuzzer", "citizen", "operator", "dept_admin", "moderator")
    author = metadata(community, "author-9")
    proposal_id = published(stub, author)
    debate = stub.OpenDebate(pb.OpenDebateRequest(title="t", description="d", request_id="d"), metadata=everyone)
    poll = stub.CreatePoll(
        pb.CreatePollRequest(poll=pb.Poll(title="p", questions=[pb.Question(text="q", kind=pb.QUESTION_KIND_SCALE)]),
                             request_id="p"),
        metadata=everyone,
    ).poll  # fmt: skip
    group = stub.CreateCommunity(pb.CreateCommunityRequest(name="n", description="d", request_id="g"), metadata=author)
    known = [proposal_id, debate.debate.debate_id, poll.poll_id, group.community.community_id, "author-9", "fuzzer"]
    answers: dict[str, set[grpc.StatusCode]] = {}

    def fuzzer(name: str, call: Any, input_type: descriptor.Descriptor) -> Any:
        @FUZZ
        @given(messages(input_type, known))
        def fuzz(request: Message) -> None:
            try:
                call(request, metadata=everyone, timeout=30)
                code = grpc.StatusCode.OK
            except grpc.RpcError as error:
                code = error.code()
                assert code in CLEAR, f"{name}: {code} {error.details()} for {request}"
                if code == grpc.StatusCode.INVALID_ARGUMENT:
                    assert field_violations(error), f"{name}: INVALID_ARGUMENT without field violations"
            answers.setdefault(name, set()).add(code)

        return fuzz

    for method in SERVICE.methods:
        fuzzer(method.name, getattr(stub, method.name), method.input_type)()
    assert set(answers) == {m.name for m in SERVICE.methods}
    reached = {name for name, codes in answers.items() if codes - {grpc.StatusCode.INVALID_ARGUMENT}}
    assert len(reached) >= len(answers) // 2, f"the fuzzing mostly stopped at validation: {answers}"
    assert community.state is not None
    with grpc.insecure_channel(f"127.0.0.1:{community.state.grpc_ports['community-api']}") as ch:
        serving = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
    assert serving.status == health_pb2.HealthCheckResponse.SERVING

    # The same request id twice stores one row: proposals, comments, debates, statements, polls, communities, posts.
    twice = [
        ("CreateProposal", pb.CreateProposalRequest(title="같은 제안", body="본문", request_id="same")),
        ("PostComment", pb.PostCommentRequest(target=pb.TargetRef(kind=pb.TARGET_KIND_PROPOSAL, id=proposal_id),
                                              text="같은 댓글", request_id="same")),
        ("OpenDebate", pb.OpenDebateRequest(title="같은 토론", description="d", request_id="same")),
        ("CreatePoll", pb.CreatePollRequest(poll=pb.Poll(title="같은 설문",
                                            questions=[pb.Question(text="q", kind=pb.QUESTION_KIND_SCALE)]),
                                            request_id="same")),
        ("CreateCommunity", pb.CreateCommunityRequest(name="같은 모임", description="d", request_id="same")),
    ]  # fmt: skip
    for name, request in twice:
        first, second = (getattr(stub, name)(request, metadata=everyone) for _ in range(2))
        assert first.created and not second.created, name
        assert _id(first) and _id(first) == _id(second), name
    rows = asyncio.run(
        sql(community, "SELECT (SELECT count(*) FROM proposals WHERE request_id = 'same') AS p,"
            " (SELECT count(*) FROM comments WHERE request_id = 'same') AS c,"
            " (SELECT count(*) FROM debates WHERE request_id = 'same') AS d,"
            " (SELECT count(*) FROM polls WHERE request_id = 'same') AS q,"
            " (SELECT count(*) FROM groups WHERE request_id = 'same') AS g", schema="community")
    )  # fmt: skip
    assert dict(rows[0]) == {"p": 1, "c": 1, "d": 1, "q": 1, "g": 1}


def _id(response: Message) -> str:
    for inner in ("proposal", "comment", "debate", "poll", "community"):
        if inner in response.DESCRIPTOR.fields_by_name:
            entity = getattr(response, inner)
            return str(getattr(entity, f"{inner}_id"))
    return ""
