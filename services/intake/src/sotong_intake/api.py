"""Intake's gRPC API process: `sotong.intake.v1.IntakeService`, plus the outbox relay that publishes its events.

Run as `sotong-intake-api`. Configuration comes from SOTONG_* variables (settings.py); a bad one stops the
process with one line naming it.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong_common import auth, logs, process
from sotong_common.errors import FieldViolation, InvalidArgument, NotFound
from sotong_common.geo import Seoul
from sotong_common.producer import Acknowledged
from sotong_common.server import Server, principal
from sotong_common.text_fields import refuse_control_characters
from sotong_intake import settings, status, tracking
from sotong_intake.contract import contract_violations, status_change, submission_from_request, submission_to_proto
from sotong_intake.reception import DEFAULT_WAIT_S, Reception, Refused
from sotong_intake.store import Filters, StatusConflict, StoredSubmission, SubmissionStore
from sotong_intake.watch import StatusWatch

SERVICE = "sotong.intake.v1.IntakeService"
MAX_BATCH = 10_000  # items per SubmitBatch stream; bounds one stream's memory and transaction
_BATCH_CHUNK = 500  # items accepted (sent and acknowledged together) at a time inside a batch
MAX_PAGE = 200

POLICY = auth.Policy(
    {
        f"/{SERVICE}/SubmitReport": {"citizen", "operator", "service"},
        f"/{SERVICE}/GetSubmission": {"citizen", "operator", "moderator", "service"},
        f"/{SERVICE}/SubmitBatch": {"service"},
        f"/{SERVICE}/ListSubmissions": {"operator"},
        f"/{SERVICE}/UpdateStatus": {"operator"},
        f"/{SERVICE}/WatchSubmission": {"citizen", "operator", "service"},
        f"/{SERVICE}/FollowSubmission": {"citizen"},
    }
)

# Kept importable from here for callers written against the first version of this module.
__all__ = ["POLICY", "SERVICE", "IntakeService", "main", "submission_from_request"]


def _tracking_id(value: str) -> str:
    if not value or len(value) > 64 or not value.isascii() or not value.isprintable():
        raise InvalidArgument(FieldViolation("tracking_id", "tracking_id must be 1-64 printable ASCII characters"))
    return value


def _filter_value(name: str, value: str, violations: list[FieldViolation]) -> str | None:
    """A listing filter is a code, never free text: short printable ASCII (PostgreSQL text refuses NUL too)."""
    if not value:
        return None
    if len(value) > 64 or not value.isascii() or not value.isprintable():
        violations.append(FieldViolation(name, f"{name} must be a code of at most 64 printable ASCII characters"))
        return None
    return value


@refuse_control_characters  # every text field of a unary request; SubmitBatch items: the domain validation
class IntakeService(pb_grpc.IntakeServiceServicer):
    def __init__(self, reception: Reception, store: SubmissionStore, watch: StatusWatch | None = None) -> None:
        self._reception = reception
        self._store = store
        self._watch = watch
        self._log = logs.get("intake.api")

    async def SubmitReport(self, request: pb.SubmitReportRequest, context: Any) -> pb.SubmitReportResponse:
        submission = submission_from_request(request)
        caller = principal()
        if "citizen" in caller.roles:
            submission = dataclasses.replace(submission, author=caller.subject)
        try:
            accepted = await self._reception.receive(submission, wait_s=_wait(context))
        except Refused as refused:
            raise InvalidArgument(contract_violations(refused.violations)) from None
        self._log.info(
            "submission accepted" if accepted.created else "submission already accepted",
            tracking_id=accepted.tracking_id,
            channel=submission.channel,
        )
        return pb.SubmitReportResponse(tracking_id=accepted.tracking_id, created=accepted.created)

    async def SubmitBatch(self, request_iterator: Any, context: Any) -> pb.SubmitBatchResponse:
        """Validate every item, store the valid ones in chunked transactions, answer per item in stream order."""
        response = pb.SubmitBatchResponse()
        pending: list[tuple[int, Any, Any]] = []

        async def flush() -> None:
            accepted = await self._reception.accept([(s, p) for _, s, p in pending], wait_s=_wait(context))
            for (index, _, _), result in zip(pending, accepted, strict=True):
                response.results.append(
                    pb.SubmitBatchResult(index=index, tracking_id=result.tracking_id, created=result.created)
                )
                response.accepted += 1
            pending.clear()

        index = 0
        async for item in request_iterator:
            if index >= MAX_BATCH:
                raise InvalidArgument(FieldViolation("report", f"a batch holds at most {MAX_BATCH} items"))
            submission = submission_from_request(item.report)
            violations, place = self._reception.check(submission)
            if violations:
                await flush()  # keep results in stream order
                response.results.append(
                    pb.SubmitBatchResult(
                        index=index,
                        violations=[
                            pb.SubmitBatchViolation(field=v.field, description=v.description)
                            for v in contract_violations(violations)
                        ],
                    )
                )
                response.refused += 1
            else:
                pending.append((index, submission, place))
                if len(pending) >= _BATCH_CHUNK:
                    await flush()
            index += 1
        if pending:
            await flush()
        self._log.info("batch stored", accepted=response.accepted, refused=response.refused)
        return response

    async def _get_accepted(self, tracking_id: str, context: Any) -> StoredSubmission | None:
        """The stored submission; one accepted moments ago is waited for, briefly, rather than answered NOT_FOUND.

        Doors answer once a report is durable on Kafka and the worker stores it milliseconds later (longer under
        load): a client that files a report and reads or watches it at once (the gateway's page, the console)
        would otherwise be told it does not exist. Only ids issued today or yesterday (UTC, the id's prefix) wait,
        so a mistyped or old id is answered at once.
        """
        found = await self._store.get(tracking_id)
        if found is not None or not tracking.recently_issued(tracking_id, datetime.now(UTC)):
            return found
        deadline = time.monotonic() + min(STORING_WAIT_S, _wait(context))
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            found = await self._store.get(tracking_id)
            if found is not None:
                return found
        return None

    async def GetSubmission(self, request: pb.GetSubmissionRequest, context: Any) -> pb.GetSubmissionResponse:
        tracking_id = _tracking_id(request.tracking_id)
        found = await self._get_accepted(tracking_id, context)
        if found is None:
            raise NotFound(f"no submission with tracking id {tracking_id}")
        shown = submission_to_proto(found.row, found.history)
        if not _reads_original(principal(), found.row["author"]):
            # Everyone else reads what the public reads: moderation's published (masked) text, or nothing yet.
            shown.text = found.row["public_text"] or ""
        return pb.GetSubmissionResponse(submission=shown)

    async def ListSubmissions(self, request: pb.ListSubmissionsRequest, context: Any) -> pb.ListSubmissionsResponse:
        violations: list[FieldViolation] = []
        if request.page_size > MAX_PAGE:
            violations.append(FieldViolation("page_size", f"page_size must be at most {MAX_PAGE}"))
        both = request.HasField("received_after") and request.HasField("received_before")
        if both and request.received_after.ToDatetime() >= request.received_before.ToDatetime():
            violations.append(FieldViolation("received_before", "received_before must be after received_after"))
        filters = Filters(
            district_code=_filter_value("district_code", request.district_code, violations),
            category=_filter_value("category", request.category, violations),
            kind=status.KIND_FROM_PROTO.get(request.kind) if request.kind else None,
            status=status.FROM_PROTO.get(request.status) if request.status else None,
            channel=_filter_value("channel", request.channel, violations),
            received_after=_aware(request.received_after) if request.HasField("received_after") else None,
            received_before=_aware(request.received_before) if request.HasField("received_before") else None,
        )
        if request.kind and filters.kind is None:
            violations.append(FieldViolation("kind", "unknown kind"))
        if request.status and filters.status is None:
            violations.append(FieldViolation("status", "unknown status"))
        after = None
        if request.page_token:
            after = _decode_cursor(request.page_token, filters)
            if after is None:
                violations.append(FieldViolation("page_token", "page_token is not one this listing gave out"))
        if violations:
            raise InvalidArgument(violations)
        page = await self._store.list_submissions(filters, request.page_size or 50, after)
        return pb.ListSubmissionsResponse(
            submissions=[submission_to_proto(row) for row in page.rows],
            next_page_token=_encode_cursor(page.next_after, filters) if page.next_after else "",
        )

    async def UpdateStatus(self, request: pb.UpdateStatusRequest, context: Any) -> pb.UpdateStatusResponse:
        tracking_id = _tracking_id(request.tracking_id)
        new_status = status.FROM_PROTO.get(request.status)
        violations: list[FieldViolation] = []
        if new_status not in status.OPERATOR:
            violations.append(FieldViolation("status", "status must be one of " + ", ".join(sorted(status.OPERATOR))))
        if len(request.note) > 2000:
            violations.append(FieldViolation("note", "note must be at most 2,000 characters"))
        if "\x00" in request.note:
            violations.append(FieldViolation("note", "note must not contain NUL characters"))
        if request.duplicate_of:
            _filter_value("duplicate_of", request.duplicate_of, violations)
        if request.duplicate_of and new_status != status.DUPLICATE:
            violations.append(FieldViolation("duplicate_of", "duplicate_of goes only with status duplicate"))
        if violations:
            raise InvalidArgument(violations)
        assert new_status is not None
        try:
            found = await self._store.update_status(
                tracking_id, new_status, request.note, principal().subject, request.duplicate_of or None
            )
        except StatusConflict as exc:
            raise InvalidArgument(FieldViolation(exc.field, str(exc))) from None
        if found is None:
            raise NotFound(f"no submission with tracking id {tracking_id}")
        self._log.info("status changed", tracking_id=tracking_id, status=new_status)
        return pb.UpdateStatusResponse(submission=submission_to_proto(found.row, found.history))

    async def WatchSubmission(
        self, request: pb.WatchSubmissionRequest, context: Any
    ) -> AsyncIterator[pb.WatchSubmissionResponse]:
        """The history so far, then each change as it is committed, until the client cancels."""
        tracking_id = _tracking_id(request.tracking_id)
        found = await self._get_accepted(tracking_id, context)
        if found is None:
            raise NotFound(f"no submission with tracking id {tracking_id}")
        last = 0
        for change in found.history:
            last = change["id"]
            yield pb.WatchSubmissionResponse(change=status_change(change))
        assert self._watch is not None
        submission_id = found.row["id"]
        async for _ in self._watch.wakeups(str(submission_id)):
            for change in await self._store.history_since(submission_id, last):
                last = change["id"]
                yield pb.WatchSubmissionResponse(change=status_change(change))

    async def FollowSubmission(self, request: pb.FollowSubmissionRequest, context: Any) -> pb.FollowSubmissionResponse:
        tracking_id = _tracking_id(request.tracking_id)
        result = await self._store.follow(tracking_id, principal().subject)
        if result is None:
            raise NotFound(f"no submission with tracking id {tracking_id}")
        return pb.FollowSubmissionResponse(follower_count=result[0], created=result[1])


def _reads_original(caller: auth.Principal, author: str | None) -> bool:
    """Operators, and the citizen who wrote it, read the text as written; personal data in it is theirs to see."""
    return "operator" in caller.roles or ("citizen" in caller.roles and author is not None and author == caller.subject)


STORING_WAIT_S = 3.0  # how long a read waits for a report accepted moments ago to be stored


def _wait(context: Any) -> float:
    """How long acceptance may wait for the broker: what is left of the caller's deadline, at most the default."""
    remaining: float | None = context.time_remaining() if context is not None else None
    if remaining is None:
        return DEFAULT_WAIT_S
    # Leave the answer time to travel: a tenth of the deadline, at least 100 ms (a busy event loop is slow to it).
    return max(0.05, min(DEFAULT_WAIT_S, remaining - max(0.1, remaining / 10)))


def _aware(stamp: Any) -> datetime:
    moment: datetime = stamp.ToDatetime(tzinfo=UTC)
    return moment


def _fingerprint(filters: Filters) -> str:
    return hashlib.sha256(repr(filters).encode()).hexdigest()[:12]


def _encode_cursor(after: tuple[datetime, uuid.UUID], filters: Filters) -> str:
    raw = json.dumps({"t": after[0].isoformat(), "i": str(after[1]), "f": _fingerprint(filters)})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(token: str, filters: Filters) -> tuple[datetime, uuid.UUID] | None:
    """The cursor, or None when it is garbage or was made for other filters (its position would mean nothing)."""
    if len(token) > 512:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data["f"] != _fingerprint(filters):
            return None
        moment = datetime.fromisoformat(data["t"])
        if moment.tzinfo is None:
            return None
        return moment, uuid.UUID(data["i"])
    except (ValueError, KeyError, TypeError):
        return None


async def serve(proc: process.Process, chosen: settings.Api) -> None:
    pool = await proc.database(chosen.database_url, settings.SCHEMA, settings.MIGRATIONS, max_size=20)
    kafka = await proc.producer(chosen.kafka_bootstrap, "sotong-intake-api")
    proc.outbox_relay(pool, kafka, settings.SCHEMA)
    watch = StatusWatch(pool)
    await proc.start("status watch", watch)
    store = SubmissionStore(pool, chosen.intake_contact_keys, chosen.duplicate_rule, chosen.publishing_seal_public_keys)
    accepting = Acknowledged(chosen.kafka_bootstrap, "sotong-intake-api-acceptance")
    await proc.start("acceptance producer", accepting)
    server = Server.for_settings("intake", POLICY, chosen)
    servicer = IntakeService(Reception(Seoul.load(), accepting, chosen.intake_contact_keys), store, watch)
    server.add(SERVICE, lambda s: pb_grpc.add_IntakeServiceServicer_to_server(servicer, s))
    port = await proc.grpc(server)
    logs.get("intake.api").info("intake api serving", grpc_port=port)


def main() -> None:
    process.run("intake-api", "intake", settings.Api.load_or_exit(), serve)


if __name__ == "__main__":
    main()
