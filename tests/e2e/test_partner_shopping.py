"""A merchant from registration to products a shopping platform accepted, end to end on the real stack.

The merchant registers through the partner API, staff verify it, it lists three products; the shopping-platform
stand-in (deploy/local/standins, rules of its own) pulls the full EP over HTTP and accepts all three; a price
change and a deletion reach it through the next summary EP as one U row and one D row; a pull with nothing new is
answered 304 from the ETag. The feeds it pulled also pass `sotong-partner ep validate`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sotong.partner.v1 import partner_events_pb2 as ev
from sotong.partner.v1 import partner_service_pb2 as pb
from sotong.partner.v1 import partner_service_pb2_grpc as pb_grpc
from sotong_localstack.partner import product, registration
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, token

pytestmark = pytest.mark.e2e


async def _pull(http: aiohttp.ClientSession, base: str, mall: str, kind: str) -> dict[str, Any]:
    async with http.post(f"{base}/shopping/v1/malls/{mall}/pull", params={"kind": kind}) as reply:
        assert reply.status == 200, await reply.text()
        found: dict[str, Any] = await reply.json()
        return found


async def test_a_merchant_goes_from_registration_to_products_the_platform_accepted(
    fresh_stack: Stack, tmp_path: Path
) -> None:
    fresh_stack.start_services(("partner-api", "partner-http", "standins"), say=False)
    state = fresh_stack.state
    assert state is not None
    owner, staff = token(fresh_stack, "partner"), token(fresh_stack, "operator")
    async with channel(fresh_stack, "partner-api") as ch:
        api = pb_grpc.PartnerServiceStub(ch)
        registered = await api.RegisterMerchant(registration("eunbit", "220-81-62517"), metadata=owner)
        merchant_id = registered.merchant.merchant_id
        assert registered.merchant.status == ev.MERCHANT_STATUS_PENDING
        verified = await api.VerifyMerchant(
            pb.VerifyMerchantRequest(merchant_id=merchant_id, decision=pb.VERIFICATION_DECISION_APPROVE),
            metadata=staff,
        )
        assert verified.merchant.status == ev.MERCHANT_STATUS_VERIFIED
        items = [
            product("RING-925", "순은 반지 <b>수제</b>", 39000, sale_price=35000),
            product(
                "NECK-01",
                "진주 목걸이",
                120000,
                additional_image_urls=[f"https://img.example.kr/n{i}.jpg" for i in range(3)],
            ),
            product(
                "EAR-7",
                "금 귀걸이 14K",
                89000,
                options=[pb.ProductOption(name="색상", value="로즈골드", extra_price=5000)],
            ),
        ]
        for item in items:
            stored = await api.UpsertProduct(
                pb.UpsertProductRequest(merchant_id=merchant_id, product=item), metadata=owner
            )
            assert stored.created
        full_url = verified.merchant.feed_urls["naver"]
        summary_url = full_url.replace("/full.tsv", "/summary.tsv")
        standins = f"http://127.0.0.1:{state.standins_ports['standins']['http']}"
        async with aiohttp.ClientSession() as http:
            register = {"mall_id": "eunbit", "full_url": full_url, "summary_url": summary_url, "pull_now": False}
            async with http.post(f"{standins}/shopping/v1/malls", json=register) as reply:
                assert reply.status == 201
            first = await _pull(http, standins, "eunbit", "full")
            assert first["pull"]["status"] == 200 and first["pull"]["error"] == ""
            assert first["accepted"] == 3, first["rejected"]
            assert first["rejected"] == []

            cheaper = product("RING-925", "순은 반지 <b>수제</b>", 39000, sale_price=32000)
            changed = await api.UpsertProduct(
                pb.UpsertProductRequest(merchant_id=merchant_id, product=cheaper), metadata=owner
            )
            assert changed.changed and not changed.created
            await api.DeleteProduct(pb.DeleteProductRequest(merchant_id=merchant_id, sku="NECK-01"), metadata=owner)

            second = await _pull(http, standins, "eunbit", "summary")
            assert second["pull"]["classes"] == {"U": 1, "D": 1}, second["pull"]
            assert second["pull"]["rejected"] == 0 and second["accepted"] == 2
            async with http.get(f"{standins}/shopping/v1/malls/eunbit", params={"products": "1"}) as reply:
                catalogue = (await reply.json())["products"]
            assert set(catalogue) == {"eunbit_RING-925", "eunbit_EAR-7"}
            assert catalogue["eunbit_RING-925"]["price_pc"] == "32000"
            assert catalogue["eunbit_RING-925"]["normal_price"] == "39000"
            assert catalogue["eunbit_RING-925"]["title"] == "순은 반지 수제"  # HTML stripped in the feed

            again = await _pull(http, standins, "eunbit", "summary")
            assert again["pull"]["classes"] == {} and again["pull"]["rows"] == 0  # nothing new since the last pull
            await _pull(http, standins, "eunbit", "full")
            unchanged = await _pull(http, standins, "eunbit", "full")
            assert unchanged["pull"]["status"] == 304 and unchanged["pull"]["not_modified"]
            assert unchanged["accepted"] == 2

            await api.SetConsent(
                pb.SetConsentRequest(merchant_id=merchant_id, platform="google_merchant", granted=True), metadata=owner
            )
            for name, url in (("naver.tsv", full_url), ("google.tsv", verified.merchant.feed_urls["google"])):
                async with http.get(url) as reply:
                    (tmp_path / name).write_bytes(await reply.read())
    assert len((tmp_path / "google.tsv").read_text().splitlines()) == 3  # the header and the two products
    for name, fmt in (("naver.tsv", "naver"), ("google.tsv", "google")):
        checked = subprocess.run(
            [
                str(Path(sys.executable).parent / "sotong-partner"),
                "ep",
                "validate",
                str(tmp_path / name),
                "--format",
                fmt,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
