"""Alerting's gRPC API process: `sotong.alerting.v1.AlertingService`, plus the outbox relay for its events.

Run as `sotong-alerting-api`. Who may call what is declared in POLICY (fails closed for undeclared methods); the
two-person rule does not trust the client: the approver is the authenticated caller (the JWT subject). Upstream
CAP is read in another process within a time budget (`cap.reader`), and only for the senders the caller is bound
to (`upstream`); WatchIncident streams are woken by one LISTEN connection and bounded per caller (`watch`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from google.protobuf.timestamp_pb2 import Timestamp

from sotong.alerting.v1 import alerting_service_pb2 as pb
from sotong.alerting.v1 import alerting_service_pb2_grpc as pb_grpc
from sotong.publishing.v1 import publishing_events_pb2 as dispatch
from sotong_alerting import settings, timeline
from sotong_alerting.alerts import AlertDesk, sent_renderings
from sotong_alerting.approval import Person
from sotong_alerting.cap.reader import CapReader, ReadingFailed
from sotong_alerting.districts import districts
from sotong_alerting.drafting import MAX_EXPIRES_HOURS
from sotong_alerting.feed import active_alerts, render_atom_feed
from sotong_alerting.store import IncidentStore, IncidentView, actionable, stored_alert, upstream_hazard
from sotong_alerting.upstream import SenderBindings, referenced_keys, size_violations, upstream_key
from sotong_alerting.watch import TimelineWatch
from sotong_common import auth, logs, process
from sotong_common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
)
from sotong_common.server import Server, principal
from sotong_common.text_fields import refuse_control_characters

SERVICE = "sotong.alerting.v1.AlertingService"
_STAFF = {"operator", "approver", "dept_admin"}

POLICY = auth.Policy(
    {
        f"/{SERVICE}/ReportIncident": {"operator", "approver", "service"},
        f"/{SERVICE}/ConfirmIncident": {"operator", "approver"},
        f"/{SERVICE}/IngestCap": {"service", "partner"},
        f"/{SERVICE}/Acknowledge": {"operator", "approver", "dept_admin"},
        f"/{SERVICE}/DraftAlert": {"operator", "approver"},
        f"/{SERVICE}/PreviewAlert": {"operator", "approver"},
        # The service checks the approver's permission per alert status (Actual vs Test/Exercise).
        f"/{SERVICE}/ApproveAlert": {"operator", "approver"},
        f"/{SERVICE}/IssueAlert": {"operator", "approver"},
        f"/{SERVICE}/UpdateAlert": {"operator", "approver"},
        f"/{SERVICE}/CancelAlert": {"operator", "approver"},
        f"/{SERVICE}/GetIncident": _STAFF,
        f"/{SERVICE}/GetAlert": _STAFF | {"service", "partner"},
        f"/{SERVICE}/ListIncidents": _STAFF,
        f"/{SERVICE}/WatchIncident": _STAFF,
        f"/{SERVICE}/GetCapFeed": _STAFF | {"citizen", "service", "partner"},
    }
)

MAX_SUMMARY = 2000


def _ts(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def incident_message(row: asyncpg.Record, page: asyncpg.Record | None) -> pb.Incident:
    message = pb.Incident(
        incident_id=row["incident_id"],
        hazard=row["hazard"],
        area_codes=list(row["area_codes"]),
        stage=row["stage"],
        summary=row["summary"],
        source=row["source"],
        reported_at=_ts(row["reported_at"]),
        reported_by=row["reported_by"],
    )
    if page is not None:
        message.page_pending = page["acknowledged_at"] is None and page["next_due_at"] is not None
        message.escalation_level = page["level"]
        message.acknowledged_by = page["acknowledged_by"] or ""
    return message


def alert_message(row: asyncpg.Record) -> pb.AlertRecord:
    return pb.AlertRecord(
        identifier=row["identifier"],
        incident_id=row["incident_id"],
        state=row["state"],
        msg_type=row["msg_type"],
        status=row["status"],
        purpose=row["purpose"],
        drafted_by=row["drafted_by"],
        approved_by=row["approved_by"] or "",
        issued_by=row["issued_by"] or "",
        cap_xml=row["cap_xml"],
        drafted_at=_ts(row["drafted_at"]),
        approved_at=_ts(row["approved_at"]),
        issued_at=_ts(row["issued_at"]),
        channels=list(row["channels"]),
    )


def _required(value: str, field: str, what: str) -> str:
    if not value.strip():
        raise InvalidArgument(FieldViolation(field, f"{field} is required: {what}"))
    return value.strip()


def validate_report(request: pb.ReportIncidentRequest) -> None:
    """Every field problem of a report at once, named by its wire field."""
    problems = []
    if not request.hazard.strip():
        problems.append(FieldViolation("hazard", "hazard is required (e.g. 호우, 지진, 화재)"))
    elif len(request.hazard) > 50:
        problems.append(FieldViolation("hazard", "hazard must be at most 50 characters"))
    known = districts()
    for index, code in enumerate(request.area_codes):
        if code not in known:
            problems.append(FieldViolation(f"area_codes[{index}]", f"{code!r} is not a Seoul district code (SIG_CD)"))
    if len(request.summary) > MAX_SUMMARY:
        problems.append(FieldViolation("summary", f"summary must be at most {MAX_SUMMARY} characters"))
    if len(request.request_id) > 128:
        problems.append(FieldViolation("request_id", "request_id must be at most 128 characters"))
    if problems:
        raise InvalidArgument(problems)


@refuse_control_characters  # every text field of every request: INVALID_ARGUMENT naming it
class AlertingService(pb_grpc.AlertingServiceServicer):
    def __init__(
        self,
        store: IncidentStore,
        alerts: AlertDesk,
        feed_url: str,
        *,
        cap_senders: SenderBindings | None = None,
        reader: CapReader | None = None,
        watch: TimelineWatch | None = None,
    ) -> None:
        self._store = store
        self._alerts = alerts
        self._feed_url = feed_url.rstrip("/")
        self._senders = cap_senders or SenderBindings({})
        self._reader = reader or CapReader()
        self._watch = watch or TimelineWatch(store.pool)
        self._log = logs.get("alerting.api")

    async def _incident(self, incident_id: str) -> pb.Incident:
        row, page = await self._store.incident_row(incident_id)
        return incident_message(row, page)

    async def ReportIncident(self, request: pb.ReportIncidentRequest, context: Any) -> pb.ReportIncidentResponse:
        validate_report(request)
        actor = principal().subject
        key = f"report:{actor}:{request.request_id}" if request.request_id else None
        incident_id, created = await self._store.report(
            actor=actor,
            hazard=request.hazard.strip(),
            area_codes=list(dict.fromkeys(request.area_codes)),
            summary=request.summary.strip(),
            request_key=key,
        )
        self._log.info("incident reported" if created else "incident already reported", incident_id=incident_id)
        return pb.ReportIncidentResponse(incident=await self._incident(incident_id), created=created)

    async def ConfirmIncident(self, request: pb.ConfirmIncidentRequest, context: Any) -> pb.ConfirmIncidentResponse:
        incident_id = _required(request.incident_id, "incident_id", "the candidate incident to confirm")
        await self._store.confirm(incident_id, principal().subject)
        return pb.ConfirmIncidentResponse(incident=await self._incident(incident_id))

    async def IngestCap(self, request: pb.IngestCapRequest, context: Any) -> pb.IngestCapResponse:
        if not request.cap_xml:
            raise InvalidArgument(FieldViolation("cap_xml", "cap_xml is required: a CAP 1.2 document"))
        caller = principal().subject
        refusal = self._senders.refusal(caller)
        if refusal is not None:  # before any parsing: an unbound caller gets no CPU
            raise PermissionDenied(refusal)
        try:
            document = await self._reader.read(request.cap_xml)
        except ReadingFailed as failed:
            raise ResourceExhausted(f"cap_xml was not read: {failed}; real alerts are a few kB") from None
        if document.alert is None:
            raise InvalidArgument(
                [FieldViolation("cap_xml", str(problem)) for problem in document.problems[:20]],
                f"not a valid CAP 1.2 document: {document.problems[0]}",
            )
        alert = document.alert
        refusal = self._senders.refusal(caller, alert.sender)
        if refusal is not None:
            raise PermissionDenied(refusal)
        too_large = size_violations(alert)
        if too_large:
            raise InvalidArgument(too_large)
        for warning in document.warnings:
            self._log.warning("upstream CAP accepted with a warning", identifier=alert.identifier, warning=str(warning))
        actor = f"upstream:{alert.sender}"
        if not actionable(alert):
            if alert.msg_type.value in {"Update", "Cancel"}:
                keys = referenced_keys(caller, alert, self._senders.senders_for(caller))
                headline = upstream_hazard(alert)[2]
                note = f"upstream {alert.msg_type.value} {alert.identifier}: {headline}".strip()
                incident_id = await self._store.note_upstream(keys, actor, note)
                if incident_id is not None:
                    return pb.IngestCapResponse(incident=await self._incident(incident_id), created=False)
            raise FailedPrecondition(
                f"CAP {alert.status.value} {alert.msg_type.value} {alert.identifier} opens no incident: only an "
                "Actual Alert does (Updates and Cancels are noted on the incident of the alert they reference)"
            )
        hazard, codes, headline = upstream_hazard(alert)
        incident_id, created = await self._store.report(
            actor=actor,
            hazard=hazard,
            area_codes=codes,
            summary=headline,
            request_key=upstream_key(caller, alert.sender, alert.identifier),
            source="upstream-cap",
        )
        self._log.info(
            "upstream CAP ingested",
            incident_id=incident_id,
            identifier=alert.identifier,
            created=created,
            caller=caller,
        )
        return pb.IngestCapResponse(incident=await self._incident(incident_id), created=created)

    async def Acknowledge(self, request: pb.AcknowledgeRequest, context: Any) -> pb.AcknowledgeResponse:
        incident_id = _required(request.incident_id, "incident_id", "the incident whose page you acknowledge")
        await self._store.acknowledge(incident_id, principal().subject)
        return pb.AcknowledgeResponse(incident=await self._incident(incident_id))

    async def DraftAlert(self, request: pb.DraftAlertRequest, context: Any) -> pb.DraftAlertResponse:
        _required(request.incident_id, "incident_id", "the incident the alert is for")
        drafted = await self._alerts.draft(request, principal().subject)
        return pb.DraftAlertResponse(
            alert=alert_message(drafted.row), renderings=drafted.renderings, warnings=drafted.warnings
        )

    async def PreviewAlert(self, request: pb.PreviewAlertRequest, context: Any) -> pb.PreviewAlertResponse:
        _required(request.draft.incident_id, "draft.incident_id", "the incident the alert is for")
        previewed = await self._alerts.preview(request.draft)
        return pb.PreviewAlertResponse(
            purpose=previewed.purpose,
            renderings=previewed.renderings,
            problems=[pb.FieldProblem(field=p.field, description=p.description) for p in previewed.problems],
            warnings=previewed.warnings,
        )

    async def ApproveAlert(self, request: pb.ApproveAlertRequest, context: Any) -> pb.ApproveAlertResponse:
        identifier = _required(request.identifier, "identifier", "the drafted alert to approve")
        caller = principal()
        row, warnings = await self._alerts.approve(identifier, Person(caller.subject, caller.roles))
        return pb.ApproveAlertResponse(alert=alert_message(row), warnings=warnings)

    async def IssueAlert(self, request: pb.IssueAlertRequest, context: Any) -> pb.IssueAlertResponse:
        identifier = _required(request.identifier, "identifier", "the approved alert to issue")
        row, dispatch_ids = await self._alerts.issue(identifier, principal().subject)
        return pb.IssueAlertResponse(
            alert=alert_message(row), incident=await self._incident(row["incident_id"]), dispatch_ids=dispatch_ids
        )

    async def UpdateAlert(self, request: pb.UpdateAlertRequest, context: Any) -> pb.UpdateAlertResponse:
        drafted = await self._alerts.draft_update(
            request.references, request.texts, request.reason, principal().subject, all_clear=request.all_clear
        )
        return pb.UpdateAlertResponse(alert=alert_message(drafted.row), renderings=drafted.renderings)

    async def CancelAlert(self, request: pb.CancelAlertRequest, context: Any) -> pb.CancelAlertResponse:
        incident_id = _required(request.incident_id, "incident_id", "the incident to cancel")
        row = await self._alerts.cancel(incident_id, request.references, request.reason, principal().subject)
        response = pb.CancelAlertResponse(incident=await self._incident(incident_id))
        if row is not None:
            response.alert.CopyFrom(alert_message(row))
        return response

    async def GetIncident(self, request: pb.GetIncidentRequest, context: Any) -> pb.GetIncidentResponse:
        incident_id = _required(request.incident_id, "incident_id", "the incident to show")
        view: IncidentView = await self._store.view(incident_id)
        return pb.GetIncidentResponse(
            incident=incident_message(view.row, view.page),
            timeline=[timeline.to_timeline(e) for e in view.entries],
            alerts=[alert_message(a) for a in view.alerts],
            deliveries=[
                pb.ChannelDeliveries(
                    channel=d["channel"],
                    delivered=d["delivered"],
                    failed=d["failed"],
                    dead_lettered=d["dead_lettered"],
                )
                for d in view.deliveries
            ],
        )

    async def GetAlert(self, request: pb.GetAlertRequest, context: Any) -> pb.GetAlertResponse:
        identifier = _required(request.identifier, "identifier", "the alert to show")
        row = await self._store.alert(identifier)
        channels = [dispatch.Channel.ValueType(c) for c in row["channels"]]
        shown = sent_renderings(stored_alert(row), channels, row["purpose"], json.loads(row["short_texts"]))
        return pb.GetAlertResponse(alert=alert_message(row), renderings=shown)

    async def ListIncidents(self, request: pb.ListIncidentsRequest, context: Any) -> pb.ListIncidentsResponse:
        if request.limit < 0 or request.limit > 500:
            raise InvalidArgument(FieldViolation("limit", "limit must be between 0 (default 50) and 500"))
        rows = await self._store.listing(request.open_only, request.limit or 50)
        incidents = []
        for row in rows:
            message = incident_message(row, None)
            if row["page_incident"] is not None:
                message.page_pending = row["page_next_due_at"] is not None
                message.escalation_level = row["page_level"]
                message.acknowledged_by = row["page_acknowledged_by"] or ""
            incidents.append(message)
        return pb.ListIncidentsResponse(incidents=incidents)

    async def WatchIncident(
        self, request: pb.WatchIncidentRequest, context: Any
    ) -> AsyncIterator[pb.WatchIncidentResponse]:
        incident_id = _required(request.incident_id, "incident_id", "the incident to watch")
        if request.after_sequence < 0:
            raise InvalidArgument(FieldViolation("after_sequence", "after_sequence cannot be negative"))
        await self._store.incident_row(incident_id)  # NOT_FOUND before the stream starts
        after = request.after_sequence
        with self._watch.stream_of(principal().subject):
            async with self._watch.subscribe(incident_id) as wakeup:
                while True:
                    entries = await self._store.entries_after(incident_id, after)
                    for entry in entries:
                        yield pb.WatchIncidentResponse(entry=timeline.to_timeline(entry))
                        after = entry.sequence
                    await wakeup.wait()

    async def GetCapFeed(self, request: pb.GetCapFeedRequest, context: Any) -> pb.GetCapFeedResponse:
        now = datetime.now(UTC)
        # Our alerts expire at most MAX_EXPIRES_HOURS after they are sent (updates and cancels keep the original's
        # expiry), so older ones can never be active: the feed never reads the whole history.
        alerts = await self._store.issued_alerts(now - timedelta(hours=MAX_EXPIRES_HOURS))
        xml = render_atom_feed(
            alerts,
            feed_id=f"{self._feed_url}/feed",
            title="서울특별시 재난 경보 (CAP 1.2)",
            self_url=f"{self._feed_url}/feed.atom",
            cap_url=lambda alert: f"{self._feed_url}/alerts/{alert.identifier}.xml",
            now=now,
        )
        return pb.GetCapFeedResponse(atom_xml=xml.decode(), entries=len(active_alerts(alerts, now)))


async def serve(proc: process.Process, chosen: settings.Api) -> None:
    pool = await proc.database(chosen.database_url, settings.SCHEMA, settings.MIGRATIONS)
    kafka = await proc.producer(chosen.kafka_bootstrap, "sotong-alerting-api")
    proc.outbox_relay(pool, kafka, settings.SCHEMA)
    server = Server.for_settings("alerting", POLICY, chosen)
    store = IncidentStore(pool, chosen.plan)
    alerts = AlertDesk(store, chosen.alerting_cap_sender, solo_drill=chosen.alerting_solo_drill_approvers)
    reader = CapReader()
    proc.on_stop("cap reader", _closing(reader))
    watch = TimelineWatch(pool)
    server.add(SERVICE, lambda s: pb_grpc.add_AlertingServiceServicer_to_server(
        AlertingService(store, alerts, chosen.alerting_feed_url, cap_senders=chosen.alerting_cap_senders,
                        reader=reader, watch=watch), s
    ))  # fmt: skip
    port = await proc.grpc(server)
    logs.get("alerting.api").info("alerting api serving", grpc_port=port)


def _closing(reader: CapReader) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        reader.close()  # the child process that reads CAP documents

    return close


def main() -> None:
    process.run("alerting-api", "alerting", settings.Api.load_or_exit(), serve)


if __name__ == "__main__":
    main()
