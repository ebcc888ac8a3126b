"""A page in headless Chromium, served from another origin, calls the gateway with the generated client.

The page (services/gateway/web, built by `make gateway-web`) uses the client protoc-gen-es generated from
sotong/gateway/v1/gateway_service.proto with Connect's web transports, once in the Connect protocol and once in
gRPC-Web. In each: a unary call (SubmitReport), a server stream that shows a status change as an operator makes
it (WatchSubmission), an error with its code and field violation, and a deadline that expires. The page's origin
is on the gateway's allowlist; the same page from an origin that is not is refused at the gateway before any
service sees a call. Chromium is Debian's (/usr/bin/chromium, `make browser`), driven by Playwright.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from playwright.async_api import Browser, Page, async_playwright

from sotong.intake.v1 import intake_service_pb2 as intake
from sotong.intake.v1 import intake_service_pb2_grpc as intake_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common import auth
from sotong_localstack.gateway_calls import backend_calls, bearer, grpc_target, metric, start_gateway
from sotong_localstack.ports import free_ports
from sotong_localstack.stack import ROOT, Stack

pytestmark = pytest.mark.e2e

PAGE_DIR = ROOT / "services" / "gateway" / "web" / "dist"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def page_server() -> Iterator[int]:
    """The page's own web server: another port is another origin than the gateway's."""
    if not (PAGE_DIR / "page.js").exists():
        pytest.fail("the browser page is not built: run `make gateway-web` (make test does)")
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium is missing: run `make browser` (make test does)")
    handler = functools.partial(_QuietHandler, directory=str(PAGE_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_ports(1)[0]), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture()
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as driver:
        # A fresh profile per test: Playwright starts Chromium with its own empty --user-data-dir.
        launched = await driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


def page_url(origin: str, stack: Stack, protocol: str, token: str) -> str:
    assert stack.state is not None
    gateway = f"http://127.0.0.1:{stack.state.http_ports['gateway-api']}"
    return f"{origin}/index.html?gateway={gateway}&protocol={protocol}&token={token}"


async def open_page(browser: Browser, url: str) -> Page:
    page = await browser.new_page(viewport={"width": 1180, "height": 720})
    await page.goto(url)
    await page.wait_for_selector("body[data-ready=true]", timeout=15_000)
    return page


@pytest.mark.parametrize("protocol", ["connect", "grpc-web"])
async def test_page_on_another_origin_calls_the_gateway(
    fresh_stack: Stack, page_server: int, browser: Browser, protocol: str, tmp_path: Path
) -> None:
    origin = f"http://127.0.0.1:{page_server}"
    stack = start_gateway(
        fresh_stack, "intake-api", "intake-worker", "alerting-api", SOTONG_GATEWAY_ALLOWED_ORIGINS=origin
    )
    assert stack.state is not None
    citizen = auth.issue(stack.state.jwt_secret, "citizen-browser", ["citizen"])
    page = await open_page(browser, page_url(origin, stack, protocol, citizen))
    # The page lists the alerts in force as it loads (none in this fresh stack).
    assert await page.inner_text("#alerts") == "현재 발령 중인 재난 경보가 없습니다 · no alerts in force"

    # A unary call.
    submitted = await page.evaluate(
        "sotong.submit({text: '시청역 4번 출구 앞 보도블록이 깨져 있습니다', kind: 'REPORT', districtCode: '11140'})"
    )
    assert "ok" in submitted, submitted
    tracking_id = submitted["ok"]["trackingId"]
    assert await page.inner_text("#tracking") == tracking_id

    # A server stream: the history, then a status change shown while it happens.
    await page.evaluate("id => sotong.watch(id)", tracking_id)
    await page.wait_for_selector("#changes li[data-status=SUBMISSION_STATUS_RECEIVED]", timeout=10_000)
    async with grpc.aio.insecure_channel(grpc_target(stack)) as channel:
        await intake_grpc.IntakeServiceStub(channel).UpdateStatus(
            intake.UpdateStatusRequest(
                tracking_id=tracking_id, status=types.SUBMISSION_STATUS_IN_PROGRESS, note="보수 공사를 시작합니다"
            ),
            metadata=(("authorization", bearer(stack, "operator-jung", "operator")),),
        )
    live = await page.wait_for_selector("#changes li[data-status=SUBMISSION_STATUS_IN_PROGRESS]", timeout=10_000)
    assert live is not None and "보수 공사를 시작합니다" in await live.inner_text()
    assert await page.evaluate("sotong.state.watch") == "open"  # shown live, not after the stream ended

    # An error with its code and field violation, as the generated client decodes them.
    refused = await page.evaluate("sotong.submit({text: '   ', districtCode: '11140'})")
    assert refused["error"]["code"] == "InvalidArgument"
    assert [v["field"] for v in refused["error"]["violations"]] == ["text"]
    assert await page.is_visible("#submit-error .violation[data-field=text]")

    # A deadline that expires: a watch asked to last 1.5 s ends with DEADLINE_EXCEEDED.
    await page.evaluate("id => sotong.watch(id, 1500)", tracking_id)
    await page.wait_for_function("sotong.state.watch === 'ended'", timeout=10_000)
    assert (await page.evaluate("sotong.state.watchEnd"))["code"] == "DeadlineExceeded"
    assert await page.evaluate("sotong.state.changes.map(c => c.status)") == [
        "SUBMISSION_STATUS_RECEIVED",
        "SUBMISSION_STATUS_IN_PROGRESS",
    ]
    await page.wait_for_selector("#watch-error .code", timeout=5_000)

    # What a person would see (SOTONG_GATEWAY_SCREENSHOT_DIR keeps it somewhere to look at).
    shots = Path(os.environ.get("SOTONG_GATEWAY_SCREENSHOT_DIR", str(tmp_path)))
    shots.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(shots / f"gateway-page-{protocol}.png"), full_page=True)


async def test_page_from_an_origin_not_allowed_is_refused(
    fresh_stack: Stack, page_server: int, browser: Browser
) -> None:
    allowed = f"http://127.0.0.1:{page_server}"
    stack = start_gateway(fresh_stack, "intake-api", "intake-worker", SOTONG_GATEWAY_ALLOWED_ORIGINS=allowed)
    assert stack.state is not None
    citizen = auth.issue(stack.state.jwt_secret, "citizen-elsewhere", ["citizen"])
    # The same page and gateway, but the page is on localhost: another origin, not on the list.
    page = await open_page(browser, page_url(f"http://localhost:{page_server}", stack, "connect", citizen))
    before = backend_calls(stack, "intake-api", "/sotong.intake.v1.IntakeService/SubmitReport")
    refused = await page.evaluate("sotong.submit({text: '다른 사이트에서 보낸 신고', districtCode: '11140'})")
    assert "error" in refused, refused
    assert refused["error"]["code"] in {"Unknown", "Unavailable", "Internal"}  # the browser hides why: CORS
    assert metric(stack, "gateway-api", "sotong_gateway_refused_total", reason="origin") >= 1
    assert backend_calls(stack, "intake-api", "/sotong.intake.v1.IntakeService/SubmitReport") == before
