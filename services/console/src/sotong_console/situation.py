"""The situation room: open incidents, one incident's live timeline and deliveries, drafting, approving, issuing.

The two-person rule is the alerting service's (the approver is the caller's token; a drafter approving their own
Actual alert is refused there, and so is anyone without the approver role). The console makes it visible: the
drafter sees that someone else must approve and gets no approve button; the approver sees exactly the texts each
channel will send (GetAlert's renderings) next to the button.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from sotong.alerting.v1 import alerting_dispatch_pb2 as channels_pb
from sotong.alerting.v1 import alerting_service_pb2 as pb
from sotong_console import live
from sotong_console.gateway import Refused
from sotong_console.seoulmap import seoul
from sotong_console.web import console_of, language_of, render, require, text_of

STAFF = ("operator", "approver", "dept_admin")
DRAFTERS = ("operator", "approver")
LANGUAGES = ("ko", "en")
TEXT_FIELDS = ("event", "headline", "description", "instruction", "short_text")
UPDATE_FIELDS = ("headline", "description", "instruction", "short_text")
"""What an update may change; a field left empty keeps the updated alert's words (the service's rule)."""
STATUSES = ("Actual", "Exercise", "Test")
SEVERITIES = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
URGENCIES = ("Immediate", "Expected", "Future", "Past", "Unknown")
CERTAINTIES = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
CATEGORIES = (
    "Met",
    "Geo",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
)
HAZARDS = ("호우", "태풍", "대설", "폭염", "한파", "지진", "화재", "산사태", "정전", "감염병", "미세먼지")
NEXT_PURPOSE = {"stage_0": "stage1", "stage_1": "stage2"}
CLEARABLE_STAGES = frozenset({"stage_1", "stage_2", "updating"})
"""Where the all-clear is offered: after an official message, before the incident ended."""


def channel_name(value: int) -> str:
    return channels_pb.Channel.Name(value) if value in channels_pb.Channel.values() else str(value)  # type: ignore[arg-type]


def draft_request(form: Any, incident_id: str) -> pb.DraftAlertRequest:
    """The DraftAlert request a drafting form describes (ko first, then en: texts[0] is Korean)."""
    texts = [
        pb.AlertText(language=language, **{name: text_of(form, f"{language}_{name}") for name in TEXT_FIELDS})
        for language in LANGUAGES
    ]
    hours = text_of(form, "expires_hours", 4)
    return pb.DraftAlertRequest(
        incident_id=incident_id,
        texts=texts,
        severity=text_of(form, "severity", 20),
        urgency=text_of(form, "urgency", 20),
        certainty=text_of(form, "certainty", 20),
        category=text_of(form, "category", 20),
        status=text_of(form, "status", 20) or "Actual",
        expires_hours=int(hours) if hours.isdigit() else 0,
        web=text_of(form, "web", 500),
        area_codes=[code for code in form.getall("area", []) if isinstance(code, str)],
    )


def form_field(violation_field: str) -> str:
    """The form input a DraftAlert field violation names: texts[0].headline is ko_headline."""
    if violation_field.startswith("texts[") and "]." in violation_field:
        index, _, name = violation_field[len("texts[") :].partition("].")
        language = {"0": "ko", "1": "en"}.get(index, index)
        return f"{language}_{name}"
    return violation_field


def _drill(status: str) -> bool:
    return status in {"Exercise", "Test"}


# --- the list -------------------------------------------------------------------------------------------------


async def _incidents(request: web.Request, open_only: bool) -> list[pb.Incident]:
    console = console_of(request)
    session = require(request, *STAFF)
    listed = await console.gateway.call(
        session.token, console.gateway.alerting.ListIncidents, pb.ListIncidentsRequest(open_only=open_only, limit=100)
    )
    return list(listed.incidents)


def _district_counts(incidents: list[pb.Incident]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for incident in incidents:
        if incident.stage in {"all_clear", "cancelled"}:
            continue
        for code in incident.area_codes:
            counts[code] = counts.get(code, 0) + 1
    return counts


AWAITING_LOOKUPS = 20
"""Open incidents whose alerts are read for the approvers' list (the newest first; more is a city on fire)."""


async def _awaiting(request: web.Request, incidents: list[pb.Incident]) -> list[tuple[pb.Incident, pb.AlertRecord]]:
    """What waits for this approver: drafted alerts of open incidents that someone else drafted (or drills).

    The list is the approver's, on their own screen and live: nobody is sent a notice per draft, and an alert
    approved by a colleague leaves everyone's list at once.
    """
    session = require(request, *STAFF)
    if not session.may("approver"):
        return []
    console = console_of(request)
    open_ones = [i for i in incidents if i.stage not in {"all_clear", "cancelled"}][:AWAITING_LOOKUPS]

    async def alerts_of(incident: pb.Incident) -> list[tuple[pb.Incident, pb.AlertRecord]]:
        shown = await console.gateway.call(
            session.token,
            console.gateway.alerting.GetIncident,
            pb.GetIncidentRequest(incident_id=incident.incident_id),
        )
        return [
            (incident, alert)
            for alert in shown.alerts
            if alert.state == "drafted" and (alert.drafted_by != session.subject or _drill(alert.status))
        ]

    found = await asyncio.gather(*(alerts_of(incident) for incident in open_ones))
    return [pair for pairs in found for pair in pairs]


async def incidents_page(request: web.Request) -> web.StreamResponse:
    open_only = request.query.get("all") != "1"
    incidents = await _incidents(request, open_only)
    return render(
        request,
        "incidents.html",
        awaiting=await _awaiting(request, incidents),
        drill=_drill,
        incidents=incidents,
        open_only=open_only,
        counts=_district_counts(incidents),
        hazards=HAZARDS,
        request_id=secrets.token_urlsafe(12),
        districts=seoul().districts,
    )


async def incidents_live(request: web.Request) -> web.StreamResponse:
    session = require(request, *STAFF)
    console = console_of(request)
    open_only = request.query.get("all") != "1"

    async def rows() -> str:
        incidents = await _incidents(request, open_only)
        language = language_of(request)
        return console.pages.render("_incident_rows.html", language, incidents=incidents)

    async def awaiting() -> str:
        pairs = await _awaiting(request, await _incidents(request, True))
        return console.pages.render("_awaiting.html", language_of(request), awaiting=pairs, drill=_drill)

    sources = [live.polled("incidents", rows, console.settings.console_refresh_s)]
    if session.may("approver"):
        sources.append(live.polled("awaiting", awaiting, console.settings.console_refresh_s))
    return await live.serve(
        request,
        session,
        console.live.closing,
        sources,
        console.pages.render("_signed_out.html", language_of(request)),
    )


async def report_incident(request: web.Request) -> web.StreamResponse:
    session = require(request, "operator", "approver")
    console = console_of(request)
    form = await request.post()
    request_id = text_of(form, "request_id", 64)
    try:
        reported = await console.gateway.call(
            session.token,
            console.gateway.alerting.ReportIncident,
            pb.ReportIncidentRequest(
                hazard=text_of(form, "hazard", 50),
                area_codes=[c for c in form.getall("area", []) if isinstance(c, str)],
                summary=text_of(form, "summary", 2000),
                # the form's own key: a double click or a retried POST reports the incident once
                request_id=f"console-{request_id}" if request_id else "",
            ),
        )
    except Refused as refused:
        incidents = await _incidents(request, True)
        return render(
            request,
            "incidents.html",
            status=400,
            incidents=incidents,
            open_only=True,
            counts=_district_counts(incidents),
            hazards=HAZARDS,
            request_id=request_id,
            districts=seoul().districts,
            awaiting=[],
            drill=_drill,
            refused=refused,
            form=form,
        )
    raise web.HTTPSeeOther(f"/incidents/{reported.incident.incident_id}")


# --- one incident ---------------------------------------------------------------------------------------------


async def _incident(request: web.Request, incident_id: str) -> pb.GetIncidentResponse:
    console = console_of(request)
    session = require(request, *STAFF)
    return await console.gateway.call(
        session.token, console.gateway.alerting.GetIncident, pb.GetIncidentRequest(incident_id=incident_id)
    )


def _panel_context(shown: pb.GetIncidentResponse) -> dict[str, Any]:
    alerts = list(shown.alerts)
    issued = [a for a in alerts if a.state == "issued" and a.msg_type != "Cancel"]
    return {
        "incident": shown.incident,
        "alerts": alerts,
        "deliveries": list(shown.deliveries),
        "channel_name": channel_name,
        "next_purpose": NEXT_PURPOSE.get(shown.incident.stage, ""),
        "cancellable": issued,
        # The all-clear ends a real incident that has spoken officially (the alerting service refuses it elsewhere).
        "clearable": issued if shown.incident.stage in CLEARABLE_STAGES else [],
        "terminal": shown.incident.stage in {"all_clear", "cancelled"},
        "drill": _drill,
    }


async def incident_page(request: web.Request) -> web.StreamResponse:
    incident_id = request.match_info["incident_id"]
    shown = await _incident(request, incident_id)
    entries = list(shown.timeline)
    return render(
        request,
        "incident.html",
        entries=entries,
        after=entries[-1].sequence if entries else 0,
        **_panel_context(shown),
    )


async def incident_live(request: web.Request) -> web.StreamResponse:
    """The timeline's new entries (WatchIncident) and the panel (stage, page, alerts, deliveries) when it changes."""
    session = require(request, *STAFF)
    console = console_of(request)
    incident_id = request.match_info["incident_id"]
    language = language_of(request)
    resume = request.headers.get("Last-Event-ID") or request.query.get("after", "0")
    after = int(resume) if resume.isdigit() else 0

    async def entries() -> AsyncIterator[tuple[str, str]]:
        watch = pb.WatchIncidentRequest(incident_id=incident_id, after_sequence=after)
        async for item in console.gateway.stream(session.token, console.gateway.alerting.WatchIncident, watch):
            html = console.pages.render("_timeline_entry.html", language, entry=item.entry, seoul=seoul)
            yield str(item.entry.sequence), html

    async def panel() -> str:
        shown = await console.gateway.call(
            session.token, console.gateway.alerting.GetIncident, pb.GetIncidentRequest(incident_id=incident_id)
        )
        return console.pages.render(
            "_incident_panel.html", language, session=session, csrf=session.csrf, **_panel_context(shown)
        )

    return await live.serve(
        request,
        session,
        console.live.closing,
        [live.streamed("entry", entries), live.polled("panel", panel, console.settings.console_refresh_s)],
        console.pages.render("_signed_out.html", language),
    )


async def acknowledge(request: web.Request) -> web.StreamResponse:
    session = require(request, *STAFF)
    console = console_of(request)
    incident_id = request.match_info["incident_id"]
    await console.gateway.call(
        session.token, console.gateway.alerting.Acknowledge, pb.AcknowledgeRequest(incident_id=incident_id)
    )
    raise web.HTTPSeeOther(f"/incidents/{incident_id}")


async def cancel(request: web.Request) -> web.StreamResponse:
    session = require(request, *DRAFTERS)
    console = console_of(request)
    incident_id = request.match_info["incident_id"]
    form = await request.post()
    cancelled = await console.gateway.call(
        session.token,
        console.gateway.alerting.CancelAlert,
        pb.CancelAlertRequest(
            incident_id=incident_id, references=text_of(form, "references", 200), reason=text_of(form, "reason", 2000)
        ),
    )
    if cancelled.alert.identifier:
        raise web.HTTPSeeOther(f"/alerts/{cancelled.alert.identifier}")
    raise web.HTTPSeeOther(f"/incidents/{incident_id}")


async def all_clear(request: web.Request) -> web.StreamResponse:
    """Draft the all-clear (an Update with responseType AllClear); a second person approves it on its alert page."""
    session = require(request, *DRAFTERS)
    console = console_of(request)
    form = await request.post()  # the alert named decides the incident (the service checks it is issued)
    drafted = await console.gateway.call(
        session.token,
        console.gateway.alerting.UpdateAlert,
        pb.UpdateAlertRequest(
            references=text_of(form, "references", 200),
            reason=text_of(form, "reason", 2000),
            texts=[
                pb.AlertText(language=language, instruction=text_of(form, f"{language}_instruction", 2000))
                for language in LANGUAGES
                if text_of(form, f"{language}_instruction", 2000)
            ],
            all_clear=True,
        ),
    )
    raise web.HTTPSeeOther(f"/alerts/{drafted.alert.identifier}")


# --- drafting -------------------------------------------------------------------------------------------------


def _draft_context(shown: pb.GetIncidentResponse, form: Any | None) -> dict[str, Any]:
    values: dict[str, str] = {}
    if form is not None:
        values = {key: value for key, value in form.items() if isinstance(value, str)}
    else:
        values = {"ko_event": shown.incident.hazard, "severity": "Severe", "urgency": "Immediate"}
        values |= {"certainty": "Observed", "category": "Met", "status": "Actual", "expires_hours": "6"}
    areas = [c for c in form.getall("area", []) if isinstance(c, str)] if form is not None else []
    return {
        "incident": shown.incident,
        "values": values,
        "areas": areas or list(shown.incident.area_codes),
        "statuses": STATUSES,
        "severities": SEVERITIES,
        "urgencies": URGENCIES,
        "certainties": CERTAINTIES,
        "categories": CATEGORIES,
        "districts": seoul().districts,
        "text_fields": TEXT_FIELDS,
        "purpose": NEXT_PURPOSE.get(shown.incident.stage, ""),
    }


async def draft_page(request: web.Request) -> web.StreamResponse:
    require(request, *DRAFTERS)
    shown = await _incident(request, request.match_info["incident_id"])
    return render(request, "draft.html", problems={}, refused=None, **_draft_context(shown, None))


async def preview(request: web.Request) -> web.StreamResponse:
    """PreviewAlert as the drafter types: every channel's text with its measure, and what DraftAlert would refuse."""
    session = require(request, *DRAFTERS)
    console = console_of(request)
    form = await request.post()
    request_ = draft_request(form, request.match_info["incident_id"])
    try:
        previewed = await console.gateway.call(
            session.token, console.gateway.alerting.PreviewAlert, pb.PreviewAlertRequest(draft=request_)
        )
    except Refused as refused:
        return render(request, "_preview.html", previewed=None, refused=refused, channel_name=channel_name, drill=False)
    return render(
        request,
        "_preview.html",
        previewed=previewed,
        refused=None,
        channel_name=channel_name,
        drill=_drill(request_.status),
    )


async def draft(request: web.Request) -> web.StreamResponse:
    session = require(request, *DRAFTERS)
    console = console_of(request)
    incident_id = request.match_info["incident_id"]
    form = await request.post()
    try:
        drafted = await console.gateway.call(
            session.token, console.gateway.alerting.DraftAlert, draft_request(form, incident_id)
        )
    except Refused as refused:
        shown = await _incident(request, incident_id)
        problems: dict[str, list[str]] = {}
        for violation in refused.violations:
            problems.setdefault(form_field(violation.field), []).append(violation.description)
        return render(
            request, "draft.html", status=400, problems=problems, refused=refused, **_draft_context(shown, form)
        )
    raise web.HTTPSeeOther(f"/alerts/{drafted.alert.identifier}")


# --- one alert ------------------------------------------------------------------------------------------------


async def _alert_page(request: web.Request, *, refused: Refused | None = None, status: int = 200) -> web.Response:
    session = require(request, *STAFF)
    console = console_of(request)
    identifier = request.match_info["identifier"]
    got = await console.gateway.call(
        session.token, console.gateway.alerting.GetAlert, pb.GetAlertRequest(identifier=identifier)
    )
    alert = got.alert
    mine = alert.drafted_by == session.subject
    # The service's rule, shown: someone else approves (drills too, unless the service grants a solo-drill
    # approver, which the console does not know: such a person approves through the API); Actual needs the
    # approver role, drills the operator role.
    may_approve = (
        alert.state == "drafted"
        and not mine
        and session.may("operator", "approver")
        and (alert.status != "Actual" or session.may("approver"))
    )
    return render(
        request,
        "alert.html",
        status=status,
        alert=alert,
        renderings=list(got.renderings),
        mine=mine,
        may_approve=may_approve,
        may_issue=alert.state == "approved" and session.may(*DRAFTERS),
        # A Cancel or an all-clear ends what it refers to: there is nothing left to update.
        may_update=alert.state == "issued"
        and alert.msg_type != "Cancel"
        and alert.purpose != "all_clear"
        and session.may(*DRAFTERS),
        channel_name=channel_name,
        drill=_drill(alert.status),
        refused=refused,
    )


async def alert_page(request: web.Request) -> web.StreamResponse:
    return await _alert_page(request)


async def approve(request: web.Request) -> web.StreamResponse:
    session = require(request, *DRAFTERS)
    console = console_of(request)
    identifier = request.match_info["identifier"]
    try:
        await console.gateway.call(
            session.token, console.gateway.alerting.ApproveAlert, pb.ApproveAlertRequest(identifier=identifier)
        )
    except Refused as refused:
        return await _alert_page(
            request, refused=refused, status=403 if refused.code.name == "PERMISSION_DENIED" else 409
        )
    raise web.HTTPSeeOther(f"/alerts/{identifier}")


async def issue(request: web.Request) -> web.StreamResponse:
    session = require(request, *DRAFTERS)
    console = console_of(request)
    identifier = request.match_info["identifier"]
    try:
        issued = await console.gateway.call(
            session.token, console.gateway.alerting.IssueAlert, pb.IssueAlertRequest(identifier=identifier)
        )
    except Refused as refused:
        return await _alert_page(request, refused=refused, status=409)
    raise web.HTTPSeeOther(f"/incidents/{issued.alert.incident_id}")


async def update_page(request: web.Request) -> web.StreamResponse:
    require(request, *DRAFTERS)
    return render(
        request,
        "update.html",
        identifier=request.match_info["identifier"],
        values={},
        problems={},
        refused=None,
        text_fields=UPDATE_FIELDS,
    )


async def update(request: web.Request) -> web.StreamResponse:
    session = require(request, *DRAFTERS)
    console = console_of(request)
    identifier = request.match_info["identifier"]
    form = await request.post()
    texts = [
        pb.AlertText(language=language, **{name: text_of(form, f"{language}_{name}") for name in UPDATE_FIELDS})
        for language in LANGUAGES
    ]
    try:
        drafted = await console.gateway.call(
            session.token,
            console.gateway.alerting.UpdateAlert,
            pb.UpdateAlertRequest(references=identifier, texts=texts, reason=text_of(form, "reason", 2000)),
        )
    except Refused as refused:
        problems: dict[str, list[str]] = {}
        for violation in refused.violations:
            problems.setdefault(form_field(violation.field), []).append(violation.description)
        values = {key: value for key, value in form.items() if isinstance(value, str)}
        return render(
            request,
            "update.html",
            status=400,
            identifier=identifier,
            values=values,
            problems=problems,
            refused=refused,
            text_fields=UPDATE_FIELDS,
        )
    raise web.HTTPSeeOther(f"/alerts/{drafted.alert.identifier}")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/incidents", incidents_page)
    app.router.add_post("/incidents", report_incident)
    app.router.add_get("/live/incidents", incidents_live)
    app.router.add_get("/incidents/{incident_id}", incident_page)
    app.router.add_get("/incidents/{incident_id}/live", incident_live)
    app.router.add_post("/incidents/{incident_id}/acknowledge", acknowledge)
    app.router.add_post("/incidents/{incident_id}/cancel", cancel)
    app.router.add_post("/incidents/{incident_id}/all-clear", all_clear)
    app.router.add_get("/incidents/{incident_id}/draft", draft_page)
    app.router.add_post("/incidents/{incident_id}/draft", draft)
    app.router.add_post("/incidents/{incident_id}/preview", preview)
    app.router.add_get("/alerts/{identifier}", alert_page)
    app.router.add_post("/alerts/{identifier}/approve", approve)
    app.router.add_post("/alerts/{identifier}/issue", issue)
    app.router.add_get("/alerts/{identifier}/update", update_page)
    app.router.add_post("/alerts/{identifier}/update", update)
