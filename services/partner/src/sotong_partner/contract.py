"""`sotong.partner.v1` messages from and to the stored rows and the domain values."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from sotong.common.v1 import geo_pb2
from sotong.partner.v1 import partner_events_pb2 as ev
from sotong.partner.v1 import partner_service_pb2 as pb
from sotong_partner import business_number, campaigns, catalogue, merchant
from sotong_partner.store import KIND_TO_PROTO, STATUS_TO_PROTO, MerchantView
from sotong_partner.streets import Street

KIND_FROM_PROTO = {v: k for k, v in KIND_TO_PROTO.items()}
DECISIONS = {
    pb.VERIFICATION_DECISION_APPROVE: merchant.APPROVE,
    pb.VERIFICATION_DECISION_REJECT: merchant.REJECT,
    pb.VERIFICATION_DECISION_SUSPEND: merchant.SUSPEND,
    pb.VERIFICATION_DECISION_REINSTATE: merchant.REINSTATE,
}
STATUS_FROM_PROTO = {v: k for k, v in STATUS_TO_PROTO.items()}
PRODUCT_STATUS = {pb.PRODUCT_STATUS_ON_SALE: catalogue.ON_SALE, pb.PRODUCT_STATUS_HIDDEN: catalogue.HIDDEN}
PRODUCT_STATUS_TO_PROTO = {v: k for k, v in PRODUCT_STATUS.items()}
CHANNELS = {pb.CAMPAIGN_CHANNEL_SNS: campaigns.SNS, pb.CAMPAIGN_CHANNEL_NEWS_APP: campaigns.NEWS_APP}
CHANNELS_TO_PROTO = {v: k for k, v in CHANNELS.items()}
CAMPAIGN_STATUS = {
    campaigns.CHECKING: pb.CAMPAIGN_STATUS_CHECKING,
    campaigns.IN_REVIEW: pb.CAMPAIGN_STATUS_IN_REVIEW,
    campaigns.DISPATCHED: pb.CAMPAIGN_STATUS_DISPATCHED,
    campaigns.REFUSED: pb.CAMPAIGN_STATUS_REFUSED,
}
DELIVERY_STATUS = {
    "pending": pb.WEBHOOK_DELIVERY_STATUS_PENDING,
    "delivered": pb.WEBHOOK_DELIVERY_STATUS_DELIVERED,
    "dead": pb.WEBHOOK_DELIVERY_STATUS_DEAD,
    "discarded": pb.WEBHOOK_DELIVERY_STATUS_DISCARDED,
}
DELIVERY_STATUS_FROM_PROTO = {v: k for k, v in DELIVERY_STATUS.items()}


def stamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    found = Timestamp()
    found.FromDatetime(moment)
    return found


def registration_input(request: pb.RegisterMerchantRequest) -> merchant.RegistrationInput:
    has_location = request.HasField("location")
    return merchant.RegistrationInput(
        name=request.name,
        kind=KIND_FROM_PROTO.get(request.kind, ""),
        business_number=request.business_number,
        certification=request.social_enterprise_certification,
        slug=request.slug,
        street_code=request.street_code,
        address=request.address,
        lat=request.location.lat if has_location else None,
        lng=request.location.lng if has_location else None,
        phone=request.phone,
        description=request.description,
        contacts=[merchant.ContactPerson(c.name, c.phone, c.email, c.role) for c in request.contact_persons],
        consents=[(c.platform, c.granted) for c in request.consents],
        feed_group=request.feed_group,
        shop_url=request.shop_url,
    )


def merchant_to_proto(
    view: MerchantView,
    contacts: Iterable[merchant.ContactPerson],
    homepage_url: str,
    feed_urls: dict[str, str],
) -> pb.Merchant:
    row = view.row
    return pb.Merchant(
        merchant_id=str(row["id"]),
        slug=row["slug"],
        name=row["name"],
        kind=KIND_TO_PROTO[row["kind"]],
        status=STATUS_TO_PROTO[row["status"]],
        business_number=business_number.formatted(row["business_number"]),
        social_enterprise_certification=row["certification"] or "",
        street_code=row["street_code"] or "",
        address=row["address"],
        location=geo_pb2.GeoPoint(lat=row["lat"], lng=row["lng"]),
        phone=row["phone"],
        description=row["description"],
        contact_persons=[pb.ContactPerson(name=c.name, phone=c.phone, email=c.email, role=c.role) for c in contacts],
        consents=[
            ev.Consent(platform=c["platform"], granted=c["granted"], changed_at=stamp(c["changed_at"]))
            for c in view.consents
        ],
        feed_group=row["feed_group"],
        homepage_url=homepage_url,
        owner=row["owner"],
        registered_at=stamp(row["registered_at"]),
        updated_at=stamp(row["updated_at"]),
        version=row["version"],
        verification=[
            pb.VerificationStep(
                status=STATUS_TO_PROTO[h["status"]],
                decided_by=h["changed_by"],
                note=h["note"],
                decided_at=stamp(h["changed_at"]),
            )
            for h in view.history
        ],
        shop_url=row["shop_url"] or "",
        feed_urls=feed_urls,
    )


def draft_from_proto(item: pb.ProductInput) -> catalogue.Draft:
    return catalogue.Draft(
        sku=item.sku,
        title=item.title,
        description=item.description,
        price=item.price,
        sale_price=item.sale_price or None,
        stock=item.stock,
        image_url=item.image_url,
        additional_image_urls=list(item.additional_image_urls),
        category=list(item.category),
        shipping_fee=item.shipping_fee,
        cash_on_delivery=item.cash_on_delivery,
        options=[{"name": o.name, "value": o.value, "extra_price": o.extra_price} for o in item.options],
        status=PRODUCT_STATUS.get(item.status, f"unknown {item.status}" if item.status else catalogue.ON_SALE),
        link=item.link,
    )


def product_to_proto(row: asyncpg.Record, slug: str) -> pb.Product:
    options = row["options"]
    if isinstance(options, str):
        options = json.loads(options)
    return pb.Product(
        product_id=f"{slug}_{row['sku']}",
        merchant_id=str(row["merchant_id"]),
        content=pb.ProductInput(
            sku=row["sku"],
            title=row["title"],
            description=row["description"],
            price=row["price"],
            sale_price=row["sale_price"] or 0,
            stock=row["stock"],
            image_url=row["image_url"],
            additional_image_urls=list(row["additional_image_urls"]),
            category=list(row["category"]),
            shipping_fee=row["shipping_fee"],
            cash_on_delivery=row["cash_on_delivery"],
            options=[pb.ProductOption(name=o["name"], value=o["value"], extra_price=o["extra_price"]) for o in options],
            status=PRODUCT_STATUS_TO_PROTO[row["status"]],
            link=row["link"] or "",
        ),
        version=row["version"],
        created_at=stamp(row["created_at"]),
        updated_at=stamp(row["updated_at"]),
        deleted=row["deleted_at"] is not None,
    )


def history_to_proto(rows: Sequence[asyncpg.Record]) -> list[pb.ProductChange]:
    return [
        pb.ProductChange(
            version=h["version"],
            change=h["change"],
            fields=list(h["fields"]),
            changed_by=h["changed_by"],
            source=h["source"],
            changed_at=stamp(h["changed_at"]),
        )
        for h in rows
    ]


def street_to_proto(street: Street) -> pb.MarketStreet:
    return pb.MarketStreet(
        code=street.code,
        name=street.name,
        district_code=street.district_code,
        district_name=street.district_name,
        boundary=[geo_pb2.GeoPoint(lat=lat, lng=lng) for lng, lat in street.boundary],
        description=street.description,
    )


def campaign_to_proto(row: asyncpg.Record, results: Sequence[asyncpg.Record], link: str) -> pb.Campaign:
    return pb.Campaign(
        campaign_id=str(row["id"]),
        street_code=row["street_code"],
        title=row["title"],
        body=row["body"],
        channels=[CHANNELS_TO_PROTO[c] for c in row["channels"]],
        citywide=row["citywide"],
        status=CAMPAIGN_STATUS[row["status"]],
        moderation_categories=list(row["categories"]),
        published_body=row["published_body"],
        published_title=row["published_title"],
        created_by=row["created_by"],
        reviewed_by=row["reviewed_by"],
        review_note=row["review_note"],
        created_at=stamp(row["created_at"]),
        not_before=stamp(row["not_before"]),
        results=[
            pb.ChannelResult(
                channel=CHANNELS_TO_PROTO[r["channel"]],
                delivered=r["delivered"],
                failed=r["failed"],
                dead_lettered=r["dead_lettered"],
                last_error=r["last_error"],
                last_reported_at=stamp(r["last_reported_at"]),
            )
            for r in results
        ],
        link=link,
    )


def endpoint_to_proto(row: asyncpg.Record) -> pb.WebhookEndpoint:
    return pb.WebhookEndpoint(
        endpoint_id=str(row["id"]),
        platform=row["platform"],
        url=row["url"],
        event_types=list(row["event_types"]),
        status=pb.WEBHOOK_ENDPOINT_STATUS_ACTIVE if row["status"] == "active" else pb.WEBHOOK_ENDPOINT_STATUS_DISABLED,
        disabled_reason=row["disabled_reason"],
        created_at=stamp(row["created_at"]),
    )


def delivery_to_proto(row: asyncpg.Record) -> pb.WebhookDelivery:
    return pb.WebhookDelivery(
        delivery_id=str(row["id"]),
        endpoint_id=str(row["endpoint_id"]),
        message_id=row["message_id"],
        event_type=row["event_type"],
        status=DELIVERY_STATUS[row["status"]],
        attempts=row["attempts"],
        last_status_code=row["last_status_code"] or 0,
        last_error=row["last_error"],
        next_attempt_at=stamp(row["next_attempt_at"]),
        created_at=stamp(row["created_at"]),
    )
