"""Market-street promotion campaigns: what staff may ask for, what moderation's answer means, and the dispatch
requests the publishing service receives.

A campaign's text is checked by moderation before anything is sent (`sotong.moderation.v1.ModerationService/
CheckText`, see the README for why a call rather than a content topic): PUBLISH sends the text as moderation
returns it (personal data masked), REVIEW holds the campaign for a moderator (`ReviewCampaign`), REMOVE refuses
it naming the policy clauses. Advertising is the purpose of a promotion, so the `advertising` clause alone does
not refuse a campaign; every other clause does.

Each channel is one `DispatchRequested` on `partner.dispatch-requested.v1` (routine lane), with a dispatch id
derived from the campaign and the channel, so a retried request is delivered once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from sotong.publishing.v1 import publishing_events_pb2 as pub
from sotong_common.errors import FieldViolation
from sotong_partner.streets import Street

REQUESTER = "partner"
PURPOSE = "promotion"
TITLE_MAX = 40
BODY_MAX = 120
REQUEST_ID_MAX = 64
AHEAD_MAX = timedelta(days=90)
_NAMESPACE = uuid.UUID("6c3f1f4e-8d0a-4b71-9f52-2e7a5d9c1b30")

SNS = "sns"
NEWS_APP = "news_app"
CHANNELS = (SNS, NEWS_APP)

CHECKING = "checking"
IN_REVIEW = "in_review"
DISPATCHED = "dispatched"
REFUSED = "refused"

PUBLISH = "publish"
REVIEW = "review"
REMOVE = "remove"

TOLERATED = frozenset({"advertising"})
"""Clauses a promotion may trigger without being refused (it is advertising for the street, on purpose)."""


@dataclass(frozen=True)
class CampaignRequest:
    street_code: str
    title: str
    body: str
    channels: tuple[str, ...]
    citywide: bool
    not_before: datetime | None
    request_id: str


def check_request(
    street: Street | None,
    title: str,
    body: str,
    channels: Sequence[str],
    not_before: datetime | None,
    request_id: str,
    now: datetime,
) -> list[FieldViolation]:
    problems: list[FieldViolation] = []
    if street is None:
        problems.append(FieldViolation("street_code", "street_code must name a configured market street"))
    for name, text, high, lines in (("title", title, TITLE_MAX, False), ("body", body, BODY_MAX, True)):
        if not text.strip():
            problems.append(FieldViolation(name, f"{name} is required"))
        elif len(text) > high:
            problems.append(FieldViolation(name, f"{name} must be at most {high} characters (it has {len(text)})"))
        elif any(ord(c) < 0x20 and not (lines and c == "\n") for c in text):
            problems.append(FieldViolation(name, f"{name} must not contain control characters or line breaks"))
    if not channels:
        problems.append(FieldViolation("channels", "name at least one channel: SNS or NEWS_APP"))
    elif len(set(channels)) != len(channels) or not set(channels) <= set(CHANNELS):
        problems.append(FieldViolation("channels", "channels must be SNS and/or NEWS_APP, each once"))
    if not_before is not None:
        if not_before < now - timedelta(minutes=5):
            problems.append(FieldViolation("not_before", "not_before must not be in the past"))
        elif not_before > now + AHEAD_MAX:
            problems.append(FieldViolation("not_before", "not_before must be within 90 days"))
    if not request_id or len(request_id) > REQUEST_ID_MAX or not request_id.isascii() or not request_id.isprintable():
        problems.append(FieldViolation("request_id", "request_id must be 1-64 printable ASCII characters"))
    return problems


@dataclass(frozen=True)
class Verdict:
    status: str
    categories: tuple[str, ...]
    published_title: str
    published_body: str


def checked_text(title: str, body: str) -> str:
    """What moderation reads: the title, a line break, the body (the title holds no line break)."""
    return f"{title}\n{body}"


def verdict(action: str, categories: Sequence[str], masked_text: str, title: str, body: str) -> Verdict:
    """What moderation's answer means for a campaign (see the module doc); the text goes out as moderation
    returned it, personal data masked."""
    found = tuple(categories)
    if action == REMOVE and not set(found) <= TOLERATED:
        return Verdict(REFUSED, found, "", "")
    if action == REVIEW:
        return Verdict(IN_REVIEW, found, "", "")
    masked_title, newline, masked_body = masked_text.partition("\n")
    if not newline:
        masked_title, masked_body = title, body
    return Verdict(DISPATCHED, found, masked_title, masked_body)


def dispatch_id(campaign_id: str, channel: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{campaign_id}|{channel}"))


def dispatches(
    campaign_id: str,
    street: Street,
    title: str,
    body: str,
    channels: Sequence[str],
    citywide: bool,
    link: str,
    city_accounts: Sequence[str],
    requested_at: Timestamp,
    not_before: Timestamp | None,
) -> list[tuple[str, pub.DispatchRequested]]:
    """(channel, request) per channel of the campaign."""
    out: list[tuple[str, pub.DispatchRequested]] = []
    rendering = pub.Rendering(language="ko", title=title, body=body, url=link)
    for channel in channels:
        if channel == SNS:
            accounts = list(dict.fromkeys([*city_accounts, *street.sns_accounts]))
            kind, audience = pub.CHANNEL_SNS, pub.Audience(targets=accounts)
        else:
            segment = "all" if citywide else f"districts:{street.district_code}"
            kind, audience = pub.CHANNEL_NEWS_APP_PUSH, pub.Audience(segment=segment)
        request = pub.DispatchRequested(
            dispatch_id=dispatch_id(campaign_id, channel),
            message_id=f"campaign:{campaign_id}",
            thread_id=f"street:{street.code}",
            channel=kind,
            priority=pub.PRIORITY_ROUTINE,
            purpose=PURPOSE,
            audience=audience,
            renderings=[rendering],
            requested_at=requested_at,
            requester=REQUESTER,
        )
        if not_before is not None:
            request.not_before.CopyFrom(not_before)
        out.append((channel, request))
    return out


CHANNEL_OF_KIND = {pub.CHANNEL_SNS: SNS, pub.CHANNEL_NEWS_APP_PUSH: NEWS_APP}
