"""A merchant of the local stack: registration and products as the demo, the tests and the benchmark send them."""

from __future__ import annotations

from typing import Any

from sotong.common.v1 import geo_pb2
from sotong.partner.v1 import partner_events_pb2 as ev
from sotong.partner.v1 import partner_service_pb2 as pb

# 종로 주얼리거리: a point inside the configured boundary.
JEWELRY_STREET = ("jongno-jewelry", 37.5716, 126.9935)


def valid_number(seed: int) -> str:
    """A business registration number with a correct check digit, different per seed."""
    from sotong_partner.business_number import check_digit, formatted

    first = f"{101 + seed % 800:03d}{81 + seed % 18:02d}{seed % 10000:04d}"
    return formatted(first + str(check_digit(first)))


def registration(slug: str, number: str, **overrides: Any) -> pb.RegisterMerchantRequest:
    code, lat, lng = JEWELRY_STREET
    fields: dict[str, Any] = {
        "name": "은빛공방",
        "kind": ev.MERCHANT_KIND_MERCHANT,
        "business_number": number,
        "slug": slug,
        "street_code": code,
        "address": "서울특별시 종로구 돈화문로 24",
        "location": geo_pb2.GeoPoint(lat=lat, lng=lng),
        "phone": "02-765-1234",
        "description": "3대째 이어온 은 세공 공방입니다.",
        "contact_persons": [
            pb.ContactPerson(name="김민수", phone="010-1234-5678", email="minsu@example.kr", role="대표")
        ],
        "consents": [pb.ConsentInput(platform="naver_shopping", granted=True)],
    }
    fields.update(overrides)
    return pb.RegisterMerchantRequest(**fields)


def product(sku: str, title: str, price: int, **overrides: Any) -> pb.ProductInput:
    fields: dict[str, Any] = {
        "sku": sku,
        "title": title,
        "price": price,
        "stock": 5,
        "image_url": f"https://img.example.kr/{sku}.jpg",
        "category": ["주얼리", "반지"],
        "shipping_fee": 3000,
    }
    fields.update(overrides)
    return pb.ProductInput(**fields)
