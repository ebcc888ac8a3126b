"""The content moderation judges, whatever topic it came from: one `Content` per event.

Each content topic the worker consumes is one entry in `CONTENT_TOPICS`: the topic, its protobuf type, and how
to read the content id, type, text and author out of its message. Adding community posts or comments is one
line there once their topic and contract exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from sotong.intake.v1 import intake_events_pb2 as intake
from sotong_common import topics


@dataclass(frozen=True, slots=True)
class Content:
    content_id: str
    content_type: str
    text: str
    author: str
    source_event_id: str


class NotContent(ValueError):
    """The event cannot name the content it carries (e.g. an empty id): a poison message."""


# (content id, text, author) from a topic's message; the author keys the per-author repetition history.
Reader = Callable[[Any], tuple[str, str, str]]


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

    def content(self, message: Message, source_event_id: str) -> Content:
        content_id, text, author = self.read(message)
        if not content_id:
            raise NotContent(f"{self.message_type.DESCRIPTOR.full_name} has no content id")
        return Content(content_id, self.content_type, text, author, source_event_id)


def _submission(m: intake.SubmissionReceived) -> tuple[str, str, str]:
    # Intake does not reveal who reported (contact details stay encrypted in intake): the channel is the author.
    return m.submission_id, m.text, m.channel


CONTENT_TOPICS: tuple[ContentTopic, ...] = (
    ContentTopic(topics.SUBMISSION_RECEIVED, intake.SubmissionReceived, "submission", _submission, repetition=False),
    # ContentTopic(topics.COMMUNITY_POST_CREATED, community.PostCreated, "post", _post),  # when community exists
)
