"""The moderation queue: what waits for a person, the evidence highlighted, decisions in bulk, appeals, the record.

Spam comes in waves, so decisions are taken in bulk: the moderator ticks items (or the whole page), picks remove
or publish, the clauses and one reason, and the console makes one Decide call per item, each with the decision
id the moderator was looking at (`expected_decision_id`): an item another moderator decided meanwhile is
refused for that item alone and reported, never decided twice. What waits is counted by moderation itself
(`ListQueue.total`) and pushed to every moderator's page as it changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from aiohttp import web

from sotong.moderation.v1 import moderation_events_pb2 as events_pb
from sotong.moderation.v1 import moderation_service_pb2 as pb
from sotong_console import live, words
from sotong_console.gateway import Refused
from sotong_console.web import console_of, language_of, render, require, text_of

CLAUSES = tuple(words.CLAUSES)
CONTENT_TYPES = tuple(words.CONTENT_TYPES)
"""What moderation reviews: intake's submissions and community's kinds (`community.<kind>`)."""
PAGE_SIZE = 20
PARALLEL_DECISIONS = 8
ACTIONS = {"remove": events_pb.ACTION_REMOVE, "publish": events_pb.ACTION_PUBLISH}


@dataclass(frozen=True)
class Piece:
    """A run of a text, and the evidence that marks it (None for plain text)."""

    text: str
    evidence: events_pb.Evidence | None = None


def highlighted(text: str, evidence: Sequence[events_pb.Evidence]) -> list[Piece]:
    """The text cut into plain runs and evidence spans (the first span wins where two overlap).

    A span is placed by its offsets when they hold its text, else where its text occurs (the offsets are into
    the original text, and masking personal data can shift them); evidence found nowhere is not marked.
    """
    spans: list[tuple[int, int, events_pb.Evidence]] = []
    for item in evidence:
        start, end = item.start, item.end
        if 0 <= start < end <= len(text) and (not item.text or text[start:end] == item.text):
            spans.append((start, end, item))
        elif item.text and (found := text.find(item.text)) >= 0:
            spans.append((found, found + len(item.text), item))
    spans.sort(key=lambda span: (span[0], -span[1]))
    pieces: list[Piece] = []
    at = 0
    for start, end, item in spans:
        if start < at:
            continue
        if start > at:
            pieces.append(Piece(text[at:start]))
        pieces.append(Piece(text[start:end], item))
        at = end
    if at < len(text):
        pieces.append(Piece(text[at:]))
    return pieces


def scores(evidence: Sequence[events_pb.Evidence]) -> list[tuple[str, float, float]]:
    """Each rule that fired once, with its highest score and its threshold (a rule often fires on several spans)."""
    best: dict[str, tuple[float, float]] = {}
    for item in evidence:
        score, threshold = best.get(item.rule, (-1.0, 0.0))
        if item.score > score:
            best[item.rule] = (item.score, item.threshold or threshold)
    return sorted(((rule, s, t) for rule, (s, t) in best.items()), key=lambda r: -r[1])


def _filters(query: object) -> pb.ListQueueRequest:
    get = getattr(query, "get")  # noqa: B009 - a MultiDict or a form
    getall = getattr(query, "getall")  # noqa: B009
    minutes = str(get("min_age", "") or "")
    return pb.ListQueueRequest(
        page_size=PAGE_SIZE,
        page_token=str(get("page", "") or "")[:500],
        clauses=[c for c in getall("clause", []) if c in CLAUSES],
        content_type=str(get("type", "") or "")[:20],
        min_age_seconds=int(minutes) * 60 if minutes.isdigit() else 0,
    )


def _filter_query(request: pb.ListQueueRequest) -> str:
    pairs = [("clause", c) for c in request.clauses]
    if request.content_type:
        pairs.append(("type", request.content_type))
    if request.min_age_seconds:
        pairs.append(("min_age", str(request.min_age_seconds // 60)))
    return urlencode(pairs)


async def queue_page(request: web.Request) -> web.StreamResponse:
    session = require(request, "moderator")
    console = console_of(request)
    filters = _filters(request.query)
    listed = await console.gateway.call(session.token, console.gateway.moderation.ListQueue, filters)
    decided = request.query.get("decided", "")
    return render(
        request,
        "queue.html",
        content_types=CONTENT_TYPES,
        items=list(listed.items),
        total=listed.total,
        next_page=listed.next_page_token,
        filters=filters,
        filter_query=_filter_query(filters),
        clauses=CLAUSES,
        highlighted=highlighted,
        scores=scores,
        reason_appeal=pb.QUEUE_REASON_APPEAL,
        decided=int(decided) if decided.isdigit() else None,
        decided_action=request.query.get("action", "") if request.query.get("action") in ACTIONS else "",
        failures=[],
    )


async def waiting_live(request: web.Request) -> web.StreamResponse:
    """What waits for review, pushed to a moderator's pages whenever it changes."""
    session = require(request, "moderator")
    console = console_of(request)
    language = language_of(request)

    async def count() -> str:
        listed = await console.gateway.call(
            session.token, console.gateway.moderation.ListQueue, pb.ListQueueRequest(page_size=1)
        )
        return console.pages.render("_waiting.html", language, total=listed.total)

    return await live.serve(
        request,
        session,
        console.live.closing,
        [live.polled("waiting", count, console.settings.console_refresh_s)],
        console.pages.render("_signed_out.html", language),
    )


async def decide_many(request: web.Request) -> web.StreamResponse:
    """One decision for every ticked item, each against the decision the moderator saw."""
    session = require(request, "moderator")
    console = console_of(request)
    form = await request.post()
    action = ACTIONS.get(text_of(form, "action", 10))
    chosen = [str(value).partition("|") for value in form.getall("item", []) if isinstance(value, str)]
    clauses = [c for c in form.getall("clauses", []) if c in CLAUSES]
    reason = text_of(form, "reason", 2000)
    filters = _filters(form)
    failures: list[tuple[str, str]] = []
    done = 0
    if chosen and action is not None:
        gate = asyncio.Semaphore(PARALLEL_DECISIONS)

        async def one(content_id: str, decision_id: str) -> None:
            nonlocal done
            async with gate:
                try:
                    await console.gateway.call(
                        session.token,
                        console.gateway.moderation.Decide,
                        pb.DecideRequest(
                            content_id=content_id,
                            action=action,
                            reason=reason,
                            clauses=clauses if action == events_pb.ACTION_REMOVE else [],
                            expected_decision_id=decision_id,
                        ),
                    )
                    done += 1
                except Refused as refused:
                    failures.append((content_id, refused.message))

        await asyncio.gather(*(one(content_id, decision_id) for content_id, _, decision_id in chosen))
    if not failures and chosen and action is not None:
        query = _filter_query(filters)
        name = "remove" if action == events_pb.ACTION_REMOVE else "publish"
        raise web.HTTPSeeOther(f"/moderation?decided={done}&action={name}" + (f"&{query}" if query else ""))
    listed = await console.gateway.call(session.token, console.gateway.moderation.ListQueue, filters)
    return render(
        request,
        "queue.html",
        content_types=CONTENT_TYPES,
        status=400 if failures or not chosen or action is None else 200,
        items=list(listed.items),
        total=listed.total,
        next_page=listed.next_page_token,
        filters=filters,
        filter_query=_filter_query(filters),
        clauses=CLAUSES,
        highlighted=highlighted,
        scores=scores,
        reason_appeal=pb.QUEUE_REASON_APPEAL,
        decided=done if chosen else None,
        decided_action=text_of(form, "action", 10),
        failures=failures,
        nothing=not chosen,
    )


async def item_page(request: web.Request, *, refused: Refused | None = None, notice: str = "") -> web.Response:
    session = require(request, "moderator", "operator")
    console = console_of(request)
    content_id = request.match_info["content_id"]
    got = await console.gateway.call(
        session.token, console.gateway.moderation.GetDecision, pb.GetDecisionRequest(content_id=content_id)
    )
    return render(
        request,
        "decision.html",
        status=400 if refused else 200,
        content_id=content_id,
        got=got,
        highlighted=highlighted,
        action_name=events_pb.Action.Name,
        clauses=CLAUSES,
        refused=refused,
        notice=notice or request.query.get("done", ""),
    )


async def item(request: web.Request) -> web.StreamResponse:
    return await item_page(request)


async def decide_one(request: web.Request) -> web.StreamResponse:
    session = require(request, "moderator")
    console = console_of(request)
    content_id = request.match_info["content_id"]
    form = await request.post()
    action = ACTIONS.get(text_of(form, "action", 10), events_pb.ACTION_UNSPECIFIED)
    try:
        await console.gateway.call(
            session.token,
            console.gateway.moderation.Decide,
            pb.DecideRequest(
                content_id=content_id,
                action=action,
                reason=text_of(form, "reason", 2000),
                clauses=[c for c in form.getall("clauses", []) if c in CLAUSES]
                if action == events_pb.ACTION_REMOVE
                else [],
                expected_decision_id=text_of(form, "expected", 100),
            ),
        )
    except Refused as refused:
        return await item_page(request, refused=refused)
    raise web.HTTPSeeOther(f"/moderation/items/{content_id}?done=decided")


async def appeal(request: web.Request) -> web.StreamResponse:
    session = require(request, "operator")
    console = console_of(request)
    content_id = request.match_info["content_id"]
    form = await request.post()
    try:
        await console.gateway.call(
            session.token,
            console.gateway.moderation.Appeal,
            pb.AppealRequest(content_id=content_id, reason=text_of(form, "reason", 2000)),
        )
    except Refused as refused:
        return await item_page(request, refused=refused)
    raise web.HTTPSeeOther(f"/moderation/items/{content_id}?done=appealed")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/moderation", queue_page)
    app.router.add_post("/moderation/decide", decide_many)
    app.router.add_get("/live/waiting", waiting_live)
    app.router.add_get("/moderation/items/{content_id}", item)
    app.router.add_post("/moderation/items/{content_id}/decide", decide_one)
    app.router.add_post("/moderation/items/{content_id}/appeal", appeal)
