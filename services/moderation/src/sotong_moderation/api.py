"""Moderation's gRPC API process: `sotong.moderation.v1.ModerationService`.

Run as `sotong-moderation-api`. GetDecision reads what the worker stored; CheckText runs the same pipeline on a
text without storing it (for frontends that warn a citizen before posting).
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from sotong.moderation.v1 import moderation_events_pb2 as events_pb
from sotong.moderation.v1 import moderation_service_pb2 as pb
from sotong.moderation.v1 import moderation_service_pb2_grpc as pb_grpc
from sotong_common import auth, config, database, logs, metrics, tracing
from sotong_common.errors import FieldViolation, InvalidArgument, NotFound
from sotong_common.server import Server
from sotong_moderation import settings
from sotong_moderation.decisions import ACTIONS, DecisionStore
from sotong_moderation.pipeline import Pipeline

SERVICE = "sotong.moderation.v1.ModerationService"
MAX_CHECK_CHARS = 20_000

POLICY = auth.Policy(
    {
        f"/{SERVICE}/GetDecision": {"moderator", "operator", "service"},
        f"/{SERVICE}/CheckText": {"citizen", "moderator", "operator", "service"},
    }
)


class ModerationService(pb_grpc.ModerationServiceServicer):
    def __init__(self, store: DecisionStore, pipeline: Pipeline) -> None:
        self._store = store
        self._pipeline = pipeline

    async def GetDecision(self, request: pb.GetDecisionRequest, context: Any) -> pb.GetDecisionResponse:
        if not request.content_id:
            raise InvalidArgument(FieldViolation("content_id", "content_id must not be empty"))
        row = await self._store.latest(request.content_id)
        if row is None:
            raise NotFound(f"no decision for content {request.content_id}")
        decision = events_pb.DecisionMade(
            decision_id=str(row["decision_id"]),
            content_id=row["content_id"],
            content_type=row["content_type"],
            action=ACTIONS[row["action"]],
            categories=list(row["categories"]),
            policy_version=row["policy_version"],
            model_version=row["model_version"],
            source_event_id=row["source_event_id"],
        )
        decision.decided_at.FromDatetime(row["decided_at"])
        return pb.GetDecisionResponse(decision=decision)

    async def CheckText(self, request: pb.CheckTextRequest, context: Any) -> pb.CheckTextResponse:
        if not request.text.strip():
            raise InvalidArgument(FieldViolation("text", "text must not be empty"))
        if len(request.text) > MAX_CHECK_CHARS:
            raise InvalidArgument(FieldViolation("text", f"text must be at most {MAX_CHECK_CHARS} characters"))
        decision = self._pipeline.decide("check", request.text, request.author or "anonymous")
        out = events_pb.DecisionMade(
            content_id="check",
            action=ACTIONS[decision.action],
            categories=list(decision.categories),
            evidence=[
                events_pb.Evidence(start=e.start, end=e.end, clause=e.clause, rule=e.rule, score=e.score)
                for e in decision.evidence
            ],
            policy_version=decision.policy_version,
            model_version=decision.model_version,
            masked_text=decision.masked_text,
        )
        return pb.CheckTextResponse(decision=out)


async def serve(values: dict[str, Any]) -> None:
    pool = await database.connect(values["DATABASE_URL"], settings.SCHEMA, settings.MIGRATIONS)
    server = Server("moderation", POLICY, values["JWT_SECRET"], host=values["LISTEN_HOST"], port=values["GRPC_PORT"])
    service = ModerationService(DecisionStore(pool), Pipeline.default())
    server.add(SERVICE, lambda s: pb_grpc.add_ModerationServiceServicer_to_server(service, s))
    port = await server.start()
    logs.get("moderation.api").info("moderation api serving", grpc_port=port)

    async def close() -> None:
        await pool.close()

    await server.serve_until_signalled(on_stop=[close])


def main() -> None:
    values = config.load_or_exit(settings.API)
    logs.configure("moderation-api", values["LOG_LEVEL"])
    tracing.configure("moderation", values["OTEL_EXPORTER"], values["OTEL_FILE"], values["OTEL_ENDPOINT"])
    metrics.serve(values["METRICS_PORT"], values["LISTEN_HOST"])
    grpc.aio.init_grpc_aio()
    asyncio.run(serve(values))


if __name__ == "__main__":
    main()
