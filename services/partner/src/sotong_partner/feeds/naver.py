"""Naver Shopping EP 3.0 (상품 DB URL): the full EP and the summary EP, UTF-8 TSV with a header row.

The EP 3.0 guide itself is handed out in the Naver Shopping Partner Center (상품관리 > 상품정보 수신현황 > DB URL
작성요령) and is not public; the columns and rules here are what the partner service assumes, and the README says
where each came from. In short:

- column names and order: as the guide lists them, reproduced by open-source shop software's EP 3.0 generators;
  the full EP ends with `gender`, the summary EP adds `class` (I new, U changed, D deleted or sold out) and
  `update_time` (YYYY-MM-DD HH:MM:SS, Korean time);
- required: id, title, price_pc, link, image_link, category_name1, shipping (as the issue and those generators
  have them); in the summary a D row needs only id, class and update_time;
- lengths: id 50, title 100, URLs 255, category names 50 (characters); add_image_link at most 10 URLs
  separated by |; shipping 0 (free), -1 (착불) or the fee; prices whole won without separators;
- no tab, line break or HTML tag inside a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sotong_partner.feeds.base import (
    FULL,
    SUMMARY,
    Column,
    FeedFormat,
    absolute_url,
    integer_at_least,
    one_of,
    positive_integer,
    timestamp,
    url_list,
)

PAGE = "m.page || p.sku"  # m.page: the merchant's homepage URL up to the anchor (feed_store.MERCHANTS)
CONDITION = {"신상품": "새 상품", "중고": "중고", "리퍼": "리퍼", "전시": "전시", "반품": "반품", "스크래치": "흠집"}


def _unused(name: str, label: str) -> Column:
    return Column(name, label, "NULL", max_chars=100)


def _price_column(name: str, label: str, sql: str, required: bool = False) -> Column:
    return Column(name, label, sql, required=required, checks=(positive_integer,))


COLUMNS: tuple[Column, ...] = (
    Column("id", "상품 ID", "m.slug || '_' || p.sku", required=True, max_chars=50),
    Column("title", "상품명", "p.feed_title", required=True, max_chars=100),
    _price_column("price_pc", "PC 판매가격", "COALESCE(p.sale_price, p.price)", required=True),
    _price_column("price_mobile", "모바일 판매가격", "COALESCE(p.sale_price, p.price)"),
    _price_column("normal_price", "정가", "CASE WHEN p.sale_price IS NOT NULL THEN p.price END"),
    Column("link", "상품 URL", f"COALESCE(p.link, {PAGE})", required=True, max_chars=255, checks=(absolute_url,)),
    Column("mobile_link", "모바일 상품 URL", PAGE, max_chars=255, checks=(absolute_url,)),
    Column("image_link", "이미지 URL", "p.image_url", required=True, max_chars=255, checks=(absolute_url,)),
    Column(
        "add_image_link",
        "추가 이미지 URL",
        "NULLIF(array_to_string(p.additional_image_urls, '|'), '')",
        checks=(url_list("|", 10, 255),),
    ),
    Column("category_name1", "대분류 카테고리", "p.category[1]", required=True, max_chars=50),
    Column("category_name2", "중분류 카테고리", "p.category[2]", max_chars=50),
    Column("category_name3", "소분류 카테고리", "p.category[3]", max_chars=50),
    Column("category_name4", "세분류 카테고리", "p.category[4]", max_chars=50),
    _unused("naver_category", "네이버 카테고리 ID"),
    _unused("naver_product_id", "가격비교 페이지 ID"),
    Column(
        "condition",
        "상품 상태",
        "'신상품'",
        checks=(
            one_of(
                {
                    "신상품": "새 상품",
                    "중고": "중고",
                    "리퍼": "리퍼",
                    "전시": "전시",
                    "반품": "반품",
                    "스크래치": "흠집",
                }
            ),
        ),
    ),
    _unused("import_flag", "해외구매대행 여부"),
    _unused("parallel_import", "병행수입 여부"),
    _unused("order_made", "주문제작 여부"),
    _unused("product_flag", "판매 방식 구분"),
    _unused("adult", "미성년자 구매 불가 여부"),
    _unused("goods_type", "상품 구분"),
    _unused("barcode", "바코드"),
    _unused("manufacture_define_number", "제품코드"),
    _unused("model_number", "모델명"),
    Column("brand", "브랜드", "NULL", max_chars=60),
    Column("maker", "제조사", "NULL", max_chars=60),
    Column("origin", "원산지", "NULL", max_chars=30),
    _unused("card_event", "카드 할인"),
    _unused("event_words", "이벤트"),
    _unused("coupon", "일반 할인"),
    _unused("partner_coupon_download", "쿠폰 다운로드 필요 여부"),
    _unused("interest_free_event", "무이자 할부"),
    _unused("point", "포인트"),
    _unused("installation_costs", "별도 설치비 여부"),
    _unused("pre_match_code", "사전매칭 코드"),
    _unused("search_tag", "검색 태그"),
    _unused("group_id", "그룹 ID"),
    _unused("vendor_id", "제휴사 상품 ID"),
    _unused("coordi_id", "코디 상품 ID"),
    _unused("minimum_purchase_quantity", "최소 구매 수량"),
    _unused("review_count", "상품평 개수"),
    Column(
        "shipping",
        "배송료",
        "CASE WHEN p.cash_on_delivery THEN -1 ELSE p.shipping_fee END",
        required=True,
        checks=(integer_at_least(-1, "0(무료), -1(착불) 또는 배송비(원, 숫자만)여야 합니다"),),
    ),
    _unused("delivery_grade", "차등 배송비 여부"),
    _unused("delivery_detail", "차등 배송비 내용"),
    _unused("attribute", "상품 속성"),
    Column(
        "option_detail",
        "구매 옵션",
        "CASE WHEN p.options = '[]'::jsonb THEN NULL ELSE (SELECT string_agg((o->>'name') || ':' || (o->>'value')"
        " || '^' || (o->>'extra_price'), '|') FROM jsonb_array_elements(p.options) AS o) END",
        max_chars=1000,
    ),
    Column("seller_id", "판매자 ID", "m.slug", max_chars=50),
    _unused("age_group", "주 이용 연령대"),
    _unused("gender", "주 이용 성별"),
)

SUMMARY_COLUMNS: tuple[Column, ...] = (
    *COLUMNS,
    Column("class", "상품 구분", "{class}", required=True, checks=(one_of({"I": "신규", "U": "수정", "D": "삭제"}),)),
    Column(
        "update_time",
        "상품 정보 변경 시각",
        "to_char(p.changed_at AT TIME ZONE 'Asia/Seoul', 'YYYY-MM-DD HH24:MI:SS')",
        required=True,
        checks=(timestamp("%Y-%m-%d %H:%M:%S", "2026-11-24 09:30:00"),),
    ),
)


def _prices(row: Mapping[str, str]) -> Iterable[tuple[str, str]]:
    price, normal = row.get("price_pc", ""), row.get("normal_price", "")
    if price.isdigit() and normal.isdigit() and int(normal) < int(price):
        yield (
            "normal_price",
            f"정가({int(normal):,}원)가 판매가({int(price):,}원)보다 낮습니다. 정가를 고치거나 비워 주세요",
        )


EP3 = FeedFormat(
    name="naver",
    title="네이버쇼핑 EP 3.0",
    platform="naver_shopping",
    kinds={FULL: COLUMNS, SUMMARY: SUMMARY_COLUMNS},
    row_checks=(_prices,),
    class_column="class",
    delete_needs=("id", "class", "update_time"),
    stored_line="naver_ep",
)
