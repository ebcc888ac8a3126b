"""The content moderation judges, whatever topic it came from: one `Content` per event.

Each content topic the worker consumes is one entry in `CONTENT_TOPICS`: the topic, its protobuf type, and how
to read the content id, type, text and author out of its message, who may appeal a decision about it (its
author: a citizen's subject id), and whether its source asks for a person's review whatever the pipeline says
(community content hidden by citizens' reports).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from sotong.community.v1 import community_events_pb2 as community
from sotong.intake.v1 import intake_events_pb2 as intake
from sotong_common import topics


@dataclass(frozen=True, slots=True)
class Content:
    content_id: str
    content_type: str
    text: str
    author: str
    source_event_id: str
    # The subject id who may appeal a decision about it ("" = no citizen may: channels without a signed-in one).
    owner: str = ""
    # Non-empty: the source asks a person to decide (e.g. "reported by 3 citizens"); the decision is at least review.
    review_reason: str = ""
    # The same content posted again (edited, or reported): judged without the repetition stage, which would take
    # it for its author repeating themselves.
    repost: bool = False


class NotContent(ValueError):
    """The event cannot name the content it carries (e.g. an empty id): a poison message."""


# (content id, text, author) from a topic's message; the author keys the per-author repetition history.
Reader = Callable[[Any], tuple[str, str, str]]
# A string read from a topic's message (its owner, its content type, a reason to review it).
Field = Callable[[Any], str]


@dataclass(frozen=True, slots=True)
class ContentTopic:
    topic: str
    message_type: type[Message]
    content_type: str
    read: Reader
    # Whether the repetition stage applies. Intake submissions opt out: many citizens legitimately report the
    # same broken streetlight in the same words, and intake's own near-duplicate scoring merges such reports
    # into one incident; repetition is for authored posts and comments.
    repetition: bool = True
    # Who may appeal (default: nobody but operators), the content type when the message names it, and why a
    # person must review it whatever the pipeline says.
    owner: Field | None = None
    type_of: Field | None = None
    review: Field | None = None
    repost: Callable[[Any], bool] | None = None

    def content(self, message: Message, source_event_id: str) -> Content:
        content_id, text, author = self.read(message)
        if not content_id:
            raise NotContent(f"{self.message_type.DESCRIPTOR.full_name} has no content id")
        content_type = (self.type_of(message) if self.type_of else "") or self.content_type
        owner = self.owner(message) if self.owner else ""
        review = self.review(message) if self.review else ""
        repost = self.repost(message) if self.repost else False
        return Content(content_id, content_type, text, author, source_event_id, owner, review, repost)


def _submission(m: intake.SubmissionReceived) -> tuple[str, str, str]:
    # Intake does not reveal who reported (contact details stay encrypted in intake): the channel is the author
    # for the repetition history; the signed-in citizen's subject (if any) is the owner, who may appeal.
    return m.submission_id, m.text, m.channel


def _community(m: community.ContentPosted) -> tuple[str, str, str]:
    return m.content_id, m.text, m.author


def _reported(m: community.ContentPosted) -> str:
    if m.reason == community.POST_REASON_REPORTED:
        return f"reported by {m.report_count} citizens"
    return ""


CONTENT_TOPICS: tuple[ContentTopic, ...] = (
    ContentTopic(
        topics.SUBMISSION_RECEIVED,
        intake.SubmissionReceived,
        "submission",
        _submission,
        repetition=False,
        owner=lambda m: m.author,
    ),
    ContentTopic(
        topics.COMMUNITY_CONTENT_POSTED,
        community.ContentPosted,
        "community",
        _community,
        owner=lambda m: m.author,
        type_of=lambda m: m.content_type,
        review=_reported,
        repost=lambda m: m.reason in (community.POST_REASON_EDITED, community.POST_REASON_REPORTED),
    ),
)
