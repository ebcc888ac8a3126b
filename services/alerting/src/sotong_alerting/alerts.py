"""Alerts of an incident: drafted, approved by a second person, issued once, updated and cancelled by new alerts.

Every step runs in one transaction on the incident's log (`store.IncidentStore`): the alert row, its audit or
lifecycle entry, and, when issued, one DispatchRequested per channel. The checks that protect people from a bad
message (CAP validity, each channel's limit, the two-person rule) run before anything is stored.

Test and Exercise alerts (drills) follow the same steps and the same two-person rule (unless the drafter holds
the separately configured, audited own-drill permission), but they never move the incident: issuing one appends a
`drill-issued` audit entry instead of a stage transition, a drill's Update, Cancel or all-clear neither updates,
cancels nor ends the real incident nor stops its pages, and a drill's follow-ups go where earlier drills went,
never where the real alerts went. Which recipients a drill reaches is the publishing side's decision (the
dispatch's `exercise`).

The all-clear is what CAP tools send when the danger is over: an Update of the last issued alert whose info
blocks carry responseType AllClear (the channels then mark it [해제] / [ALL CLEAR]). It is drafted, approved by a
second person and issued like any alert, with publishing purpose `all_clear`; issued, it ends the incident
(stage all_clear, terminal) and stops its pages, as an issued Cancel does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import asyncpg

from sotong.alerting.v1 import alerting_dispatch_pb2 as api_channel
from sotong.alerting.v1 import alerting_service_pb2 as pb
from sotong.publishing.v1 import publishing_events_pb2 as dispatch
from sotong_alerting import publishing, timeline
from sotong_alerting.approval import (
    PERMISSION_APPROVE_OWN_DRILL,
    ApprovalRefused,
    Person,
    approve,
    derive_cancel,
    derive_update,
    duplicate_warnings,
    is_drill,
)
from sotong_alerting.cap import Alert, Info, MsgType, ResponseType, render_cap, validate_alert
from sotong_alerting.channels import check_channels, render
from sotong_alerting.drafting import REQUIRED_LANGUAGES, Draft, Problem, compose, replaced_texts
from sotong_alerting.incident import Incident, IncidentEvent, Stage
from sotong_alerting.store import IncidentStore, refused_by_lifecycle, stored_alert
from sotong_common import database, logs
from sotong_common.auth import same_subject
from sotong_common.errors import FailedPrecondition, FieldViolation, InvalidArgument, NotFound, PermissionDenied

RECENT = timedelta(hours=24)


def _invalid(problems: Sequence[Problem]) -> InvalidArgument:
    return InvalidArgument([FieldViolation(p.field, p.description) for p in problems])


def cancel_texts(original: Alert) -> dict[str, str]:
    """Short texts of a cancellation (SMS, cell broadcast): which message is withdrawn, in each language."""
    found = {}
    for info in original.infos:
        language = info.language.split("-")[0].lower()
        headline = info.headline or info.event
        found[language] = f"{headline} 안내를 취소합니다." if language == "ko" else f"Withdrawn: {headline}."
    return found


def all_clear_infos(infos: Sequence[Info]) -> tuple[Info, ...]:
    """The info blocks of an all-clear: the same event and area, whose only response is AllClear (CAP 1.2: the
    subject event no longer poses a threat; the earlier Shelter or Evacuate no longer applies)."""
    return tuple(replace(info, response_types=(ResponseType.ALL_CLEAR,)) for info in infos)


def restarted(infos: Sequence[Info], at: datetime) -> tuple[Info, ...]:
    """An update's info blocks in force from `at` for as long as the original was: a late update of a 6-hour
    warning is a new 6-hour warning, not one that expired before it was sent."""
    return tuple(
        replace(info, effective=at, expires=at + (info.expires - info.effective))
        if info.effective is not None and info.expires is not None
        else info
        for info in infos
    )


@dataclass(frozen=True)
class Drafted:
    row: asyncpg.Record
    renderings: list[pb.ChannelRendering]
    warnings: list[pb.DuplicateAlertWarning]


@dataclass(frozen=True)
class Previewed:
    purpose: str
    renderings: list[pb.ChannelRendering]
    problems: list[Problem]
    warnings: list[pb.DuplicateAlertWarning]


PLACEHOLDER = "…"
"""Stands for words the drafter has not written yet, so a preview measures the rest while they type."""


def with_placeholders(request: pb.DraftAlertRequest) -> pb.DraftAlertRequest:
    """The request with every missing word (and language) replaced by PLACEHOLDER, missing CAP codes by Unknown."""
    filled = pb.DraftAlertRequest()
    filled.CopyFrom(request)
    given = {text.language.strip().lower() for text in filled.texts}
    filled.texts.extend(pb.AlertText(language=language) for language in REQUIRED_LANGUAGES if language not in given)
    for text in filled.texts:
        for name in ("event", "headline", "description", "instruction"):
            if not getattr(text, name).strip():
                setattr(text, name, PLACEHOLDER)
    for name in ("severity", "urgency", "certainty"):
        if not getattr(filled, name).strip():
            setattr(filled, name, "Unknown")
    return filled


def measured(
    alert: Alert, channels: Sequence[dispatch.Channel.ValueType], short_texts: dict[str, str]
) -> list[pb.ChannelRendering]:
    """Every limit rule of every channel, per language: the text, its measure and how it breaks the rule."""
    overrides = publishing.overrides_of(short_texts)
    shown = []
    for channel in channels:
        for rule in publishing.CHECKED[channel]:
            for language in publishing.LANGUAGES:
                rendered = render(alert, rule, language, text=overrides.get((rule, language)))
                shown.append(
                    pb.ChannelRendering(
                        channel=api_channel.Channel.ValueType(channel),
                        language=language,
                        title=rendered.title or "",
                        text=rendered.text,
                        measure=rendered.summary() if rendered.limit else "",
                        rule=rule.value,
                        violations=[f"{v.part}: {v.message}" for v in rendered.violations],
                    )
                )
    return shown


def sent_renderings(
    alert: Alert, channels: Sequence[dispatch.Channel.ValueType], purpose: str, short_texts: dict[str, str]
) -> list[pb.ChannelRendering]:
    """What each channel's dispatch carries, per language (`publishing.renderings`, the engine's input)."""
    shown = []
    for channel in channels:
        for rendering in publishing.renderings(alert, channel, purpose, short_texts):
            shown.append(
                pb.ChannelRendering(
                    channel=api_channel.Channel.ValueType(channel),
                    language=rendering.language,
                    title=rendering.title,
                    text=rendering.body,
                    rule=publishing.CHECKED[channel][0].value,
                )
            )
    return shown


class AlertDesk:
    """`solo_drill`: subjects granted PERMISSION_APPROVE_OWN_DRILL (settings: ALERTING_SOLO_DRILL_APPROVERS)."""

    def __init__(
        self, log: IncidentStore, sender: str = "alert@seoul.go.kr", *, solo_drill: frozenset[str] = frozenset()
    ) -> None:
        self._log = log
        self._sender = sender
        self._solo_drill = solo_drill
        self._audit_log = logs.get("alerting.alerts")

    async def _recent_alerts(self, conn: database.Connection, now: datetime) -> list[Alert]:
        rows = await conn.fetch("SELECT cap_xml, identifier FROM alerts WHERE issued_at >= $1", now - RECENT)
        return [stored_alert(row) for row in rows]

    async def _next_identifier(self, conn: database.Connection, incident_id: str) -> str:
        count = await conn.fetchval("SELECT count(*) FROM alerts WHERE incident_id = $1", incident_id)
        return f"{incident_id}-A{count + 1}"

    def _check(
        self, alert: Alert, channels: Sequence[dispatch.Channel.ValueType], short_texts: dict[str, str]
    ) -> list[pb.ChannelRendering]:
        """Per-channel renderings, or INVALID_ARGUMENT naming each limit the text breaks."""
        problems = [Problem("cap", str(p)) for p in validate_alert(alert)]
        overrides = publishing.overrides_of(short_texts)
        rules = publishing.checked_channels(channels)
        for language in publishing.LANGUAGES:
            for violation in check_channels(alert, rules, (language,), overrides):
                problems.append(Problem(f"texts[{language}]", str(violation)))
        if problems:
            raise _invalid(problems)
        shown = []
        for channel in channels:
            for rendering in publishing.renderings(alert, channel, "", short_texts):
                shown.append(
                    pb.ChannelRendering(
                        channel=api_channel.Channel.ValueType(channel),  # the same numbers in both contracts
                        language=rendering.language,
                        title=rendering.title,
                        text=rendering.body,
                    )
                )
        return shown

    async def _insert_alert(
        self,
        conn: database.Connection,
        *,
        alert: Alert,
        incident: Incident,
        row: asyncpg.Record,
        purpose: str,
        short_texts: dict[str, str],
        area_codes: Sequence[str],
        channels: Sequence[dispatch.Channel.ValueType],
        references: str | None,
        actor: str,
        at: datetime,
    ) -> asyncpg.Record:
        stored = await conn.fetchrow(
            "INSERT INTO alerts (identifier, incident_id, purpose, state, msg_type, status, cap_xml, short_texts,"
            " area_codes, channels, references_identifier, drafted_by, drafted_at)"
            " VALUES ($1, $2, $3, 'drafted', $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12) RETURNING *",
            alert.identifier,
            incident.incident_id,
            purpose,
            alert.msg_type.value,
            alert.status.value,
            render_cap(alert).decode(),
            json.dumps(short_texts, ensure_ascii=False),
            list(area_codes),
            [int(c) for c in channels],
            references,
            actor,
            at,
        )
        entry = timeline.audit(
            incident.incident_id,
            timeline.ALERT_DRAFTED,
            actor,
            max(at, incident.last_change),
            alert_identifier=alert.identifier,
            channels=[dispatch.Channel.Name(c) for c in channels],
            detail=f"{purpose} {alert.status.value} {alert.msg_type.value}",
        )
        await self._log.append(conn, incident, row, [entry])
        assert stored is not None
        return stored

    def _warnings(self, alert: Alert, recent: list[Alert]) -> list[pb.DuplicateAlertWarning]:
        return [
            pb.DuplicateAlertWarning(other_identifier=w.other.identifier, message=w.message)
            for w in duplicate_warnings(alert, recent)
        ]

    async def draft(self, request: pb.DraftAlertRequest, actor: str) -> Drafted:
        """Compose the alert for the incident's next stage; refused when invalid or over a channel's limit."""
        at = datetime.now(UTC).replace(microsecond=0)
        async with self._log.pool.acquire() as conn, conn.transaction():
            row = await self._log.locked(conn, request.incident_id)
            incident = await self._log.aggregate(conn, request.incident_id)
            purpose = {Stage.STAGE_0: publishing.STAGE1, Stage.STAGE_1: publishing.STAGE2}.get(incident.stage)
            if purpose is None:
                hint = (
                    "confirm it first (ConfirmIncident)"
                    if incident.stage is Stage.REPORTED
                    else "use UpdateAlert or CancelAlert"
                )
                raise FailedPrecondition(
                    f"incident {incident.incident_id} is {incident.stage.value}; a new alert is drafted at stage_0 "
                    f"(first message) or stage_1 (second message); {hint}"
                )
            identifier = await self._next_identifier(conn, incident.incident_id)
            composed = compose(
                request,
                identifier=identifier,
                sender=self._sender,
                incident_id=incident.incident_id,
                incident_area=incident.area_codes,
                at=at,
            )
            if isinstance(composed, list):
                raise _invalid(composed)
            channels = publishing.channels_for(purpose)
            shown = self._check(composed.alert, channels, composed.short_texts)
            warnings = self._warnings(composed.alert, await self._recent_alerts(conn, at))
            area_codes = list(request.area_codes) or list(incident.area_codes)
            stored = await self._insert_alert(
                conn,
                alert=composed.alert,
                incident=incident,
                row=row,
                purpose=purpose,
                short_texts=composed.short_texts,
                area_codes=area_codes,
                channels=channels,
                references=None,
                actor=actor,
                at=at,
            )
        return Drafted(stored, shown, warnings)

    async def preview(self, request: pb.DraftAlertRequest) -> Previewed:
        """What `draft` would compose and refuse, stored nowhere: read as the drafter types."""
        at = datetime.now(UTC).replace(microsecond=0)
        async with self._log.pool.acquire() as conn:
            await self._log.incident_row(request.incident_id)  # NOT_FOUND for an unknown incident
            incident = await self._log.aggregate(conn, request.incident_id)
            purpose = {Stage.STAGE_0: publishing.STAGE1, Stage.STAGE_1: publishing.STAGE2}.get(incident.stage)
            if purpose is None:
                raise FailedPrecondition(
                    f"incident {incident.incident_id} is {incident.stage.value}; a new alert is drafted at stage_0 "
                    "(first message) or stage_1 (second message)"
                )
            identifier = await self._next_identifier(conn, incident.incident_id)
            recent = await self._recent_alerts(conn, at)

        def composed_from(request: pb.DraftAlertRequest) -> Draft | list[Problem]:
            return compose(
                request,
                identifier=identifier,
                sender=self._sender,
                incident_id=incident.incident_id,
                incident_area=incident.area_codes,
                at=at,
            )

        problems: list[Problem] = []
        composed = composed_from(request)
        if isinstance(composed, list):
            problems = composed
            composed = composed_from(with_placeholders(request))
            if isinstance(composed, list):  # not only missing words (a bad district code): nothing to measure
                return Previewed(purpose, [], problems, [])
        channels = publishing.channels_for(purpose)
        if not problems:
            problems = [Problem("cap", str(p)) for p in validate_alert(composed.alert)]
            overrides = publishing.overrides_of(composed.short_texts)
            rules = publishing.checked_channels(channels)
            for language in publishing.LANGUAGES:
                for violation in check_channels(composed.alert, rules, (language,), overrides):
                    problems.append(Problem(f"texts[{language}]", str(violation)))
        return Previewed(
            purpose,
            measured(composed.alert, channels, composed.short_texts),
            problems,
            self._warnings(composed.alert, recent),
        )

    async def _issued_alert(self, conn: database.Connection, identifier: str) -> asyncpg.Record:
        row = await conn.fetchrow("SELECT * FROM alerts WHERE identifier = $1", identifier)
        if row is None:
            raise NotFound(f"no alert {identifier}")
        if row["state"] != "issued":
            raise FailedPrecondition(
                f"alert {identifier} is {row['state']}; only an issued alert can be updated or cancelled"
            )
        return row

    async def _issued_channels(
        self, conn: database.Connection, incident_id: str, *, drill: bool
    ) -> list[dispatch.Channel.ValueType]:
        """Channels the incident's issued alerts went to: its drills' for a drill, its real alerts' otherwise."""
        rows = await conn.fetch(
            "SELECT channels FROM alerts WHERE incident_id = $1 AND state = 'issued' AND (status = 'Actual') = $2"
            " ORDER BY issued_at",
            incident_id,
            not drill,
        )
        return [dispatch.Channel.ValueType(c) for r in rows for c in r["channels"]]

    async def draft_update(
        self, references: str, texts: Sequence[pb.AlertText], reason: str, actor: str, *, all_clear: bool = False
    ) -> Drafted:
        """An Update of an issued alert, as a new drafted alert referencing it (approved and issued like any).

        With `all_clear` it is the all-clear: responseType AllClear, purpose `all_clear`, and no hand-written short
        text of the original (it announced the danger; the composed text carries the [해제] marker instead).
        """
        if not references.strip():
            what = "the all-clear" if all_clear else "an Update"
            raise InvalidArgument(
                FieldViolation("references", f"{what} must name the issued alert it updates (CAP <references>)")
            )
        at = datetime.now(UTC).replace(microsecond=0)
        async with self._log.pool.acquire() as conn, conn.transaction():
            original_row = await self._issued_alert(conn, references)
            row = await self._log.locked(conn, original_row["incident_id"])
            incident = await self._log.aggregate(conn, row["incident_id"])
            original = stored_alert(original_row)
            drill = is_drill(original)
            if incident.stage.terminal or (
                not drill and incident.stage not in {Stage.STAGE_1, Stage.STAGE_2, Stage.UPDATING}
            ):
                action = "declared all clear" if all_clear else "updated"
                raise FailedPrecondition(
                    f"incident {incident.incident_id} is {incident.stage.value}; it cannot be {action} "
                    "(only at stage_1, stage_2 or updating)"
                )
            infos, shorts, problems = replaced_texts(original, texts)
            if problems:
                raise _invalid(problems)
            identifier = await self._next_identifier(conn, incident.incident_id)
            infos = restarted(infos, at)
            purpose = publishing.UPDATE
            if all_clear:
                infos, purpose = all_clear_infos(infos), publishing.ALL_CLEAR
            alert = derive_update(original, identifier=identifier, sent=at, infos=infos, note=reason or None)
            channels = publishing.channels_for(
                purpose, await self._issued_channels(conn, incident.incident_id, drill=drill)
            )
            if not all_clear:
                shorts = shorts or json.loads(original_row["short_texts"])
            shown = self._check(alert, channels, shorts)
            stored = await self._insert_alert(
                conn,
                alert=alert,
                incident=incident,
                row=row,
                purpose=purpose,
                short_texts=shorts,
                area_codes=list(original_row["area_codes"]),
                channels=channels,
                references=references,
                actor=actor,
                at=at,
            )
        return Drafted(stored, shown, [])

    async def cancel(self, incident_id: str, references: str, reason: str, actor: str) -> asyncpg.Record | None:
        """Cancel: directly when no official message went out, else a drafted Cancel alert (None when direct)."""
        if not reason.strip():
            raise InvalidArgument(FieldViolation("reason", "a cancellation needs a reason"))
        at = datetime.now(UTC).replace(microsecond=0)
        async with self._log.pool.acquire() as conn, conn.transaction():
            row = await self._log.locked(conn, incident_id)
            incident = await self._log.aggregate(conn, incident_id)
            if not references.strip():
                if incident.alert_identifiers:
                    raise InvalidArgument(
                        FieldViolation(
                            "references",
                            f"incident {incident_id} issued {', '.join(incident.alert_identifiers)}; name the alert "
                            "to cancel so the Cancel alert references it",
                        )
                    )
                with refused_by_lifecycle():
                    decided = incident.cancel(actor=actor, at=max(at, incident.last_change), reason=reason)
                await self._log.append(conn, incident, row, [timeline.from_event(e) for e in decided])
                await conn.execute("UPDATE pages SET next_due_at = NULL WHERE incident_id = $1", incident_id)
                return None
            original_row = await self._issued_alert(conn, references)
            if original_row["incident_id"] != incident_id:
                raise InvalidArgument(
                    FieldViolation("references", f"alert {references} is not an alert of {incident_id}")
                )
            if incident.stage.terminal:
                raise FailedPrecondition(f"incident {incident_id} is already {incident.stage.value}")
            original = stored_alert(original_row)
            identifier = await self._next_identifier(conn, incident_id)
            alert = derive_cancel(original, identifier=identifier, sent=at, note=reason)
            issued = await self._issued_channels(conn, incident_id, drill=is_drill(original))
            channels = publishing.channels_for(publishing.CANCEL, issued)
            shorts = cancel_texts(original)
            self._check(alert, channels, shorts)
            return await self._insert_alert(
                conn,
                alert=alert,
                incident=incident,
                row=row,
                purpose=publishing.CANCEL,
                short_texts=shorts,
                area_codes=list(original_row["area_codes"]),
                channels=channels,
                references=references,
                actor=actor,
                at=at,
            )

    async def approve(self, identifier: str, approver: Person) -> tuple[asyncpg.Record, list[pb.DuplicateAlertWarning]]:
        """The two-person rule, enforced here: the approver is the caller, never the drafter of an Actual alert."""
        now = datetime.now(UTC)
        async with self._log.pool.acquire() as conn, conn.transaction():
            found = await conn.fetchrow("SELECT * FROM alerts WHERE identifier = $1 FOR UPDATE", identifier)
            if found is None:
                raise NotFound(f"no alert {identifier}")
            if found["state"] != "drafted":
                if same_subject(found["approved_by"] or "", approver.id):
                    return found, []
                raise FailedPrecondition(
                    f"alert {identifier} was already approved by {found['approved_by']} and never changes"
                )
            row = await self._log.locked(conn, found["incident_id"])
            alert = stored_alert(found)
            approved_rows = await conn.fetch(
                "SELECT * FROM alerts WHERE incident_id = $1 AND approved_at IS NOT NULL", found["incident_id"]
            )
            approved_alerts = {r["identifier"]: stored_alert(r) for r in approved_rows}
            if any(same_subject(approver.id, subject) for subject in self._solo_drill):
                approver = replace(approver, grants=approver.grants | {PERMISSION_APPROVE_OWN_DRILL})
            try:
                approval = approve(alert, Person(found["drafted_by"]), approver, now, approved=approved_alerts)
            except ApprovalRefused as refused:
                if any("second person" in r or "may not approve" in r for r in refused.reasons):
                    raise PermissionDenied(str(refused)) from None
                raise FailedPrecondition(str(refused)) from None
            updated = await conn.fetchrow(
                "UPDATE alerts SET state = 'approved', approved_by = $2, approved_at = $3 WHERE identifier = $1"
                " RETURNING *",
                identifier,
                approver.id,
                now,
            )
            incident = await self._log.aggregate(conn, found["incident_id"])
            detail = f"drafted by {found['drafted_by']}"
            if approval.own_drill:
                detail += f"; approved by its drafter under {PERMISSION_APPROVE_OWN_DRILL}"
                self._audit_log.warning(
                    "drill approved by its drafter", identifier=identifier, approver=approver.id, status=alert.status
                )
            entry = timeline.audit(
                incident.incident_id,
                timeline.ALERT_APPROVED,
                approver.id,
                max(now, incident.last_change),
                alert_identifier=identifier,
                detail=detail,
                permission=PERMISSION_APPROVE_OWN_DRILL if approval.own_drill else "",
            )
            await self._log.append(conn, incident, row, [entry])
            warnings = self._warnings(alert, await self._recent_alerts(conn, now))
        assert updated is not None
        return updated, warnings

    def _dispatches(self, alert_row: asyncpg.Record, alert: Alert, at: datetime) -> list[dispatch.DispatchRequested]:
        return publishing.alert_dispatches(
            alert,
            alert_row["incident_id"],
            alert_row["purpose"],
            [dispatch.Channel.ValueType(c) for c in alert_row["channels"]],
            list(alert_row["area_codes"]),
            json.loads(alert_row["short_texts"]),
            self._log.plan,
            at,
        )

    async def issue(self, identifier: str, actor: str) -> tuple[asyncpg.Record, list[str]]:
        """Publish an approved alert: the lifecycle move (a drill: an audit entry) and one dispatch per channel."""
        now = datetime.now(UTC)
        async with self._log.pool.acquire() as conn, conn.transaction():
            found = await conn.fetchrow("SELECT * FROM alerts WHERE identifier = $1 FOR UPDATE", identifier)
            if found is None:
                raise NotFound(f"no alert {identifier}")
            alert = stored_alert(found)
            if found["state"] == "issued":
                ids = [d.dispatch_id for d in self._dispatches(found, alert, found["issued_at"])]
                return found, ids
            if found["state"] != "approved":
                raise FailedPrecondition(
                    f"alert {identifier} is {found['state']}; it must be approved by a second person first"
                )
            row = await self._log.locked(conn, found["incident_id"])
            incident = await self._log.aggregate(conn, found["incident_id"])
            at = max(now, incident.last_change)
            names = [dispatch.Channel.Name(c) for c in found["channels"]]
            purpose = found["purpose"]
            if is_drill(alert):
                # A drill is on the timeline, but it is not a stage: the real incident stays where it is.
                drill_entry = timeline.audit(
                    incident.incident_id,
                    timeline.DRILL_ISSUED,
                    actor,
                    at,
                    alert_identifier=identifier,
                    channels=names,
                    detail=f"{alert.status.value} {alert.msg_type.value} ({purpose}) issued; the incident's stage "
                    f"is unchanged",
                )
                await self._log.append(conn, incident, row, [drill_entry])
            else:
                decided = self._lifecycle(incident, purpose, alert, identifier, actor, at, names)
                await self._log.append(conn, incident, row, [timeline.from_event(e) for e in decided])
            requested = self._dispatches(found, alert, now)
            for message in requested:
                await self._log.request_dispatch(conn, message)
            if (alert.msg_type is MsgType.CANCEL or purpose == publishing.ALL_CLEAR) and not is_drill(alert):
                await conn.execute("UPDATE pages SET next_due_at = NULL WHERE incident_id = $1", incident.incident_id)
            updated = await conn.fetchrow(
                "UPDATE alerts SET state = 'issued', issued_by = $2, issued_at = $3 WHERE identifier = $1 RETURNING *",
                identifier,
                actor,
                now,
            )
        assert updated is not None
        return updated, [m.dispatch_id for m in requested]

    @staticmethod
    def _lifecycle(
        incident: Incident, purpose: str, alert: Alert, identifier: str, actor: str, at: datetime, names: list[str]
    ) -> tuple[IncidentEvent, ...]:
        """The stage transition a real alert makes when it is issued."""
        with refused_by_lifecycle():
            if purpose == publishing.STAGE1:
                return incident.issue_first_message(actor=actor, at=at, alert_identifier=identifier, channels=names)
            if purpose == publishing.STAGE2:
                return incident.issue_second_message(actor=actor, at=at, alert_identifier=identifier, channels=names)
            if purpose == publishing.UPDATE:
                return incident.issue_update(actor=actor, at=at, alert_identifier=identifier, reason=alert.note or "")
            if purpose == publishing.ALL_CLEAR:
                return incident.declare_all_clear(actor=actor, at=at, alert_identifier=identifier)
            return incident.cancel(actor=actor, at=at, reason=alert.note or "cancelled", alert_identifier=identifier)
