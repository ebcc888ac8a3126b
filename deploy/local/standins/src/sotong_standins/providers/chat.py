"""Group chat, shaped like the KakaoWork bot API (``/v1/conversations.open``, ``/v1/messages.send``).

Stage 0 of the disaster flow opens the response group's room and posts into it, so the stand-in keeps real
rooms: ``messages.send`` to a conversation that was never opened fails as KakaoWork does. Opening a room is a
delivery too (the members get a new room), so a retried ``conversations.open`` with the same key returns the
same room instead of opening a second one. Errors follow KakaoWork: ``{"success": false, "error": {...}}``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from aiohttp import web

from ..desk import ProviderDesk
from ..ledger import Outcome
from .stand_in import StandIn

MAX_TEXT_CHARS = 4000
MAX_MEMBERS = 100
BOT_USER_ID = 1000001


@dataclass(slots=True)
class Conversation:
    id: str
    name: str
    user_ids: tuple[str, ...]
    messages: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "group" if len(self.user_ids) > 1 else "dm",
            "name": self.name,
            "users_count": len(self.user_ids) + 1,
            "messages_count": self.messages,
        }


class ChatStandIn(StandIn):
    name = "chat"
    realistic_rate_per_s: ClassVar[float | None] = 20.0

    def __init__(self, desk: ProviderDesk) -> None:
        super().__init__(desk)
        self.conversations: dict[str, Conversation] = {}

    @classmethod
    def render_error(cls, status: int, code: str, message: str) -> web.Response:
        return web.json_response({"success": False, "error": {"code": code, "message": message}}, status=status)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/chat/v1/conversations.open", self.open_conversation),
            web.post("/chat/v1/messages.send", self.send_message),
            web.get("/chat/v1/conversations.list", self.list_conversations),
        ]

    def extra_stats(self) -> Mapping[str, Any]:
        return {"conversations": len(self.conversations)}

    def reset(self) -> None:
        super().reset()
        self.conversations.clear()

    async def list_conversations(self, request: web.Request) -> web.Response:
        rejection = await self.desk.admit(request)
        if rejection is not None:
            return rejection
        return web.json_response({"success": True, "conversations": [c.as_json() for c in self.conversations.values()]})

    async def open_conversation(self, request: web.Request) -> web.Response:
        rejection = await self.desk.admit(request)
        if rejection is not None:
            return rejection
        body = await self.json_object(request)
        if isinstance(body, web.Response):
            return body
        if "user_id" in body:
            members: Any = [body["user_id"]]
        else:
            members = body.get("user_ids")
        if not isinstance(members, list) or not members:
            return self.invalid("user_id or user_ids is required", "missing_parameter")
        if not all(isinstance(m, str | int) and not isinstance(m, bool) for m in members):
            return self.invalid("user_ids must be user ids", "invalid_parameter")
        if len(members) > MAX_MEMBERS:
            return self.invalid(f"a conversation holds at most {MAX_MEMBERS} users", "invalid_parameter")
        user_ids = tuple(sorted(str(m) for m in members))
        name = body.get("conversation_name")
        if len(user_ids) > 1 and (not isinstance(name, str) or not name):
            return self.invalid("conversation_name is required for a group conversation", "missing_parameter")
        name = name if isinstance(name, str) else ""
        key = self.desk.idempotency_key(request)
        if key is None:
            return self.desk.missing_key()
        outcome, seq = self.desk.ledger.record(
            key, "conversation", f"conversation:{name}", ",".join(user_ids), {"user_ids": list(user_ids)}
        )
        if outcome is Outcome.CONFLICT:
            return self.desk.key_conflict(key)
        conversation_id = str(seq)
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            conversation = Conversation(conversation_id, name, user_ids)
            self.conversations[conversation_id] = conversation
        return self.finish(web.json_response({"success": True, "conversation": conversation.as_json()}))

    async def send_message(self, request: web.Request) -> web.Response:
        rejection = await self.desk.admit(request)
        if rejection is not None:
            return rejection
        body = await self.json_object(request)
        if isinstance(body, web.Response):
            return body
        conversation_id = body.get("conversation_id")
        if isinstance(conversation_id, int) and not isinstance(conversation_id, bool):
            conversation_id = str(conversation_id)
        if not isinstance(conversation_id, str) or not conversation_id:
            return self.invalid("conversation_id is required", "missing_parameter")
        text = body.get("text")
        if not isinstance(text, str) or not text:
            return self.invalid("text is required", "missing_parameter")
        if len(text) > MAX_TEXT_CHARS:
            return self.invalid(f"text is longer than {MAX_TEXT_CHARS} characters", "invalid_parameter")
        blocks = body.get("blocks")
        if blocks is not None and not isinstance(blocks, list):
            return self.invalid("blocks must be a list", "invalid_parameter")
        conversation = self.conversations.get(conversation_id)
        if conversation is None:
            return self.desk.reject(404, "conversation_not_found", f"conversation {conversation_id} not found")
        key = self.desk.idempotency_key(request)
        if key is None:
            return self.desk.missing_key()
        outcome, seq = self.desk.ledger.record(key, "message", f"conversation:{conversation_id}", text)
        if outcome is Outcome.CONFLICT:
            return self.desk.key_conflict(key)
        if outcome is Outcome.NEW:
            conversation.messages += 1
        return self.finish(
            web.json_response(
                {
                    "success": True,
                    "message": {
                        "id": str(seq),
                        "text": text,
                        "user_id": BOT_USER_ID,
                        "conversation_id": int(conversation_id) if conversation_id.isdigit() else conversation_id,
                        "send_time": int(time.time()),
                        "update_time": int(time.time()),
                        "blocks": blocks or [],
                    },
                }
            )
        )
