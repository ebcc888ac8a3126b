"""The operators' console: its busiest pages and its live updates, next to the same data read from the gateway alone.

    python tests/bench/bench_console.py --json-out bench-results/console.json

A real stack in a temporary directory: Kafka, PostgreSQL, `intake-api` and `-worker`, `moderation-api` and
`-worker`, `alerting-api`, `sotong-gateway` and `sotong-console-web` (the alerting worker and the publishing engine
are not started: no page measured here needs them). Fifty duty officers and fifty moderators sign in to the console
as local users; the baselines call the gateway's native gRPC door with tokens for the same people.

1. Pages, over real HTTP with a signed-in session: the moderation queue (a page of 20 queued items), an
   approver's situation room (25 open incidents, each with an alert someone else drafted, so the page reads
   ListIncidents and then GetIncident for 20 of them), one incident with its timeline, and the city inbox (50
   submissions listed and a map of the latest 600, so ListSubmissions four times). C clients each GET the page
   as fast as answers come, for a fixed time. The baseline is what the page reads, on the gateway alone, in the
   same order and concurrency and without the HTML (the cost the console adds is sessions, templates, the SVG map
   and HTTP). Console and gateway-only runs alternate (the machine is shared and noisy); each run's pages/s and
   p50/p99 are kept, and the ratio console pages/s / gateway fetches/s is given per pair of runs, as a range.
2. Live updates, N operators (1, 10, 50) each with their own SSE stream:
   - an incident's timeline (`/incidents/{id}/live`): the console follows alerting's `WatchIncident` through the
     gateway for each open page, so the fair baseline is the gateway's own stream, N `WatchIncident` streams as
     the same people. The event is a DraftAlert on the incident (an entry on its timeline); the latency is from
     sending it to the entry's arrival on each stream, p50/p99 over every (event, stream). A fresh incident
     per run; console and gateway runs alternate.
   - the moderation waiting count (`/live/waiting`): the console re-reads `ListQueue.total` every
     `SOTONG_CONSOLE_REFRESH_S` (default 2 s) per open page and sends it when it changed. The gateway has no
     stream of it, so there is no like-for-like baseline: the reference is the moment the item is listed, seen by
     one caller polling `ListQueue` on the gateway every 20 ms, and the figures are absolute (submit -> count
     on each stream) next to it (submit -> listed, which is intake and moderation's own pipeline). The
     difference is the polling: about half the refresh interval on average, up to all of it.

Load generator, console, gateway, the services, Kafka and PostgreSQL share this machine's two cores; the figures
are lower bounds for separate machines. It asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import grpc
from meter import CpuMeter, percentile

from sotong.alerting.v1 import alerting_service_pb2 as apb
from sotong.alerting.v1 import alerting_service_pb2_grpc as apb_grpc
from sotong.intake.v1 import intake_service_pb2 as ipb
from sotong.intake.v1 import intake_service_pb2_grpc as ipb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong.moderation.v1 import moderation_service_pb2 as mpb
from sotong.moderation.v1 import moderation_service_pb2_grpc as mpb_grpc
from sotong_common import auth
from sotong_localstack.stack import Stack
from sotong_localstack.testing import stored

SERVICES = (
    "intake-api",
    "intake-worker",
    "moderation-api",
    "moderation-worker",
    "alerting-api",
    "gateway-api",
    "console-web",
)
OFFICERS = [f"officer-{i:02d}" for i in range(50)]
MODERATORS = [f"mod-{i:02d}" for i in range(50)]
APPROVER = "approver-bench"
DRAFTER = "drafter-bench"
USERS = [(s, "operator") for s in OFFICERS] + [(s, "moderator") for s in MODERATORS]
USERS += [(APPROVER, "approver"), (DRAFTER, "operator")]
OPEN_INCIDENTS = 25
QUEUED = 40
INBOX = 650
DISTRICTS = ["11110", "11140", "11170", "11200", "11215", "11230", "11260", "11290", "11305", "11320"]
KO = {
    "event": "호우경보",
    "headline": "도봉구 호우경보 발령",
    "description": "도봉구에 시간당 50mm 이상의 강한 비가 내리고 있습니다.",
    "instruction": "하천변 산책로 이용을 자제하고 저지대 주민은 대피를 준비하세요.",
    "short_text": "[서울시] 도봉구 호우경보. 하천변 접근 금지, 저지대 주민 대피 준비 바랍니다.",
}
EN = {
    "event": "Heavy rain warning",
    "headline": "Heavy rain warning for Dobong-gu",
    "description": "Rain of over 50 mm per hour is falling in Dobong-gu.",
    "instruction": "Keep away from streams; residents of low-lying areas prepare to evacuate.",
    "short_text": "[Seoul] Heavy rain warning, Dobong-gu. Keep away from streams.",
}
PARTIES = ["민주당", "국민의힘", "정의당", "진보당", "개혁신당"]
NAMES = ["김철수", "박영희", "이민수", "최지훈", "정수진", "강동원", "윤서연", "한지민", "오세훈", "조민호"]
PLACES = ["구청장", "시의원", "구의원", "국회의원", "교육감"]
COMPLAINTS = ["가로등이 고장났어요", "보도블록이 깨졌어요", "불법 주차 차량이 많아요", "쓰레기가 쌓여 있어요"]


def political(i: int) -> str:
    """A citizen's election plea (the policy's political clause: moderation sends it to a person), each distinct."""
    return (
        f"이번 {PLACES[i % 5]} 선거는 {PARTIES[(i // 5) % 5]} {NAMES[(i // 25) % 10]} 후보에게 투표합시다 "
        f"({i}번째 부탁)"
    )


Metadata = tuple[tuple[str, str], ...]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def span(values: list[float]) -> list[float]:
    """[lowest, highest]: the range over runs, which is what a shared machine lets one say."""
    return [round(min(values), 2), round(max(values), 2)] if values else []


# --- the people and their doors -------------------------------------------------------------------------------


class People:
    """Tokens for the gateway (the baselines) and signed-in console sessions, for the same local users."""

    def __init__(self, stack: Stack, console: str, gateway: str) -> None:
        assert stack.state is not None
        self.stack = stack
        self.state = stack.state
        self.console = console
        self.gateway = gateway
        self._roles = dict(USERS)

    def metadata(self, subject: str) -> Metadata:
        token = auth.issue(self.state.jwt_secret, subject, [self._roles[subject]], ttl_s=24 * 3600)
        return (("authorization", f"Bearer {token}"),)

    async def signed_in(self, subject: str, limit: int = 16) -> aiohttp.ClientSession:
        """A browser-like client signed in as `subject` (the sign-in form's CSRF token and cookie, then a POST)."""
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit), cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        async with session.get(f"{self.console}/signin") as reply:
            page = await reply.text()
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found, "no CSRF token on the sign-in page"
        form = {"csrf": found.group(1), "next": "/", "user": subject, "password": self.state.console_dev_password}
        async with session.post(
            f"{self.console}/signin", data=form, headers={"Origin": self.console}, allow_redirects=False
        ) as reply:
            if reply.status != 303:
                raise RuntimeError(f"sign-in of {subject} answered {reply.status}")
        return session


# --- the data the pages show ----------------------------------------------------------------------------------


def draft_request(incident_id: str) -> apb.DraftAlertRequest:
    return apb.DraftAlertRequest(
        incident_id=incident_id,
        texts=[apb.AlertText(language="ko", **KO), apb.AlertText(language="en", **EN)],
        severity="Severe",
        urgency="Immediate",
        certainty="Observed",
        category="Met",
        web="https://safecity.seoul.go.kr/",
    )


async def new_incident(alerting: apb_grpc.AlertingServiceAsyncStub, people: People, n: int) -> str:
    reported = await alerting.ReportIncident(
        apb.ReportIncidentRequest(
            hazard="호우",
            area_codes=[DISTRICTS[n % len(DISTRICTS)]],
            summary=f"벤치마크 {n}: 중랑천 수위 상승",
            request_id=f"bench-{n}-{time.time_ns()}",
        ),
        metadata=people.metadata(DRAFTER),
    )
    return str(reported.incident.incident_id)


async def submit_all(
    intake: ipb_grpc.IntakeServiceAsyncStub, people: People, texts: Sequence[tuple[int, str]]
) -> list[str]:
    """Citizens' reports straight to intake (as the app would through the gateway, without its citizen limits)."""
    gate = asyncio.Semaphore(16)

    async def one(i: int, kind: int, text: str) -> str:
        async with gate:
            reply = await intake.SubmitReport(
                ipb.SubmitReportRequest(
                    kind=kind,  # type: ignore[arg-type]
                    text=text,
                    district_code=DISTRICTS[i % len(DISTRICTS)],
                    channel="app",
                    channel_message_id=f"bench-{i}-{time.time_ns()}",
                ),
                metadata=citizen_metadata(people, i),
                timeout=30,
            )
            return str(reply.tracking_id)

    return list(await asyncio.gather(*(one(i, kind, text) for i, (kind, text) in enumerate(texts))))


def citizen_metadata(people: People, i: int) -> Metadata:
    token = auth.issue(people.state.jwt_secret, f"citizen-bench-{i}", ["citizen"], ttl_s=3600)
    return (("authorization", f"Bearer {token}"),)


async def settled(moderation: mpb_grpc.ModerationServiceAsyncStub, people: People, quiet_s: float = 5.0) -> int:
    """Wait until the waiting count stops moving (moderation decided everything filed so far); return it."""
    meta = people.metadata(MODERATORS[0])
    last, since = -1, time.monotonic()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        total = (await moderation.ListQueue(mpb.ListQueueRequest(page_size=1), metadata=meta)).total
        if total != last:
            last, since = total, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return int(total)
        await asyncio.sleep(0.5)
    raise RuntimeError("the moderation queue never settled")


# --- 1. pages ---------------------------------------------------------------------------------------------------

Fetch = Callable[[], Awaitable[None]]


async def saturate(fetch: Fetch, concurrency: int, seconds: float, meter: CpuMeter) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.perf_counter() + seconds
    before = meter.snapshot()

    async def client() -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                await fetch()
            except Exception as error:  # counted and shown, never hidden
                errors.append(repr(error)[:200])
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "done": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": ms(percentile(latencies, 0.5)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "cpu_ms_each": CpuMeter.per_call_ms(before, meter.snapshot(), len(latencies)),
    }


def page_fetch(session: aiohttp.ClientSession, url: str, must_contain: str) -> Fetch:
    async def fetch() -> None:
        async with session.get(url, allow_redirects=False) as reply:
            body = await reply.text()
            if reply.status != 200 or must_contain not in body:
                raise RuntimeError(f"{url}: {reply.status} {body[:120]!r}")

    return fetch


def gateway_fetches(channel: grpc.aio.Channel, people: People, ids: dict[str, Any]) -> dict[str, Fetch]:
    """What each page reads, on the gateway alone, in the page's order (sequential or gathered as it does)."""
    alerting = apb_grpc.AlertingServiceStub(channel)
    moderation = mpb_grpc.ModerationServiceStub(channel)
    intake = ipb_grpc.IntakeServiceStub(channel)
    approver, moderator, officer = (
        people.metadata(APPROVER),
        people.metadata(MODERATORS[0]),
        people.metadata(OFFICERS[0]),
    )

    async def queue() -> None:
        await moderation.ListQueue(mpb.ListQueueRequest(page_size=20), metadata=moderator, timeout=10)

    async def situation_room() -> None:
        listed = await alerting.ListIncidents(
            apb.ListIncidentsRequest(open_only=True, limit=100), metadata=approver, timeout=10
        )
        open_ones = [i for i in listed.incidents if i.stage not in {"all_clear", "cancelled"}][:20]
        await asyncio.gather(
            *(
                alerting.GetIncident(
                    apb.GetIncidentRequest(incident_id=i.incident_id),
                    metadata=approver,
                    timeout=10,
                )
                for i in open_ones
            )
        )

    async def incident() -> None:
        await alerting.GetIncident(apb.GetIncidentRequest(incident_id=ids["incident"]), metadata=officer, timeout=10)

    async def inbox() -> None:
        await intake.ListSubmissions(ipb.ListSubmissionsRequest(page_size=50), metadata=officer, timeout=10)
        sample = ipb.ListSubmissionsRequest(page_size=200)
        seen = 0
        while seen < 600:
            page = await intake.ListSubmissions(sample, metadata=officer, timeout=10)
            seen += len(page.submissions)
            if not page.next_page_token:
                break
            sample.page_token = page.next_page_token

    return {"moderation_queue": queue, "situation_room": situation_room, "incident": incident, "inbox": inbox}


async def measure_pages(
    people: People, channel: grpc.aio.Channel, ids: dict[str, Any], args: argparse.Namespace, meter: CpuMeter
) -> dict[str, Any]:
    sessions = {
        "moderation_queue": await people.signed_in(MODERATORS[0]),
        "situation_room": await people.signed_in(APPROVER),
        "incident": await people.signed_in(OFFICERS[0]),
        "inbox": await people.signed_in(OFFICERS[1]),
    }
    console = people.console
    pages = {
        "moderation_queue": page_fetch(sessions["moderation_queue"], f"{console}/moderation", 'class="queue-item'),
        "situation_room": page_fetch(sessions["situation_room"], f"{console}/incidents", "data-alert="),
        "incident": page_fetch(sessions["incident"], f"{console}/incidents/{ids['incident']}", 'id="timeline"'),
        "inbox": page_fetch(sessions["inbox"], f"{console}/inbox", "data-tracking="),
    }
    baselines = gateway_fetches(channel, people, ids)
    results: dict[str, Any] = {}
    try:
        for name, page in pages.items():
            await saturate(page, 4, 2, meter)  # warm-up: templates compiled, connections open
            await saturate(baselines[name], 4, 2, meter)
            runs: dict[str, list[dict[str, Any]]] = {"console": [], "gateway": []}
            for round_ in range(args.rounds):
                order = [("console", page), ("gateway", baselines[name])]
                for kind, fetch in order if round_ % 2 == 0 else order[::-1]:
                    outcome = await saturate(fetch, args.concurrency, args.seconds, meter)
                    runs[kind].append(outcome)
                    print(f"[bench console] page {name} {kind}: {outcome}", flush=True)
            ratios = [
                c["per_s"] / g["per_s"] for c, g in zip(runs["console"], runs["gateway"], strict=True) if g["per_s"]
            ]
            results[name] = {
                "runs": runs,
                "console_per_s": span([r["per_s"] for r in runs["console"]]),
                "gateway_per_s": span([r["per_s"] for r in runs["gateway"]]),
                "console_p50_ms": span([r["p50_ms"] for r in runs["console"]]),
                "console_p99_ms": span([r["p99_ms"] for r in runs["console"]]),
                "gateway_p50_ms": span([r["p50_ms"] for r in runs["gateway"]]),
                "gateway_p99_ms": span([r["p99_ms"] for r in runs["gateway"]]),
                "ratio": span(ratios),
            }
    finally:
        for session in sessions.values():
            await session.close()
    return results


# --- 2. live updates --------------------------------------------------------------------------------------------


async def sse_events(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str]]:
    """(event name, data) of each server-sent event on an open response."""
    name, data = "message", list[str]()
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


class Arrivals:
    """When each watcher first saw each key (an alert identifier, a waiting count)."""

    def __init__(self, watchers: int) -> None:
        self.seen: list[dict[str, float]] = [{} for _ in range(watchers)]
        self.ready = [asyncio.Event() for _ in range(watchers)]
        self.changed = asyncio.Event()

    def note(self, watcher: int, key: str) -> None:
        if key not in self.seen[watcher]:
            self.seen[watcher][key] = time.perf_counter()
            self.changed.set()

    async def all_saw(self, key: str, timeout: float) -> bool:
        deadline = time.perf_counter() + timeout
        while not all(key in seen for seen in self.seen):
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), timeout=left)
            except TimeoutError:
                return False
        return True

    def latencies(self, key: str, sent: float) -> tuple[list[float], int]:
        """Each watcher's delay from `sent` to `key`, and how many watchers never saw it."""
        delays = [seen[key] - sent for seen in self.seen if key in seen]
        return delays, len(self.seen) - len(delays)


IDENTIFIER = re.compile(r'href="/alerts/([^"]+)"')


async def console_timeline_watchers(
    people: People, incident_id: str, after: int, sessions: list[aiohttp.ClientSession], arrivals: Arrivals
) -> list[asyncio.Task[None]]:
    async def watch(i: int, session: aiohttp.ClientSession) -> None:
        url = f"{people.console}/incidents/{incident_id}/live?after={after}"
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as reply:
            assert reply.status == 200, reply.status
            async for name, data in sse_events(reply):
                if name == "entry":
                    arrivals.ready[i].set()  # the entry before `after`: the stream from alerting is open
                    for identifier in IDENTIFIER.findall(data):
                        arrivals.note(i, identifier)

    return [asyncio.create_task(watch(i, s)) for i, s in enumerate(sessions)]


async def gateway_timeline_watchers(
    people: People, incident_id: str, after: int, subjects: list[str], arrivals: Arrivals, gateway: str
) -> tuple[list[asyncio.Task[None]], list[grpc.aio.Channel]]:
    channels = [grpc.aio.insecure_channel(gateway) for _ in subjects]

    async def watch(i: int, channel: grpc.aio.Channel, subject: str) -> None:
        stream = apb_grpc.AlertingServiceStub(channel).WatchIncident(
            apb.WatchIncidentRequest(incident_id=incident_id, after_sequence=after), metadata=people.metadata(subject)
        )
        async for item in stream:
            arrivals.ready[i].set()  # the entry before `after`: the stream from alerting is open
            if item.entry.alert_identifier:
                arrivals.note(i, item.entry.alert_identifier)

    tasks = [asyncio.create_task(watch(i, c, s)) for i, (c, s) in enumerate(zip(channels, subjects, strict=True))]
    return tasks, channels


def latency_summary(latencies: list[float], missed: int, events: int) -> dict[str, Any]:
    return {
        "events": events,
        "arrivals": len(latencies),
        "missed": missed,
        "p50_ms": ms(percentile(latencies, 0.5)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "max_ms": ms(max(latencies)) if latencies else 0.0,
    }


async def timeline_run(
    kind: str, watchers: int, people: People, channel: grpc.aio.Channel, args: argparse.Namespace, n: int
) -> dict[str, Any]:
    """N watchers of a fresh incident; drafts on it one after another; each entry's arrival on every stream."""
    alerting = apb_grpc.AlertingServiceStub(channel)
    incident_id = await new_incident(alerting, people, 1000 + n)
    shown = await alerting.GetIncident(
        apb.GetIncidentRequest(incident_id=incident_id), metadata=people.metadata(DRAFTER)
    )
    # Each stream starts one entry back: that entry's arrival says the stream is open all the way to alerting.
    after = shown.timeline[-1].sequence - 1
    subjects = OFFICERS[:watchers]
    arrivals = Arrivals(watchers)
    sessions: list[aiohttp.ClientSession] = []
    channels: list[grpc.aio.Channel] = []
    if kind == "console":
        sessions = list(await asyncio.gather(*(people.signed_in(s, limit=2) for s in subjects)))
        tasks = await console_timeline_watchers(people, incident_id, after, sessions, arrivals)
    else:
        tasks, channels = await gateway_timeline_watchers(
            people, incident_id, after, subjects, arrivals, people.gateway
        )
    latencies: list[float] = []
    missed = 0
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in arrivals.ready)), timeout=60)
        await asyncio.sleep(0.5)
        drafter = people.metadata(DRAFTER)
        for _ in range(args.events):
            sent = time.perf_counter()
            drafted = await alerting.DraftAlert(draft_request(incident_id), metadata=drafter, timeout=10)
            identifier = drafted.alert.identifier
            await arrivals.all_saw(identifier, timeout=15)
            delays, unseen = arrivals.latencies(identifier, sent)
            latencies += delays
            missed += unseen
            await asyncio.sleep(random.uniform(0.2, 0.5))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for session in sessions:
            await session.close()
        for ch in channels:
            await ch.close()
    return latency_summary(latencies, missed, args.events)


async def waiting_run(
    watchers: int,
    people: People,
    channel: grpc.aio.Channel,
    intake: ipb_grpc.IntakeServiceAsyncStub,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """N moderators' waiting counts over SSE; citizens' items queued one after another; the reference poller."""
    moderation = mpb_grpc.ModerationServiceStub(channel)
    reference_meta = people.metadata(MODERATORS[-1])
    subjects = MODERATORS[:watchers]
    arrivals = Arrivals(watchers)
    totals: list[int] = [-1] * watchers
    sessions = list(await asyncio.gather(*(people.signed_in(s, limit=2) for s in subjects)))

    async def watch(i: int, session: aiohttp.ClientSession) -> None:
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with session.get(f"{people.console}/live/waiting", timeout=timeout) as reply:
            assert reply.status == 200, reply.status
            async for name, data in sse_events(reply):
                found = re.search(r'data-waiting="(\d+)"', data) if name == "waiting" else None
                if found:
                    totals[i] = int(found.group(1))
                    arrivals.note(i, f"total-{totals[i]}")
                    arrivals.ready[i].set()

    tasks = [asyncio.create_task(watch(i, s)) for i, s in enumerate(sessions)]
    console_latencies: list[float] = []
    listed_latencies: list[float] = []
    missed = skipped = 0
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in arrivals.ready)), timeout=60)
        for event in range(args.events):
            before = (await moderation.ListQueue(mpb.ListQueueRequest(page_size=1), metadata=reference_meta)).total
            sent = time.perf_counter()
            await submit_all(
                intake, people, [(types.SUBMISSION_KIND_OPINION, political(10_000 + watchers * 100 + event))]
            )
            listed_at = None
            while time.perf_counter() - sent < 20:
                total = (await moderation.ListQueue(mpb.ListQueueRequest(page_size=1), metadata=reference_meta)).total
                if total > before:
                    listed_at = time.perf_counter()
                    break
                await asyncio.sleep(0.02)
            if listed_at is None:
                skipped += 1  # moderation did not queue this one: not an event for the count
                continue
            listed_latencies.append(listed_at - sent)
            key = f"total-{before + 1}"
            await arrivals.all_saw(key, timeout=20)
            delays, unseen = arrivals.latencies(key, sent)
            console_latencies += delays
            missed += unseen
            # Not in step with the console's refresh: the next item lands anywhere in its interval.
            await asyncio.sleep(random.uniform(0.3, 1.5))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for session in sessions:
            await session.close()
    return {
        "console": latency_summary(console_latencies, missed, args.events - skipped),
        "listed_reference": latency_summary(listed_latencies, 0, args.events - skipped),
        "not_queued": skipped,
    }


async def measure_live(
    people: People, channel: grpc.aio.Channel, intake: ipb_grpc.IntakeServiceAsyncStub, args: argparse.Namespace
) -> dict[str, Any]:
    timeline: dict[str, Any] = {}
    counter = 0
    for watchers in args.watchers:
        runs: dict[str, list[dict[str, Any]]] = {"console": [], "gateway": []}
        for round_ in range(args.live_rounds):
            order = ["console", "gateway"] if round_ % 2 == 0 else ["gateway", "console"]
            for kind in order:
                counter += 1
                outcome = await timeline_run(kind, watchers, people, channel, args, counter)
                runs[kind].append(outcome)
                print(f"[bench console] timeline, {watchers} watching, {kind}: {outcome}", flush=True)
        timeline[str(watchers)] = {
            "runs": runs,
            "console_p50_ms": span([r["p50_ms"] for r in runs["console"]]),
            "console_p99_ms": span([r["p99_ms"] for r in runs["console"]]),
            "gateway_p50_ms": span([r["p50_ms"] for r in runs["gateway"]]),
            "gateway_p99_ms": span([r["p99_ms"] for r in runs["gateway"]]),
        }
    waiting: dict[str, Any] = {}
    for watchers in args.watchers:
        outcome = await waiting_run(watchers, people, channel, intake, args)
        print(f"[bench console] waiting count, {watchers} watching: {outcome}", flush=True)
        waiting[str(watchers)] = outcome
    return {"timeline": timeline, "waiting_count": waiting}


# --- the run ----------------------------------------------------------------------------------------------------


async def prepare(people: People, channel: grpc.aio.Channel, intake: ipb_grpc.IntakeServiceAsyncStub) -> dict[str, Any]:
    """Open incidents with drafts waiting for an approver, a queue of political pleas, an inbox of complaints."""
    alerting = apb_grpc.AlertingServiceStub(channel)
    moderation = mpb_grpc.ModerationServiceStub(channel)
    incidents = [await new_incident(alerting, people, n) for n in range(OPEN_INCIDENTS)]
    for incident_id in incidents:
        await alerting.DraftAlert(draft_request(incident_id), metadata=people.metadata(DRAFTER), timeout=10)
    for _ in range(8):  # one incident with a longer timeline and more alerts
        await alerting.DraftAlert(draft_request(incidents[0]), metadata=people.metadata(DRAFTER), timeout=10)
    texts = [(types.SUBMISSION_KIND_OPINION, political(i)) for i in range(QUEUED)]
    texts += [
        (types.SUBMISSION_KIND_COMPLAINT, f"{i}번지 앞 {COMPLAINTS[i % len(COMPLAINTS)]} 확인 부탁드립니다")
        for i in range(INBOX)
    ]
    started = time.perf_counter()
    tracking = await submit_all(intake, people, texts)
    await stored(people.stack, *tracking, timeout=300)
    print(
        f"[bench console] {len(tracking)} reports filed and stored in {time.perf_counter() - started:.0f}s", flush=True
    )
    waiting = await settled(moderation, people)
    print(f"[bench console] {waiting} items wait for review", flush=True)
    return {"incident": incidents[0], "incidents": len(incidents), "waiting": waiting, "submissions": len(tracking)}


async def measure(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    assert stack.state is not None
    state = stack.state
    console = f"http://127.0.0.1:{state.http_ports['console-web']}"
    gateway = f"127.0.0.1:{state.grpc_ports['gateway-api']}"
    people = People(stack, console, gateway)
    meter = CpuMeter(
        {
            "client": os.getpid(),
            "console": stack.processes["console-web"].pid,
            "gateway": stack.processes["gateway-api"].pid,
        }
    )
    results: dict[str, Any] = {
        "concurrency": args.concurrency,
        "seconds_per_run": args.seconds,
        "refresh_s": float(os.environ.get("SOTONG_CONSOLE_REFRESH_S", "2.0")),
    }
    async with (
        grpc.aio.insecure_channel(gateway) as channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{state.grpc_ports['intake-api']}") as intake_channel,
    ):
        intake = ipb_grpc.IntakeServiceStub(intake_channel)
        ids = await prepare(people, channel, intake)
        results["data"] = ids
        if not args.skip_pages:
            results["pages"] = await measure_pages(people, channel, ids, args, meter)
        results["live"] = await measure_live(people, channel, intake, args)
    return results


def report(results: dict[str, Any]) -> None:
    def r(values: list[float]) -> str:
        return (
            f"{values[0]:g}-{values[1]:g}" if values and values[0] != values[1] else f"{values[0]:g}" if values else "-"
        )

    for name, page in results.get("pages", {}).items():
        print(
            f"[bench console] {name}: console {r(page['console_per_s'])} pages/s (p50 {r(page['console_p50_ms'])} ms, "
            f"p99 {r(page['console_p99_ms'])} ms) vs gateway only {r(page['gateway_per_s'])} fetches/s "
            f"(p50 {r(page['gateway_p50_ms'])} ms): ratio {r(page['ratio'])}",
            flush=True,
        )
    for watchers, found in results["live"]["timeline"].items():
        print(
            f"[bench console] timeline, {watchers} watching: console p50 {r(found['console_p50_ms'])} ms "
            f"p99 {r(found['console_p99_ms'])} ms vs gateway WatchIncident p50 {r(found['gateway_p50_ms'])} ms "
            f"p99 {r(found['gateway_p99_ms'])} ms",
            flush=True,
        )
    for watchers, found in results["live"]["waiting_count"].items():
        print(
            f"[bench console] waiting count, {watchers} watching: on the streams p50 {found['console']['p50_ms']:g} ms "
            f"p99 {found['console']['p99_ms']:g} ms; listed on the gateway p50 "
            f"{found['listed_reference']['p50_ms']:g} ms (refresh {results['refresh_s']:g} s)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json-out", type=Path, default=Path("bench-results/console.json"))
    parser.add_argument("--concurrency", type=int, default=8, help="clients fetching pages at once")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each page run")
    parser.add_argument("--rounds", type=int, default=3, help="page runs of each (console, gateway), alternating")
    parser.add_argument("--watchers", type=int, nargs="+", default=[1, 10, 50], help="operators watching, per run")
    parser.add_argument("--events", type=int, default=20, help="events per live run")
    parser.add_argument("--live-rounds", type=int, default=2, help="timeline runs of each, alternating")
    parser.add_argument("--skip-pages", action="store_true", help="only the live updates")
    args = parser.parse_args()
    if max(args.watchers) > len(OFFICERS):
        parser.error(f"at most {len(OFFICERS)} watchers (one local user each)")
    run_dir = Path(tempfile.mkdtemp(prefix="sotong-bench-console-"))
    stack = Stack(run_dir, nodes=1, database_url=os.environ.get("SOTONG_BENCH_DATABASE_URL"))
    overrides = {
        "SOTONG_GATEWAY_CLIENT_RATE": "1000000/s",  # one console, one address: the bench measures pages, not limits
        "SOTONG_CONSOLE_DEV_USERS": ",".join(f"{subject}={role}" for subject, role in USERS),
    }
    saved = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    try:
        stack.start_infrastructure(say=False)
        stack.start_services(SERVICES, say=False)
        results = asyncio.run(measure(stack, args))
    finally:
        stack.stop(remove_run_dir=sys.exc_info()[0] is None)  # a failed run keeps its logs
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(results, indent=2))
    report(results)


if __name__ == "__main__":
    main()
