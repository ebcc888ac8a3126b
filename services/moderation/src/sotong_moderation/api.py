"""Moderation's gRPC API process: `sotong.moderation.v1.ModerationService`.

Run as `sotong-moderation-api`. GetDecision reads what the worker and moderators stored; CheckText runs the same
pipeline on a text without storing it (for frontends that warn a citizen before posting); ListQueue, Decide and
Appeal are the human side (`review.py`); ExportDecisions streams moderators' decisions as labelled data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sotong.moderation.v1 import moderation_events_pb2 as events_pb
from sotong.moderation.v1 import moderation_service_pb2 as pb
from sotong.moderation.v1 import moderation_service_pb2_grpc as pb_grpc
from sotong_common import auth, logs, process
from sotong_common.errors import FieldViolation, InvalidArgument, NotFound
from sotong_common.server import Server, principal
from sotong_moderation import export, settings
from sotong_moderation.decisions import ACTION_NAMES, ACTIONS, DecisionStore, row_to_event, to_event
from sotong_moderation.pipeline import Pipeline
from sotong_moderation.review import (
    DEFAULT_PAGE,
    MAX_PAGE,
    QueueFilter,
    ReviewStore,
    appeal_to_proto,
    check_clauses,
    decode_cursor,
    encode_cursor,
)

SERVICE = "sotong.moderation.v1.ModerationService"
MAX_CHECK_CHARS = 20_000
MAX_REASON_CHARS = 2_000
MAX_ID_CHARS = 200

POLICY = auth.Policy(
    {
        f"/{SERVICE}/GetDecision": {"moderator", "operator", "service"},
        f"/{SERVICE}/CheckText": {"citizen", "moderator", "operator", "service"},
        f"/{SERVICE}/ListQueue": {"moderator"},
        f"/{SERVICE}/Decide": {"moderator"},
        f"/{SERVICE}/Appeal": {"citizen", "operator"},
        f"/{SERVICE}/ExportDecisions": {"moderator", "operator"},
    }
)


class ModerationService(pb_grpc.ModerationServiceServicer):
    def __init__(self, store: DecisionStore, pipeline: Pipeline) -> None:
        self._store = store
        self._review = ReviewStore(store.pool)
        self._pipeline = pipeline

    async def GetDecision(self, request: pb.GetDecisionRequest, context: Any) -> pb.GetDecisionResponse:
        content_id = _content_id(request.content_id)
        history = await self._store.history(content_id)
        if not history:
            raise NotFound(f"no decision for content {content_id}")
        events_ = [row_to_event(r) for r in history]
        appeals = await self._review.appeals(content_id)
        return pb.GetDecisionResponse(
            decision=events_[-1],
            history=events_,
            appeals=[appeal_to_proto(a) for a in appeals],
            in_queue=await self._review.in_queue(content_id),
        )

    async def ListQueue(self, request: pb.ListQueueRequest, context: Any) -> pb.ListQueueResponse:
        violations = []
        if request.page_size < 0 or request.page_size > MAX_PAGE:
            violations.append(FieldViolation("page_size", f"page_size must be between 0 and {MAX_PAGE}"))
        if request.min_age_seconds < 0:
            violations.append(FieldViolation("min_age_seconds", "min_age_seconds must not be negative"))
        if request.max_age_seconds < 0:
            violations.append(FieldViolation("max_age_seconds", "max_age_seconds must not be negative"))
        if violations:
            raise InvalidArgument(violations)
        check_clauses("clauses", list(request.clauses))
        after = decode_cursor(request.page_token) if request.page_token else None
        where = QueueFilter(
            list(request.clauses), request.content_type, request.min_age_seconds, request.max_age_seconds
        )
        rows, cursor, total = await self._review.queue(where, request.page_size or DEFAULT_PAGE, after)
        items = []
        for row in rows:
            item = pb.QueueItem(
                content_id=row["content_id"],
                content_type=row["content_type"],
                masked_text=row["masked_text"],
                decision=row_to_event(row),
                reason=pb.QUEUE_REASON_APPEAL if row["queue_reason"] == "appeal" else pb.QUEUE_REASON_PIPELINE,
                appealed_by=row["appealed_by"] or "",
                appeal_reason=row["appeal_reason"] or "",
            )
            item.queued_at.FromDatetime(row["queued_at"])
            items.append(item)
        return pb.ListQueueResponse(items=items, next_page_token=encode_cursor(*cursor) if cursor else "", total=total)

    async def Decide(self, request: pb.DecideRequest, context: Any) -> pb.DecideResponse:
        content_id = _content_id(request.content_id)
        violations = []
        if request.action not in (events_pb.ACTION_PUBLISH, events_pb.ACTION_REMOVE):
            violations.append(FieldViolation("action", "action must be ACTION_PUBLISH or ACTION_REMOVE"))
        reason = request.reason.strip()
        if not reason:
            violations.append(FieldViolation("reason", "a moderator's decision needs a reason"))
        elif len(reason) > MAX_REASON_CHARS:
            violations.append(FieldViolation("reason", f"reason must be at most {MAX_REASON_CHARS} characters"))
        if request.action == events_pb.ACTION_REMOVE and not request.clauses:
            violations.append(FieldViolation("clauses", "a removal must name the policy clause(s) it enforces"))
        if request.action == events_pb.ACTION_PUBLISH and request.clauses:
            violations.append(FieldViolation("clauses", "a publication names no violated clause"))
        if violations:
            raise InvalidArgument(violations)
        check_clauses("clauses", list(request.clauses))
        decision = await self._review.decide(
            content_id,
            ACTION_NAMES[request.action],
            list(dict.fromkeys(request.clauses)),
            reason,
            principal().subject,
            request.expected_decision_id,
        )
        return pb.DecideResponse(decision=decision)

    async def Appeal(self, request: pb.AppealRequest, context: Any) -> pb.AppealResponse:
        content_id = _content_id(request.content_id)
        reason = request.reason.strip()
        if not reason:
            raise InvalidArgument(FieldViolation("reason", "an appeal needs a reason"))
        if len(reason) > MAX_REASON_CHARS:
            raise InvalidArgument(FieldViolation("reason", f"reason must be at most {MAX_REASON_CHARS} characters"))
        who = principal()
        row = await self._review.appeal(content_id, reason, who.subject, sorted(who.roles))
        return pb.AppealResponse(appeal=appeal_to_proto(row))

    async def ExportDecisions(
        self, request: pb.ExportDecisionsRequest, context: Any
    ) -> AsyncIterator[pb.ExportDecisionsResponse]:
        since = request.since.ToDatetime(tzinfo=UTC) if request.HasField("since") else None
        async for row in export.labelled(self._store.pool, since, request.include_pipeline):
            out = pb.ExportDecisionsResponse(
                content_id=row["content_id"],
                content_type=row["content_type"],
                text=row["text"],
                action=ACTIONS[row["action"]],
                labels=list(row["categories"]),
                decided_by=row["decided_by"],
                reason=row["reason"],
                decision_id=str(row["decision_id"]),
            )
            out.decided_at.FromDatetime(row["decided_at"])
            yield out

    async def CheckText(self, request: pb.CheckTextRequest, context: Any) -> pb.CheckTextResponse:
        if not request.text.strip():
            raise InvalidArgument(FieldViolation("text", "text must not be empty"))
        if len(request.text) > MAX_CHECK_CHARS:
            raise InvalidArgument(FieldViolation("text", f"text must be at most {MAX_CHECK_CHARS} characters"))
        decision = self._pipeline.decide("check", request.text, request.author or "anonymous")
        # The same shape as a published decision, but nothing is stored: no decision id, no source event.
        out = to_event(decision, decision_id="", content_type="", source_event_id="", decided_at=datetime.now(UTC))
        return pb.CheckTextResponse(decision=out)


def _content_id(raw: str) -> str:
    if not raw.strip():
        raise InvalidArgument(FieldViolation("content_id", "content_id must not be empty"))
    if len(raw) > MAX_ID_CHARS:
        raise InvalidArgument(FieldViolation("content_id", f"content_id must be at most {MAX_ID_CHARS} characters"))
    return raw


async def serve(proc: process.Process, chosen: settings.Api) -> None:
    pool = await proc.database(chosen.database_url, settings.SCHEMA, settings.MIGRATIONS)
    server = Server.for_settings("moderation", POLICY, chosen)
    service = ModerationService(DecisionStore(pool), Pipeline.default())
    server.add(SERVICE, lambda s: pb_grpc.add_ModerationServiceServicer_to_server(service, s))
    port = await proc.grpc(server)
    logs.get("moderation.api").info("moderation api serving", grpc_port=port)


def main() -> None:
    process.run("moderation-api", "moderation", settings.Api.load_or_exit(), serve)


if __name__ == "__main__":
    main()
