"""Steady mixed traffic on a running stack, and everything it was told: citizens' reports through gRPC (single and
batched) and Open311, reads of what they filed, moderators' queue reads, and incidents whose stage-0 pages go out
through the publishing engine (moderation decides every report on its own). The outage tests and `make soak`
drive the platform with it, then check its ledger end to end against what was stored and delivered.

A client here behaves as Sotong asks its clients to: every report carries its own message id and is sent again
after UNAVAILABLE (the same message is the same report), every incident its request id; it honours the retry hint.
Answers are counted per call and status code, so a test can say "UNAVAILABLE with a hint while the database was
away, never INTERNAL, never a deadline passed".
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import grpc

from sotong.alerting.v1 import alerting_service_pb2 as alerting
from sotong.alerting.v1 import alerting_service_pb2_grpc as alerting_grpc
from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_service_pb2 as intake
from sotong.intake.v1 import intake_service_pb2_grpc as intake_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong.moderation.v1 import moderation_service_pb2 as moderation
from sotong.moderation.v1 import moderation_service_pb2_grpc as moderation_grpc
from sotong_common import auth
from sotong_common.errors import retry_after
from sotong_localstack.stack import StackState

CALL_TIMEOUT_S = 5.0
TEXTS = (
    "시청역 앞 가로등이 꺼져 있어요",
    "망원동 빗물받이가 막혀 물이 넘칩니다",
    "버스정류장 의자가 부서졌어요",
    "공원 산책로에 쓰레기가 많이 버려져 있습니다",
    "★대박★ 무료 상품권 지금 클릭 http://spam.example.com",  # moderation removes it
)
PLACES = (
    geo_pb2.GeoPoint(lat=37.5663, lng=126.9779),  # 중구
    geo_pb2.GeoPoint(lat=37.5563, lng=126.9050),  # 마포구
    geo_pb2.GeoPoint(lat=37.5172, lng=127.0473),  # 강남구
    geo_pb2.GeoPoint(lat=37.6688, lng=127.0471),  # 도봉구
)
CATEGORIES = ("streetlight", "road-damage", "garbage", "other")


@dataclass
class Ledger:
    """What the traffic was told: answers by call and code, what was accepted, what still waits for a retry."""

    answers: Counter[tuple[str, str]] = field(default_factory=Counter)
    hinted: Counter[str] = field(default_factory=Counter)  # UNAVAILABLE answers that carried a retry hint, by call
    reports: dict[str, str] = field(default_factory=dict)  # channel message id -> tracking id
    open311: set[str] = field(default_factory=set)  # service_request_ids answered 200
    open311_refused: int = 0  # answered 503: the client did not retry (Open311 has no message id)
    incidents: dict[str, str] = field(default_factory=dict)  # request id -> incident id
    pending_reports: dict[str, intake.SubmitReportRequest] = field(default_factory=dict)
    pending_incidents: set[str] = field(default_factory=set)
    alerts: list[str] = field(default_factory=list)  # identifiers of alerts issued (stage 2: fan-out to lists)
    slow: int = 0  # calls that took longer than their deadline allows (they must not)

    def count(self, call: str, code: str) -> None:
        self.answers[(call, code)] += 1

    def codes(self, call: str) -> Counter[str]:
        return Counter({code: n for (c, code), n in self.answers.items() if c == call})

    def summary(self) -> str:
        calls = sorted({c for c, _ in self.answers})
        parts = [f"{c}: " + ", ".join(f"{code} {n}" for code, n in sorted(self.codes(c).items())) for c in calls]
        return "; ".join(parts)


class Traffic:
    """Mixed load on one stack; `run` until `stop` is set, then `settle` resends what is still pending."""

    def __init__(
        self,
        state: StackState,
        tag: str,
        reports_per_s: float = 20.0,
        batch_every_s: float = 2.0,
        incident_every_s: float = 4.0,
        alert_every_s: float | None = None,
        seed: int = 16,
    ) -> None:
        self._state = state
        self._tag = tag
        self._rate = reports_per_s
        self._batch_every = batch_every_s
        self._incident_every = incident_every_s
        self._alert_every = alert_every_s
        self._rng = random.Random(seed)
        self.ledger = Ledger()
        self._n = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight = asyncio.Semaphore(64)
        self._citizen = _bearer(state, "citizen-load", ["citizen"])
        self._service = _bearer(state, "load-service", ["service"])
        self._operator = _bearer(state, "load-operator", ["operator"])
        self._moderator = _bearer(state, "load-moderator", ["moderator"])
        self._approver = _bearer(state, "load-approver", ["approver"])

    # -- the loops ------------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{self._state.grpc_ports['intake-api']}") as intake_ch,
            grpc.aio.insecure_channel(f"127.0.0.1:{self._state.grpc_ports['alerting-api']}") as alerting_ch,
            grpc.aio.insecure_channel(f"127.0.0.1:{self._state.grpc_ports['moderation-api']}") as moderation_ch,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_S + 1)) as http,
        ):
            self._intake = intake_grpc.IntakeServiceStub(intake_ch)
            self._alerting = alerting_grpc.AlertingServiceStub(alerting_ch)
            self._moderation = moderation_grpc.ModerationServiceStub(moderation_ch)
            self._http = http
            loops = [
                self._every(1.0 / self._rate, stop, self._report),
                self._every(self._batch_every, stop, self._batch),
                self._every(1.0, stop, self._open311),
                self._every(0.5, stop, self._read),
                self._every(self._incident_every, stop, self._incident),
            ]
            if self._alert_every is not None:
                loops.append(self._every(self._alert_every, stop, self._alert))
            await asyncio.gather(*loops)
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def settle(self, timeout: float = 120.0) -> None:
        """Send again what was answered UNAVAILABLE until everything is accepted (the client's retries)."""
        deadline = time.monotonic() + timeout
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{self._state.grpc_ports['intake-api']}") as intake_ch,
            grpc.aio.insecure_channel(f"127.0.0.1:{self._state.grpc_ports['alerting-api']}") as alerting_ch,
        ):
            self._intake = intake_grpc.IntakeServiceStub(intake_ch)
            self._alerting = alerting_grpc.AlertingServiceStub(alerting_ch)
            while self.ledger.pending_reports or self.ledger.pending_incidents:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"still pending after {timeout:.0f} s: {len(self.ledger.pending_reports)} reports, "
                        f"{len(self.ledger.pending_incidents)} incidents"
                    )
                for message_id, request in list(self.ledger.pending_reports.items()):
                    await self._submit(message_id, request)
                for request_id in list(self.ledger.pending_incidents):
                    await self._report_incident(request_id)
                await asyncio.sleep(0.5)

    async def _every(self, interval: float, stop: asyncio.Event, step: Callable[[], Awaitable[None]]) -> None:
        """Start `step` every `interval` without waiting for it: a slow answer must not slow the offered load."""
        next_at = time.monotonic()
        while not stop.is_set():
            task = asyncio.create_task(self._bounded(step))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            next_at += interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.0, next_at - time.monotonic()))

    async def _bounded(self, step: Callable[[], Awaitable[None]]) -> None:
        async with self._inflight:
            await step()

    # -- the calls ------------------------------------------------------------------------------------------------

    async def _call(self, name: str, call: Callable[[], Awaitable[Any]]) -> Any | None:
        """One call with the client's deadline; counts its code; the reply, or None when it failed."""
        started = time.monotonic()
        try:
            reply = await call()
        except grpc.aio.AioRpcError as error:
            code = error.code().name
            self.ledger.count(name, code)
            if error.code() == grpc.StatusCode.UNAVAILABLE and (retry_after(error) or 0) > 0:
                self.ledger.hinted[name] += 1
            if time.monotonic() - started > CALL_TIMEOUT_S + 1.0:
                self.ledger.slow += 1
            return None
        self.ledger.count(name, "OK")
        return reply

    def _next(self, prefix: str) -> str:
        self._n += 1
        return f"{self._tag}-{prefix}{self._n}"

    def _report_request(self, message_id: str) -> intake.SubmitReportRequest:
        return intake.SubmitReportRequest(
            kind=types.SUBMISSION_KIND_REPORT,
            text=f"{self._rng.choice(TEXTS)} ({message_id})",
            category=self._rng.choice(CATEGORIES),
            point=self._rng.choice(PLACES),
            channel="app",
            channel_message_id=message_id,
        )

    async def _report(self) -> None:
        message_id = self._next("r")
        await self._submit(message_id, self._report_request(message_id))

    async def _submit(self, message_id: str, request: intake.SubmitReportRequest) -> None:
        reply = await self._call(
            "SubmitReport",
            lambda: self._intake.SubmitReport(request, metadata=self._citizen, timeout=CALL_TIMEOUT_S),
        )
        if reply is None:
            self.ledger.pending_reports[message_id] = request
            return
        self.ledger.pending_reports.pop(message_id, None)
        known = self.ledger.reports.setdefault(message_id, reply.tracking_id)
        if known != reply.tracking_id:
            self.ledger.count("SubmitReport", "TRACKING_ID_CHANGED")

    async def _batch(self) -> None:
        ids = [self._next("b") for _ in range(10)]
        requests = [self._report_request(i) for i in ids]

        async def stream() -> Any:
            for request in requests:
                yield intake.SubmitBatchRequest(report=request)

        reply = await self._call(
            "SubmitBatch", lambda: self._intake.SubmitBatch(stream(), metadata=self._service, timeout=CALL_TIMEOUT_S)
        )
        if reply is None:  # the client sends them again one by one
            self.ledger.pending_reports.update(zip(ids, requests, strict=True))
            return
        for result in reply.results:
            self.ledger.reports[ids[result.index]] = result.tracking_id

    async def _open311(self) -> None:
        url = f"http://127.0.0.1:{self._state.http_ports['intake-http']}/open311/v2/requests.json"
        point = self._rng.choice(PLACES)
        form = {
            "api_key": self._state.open311_api_key,
            "service_code": "streetlight",
            "lat": str(point.lat),
            "long": str(point.lng),
            "description": f"Open311: {self._rng.choice(TEXTS[:4])}",
        }
        try:
            async with self._http.post(url, data=form) as reply:
                body = await reply.json(content_type=None)
                self.ledger.count("Open311 POST", str(reply.status))
                if reply.status == 200:
                    self.ledger.open311.add(body[0]["service_request_id"])
                elif reply.status == 503:
                    self.ledger.open311_refused += 1
                    if reply.headers.get("Retry-After"):
                        self.ledger.hinted["Open311 POST"] += 1
        except (aiohttp.ClientError, TimeoutError):
            self.ledger.count("Open311 POST", "no answer")

    async def _read(self) -> None:
        if self.ledger.reports:
            tracking_id = self._rng.choice(list(self.ledger.reports.values()))
            await self._call(
                "GetSubmission",
                lambda: self._intake.GetSubmission(
                    intake.GetSubmissionRequest(tracking_id=tracking_id),
                    metadata=self._operator,
                    timeout=CALL_TIMEOUT_S,
                ),
            )
        await self._call(
            "ListQueue",
            lambda: self._moderation.ListQueue(
                moderation.ListQueueRequest(page_size=10), metadata=self._moderator, timeout=CALL_TIMEOUT_S
            ),
        )

    async def _alert(self) -> None:
        """Draft, approve and issue an alert on the latest incident: each incident's first one is stage 1, its
        second stage 2 (SMS, push and KakaoTalk to the district's lists: the fan-out)."""
        if not self.ledger.incidents:
            return
        incident_id = list(self.ledger.incidents.values())[-1]
        draft = alerting.DraftAlertRequest(
            incident_id=incident_id,
            texts=ALERT_TEXTS,
            severity="Severe",
            urgency="Immediate",
            certainty="Observed",
            category="Met",
            web="https://safecity.seoul.go.kr/",
        )
        for _ in range(2):
            if not await self._issue(draft):
                return

    async def _issue(self, draft: alerting.DraftAlertRequest) -> bool:
        drafted = await self._call(
            "DraftAlert", lambda: self._alerting.DraftAlert(draft, metadata=self._operator, timeout=CALL_TIMEOUT_S)
        )
        if drafted is None:
            return False
        identifier = drafted.alert.identifier
        approve = alerting.ApproveAlertRequest(identifier=identifier)
        if (
            await self._call(
                "ApproveAlert",
                lambda: self._alerting.ApproveAlert(approve, metadata=self._approver, timeout=CALL_TIMEOUT_S),
            )
            is None
        ):
            return False
        issue = alerting.IssueAlertRequest(identifier=identifier)
        if (
            await self._call(
                "IssueAlert", lambda: self._alerting.IssueAlert(issue, metadata=self._operator, timeout=CALL_TIMEOUT_S)
            )
            is None
        ):
            return False
        self.ledger.alerts.append(identifier)
        return True

    async def _incident(self) -> None:
        await self._report_incident(self._next("i"))

    async def _report_incident(self, request_id: str) -> None:
        request = alerting.ReportIncidentRequest(hazard="호우", area_codes=["11320"], request_id=request_id)
        reply = await self._call(
            "ReportIncident",
            lambda: self._alerting.ReportIncident(request, metadata=self._operator, timeout=CALL_TIMEOUT_S),
        )
        if reply is None:
            self.ledger.pending_incidents.add(request_id)
            return
        self.ledger.pending_incidents.discard(request_id)
        self.ledger.incidents[request_id] = reply.incident.incident_id


def _bearer(state: StackState, subject: str, roles: list[str]) -> tuple[tuple[str, str], ...]:
    return (("authorization", "Bearer " + auth.issue(state.jwt_secret, subject, roles)),)


ALERT_TEXTS = [
    alerting.AlertText(
        language="ko",
        event="호우경보",
        headline="도봉구 호우경보 발령",
        description="도봉구에 시간당 50mm 이상의 강한 비가 내리고 있습니다.",
        instruction="하천변 산책로 이용을 자제하고 저지대 주민은 대피를 준비하세요.",
        short_text="[서울시] 도봉구 호우경보. 하천변 접근 금지, 저지대 주민 대피 준비 바랍니다.",
    ),
    alerting.AlertText(
        language="en",
        event="Heavy rain warning",
        headline="Heavy rain warning for Dobong-gu",
        description="Rain of over 50 mm per hour is falling in Dobong-gu.",
        instruction="Keep away from streams; residents of low-lying areas prepare to evacuate.",
        short_text="[Seoul] Heavy rain warning, Dobong-gu. Keep away from streams.",
    ),
]
