"""The city's inbox: intake's submissions as a list and on a map by district, each with its history and status.

The map counts the latest submissions matching the other filters (at most `MAP_SAMPLE`, read in pages of 200
from ListSubmissions): intake has no count by district, and a duty officer wants to see where reports cluster
now, not a census. The count says how many it is based on.
"""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlencode

from aiohttp import web

from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_console.gateway import Refused
from sotong_console.seoulmap import seoul
from sotong_console.web import console_of, render, require, text_of

PAGE_SIZE = 50
MAP_SAMPLE = 600
MAP_PAGE = 200
SETTABLE = (
    "SUBMISSION_STATUS_ACKNOWLEDGED",
    "SUBMISSION_STATUS_IN_PROGRESS",
    "SUBMISSION_STATUS_RESOLVED",
    "SUBMISSION_STATUS_REJECTED",
    "SUBMISSION_STATUS_REFERRED",
    "SUBMISSION_STATUS_DUPLICATE",
)
"""The statuses an operator moves a submission to (the others are moderation's)."""


def _enum(kind: type[types.SubmissionKind] | type[types.SubmissionStatus], raw: str) -> int:
    try:
        return int(kind.Value(raw)) if raw else 0
    except ValueError:
        return 0


def filters(query: object) -> pb.ListSubmissionsRequest:
    get = getattr(query, "get")  # noqa: B009 - a MultiDict
    district = str(get("district", "") or "")
    return pb.ListSubmissionsRequest(
        district_code=district if district in seoul().by_code() else "",
        category=str(get("category", "") or "")[:60],
        kind=_enum(types.SubmissionKind, str(get("kind", "") or "")),  # type: ignore[arg-type]
        status=_enum(types.SubmissionStatus, str(get("status", "") or "")),  # type: ignore[arg-type]
        channel=str(get("channel", "") or "")[:30],
        page_size=PAGE_SIZE,
        page_token=str(get("page", "") or "")[:500],
    )


def filter_query(request: pb.ListSubmissionsRequest, *, without: str = "") -> str:
    pairs = []
    if request.district_code and without != "district":
        pairs.append(("district", request.district_code))
    if request.category:
        pairs.append(("category", request.category))
    if request.kind:
        pairs.append(("kind", types.SubmissionKind.Name(request.kind)))
    if request.status:
        pairs.append(("status", types.SubmissionStatus.Name(request.status)))
    if request.channel:
        pairs.append(("channel", request.channel))
    return urlencode(pairs)


async def inbox_page(request: web.Request) -> web.StreamResponse:
    session = require(request, "operator")
    console = console_of(request)
    chosen = filters(request.query)
    listed = await console.gateway.call(session.token, console.gateway.intake.ListSubmissions, chosen)
    # The map: the latest submissions matching the other filters, by district.
    sample = pb.ListSubmissionsRequest()
    sample.CopyFrom(chosen)
    sample.district_code, sample.page_token, sample.page_size = "", "", MAP_PAGE
    counts: Counter[str] = Counter()
    seen = 0
    while seen < MAP_SAMPLE:
        page = await console.gateway.call(session.token, console.gateway.intake.ListSubmissions, sample)
        counts.update(s.district_code for s in page.submissions if s.district_code)
        seen += len(page.submissions)
        if not page.next_page_token:
            break
        sample.page_token = page.next_page_token
    others = filter_query(chosen, without="district")
    return render(
        request,
        "inbox.html",
        submissions=list(listed.submissions),
        next_page=listed.next_page_token,
        chosen=chosen,
        query=filter_query(chosen),
        map_link="/inbox?" + (others + "&" if others else "") + "district=",
        counts=dict(counts),
        sampled=seen,
        kinds=types.SubmissionKind.keys()[1:],
        statuses=types.SubmissionStatus.keys()[1:],
        kind_name=types.SubmissionKind.Name,
        status_name=types.SubmissionStatus.Name,
        districts=seoul().districts,
    )


async def _submission_page(
    request: web.Request, *, refused: Refused | None = None, notice: str = ""
) -> web.StreamResponse:
    session = require(request, "operator")
    console = console_of(request)
    tracking_id = request.match_info["tracking_id"]
    got = await console.gateway.call(
        session.token, console.gateway.intake.GetSubmission, pb.GetSubmissionRequest(tracking_id=tracking_id)
    )
    return render(
        request,
        "submission.html",
        status=400 if refused else 200,
        s=got.submission,
        settable=SETTABLE,
        kind_name=types.SubmissionKind.Name,
        status_name=types.SubmissionStatus.Name,
        refused=refused,
        notice=notice or request.query.get("done", ""),
    )


async def submission_page(request: web.Request) -> web.StreamResponse:
    return await _submission_page(request)


async def update_status(request: web.Request) -> web.StreamResponse:
    session = require(request, "operator")
    console = console_of(request)
    tracking_id = request.match_info["tracking_id"]
    form = await request.post()
    status = text_of(form, "status", 40)
    try:
        await console.gateway.call(
            session.token,
            console.gateway.intake.UpdateStatus,
            pb.UpdateStatusRequest(
                tracking_id=tracking_id,
                status=_enum(types.SubmissionStatus, status if status in SETTABLE else ""),  # type: ignore[arg-type]
                note=text_of(form, "note", 2000),
                duplicate_of=text_of(form, "duplicate_of", 40),
            ),
        )
    except Refused as refused:
        return await _submission_page(request, refused=refused)
    raise web.HTTPSeeOther(f"/inbox/{tracking_id}?done=status")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/inbox", inbox_page)
    app.router.add_get("/inbox/{tracking_id}", submission_page)
    app.router.add_post("/inbox/{tracking_id}/status", update_status)
