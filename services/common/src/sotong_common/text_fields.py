"""Control characters in the text fields of requests: refused at the door, with the field named.

PostgreSQL `text` cannot hold NUL, so a NUL that passed validation failed the insert as INTERNAL (and, in
intake's group commit, took every other submission of the batch with it). Other C0 and C1 control characters
are stored but break logs, CSV exports, SMS gateways and terminals that show them. No text a person or a
partner system sends needs them: tab, line feed and carriage return are the exceptions (multi-line texts, web
forms' CRLF).

`control_character_violations` walks every string field of a protobuf message (nested messages, repeated fields
and maps included), so a field added to a contract tomorrow is covered without anyone remembering it. A service
declares its servicer with `@refuse_control_characters` to apply it to every RPC's request before the handler
runs (after authentication: who before what); services apply `control_character` to the text of other doors
(HTTP forms, webhooks, Kafka, streamed requests). It is a declaration, not a platform default, because a
service such as moderation's CheckText judges whatever text it is shown and stores none of it.
"""

from __future__ import annotations

import functools
import inspect
import re
import unicodedata
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from sotong_common.errors import FieldViolation, InvalidArgument

S = TypeVar("S", bound=type)

CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""C0 controls except tab, line feed and carriage return; DEL; the C1 controls."""


def control_character(text: str) -> str | None:
    """A description of the first control character in `text` ("U+0000 (NUL) at position 3"), or None."""
    found = CONTROL_CHARACTERS.search(text)
    if found is None:
        return None
    ch = found.group()
    name = unicodedata.name(ch, "") or _C0_NAMES.get(ord(ch), "control character")
    return f"U+{ord(ch):04X} ({name}) at position {found.start()}"


_C0_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "BACKSPACE", 0x0B: "VT", 0x0C: "FF", 0x1B: "ESC", 0x7F: "DEL"}


_TEXT, _TEXTS, _MESSAGE, _MESSAGES, _MAP, _OTHER = range(6)
_KINDS: dict[FieldDescriptor, int] = {}
"""Each field's kind, computed once: the check runs on every request, and descriptor attributes are not free."""


def _kind_of(field: FieldDescriptor) -> int:
    if field.type == FieldDescriptor.TYPE_STRING:
        return _TEXTS if field.is_repeated else _TEXT
    if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
        if field.message_type.GetOptions().map_entry:
            return _MAP
        return _MESSAGES if field.is_repeated else _MESSAGE
    return _OTHER


def control_character_violations(message: Message, prefix: str = "") -> list[FieldViolation]:
    """One violation per string field (by its path, e.g. `texts[1].headline`) holding a control character."""
    found: list[FieldViolation] = []
    search = CONTROL_CHARACTERS.search
    for field, value in message.ListFields():
        kind = _KINDS.get(field)
        if kind is None:
            kind = _KINDS[field] = _kind_of(field)
        if kind == _TEXT:
            if search(value) is not None:
                _check(found, prefix + field.name, value)
        elif kind == _TEXTS:
            for index, text in enumerate(value):
                if search(text) is not None:
                    _check(found, f"{prefix}{field.name}[{index}]", text)
        elif kind == _MESSAGE:
            found.extend(control_character_violations(value, f"{prefix}{field.name}."))
        elif kind == _MESSAGES:
            for index, item in enumerate(value):
                found.extend(control_character_violations(item, f"{prefix}{field.name}[{index}]."))
        elif kind == _MAP:
            _check_map(found, prefix + field.name, field, value)
    return found


def _check(found: list[FieldViolation], name: str, text: str) -> None:
    where = control_character(text)
    if where is not None:
        found.append(FieldViolation(name, f"{name} contains the control character {where}; refused"))


def _check_map(found: list[FieldViolation], name: str, field: FieldDescriptor, value: dict[object, object]) -> None:
    assert field.message_type is not None
    value_field = field.message_type.fields_by_name["value"]
    for key, item in value.items():
        if isinstance(key, str):
            _check(found, f"{name} key", key)
        if isinstance(item, str):
            _check(found, f"{name}[{key!s:.40}]", item)
        elif value_field.type == FieldDescriptor.TYPE_MESSAGE and isinstance(item, Message):
            found.extend(control_character_violations(item, f"{name}[{key!s:.40}]."))


def refuse_control_characters(servicer: S) -> S:
    """Class decorator for a gRPC servicer: each RPC refuses a request with control characters in a text field.

    Wraps the coroutine and async-generator methods the class defines; a request that is not a message (a
    client stream) is left to the handler, which checks each item with its own validation.
    """
    for name, method in list(vars(servicer).items()):
        if name.startswith("_"):
            continue
        if inspect.isasyncgenfunction(method):
            setattr(servicer, name, _checked_stream(method))
        elif inspect.iscoroutinefunction(method):
            setattr(servicer, name, _checked_unary(method))
    return servicer


def _refuse(request: Any) -> None:
    if isinstance(request, Message):
        violations = control_character_violations(request)
        if violations:
            raise InvalidArgument(violations)


def _checked_unary(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def handle(self: Any, request: Any, *args: Any) -> Any:
        _refuse(request)
        return await method(self, request, *args)

    return handle


def _checked_stream(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def handle(self: Any, request: Any, *args: Any) -> AsyncIterator[Any]:
        _refuse(request)
        async for item in method(self, request, *args):
            yield item

    return handle
