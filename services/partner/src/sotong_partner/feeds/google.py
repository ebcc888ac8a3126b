"""Google Merchant Center product data as a TSV feed (the second format, to show the formats are pluggable).

The rules follow Google's public Product data specification: a header row of attribute names; required id
(≤ 50), title (≤ 150), description (≤ 5,000), link and image_link (absolute, ≤ 2,000), availability
(in_stock, out_of_stock, preorder, backorder), price as "15000 KRW"; up to 10 additional_image_link URLs,
comma-separated in one TSV column; shipping as country:region:service:price ("KR:::3000 KRW"); condition new,
refurbished or used; identifier_exists "no" for products without GTIN or MPN (a market street's own goods).
Only a full feed: Merchant Center fetches the whole file on its schedule (its supplemental feeds are another
matter, not used here). A cash-on-delivery product leaves shipping empty (the account's shipping settings apply).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from sotong_partner.feeds.base import FULL, Column, FeedFormat, absolute_url, one_of, url_list

_PRICE = re.compile(r"^\d+(\.\d{1,2})? [A-Z]{3}$")
_SHIPPING = re.compile(r"^[A-Z]{2}:[^:]*:[^:]*:\d+(\.\d{1,2})? [A-Z]{3}$")
PAGE = "m.page || p.sku"  # m.page: the merchant's homepage URL up to the anchor (feed_store.MERCHANTS)
SALE_PRICE = "CASE WHEN p.sale_price IS NOT NULL THEN p.sale_price || ' KRW' END"
AVAILABILITY = {"in_stock": "재고 있음", "out_of_stock": "품절", "preorder": "예약", "backorder": "입고 예정"}
CONDITION = {"new": "새 상품", "refurbished": "리퍼", "used": "중고"}


def _price(value: str) -> str | None:
    return None if _PRICE.match(value) else "가격은 '15000 KRW'처럼 숫자, 공백, 통화 코드로 써야 합니다"


def _shipping(value: str) -> str | None:
    return None if _SHIPPING.match(value) else "배송은 'KR:::3000 KRW'(국가:지역:서비스:가격) 형식이어야 합니다"


COLUMNS: tuple[Column, ...] = (
    Column("id", "상품 ID", "m.slug || '_' || p.sku", required=True, max_chars=50),
    Column("title", "상품명", "p.feed_title", required=True, max_chars=150),
    Column(
        "description",
        "상품 설명",
        r"COALESCE(NULLIF(btrim(regexp_replace(regexp_replace(p.description, '<[^>]*>', ' ', 'g'), '\s+', ' ', 'g')),"
        " ''), p.feed_title)",
        required=True,
        max_chars=5000,
    ),
    Column("link", "상품 URL", f"COALESCE(p.link, {PAGE})", required=True, max_chars=2000, checks=(absolute_url,)),
    Column("image_link", "이미지 URL", "p.image_url", required=True, max_chars=2000, checks=(absolute_url,)),
    Column(
        "additional_image_link",
        "추가 이미지 URL",
        "NULLIF(array_to_string(p.additional_image_urls, ','), '')",
        checks=(url_list(",", 10, 2000),),
    ),
    Column(
        "availability",
        "재고 상태",
        "'in_stock'",
        required=True,
        checks=(
            one_of({"in_stock": "재고 있음", "out_of_stock": "품절", "preorder": "예약", "backorder": "입고 예정"}),
        ),
    ),
    Column("price", "가격", "p.price || ' KRW'", required=True, checks=(_price,)),
    Column(
        "sale_price",
        "할인 가격",
        "CASE WHEN p.sale_price IS NOT NULL THEN p.sale_price || ' KRW' END",
        checks=(_price,),
    ),
    Column("brand", "브랜드", "m.name", max_chars=70),
    Column(
        "condition", "상품 상태", "'new'", checks=(one_of({"new": "새 상품", "refurbished": "리퍼", "used": "중고"}),)
    ),
    Column("identifier_exists", "식별자 존재 여부", "'no'", checks=(one_of({"yes": "있음", "no": "없음"}),)),
    Column(
        "shipping",
        "배송",
        "CASE WHEN NOT p.cash_on_delivery THEN 'KR:::' || p.shipping_fee || ' KRW' END",
        checks=(_shipping,),
    ),
    Column("product_type", "상품 유형", "array_to_string(p.category, ' > ')", max_chars=750),
)


def _sale_below_price(row: Mapping[str, str]) -> Iterable[tuple[str, str]]:
    price, sale = row.get("price", ""), row.get("sale_price", "")
    if _PRICE.match(price) and _PRICE.match(sale) and float(sale.split()[0]) >= float(price.split()[0]):
        yield "sale_price", "할인 가격은 가격보다 낮아야 합니다"


MERCHANT_CENTER = FeedFormat(
    name="google",
    title="Google 판매자 센터 TSV",
    platform="google_merchant",
    kinds={FULL: COLUMNS},
    row_checks=(_sale_below_price,),
)
