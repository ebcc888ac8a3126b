"""Product rules: each bad input is a clear error naming its field; a valid product is a valid feed row."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sotong_partner.catalogue import Draft, feed_text, validate


def draft(**fields: Any) -> Draft:
    base: dict[str, Any] = {
        "sku": "RING-1",
        "title": "순은 반지",
        "price": 39000,
        "stock": 3,
        "image_url": "https://img.example.kr/r.jpg",
        "category": ["주얼리", "반지"],
    }
    base.update(fields)
    return Draft(**base)


def fields_of(d: Draft, prefix: str = "product.") -> list[str]:
    product, problems = validate(d, prefix)
    assert product is None
    return [p.field for p in problems]


def test_a_valid_draft_is_a_product() -> None:
    product, problems = validate(draft(sale_price=35000, options=[{"name": "호수", "value": "11", "extra_price": 0}]))
    assert problems == [] and product is not None
    assert product.selling_price == 35000 and product.listable


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"price": -1000}, "product.price", "positive"),
        ({"price": 0}, "product.price", "positive"),
        ({"sale_price": 40000}, "product.sale_price", "below price"),
        ({"image_url": "/images/r.jpg"}, "product.image_url", "relative"),
        ({"image_url": "javascript:alert(1)"}, "product.image_url", "javascript"),
        ({"link": "javascript:alert(document.cookie)"}, "product.link", "javascript"),
        ({"title": "가" * 101}, "product.title", "at most 100"),
        ({"title": "<b></b>"}, "product.title", "besides HTML"),
        (
            {"additional_image_urls": [f"https://img.example.kr/{i}.jpg" for i in range(11)]},
            "product.additional_image_urls",
            "at most 10",
        ),
        (
            {"additional_image_urls": ["https://a.kr/1.jpg", "ftp://a.kr/2.jpg"]},
            "product.additional_image_urls[1]",
            "ftp",
        ),
        ({"category": []}, "product.category", "required"),
        ({"category": ["a", "b", "c", "d", "e"]}, "product.category", "at most 4"),
        ({"stock": -1}, "product.stock", "0 or more"),
        ({"shipping_fee": 2500, "cash_on_delivery": True}, "product.shipping_fee", "must be 0"),
        ({"options": [{"name": "색|상", "value": "금"}]}, "product.options[0].name", "separators"),
        ({"sku": "반지"}, "product.sku", "A-Z"),
        ({"status": "sold"}, "product.status", "on_sale"),
        ({"title": "반지\x00"}, "product.title", "control"),
    ],
)
def test_bad_input_names_the_field(change: dict[str, Any], field: str, words: str) -> None:
    product, problems = validate(draft(**change))
    assert product is None
    assert [p.field for p in problems] == [field]
    assert words in problems[0].description


def test_every_problem_is_reported_at_once_with_the_callers_prefix() -> None:
    found = fields_of(draft(price=-1, image_url="", title=""), prefix="data.")
    assert found == ["data.title", "data.price", "data.image_url"]


def test_line_breaks_in_a_title_become_spaces_and_html_is_kept_as_typed() -> None:
    product, _ = validate(draft(title="순은\t반지\n<script>alert(1)</script>"))
    assert product is not None
    assert product.title == "순은 반지 <script>alert(1)</script>"
    assert feed_text(product.title) == "순은 반지 alert(1)"


def test_changed_fields_compare_content() -> None:
    first, _ = validate(draft())
    second, _ = validate(draft(price=42000))
    assert first is not None and second is not None
    assert first.changed_fields(first) == [] and first.changed_fields(second) == ["price"]


@given(
    title=st.text(max_size=150),
    price=st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=5), st.none()),
    url=st.text(max_size=300),
    extra=st.lists(st.text(max_size=40), max_size=13),
)
def test_anything_is_either_a_feed_safe_product_or_named_problems(
    title: str, price: Any, url: str, extra: list[str]
) -> None:
    product, problems = validate(draft(title=title, price=price, image_url=url, additional_image_urls=extra))
    if product is None:
        assert problems and all(p.field.startswith("product.") and p.description for p in problems)
        return
    for value in (product.title, product.image_url, *product.additional_image_urls):
        assert "\t" not in value and "\n" not in value and "\x01" not in value and "\x02" not in value
    assert product.image_url.startswith(("http://", "https://")) and product.price > 0
    assert len(feed_text(product.title)) > 0 and len(product.title) <= 100
