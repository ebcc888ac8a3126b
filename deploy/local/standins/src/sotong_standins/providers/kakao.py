"""KakaoTalk channel messages, shaped like Naver Cloud SENS's Biz Message API.

Alimtalk (``/kakao/alimtalk/v2/services/{serviceId}/messages``) only sends pre-approved templates: the request
names a ``templateCode`` (registered with ``--kakao-templates FILE`` or ``POST /_control/kakao/templates``) and, per
recipient, either the fully rendered ``content`` (which must match the
template, as Kakao checks) or ``variables`` that the stand-in fills into the template's ``#{name}`` slots.
Friendtalk (``/kakao/friendtalk/...``) sends free text to the channel's friends. Both answer 202 with one
result per recipient; recipient-level problems (bad number, missing variable, text over 1,000 characters,
more than 5 buttons or a button name over 14 characters)
fail that recipient only, as SENS reports them, and request-level problems fail the whole request with 400.
Each recipient is one delivery keyed ``<Idempotency-Key>:<to>``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from ..desk import ProviderDesk
from ..ledger import Outcome
from .sens import MAX_MESSAGES_PER_REQUEST, accepted_body, render_sens_error, request_id, valid_phone
from .stand_in import StandIn

MAX_CONTENT_CHARS = 1000
MAX_BUTTONS = 5
MAX_BUTTON_NAME_CHARS = 14
_SLOT = re.compile(r"#\{([^}]+)\}")

DEFAULT_CHANNELS = ("@seoul", "@서울특별시")

# Stand-in result codes, in SENS's requestStatusCode style: A000 is success, the rest name what failed.
SUCCESS = ("A000", "success", "성공")
BAD_NUMBER = ("E101", "fail", "수신번호 형식 오류")
MISSING_VARIABLE = ("E102", "fail", "템플릿 변수 누락")
TEMPLATE_MISMATCH = ("E103", "fail", "템플릿 내용 불일치")
TOO_LONG = ("E104", "fail", "메시지 길이 초과")
MISSING_CONTENT = ("E105", "fail", "메시지 내용 누락")
BAD_BUTTONS = ("E106", "fail", "버튼 오류")
KEY_REUSED = ("E422", "fail", "멱등 키 재사용")


class Template:
    """An approved alimtalk template: its text and a pattern that checks a rendered message against it."""

    def __init__(self, code: str, text: str) -> None:
        self.code = code
        self.text = text
        self.slots = tuple(_SLOT.findall(text))
        parts = _SLOT.split(text)
        # split alternates literal text and slot names; literals are escaped, each slot matches anything
        pattern = "".join(re.escape(part) if i % 2 == 0 else "(.*?)" for i, part in enumerate(parts))
        self._pattern = re.compile(pattern, re.DOTALL)

    def render(self, variables: Mapping[str, Any]) -> str | None:
        if any(not isinstance(variables.get(slot), str) for slot in self.slots):
            return None
        return _SLOT.sub(lambda match: str(variables[match.group(1)]), self.text)

    def matches(self, content: str) -> bool:
        return self._pattern.fullmatch(content) is not None


class KakaoStandIn(StandIn):
    name = "kakao"
    realistic_rate_per_s: ClassVar[float | None] = 100.0

    def __init__(self, desk: ProviderDesk) -> None:
        super().__init__(desk)
        # The operator's registered templates: none until given (`--kakao-templates FILE`, or the control API), as
        # a fresh Kakao business account has none; the local stack passes the city's (sotong_common).
        self.templates: dict[str, Template] = {}
        self.channels: set[str] = set(DEFAULT_CHANNELS)
        self.by_kind: Counter[str] = Counter()

    @classmethod
    def render_error(cls, status: int, code: str, message: str) -> web.Response:
        return render_sens_error(status, code, message)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/kakao/alimtalk/v2/services/{service_id}/messages", self.alimtalk),
            web.post("/kakao/friendtalk/v2/services/{service_id}/messages", self.friendtalk),
            web.get("/kakao/alimtalk/v2/services/{service_id}/templates", self.list_templates),
        ]

    def control_routes(self) -> list[web.RouteDef]:
        return [web.post("/_control/kakao/templates", self.register_templates)]

    def extra_stats(self) -> Mapping[str, Any]:
        return {"by_kind": dict(self.by_kind), "templates": sorted(self.templates)}

    def reset(self) -> None:
        super().reset()
        self.by_kind.clear()

    async def list_templates(self, request: web.Request) -> web.Response:
        rejection = await self.desk.admit(request)
        if rejection is not None:
            return rejection
        return web.json_response(
            [{"templateCode": t.code, "content": t.text, "variables": list(t.slots)} for t in self.templates.values()]
        )

    def register(self, templates: Mapping[str, str]) -> None:
        for code, text in templates.items():
            self.templates[code] = Template(code, text)

    async def register_templates(self, request: web.Request) -> web.Response:
        """Approve templates at run time, as the Kakao review would, e.g. for a new kind of alert."""
        body = await request.json()
        templates = body.get("templates") if isinstance(body, dict) else None
        if not isinstance(templates, dict) or not all(
            isinstance(code, str) and isinstance(text, str) for code, text in templates.items()
        ):
            return web.json_response({"error": "templates must map template codes to template text"}, status=400)
        self.register(templates)
        return web.json_response({"templates": sorted(self.templates)})

    async def alimtalk(self, request: web.Request) -> web.Response:
        return await self._send(request, "alimtalk")

    async def friendtalk(self, request: web.Request) -> web.Response:
        return await self._send(request, "friendtalk")

    async def _send(self, request: web.Request, kind: str) -> web.Response:
        rejection = await self.desk.admit(request)
        if rejection is not None:
            return rejection
        body = await self.json_object(request)
        if isinstance(body, web.Response):
            return body
        channel = body.get("plusFriendId")
        if not isinstance(channel, str) or not channel:
            return self.invalid("plusFriendId is required")
        if channel not in self.channels:
            return self.invalid(f"plusFriendId {channel!r} is not a registered channel", "unknown_channel")
        template: Template | None = None
        if kind == "alimtalk":
            code = body.get("templateCode")
            if not isinstance(code, str) or not code:
                return self.invalid("templateCode is required")
            template = self.templates.get(code)
            if template is None:
                return self.invalid(f"templateCode {code!r} is not an approved template", "unknown_template")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self.invalid("messages must be a non-empty list")
        if len(messages) > MAX_MESSAGES_PER_REQUEST:
            return self.invalid(f"messages holds at most {MAX_MESSAGES_PER_REQUEST} entries")
        if not all(isinstance(entry, dict) for entry in messages):
            return self.invalid("each entry of messages must be an object")
        base_key = self.desk.idempotency_key(request)
        if base_key is None:
            return self.desk.missing_key()
        results: list[dict[str, Any]] = []
        for entry in messages:
            to = entry.get("to")
            content, status = self._content(entry, template)
            if not valid_phone(to):
                status = BAD_NUMBER
            if status is SUCCESS:
                assert content is not None and isinstance(to, str)
                outcome, _ = self.desk.ledger.record(
                    f"{base_key}:{to}",
                    kind,
                    to,
                    content,
                    {"channel": channel, "template": body.get("templateCode")},
                )
                if outcome is Outcome.CONFLICT:
                    status = KEY_REUSED
                elif outcome is Outcome.NEW:
                    self.by_kind[kind] += 1
            if status is not SUCCESS:
                self.desk.item_failures[status[0]] += 1
            results.append(
                {
                    "messageId": request_id(),
                    "countryCode": entry.get("countryCode", "82"),
                    "to": to,
                    "content": content,
                    "requestStatusCode": status[0],
                    "requestStatusName": status[1],
                    "requestStatusDesc": status[2],
                }
            )
        return self.finish(web.json_response(accepted_body(request_id()) | {"messages": results}, status=202))

    @staticmethod
    def _content(entry: Mapping[str, Any], template: Template | None) -> tuple[str | None, tuple[str, str, str]]:
        content = entry.get("content")
        if template is not None:
            if isinstance(content, str):
                if not template.matches(content):
                    return content, TEMPLATE_MISMATCH
            else:
                variables = entry.get("variables")
                content = template.render(variables) if isinstance(variables, dict) else None
                if content is None:
                    return None, MISSING_VARIABLE
        elif not isinstance(content, str) or not content:
            return None, MISSING_CONTENT
        if len(content) > MAX_CONTENT_CHARS:
            return content, TOO_LONG
        buttons = entry.get("buttons")
        if buttons is not None and (
            not isinstance(buttons, list)
            or len(buttons) > MAX_BUTTONS
            or not all(
                isinstance(b, dict) and isinstance(b.get("name"), str) and 0 < len(b["name"]) <= MAX_BUTTON_NAME_CHARS
                for b in buttons
            )
        ):
            return content, BAD_BUTTONS
        return content, SUCCESS
