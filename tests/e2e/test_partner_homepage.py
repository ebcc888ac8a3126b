"""A merchant's mobile homepage in a real headless Chromium at a phone's viewport.

Debian's `chromium` and `chromium-driver` (`make test` installs them when missing), driven through WebDriver
(Selenium): the page of a verified merchant with four products, one of whose titles carries a `<script>` and an
`<img onerror>`. The products show with no horizontal scroll at 390 CSS pixels, the title shows as text and
nothing of it runs, the JSON-LD parses as schema.org LocalBusiness and Product, the style sheet is applied (the
Content-Security-Policy hash matches), and the browser logs no CSP violation. Screenshots go to the test's
directory (and to $SOTONG_SCREENSHOTS when set) to be looked at.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sotong.partner.v1 import partner_service_pb2 as pb
from sotong.partner.v1 import partner_service_pb2_grpc as pb_grpc
from sotong_localstack.partner import product, registration
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, token

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PHONE = {"width": 390, "height": 844, "pixelRatio": 3}
EVIL = "<script>window.__pwned=1;document.title='PWNED'</script><img src=x onerror=\"window.__pwned=2\">반지"

COLOURS = ("#c9a227", "#8aa4c8", "#b56576", "#6d9f71")


class _Images(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        name = self.path.rsplit("/", 1)[-1].removesuffix(".svg")
        colour = COLOURS[int(name) % len(COLOURS)] if name.isdigit() else "#999999"
        svg = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="320" height="320"><rect width="320" height="320" '
            f'fill="{colour}"/><circle cx="160" cy="160" r="80" fill="#fff" opacity=".6"/></svg>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "image/svg+xml")
        self.send_header("Content-Length", str(len(svg)))
        self.end_headers()
        self.wfile.write(svg)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture()
def images() -> Iterator[str]:
    """A merchant's image host on loopback (a thread: WebDriver calls block the test's event loop)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/img"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def browser() -> Iterator[Any]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Debian's chromium and chromium-driver are needed: `make browser` installs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sotong-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={PHONE['width']},{PHONE['height']}",
    ):
        options.add_argument(flag)
    options.add_experimental_option("mobileEmulation", {"deviceMetrics": PHONE})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


async def test_the_mobile_homepage_in_chromium(fresh_stack: Stack, browser: Any, images: str, tmp_path: Path) -> None:
    fresh_stack.start_services(("partner-api", "partner-http"), say=False)
    state = fresh_stack.state
    assert state is not None
    owner, staff = token(fresh_stack, "partner"), token(fresh_stack, "operator")
    async with channel(fresh_stack, "partner-api") as ch:
        api = pb_grpc.PartnerServiceStub(ch)
        merchant = (await api.RegisterMerchant(registration("eunbit", "220-81-62517"), metadata=owner)).merchant
        await api.VerifyMerchant(
            pb.VerifyMerchantRequest(merchant_id=merchant.merchant_id, decision=pb.VERIFICATION_DECISION_APPROVE),
            metadata=staff,
        )
        items = [
            product(
                "RING-925",
                "순은 반지 (수제, 11호부터 15호까지 주문 제작 가능한 긴 이름의 상품)",
                39000,
                sale_price=35000,
                image_url=f"{images}/0.svg",
            ),
            product(
                "NECK-01",
                "진주 목걸이",
                120000,
                image_url=f"{images}/1.svg",
                options=[pb.ProductOption(name="길이", value="45cm", extra_price=5000)],
            ),
            product("EAR-7", "금 귀걸이 14K", 89000, stock=0, image_url=f"{images}/2.svg"),
            product("EVIL-1", EVIL, 1000, image_url=f"{images}/3.svg"),
        ]
        for item in items:
            await api.UpsertProduct(
                pb.UpsertProductRequest(merchant_id=merchant.merchant_id, product=item), metadata=owner
            )
    url = f"http://127.0.0.1:{state.http_ports['partner-http']}/m/eunbit"
    browser.get(url)

    cards = browser.find_elements("css selector", "li.product")
    assert len(cards) == 4
    titles = [card.find_element("css selector", "h3").text for card in cards]
    assert any("<script>window.__pwned=1;" in t and "onerror" in t for t in titles)  # shown as text
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.title.startswith("은빛공방") and "PWNED" not in browser.title
    assert (
        browser.execute_script("return document.querySelectorAll('script:not([type=\"application/ld+json\"])').length")
        == 0
    )
    viewport = browser.execute_script("return window.innerWidth")
    assert viewport == PHONE["width"]
    assert browser.execute_script("return document.documentElement.scrollWidth") <= viewport
    for card in cards:
        box = card.rect
        assert box["x"] >= 0 and box["x"] + box["width"] <= viewport + 0.5 and box["width"] > 100
    assert browser.execute_script("return getComputedStyle(document.querySelector('h1')).fontSize") == "24px"

    blocks = browser.execute_script(
        "return [...document.querySelectorAll('script[type=\"application/ld+json\"]')].map(s => s.textContent)"
    )
    (data,) = [json.loads(block) for block in blocks]
    assert data["@context"] == "https://schema.org"
    kinds = [item["@type"] for item in data["@graph"]]
    assert kinds.count("LocalBusiness") == 1 and kinds.count("Product") == 4
    evil = next(item for item in data["@graph"] if item.get("sku") == "EVIL-1")
    assert evil["name"] == EVIL and evil["offers"]["priceCurrency"] == "KRW"
    business = next(item for item in data["@graph"] if item["@type"] == "LocalBusiness")
    assert business["address"]["streetAddress"] and business["geo"]["latitude"] == pytest.approx(37.5716)

    qr = browser.find_element("css selector", "figure svg")
    assert qr.rect["width"] <= viewport
    assert (
        browser.find_element("partial link text", "지도에서 위치 보기")
        .get_attribute("href")
        .startswith("https://map.kakao.com/link/map/")
    )
    violations = [
        entry["message"] for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]
    ]
    assert violations == []

    shots = [tmp_path / "homepage-top.png", tmp_path / "homepage-products.png"]
    browser.save_screenshot(str(shots[0]))
    browser.execute_script("document.querySelector('li.product:last-child').scrollIntoView()")
    browser.save_screenshot(str(shots[1]))
    keep = os.environ.get("SOTONG_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for shot in shots:
            shutil.copy(shot, Path(keep) / shot.name)
    assert all(shot.stat().st_size > 10_000 for shot in shots)
