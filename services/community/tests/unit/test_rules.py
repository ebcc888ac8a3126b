"""Pure rules: verification levels, spaces, complaints, moderation outcomes, communities, input checks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sotong.moderation.v1 import moderation_events_pb2 as mpb
from sotong_common.errors import InvalidArgument, PermissionDenied
from sotong_community import communities, complaints, moderated, verification
from sotong_community.input_rules import Violations
from sotong_community.spaces import AnswerState, Space


def test_verification_levels_are_ordered_and_unknown_levels_fail_closed() -> None:
    assert verification.satisfies("resident", "identity") and verification.satisfies("identity", "identity")
    assert not verification.satisfies("phone", "identity") and not verification.satisfies("superuser", "phone")
    with pytest.raises(PermissionDenied, match="needs verification level 'identity'"):
        verification.require("none", "identity", "supporting a proposal")
    assert verification.check_level("x", "") == "identity"
    with pytest.raises(InvalidArgument):
        verification.check_level("x", "none")


def test_a_space_names_each_wrong_value() -> None:
    bad = Space(
        "s", "", support_threshold=0, answer_threshold=-1, answer_period=timedelta(0),
        support_verification="gold", answer_states=(AnswerState("A!", "maybe", ""), AnswerState("A!", "accepted", "x")),
    )  # fmt: skip
    with pytest.raises(InvalidArgument) as error:
        bad.validated()
    fields = {v.field for v in error.value.violations}
    expected = {"space.title", "space.support_threshold", "space.answer_period", "space.support_verification"}
    expected |= {f"space.answer_states[0].{name}" for name in ("code", "kind", "label")}
    assert expected <= fields
    assert Space("s", "ok").validated().answer_state("accepted") is not None


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("합정역 2번 출구 가로등이 고장 났어요. 빨리 고쳐 주세요", True),
        ("우리 동네 불법주차 단속해 주세요", True),
        ("민원 넣습니다", True),
        ("좋은 제안이네요, 찬성합니다", False),
        ("공원이 넓어서 좋아요", False),
        ("이 제안 꼭 실현되길 바랍니다", False),  # a wish, but about no concrete problem
    ],
)
def test_complaints_are_requests_about_a_concrete_problem(text: str, complaint: bool) -> None:
    assert complaints.is_complaint(text) is complaint


def test_a_routed_comment_becomes_an_intake_complaint_and_comes_back_by_its_id() -> None:
    request = complaints.submission("c-1", "가로등 고쳐 주세요", "11440")
    assert request.channel == "app" and request.district_code == "11440"
    assert complaints.comment_of(request.channel_message_id) == "c-1" and complaints.comment_of("other") is None


def test_a_decision_shows_masks_waits_or_removes() -> None:
    publish = mpb.DecisionMade(action=mpb.ACTION_PUBLISH, masked_text="번호 ***", decided_by="pipeline")
    assert moderated.outcome(publish, "번호 010", False) == moderated.Outcome("published", "번호 ***", (), True)
    # Hidden by reports, the pipeline cannot show it again; a moderator can.
    assert moderated.outcome(publish, "번호 010", True).status == "hidden"
    by_person = mpb.DecisionMade(action=mpb.ACTION_PUBLISH, masked_text="x", decided_by="moderator-1")
    assert moderated.outcome(by_person, "x", True).status == "published"
    remove = mpb.DecisionMade(action=mpb.ACTION_REMOVE, categories=["profanity"])
    assert moderated.outcome(remove, "x", False) == moderated.Outcome("removed", "", ("profanity",), False)
    assert moderated.outcome(mpb.DecisionMade(action=mpb.ACTION_REVIEW), "x", False).status == "in_review"


def test_content_ids_parse_back() -> None:
    assert moderated.parse(moderated.content_id("proposal", "p1", 3)) == ("proposal", "p1", 3)
    assert moderated.parse("comment:c1") == ("comment", "c1", None)
    for other in ("submission-uuid", "comment:", "proposal:p:x", "nope:1"):
        assert moderated.parse(other) is None


def test_community_roles() -> None:
    communities.require_manager("owner", "x")
    communities.require_manager("moderator", "x")
    with pytest.raises(PermissionDenied):
        communities.require_manager("member", "x")
    with pytest.raises(PermissionDenied):
        communities.require_owner("moderator", "x")
    assert communities.assignable("moderator") and not communities.assignable("owner")


def test_input_rules_collect_every_violation() -> None:
    v = Violations()
    v.text("title", "", limit=10)
    v.text("body", "x" * 11, limit=10)
    v.text("name", "a\nb", limit=10, single_line=True)
    v.required_id("proposal_id", "not-a-uuid")
    v.request_id("request_id", "has space")
    v.district("district_code", "99999")
    v.page_size("page_size", 999)
    with pytest.raises(InvalidArgument) as error:
        v.raise_if_any()
    assert [x.field for x in error.value.violations] == [
        "title", "body", "name", "proposal_id", "request_id", "district_code", "page_size",
    ]  # fmt: skip
