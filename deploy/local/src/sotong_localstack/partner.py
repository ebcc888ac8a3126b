"""A merchant of the local stack: registration and products as the demo, the tests and the benchmark send them."""

from __future__ import annotations

import time
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


def run_demo(state: Any, wait_s: float = 60.0) -> bool:
    """The `make up` demo's partner part: a merchant from registration to products the shopping platform accepted.

    Register a jewellery workshop of 종로 주얼리거리 (partner account), verify it (staff), list three products, hand
    its Naver EP URLs to the shopping-platform stand-in and let it pull: it accepts the three. Then a price change
    and a deletion reach it through the summary EP.
    """
    import json
    import urllib.request

    import grpc

    from sotong.partner.v1 import partner_service_pb2_grpc as pb_grpc
    from sotong_common import auth

    def bearer(subject: str, role: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", "Bearer " + auth.issue(state.jwt_secret, subject, [role])),)

    def standin(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        base = f"http://127.0.0.1:{state.standins_ports['standins']['http']}/shopping/v1"
        data = json.dumps(body).encode() if body is not None else b""
        request = urllib.request.Request(
            base + path, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=wait_s) as reply:
            found: dict[str, Any] = json.loads(reply.read())
            return found

    owner, staff = bearer("demo-merchant", "partner"), bearer("demo-partner-staff", "operator")
    print("demo: a merchant of 종로 주얼리거리 joins the partner programme", flush=True)
    with grpc.insecure_channel(f"127.0.0.1:{state.grpc_ports['partner-api']}") as channel:
        api = pb_grpc.PartnerServiceStub(channel)
        slug = "demo-" + str(int(time.time()) % 100000)
        registered = api.RegisterMerchant(registration(slug, valid_number(int(time.time()) % 10000)), metadata=owner)
        merchant_id = registered.merchant.merchant_id
        print(
            f"  -> registered {registered.merchant.name} ({registered.merchant.business_number}), pending", flush=True
        )
        try:
            api.RegisterMerchant(registration(slug + "x", "220-81-62518"), metadata=owner)
        except grpc.RpcError as exc:
            print(f"  -> a wrong check digit is refused: {exc.code().name}: {exc.details()}", flush=True)
        verified = api.VerifyMerchant(
            pb.VerifyMerchantRequest(merchant_id=merchant_id, decision=pb.VERIFICATION_DECISION_APPROVE), metadata=staff
        )
        print(f"  -> verified by staff; homepage {verified.merchant.homepage_url}", flush=True)
        for sku, title, price in (
            ("RING-925", "순은 반지", 39000),
            ("NECK-01", "진주 목걸이", 120000),
            ("EAR-7", "금 귀걸이 14K", 89000),
        ):
            api.UpsertProduct(
                pb.UpsertProductRequest(merchant_id=merchant_id, product=product(sku, title, price)), metadata=owner
            )
        print("  -> three products listed", flush=True)
        full = verified.merchant.feed_urls["naver"]
        standin(
            "/malls",
            {
                "mall_id": slug,
                "full_url": full,
                "summary_url": full.replace("full.tsv", "summary.tsv"),
                "pull_now": False,
            },
        )
        pulled = standin(f"/malls/{slug}/pull?kind=full")
        print(
            f"  -> the shopping platform pulled {full}: {pulled['accepted']} products accepted, "
            f"{len(pulled['rejected'])} rejected",
            flush=True,
        )
        api.UpsertProduct(
            pb.UpsertProductRequest(
                merchant_id=merchant_id, product=product("RING-925", "순은 반지", 39000, sale_price=33000)
            ),
            metadata=owner,
        )
        api.DeleteProduct(pb.DeleteProductRequest(merchant_id=merchant_id, sku="NECK-01"), metadata=owner)
        summary = standin(f"/malls/{slug}/pull?kind=summary")
        print(
            f"  -> a price change and a deletion in the summary EP: {summary['pull']['classes']};"
            f" {summary['accepted']} products on the platform",
            flush=True,
        )
    return bool(pulled["accepted"] == 3 and summary["pull"]["classes"] == {"U": 1, "D": 1})
