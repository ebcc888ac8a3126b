"""Intake against a hostile or careless caller, on the real stack (issue 10, item 8).

- control characters in any string field of any IntakeService request (generated from the descriptors) are
  INVALID_ARGUMENT naming the field; in a SubmitBatch they refuse that item only, the rest are stored; through
  the HTTP door they are a 400 and do not take the other submissions of a group commit with them;
- Open311 listing dates at the edges of the calendar are a 400 naming the parameter;
- a wrong Kakao skill token, whatever its characters, is a 401;
- reflection needs a token.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import aiohttp
import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_common.errors import field_violations
from sotong_localstack.ports import free_ports
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, sql, stored, token

pytestmark = pytest.mark.service

CONTROL = ["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x85", "\x9f", "\x0c"]
API_KEY = "open311-test-key"
SKILL_TOKEN = "kakao-skill-token-2026"


def string_paths(descriptor: Descriptor, prefix: str = "") -> Iterator[tuple[str, list[Any]]]:
    for field in descriptor.fields:
        name = prefix + field.name + ("[0]" if field.is_repeated else "")
        if field.type == FieldDescriptor.TYPE_STRING:
            yield name, [field]
        elif (
            field.type == FieldDescriptor.TYPE_MESSAGE
            and field.message_type is not None
            and not field.message_type.full_name.startswith("google.protobuf.")
        ):
            for path, chain in string_paths(field.message_type, name + "."):
                yield path, [field, *chain]


def build(message: Message, chain: list[Any], text: str) -> Message:
    target: Any = message
    for field in chain[:-1]:
        target = getattr(target, field.name).add() if field.is_repeated else getattr(target, field.name)
    last = chain[-1]
    if last.is_repeated:
        getattr(target, last.name).append(text)
    else:
        setattr(target, last.name, text)
    return message


def good_report(index: int = 0) -> pb.SubmitReportRequest:
    return pb.SubmitReportRequest(
        kind=types.SUBMISSION_KIND_COMPLAINT,
        text=f"시청 앞 가로등이 꺼졌어요 {index}",
        category="streetlight",
        district_code="11140",
        channel="app",
    )


@pytest.fixture()
def intake(fresh_stack: Stack) -> Stack:
    fresh_stack.start_services(("intake-api", "intake-worker"), say=False)
    return fresh_stack


async def test_control_characters_in_any_request_field_are_refused_naming_it(intake: Stack) -> None:
    service = pb.DESCRIPTOR.services_by_name["IntakeService"]
    metadata = token(intake, "operator", "citizen", "service")
    cases = [
        (method, path, chain)
        for method in service.methods
        if not method.client_streaming
        for path, chain in string_paths(method.input_type)
    ]
    assert len(cases) >= 15
    async with channel(intake, "intake-api") as ch:
        api = pb_grpc.IntakeServiceStub(ch)
        for index, (method, path, chain) in enumerate(cases):
            request = build(getattr(pb, method.input_type.name)(), chain, f"값{CONTROL[index % len(CONTROL)]}끝")
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                call = getattr(api, method.name)(request, metadata=metadata, timeout=30)
                if method.server_streaming:
                    async for _ in call:
                        pass
                else:
                    await call
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (method.name, path)
            assert [v.field for v in field_violations(refused.value)] == [path], (method.name, path)
    rows = await sql(intake, "SELECT count(*) AS n FROM submissions", schema="intake")
    assert rows[0]["n"] == 0


async def test_a_control_character_in_a_batch_refuses_that_item_only(intake: Stack) -> None:
    """SubmitBatch items are checked by intake's own validation (the stream is not the interceptor's)."""
    paths = list(string_paths(pb.SubmitReportRequest.DESCRIPTOR))
    items: list[pb.SubmitReportRequest] = []
    bad: dict[int, str] = {}
    for index, (path, chain) in enumerate(paths):
        items.append(good_report(2 * index))
        report = good_report(2 * index + 1)
        build(report, chain, f"x{CONTROL[index % len(CONTROL)]}y")
        bad[len(items)] = path
        items.append(report)

    async def stream() -> Any:
        for item in items:
            yield pb.SubmitBatchRequest(report=item)

    async with channel(intake, "intake-api") as ch:
        reply = await pb_grpc.IntakeServiceStub(ch).SubmitBatch(stream(), metadata=token(intake, "service"))
    assert reply.accepted == len(items) - len(bad) and reply.refused == len(bad)
    for result in reply.results:
        if result.index in bad:
            named = [v for v in result.violations if "control character" in v.description]
            assert [v.field for v in named] == [bad[result.index]], (bad[result.index], list(result.violations))
        else:
            assert result.tracking_id and not result.violations
    await stored(intake, *(r.tracking_id for r in reply.results if r.tracking_id))
    rows = await sql(intake, "SELECT count(*) AS n FROM submissions", schema="intake")
    assert rows[0]["n"] == len(items) - len(bad)


async def test_reflection_needs_a_token(intake: Stack) -> None:
    async with channel(intake, "intake-api") as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        # No request is written on the anonymous call: a write racing the server's refusal fails on the client.
        anonymous = stub.ServerReflectionInfo(timeout=30)
        with contextlib.suppress(grpc.aio.AioRpcError, grpc.aio.UsageError):
            await anonymous.done_writing()
        assert await anonymous.code() == grpc.StatusCode.UNAUTHENTICATED
        names = [
            s.name
            async for reply in stub.ServerReflectionInfo(iter([request]), metadata=token(intake, "citizen"))
            for s in reply.list_services_response.service
        ]
        assert "sotong.intake.v1.IntakeService" in names


# --- the HTTP door --------------------------------------------------------------------------------------------


@pytest.fixture()
def http(fresh_stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    assert fresh_stack.state is not None
    fresh_stack.state.http_ports = {"intake-http": free_ports(1)[0]}
    monkeypatch.setenv("SOTONG_INTAKE_OPEN311_API_KEYS", API_KEY)
    monkeypatch.setenv("SOTONG_INTAKE_KAKAO_SKILL_TOKEN", SKILL_TOKEN)
    fresh_stack.start_services(("intake-http", "intake-worker"), say=False)
    yield f"http://127.0.0.1:{fresh_stack.state.http_ports['intake-http']}"


def _form(index: int, **changes: str) -> dict[str, str]:
    form = {
        "api_key": API_KEY,
        "service_code": "streetlight",
        "lat": "37.5663",
        "long": "126.9779",
        "description": f"시청 앞 가로등 {index}번이 꺼졌어요",
        "address_string": "서울 중구 세종대로 110",
        "first_name": "민수",
        "email": "kim@example.com",
    }
    form.update(changes)
    return form


async def test_control_characters_through_open311_refuse_only_their_own_request(http: str, fresh_stack: Stack) -> None:
    fields = ["description", "address_string", "first_name", "last_name", "email", "phone", "media_url"]
    forms: list[tuple[str | None, dict[str, str]]] = []
    for index in range(40):
        if index % 2:
            field = fields[index // 2 % len(fields)]
            ch = CONTROL[index % len(CONTROL)]  # inside the value: the form door trims whitespace at the ends
            value = f"https://example.com/a{ch}.jpg" if field == "media_url" else f"김{ch}값"
            forms.append((field, _form(index, **{field: value})))
        else:
            forms.append((None, _form(index)))
    async with aiohttp.ClientSession() as session:

        async def post(form: dict[str, str]) -> tuple[int, Any]:
            async with session.post(f"{http}/open311/v2/requests.json", data=form) as reply:
                return reply.status, await reply.json(content_type=None)

        answers = await asyncio.gather(*(post(form) for _, form in forms))  # concurrent: one batch stored
    for (name, _), (status, body) in zip(forms, answers, strict=True):
        if name is None:
            assert status == 200, body
        else:
            assert status == 400, (name, body)
            assert any("control character" in error["description"] for error in body), body
    await stored(
        fresh_stack,
        *(body[0]["service_request_id"] for (name, _), (_, body) in zip(forms, answers, strict=True) if name is None),
    )
    rows = await sql(fresh_stack, "SELECT count(*) AS n FROM submissions", schema="intake")
    assert rows[0]["n"] == 20


def edge_dates() -> Iterator[tuple[str, str]]:
    for name in ("start_date", "end_date"):
        for value in (
            "0001-01-01T00:00:00Z",
            "0001-01-01T00:00:00+09:00",
            "0001-03-01T00:00:00Z",
            "9999-12-31T23:59:59-14:00",
            "9999-12-31T23:59:59Z",
            "1969-12-31T23:59:59Z",
            "2026-11-01",
            "2026-02-30T00:00:00Z",
        ):
            yield name, value


async def test_open311_listing_dates_at_the_edges_are_a_400_naming_the_parameter(http: str) -> None:
    async with aiohttp.ClientSession() as session:
        for name, value in edge_dates():
            async with session.get(f"{http}/open311/v2/requests.json", params={name: value}) as reply:
                body = await reply.json(content_type=None)
                assert reply.status == 400, (name, value, reply.status, body)
                assert name in body[0]["description"], body
        async with session.get(
            f"{http}/open311/v2/requests.json",
            params={"start_date": "1970-01-01T00:00:00Z", "end_date": "9998-12-31T00:00:00+09:00"},
        ) as reply:
            assert reply.status == 200
        async with session.get(f"{http}/open311/v2/requests.json", params={"end_date": "1970-02-01T00:00:00Z"}) as r:
            assert r.status == 200  # the default 90-day range before it starts in 1969: still a valid query


async def test_a_wrong_skill_token_is_a_401_whatever_it_holds(http: str) -> None:
    body = {"userRequest": {"utterance": "가로등", "user": {"id": "u"}}, "action": {"params": {}}}
    wrong = ["", "x", SKILL_TOKEN[:-1], SKILL_TOKEN + "0", SKILL_TOKEN.upper(), "é" * 10, "토큰"]
    async with aiohttp.ClientSession() as session:
        for given in [*wrong, None]:
            headers = {} if given is None else {"X-Sotong-Skill-Token": given}
            async with session.post(f"{http}/kakao/skill", json=body, headers=headers) as reply:
                assert reply.status == 401, (given, reply.status)
        raw = {"X-Sotong-Skill-Token": b"\xff\xfe-not-utf8".decode("latin-1")}
        async with session.post(f"{http}/kakao/skill", json=body, headers=raw) as reply:
            assert reply.status == 401
