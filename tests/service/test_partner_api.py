"""The partner service on the real stack: bad input named by field, nothing stored twice, owners and staff, the
summary EP's classes, and fuzzed RPCs and catalogue webhooks that never break the service."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import aiohttp
import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sotong.common.v1 import geo_pb2
from sotong.partner.v1 import partner_events_pb2 as ev
from sotong.partner.v1 import partner_service_pb2 as pb
from sotong.partner.v1 import partner_service_pb2_grpc as pb_grpc
from sotong_common.errors import field_violations
from sotong_common.webhooks import sign
from sotong_localstack.partner import product, registration, valid_number
from sotong_localstack.stack import PARTNER_PLATFORM, Stack
from sotong_localstack.testing import channel, read_all, sql, token

pytestmark = pytest.mark.service

SAFE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
}


@pytest.fixture()
def partner(fresh_stack: Stack) -> Stack:
    fresh_stack.start_services(("partner-api", "partner-http"), say=False)
    return fresh_stack


async def _violations(call: Any) -> list[str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()
    return [f"{v.field}: {v.description}" for v in field_violations(info.value)]


async def _merchant(api: pb_grpc.PartnerServiceStub, stack: Stack, slug: str = "eunbit", **extra: Any) -> str:
    owner, staff = token(stack, "partner"), token(stack, "operator")
    reply = await api.RegisterMerchant(registration(slug, valid_number(len(slug) * 7 + 3), **extra), metadata=owner)
    await api.VerifyMerchant(
        pb.VerifyMerchantRequest(merchant_id=reply.merchant.merchant_id, decision=pb.VERIFICATION_DECISION_APPROVE),
        metadata=staff,
    )
    return reply.merchant.merchant_id


async def test_bad_input_is_a_clear_error_naming_the_field(partner: Stack) -> None:
    owner = token(partner, "partner")
    async with channel(partner, "partner-api") as ch:
        api = pb_grpc.PartnerServiceStub(ch)
        (wrong,) = await _violations(api.RegisterMerchant(registration("eunbit", "220-81-62518"), metadata=owner))
        assert wrong.startswith("business_number: ") and "검증번호" in wrong
        outside = registration("eunbit", "220-81-62517", location=geo_pb2.GeoPoint(lat=37.5810, lng=127.0395))
        assert (await _violations(api.RegisterMerchant(outside, metadata=owner)))[0].startswith("location: ")
        merchant_id = await _merchant(api, partner)
        cases = {
            "product.price": product("A1", "반지", -1000),
            "product.image_url": product("A2", "반지", 1000, image_url="/img/a.jpg"),
            "product.link": product("A3", "반지", 1000, link="javascript:alert(document.cookie)"),
            "product.title": product("A4", "가" * 101, 1000),
            "product.additional_image_urls": product(
                "A5", "반지", 1000, additional_image_urls=[f"https://img.example.kr/{i}.jpg" for i in range(11)]
            ),
        }
        for field, item in cases.items():
            found = await _violations(
                api.UpsertProduct(pb.UpsertProductRequest(merchant_id=merchant_id, product=item), metadata=owner)
            )
            assert [f.split(": ")[0] for f in found] == [field], found
        products = await sql(partner, "SELECT count(*) AS n FROM products", schema="partner")
        assert products[0]["n"] == 0


async def test_nothing_is_stored_twice(partner: Stack) -> None:
    owner = token(partner, "partner")
    async with channel(partner, "partner-api") as ch:
        api = pb_grpc.PartnerServiceStub(ch)
        first = await api.RegisterMerchant(registration("eunbit", "220-81-62517"), metadata=owner)
        again = await api.RegisterMerchant(registration("eunbit", "220-81-62517"), metadata=owner)
        assert first.created and not again.created and again.merchant.merchant_id == first.merchant.merchant_id
        with pytest.raises(grpc.aio.AioRpcError) as other:
            await api.RegisterMerchant(
                registration("other", "220-81-62517"), metadata=token(partner, "partner", "admin")
            )
        assert other.value.code() == grpc.StatusCode.ALREADY_EXISTS
        merchant_id = first.merchant.merchant_id
        item = pb.UpsertProductRequest(merchant_id=merchant_id, product=product("RING-1", "순은 반지", 39000))
        created, repeated = (
            (await api.UpsertProduct(item, metadata=owner)),
            (await api.UpsertProduct(item, metadata=owner)),
        )
        assert (created.created, created.changed) == (True, True)
        assert (repeated.created, repeated.changed) == (False, False) and repeated.product.version == 1
        got = await api.GetProduct(pb.GetProductRequest(merchant_id=merchant_id, sku="RING-1"), metadata=owner)
        assert [h.change for h in got.history] == ["created"]

        await api.SetConsent(
            pb.SetConsentRequest(merchant_id=merchant_id, platform=PARTNER_PLATFORM, granted=True), metadata=owner
        )
        url = f"http://127.0.0.1:{partner.state.http_ports['partner-http']}/webhooks/catalogue/{PARTNER_PLATFORM}"  # type: ignore[union-attr]
        data = {"merchant_id": merchant_id, "sku": "RING-1", "title": "순은 반지", "price": 36000, "stock": 2}
        data.update(image_url="https://img.example.kr/RING-1.jpg", category=["주얼리", "반지"], shipping_fee=3000)
        body = {"type": "product.upserted", "timestamp": "2026-11-24T00:00:00Z", "data": data}
        async with aiohttp.ClientSession() as http:
            statuses = [await _post(http, url, body, partner, "msg_a") for _ in range(2)]
            assert [s for s, _ in statuses] == [202, 409]
            assert statuses[0][1]["changed"] is True
            status, answer = await _post(http, url, body, partner, "msg_b")  # the same content, redelivered
            assert status == 202 and answer == {"product_id": "eunbit_RING-1", "created": False, "changed": False}
        got = await api.GetProduct(pb.GetProductRequest(merchant_id=merchant_id, sku="RING-1"), metadata=owner)
        assert [(h.change, list(h.fields), h.source) for h in got.history] == [
            ("created", [], "grpc"),
            ("updated", ["price", "stock"], f"webhook:{PARTNER_PLATFORM}"),
        ]
    rows = await sql(
        partner,
        "SELECT (SELECT count(*) FROM merchants) AS m, (SELECT count(*) FROM products) AS p,"
        " (SELECT count(*) FROM product_history) AS h",
        schema="partner",
    )
    assert dict(rows[0]) == {"m": 1, "p": 1, "h": 2}
    registered = [r for r in read_all(partner, "partner.merchant-changed.v1") if r.key == merchant_id.encode()]
    changes = [ev.MerchantChanged.FromString(r.value).change for r in registered]
    assert changes == [ev.MERCHANT_CHANGE_REGISTERED, ev.MERCHANT_CHANGE_CONSENT_CHANGED]


async def _post(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], stack: Stack, msg_id: str, secret: str | None = None
) -> tuple[int, Any]:
    assert stack.state is not None
    raw = json.dumps(body, ensure_ascii=False).encode()
    stamp = int(time.time())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret or stack.state.partner_webhook_secret, msg_id, stamp, raw),
    }
    async with http.post(url, data=raw, headers=headers) as reply:
        return reply.status, await reply.json()


async def test_owners_staff_and_the_webhook_consent(partner: Stack) -> None:
    async with channel(partner, "partner-api") as ch:
        api = pb_grpc.PartnerServiceStub(ch)
        merchant_id = await _merchant(api, partner)
        stranger = (
            (
                "authorization",
                "Bearer "
                + __import__("sotong_common.auth", fromlist=["issue"]).issue(
                    partner.state.jwt_secret, "someone-else", ["partner"]
                ),
            ),
        )  # type: ignore[union-attr]
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await api.UpsertProduct(
                pb.UpsertProductRequest(merchant_id=merchant_id, product=product("X", "반지", 1)), metadata=stranger
            )
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        staff = token(partner, "operator")
        shown = await api.GetMerchant(pb.GetMerchantRequest(merchant_id=merchant_id), metadata=staff)
        assert shown.merchant.contact_persons[0].phone == "010-****-5678"
        revealed = await api.GetMerchant(
            pb.GetMerchantRequest(merchant_id=merchant_id, reveal_contacts=True), metadata=staff
        )
        assert revealed.merchant.contact_persons[0].phone == "010-1234-5678"
        with pytest.raises(grpc.aio.AioRpcError):
            await api.GetMerchant(
                pb.GetMerchantRequest(merchant_id=merchant_id, reveal_contacts=True), metadata=token(partner, "partner")
            )
        url = f"http://127.0.0.1:{partner.state.http_ports['partner-http']}/webhooks/catalogue/{PARTNER_PLATFORM}"  # type: ignore[union-attr]
        body = {"type": "product.upserted", "data": {"merchant_id": merchant_id, "sku": "R"}}
        async with aiohttp.ClientSession() as http:
            status, answer = await _post(http, url, body, partner, "msg_x")
            assert status == 403 and answer["error"] == "no_consent"  # not consented to the hub yet
    reveals = await sql(partner, "SELECT revealed_to FROM contact_reveals", schema="partner")
    assert [r["revealed_to"] for r in reveals] == ["test-operator"]


async def test_the_summary_ep_has_u_and_d_rows_since_the_last_pull(partner: Stack) -> None:
    owner = token(partner, "partner")
    async with channel(partner, "partner-api") as ch:
        api = pb_grpc.PartnerServiceStub(ch)
        merchant_id = await _merchant(api, partner)
        for sku, price in (("A", 1000), ("B", 2000), ("C", 3000)):
            await api.UpsertProduct(
                pb.UpsertProductRequest(merchant_id=merchant_id, product=product(sku, "반지", price)), metadata=owner
            )
        base = f"http://127.0.0.1:{partner.state.http_ports['partner-http']}/ep/eunbit/naver"  # type: ignore[union-attr]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/full.tsv") as reply:
                assert len((await reply.text()).splitlines()) == 4
                etag = reply.headers["ETag"]
            async with http.get(f"{base}/full.tsv", headers={"If-None-Match": etag}) as reply:
                assert reply.status == 304
            await api.UpsertProduct(
                pb.UpsertProductRequest(merchant_id=merchant_id, product=product("A", "반지", 1500)), metadata=owner
            )
            await api.DeleteProduct(pb.DeleteProductRequest(merchant_id=merchant_id, sku="B"), metadata=owner)
            await api.UpsertProduct(
                pb.UpsertProductRequest(merchant_id=merchant_id, product=product("D", "반지", 4000)), metadata=owner
            )
            async with http.get(f"{base}/summary.tsv") as reply:
                lines = (await reply.text()).splitlines()
            async with http.get(f"{base}/summary.tsv") as reply:
                assert len((await reply.text()).splitlines()) == 1  # only the header: nothing since that pull
    head = lines[0].split("\t")
    rows = {r.split("\t")[0]: dict(zip(head, r.split("\t"), strict=True)) for r in lines[1:]}
    assert {k: v["class"] for k, v in rows.items()} == {"eunbit_A": "U", "eunbit_B": "D", "eunbit_D": "I"}
    assert rows["eunbit_A"]["price_pc"] == "1500" and rows["eunbit_B"]["title"] == ""
    assert all(len(v["update_time"]) == 19 for v in rows.values())


PLAIN = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    name=PLAIN,
    number=st.one_of(PLAIN, st.sampled_from(["220-81-62517", "220-81-62518"])),
    slug=PLAIN,
    street=st.one_of(PLAIN, st.just("jongno-jewelry")),
    lat=st.floats(allow_nan=True),
    lng=st.floats(allow_nan=True),
    kind=st.integers(-5, 5),
    title=st.text(max_size=120),
    price=st.integers(-(2**63), 2**63 - 1),
    urls=st.lists(PLAIN, max_size=12),
    sku=PLAIN,
    status=st.integers(-3, 5),
    page=st.integers(-5, 500),
    token_=PLAIN,
)
def test_fuzzed_rpcs_answer_with_status_codes_never_internal(partner: Stack, **draw: Any) -> None:
    import asyncio

    asyncio.run(_fuzz_once(partner, draw))


async def _fuzz_once(stack: Stack, d: dict[str, Any]) -> None:
    owner, staff = token(stack, "partner"), token(stack, "operator")
    async with channel(stack, "partner-api") as ch:
        api = pb_grpc.PartnerServiceStub(ch)
        calls = [
            api.RegisterMerchant(
                pb.RegisterMerchantRequest(
                    name=d["name"],
                    kind=d["kind"],
                    business_number=d["number"],
                    slug=d["slug"],
                    street_code=d["street"],
                    address=d["name"],
                    location=geo_pb2.GeoPoint(lat=d["lat"], lng=d["lng"]),
                ),
                metadata=owner,
            ),
            api.UpsertProduct(
                pb.UpsertProductRequest(
                    merchant_id=d["sku"],
                    product=pb.ProductInput(
                        sku=d["sku"],
                        title=d["title"],
                        price=d["price"],
                        image_url=(d["urls"] or [""])[0],
                        additional_image_urls=d["urls"],
                        category=d["urls"][:2],
                        status=d["status"],
                    ),
                ),
                metadata=owner,
            ),
            api.ListMerchants(
                pb.ListMerchantsRequest(page_size=d["page"], page_token=d["token_"], status=d["status"]), metadata=staff
            ),
            api.GetProduct(pb.GetProductRequest(merchant_id=str(uuid.uuid4()), sku=d["sku"]), metadata=owner),
            api.CreateCampaign(
                pb.CreateCampaignRequest(
                    street_code=d["street"],
                    title=d["title"],
                    body=d["name"],
                    request_id=d["token_"],
                    channels=[max(0, min(d["kind"], 2))],
                ),
                metadata=staff,
            ),
        ]
        for call in calls:
            try:
                await call
            except grpc.aio.AioRpcError as exc:
                assert exc.code() in SAFE, (exc.code(), exc.details())


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), PLAIN),
            lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(PLAIN, inner, max_size=5)),
            max_leaves=12,
        ),
    ),
    signed=st.booleans(),
    kind=st.sampled_from(["product.upserted", "product.deleted", "x"]),
)
def test_fuzzed_webhooks_answer_4xx_or_2xx_never_500(partner: Stack, body: Any, signed: bool, kind: str) -> None:
    import asyncio

    asyncio.run(_fuzz_webhook(partner, body, signed, kind))


async def _fuzz_webhook(stack: Stack, body: Any, signed: bool, kind: str) -> None:
    assert stack.state is not None
    url = f"http://127.0.0.1:{stack.state.http_ports['partner-http']}/webhooks/catalogue/{PARTNER_PLATFORM}"
    if isinstance(body, bytes):
        raw = body
    else:
        raw = json.dumps(
            {"type": kind, "data": body if isinstance(body, dict) else {"merchant_id": body}}, default=str
        ).encode()
    msg_id = "msg_" + uuid.uuid4().hex
    stamp = int(time.time())
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(stamp)}
    headers["webhook-signature"] = sign(stack.state.partner_webhook_secret, msg_id, stamp, raw) if signed else "v1,AAAA"
    async with aiohttp.ClientSession() as http, http.post(url, data=raw, headers=headers) as reply:
        assert reply.status < 500, await reply.text()
        if not signed:
            assert reply.status == 401
