"""Submissions that partner systems post as signed JSON (verified first by `sotong_common.webhooks`).

The body is our own documented shape, close to the `Submission` fields so partners need no mapping table:

    {"kind": "report", "text": "…", "title": "…", "category": "streetlight",
     "location": {"lat": 37.5, "lng": 127.0, "address": "…", "district_code": "11680"},
     "media": ["https://…"], "attributes": {"pole_number": "A-123"},
     "contact": {"name": "…", "phone": "…", "email": "…"}, "submitted_at": "2026-11-24T09:00:00+09:00"}

The verified `webhook-id` is the message id, and the partner's name the source, so a partner's redelivery is
deduplicated and two partners' ids never collide.
"""

from __future__ import annotations

import json
from typing import Any

from sotong_common.webhooks import VerifiedWebhook
from sotong_intake.channels.payload import ChannelPayloadError, Reader
from sotong_intake.submission import Channel, Contact, FieldViolation, Location, Submission, clean_text


def submission_from_webhook(delivery: VerifiedWebhook, partner: str) -> Submission:
    """Map a verified delivery; raises `ChannelPayloadError` for a body that is not the documented JSON."""
    try:
        body: Any = json.loads(delivery.body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ChannelPayloadError([FieldViolation("body", "must be a JSON object")]) from None
    if not isinstance(body, dict):
        raise ChannelPayloadError([FieldViolation("body", "must be a JSON object")])
    read = Reader()
    kind = read.text(body, "kind", "kind", required=True)
    text = read.text(body, "text", "text", required=True)
    title = read.text(body, "title", "title")
    category = read.text(body, "category", "category")
    where = read.obj(body, "location", "location")
    point = read.point(read.number(where, "lat", "location.lat"), read.number(where, "lng", "location.lng"), "location")
    address = read.text(where, "address", "location.address")
    district_code = read.text(where, "district_code", "location.district_code")
    media = read.strings(body, "media", "media")
    raw_attributes = read.obj(body, "attributes", "attributes")
    attributes: dict[str, str] = {}
    for key, value in raw_attributes.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            attributes[str(key)] = str(value)
        else:
            read.fail(f"attributes.{key}", "must be a string or number")
    who = read.obj(body, "contact", "contact")
    contact = Contact(
        name=read.text(who, "name", "contact.name"),
        phone=read.text(who, "phone", "contact.phone"),
        email=read.text(who, "email", "contact.email"),
    )
    submitted_at = read.timestamp(body, "submitted_at", "submitted_at")
    read.raise_if_failed()
    location = Location(point=point, address=address, district_code=district_code)
    return Submission(
        kind=kind or "",
        text=clean_text(text or ""),
        title=clean_text(title) if title else None,
        channel=Channel.WEBHOOK,
        channel_message_id=delivery.id,
        source=partner,
        category=category,
        location=None if location.is_empty else location,
        media=media,
        contact=None if contact.is_empty else contact,
        submitted_at=submitted_at,
        attributes=attributes,
    )
