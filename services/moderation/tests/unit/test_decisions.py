"""Decisions as announced: one id per source event, the evidence quoted, text that PostgreSQL can store."""

from __future__ import annotations

from sotong.community.v1 import community_events_pb2
from sotong.intake.v1 import intake_events_pb2
from sotong.moderation.v1 import moderation_events_pb2 as pb
from sotong_common import events, topics
from sotong_moderation.content import CONTENT_TOPICS, NotContent
from sotong_moderation.decisions import Judged, storable
from sotong_moderation.pipeline import Pipeline


def test_the_decision_id_derives_from_the_source_event_so_a_redelivery_is_recognised(pipeline: Pipeline) -> None:
    source = CONTENT_TOPICS[0]
    message = intake_events_pb2.SubmissionReceived(
        submission_id="s-1", text="최저가 대출 상담은 오픈채팅 open.kakao.com/o/abc123 으로 오세요", channel="app"
    )
    content = source.content(message, "event-1")
    first = Judged.of(content, pipeline.decide(content.content_id, content.text, content.author))
    again = Judged.of(content, pipeline.decide(content.content_id, content.text, content.author))
    assert first.decision_id == again.decision_id
    event = pb.DecisionMade.FromString(first.payload)
    assert event.content_id == "s-1" and event.content_type == "submission" and event.decided_by == "pipeline"
    assert event.action == pb.ACTION_REMOVE and "advertising" in event.categories
    assert any(e.text for e in event.evidence)  # moderators see what fired
    headers = dict(first.headers)
    assert headers[events.H_ID].decode() == first.decision_id
    assert headers[events.H_TYPE].decode() == topics.event_type(topics.DECISION_MADE)


def test_submissions_have_no_repetition_and_an_event_without_an_id_is_not_content() -> None:
    source = CONTENT_TOPICS[0]
    assert source.topic == topics.SUBMISSION_RECEIVED and not source.repetition
    try:
        source.content(intake_events_pb2.SubmissionReceived(text="x"), "e")
    except NotContent as exc:
        assert "no content id" in str(exc)
    else:
        raise AssertionError("an empty submission id must be refused")


def test_nul_characters_are_replaced_for_storage_and_nothing_else_changes() -> None:
    assert storable("a\x00b") == "a\ufffdb"
    assert storable("그대로 \x01 🙂") == "그대로 \x01 🙂"


def test_community_content_names_its_type_and_owner_and_a_reported_one_goes_to_a_person(pipeline: Pipeline) -> None:
    source = next(t for t in CONTENT_TOPICS if t.topic == topics.COMMUNITY_CONTENT_POSTED)
    clean = community_events_pb2.ContentPosted(
        content_id="comment:c-1", content_type="community.comment", text="한강공원 산책로가 좋아졌어요", author="kim"
    )
    content = source.content(clean, "e-1")
    assert (content.content_type, content.owner, content.review_reason) == ("community.comment", "kim", "")
    assert Judged.of(content, pipeline.decide(content.content_id, content.text, content.author)).decision.action == (
        "publish"
    )
    reported = community_events_pb2.ContentPosted(
        content_id="comment:c-1",
        content_type="community.comment",
        text=clean.text,
        author="kim",
        reason=community_events_pb2.POST_REASON_REPORTED,
        report_count=3,
    )
    content = source.content(reported, "e-2")
    judged = Judged.of(content, pipeline.decide(content.content_id, content.text, content.author))
    assert judged.decision.action == "review"
    assert judged.decision.evidence[-1].text == "reported by 3 citizens"
    advert = community_events_pb2.ContentPosted(
        content_id="comment:c-2",
        content_type="community.comment",
        text="최저가 대출 상담은 오픈채팅 open.kakao.com/o/abc123 으로 오세요",
        author="kim",
        reason=community_events_pb2.POST_REASON_REPORTED,
        report_count=3,
    )
    content = source.content(advert, "e-3")
    assert Judged.of(content, pipeline.decide(content.content_id, content.text, content.author)).decision.action == (
        "remove"
    )


def test_a_submission_owner_is_the_signed_in_author() -> None:
    source = CONTENT_TOPICS[0]
    message = intake_events_pb2.SubmissionReceived(submission_id="s-2", text="x", channel="app", author="lee")
    assert source.content(message, "e").owner == "lee"


def test_an_edited_or_reported_repost_is_not_a_repetition() -> None:
    source = next(t for t in CONTENT_TOPICS if t.topic == topics.COMMUNITY_CONTENT_POSTED)
    for reason, repost in (
        (community_events_pb2.POST_REASON_NEW, False),
        (community_events_pb2.POST_REASON_EDITED, True),
        (community_events_pb2.POST_REASON_REPORTED, True),
    ):
        message = community_events_pb2.ContentPosted(content_id="c", text="t", author="a", reason=reason)
        assert source.content(message, "e").repost is repost
