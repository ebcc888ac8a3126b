"""A merchant's mobile homepage, generated from its catalogue: Korean, mobile first, WCAG 2.1 AA.

Nothing a merchant typed ever executes. Every value goes into the page through `escape` (text and attribute
values), into the JSON-LD through `_json_for_script` (which cannot close its script element), or as a URL that
was checked to be absolute http(s) when it was stored. The page carries no script of its own, and its
Content-Security-Policy (`CSP`) forbids every script, plugin, frame, form and base change; the style sheet is
allowed by its hash. JSON-LD blocks are data, not scripts: browsers do not run them and CSP does not apply.

Accessibility: `lang="ko"`, zoom is never disabled, one h1 and a heading per product, every image has its
product's name as alternative text, prices are read as "판매가 12,000원" (the crossed-out list price says 정가),
colours meet 4.5:1 (text #1b1b1b, links #0b57d0, sale price #b3261e on white; badges white on #545454), focus is
always visible, touch targets are at least 44 px, and long words wrap instead of scrolling sideways.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote

import segno

STYLE = """
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;font-family:system-ui,-apple-system,"Apple SD Gothic Neo","Noto Sans KR","Malgun Gothic",sans-serif;
line-height:1.6;color:#1b1b1b;background:#fff;overflow-wrap:anywhere;word-break:keep-all}
a{color:#0b57d0}
a:focus-visible,summary:focus-visible{outline:3px solid #0b57d0;outline-offset:2px}
.skip{position:absolute;left:-9999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem}
header,main,footer{max-width:40rem;margin:0 auto;padding:1rem}
header{border-bottom:1px solid #d0d0d0}
h1{font-size:1.5rem;margin:.25rem 0}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}h3{font-size:1rem;margin:.5rem 0 .25rem}
.street{display:inline-block;font-size:.875rem;color:#1b1b1b;background:#f1f3f4;border-radius:1rem;padding:.1rem .6rem}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin:.75rem 0 0;padding:0;list-style:none}
.actions a{display:inline-flex;align-items:center;min-height:44px;padding:.5rem 1rem;border:1px solid #0b57d0;
border-radius:.5rem;text-decoration:none;font-weight:600}
.products{list-style:none;margin:0;padding:0;display:grid;gap:1rem;grid-template-columns:repeat(auto-fill,minmax(9.5rem,1fr))}
.product{border:1px solid #d0d0d0;border-radius:.75rem;overflow:hidden;min-width:0}
.product img{display:block;width:100%;height:auto;aspect-ratio:1/1;object-fit:cover;background:#f1f3f4}
.product .body{padding:.5rem .75rem .75rem}
.price{margin:0;font-weight:700}.price del{font-weight:400;color:#545454;margin-right:.25rem}
.sale{color:#b3261e}
.badge{display:inline-block;background:#545454;color:#fff;border-radius:.25rem;padding:0 .4rem;font-size:.8rem}
.meta{margin:.25rem 0 0;font-size:.875rem;color:#454545}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
figure{margin:1.5rem 0 0;text-align:center}figure svg{max-width:100%;height:auto}
figcaption{font-size:.875rem;color:#454545}
footer{font-size:.875rem;color:#454545;border-top:1px solid #d0d0d0}
.merchants{list-style:none;padding:0;margin:0}.merchants li{border-bottom:1px solid #d0d0d0}
.merchants a{display:block;min-height:44px;padding:.75rem 0}
""".strip()

_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CSP = (
    "default-src 'none'; img-src https: http: data:; "
    f"style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""Nothing may run, be framed or post anywhere; images from the merchants' own hosts; our style sheet only."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}

KAKAO_MAP = "https://map.kakao.com/link/map/{name},{lat},{lng}"
SITE_NAME = "서울 소상공인 모바일 홈페이지"


@dataclass(frozen=True)
class PageOption:
    name: str
    value: str
    extra_price: int


@dataclass(frozen=True)
class PageProduct:
    sku: str
    title: str
    description: str
    price: int
    sale_price: int | None
    stock: int
    image_url: str
    additional_image_urls: Sequence[str]
    category: Sequence[str]
    shipping_fee: int
    cash_on_delivery: bool
    options: Sequence[PageOption]
    link: str | None


@dataclass(frozen=True)
class PageMerchant:
    slug: str
    name: str
    kind: str
    description: str
    address: str
    lat: float
    lng: float
    phone: str
    street_name: str | None
    street_code: str | None
    district_name: str | None
    shop_url: str | None


def won(amount: int) -> str:
    return f"{amount:,}원"


def _json_for_script(value: Any) -> str:
    """JSON that cannot end its <script> element or open a comment: <, > and & as \\u escapes."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def qr_svg(url: str, label: str) -> str:
    """The QR code of `url` as inline SVG (segno), titled for screen readers."""
    return str(segno.make(url, error="m").svg_inline(scale=4, title=label, svgclass="qr", lineclass=None))


def map_link(merchant: PageMerchant) -> str:
    return KAKAO_MAP.format(name=quote(merchant.name, safe=""), lat=f"{merchant.lat:.6f}", lng=f"{merchant.lng:.6f}")


def structured_data(merchant: PageMerchant, products: Sequence[PageProduct], page_url: str) -> dict[str, Any]:
    business_id = page_url + "#business"
    business: dict[str, Any] = {
        "@type": "LocalBusiness",
        "@id": business_id,
        "name": merchant.name,
        "url": page_url,
        "address": {
            "@type": "PostalAddress",
            "streetAddress": merchant.address,
            "addressRegion": "서울특별시",
            "addressCountry": "KR",
            **({"addressLocality": merchant.district_name} if merchant.district_name else {}),
        },
        "geo": {"@type": "GeoCoordinates", "latitude": merchant.lat, "longitude": merchant.lng},
        "hasMap": map_link(merchant),
    }
    if merchant.description:
        business["description"] = merchant.description
    if merchant.phone:
        business["telephone"] = merchant.phone
    if merchant.shop_url:
        business["sameAs"] = [merchant.shop_url]
    graph: list[dict[str, Any]] = [business]
    for product in products:
        offer: dict[str, Any] = {
            "@type": "Offer",
            "price": str(product.sale_price or product.price),
            "priceCurrency": "KRW",
            "availability": "https://schema.org/InStock" if product.stock > 0 else "https://schema.org/OutOfStock",
            "url": product.link or f"{page_url}#p-{product.sku}",
            "seller": {"@id": business_id},
        }
        item: dict[str, Any] = {
            "@type": "Product",
            "@id": f"{page_url}#p-{product.sku}",
            "name": product.title,
            "sku": product.sku,
            "image": [product.image_url, *product.additional_image_urls],
            "category": " > ".join(product.category),
            "offers": offer,
        }
        if product.description:
            item["description"] = product.description
        graph.append(item)
    return {"@context": "https://schema.org", "@graph": graph}


def _product_card(product: PageProduct) -> str:
    t = escape(product.title)
    sold_out = product.stock <= 0
    if product.sale_price:
        price = (
            f'<p class="price"><del><span class="sr">정가 </span>{won(product.price)}</del>'
            f'<span class="sale"><span class="sr">판매가 </span>{won(product.sale_price)}</span></p>'
        )
    else:
        price = f'<p class="price"><span class="sr">판매가 </span>{won(product.price)}</p>'
    shipping = (
        "착불"
        if product.cash_on_delivery
        else ("무료 배송" if product.shipping_fee == 0 else f"배송비 {won(product.shipping_fee)}")
    )
    options = ""
    if product.options:
        listed = ", ".join(
            escape(f"{o.name} {o.value}") + (f" (+{won(o.extra_price)})" if o.extra_price else "")
            for o in product.options
        )
        options = f'<p class="meta">옵션: {listed}</p>'
    description = f'<p class="meta">{escape(product.description)}</p>' if product.description else ""
    badge = ' <span class="badge">품절</span>' if sold_out else ""
    link = ""
    if product.link:
        link = (
            f'<p class="meta"><a href="{escape(product.link)}" rel="noopener noreferrer nofollow">'
            f'구매 페이지로 가기<span class="sr"> ({t})</span></a></p>'
        )
    return (
        f'<li class="product" id="p-{escape(product.sku)}"><article>'
        f'<img src="{escape(product.image_url)}" alt="{t}" width="320" height="320" loading="lazy" decoding="async">'
        f'<div class="body"><h3>{t}{badge}</h3>{price}'
        f'<p class="meta">{shipping} · {escape(" > ".join(product.category))}</p>'
        f"{options}{description}{link}</div></article></li>"
    )


def render_merchant_page(merchant: PageMerchant, products: Sequence[PageProduct], base_url: str) -> str:
    page_url = f"{base_url}/m/{merchant.slug}"
    name = escape(merchant.name)
    description = merchant.description or f"{merchant.name}의 상품을 소개합니다."
    first_image = next((p.image_url for p in products), "")
    og = [
        ("og:type", "website"),
        ("og:site_name", SITE_NAME),
        ("og:locale", "ko_KR"),
        ("og:title", merchant.name),
        ("og:description", description[:200]),
        ("og:url", page_url),
    ]
    if first_image:
        og.append(("og:image", first_image))
        og.append(("og:image:alt", f"{merchant.name} 상품 사진"))
    meta = "".join(f'<meta property="{k}" content="{escape(v)}">' for k, v in og)
    street = ""
    if merchant.street_name and merchant.street_code:
        street = f'<p><a class="street" href="/s/{escape(merchant.street_code)}">{escape(merchant.street_name)}</a></p>'
    kind = "사회적기업" if merchant.kind == "social_enterprise" else "소상공인"
    actions = [f'<li><a href="{escape(map_link(merchant))}" rel="noopener noreferrer">지도에서 위치 보기</a></li>']
    if merchant.phone:
        actions.append(f'<li><a href="tel:{escape(merchant.phone.replace(" ", ""))}">전화 걸기</a></li>')
    if merchant.shop_url:
        actions.append(
            f'<li><a href="{escape(merchant.shop_url)}" rel="noopener noreferrer nofollow">온라인 상점</a></li>'
        )
    cards = "".join(_product_card(p) for p in products) if products else ""
    listing = f'<ul class="products">{cards}</ul>' if products else "<p>아직 등록된 상품이 없습니다.</p>"
    qr = qr_svg(page_url, f"{merchant.name} 모바일 홈페이지 주소 QR 코드")
    return (
        '<!doctype html><html lang="ko"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{name} | {SITE_NAME}</title>"
        f'<meta name="description" content="{escape(description[:200])}">'
        f'<link rel="canonical" href="{escape(page_url)}">{meta}'
        f"<style>{STYLE}</style>"
        f'<script type="application/ld+json">{_json_for_script(structured_data(merchant, products, page_url))}</script>'
        '</head><body><a class="skip" href="#products">상품 목록으로 건너뛰기</a>'
        f'<header><p class="meta">{kind}</p><h1>{name}</h1>{street}'
        f'<p class="meta">{escape(merchant.address)}</p>'
        + (f"<p>{escape(merchant.description)}</p>" if merchant.description else "")
        + f'<ul class="actions">{"".join(actions)}</ul></header>'
        f'<main id="products"><h2>상품 {len(products)}개</h2>{listing}'
        f"<figure>{qr}<figcaption>매장 앞에 붙일 수 있는 이 페이지의 QR 코드<br>{escape(page_url)}</figcaption>"
        "</figure></main>"
        f"<footer><p>{SITE_NAME} · 서울특별시 소상공인·사회적기업 지원</p></footer></body></html>"
    )


@dataclass(frozen=True)
class StreetMerchant:
    slug: str
    name: str
    kind: str


def render_street_page(
    code: str, name: str, description: str, district: str, merchants: Sequence[StreetMerchant], base_url: str
) -> str:
    page_url = f"{base_url}/s/{code}"
    items = "".join(
        f'<li><a href="/m/{escape(m.slug)}">{escape(m.name)}'
        + (' <span class="badge">사회적기업</span>' if m.kind == "social_enterprise" else "")
        + "</a></li>"
        for m in merchants
    )
    listing = f'<ul class="merchants">{items}</ul>' if merchants else "<p>아직 참여한 가게가 없습니다.</p>"
    return (
        '<!doctype html><html lang="ko"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(name)} | {SITE_NAME}</title>"
        f'<meta property="og:type" content="website"><meta property="og:title" content="{escape(name)}">'
        f'<meta property="og:url" content="{escape(page_url)}"><meta property="og:locale" content="ko_KR">'
        f"<style>{STYLE}</style></head><body>"
        f'<header><p class="meta">{escape(district)}</p><h1>{escape(name)}</h1><p>{escape(description)}</p></header>'
        f"<main><h2>참여 가게 {len(merchants)}곳</h2>{listing}</main>"
        f"<footer><p>{SITE_NAME}</p></footer></body></html>"
    )
