"""The `make up` demo: a few citizens' submissions sent through intake's gRPC API, watched as they flow.

It prints each event as it appears on the topics (intake.submission-received.v1, moderation.decision-made.v1,
intake.submission-status-changed.v1) and then each submission's status as intake reports it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
from kafka import KafkaConsumer

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_events_pb2, intake_service_pb2, intake_service_pb2_grpc, intake_types_pb2
from sotong.moderation.v1 import moderation_events_pb2
from sotong_common import auth, topics
from sotong_localstack.stack import StackState

K = intake_types_pb2
SAMPLES = [
    (
        K.SUBMISSION_KIND_REPORT,
        "광화문역 2번 출구 앞 보도블록이 깨져서 넘어질 뻔했어요.",
        "road-damage",
        (37.5712, 126.9768),
    ),
    (
        K.SUBMISSION_KIND_OPINION,
        "따릉이 대여소를 망원한강공원 쪽에 하나 더 만들어 주세요.",
        "ttareungyi",
        (37.5556, 126.8950),
    ),
    (
        K.SUBMISSION_KIND_COMPLAINT,
        "밤마다 공사 소음이 심합니다. 연락은 010-2345-6789로 주세요.",
        "noise",
        (37.5172, 127.0473),
    ),
    (
        K.SUBMISSION_KIND_OPINION,
        "최저가 대출 상담 오픈채팅 open.kakao.com/o/abc123 들어오세요",
        "",
        (37.4979, 127.0276),
    ),
]

STATUS = {v: k.removeprefix("SUBMISSION_STATUS_").lower() for k, v in K.SubmissionStatus.items()}
ACTION = {v: k.removeprefix("ACTION_").lower() for k, v in moderation_events_pb2.Action.items()}


def _describe(topic: str, value: bytes) -> str:
    if topic == topics.SUBMISSION_RECEIVED:
        s = intake_events_pb2.SubmissionReceived.FromString(value)
        return f"submission {s.tracking_id} district={s.district_code or '-'} text={s.text[:30]!r}…"
    if topic == topics.DECISION_MADE:
        d = moderation_events_pb2.DecisionMade.FromString(value)
        line = f"decision {ACTION[d.action]} for {d.content_id[:8]}… categories={list(d.categories)}"
        return line + (f" published as {d.masked_text[-24:]!r}" if "personal_data" in d.categories else "")
    c = intake_events_pb2.SubmissionStatusChanged.FromString(value)
    return f"status of {c.tracking_id} -> {STATUS[c.status]} ({c.note or 'no policy clause'})"


def _watch(bootstrap: str, stop: threading.Event) -> None:
    consumer = KafkaConsumer(
        topics.SUBMISSION_RECEIVED,
        topics.DECISION_MADE,
        topics.SUBMISSION_STATUS_CHANGED,
        bootstrap_servers=bootstrap,
        auto_offset_reset="latest",
        group_id=None,
        consumer_timeout_ms=500,
    )
    consumer.poll(timeout_ms=1000)  # join and position at the end before the demo sends anything
    ready.set()
    while not stop.is_set():
        for record in consumer:
            print(f"  [{record.topic}] {_describe(record.topic, record.value)}", flush=True)
    consumer.close()


ready = threading.Event()


def run(run_dir: Path, wait_s: float = 60.0) -> int:
    state = StackState.load(run_dir)
    token = auth.issue(state.jwt_secret, "demo-citizen", ["citizen"])
    metadata = (("authorization", f"Bearer {token}"),)
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(state.kafka_bootstrap, stop), daemon=True)
    watcher.start()
    ready.wait(15)
    print("demo: submitting 4 citizen reports through intake's gRPC API", flush=True)
    tracking: list[str] = []
    with grpc.insecure_channel(f"127.0.0.1:{state.grpc_ports['intake-api']}") as channel:
        stub = intake_service_pb2_grpc.IntakeServiceStub(channel)
        stamp = int(time.time())
        for i, (kind, text, category, (lat, lng)) in enumerate(SAMPLES):
            reply = stub.SubmitReport(
                intake_service_pb2.SubmitReportRequest(
                    kind=kind,
                    text=text,
                    category=category,
                    point=geo_pb2.GeoPoint(lat=lat, lng=lng),
                    channel="app",
                    channel_message_id=f"demo-{stamp}-{i}",
                ),
                metadata=metadata,
            )
            tracking.append(reply.tracking_id)
            print(f"  -> SubmitReport accepted, tracking id {reply.tracking_id}", flush=True)
        print("demo: bad input is refused with the field named:", flush=True)
        try:
            stub.SubmitReport(
                intake_service_pb2.SubmitReportRequest(kind=K.SUBMISSION_KIND_REPORT, text=""), metadata=metadata
            )
        except grpc.RpcError as exc:
            print(f"  -> {exc.code().name}: {exc.details()}", flush=True)
        deadline = time.monotonic() + wait_s
        final: dict[str, str] = {}
        while time.monotonic() < deadline and len(final) < len(tracking):
            for tid in tracking:
                got = stub.GetSubmission(intake_service_pb2.GetSubmissionRequest(tracking_id=tid), metadata=metadata)
                if got.submission.status != K.SUBMISSION_STATUS_RECEIVED:
                    final[tid] = STATUS[got.submission.status]
            time.sleep(0.3)
    time.sleep(1.0)
    stop.set()
    print("demo: statuses as intake's GetSubmission reports them", flush=True)
    for tid in tracking:
        print(f"  {tid}: {final.get(tid, 'received (no decision yet)')}", flush=True)
    return 0 if len(final) == len(tracking) else 1
