"""Mentions of the city's official SNS accounts, as a platform-neutral payload.

Each platform's API (X, Facebook, Instagram, YouTube, blogs) is polled or pushed by its own connector, which
reduces a post to this shape before it reaches intake:

    {"platform": "x", "post_id": "1859…", "author": {"handle": "@citizen", "id": "123"},
     "text": "@seoulcity 망원동 도로 침수됐어요 #제보", "created_at": "2026-11-24T12:00:00Z",
     "url": "https://…", "geo": {"lat": 37.55, "lng": 126.90}, "media_urls": ["https://…"]}

The message id is "<platform>:<post_id>" (ids are only unique per platform). The kind follows the hashtags a
citizen used (#재난 / #침수 → disaster report, #제보 / #신고 → report, #민원 → complaint) and otherwise is an
opinion: an untagged mention is most often a comment on city affairs, which is what opinion statistics count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sotong_intake.category import guess_category
from sotong_intake.channels.payload import Reader
from sotong_intake.submission import Channel, Contact, Location, Submission, SubmissionKind, clean_text

PLATFORM = re.compile(r"^[a-z][a-z0-9_]{0,20}$")

_HASHTAG_KINDS = (
    (("재난", "침수", "지진", "화재", "산사태", "disaster"), SubmissionKind.DISASTER_REPORT),
    (("제보", "신고", "report"), SubmissionKind.REPORT),
    (("민원", "complaint"), SubmissionKind.COMPLAINT),
)
_HASHTAG = re.compile(r"#([\w가-힣]+)")
_LEADING_MENTIONS = re.compile(r"^(?:@[\w.]+\s*)+")


def kind_from_hashtags(text: str) -> SubmissionKind:
    tags = {t.lower() for t in _HASHTAG.findall(text)}
    for words, kind in _HASHTAG_KINDS:
        if tags & set(words):
            return kind
    return SubmissionKind.OPINION


def submission_from_mention(payload: Mapping[str, Any]) -> Submission:
    """Map a mention to a submission; raises `ChannelPayloadError` if its structure is broken."""
    read = Reader()
    platform = read.text(payload, "platform", "platform", required=True)
    if platform is not None and not PLATFORM.match(platform):
        read.fail("platform", "must be a lowercase platform name such as x, facebook, instagram")
    post_id = read.text(payload, "post_id", "post_id", required=True)
    raw_text = read.text(payload, "text", "text", required=True)
    author = read.obj(payload, "author", "author")
    handle = read.text(author, "handle", "author.handle") or read.text(payload, "author_handle", "author_handle")
    geo = read.obj(payload, "geo", "geo")
    point = read.point(read.number(geo, "lat", "geo.lat"), read.number(geo, "lng", "geo.lng"), "geo")
    place_name = read.text(geo, "place", "geo.place")
    media = read.strings(payload, "media_urls", "media_urls")
    created_at = read.timestamp(payload, "created_at", "created_at")
    read.raise_if_failed()

    # "@seoulcity @mayor 망원동 침수" -> "망원동 침수": the mentions only say whom it was addressed to.
    text = clean_text(_LEADING_MENTIONS.sub("", raw_text or ""))
    guessed = guess_category(text)
    location = Location(point=point, address=place_name) if point or place_name else None
    return Submission(
        kind=kind_from_hashtags(text),
        text=text,
        channel=Channel.SNS,
        channel_message_id=f"{platform}:{post_id}",
        source=platform,
        category=guessed.code if guessed else None,
        location=location,
        media=media,
        contact=Contact(channel_user_id=handle) if handle else None,
        submitted_at=created_at,
    )
