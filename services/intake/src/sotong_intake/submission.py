"""The normalized submission every channel is turned into, and the rules it must meet before it is accepted.

Whatever the channel (the app, KakaoTalk, an SNS mention, the 응답소 portal, a webhook, Open311, the 120 call
centre), downstream services see one shape. Validation returns every problem at once as `FieldViolation`s naming
the field, so the gRPC API can answer with one BadRequest listing them and Open311 with one error list, and a
citizen fixes everything in one go instead of one error per attempt.

Limits and why:
- text: 1..5,000 characters after trimming. 응답소 and 국민신문고 accept a few thousand characters; 5,000 fits a
  long complaint yet bounds what moderation and the duplicate scorer must read. Kakao utterances stop at 1,000.
- title: at most 200 characters (응답소 titles are short; Open311 has none).
- media: at most 10 references, each an absolute http(s) URL of at most 2,048 characters. Media are uploaded
  elsewhere; intake only keeps references, and anything but http(s) (file:, data:, javascript:) is refused.
- channel_message_id: at most 128 printable characters without spaces; required for channels that deliver
  at-least-once (kakao, sns, eungdapso, webhook), since it is the key that makes their redelivery idempotent.
- location: a point must be inside Seoul (the service area, with the gazetteer's border tolerance); a district
  code must be one of the 25; a report ("this pothole") needs some location, other kinds may have none.
- every text field, whichever door it came through: no control characters but tab, line feed and carriage
  return (`sotong_common.text_fields`). PostgreSQL refuses NUL, and one NUL used to fail the insert of a whole
  group-commit batch, so it is refused here, naming the field, before anything is stored.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from sotong_common.geo import Seoul
from sotong_common.text_fields import control_character
from sotong_intake.category import Attribute
from sotong_intake.category import category as find_category

MAX_TEXT_CHARS = 5_000
MAX_TITLE_CHARS = 200
MAX_MEDIA = 10
MAX_MEDIA_URL_CHARS = 2_048
MAX_CHANNEL_MESSAGE_ID_CHARS = 128
MAX_ADDRESS_CHARS = 300
MAX_NAME_CHARS = 50
MAX_ATTRIBUTES = 20

_Fail = Callable[[str, str], None]


class SubmissionKind(StrEnum):
    COMPLAINT = "complaint"  # 민원: something is wrong and the citizen wants it handled
    REPORT = "report"  # 신고: a problem at a place (pothole, dumping)
    OPINION = "opinion"  # 의견: a view or proposal, counted in opinion statistics
    DISASTER_REPORT = "disaster_report"  # 재난 제보: feeds the situation room's incident timeline


class Channel(StrEnum):
    APP = "app"  # 내 손안에 서울 and web pages, through the gRPC gateway
    KAKAO = "kakao"  # KakaoTalk channel chatbot
    SNS = "sns"  # mentions of the city's official accounts
    EUNGDAPSO = "eungdapso"  # 응답소, the civil-complaint portal
    WEBHOOK = "webhook"  # partner systems posting signed JSON
    OPEN311 = "open311"  # GeoReport v2 clients
    CALLCENTER = "callcenter"  # 120 다산콜재단


CHANNELS_REQUIRING_MESSAGE_ID = frozenset({Channel.KAKAO, Channel.SNS, Channel.EUNGDAPSO, Channel.WEBHOOK})
FORM_CHANNELS = frozenset({Channel.APP, Channel.OPEN311, Channel.WEBHOOK})
"""Channels whose clients show a category's attribute form, so its required attributes can be demanded.

On chat, SNS, the portal and the phone the category is guessed or set by staff afterwards; refusing a flooding
report from a tweet because nobody asked how deep the water was would lose exactly the reports that matter.
"""


@dataclass(frozen=True, slots=True)
class GeoPoint:
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class Location:
    """Where the issue is, in whichever forms the channel gave; any combination may be present."""

    point: GeoPoint | None = None
    address: str | None = None
    district_code: str | None = None

    @property
    def is_empty(self) -> bool:
        return self.point is None and not (self.address and self.address.strip()) and not self.district_code


@dataclass(frozen=True, slots=True)
class Contact:
    """Personal data of the reporter: stored only encrypted (see `contact`), never logged, purged after retention.

    `channel_user_id` is the channel's identifier for the person (Kakao user key, SNS handle), which the reply
    path needs and which identifies a person just as a phone number does.
    """

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    channel_user_id: str | None = None

    def __repr__(self) -> str:
        # A dataclass repr would put personal data into any log line or traceback that prints a submission.
        present = [f for f in ("name", "phone", "email", "channel_user_id") if getattr(self, f)]
        return f"Contact(<redacted: {', '.join(present) or 'empty'}>)"

    @property
    def is_empty(self) -> bool:
        return not (self.name or self.phone or self.email or self.channel_user_id)


@dataclass(frozen=True, slots=True)
class Submission:
    """One citizen submission as intake accepts it from any channel.

    `source` says where within the channel it came from (the SNS platform, the webhook partner, the Kakao bot),
    since a message id is only unique within its source. `kind` and `channel` are plain strings (normally the
    enum values) so that a bad value from a channel can be reported as a field violation instead of failing while
    the object is built.
    """

    kind: str
    text: str
    channel: str
    channel_message_id: str | None = None
    source: str | None = None
    category: str | None = None
    title: str | None = None
    location: Location | None = None
    media: tuple[str, ...] = ()
    contact: Contact | None = None
    submitted_at: datetime | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    # The signed-in citizen who wrote it (the token's subject), when one did: with operators, the only reader of
    # the original text; everyone else sees the text moderation published (personal data masked) or nothing.
    author: str | None = None


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One problem with one field; `field` is a dotted path such as "location.lat" or "media[2]"."""

    field: str
    description: str


def clean_text(text: str) -> str:
    """The form in which text is stored: NFC-normalized, trimmed, control characters other than newlines removed.

    Korean arrives both precomposed and as separate jamo (macOS, some Android keyboards); NFC makes "서교동" the
    same string whichever way it was typed, which address matching and duplicate scoring rely on.
    """
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return text.strip()


_PRINTABLE_ID = re.compile(r"^[\x21-\x7e]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^(?:\+82|0)\d{8,11}$")


def validate_submission(submission: Submission, seoul: Seoul | None = None) -> list[FieldViolation]:
    """Every rule the submission breaks, in field order; an empty list means it can be accepted."""
    seoul = seoul or Seoul.load()
    violations: list[FieldViolation] = []

    def fail(name: str, description: str) -> None:
        violations.append(FieldViolation(name, description))

    for name, value in text_fields(submission):
        where = control_character(value)
        if where is not None:
            fail(name, f"{name} contains the control character {where}; refused")

    if submission.kind not in set(SubmissionKind):
        fail("kind", f"unknown kind {submission.kind!r}; expected one of {', '.join(SubmissionKind)}")

    text = clean_text(submission.text or "")
    if not text:
        fail("text", "text must not be empty")
    elif len(text) > MAX_TEXT_CHARS:
        fail("text", f"text has {len(text)} characters; at most {MAX_TEXT_CHARS} are accepted")

    if submission.title is not None and len(clean_text(submission.title)) > MAX_TITLE_CHARS:
        fail("title", f"title must be at most {MAX_TITLE_CHARS} characters")

    if submission.channel not in set(Channel):
        fail("channel", f"unknown channel {submission.channel!r}; expected one of {', '.join(Channel)}")

    message_id = submission.channel_message_id
    if message_id is None or message_id == "":
        if submission.channel in CHANNELS_REQUIRING_MESSAGE_ID:
            fail("channel_message_id", f"channel {submission.channel} must give its message id (used for dedup)")
    elif len(message_id) > MAX_CHANNEL_MESSAGE_ID_CHARS:
        fail("channel_message_id", f"channel message id must be at most {MAX_CHANNEL_MESSAGE_ID_CHARS} characters")
    elif not _PRINTABLE_ID.match(message_id):
        fail("channel_message_id", "channel message id must be printable ASCII without spaces")

    if submission.source is not None and not (
        0 < len(submission.source) <= 64 and _PRINTABLE_ID.match(submission.source)
    ):
        fail("source", "source must be 1-64 printable ASCII characters without spaces")

    if submission.category is not None:
        found = find_category(submission.category)
        if found is None:
            fail("category", f"unknown category {submission.category!r}")
        else:
            _validate_attributes(submission, found.attributes, fail)
    elif submission.attributes:
        fail("attributes", "attributes are only accepted together with a category")

    _validate_location(submission, seoul, fail)
    _validate_media(submission.media, fail)
    if submission.contact is not None:
        _validate_contact(submission.contact, fail)
    return violations


def text_fields(submission: Submission) -> Iterator[tuple[str, str]]:
    """Every text a submission carries, by the field name its violations use."""
    plain = ("kind", "text", "channel", "channel_message_id", "source", "category", "title")
    for name in plain:
        value = getattr(submission, name)
        if isinstance(value, str):
            yield name, value
    if submission.location is not None:
        for name, value in (
            ("location.address", submission.location.address),
            ("location.district_code", submission.location.district_code),
        ):
            if isinstance(value, str):
                yield name, value
    for index, url in enumerate(submission.media[: MAX_MEDIA * 2]):
        if isinstance(url, str):
            yield f"media[{index}]", url
    if submission.contact is not None:
        for name in ("name", "phone", "email", "channel_user_id"):
            value = getattr(submission.contact, name)
            if isinstance(value, str):
                yield f"contact.{name}", value
    for code, value in list(submission.attributes.items())[: MAX_ATTRIBUTES * 2]:
        yield "attributes", str(code)
        if isinstance(value, str):
            yield f"attributes.{str(code)[:40]}", value


def _validate_attributes(submission: Submission, attributes: tuple[Attribute, ...], fail: _Fail) -> None:
    known = {a.code: a for a in attributes}
    if len(submission.attributes) > MAX_ATTRIBUTES:
        fail("attributes", f"at most {MAX_ATTRIBUTES} attributes are accepted")
    for code, value in submission.attributes.items():
        attribute = known.get(code)
        if attribute is None:
            fail(f"attributes.{code}", f"category {submission.category} has no attribute {code!r}")
        elif not attribute.accepts(value):
            fail(f"attributes.{code}", f"value {value[:40]!r} is not valid for {code} ({attribute.datatype})")
    if submission.channel not in FORM_CHANNELS:
        return
    for code, attribute in known.items():
        if attribute.required and not submission.attributes.get(code):
            fail(f"attributes.{code}", f"attribute {code} is required for category {submission.category}")


def _validate_location(submission: Submission, seoul: Seoul, fail: _Fail) -> None:
    location = submission.location
    if location is None or location.is_empty:
        if submission.kind == SubmissionKind.REPORT:
            fail("location", "a report needs a location: a point, an address or a district")
        return
    point = location.point
    if point is not None:
        lat_ok = isinstance(point.lat, int | float) and math.isfinite(point.lat) and -90 <= point.lat <= 90
        lng_ok = isinstance(point.lng, int | float) and math.isfinite(point.lng) and -180 <= point.lng <= 180
        if not lat_ok:
            fail("location.lat", "latitude must be a number between -90 and 90")
        if not lng_ok:
            fail("location.lng", "longitude must be a number between -180 and 180")
        if lat_ok and lng_ok and not seoul.in_service_area(point.lat, point.lng):
            fail("location", f"point ({point.lat}, {point.lng}) is outside Seoul, the service area")
    if location.address is not None and len(location.address) > MAX_ADDRESS_CHARS:
        fail("location.address", f"address must be at most {MAX_ADDRESS_CHARS} characters")
    if location.district_code is not None and seoul.district(location.district_code) is None:
        fail("location.district_code", f"unknown Seoul district code {location.district_code!r}")


def _validate_media(media: tuple[str, ...], fail: _Fail) -> None:
    if len(media) > MAX_MEDIA:
        fail("media", f"{len(media)} media references; at most {MAX_MEDIA} are accepted")
    for i, url in enumerate(media[: MAX_MEDIA * 2]):
        name = f"media[{i}]"
        if len(url) > MAX_MEDIA_URL_CHARS:
            fail(name, f"media URL must be at most {MAX_MEDIA_URL_CHARS} characters")
            continue
        try:
            parts = urlsplit(url)
        except ValueError:
            fail(name, "media reference is not a valid URL")
            continue
        if parts.scheme not in ("http", "https") or not parts.netloc:
            fail(name, "media reference must be an absolute http(s) URL")
    if len(set(media)) != len(media):
        fail("media", "the same media reference is given more than once")


def _validate_contact(contact: Contact, fail: _Fail) -> None:
    if contact.name is not None and len(contact.name) > MAX_NAME_CHARS:
        fail("contact.name", f"name must be at most {MAX_NAME_CHARS} characters")
    if contact.phone:
        digits = re.sub(r"[\s\-().]", "", contact.phone)
        if not _PHONE.match(digits):
            fail("contact.phone", "phone must be a Korean number such as 010-1234-5678 or +82 10 1234 5678")
    if contact.email and (len(contact.email) > 254 or not _EMAIL.match(contact.email)):
        fail("contact.email", "email is not a valid address")
    if contact.channel_user_id is not None and len(contact.channel_user_id) > 256:
        fail("contact.channel_user_id", "channel user id must be at most 256 characters")
