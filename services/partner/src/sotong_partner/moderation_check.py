"""Campaign texts checked by the moderation service's pipeline, over gRPC (`ModerationService/CheckText`).

Why a call and not a content topic moderation consumes: a campaign is staff's text waiting to go out, not a
citizen's post to publish or take down later. The call answers at once (staff see the clauses that refused a
text while they write it), moderation stores nothing for a text that may never be sent, and moderation's code
does not change for a new kind of content. What a content topic would add (moderation's own review queue) the
campaign keeps itself: REVIEW holds it for a moderator's `ReviewCampaign`. When moderation cannot be reached the
campaign waits in `checking` and the worker asks again, so an outage delays a campaign and never skips the check.

The caller is authenticated like any other: a short-lived `service` token signed with the platform's JWT key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc

from sotong.moderation.v1 import moderation_events_pb2 as mev
from sotong.moderation.v1 import moderation_service_pb2 as mpb
from sotong.moderation.v1 import moderation_service_pb2_grpc as mgrpc
from sotong_common import auth
from sotong_common.server import channel

SUBJECT = "partner-service"
TOKEN_TTL_S = 600
CALL_TIMEOUT_S = 5.0
ACTIONS = {mev.ACTION_PUBLISH: "publish", mev.ACTION_REVIEW: "review", mev.ACTION_REMOVE: "remove"}


class ModerationUnavailable(Exception):
    """Moderation did not answer; the campaign stays in `checking` and is asked about again."""


@dataclass(frozen=True)
class Answer:
    action: str
    categories: tuple[str, ...]
    masked_text: str


class ModerationCheck:
    def __init__(self, address: str, jwt_secret: str) -> None:
        self._address = address
        self._secret = jwt_secret
        self._channel: grpc.aio.Channel | None = None
        self._token = ""
        self._token_until = 0.0

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        now = time.time()
        if now > self._token_until - 60:
            self._token = auth.issue(self._secret, SUBJECT, ["service"], ttl_s=TOKEN_TTL_S)
            self._token_until = now + TOKEN_TTL_S
        return (("authorization", f"Bearer {self._token}"),)

    async def check(self, text: str, author: str) -> Answer:
        if self._channel is None:
            self._channel = channel(self._address)
        stub = mgrpc.ModerationServiceStub(self._channel)
        try:
            reply = await stub.CheckText(
                mpb.CheckTextRequest(text=text, author=author), metadata=self._metadata(), timeout=CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            raise ModerationUnavailable(f"{exc.code().name}: {exc.details()}") from None
        decision = reply.decision
        action = ACTIONS.get(decision.action)
        if action is None:
            raise ModerationUnavailable(f"moderation answered without an action ({decision.action})")
        return Answer(action, tuple(decision.categories), decision.masked_text)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
