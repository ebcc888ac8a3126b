"""Bad input fuzzed with hypothesis against the running intake processes (gRPC and HTTP).

Every case must get a clear answer (gRPC OK or INVALID_ARGUMENT naming fields; HTTP 2xx or 4xx with a body
naming the problem), never an internal error or a crash, and nothing may be stored twice: a repeated channel
message or webhook delivery never adds a row.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import grpc
import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong_common.errors import field_violations
from sotong_common.webhooks import sign
from sotong_localstack import testing
from sotong_localstack.ports import free_ports
from sotong_localstack.stack import Stack
from sotong_localstack.testing import sql, token

pytestmark = pytest.mark.service

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
SECRET = "whsec_" + base64.b64encode(b"f" * 32).decode()
API_KEY = "fuzz-key"

huge = st.builds(lambda c, n: c * n, st.sampled_from(["가", "a", " ", "\u200b", "\x00"]), st.integers(4_990, 5_010))
texts = st.one_of(st.just(""), st.text(max_size=40), huge)
floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(37.4, 37.7),
    st.sampled_from([0.0, -90.0, 90.0, 180.0, -181.0, 1e308]),
)
lngs = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(126.7, 127.2))
message_ids = st.one_of(
    st.just(""), st.text(max_size=20), st.text(alphabet="abcdef0123456789-", min_size=1, max_size=12)
)


@st.composite
def submit_requests(draw: st.DrawFn) -> pb.SubmitReportRequest:
    request = pb.SubmitReportRequest(
        kind=draw(st.integers(0, 6)),  # 5 and 6 are not in the enum
        text=draw(texts),
        category=draw(st.one_of(st.sampled_from(["", "streetlight", "flooding", "garbage"]), st.text(max_size=10))),
        media_urls=draw(
            st.lists(st.one_of(st.text(max_size=20), st.sampled_from(["https://a.kr/1.jpg", "data:x"])), max_size=12)
        ),
        channel=draw(st.one_of(st.sampled_from(["", "app", "kakao", "sns", "callcenter"]), st.text(max_size=10))),
        channel_message_id=draw(message_ids),
    )
    where = draw(st.sampled_from(["none", "point", "address", "district"]))
    if where == "point":
        request.point.CopyFrom(geo_pb2.GeoPoint(lat=draw(floats), lng=draw(lngs)))
    elif where == "address":
        request.address_text = draw(st.one_of(texts, st.just("서울 마포구 망원동")))
    elif where == "district":
        request.district_code = draw(st.one_of(st.text(max_size=8), st.just("11440")))
    if draw(st.booleans()):
        request.contact.CopyFrom(
            pb.ReporterContact(name=draw(st.text(max_size=60)), phone=draw(st.text(max_size=20)), email=draw(texts))
        )
    return request


@pytest.fixture()
def grpc_stub(fresh_stack: Stack) -> Iterator[pb_grpc.IntakeServiceStub]:
    assert fresh_stack.state is not None
    fresh_stack.start_services(("intake-api", "intake-worker"), say=False)
    with grpc.insecure_channel(f"127.0.0.1:{fresh_stack.state.grpc_ports['intake-api']}") as ch:
        yield pb_grpc.IntakeServiceStub(ch)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def count(stack: Stack, table: str = "submissions") -> int:
    rows = asyncio.run(sql(stack, f"SELECT count(*) AS n FROM {table}", schema="intake"))
    return int(rows[0]["n"])


def test_submit_report_fuzz(fresh_stack: Stack, grpc_stub: pb_grpc.IntakeServiceStub) -> None:
    meta = token(fresh_stack, "citizen")
    stored: set[str] = set()
    keyless = 0

    valid = pb.SubmitReportRequest(
        kind=2,
        text="가로등 고장",
        category="streetlight",
        district_code="11440",
        channel="kakao",
        channel_message_id="k1",
    )

    @FUZZ
    @given(submit_requests())
    @example(valid)
    @example(pb.SubmitReportRequest(kind=3, text="의견", channel="app"))
    def check(request: pb.SubmitReportRequest) -> None:
        nonlocal keyless
        try:
            first = grpc_stub.SubmitReport(request, metadata=meta, timeout=10)
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
            violations = field_violations(error)
            assert violations and all(v.field and v.description for v in violations)
            return
        again = grpc_stub.SubmitReport(request, metadata=meta, timeout=10)
        if request.channel_message_id:
            assert again.tracking_id == first.tracking_id and not again.created
            stored.add(first.tracking_id)
        else:
            stored.update({first.tracking_id, again.tracking_id})  # no idempotency key: two submissions
            keyless += 1
        assert not math.isnan(request.point.lat) if request.HasField("point") else True

    check()
    assert stored and keyless  # the valid examples were accepted
    asyncio.run(testing.stored(fresh_stack, *stored))  # stored by the intake worker after the answer
    assert count(fresh_stack) == len(stored)


def test_operator_rpcs_fuzz(fresh_stack: Stack, grpc_stub: pb_grpc.IntakeServiceStub) -> None:
    operator = token(fresh_stack, "operator")
    allowed = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND}

    @FUZZ
    @given(
        tracking=st.one_of(st.just(""), st.text(max_size=80)),
        status=st.integers(0, 12),
        note=st.one_of(st.text(max_size=30), st.just("x" * 2001)),
        page_token=st.one_of(st.just(""), st.text(max_size=40), st.binary(max_size=40).map(_b64)),
        page_size=st.integers(0, 500),
        district=st.text(max_size=8),
    )  # fmt: skip
    def check(tracking: str, status: int, note: str, page_token: str, page_size: int, district: str) -> None:
        calls = [
            lambda: grpc_stub.UpdateStatus(
                pb.UpdateStatusRequest(tracking_id=tracking, status=status, note=note), metadata=operator, timeout=10
            ),
            lambda: grpc_stub.ListSubmissions(
                pb.ListSubmissionsRequest(page_token=page_token, page_size=page_size, district_code=district),
                metadata=operator,
                timeout=10,
            ),
            lambda: grpc_stub.GetSubmission(pb.GetSubmissionRequest(tracking_id=tracking), metadata=operator),
        ]
        for call in calls:
            try:
                call()
            except grpc.RpcError as error:
                assert error.code() in allowed, (error.code(), error.details())

    check()


@pytest.fixture()
def http(fresh_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    assert fresh_stack.state is not None
    fresh_stack.state.http_ports = {"intake-http": free_ports(1)[0]}
    monkeypatch.setenv("SOTONG_INTAKE_OPEN311_API_KEYS", API_KEY)
    monkeypatch.setenv("SOTONG_INTAKE_WEBHOOK_SECRETS", f"partner-x={SECRET}")
    monkeypatch.setenv("SOTONG_INTAKE_KAKAO_SKILL_TOKEN", "t")
    fresh_stack.start_services(("intake-http", "intake-worker"), say=False)
    yield f"http://127.0.0.1:{fresh_stack.state.http_ports['intake-http']}"


form_values = st.one_of(st.text(max_size=30), huge, st.floats().map(str), st.sampled_from(["37.5663", "126.9779", ""]))


def test_open311_post_fuzz(fresh_stack: Stack, http: str) -> None:
    created: set[str] = set()

    @FUZZ
    @given(
        form=st.dictionaries(
            st.sampled_from(
                ["service_code", "lat", "long", "address_string", "description", "media_url", "email", "phone",
                 "first_name", "attribute[water_depth]", "jurisdiction_id", "device_id"]
            ),
            form_values,
            max_size=8,
        ),
        with_key=st.booleans(),
        fmt=st.sampled_from(["json", "xml"]),
    )  # fmt: skip
    def check(form: dict[str, str], with_key: bool, fmt: str) -> None:
        data = {**form, **({"api_key": API_KEY} if with_key else {})}
        reply = requests.post(f"{http}/open311/v2/requests.{fmt}", data=data, timeout=10)
        assert reply.status_code in (200, 400, 403), reply.text[:300]
        if reply.status_code == 200:
            assert with_key
            if fmt == "json":
                created.add(reply.json()[0]["service_request_id"])
            else:
                created.add(reply.text.split("<service_request_id>")[1].split("<")[0])
        elif fmt == "json":
            assert all(":" in e["description"] for e in reply.json())
        else:
            assert "<errors>" in reply.text

    check()
    asyncio.run(testing.stored(fresh_stack, *created))  # stored by the intake worker after the answer
    assert count(fresh_stack) == len(created)

    @FUZZ
    @given(
        query=st.dictionaries(
            st.sampled_from(["service_request_id", "service_code", "start_date", "end_date", "status", "lang"]),
            st.one_of(st.text(max_size=30), st.sampled_from(["open", "closed", "2026-11-01T00:00:00Z"])),
            max_size=5,
        ),
        request_id=st.text(min_size=1, max_size=80).filter(lambda t: "/" not in t and t not in (".", "..")),
        fmt=st.sampled_from(["json", "xml"]),
    )
    def check_reads(query: dict[str, str], request_id: str, fmt: str) -> None:
        listing = requests.get(f"{http}/open311/v2/requests.{fmt}", params=query, timeout=10)
        single = requests.get(f"{http}/open311/v2/requests/{quote(request_id, safe='')}.{fmt}", timeout=10)
        assert listing.status_code in (200, 400), listing.text[:300]
        assert single.status_code in (200, 400, 404), single.text[:300]
        for reply in (listing, single):
            if reply.status_code != 200:
                assert "description" in reply.text

    check_reads()


def test_webhook_fuzz_signatures_replays_and_bodies(fresh_stack: Stack, http: str) -> None:
    accepted: set[str] = set()
    delivered: set[str] = set()

    @FUZZ
    @given(
        body=st.one_of(
            st.binary(max_size=200),
            st.fixed_dictionaries(
                {"kind": st.sampled_from(["report", "opinion", "nonsense"]), "text": texts},
                optional={
                    "location": st.fixed_dictionaries({"lat": floats, "lng": lngs}),
                    "category": st.text(max_size=10),
                    "media": st.lists(st.text(max_size=20), max_size=3),
                },
            ).map(lambda d: json.dumps(d, allow_nan=True).encode()),
        ),
        signature=st.sampled_from(["good", "wrong-key", "garbage", "none", "stale", "future"]),
        msg_id=st.one_of(st.just(""), st.text(max_size=300), st.uuids().map(lambda u: f"msg_{u.hex}")),
    )
    @example(
        body=b'{"kind": "report", "text": "x", "location": {"district_code": "11440"}}', signature="good", msg_id="m1"
    )
    @example(body=b"[]", signature="good", msg_id="m2")
    def check(body: bytes, signature: str, msg_id: str) -> None:
        now = int(time.time())
        at = {"stale": now - 3600, "future": now + 3600}.get(signature, now)
        key = "whsec_" + base64.b64encode(b"w" * 32).decode() if signature == "wrong-key" else SECRET
        headers = {"webhook-id": msg_id.replace("\n", " "), "webhook-timestamp": str(at)}
        try:
            headers["webhook-signature"] = sign(key, headers["webhook-id"], at, body)
        except (ValueError, UnicodeEncodeError):
            headers["webhook-signature"] = "v1,AAAA"
        if signature == "garbage":
            headers["webhook-signature"] = "v1,!!!! v2,xyz"
        if signature == "none":
            del headers["webhook-signature"]
        try:
            first = requests.post(f"{http}/webhooks/partner/partner-x", data=body, headers=headers, timeout=10)
        except ValueError:
            return  # the client itself refuses header values it cannot encode; nothing was sent
        replay = requests.post(f"{http}/webhooks/partner/partner-x", data=body, headers=headers, timeout=10)
        if headers["webhook-id"] in delivered and first.status_code != 401:
            assert first.status_code == 409 and replay.status_code == 409  # an id drawn again by hypothesis
            return
        assert first.status_code in (202, 400, 401), first.text[:300]
        if not first.headers.get("content-type", "").startswith("application/json"):
            # aiohttp's HTTP parser refuses control characters in a header before any handler runs.
            assert first.status_code == 400 and not headers["webhook-id"].isprintable()
            return
        body_json = first.json()
        assert body_json.get("errors") or body_json.get("error") or body_json.get("tracking_id")
        if first.status_code == 401:
            header_safe = msg_id.isascii() and msg_id.isprintable() and msg_id == msg_id.strip()
            assert signature != "good" or not msg_id.strip() or not header_safe or len(msg_id) > 128
            assert replay.status_code == 401
        else:
            assert signature == "good"
            assert replay.status_code == 409 and replay.json()["error"] == "replayed"
            delivered.add(headers["webhook-id"])
            if first.status_code == 202:
                accepted.add(body_json["tracking_id"])

    check()
    assert accepted
    asyncio.run(testing.stored(fresh_stack, *accepted))  # stored by the intake worker after the answer
    assert count(fresh_stack) == len(accepted)


PARAMS = ["sys_location", "lat", "lng", "phone", "category", "kind"]


def test_kakao_skill_fuzz(fresh_stack: Stack, http: str) -> None:
    json_values = st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
        max_leaves=10,
    )

    @FUZZ
    @given(
        utterance=st.one_of(texts, st.integers()),
        user=st.one_of(st.fixed_dictionaries({"id": st.text(max_size=30)}), json_values),
        params=st.one_of(st.dictionaries(st.sampled_from(PARAMS), json_values, max_size=4), json_values),
        extra=json_values,
    )  # fmt: skip
    def check(utterance: Any, user: Any, params: Any, extra: Any) -> None:
        payload = {
            "userRequest": {"utterance": utterance, "user": user, "block": {"id": "b", "name": "불편 신고"}},
            "action": {"params": params},
            "contexts": extra,
        }
        reply = requests.post(
            f"{http}/kakao/skill",
            data=json.dumps(payload, ensure_ascii=False).encode(),
            headers={"X-Sotong-Skill-Token": "t"},
            timeout=10,
        )
        assert reply.status_code in (200, 400), reply.text[:300]
        answer = reply.json()
        assert answer.get("version") == "2.0" or answer.get("errors")

    check()
    rows = asyncio.run(sql(fresh_stack, "SELECT channel_message_id FROM submissions", schema="intake"))
    assert len({r["channel_message_id"] for r in rows}) == len(rows)
