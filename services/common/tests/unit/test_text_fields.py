"""Control characters in any text field of any request message are named by field (issue 10, item 8).

The class is generated from the contracts: every string field (nested, repeated, oneof) of every request message
of every service, each with each control character, and the same fields with the characters a text may hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from sotong.alerting.v1 import alerting_service_pb2
from sotong.intake.v1 import intake_service_pb2
from sotong.moderation.v1 import moderation_service_pb2
from sotong_common import auth
from sotong_common.errors import field_violations
from sotong_common.server import Server
from sotong_common.text_fields import control_character, control_character_violations, refuse_control_characters

CONTROL = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0))]
ALLOWED = ["\t", "\n", "\r", "\r\n", "\u200b", "\u3000", "😀", "ㆍ", "\ufeff"]
SERVICES = [alerting_service_pb2, intake_service_pb2, moderation_service_pb2]


def request_types() -> list[Any]:
    found = []
    for module in SERVICES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                found.append(module.DESCRIPTOR.pool.FindMessageTypeByName(method.input_type.full_name))
    return sorted({d.full_name: d for d in found}.values(), key=lambda d: d.full_name)


def string_paths(descriptor: Descriptor, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, list[Any]]]:
    """(contract path, field chain) of every string field reachable from `descriptor`."""
    for field in descriptor.fields:
        name = prefix + field.name + ("[0]" if field.is_repeated else "")
        if field.type == FieldDescriptor.TYPE_STRING:
            yield name, [field]
        elif field.type == FieldDescriptor.TYPE_MESSAGE and depth < 4 and field.message_type is not None:
            if field.message_type.full_name.startswith("google.protobuf."):
                continue
            for path, chain in string_paths(field.message_type, name + ".", depth + 1):
                yield path, [field, *chain]


def build(message_class: type[Message], chain: list[Any], text: str) -> Message:
    message = message_class()
    target: Any = message
    for field in chain[:-1]:
        target = getattr(target, field.name).add() if field.is_repeated else getattr(target, field.name)
    last = chain[-1]
    if last.is_repeated:
        getattr(target, last.name).append(text)
    else:
        setattr(target, last.name, text)
    return message


def cases() -> list[tuple[str, str, list[Any]]]:
    found = []
    for descriptor in request_types():
        for path, chain in string_paths(descriptor):
            found.append((descriptor.full_name, path, chain))
    return found


CASES = cases()


def test_the_generated_class_covers_every_service() -> None:
    services = {name.split(".")[1] for name, _, _ in CASES}
    assert services == {"alerting", "intake", "moderation"}
    assert len(CASES) > 40


@pytest.mark.parametrize(("message", "path", "chain"), CASES, ids=[f"{m.split('.')[-1]}.{p}" for m, p, _ in CASES])
def test_every_control_character_in_every_field_is_named_by_its_path(message: str, path: str, chain: list[Any]) -> None:
    message_class = _class(message)
    for ch in CONTROL:
        request = build(message_class, chain, f"정상 text{ch}tail")
        found = control_character_violations(request)
        assert [v.field for v in found] == [path], (repr(ch), found)
        assert f"U+{ord(ch):04X}" in found[0].description
    for text in ALLOWED:
        assert control_character_violations(build(message_class, chain, f"정상{text}text")) == []


def _class(full_name: str) -> type[Message]:
    for module in SERVICES:
        for name, cls in vars(module).items():
            if isinstance(cls, type) and issubclass(cls, Message) and cls.DESCRIPTOR.full_name == full_name:
                del name
                return cls
    raise LookupError(full_name)


def test_a_description_names_the_character_and_where() -> None:
    assert control_character("ab\x00c") == "U+0000 (NUL) at position 2"
    assert control_character("\x1b[31m") == "U+001B (ESC) at position 0"
    assert control_character("줄\r\n바꿈\t탭") is None


async def test_a_declared_servicer_refuses_before_its_handler_runs() -> None:
    """Through a real server: a handler that would store the text never sees it; authentication comes first."""
    reached: list[str] = []

    @refuse_control_characters
    class Drafts:
        async def DraftAlert(self, request: alerting_service_pb2.DraftAlertRequest, context: Any) -> Any:
            reached.append(request.incident_id)
            return alerting_service_pb2.DraftAlertResponse()

        async def WatchIncident(self, request: Any, context: Any) -> Any:
            reached.append(request.incident_id)
            yield alerting_service_pb2.WatchIncidentResponse()

    servicer = Drafts()
    name = "sotong.alerting.v1.AlertingService"
    handler = grpc.method_handlers_generic_handler(
        name,
        {
            "DraftAlert": grpc.unary_unary_rpc_method_handler(
                servicer.DraftAlert,
                request_deserializer=alerting_service_pb2.DraftAlertRequest.FromString,
                response_serializer=alerting_service_pb2.DraftAlertResponse.SerializeToString,
            ),
            "WatchIncident": grpc.unary_stream_rpc_method_handler(
                servicer.WatchIncident,
                request_deserializer=alerting_service_pb2.WatchIncidentRequest.FromString,
                response_serializer=alerting_service_pb2.WatchIncidentResponse.SerializeToString,
            ),
        },
    )
    secret = "s" * 32
    rules = {f"/{name}/DraftAlert": {"operator"}, f"/{name}/WatchIncident": {"operator"}}
    server = Server("t", auth.Policy(rules), secret, port=0)
    server.add(name, lambda s: s.add_generic_rpc_handlers((handler,)))
    port = await server.start()
    metadata = (("authorization", "Bearer " + auth.issue(secret, "kim", ["operator"])),)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            draft = channel.unary_unary(
                f"/{name}/DraftAlert",
                request_serializer=alerting_service_pb2.DraftAlertRequest.SerializeToString,
                response_deserializer=alerting_service_pb2.DraftAlertResponse.FromString,
            )
            watch = channel.unary_stream(
                f"/{name}/WatchIncident",
                request_serializer=alerting_service_pb2.WatchIncidentRequest.SerializeToString,
                response_deserializer=alerting_service_pb2.WatchIncidentResponse.FromString,
            )
            bad = alerting_service_pb2.DraftAlertRequest(
                incident_id="INC-1", texts=[alerting_service_pb2.AlertText(language="ko", headline="화재\x00")]
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await draft(bad, metadata=metadata)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert [v.field for v in field_violations(refused.value)] == ["texts[0].headline"]
            with pytest.raises(grpc.aio.AioRpcError) as anonymous:
                await draft(bad)
            assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED  # who before what
            with pytest.raises(grpc.aio.AioRpcError) as streamed:
                async for _ in watch(
                    alerting_service_pb2.WatchIncidentRequest(incident_id="INC\x1b"), metadata=metadata
                ):
                    pass
            assert [v.field for v in field_violations(streamed.value)] == ["incident_id"]
            await draft(alerting_service_pb2.DraftAlertRequest(incident_id="INC-2"), metadata=metadata)
            async for _ in watch(alerting_service_pb2.WatchIncidentRequest(incident_id="INC-3"), metadata=metadata):
                pass
    finally:
        await server.stop()
    assert reached == ["INC-2", "INC-3"]
