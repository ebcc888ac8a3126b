"""A merchant's products: what a product is, and every rule it must meet before it is stored.

The rules are the strictest of the feeds a product may go to (Naver Shopping EP 3.0's, see the README), so a
stored product is always a valid feed row and a feed is a straight read of the table. Text is kept as the
merchant typed it (the homepage shows it escaped, as text); what no feed or page may carry is refused or
normalised here: control characters are refused, tabs and line breaks in one-line fields become spaces, and
the feed's title (HTML tags stripped) must not be empty.

Every problem names its field (`product.price`, `data.additional_image_urls[3]`), all at once.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from sotong_common.errors import FieldViolation

SKU = re.compile(r"^[A-Za-z0-9_-]{1,29}$")
TITLE_MAX = 100
DESCRIPTION_MAX = 2000
PRICE_MAX = 1_000_000_000  # 10억 원
STOCK_MAX = 1_000_000
URL_MAX = 255
EXTRA_IMAGES_MAX = 10
CATEGORY_LEVELS = 4
CATEGORY_MAX = 50
SHIPPING_MAX = 1_000_000
OPTIONS_MAX = 50
OPTION_NAME_MAX = 25
OPTION_VALUE_MAX = 50
# Separators of the EP's option_detail (name:value^price|...) and of add_image_link.
_OPTION_FORBIDDEN = frozenset("^|:,\t\r\n<>")

ON_SALE = "on_sale"
HIDDEN = "hidden"
STATUSES = (ON_SALE, HIDDEN)

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def feed_text(text: str) -> str:
    """A value as every feed shows it: HTML tags stripped, whitespace collapsed (PostgreSQL computes the same
    for the stored column `feed_title`: see the migration)."""
    return _SPACE.sub(" ", _TAG.sub(" ", text)).strip()


@dataclass(frozen=True)
class Option:
    name: str
    value: str
    extra_price: int = 0


@dataclass(frozen=True)
class Product:
    """A product as stored (the merchant's id and the product's sku identify it)."""

    sku: str
    title: str
    price: int
    stock: int
    image_url: str
    category: tuple[str, ...]
    description: str = ""
    sale_price: int | None = None
    additional_image_urls: tuple[str, ...] = ()
    shipping_fee: int = 0
    cash_on_delivery: bool = False
    options: tuple[Option, ...] = ()
    status: str = ON_SALE
    link: str | None = None

    @property
    def listable(self) -> bool:
        """Whether a feed may list it (a sold-out or hidden product is a deletion for the platform)."""
        return self.status == ON_SALE and self.stock > 0

    @property
    def selling_price(self) -> int:
        return self.sale_price if self.sale_price else self.price

    def changed_fields(self, other: Product) -> list[str]:
        """Names of the fields whose values differ (empty: the same content, nothing to store)."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


@dataclass
class Draft:
    """Raw input, from gRPC or a webhook's JSON, before the rules."""

    sku: Any = ""
    title: Any = ""
    description: Any = ""
    price: Any = None
    sale_price: Any = None
    stock: Any = None
    image_url: Any = ""
    additional_image_urls: Any = field(default_factory=list)
    category: Any = field(default_factory=list)
    shipping_fee: Any = 0
    cash_on_delivery: Any = False
    options: Any = field(default_factory=list)
    status: Any = ON_SALE
    link: Any = ""


class Problems:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.found: list[FieldViolation] = []

    def add(self, name: str, why: str) -> None:
        self.found.append(FieldViolation(f"{self.prefix}{name}", why))


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cs", "Co") and c not in "\t\r\n" for c in text)


def _one_line(text: str) -> str:
    return _SPACE.sub(" ", text).strip() if ("\t" in text or "\n" in text or "\r" in text) else text.strip()


def check_url(value: Any, name: str, problems: Problems, *, required: bool, schemes: tuple[str, ...]) -> str | None:
    """An absolute URL of one of `schemes`, or a problem saying what is wrong with it (relative, javascript:...)."""
    if value is None or value == "":
        if required:
            problems.add(name, "is required: an absolute address starting with https://")
        return None
    if not isinstance(value, str):
        problems.add(name, "must be a URL string")
        return None
    url = value.strip()
    if len(url) > URL_MAX:
        problems.add(name, f"must be at most {URL_MAX} characters (it has {len(url)})")
        return None
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url) or "<" in url or ">" in url or '"' in url:
        problems.add(name, "must not contain spaces, control characters, quotes or angle brackets")
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        problems.add(name, "is not a valid URL")
        return None
    scheme = parts.scheme.lower()
    if not scheme:
        problems.add(name, "must be an absolute URL (https://…), not a relative path")
        return None
    if scheme not in schemes:
        problems.add(name, f"must use {' or '.join(schemes)}, not {scheme}:")
        return None
    if not parts.hostname or parts.username or parts.password:
        problems.add(name, "must name a host and carry no user name or password")
        return None
    return url


def _integer(value: Any, name: str, problems: Problems, *, low: int, high: int, why: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            problems.add(name, f"must be a whole number: {why}")
            return None
    number = int(value)
    if not low <= number <= high:
        problems.add(name, f"must be {why} (got {number:,})")
        return None
    return number


def _plain_text(value: Any, name: str, problems: Problems, *, low: int, high: int) -> str | None:
    if not isinstance(value, str):
        problems.add(name, "must be text")
        return None
    if _has_control(value):
        problems.add(name, "must not contain control characters")
        return None
    text = _one_line(value)
    if "<" in text or ">" in text:
        problems.add(name, "must not contain < or > (no HTML)")
        return None
    if not low <= len(text) <= high:
        problems.add(name, f"must be {low}-{high} characters (it has {len(text)})")
        return None
    return text


def validate(draft: Draft, prefix: str = "product.") -> tuple[Product | None, list[FieldViolation]]:
    """The product, or every problem with the draft (field names carry `prefix`)."""
    p = Problems(prefix)
    sku = draft.sku if isinstance(draft.sku, str) else ""
    if not SKU.match(sku):
        p.add("sku", "must be 1-29 characters of A-Z a-z 0-9 - _ (the merchant's own product code)")

    title: str | None = None
    if not isinstance(draft.title, str) or not draft.title.strip():
        p.add("title", "is required")
    elif _has_control(draft.title):
        p.add("title", "must not contain control characters")
    else:
        title = _one_line(draft.title)
        if len(title) > TITLE_MAX:
            p.add("title", f"must be at most {TITLE_MAX} characters (it has {len(title)})")
            title = None
        elif not feed_text(title):
            p.add("title", "must have text besides HTML tags")
            title = None

    description = ""
    if draft.description:
        if not isinstance(draft.description, str) or _has_control(draft.description):
            p.add("description", "must be text without control characters")
        elif len(draft.description) > DESCRIPTION_MAX:
            p.add("description", f"must be at most {DESCRIPTION_MAX:,} characters (it has {len(draft.description):,})")
        else:
            description = draft.description.strip()

    price = _integer(
        draft.price, "price", p, low=1, high=PRICE_MAX, why=f"a positive price in won, at most {PRICE_MAX:,}"
    )
    sale_price: int | None = None
    if draft.sale_price not in (None, 0):
        sale_price = _integer(draft.sale_price, "sale_price", p, low=1, high=PRICE_MAX, why="a positive price in won")
        if sale_price is not None and price is not None and sale_price >= price:
            p.add("sale_price", f"must be below price ({price:,}) or 0 for no sale")
            sale_price = None
    stock = _integer(
        draft.stock if draft.stock is not None else 0,
        "stock",
        p,
        low=0,
        high=STOCK_MAX,
        why=f"0 or more, at most {STOCK_MAX:,}",
    )

    image_url = check_url(draft.image_url, "image_url", p, required=True, schemes=("https", "http"))
    extra: list[str] = []
    extras = draft.additional_image_urls or []
    if not isinstance(extras, Sequence) or isinstance(extras, str):
        p.add("additional_image_urls", "must be a list of URLs")
    elif len(extras) > EXTRA_IMAGES_MAX:
        p.add("additional_image_urls", f"must hold at most {EXTRA_IMAGES_MAX} images (it has {len(extras)})")
    else:
        for i, url in enumerate(extras):
            checked = check_url(url, f"additional_image_urls[{i}]", p, required=True, schemes=("https", "http"))
            if checked is not None:
                extra.append(checked)

    category: list[str] = []
    levels = draft.category or []
    if not isinstance(levels, Sequence) or isinstance(levels, str) or not levels:
        p.add("category", f'is required: 1-{CATEGORY_LEVELS} levels, e.g. ["주얼리", "반지"]')
    elif len(levels) > CATEGORY_LEVELS:
        p.add("category", f"must have at most {CATEGORY_LEVELS} levels (it has {len(levels)})")
    else:
        for i, level in enumerate(levels):
            text = _plain_text(level, f"category[{i}]", p, low=1, high=CATEGORY_MAX)
            if text is not None:
                if "|" in text:
                    p.add(f"category[{i}]", "must not contain |")
                else:
                    category.append(text)

    cash = draft.cash_on_delivery
    if not isinstance(cash, bool):
        p.add("cash_on_delivery", "must be true or false")
        cash = False
    shipping = _integer(
        draft.shipping_fee if draft.shipping_fee is not None else 0,
        "shipping_fee",
        p,
        low=0,
        high=SHIPPING_MAX,
        why=f"0 (free) or a fee in won, at most {SHIPPING_MAX:,}",
    )
    if cash and shipping:
        p.add("shipping_fee", "must be 0 when the buyer pays on delivery (cash_on_delivery)")

    options: list[Option] = []
    raw_options = draft.options or []
    if not isinstance(raw_options, Sequence) or isinstance(raw_options, str):
        p.add("options", "must be a list of {name, value, extra_price}")
    elif len(raw_options) > OPTIONS_MAX:
        p.add("options", f"must hold at most {OPTIONS_MAX} options (it has {len(raw_options)})")
    else:
        for i, option in enumerate(raw_options):
            options_item = _option(option, f"options[{i}]", p)
            if options_item is not None:
                options.append(options_item)
        if len({(o.name, o.value) for o in options}) != len(options):
            p.add("options", "lists the same name and value twice")

    status = draft.status or ON_SALE
    if status not in STATUSES:
        p.add("status", "must be on_sale or hidden")

    link = check_url(draft.link, "link", p, required=False, schemes=("https", "http"))

    if p.found:
        return None, p.found
    assert title is not None and price is not None and stock is not None and image_url is not None
    assert shipping is not None
    return (
        Product(
            sku=sku,
            title=title,
            description=description,
            price=price,
            sale_price=sale_price,
            stock=stock,
            image_url=image_url,
            additional_image_urls=tuple(extra),
            category=tuple(category),
            shipping_fee=shipping,
            cash_on_delivery=bool(cash),
            options=tuple(options),
            status=status,
            link=link,
        ),
        [],
    )


def _option(raw: Any, name: str, p: Problems) -> Option | None:
    if isinstance(raw, Option):
        raw = {"name": raw.name, "value": raw.value, "extra_price": raw.extra_price}
    if not isinstance(raw, Mapping):
        p.add(name, "must be an object with name, value and extra_price")
        return None
    before = len(p.found)
    texts: list[str] = []
    for key, high in (("name", OPTION_NAME_MAX), ("value", OPTION_VALUE_MAX)):
        text = _plain_text(raw.get(key, ""), f"{name}.{key}", p, low=1, high=high)
        if text is not None and _OPTION_FORBIDDEN & set(text):
            p.add(f"{name}.{key}", "must not contain ^ | : or , (the feeds' separators)")
        texts.append(text or "")
    extra = _integer(
        raw.get("extra_price", 0) or 0, f"{name}.extra_price", p, low=0, high=PRICE_MAX, why="0 or more won"
    )
    if len(p.found) != before:
        return None
    return Option(texts[0], texts[1], extra or 0)


def draft_from_json(data: Mapping[str, Any]) -> Draft:
    """A draft from a webhook's `data` object (unknown keys are ignored, types are checked by `validate`)."""
    draft = Draft()
    for f in fields(Draft):
        if f.name in data:
            setattr(draft, f.name, data[f.name])
    return draft
