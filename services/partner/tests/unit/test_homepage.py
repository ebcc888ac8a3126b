"""The mobile homepage: nothing a merchant typed can run, the structured data parses, the page meets its rules."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from sotong_partner import homepage

EVIL = '</script><script>alert("x")</script><img src=x onerror=alert(1)>'


def merchant(**fields: object) -> homepage.PageMerchant:
    base: dict[str, object] = {
        "slug": "eunbit",
        "name": "은빛공방 " + EVIL,
        "kind": "merchant",
        "description": "공방 " + EVIL,
        "address": "종로구 돈화문로 24",
        "lat": 37.5716,
        "lng": 126.9935,
        "phone": "02-765-1234",
        "street_name": "종로 귀금속·주얼리거리",
        "street_code": "jongno-jewelry",
        "district_name": "종로구",
        "shop_url": None,
    }
    base.update(fields)
    return homepage.PageMerchant(**base)  # type: ignore[arg-type]


def product(sku: str, title: str, **fields: object) -> homepage.PageProduct:
    base: dict[str, object] = dict(
        sku=sku,
        title=title,
        description="",
        price=39000,
        sale_price=None,
        stock=3,
        image_url="https://img.kr/a.jpg",
        additional_image_urls=[],
        category=["주얼리", "반지"],
        shipping_fee=0,
        cash_on_delivery=False,
        options=[],
        link=None,
    )
    base.update(fields)
    return homepage.PageProduct(**base)  # type: ignore[arg-type]


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[str, str]] = []
        self.handlers: list[str] = []
        self._in: str | None = None
        self.lang = ""
        self.alts: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        if tag == "script":
            self._in = found.get("type") or ""
            self.scripts.append((self._in, ""))
        if tag == "html":
            self.lang = found.get("lang") or ""
        if tag == "img":
            self.alts.append(found.get("alt"))

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            kind, text = self.scripts[-1]
            self.scripts[-1] = (kind, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in = None


def render() -> str:
    products = [
        product("R1", "순은 반지 " + EVIL, sale_price=35000, description=EVIL),
        product("N2", "진주 목걸이", stock=0),
    ]
    return homepage.render_merchant_page(merchant(), products, "https://partner.seoul.go.kr")


def test_the_only_script_is_json_ld_and_no_tag_or_handler_comes_from_the_merchant() -> None:
    page = render()
    seen = Collect()
    seen.feed(page)
    assert [kind for kind, _ in seen.scripts] == ["application/ld+json"]
    assert seen.handlers == []
    assert "<script>alert" not in page and "&lt;/script&gt;&lt;script&gt;alert" in page
    assert seen.lang == "ko" and all(seen.alts)


def test_the_json_ld_is_schema_org_local_business_and_products() -> None:
    seen = Collect()
    seen.feed(render())
    data = json.loads(seen.scripts[0][1])
    graph = {item["@type"]: item for item in data["@graph"]}
    assert data["@context"] == "https://schema.org"
    business = graph["LocalBusiness"]
    assert business["name"].startswith("은빛공방") and business["geo"]["latitude"] == 37.5716
    products = [i for i in data["@graph"] if i["@type"] == "Product"]
    assert {p["sku"] for p in products} == {"R1", "N2"}
    first = next(p for p in products if p["sku"] == "R1")
    assert first["name"] == "순은 반지 " + EVIL  # the text, exactly as typed, as data
    assert first["offers"]["price"] == "35000" and first["offers"]["priceCurrency"] == "KRW"
    assert next(p for p in products if p["sku"] == "N2")["offers"]["availability"].endswith("OutOfStock")


def test_open_graph_qr_code_map_link_and_the_policy() -> None:
    page = render()
    for prop in ("og:title", "og:description", "og:image", "og:url", "og:type", "og:locale"):
        assert f'property="{prop}"' in page
    assert "<svg" in page and "QR 코드" in page
    assert "https://map.kakao.com/link/map/" in page
    assert "script-src" not in homepage.CSP and "default-src 'none'" in homepage.CSP
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style is not None and style.group(1) == homepage.STYLE  # the hash in the policy is this style's
