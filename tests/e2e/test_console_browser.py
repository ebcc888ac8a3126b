"""The operators' console in a real headless Chromium, against the real stack: Kafka, PostgreSQL, the services,
the publishing engine delivering to the provider stand-ins, the gateway, and the console calling only the gateway.

- The two-person rule: duty officer A drafts a stage-1 alert (the preview measures each channel as A types) and
  has no approve button; a forced approve is refused by the services. Approver B, in a second browser context,
  reads exactly what will be sent, approves and issues it; A's incident page, never reloaded, shows the
  deliveries arriving per channel and the timeline growing. A moderator is refused at the gateway too.
- A moderator bulk-removes three queued items; the waiting count drops, also on another moderator's open page.
- A citizen's text with `<script>` and `<img onerror>` is shown as text in the inbox and the queue and never runs.
- The all-clear: A drafts it from the incident page, B approves and issues it, and A's open page shows the
  incident ended (stage all_clear) and the all-clear on the timeline without a reload.
- Every screen visited passes axe-core (npm, services/console/web) with no serious or critical violation.

Failures keep a screenshot of every open page under `.run/console-failures/`. With SOTONG_CONSOLE_SCREENSHOT_DIR
set, each screen is also photographed at 1366x768 and at a phone's width (the README's pictures).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from sotong.alerting.v1 import alerting_service_pb2 as apb
from sotong.alerting.v1 import alerting_service_pb2_grpc as apb_grpc
from sotong.community.v1 import community_service_pb2 as cpb
from sotong.community.v1 import community_service_pb2_grpc as cpb_grpc
from sotong.intake.v1 import intake_service_pb2 as ipb
from sotong.intake.v1 import intake_service_pb2_grpc as ipb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_localstack import publishing as localrun
from sotong_localstack.gateway_calls import bearer, grpc_target
from sotong_localstack.stack import ROOT, Stack
from sotong_localstack.testing import channel as service_channel
from sotong_localstack.testing import eventually
from sotong_localstack.testing import person as caller

pytestmark = pytest.mark.e2e

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
AXE = ROOT / "services" / "console" / "web" / "node_modules" / "axe-core" / "axe.min.js"
VENDOR = ROOT / "services" / "console" / "src" / "sotong_console" / "static" / "vendor" / "htmx.min.js"
FAILURES = ROOT / ".run" / "console-failures"
SCREENS = os.environ.get("SOTONG_CONSOLE_SCREENSHOT_DIR", "")
DESK = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
XSS = '비가 새요 <script>window.__xss = "script"</script> <img src=x onerror="window.__xss = \'img\'"> 확인 바랍니다'


# --- the stack and the browser ---------------------------------------------------------------------------------


def start_console(stack: Stack, *apis: str) -> str:
    """The given service processes, the gateway in front of them and the console behind it; the console's URL."""
    saved = os.environ.get("SOTONG_CONSOLE_REFRESH_S")
    os.environ["SOTONG_CONSOLE_REFRESH_S"] = "0.5"  # live counts re-read twice a second in tests
    try:
        stack.start_services((*apis, "gateway-api", "console-web"), say=False)
    finally:
        if saved is None:
            os.environ.pop("SOTONG_CONSOLE_REFRESH_S", None)
        else:
            os.environ["SOTONG_CONSOLE_REFRESH_S"] = saved
    assert stack.state is not None
    return f"http://127.0.0.1:{stack.state.http_ports['console-web']}"


@pytest.fixture(scope="module", autouse=True)
def prerequisites() -> None:
    if not CHROMIUM.exists():
        pytest.fail("Debian's Chromium is missing: run `make browser` (make test does)")
    if not AXE.exists() or not VENDOR.exists():
        pytest.fail("the console's npm packages are missing: run `make console-web` (make test does)")


@pytest_asyncio.fixture()
async def browser(request: pytest.FixtureRequest) -> AsyncIterator[Browser]:
    failed_before = request.session.testsfailed
    async with async_playwright() as driver:
        # A fresh profile per test: Playwright starts Chromium with its own empty --user-data-dir.
        launched = await driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            # The test's own report is counted before its fixtures are torn down.
            if request.session.testsfailed > failed_before:
                await keep_failure_screens(launched, request.node.name)
            await launched.close()


async def keep_failure_screens(browser: Browser, test_name: str) -> None:
    FAILURES.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", test_name)
    for c, context in enumerate(browser.contexts):
        for p, page in enumerate(context.pages):
            try:
                await page.screenshot(path=str(FAILURES / f"{safe}-{c}-{p}.png"), full_page=True)
            except Exception:  # a page that cannot be photographed must not hide the failure
                continue


async def person(browser: Browser) -> tuple[BrowserContext, Page]:
    """A separate browser context: its own cookies, as a second person at another desk."""
    context = await browser.new_context(viewport=DESK, locale="ko-KR")
    page = await context.new_page()
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    return context, page


async def sign_in(page: Page, console: str, stack: Stack, user: str) -> None:
    assert stack.state is not None
    await page.goto(f"{console}/signin")
    await page.fill("#user", user)
    await page.fill("#password", stack.state.console_dev_password)
    await page.click("form.card button[type=submit]")
    await page.wait_for_selector("#who-subject")
    assert await page.inner_text("#who-subject") == user


async def accessible(page: Page, screen: str) -> None:
    """axe-core on the page as it is: no serious or critical violation (WCAG 2 A/AA rules)."""
    # Evaluated through the DevTools protocol, which the page's CSP does not govern; the page itself loads no
    # script but its own files.
    await page.evaluate(AXE.read_text())
    result: dict[str, Any] = await page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]
    assert not bad, f"{screen}: {bad}"


async def shoot(page: Page, name: str) -> None:
    """With SOTONG_CONSOLE_SCREENSHOT_DIR: the screen at 1366x768 and at a phone's width."""
    if not SCREENS:
        return
    folder = Path(SCREENS)
    folder.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(folder / f"{name}-1366.png"))
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=str(folder / f"{name}-phone.png"), full_page=True)
    await page.set_viewport_size(DESK)


async def screen(page: Page, name: str) -> None:
    await accessible(page, name)
    await shoot(page, name)


async def no_script_ran(page: Page) -> None:
    assert await page.evaluate("window.__xss === undefined"), "a citizen's text ran as script"


# --- the disaster flow ----------------------------------------------------------------------------------------

KO = {
    "ko_event": "호우경보",
    "ko_headline": "도봉구 호우경보 발령",
    "ko_description": "도봉구에 시간당 50mm 이상의 강한 비가 내리고 있습니다.",
    "ko_instruction": "하천변 산책로 이용을 자제하고 저지대 주민은 대피를 준비하세요.",
    "ko_short_text": "[서울시] 도봉구 호우경보. 하천변 접근 금지, 저지대 주민 대피 준비 바랍니다.",
    "en_event": "Heavy rain warning",
    "en_headline": "Heavy rain warning for Dobong-gu",
    "en_description": "Rain of over 50 mm per hour is falling in Dobong-gu.",
    "en_instruction": "Keep away from streams; residents of low-lying areas prepare to evacuate.",
    "en_short_text": "[Seoul] Heavy rain warning, Dobong-gu. Keep away from streams.",
    "web": "https://safecity.seoul.go.kr/",
}


@pytest_asyncio.fixture()
async def delivering(fresh_stack: Stack) -> AsyncIterator[tuple[Stack, str]]:
    """Alerting, the publishing engine delivering to the stand-ins, the gateway and the console."""
    assert fresh_stack.state is not None
    run = Path(fresh_stack.state.run_dir)
    primary_proc, primary = localrun.start_standins(run, "standins")
    fallback_proc, fallback = localrun.start_standins(run, "standins-fallback")
    env = localrun.dispatch_env(
        primary,
        fallback,
        publishing_directory_push_devices="500",
        publishing_directory_sms_subscribers="50",
        publishing_directory_kakao_friends="40",
    )
    worker = localrun.start_dispatch(run, fresh_stack.state.env(), env)
    try:
        yield fresh_stack, start_console(fresh_stack, "alerting-api", "alerting-worker")
    finally:
        for proc in (worker, fallback_proc, primary_proc):
            localrun.stop(proc)


async def test_two_people_issue_a_stage_1_alert_and_the_drafter_watches_deliveries_arrive(
    delivering: tuple[Stack, str], browser: Browser
) -> None:
    stack, console = delivering
    a_context, a = await person(browser)
    b_context, b = await person(browser)
    await sign_in(a, console, stack, "duty-kim")
    await screen(a, "situation-room-empty")

    # A reports an incident in Dobong-gu: stage 0, duty officers paged.
    await a.fill("#hazard", "호우")
    await a.check("input[name=area][value='11320']")
    await a.fill("#summary", "도봉구 중랑천 수위 급상승, 시간당 60mm")
    await a.click("section.card button[type=submit]")
    await a.wait_for_url(re.compile(r"/incidents/[^/]+$"))
    incident_id = a.url.rsplit("/", 1)[-1]
    assert await a.get_attribute("#stage", "class") == "stage stage-stage_0"
    assert await a.is_visible("#area-map path.marked[data-code='11320']")

    # Drafting: the preview measures each channel as A types; an over-long text is flagged before sending.
    await a.click("#draft-link")
    await a.wait_for_selector("#preview article.rendering")
    for name, value in KO.items():
        await a.fill(f"#{name}", value)
    # Stage 1 goes to the press list and the portal notice: a 100-character title breaks the press rule.
    await a.fill("#ko_headline", "가" * 100)
    await a.wait_for_selector("#preview-problems li[data-field='texts[ko]']")
    measure = await a.inner_text("#preview .rendering.over[data-language=ko] .measure.over")
    used, limit = map(int, re.findall(r"\d+", measure)[:2])
    assert used > 100 and limit == 78, measure  # the title with its "[보도참고자료]" prefix
    await a.fill("#ko_headline", KO["ko_headline"])
    await a.wait_for_selector("#preview-problems p.ok")
    await screen(a, "draft-with-preview")
    await a.click("#submit-draft")
    await a.wait_for_url(re.compile(r"/alerts/[^/]+$"))
    identifier = a.url.rsplit("/", 1)[-1]

    # The two-person rule, visible: A is told someone else must approve, and has no approve button.
    assert await a.is_visible("#you-drafted")
    assert await a.query_selector("#approve") is None
    await screen(a, "alert-drafted-by-me")
    # Forcing it (a hand-made POST with A's own session and CSRF token) is refused by the services.
    forced = await a.evaluate(
        """async (id) => {
            const csrf = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
            const reply = await fetch(`/alerts/${id}/approve`, {method: 'POST', headers: {'X-CSRF-Token': csrf}});
            return {status: reply.status, text: await reply.text()};
        }""",
        identifier,
    )
    assert forced["status"] == 403, forced
    assert "PERMISSION_DENIED" in forced["text"] or "FAILED_PRECONDITION" in forced["text"], forced["text"][:500]

    # A watches the incident page from here on, never reloading it: nothing went to the press yet.
    await a.goto(f"{console}/incidents/{incident_id}")
    await a.evaluate("window.__notReloaded = true")
    await a.wait_for_selector("#timeline li")
    assert await a.query_selector("#deliveries tr[data-channel=CHANNEL_PRESS_MAIL]") is None

    # B, another person in another browser context, reads exactly what will be sent, approves and issues.
    # B's situation room lists, live, what waits for B's approval (nobody is sent a notice per draft).
    await sign_in(b, console, stack, "approver-lee")
    await b.wait_for_selector(f"#awaiting li[data-alert='{identifier}']")
    await screen(b, "situation-room-approver")
    await b.click(f"#awaiting li[data-alert='{identifier}'] a")
    await b.wait_for_url(f"{console}/alerts/{identifier}")
    assert await b.query_selector("#you-drafted") is None
    sent = await b.inner_text("#sent-heading + .renderings")
    assert KO["ko_headline"] in sent and KO["ko_instruction"] in sent and KO["en_instruction"] in sent
    await screen(b, "alert-to-approve")
    await b.click("#approve")
    await b.wait_for_selector("#alert-state[data-state=approved]")
    await b.click("#issue")
    await b.wait_for_url(f"{console}/incidents/{incident_id}")
    await b.goto(f"{console}/incidents")
    await b.wait_for_selector("#awaiting p.hint")  # approved and issued: it left the list

    # A's page: the stage, the alert's state and the deliveries per channel arrive without a reload.
    await a.wait_for_selector("#stage.stage-stage_1", timeout=30_000)
    await a.wait_for_selector(f"#alerts tr[data-alert='{identifier}'][data-state=issued]", timeout=30_000)

    async def delivered_channels() -> dict[str, int] | None:
        counts: dict[str, int] = await a.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#deliveries tr[data-channel]')]"
            ".map(r => [r.dataset.channel, Number(r.querySelector('.delivered').textContent)]))"
        )
        wanted = {"CHANNEL_PRESS_MAIL", "CHANNEL_PORTAL_NOTICE"}
        return counts if wanted <= {c for c, n in counts.items() if n > 0} else None

    counts = await eventually(delivered_channels, timeout=90)
    assert counts["CHANNEL_PRESS_MAIL"] >= 1 and counts["CHANNEL_PORTAL_NOTICE"] >= 1
    await a.wait_for_selector("#timeline li[data-event='alerting.first-message-issued.v1']", timeout=30_000)
    assert await a.evaluate("window.__notReloaded === true"), "the page was reloaded"
    await screen(a, "incident-live")

    # The incidents list shows the stage; a moderator is refused here and at the gateway.
    await a.goto(f"{console}/incidents")
    await a.wait_for_selector(f"tr[data-incident='{incident_id}'][data-stage=stage_1]")
    await screen(a, "situation-room")
    m_context, m = await person(browser)
    await sign_in(m, console, stack, "moderator-choi")
    refused = await m.goto(f"{console}/alerts/{identifier}")
    assert refused is not None and refused.status == 403
    assert await m.query_selector("#approve") is None
    async with grpc.aio.insecure_channel(grpc_target(stack)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await apb_grpc.AlertingServiceStub(channel).ApproveAlert(
                apb.ApproveAlertRequest(identifier=identifier),
                metadata=(("authorization", bearer(stack, "moderator-choi", "moderator")),),
            )
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    for context in (a_context, b_context, m_context):
        await context.close()


async def test_a_drill_is_shown_unmistakably_as_a_drill(delivering: tuple[Stack, str], browser: Browser) -> None:
    stack, console = delivering
    context, page = await person(browser)
    await sign_in(page, console, stack, "duty-park")
    await page.fill("#hazard", "지진")
    await page.check("input[name=area][value='11110']")
    await page.click("section.card button[type=submit]")
    await page.wait_for_url(re.compile(r"/incidents/[^/]+$"))
    await page.click("#draft-link")
    await page.check("input[name=status][value=Exercise]")
    for name, value in KO.items():
        await page.fill(f"#{name}", value.replace("호우", "지진 훈련").replace("Heavy rain", "Earthquake drill"))
    await page.wait_for_selector("#preview .drill-banner")
    await page.click("#submit-draft")
    await page.wait_for_selector("#drill-banner")
    # A drill needs a second person too (the service's rule): its drafter has no approve button.
    assert await page.is_visible("#you-drafted")
    assert await page.query_selector("#approve") is None
    await screen(page, "alert-drill")
    await context.close()


# --- moderation and the inbox ---------------------------------------------------------------------------------

POLITICAL = [
    "다음 선거에서 김철수 후보를 찍어 주세요, 민주당 화이팅",
    "이번 구청장 선거는 국민의힘 박영희 후보에게 투표합시다",
    "정의당 이민수 후보 지지합니다, 꼭 투표하세요",
    "선거 때 민주당 최지훈 후보 뽑아 주세요",
]


async def submit(stack: Stack, text: str, key: str, kind: int = types.SUBMISSION_KIND_OPINION) -> str:
    async with grpc.aio.insecure_channel(grpc_target(stack)) as channel:
        reply = await ipb_grpc.IntakeServiceStub(channel).SubmitReport(
            ipb.SubmitReportRequest(kind=kind, text=text, district_code="11110", channel="app", channel_message_id=key),
            metadata=(("authorization", bearer(stack, "citizen-" + key, "citizen")),),
        )
    return str(reply.tracking_id)


async def waiting(page: Page) -> int:
    return int(await page.get_attribute("#waiting-total .count", "data-waiting") or "-1")


async def test_a_moderator_removes_three_at_once_and_what_waits_drops_everywhere(
    fresh_stack: Stack, browser: Browser
) -> None:
    console = start_console(fresh_stack, "intake-api", "intake-worker", "moderation-api", "moderation-worker")
    for i, text in enumerate(POLITICAL):
        await submit(fresh_stack, text, f"political-{i}")
    script_id = await submit(fresh_stack, "선거에서 민주당 찍어요 " + XSS, "xss-queued")
    report_id = await submit(fresh_stack, XSS, "xss-report", types.SUBMISSION_KIND_REPORT)

    context, page = await person(browser)
    other_context, other = await person(browser)
    await sign_in(page, console, fresh_stack, "moderator-choi")
    await sign_in(other, console, fresh_stack, "moderator-choi")

    async def all_queued() -> int | None:
        await page.goto(f"{console}/moderation")
        count = await waiting(page)
        return count if count >= len(POLITICAL) + 1 else None

    before = await eventually(all_queued, timeout=90)
    await other.goto(f"{console}/moderation")
    assert await waiting(other) == before
    await other.evaluate("window.__notReloaded = true")

    # The citizen's markup in the queue is text: shown as typed, never run.
    queued = page.locator(".queue-item", has_text="window.__xss")
    assert "<script>" in await queued.inner_text() and "onerror" in await queued.inner_text()
    await no_script_ran(page)
    assert await page.query_selector(".queue-item mark") is not None  # evidence spans highlighted
    await screen(page, "moderation-queue")

    # Three ticked, removed at once for the political clause.
    items = page.locator(".queue-item", has_text="후보")
    removed = [await items.nth(i).get_attribute("data-content") for i in range(3)]
    for i in range(3):
        await items.nth(i).locator("input[name=item]").check()
    await page.check("#bulk input[name=clauses][value=political]")
    await page.fill("#reason", "특정 정당·후보 지지 게시물 (선거법)")
    await page.click("#decide")
    await page.wait_for_selector("#decided")
    assert await waiting(page) == before - 3
    # The other moderator's page, never reloaded, counts it too.
    # (a selector, not wait_for_function: the page's CSP forbids the string evaluation that would need)
    await other.wait_for_selector(f"#waiting-total .count[data-waiting='{before - 3}']", timeout=15_000)
    assert await other.evaluate("window.__notReloaded === true")
    badge = await other.get_attribute("#waiting-badge .count", "data-waiting")
    assert badge == str(before - 3)

    # The audit trail of one item.
    await page.goto(f"{console}/moderation")
    await page.locator(".queue-item", has_text="window.__xss").get_by_role("link").first.click()
    await page.wait_for_selector("table")
    await no_script_ran(page)
    await screen(page, "moderation-item")

    # The inbox: the citizen's report in the list, on the map by district, its page, a status change with a note.
    operator_context, operator = await person(browser)
    await sign_in(operator, console, fresh_stack, "duty-kim")

    async def listed() -> bool:
        await operator.goto(f"{console}/inbox")
        return await operator.query_selector(f"tr[data-tracking='{report_id}']") is not None

    await eventually(listed, timeout=60)
    assert "<img src=x onerror=" in await operator.inner_text(f"tr[data-tracking='{report_id}'] .citizen-text")
    assert int(await operator.get_attribute("#inbox-map path[data-code='11110']", "data-count") or "0") >= 1
    await no_script_ran(operator)
    await screen(operator, "inbox")
    await operator.click(f"tr[data-tracking='{report_id}'] th a")
    assert XSS in await operator.inner_text("#citizen-text")
    await operator.select_option("#new-status", "SUBMISSION_STATUS_IN_PROGRESS")
    await operator.fill("#note", "<b>현장 확인</b> 중입니다")
    await operator.click("form.card button[type=submit]")
    await operator.wait_for_selector("#status-changed")
    assert "<b>현장 확인</b> 중입니다" in await operator.inner_text("#history")
    await no_script_ran(operator)
    await screen(operator, "inbox-submission")
    assert script_id

    # An appeal: an operator asks for a removed item to be looked at again; it waits again, with the appeal
    # shown, and the moderator's unreloaded page counts it.
    await operator.goto(f"{console}/moderation/items/{removed[0]}")
    await operator.fill("#appeal-reason", "후보 비방이 아니라 투표 독려입니다")
    await operator.click("main form.card:has(#appeal-reason) button[type=submit]")
    await operator.wait_for_selector("main p.ok[role=status]")
    await other.wait_for_selector(f"#waiting-total .count[data-waiting='{before - 2}']", timeout=15_000)
    await page.goto(f"{console}/moderation")
    appealed = page.locator(f".queue-item[data-content='{removed[0]}'] .appeal")
    assert "투표 독려" in await appealed.inner_text()
    for c in (context, other_context, operator_context):
        await c.close()


async def test_a_moderator_removes_three_queued_comments_at_once(fresh_stack: Stack, browser: Browser) -> None:
    """Citizens' comments on a proposal (community) that moderation sends to a person, removed in one decision."""
    console = start_console(fresh_stack, "community-api", "community-worker", "moderation-api", "moderation-worker")
    author = caller(fresh_stack, "author-1", verification="identity")
    async with service_channel(fresh_stack, "community-api") as ch:
        community = cpb_grpc.CommunityServiceStub(ch)
        created = await community.CreateProposal(
            cpb.CreateProposalRequest(
                title="도봉구 중랑천 산책로에 가로등을 늘려 주세요",
                body="밤에 산책로가 너무 어둡습니다.",
                category="safety",
                district_code="11320",
                request_id="console-p-1",
            ),
            metadata=author,
        )
        target = cpb.TargetRef(kind=cpb.TARGET_KIND_PROPOSAL, id=created.proposal.proposal_id)

        async def published() -> bool:
            got = await community.GetProposal(cpb.GetProposalRequest(proposal_id=target.id), metadata=author)
            return got.proposal.state == "published"

        await eventually(published)
        for i, text in enumerate(POLITICAL[:3]):
            await community.PostComment(
                cpb.PostCommentRequest(target=target, text=text, request_id=f"console-c-{i}"),
                metadata=caller(fresh_stack, f"writer-{i}"),
            )

    context, page = await person(browser)
    await sign_in(page, console, fresh_stack, "moderator-choi")

    async def comments_queued() -> int | None:
        await page.goto(f"{console}/moderation?type=community.comment")
        return await waiting(page) if await page.locator(".queue-item").count() == 3 else None

    before = await eventually(comments_queued, timeout=90)
    assert before >= 3
    await screen(page, "moderation-comments")
    await page.check("#select-all")  # the page's three comments at once
    assert await page.locator(".queue-item input[name=item]:checked").count() == 3
    await page.check("#bulk input[name=clauses][value=political]")
    await page.fill("#reason", "선거 운동 댓글")
    await page.click("#decide")
    await page.wait_for_selector("#decided")
    assert await waiting(page) == before - 3
    assert await page.is_visible("#queue-empty")
    await context.close()


async def test_sign_in_page_is_accessible_and_refuses_a_wrong_password(fresh_stack: Stack, browser: Browser) -> None:
    console = start_console(fresh_stack, "intake-api")
    context, page = await person(browser)
    await page.goto(f"{console}/signin")
    await screen(page, "sign-in")
    await page.fill("#user", "duty-kim")
    await page.fill("#password", "wrong-password")
    await page.click("form.card button[type=submit]")
    await page.wait_for_selector("#sign-in-problem")
    # Korean first; English one click away, remembered by a cookie.
    assert await page.get_attribute("html", "lang") == "ko"
    await page.click("header a[lang=en]")
    await page.wait_for_selector("html[lang=en]")
    assert await page.inner_text("h1") == "Sign in"
    await screen(page, "sign-in-english")
    # A cross-site form post (no CSRF token, another Origin) is refused before anything is called.
    status = await asyncio.to_thread(_cross_site_post, console)
    assert status == 403
    await context.close()


def _cross_site_post(console: str) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{console}/incidents",
        data=b"hazard=x",
        headers={"Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


async def issued_stage_1(stack: Stack) -> tuple[str, str]:
    """An incident with an issued stage-1 alert, set up through the gateway as two people would."""
    operator = (("authorization", bearer(stack, "duty-kim", "operator")),)
    approver = (("authorization", bearer(stack, "approver-lee", "approver")),)
    async with grpc.aio.insecure_channel(grpc_target(stack)) as channel:
        api = apb_grpc.AlertingServiceStub(channel)
        reported = await api.ReportIncident(
            apb.ReportIncidentRequest(hazard="호우", area_codes=["11320"]), metadata=operator
        )
        incident_id = reported.incident.incident_id
        texts = [
            apb.AlertText(**{name.split("_", 1)[1]: value for name, value in KO.items() if name.startswith(lang)})
            for lang in ("ko", "en")
        ]
        for text, lang in zip(texts, ("ko", "en"), strict=True):
            text.language = lang
        drafted = await api.DraftAlert(
            apb.DraftAlertRequest(
                incident_id=incident_id,
                texts=texts,
                severity="Severe",
                urgency="Immediate",
                certainty="Observed",
                category="Met",
                web=KO["web"],
            ),
            metadata=operator,
        )
        identifier = drafted.alert.identifier
        await api.ApproveAlert(apb.ApproveAlertRequest(identifier=identifier), metadata=approver)
        await api.IssueAlert(apb.IssueAlertRequest(identifier=identifier), metadata=operator)
    return incident_id, identifier


async def test_an_issued_alert_is_updated_then_the_incident_cancelled_each_by_two_people(
    fresh_stack: Stack, browser: Browser
) -> None:
    console = start_console(fresh_stack, "alerting-api", "alerting-worker")
    incident_id, first = await issued_stage_1(fresh_stack)
    a_context, a = await person(browser)
    b_context, b = await person(browser)
    await sign_in(a, console, fresh_stack, "duty-kim")
    await sign_in(b, console, fresh_stack, "approver-lee")

    # Update: A changes the Korean instruction only; B approves and issues the update.
    await a.goto(f"{console}/alerts/{first}")
    await a.click("#two-person a.button")
    await a.wait_for_selector("#update-hint")
    await screen(a, "alert-update")
    await a.fill("#reason", "대피 장소 안내 추가")
    await a.fill("#ko_instruction", "하천변 접근 금지. 대피소: 도봉구민회관 (<b>방학로 3길</b>).")
    await a.click("main form button[type=submit]")
    await a.wait_for_url(re.compile(r"/alerts/[^/]+$"))
    update = a.url.rsplit("/", 1)[-1]
    assert update != first and await a.is_visible("#you-drafted")
    await b.goto(f"{console}/alerts/{update}")
    assert "도봉구민회관 (<b>방학로 3길</b>)" in await b.inner_text("#sent-heading + .renderings")
    assert KO["en_instruction"] in await b.inner_text("#sent-heading + .renderings")  # the English kept as it was
    await b.click("#approve")
    await b.click("#issue")
    await b.wait_for_url(f"{console}/incidents/{incident_id}")
    await b.wait_for_selector(f"#alerts tr[data-alert='{update}'][data-state=issued]")

    # Cancel: A asks from the incident page (a Cancel alert, since official messages went out); B approves it.
    await a.goto(f"{console}/incidents/{incident_id}")
    await a.click("details.cancel summary")
    await a.select_option("#references", update)
    await a.fill("#cancel-reason", "오보: 강우량 관측 오류")
    await asyncio.sleep(1.5)  # several live refreshes: what A typed stays under A's hands
    assert await a.input_value("#cancel-reason") == "오보: 강우량 관측 오류"
    await a.click("details.cancel button[type=submit]")
    await a.wait_for_url(re.compile(r"/alerts/[^/]+$"))
    cancel = a.url.rsplit("/", 1)[-1]
    assert "Cancel" in await a.inner_text(".facts")
    await b.goto(f"{console}/alerts/{cancel}")
    await b.click("#approve")
    await b.click("#issue")
    await b.wait_for_url(f"{console}/incidents/{incident_id}")
    await b.wait_for_selector("#stage.stage-cancelled")
    assert await b.query_selector("#draft-link") is None  # nothing more to draft on a closed incident
    await no_script_ran(b)
    await screen(b, "incident-cancelled")
    for context in (a_context, b_context):
        await context.close()


async def test_the_all_clear_is_drafted_by_one_approved_by_another_and_ends_the_incident_on_the_open_page(
    fresh_stack: Stack, browser: Browser
) -> None:
    console = start_console(fresh_stack, "alerting-api", "alerting-worker")
    incident_id, first = await issued_stage_1(fresh_stack)
    a_context, a = await person(browser)
    b_context, b = await person(browser)
    await sign_in(a, console, fresh_stack, "duty-kim")
    await sign_in(b, console, fresh_stack, "approver-lee")

    # A drafts the all-clear from the incident page, next to update and cancel.
    await a.goto(f"{console}/incidents/{incident_id}")
    assert "all-clear" not in (await a.inner_text("#panel")).lower()  # no "not available" hint any more
    await a.click("details.all-clear summary")
    await a.select_option("#clear-references", first)
    await a.fill("#clear-reason", "호우경보 해제: 비가 그쳤습니다")
    await a.fill("#clear-ko-instruction", "비가 그쳤습니다. 대피하신 분은 귀가하셔도 됩니다.")
    await screen(a, "incident-all-clear-form")
    await a.click("details.all-clear button[type=submit]")
    await a.wait_for_url(re.compile(r"/alerts/[^/]+$"))
    clear = a.url.rsplit("/", 1)[-1]
    assert clear != first and await a.is_visible("#you-drafted")
    assert await a.query_selector("#approve") is None  # the two-person rule, visible to the drafter
    await a.goto(f"{console}/incidents/{incident_id}")
    await a.wait_for_selector(f"#alerts tr[data-alert='{clear}'][data-state=drafted]")

    # B reads exactly what will be sent (marked as the all-clear), approves and issues it.
    await b.goto(f"{console}/alerts/{clear}")
    sent = await b.inner_text("#sent-heading + .renderings")
    assert "[해제]" in sent and "[ALL CLEAR]" in sent
    assert "귀가하셔도 됩니다" in sent and KO["en_instruction"] in sent  # A's new words; the English kept
    await screen(b, "all-clear-to-approve")
    await b.click("#approve")
    await b.wait_for_selector("#alert-state[data-state=approved]")
    await b.click("#issue")
    await b.wait_for_url(f"{console}/incidents/{incident_id}")

    # A's page, never reloaded, shows the incident ended and the all-clear on the timeline.
    await a.wait_for_selector("#stage.stage-all_clear", timeout=30_000)
    await a.wait_for_selector("#timeline li[data-event='alerting.all-clear-declared.v1']", timeout=30_000)
    await a.wait_for_selector(f"#alerts tr[data-alert='{clear}'][data-state=issued]")
    assert await a.query_selector("#draft-link") is None
    await screen(a, "incident-all-clear")
    await a.goto(f"{console}/alerts/{clear}")  # an issued all-clear ended the incident: nothing to update
    await a.wait_for_selector("#alert-state[data-state=issued]")
    assert await a.query_selector(f"a[href='/alerts/{clear}/update']") is None
    for context in (a_context, b_context):
        await context.close()
