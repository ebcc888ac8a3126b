"""Outages under load (issue 16): PostgreSQL stopped for 30 s, and the single Kafka broker restarted after 20 s
down, each while every service runs and traffic flows on intake, moderation, alerting and the publishing engine.

Each test runs its own stack (its own PostgreSQL and broker, every process of `make up`), drives it with
`sotong_localstack.traffic`, takes the dependency away and brings it back, lets the clients retry what they were
told to retry, and then counts end to end: every report a citizen was told was accepted is stored exactly once and
decided by moderation exactly once; every incident is stored once and its stage-0 pages reach the stand-ins once
per duty officer; no process died. The counts are printed (`pytest -s`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common.webhooks import sign
from sotong_localstack.stack import Stack, StackState
from sotong_localstack.testing import eventually, sql
from sotong_localstack.traffic import Ledger, Traffic
from sotong_standins.control import StandinControl

pytestmark = pytest.mark.reliability

PG_DOWN_S = 30.0
KAFKA_DOWN_S = 20.0
PARTNER_SECRET = "whsec_" + base64.b64encode(b"p" * 32).decode()
DUTY_OFFICERS = 2  # pages per incident (the directory's on-call list for 도봉구)


@pytest.fixture()
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """Every process of `make up` on a PostgreSQL and a broker of this test's own (they are taken away)."""
    if os.environ.get("SOTONG_DATABASE_URL"):
        pytest.skip("stops the database: needs the embedded PostgreSQL, not SOTONG_DATABASE_URL")
    monkeypatch.setenv("SOTONG_INTAKE_WEBHOOK_SECRETS", f"water-utility={PARTNER_SECRET}")
    stack = Stack(tmp_path / "run", nodes=1)
    try:
        stack.start_infrastructure(say=False)
        stack.start_services(say=False, timeout=120)
        yield stack
    finally:
        stack.stop()


def _alive(stack: Stack) -> dict[str, int | None]:
    """Exit codes of the processes that ended (none may)."""
    return {name: proc.poll() for name, proc in stack.processes.items() if proc.poll() is not None}


async def _drive(stack: Stack, tag: str, before_s: float, outage: Any, after_s: float) -> Ledger:
    """Traffic for `before_s`, through `outage()` (an awaitable that takes something away and brings it back),
    for `after_s` more; then the clients' retries until everything they sent is accepted."""
    assert stack.state is not None
    traffic = Traffic(stack.state, tag)
    stop = asyncio.Event()
    running = asyncio.create_task(traffic.run(stop))
    await asyncio.sleep(before_s)
    await outage()
    await asyncio.sleep(after_s)
    stop.set()
    await running
    await traffic.settle(timeout=180)
    return traffic.ledger


async def _stored_once(stack: Stack, ledger: Ledger, extra: dict[str, str]) -> dict[str, int]:
    """Wait until every accepted report is stored and decided; check each exactly once; the counts."""
    wanted = {**ledger.reports, **extra}

    async def all_decided() -> list[Any] | None:
        rows = await sql(
            stack,
            "SELECT channel_message_id, tracking_id, status FROM submissions"
            " WHERE channel_message_id = ANY($1::text[])",
            list(wanted),
            schema="intake",
        )
        done = [r for r in rows if r["status"] != "received"]
        return rows if len(done) >= len(wanted) else None

    rows = await eventually(all_decided, timeout=240, every=1.0)
    await asyncio.sleep(3.0)  # a late duplicate (a row, a decision) would show by now
    per_message: dict[str, list[str]] = {}
    for row in await sql(
        stack,
        "SELECT channel_message_id, tracking_id FROM submissions WHERE channel_message_id = ANY($1::text[])",
        list(wanted),
        schema="intake",
    ):
        per_message.setdefault(row["channel_message_id"], []).append(row["tracking_id"])
    assert {m: len(t) for m, t in per_message.items() if len(t) != 1} == {}
    assert {m: t[0] for m, t in per_message.items()} == wanted  # the tracking id the citizen was given
    ids = [str(r["submission_id"]) for r in await _submission_ids(stack, list(wanted))]
    decisions = await sql(
        stack,
        "SELECT content_id, count(*) AS n FROM decisions WHERE content_id = ANY($1::text[]) GROUP BY content_id",
        ids,
        schema="moderation",
    )
    assert len(decisions) == len(ids) and {r["n"] for r in decisions} == {1}
    open311 = await sql(
        stack,
        "SELECT count(*) AS n FROM submissions WHERE tracking_id = ANY($1::text[])",
        sorted(ledger.open311),
        schema="intake",
    )
    assert open311[0]["n"] == len(ledger.open311)
    return {"reports": len(rows), "decisions": len(decisions), "open311": len(ledger.open311)}


async def _submission_ids(stack: Stack, message_ids: list[str]) -> list[Any]:
    return await sql(
        stack,
        "SELECT id AS submission_id FROM submissions WHERE channel_message_id = ANY($1::text[])",
        message_ids,
        schema="intake",
    )


async def _paged_once(stack: Stack, ledger: Ledger) -> dict[str, int]:
    """Every incident stored once, and its pages at the pager stand-in once per duty officer."""
    incidents = sorted(set(ledger.incidents.values()))
    assert len(incidents) == len(ledger.incidents)  # one incident per request id
    stored = await sql(
        stack, "SELECT count(*) AS n FROM incidents WHERE incident_id = ANY($1::text[])", incidents, schema="alerting"
    )
    assert stored[0]["n"] == len(incidents)
    assert stack.state is not None
    async with StandinControl(f"http://127.0.0.1:{stack.state.standins_ports['standins']['http']}") as standins:

        async def all_paged() -> dict[str, Any] | None:
            stats = await standins.stats()
            return stats if stats["pager"]["accepted"] >= DUTY_OFFICERS * len(incidents) else None

        await eventually(all_paged, timeout=240, every=1.0)
        await asyncio.sleep(3.0)
        stats = await standins.stats()
    pager = stats["pager"]
    assert pager["accepted"] == DUTY_OFFICERS * len(incidents)
    assert pager["repeated_targets"] == 0 and pager["key_conflicts"] == 0
    return {"incidents": len(incidents), "pages": pager["accepted"], "pages re-sent and absorbed": pager["duplicates"]}


def _print(title: str, ledger: Ledger, counts: dict[str, int]) -> None:
    print(f"\n{title}\n  answers: {ledger.summary()}\n  retry hints: {dict(ledger.hinted)}")
    print("  end to end: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def _no_server_errors(ledger: Ledger) -> None:
    """UNAVAILABLE (with a hint) is the only failure a client may see: never INTERNAL/UNKNOWN, never a deadline."""
    bad = {k: n for k, n in ledger.answers.items() if k[1] not in ("OK", "UNAVAILABLE", "NOT_FOUND", "200", "503")}
    assert bad == {}
    unavailable = {call: n for (call, code), n in ledger.answers.items() if code in ("UNAVAILABLE", "503")}
    assert {call: ledger.hinted[call] for call in unavailable} == unavailable  # every one says when to retry
    assert ledger.slow == 0


# -- 1 and 2: PostgreSQL stopped for 30 s ------------------------------------------------------------------------


async def test_postgres_stopped_30s_under_load_loses_nothing_and_citizens_keep_reporting(platform: Stack) -> None:
    stack = platform
    assert stack.postgres is not None and stack.state is not None
    during: dict[str, str] = {}
    doors: dict[str, str] = {}
    near: dict[str, str] = {}

    async def outage() -> None:
        assert stack.postgres is not None
        stack.postgres.stop()
        started = time.monotonic()
        await asyncio.sleep(2.0)
        grpc_doors, http_doors = await _report_through_every_door(stack)
        during.update(grpc_doors)
        doors.update(http_doors)
        near.update(await _near_duplicates(stack))
        await asyncio.sleep(max(0.0, PG_DOWN_S - (time.monotonic() - started)))
        stack.postgres.start(databases=())

    ledger = await _drive(stack, "pg", before_s=8.0, outage=outage, after_s=10.0)
    assert _alive(stack) == {}
    _no_server_errors(ledger)
    # While the database was away: reports accepted at every door, reads and moderators told to come back.
    assert ledger.codes("SubmitReport")["UNAVAILABLE"] == 0 and ledger.codes("SubmitBatch")["UNAVAILABLE"] == 0
    assert ledger.codes("Open311 POST")["503"] == 0
    assert ledger.codes("GetSubmission")["UNAVAILABLE"] > 0 and ledger.codes("ListQueue")["UNAVAILABLE"] > 0
    assert ledger.codes("ReportIncident")["UNAVAILABLE"] > 0  # an incident is a database write: retried after
    counts = await _stored_once(stack, ledger, {**during, **near})
    counts.update(await _paged_once(stack, ledger))
    by_door = await sql(
        stack,
        "SELECT channel, count(*) AS n FROM submissions WHERE tracking_id = ANY($1::text[]) GROUP BY channel",
        sorted(doors.values()),
        schema="intake",
    )
    assert {r["channel"]: r["n"] for r in by_door} == {"open311": 1, "kakao": 1, "webhook": 1}
    counts["filed at every door during the outage"] = len(during) + len(doors) + len(near)
    # The near-duplicates filed during the outage were linked when stored.
    rows = await sql(
        stack,
        "SELECT s.channel_message_id, f.tracking_id AS first FROM submissions s"
        " LEFT JOIN submissions f ON f.id = s.duplicate_candidate_of WHERE s.channel_message_id = ANY($1::text[])",
        sorted(near),
        schema="intake",
    )
    links = {r["channel_message_id"]: r["first"] for r in rows}
    assert links == {"near-1": None, "near-2": near["near-1"]}
    _print(f"PostgreSQL stopped {PG_DOWN_S:.0f} s under load", ledger, counts)


async def _report_through_every_door(stack: Stack) -> tuple[dict[str, str], dict[str, str]]:
    """While the database is away: SubmitReport, SubmitBatch, Open311, the Kakao skill and a signed webhook all
    accept; a replayed webhook is still refused. Returns (channel message id -> tracking id) of the gRPC ones and
    (door -> tracking id) of the HTTP ones."""
    assert stack.state is not None
    state = stack.state
    accepted: dict[str, str] = {}
    citizen = (("authorization", "Bearer " + _token(state, "citizen")),)
    service = (("authorization", "Bearer " + _token(state, "service")),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{state.grpc_ports['intake-api']}") as ch:
        stub = pb_grpc.IntakeServiceStub(ch)
        reply = await stub.SubmitReport(_report("door-grpc"), metadata=citizen, timeout=5)
        accepted["door-grpc"] = reply.tracking_id

        async def stream() -> Any:
            for i in range(5):
                yield pb.SubmitBatchRequest(report=_report(f"door-batch-{i}"))

        batch = await stub.SubmitBatch(stream(), metadata=service, timeout=5)
        assert batch.accepted == 5
        accepted.update({f"door-batch-{r.index}": r.tracking_id for r in batch.results})
    base = f"http://127.0.0.1:{state.http_ports['intake-http']}"
    async with aiohttp.ClientSession() as http:
        form = {"api_key": state.open311_api_key, "service_code": "streetlight", "lat": "37.5663", "long": "126.9779",
                "description": "정전 중에도 접수되나요: 가로등"}  # fmt: skip
        async with http.post(f"{base}/open311/v2/requests.json", data=form) as answer:
            assert answer.status == 200, await answer.text()
            open311_id = (await answer.json())[0]["service_request_id"]
        user = {"id": "botuser-outage", "type": "botUserKey"}
        skill = {
            "userRequest": {"utterance": "망원동 가로등이 꺼져 있어요", "user": user, "block": {"id": "b"}},
            "bot": {"id": "bot"}, "action": {"params": {"sys_location": "마포구 망원동"}}, "contexts": [],
        }  # fmt: skip
        async with http.post(
            f"{base}/kakao/skill", json=skill, headers={"X-Sotong-Skill-Token": state.kakao_skill_token}
        ) as answer:
            text = (await answer.json())["template"]["outputs"][0]["simpleText"]["text"]
            assert "접수번호: " in text, text
            kakao_id = text.split("접수번호: ")[1].split("\n")[0]
        body = json.dumps({"kind": "report", "text": "정전 중 누수 신고", "category": "other",
                           "location": {"lat": 37.5663, "lng": 126.9016}}, ensure_ascii=False).encode()  # fmt: skip
        msg_id = "msg_" + uuid.uuid4().hex
        at = int(time.time())
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(at), "content-type": "application/json",
                   "webhook-signature": sign(PARTNER_SECRET, msg_id, at, body)}  # fmt: skip
        async with http.post(f"{base}/webhooks/partner/water-utility", data=body, headers=headers) as answer:
            assert answer.status == 202, await answer.text()
            webhook_id = (await answer.json())["tracking_id"]
        async with http.post(f"{base}/webhooks/partner/water-utility", data=body, headers=headers) as answer:
            assert answer.status == 409  # the replay, refused without the database
    return accepted, {"open311": open311_id, "kakao": kakao_id, "webhook": webhook_id}


async def _near_duplicates(stack: Stack) -> dict[str, str]:
    """Two reports of the same broken streetlight, 30 m apart, filed while the database is away."""
    assert stack.state is not None
    citizen = (("authorization", "Bearer " + _token(stack.state, "citizen")),)
    found: dict[str, str] = {}
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.state.grpc_ports['intake-api']}") as ch:
        stub = pb_grpc.IntakeServiceStub(ch)
        for name, text, point in (
            ("near-1", "을지로입구역 3번 출구 가로등이 꺼져 있어요", geo_pb2.GeoPoint(lat=37.5660, lng=126.9822)),
            ("near-2", "을지로입구역 3번출구 가로등 꺼져있어요", geo_pb2.GeoPoint(lat=37.5662, lng=126.9824)),
        ):
            request = pb.SubmitReportRequest(
                kind=types.SUBMISSION_KIND_REPORT, text=text, category="streetlight", point=point, channel="app",
                channel_message_id=name,
            )  # fmt: skip
            found[name] = (await stub.SubmitReport(request, metadata=citizen, timeout=5)).tracking_id
    return found


def _report(message_id: str) -> pb.SubmitReportRequest:
    return pb.SubmitReportRequest(
        kind=types.SUBMISSION_KIND_REPORT,
        text=f"정전 중 접수 시험: 보도블록 파손 ({message_id})",
        category="road-damage",
        point=geo_pb2.GeoPoint(lat=37.5563, lng=126.9050),
        channel="app",
        channel_message_id=message_id,
    )


def _token(state: StackState, role: str) -> str:
    from sotong_common import auth

    return auth.issue(state.jwt_secret, f"outage-{role}", [role])


# -- 3: the single Kafka broker restarted ------------------------------------------------------------------------


async def test_kafka_broker_restarted_under_load_loses_nothing_and_doubles_nothing(platform: Stack) -> None:
    stack = platform
    assert stack.kafka is not None and stack.state is not None

    async def outage() -> None:
        assert stack.kafka is not None
        node = stack.kafka.nodes[0]
        stack.kafka.kill_node(node, signal.SIGTERM)
        await asyncio.sleep(KAFKA_DOWN_S)
        await asyncio.to_thread(stack.kafka.start_node, node)
        await asyncio.to_thread(stack.kafka.wait_ready, 120.0)

    ledger = await _drive(stack, "kafka", before_s=8.0, outage=outage, after_s=15.0)
    assert _alive(stack) == {}
    _no_server_errors(ledger)
    # Accepting a report needs the broker (it is what makes the report durable): UNAVAILABLE, and the retry of the
    # same message is the same report. Reads and incidents need only the database: they never failed.
    assert ledger.codes("SubmitReport")["UNAVAILABLE"] > 0
    assert ledger.codes("GetSubmission")["UNAVAILABLE"] == 0 and ledger.codes("ListQueue")["UNAVAILABLE"] == 0
    assert ledger.codes("ReportIncident")["UNAVAILABLE"] == 0
    counts = await _stored_once(stack, ledger, {})
    counts.update(await _paged_once(stack, ledger))
    # Open311 has no message id: a 503 the client did not retry may still have been made durable (its answer was
    # lost, not its report). Nothing answered 200 is missing, and at most the refused ones were stored besides.
    stored = await sql(stack, "SELECT count(*) AS n FROM submissions WHERE channel = 'open311'", schema="intake")
    assert len(ledger.open311) <= stored[0]["n"] <= len(ledger.open311) + ledger.open311_refused
    counts["open311 stored"] = stored[0]["n"]
    _print(f"Kafka broker down {KAFKA_DOWN_S:.0f} s under load", ledger, counts)
