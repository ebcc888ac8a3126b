"""The full Naver EP from stored lines is byte for byte what rendering the products at read time gives.

Each product's EP line is rendered when the product is written (migration 0002, `feed_store`); the pull copies the
stored column. Here products of many shapes go through the real write path (gRPC and the catalogue webhook: sale
prices, extra images, options, 착불, links, titles with tags and odd spacing, 1-4 category levels, hidden, sold
out, deleted, changed, restored), merchants of a joint group are suspended, reinstated, withdraw consent and get a
new slug, and after each step the served full EP equals the read-time rendering (the query the EP used before the
lines were stored), and every product's stored line, listed or not, equals its rendering.
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import pytest

from sotong.partner.v1 import partner_service_pb2 as pb
from sotong.partner.v1 import partner_service_pb2_grpc as pb_grpc
from sotong_common.webhooks import sign
from sotong_localstack.partner import product, registration, valid_number
from sotong_localstack.stack import PARTNER_PLATFORM, Stack, partner_env
from sotong_localstack.testing import channel, sql, token
from sotong_partner.feed_store import LISTED_MERCHANTS, full_line, header
from sotong_partner.feeds.base import FULL
from sotong_partner.feeds.naver import EP3

pytestmark = pytest.mark.service

GROUP = "jongno-mall"


@pytest.fixture()
def partner(fresh_stack: Stack) -> Stack:
    fresh_stack.start_services(("partner-api", "partner-http"), say=False)
    return fresh_stack


def _public_url(stack: Stack) -> str:
    assert stack.state is not None
    return partner_env(stack.state)["SOTONG_PARTNER_PUBLIC_URL"]


async def _served(stack: Stack) -> bytes:
    url = f"{_public_url(stack)}/ep/{GROUP}/naver/full.tsv"
    async with aiohttp.ClientSession() as http, http.get(url, headers={"Accept-Encoding": "identity"}) as reply:
        assert reply.status == 200
        return await reply.read()


async def _rendered(stack: Stack) -> bytes:
    """The full EP as it was served before the lines were stored: every line rendered at read time."""
    query = (
        f"SELECT {full_line(EP3)} AS line FROM products p JOIN {LISTED_MERCHANTS} ON m.id = p.merchant_id"
        " WHERE p.deleted_at IS NULL AND p.status = 'on_sale' AND p.stock > 0"
    )
    rows = await sql(stack, query, GROUP, _public_url(stack), EP3.platform, schema="partner")
    return header(EP3, FULL) + b"".join(r["line"].encode() + b"\n" for r in rows)


async def _every_line_matches(stack: Stack) -> int:
    """Every product's stored line (listed or not) equals its rendering; returns how many were compared."""
    query = (
        f"SELECT p.merchant_id, p.sku, replace(p.naver_ep, E'\\x03', $2) AS stored, {full_line(EP3)} AS rendered"
        " FROM products p JOIN (SELECT m0.*, $2 || '/m/' || m0.slug || '#p-' AS page FROM merchants m0) m"
        " ON m.id = p.merchant_id WHERE $1::text IS NOT NULL"
    )
    rows = await sql(stack, query, GROUP, _public_url(stack), schema="partner")
    assert rows
    for row in rows:
        assert row["stored"] == row["rendered"], (row["sku"], row["stored"], row["rendered"])
    return len(rows)


async def _same(stack: Stack, listed: int) -> list[str]:
    served = await _served(stack)
    assert served == await _rendered(stack)
    lines = served.decode().splitlines()
    assert len(lines) == 1 + listed, lines
    await _every_line_matches(stack)
    return lines


def _shapes(sku_prefix: str) -> list[pb.ProductInput]:
    opt = pb.ProductOption
    return [
        product(f"{sku_prefix}PLAIN", "순은 반지", 39000),
        product(f"{sku_prefix}SALE", "진주 목걸이", 120000, sale_price=99000, shipping_fee=0),
        product(
            f"{sku_prefix}IMGS",
            "<b>수제</b>   가죽\t지갑",
            45000,
            additional_image_urls=[f"https://img.example.kr/w/{i}.jpg" for i in range(10)],
            category=["패션잡화", "지갑", "남성지갑", "반지갑"],
        ),
        product(
            f"{sku_prefix}OPTS",
            "쌍화차 선물세트",
            30000,
            options=[opt(name="용량", value="10포", extra_price=0), opt(name="용량", value="30포", extra_price=15000)],
            category=["식품"],
            shipping_fee=0,
            cash_on_delivery=True,
        ),
        product(f"{sku_prefix}LINK", "도자기 머그컵", 18000, link="https://shop.example.kr/goods/77?ref=ep&x=1"),
        product(f"{sku_prefix}HIDE", "숨긴 상품", 10000, status=pb.PRODUCT_STATUS_HIDDEN),
        product(f"{sku_prefix}SOLD", "품절 상품", 10000, stock=0),
        product(f"{sku_prefix}GONE", "지울 상품", 10000),
    ]


async def test_stored_lines_serve_the_same_bytes_as_read_time_rendering(partner: Stack) -> None:
    owner, staff = token(partner, "partner"), token(partner, "operator")
    async with channel(partner, "partner-api") as ch:
        api = pb_grpc.PartnerServiceStub(ch)
        merchants: dict[str, str] = {}
        for slug in ("eunbit", "yakryeong"):
            consents = [
                pb.ConsentInput(platform="naver_shopping", granted=True),
                pb.ConsentInput(platform=PARTNER_PLATFORM, granted=True),
            ]
            reply = await api.RegisterMerchant(
                registration(slug, valid_number(len(slug) * 11 + 5), feed_group=GROUP, consents=consents),
                metadata=owner,
            )
            merchant_id = reply.merchant.merchant_id
            merchants[slug] = merchant_id
            await api.VerifyMerchant(
                pb.VerifyMerchantRequest(merchant_id=merchant_id, decision=pb.VERIFICATION_DECISION_APPROVE),
                metadata=staff,
            )
            for item in _shapes(slug[:2].upper()):
                await api.UpsertProduct(pb.UpsertProductRequest(merchant_id=merchant_id, product=item), metadata=owner)
        eunbit, yak = merchants["eunbit"], merchants["yakryeong"]
        await api.DeleteProduct(pb.DeleteProductRequest(merchant_id=eunbit, sku="EUGONE"), metadata=owner)
        lines = await _same(partner, listed=11)  # five of each merchant's, and yakryeong's YAGONE
        first = dict(zip(lines[0].split("\t"), lines[1].split("\t"), strict=True))
        assert first["id"] == "eunbit_EUPLAIN" and first["mobile_link"] == f"{_public_url(partner)}/m/eunbit#p-EUPLAIN"
        stored = await sql(partner, "SELECT naver_ep FROM products WHERE sku = 'EUPLAIN'", schema="partner")
        assert stored[0]["naver_ep"].count("\x03/m/eunbit#p-EUPLAIN") == 2  # the base URL is put in at the pull

        # Changes through gRPC: a new price and no options, the sold-out one restocked, the deleted one restored.
        changed = product("EUOPTS", "쌍화차 선물세트 (대)", 32000, sale_price=31000, category=["식품", "차"])
        await api.UpsertProduct(pb.UpsertProductRequest(merchant_id=eunbit, product=changed), metadata=owner)
        await api.UpsertProduct(
            pb.UpsertProductRequest(merchant_id=eunbit, product=product("EUSOLD", "품절 상품", 10000)), metadata=owner
        )
        await api.UpsertProduct(
            pb.UpsertProductRequest(merchant_id=eunbit, product=product("EUGONE", "돌아온 상품", 11000)),
            metadata=owner,
        )
        # ... and through the signed catalogue webhook.
        await _webhook(partner, yak, "YALINK", title="도자기 머그컵 &amp; 받침", price=19000)
        await _same(partner, listed=13)

        # Merchant changes: suspension and consent withdrawal take a merchant's lines out, reinstatement and
        # consent put them back unchanged.
        await api.VerifyMerchant(
            pb.VerifyMerchantRequest(merchant_id=yak, decision=pb.VERIFICATION_DECISION_SUSPEND, note="서류 확인"),
            metadata=staff,
        )
        await _same(partner, listed=7)
        await api.SetConsent(
            pb.SetConsentRequest(merchant_id=eunbit, platform="naver_shopping", granted=False), metadata=owner
        )
        assert (await _served(partner)) == header(EP3, FULL)
        await api.VerifyMerchant(
            pb.VerifyMerchantRequest(merchant_id=yak, decision=pb.VERIFICATION_DECISION_REINSTATE), metadata=staff
        )
        await api.SetConsent(
            pb.SetConsentRequest(merchant_id=eunbit, platform="naver_shopping", granted=True), metadata=owner
        )
        await _same(partner, listed=13)

    # A merchant's slug is in its lines (id, seller_id, the page URL): no RPC changes it today, but if anything
    # does, its products' lines follow in the same transaction.
    await sql(partner, "UPDATE merchants SET slug = 'eunbit2' WHERE id = $1::uuid", eunbit, schema="partner")
    lines = await _same(partner, listed=13)
    ids = {line.split("\t")[0] for line in lines[1:]}
    assert "eunbit2_EUPLAIN" in ids and not any(i.startswith("eunbit_") for i in ids)


async def _webhook(stack: Stack, merchant_id: str, sku: str, **fields: Any) -> None:
    assert stack.state is not None
    data: dict[str, Any] = {"merchant_id": merchant_id, "sku": sku, "stock": 3, "shipping_fee": 2500}
    data.update(image_url=f"https://img.example.kr/{sku}.jpg", category=["생활", "도자기"], **fields)
    body = json.dumps({"type": "product.upserted", "timestamp": "2026-11-24T00:00:00Z", "data": data}).encode()
    stamp = int(time.time())
    message_id = f"msg_{sku}_{stamp}"
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(stack.state.partner_webhook_secret, message_id, stamp, body),
        "Content-Type": "application/json",
    }
    url = f"{_public_url(stack)}/webhooks/catalogue/{PARTNER_PLATFORM}"
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers) as reply:
        assert reply.status == 202, await reply.text()
