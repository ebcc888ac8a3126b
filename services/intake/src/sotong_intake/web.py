"""Intake's HTTP process (`sotong-intake-http`): Open311 GeoReport v2 and the channel webhooks.

Everything here ends in `Reception.receive`, the path gRPC submissions take, so the rules, the idempotency and
the events are the same whichever door a report came through. Routes:

- Open311 GeoReport v2 under `/open311/v2/`: `services.{json,xml}`, `services/{code}.{json,xml}`,
  `POST requests.{json,xml}` (form fields, `api_key` required), `GET requests.{json,xml}` (service_request_id,
  service_code, start_date, end_date, status), `requests/{id}.{json,xml}`. service_request_id = tracking id.
- `POST /kakao/skill`: the KakaoTalk channel bot's skill (header `X-Sotong-Skill-Token`), answered with a
  version 2.0 skill response.
- `POST /webhooks/sns`, `POST /webhooks/eungdapso`, `POST /webhooks/partner/{partner}`: JSON signed with
  Standard Webhooks, each source with its own secrets; a delivery id is accepted once (409 on replay).
- `GET /healthz`.

This process also runs an outbox relay (one per schema publishes; the others wait), so its submissions are
announced even when the gRPC process is down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from sotong_common import logs, process
from sotong_common.errors import Unavailable
from sotong_common.geo import Seoul
from sotong_common.producer import Acknowledged
from sotong_common.server import dependency_unavailable
from sotong_common.webhooks import RecentDeliveries, WebhookVerificationError, WebhookVerifier
from sotong_intake import open311, settings, status
from sotong_intake.channels import eungdapso, kakao, partner_webhook, sns
from sotong_intake.channels.payload import ChannelPayloadError
from sotong_intake.reception import Reception, Refused
from sotong_intake.store import SubmissionStore
from sotong_intake.submission import FieldViolation, Submission

KAKAO_WAIT_S = 3.5  # Open Builder gives a skill 5 s; past that the citizen sees an error instead of our answer
HTTP_WAIT_S = 4.0  # HTTP carries no deadline: answer 503 (Retry-After) well before a client's usual 5-10 s timeout
MAX_BODY = 256 * 1024  # a submission is text and URLs; media are references, never uploads
OPEN311_LIMIT = 200
OPEN311_DEFAULT_RANGE = timedelta(days=90)
_PUBLIC_HIDDEN = ("received", "in_review", "removed")  # not yet moderated, or removed: not in public lists
_JSON = "application/json; charset=utf-8"
_XML = "text/xml; charset=utf-8"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

RECEPTION: web.AppKey[Reception] = web.AppKey("reception", Reception)
STORE: web.AppKey[SubmissionStore] = web.AppKey("store", SubmissionStore)
VERIFIERS: web.AppKey[dict[str, WebhookVerifier]] = web.AppKey("verifiers", dict)
DELIVERIES: web.AppKey[RecentDeliveries] = web.AppKey("deliveries", RecentDeliveries)
SETTINGS: web.AppKey[settings.Http] = web.AppKey("settings", settings.Http)


def _json(body: Any, status_code: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body, ensure_ascii=False), status=status_code, content_type="application/json")


def _errors(violations: list[FieldViolation], status_code: int = 400) -> web.Response:
    """The webhook endpoints' error body: every field at once, named by its JSON path."""
    return _json({"errors": [{"field": v.field, "description": v.description} for v in violations]}, status_code)


# -- Open311 -------------------------------------------------------------------------------------------------------


def _open311(fmt: str, json_body: Any, xml_body: str | None, status_code: int = 200) -> web.Response:
    if fmt == "xml":
        return web.Response(body=(xml_body or "").encode(), status=status_code, headers={"Content-Type": _XML})
    text = json_body if isinstance(json_body, str) else json.dumps(json_body, ensure_ascii=False)
    return web.Response(body=text.encode(), status=status_code, headers={"Content-Type": _JSON})


def _open311_error(fmt: str, violations: list[FieldViolation], code: int = 400) -> web.Response:
    return _open311(fmt, open311.errors_json(violations, code), open311.errors_xml(violations, code), code)


def _lang(request: web.Request) -> str:
    return "en" if request.query.get("lang", "ko").lower().startswith("en") else "ko"


async def discovery(request: web.Request) -> web.Response:
    """GET /open311/discovery.{json,xml}: where this server's GeoReport v2 endpoint is (absolute, as reached)."""
    fmt, base = request.match_info["fmt"], str(request.url.origin())
    return _open311(fmt, open311.discovery(base), open311.discovery_xml(base))


async def services(request: web.Request) -> web.Response:
    fmt, lang = request.match_info["fmt"], _lang(request)
    return _open311(fmt, open311.service_list(lang), open311.service_list_xml(lang))


async def service_definition(request: web.Request) -> web.Response:
    fmt, lang, code = request.match_info["fmt"], _lang(request), request.match_info["code"]
    found = open311.service_definition(code, lang)
    if found is None:
        return _open311_error(fmt, [FieldViolation("service_code", f"unknown service_code {code[:64]!r}")], 404)
    return _open311(fmt, found, open311.service_definition_xml(code, lang))


async def post_request(request: web.Request) -> web.Response:
    fmt = request.match_info["fmt"]
    form = await request.post()
    keys = request.app[SETTINGS].intake_open311_api_keys
    api_key = form.get("api_key")
    if not isinstance(api_key, str) or api_key not in keys:
        return _open311_error(fmt, [FieldViolation("api_key", "a valid api_key is required to post requests")], 403)
    fields: dict[str, str | list[str]] = {}
    for name in form:
        values = [v for v in form.getall(name) if isinstance(v, str)]
        fields[name] = values if name.endswith("[]") else (values[0] if values else "")
    reception = request.app[RECEPTION]
    try:
        submission = open311.submission_from_form(fields, reception.seoul)
        accepted = await reception.receive(submission, wait_s=HTTP_WAIT_S)
    except open311.Open311RequestError as exc:
        return _open311_error(fmt, exc.violations, exc.code)
    except Refused as refused:
        return _open311_error(fmt, refused.violations)
    notice = "접수되었습니다" if _lang(request) == "ko" else "received"
    return _open311(
        fmt, open311.created_json(accepted.tracking_id, notice), open311.created_xml(accepted.tracking_id, notice)
    )


def _parse_date(raw: str | None, name: str, problems: list[FieldViolation]) -> datetime | None:
    if not raw:
        return None
    try:
        return open311.parse_query_datetime(raw, name)
    except ValueError as error:
        problems.append(FieldViolation(name, str(error)))
        return None


def _printable_query(request: web.Request, problems: list[FieldViolation]) -> None:
    """Query values are ids, codes and dates: refuse control characters before they reach SQL."""
    for name, value in request.query.items():
        if len(value) > 4096 or not value.isprintable():
            problems.append(
                FieldViolation(name[:40], f"{name[:40]} must be printable text of at most 4,096 characters")
            )


async def get_requests(request: web.Request) -> web.Response:
    fmt, q = request.match_info["fmt"], request.query
    problems: list[FieldViolation] = []
    _printable_query(request, problems)
    if problems:
        return _open311_error(fmt, problems)
    ids = [i.strip() for i in q.get("service_request_id", "").split(",") if i.strip()][:OPEN311_LIMIT]
    codes = [c.strip() for c in q.get("service_code", "").split(",") if c.strip()]
    statuses = {s.strip() for s in q.get("status", "").split(",") if s.strip()}
    if statuses - {"open", "closed"}:
        problems.append(FieldViolation("status", "status must be open, closed or both, comma separated"))
    start = _parse_date(q.get("start_date"), "start_date", problems)
    end = _parse_date(q.get("end_date"), "end_date", problems)
    if start and end and end <= start:
        problems.append(FieldViolation("end_date", "end_date must be after start_date"))
    if problems:
        return _open311_error(fmt, problems)
    if not ids and start is None:
        start = (end or datetime.now(UTC)) - OPEN311_DEFAULT_RANGE
    rows = await _open311_rows(request.app[STORE].pool, ids, codes, statuses, start, end)
    views = [_view(row, _lang(request)) for row in rows]
    return _open311(fmt, open311.requests_json(views), open311.requests_xml(views))


async def get_request(request: web.Request) -> web.Response:
    fmt, tracking_id = request.match_info["fmt"], request.match_info["id"]
    if len(tracking_id) > 64 or not tracking_id.isprintable():
        violation = FieldViolation("service_request_id", "service_request_id must be at most 64 printable characters")
        return _open311_error(fmt, [violation])
    rows = await _open311_rows(request.app[STORE].pool, [tracking_id], [], set(), None, None)
    if not rows:
        violation = FieldViolation("service_request_id", f"no request {tracking_id[:64]!r}")
        return _open311_error(fmt, [violation], 404)
    views = [_view(rows[0], _lang(request))]
    return _open311(fmt, open311.requests_json(views), open311.requests_xml(views))


async def _open311_rows(
    pool: asyncpg.Pool,
    ids: list[str],
    codes: list[str],
    statuses: set[str],
    start: datetime | None,
    end: datetime | None,
) -> list[asyncpg.Record]:
    """Requests by id (any status but removed), or the public list (moderated ones) filtered as asked."""
    clauses = ["s.category IS NOT NULL", "s.status <> 'removed'"]
    args: list[Any] = []

    def where(sql: str, value: Any) -> None:
        args.append(value)
        clauses.append(sql.replace("?", f"${len(args)}"))

    if ids:
        where("s.tracking_id = ANY(?::text[])", ids)
    else:
        where("NOT (s.status = ANY(?::text[]))", list(_PUBLIC_HIDDEN))
        if codes:
            where("s.category = ANY(?::text[])", codes)
        if start:
            where("s.received_at >= ?", start)
        if end:
            where("s.received_at < ?", end)
        if statuses == {"open"}:
            where("NOT (s.status = ANY(?::text[]))", sorted(status.CLOSED))
        elif statuses == {"closed"}:
            where("s.status = ANY(?::text[])", sorted(status.CLOSED))
    args.append(OPEN311_LIMIT)
    sql = (
        "SELECT s.*, (SELECT h.note FROM submission_status_history h WHERE h.submission_id = s.id"
        " ORDER BY h.id DESC LIMIT 1) AS last_note FROM submissions s WHERE "
        + " AND ".join(clauses)
        + f" ORDER BY s.received_at DESC LIMIT ${len(args)}"
    )
    return list(await pool.fetch(sql, *args))


def _view(row: asyncpg.Record, lang: str) -> open311.ServiceRequestView:
    """The public view: no contact, and the text only as moderation published it (personal data masked by its
    pipeline); nothing before moderation has published it, or after it removed it."""
    return open311.ServiceRequestView(
        service_request_id=row["tracking_id"],
        status=open311.Status.CLOSED if row["status"] in status.CLOSED else open311.Status.OPEN,
        service_code=row["category"],
        requested_datetime=row["received_at"],
        description=row["public_text"] or "",
        status_notes=row["last_note"] or None,
        updated_datetime=row["updated_at"],
        address=row["address_text"],
        lat=row["lat"],
        long=row["lng"],
        media_url=row["media_urls"][0] if row["media_urls"] else None,
        lang=lang,
    )


# -- Kakao ---------------------------------------------------------------------------------------------------------


def skill_token_matches(expected: str, given: str | None) -> bool:
    """Whether the skill token is the configured one, in time that does not depend on where they differ.

    A `!=` on strings stops at the first differing character, so response times tell a patient attacker the
    token one character at a time; `hmac.compare_digest` does not. Compared as UTF-8 bytes (compare_digest
    refuses non-ASCII str), so a header with any characters is a refusal, never an error. An empty configured
    token keeps the endpoint closed.
    """
    if not expected or given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape"))


async def kakao_skill(request: web.Request) -> web.Response:
    """Kakao shows whatever we answer, so content problems are a friendly skill response, not an HTTP error."""
    token = request.app[SETTINGS].intake_kakao_skill_token
    if not skill_token_matches(token, request.headers.get("X-Sotong-Skill-Token")):
        return _json({"error": "unauthorized", "detail": "X-Sotong-Skill-Token is missing or wrong"}, 401)
    payload = await _json_body(request)
    if payload is None:
        return _errors([FieldViolation("body", "must be a JSON object")])
    received_at = datetime.now(UTC)
    try:
        submission = kakao.submission_from_skill(payload, received_at)
    except ChannelPayloadError as exc:
        return _errors(exc.violations)
    submission = _with_message_id(submission, kakao.skill_message_id(payload, received_at))
    try:
        accepted = await request.app[RECEPTION].receive(submission, wait_s=KAKAO_WAIT_S)
    except Refused as refused:
        return _json(kakao.rejection_response(refused.violations))
    except Unavailable:
        return _json(kakao.retry_later_response())
    return _json(kakao.receipt_response(accepted.tracking_id, submission.kind))


def _with_message_id(submission: Submission, message_id: str) -> Submission:
    return dataclasses.replace(submission, channel_message_id=submission.channel_message_id or message_id)


async def _json_body(request: web.Request) -> Any:
    try:
        body = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


# -- signed webhooks -----------------------------------------------------------------------------------------------


def _json_object(body: bytes) -> Mapping[str, Any]:
    try:
        parsed = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ChannelPayloadError([FieldViolation("body", "must be a JSON object")]) from None
    if not isinstance(parsed, dict):
        raise ChannelPayloadError([FieldViolation("body", "must be a JSON object")])
    return parsed


async def signed_webhook(request: web.Request) -> web.Response:
    source = request.match_info.get("partner") or request.path.rsplit("/", 1)[-1]
    verifier = request.app[VERIFIERS].get(source)
    if verifier is None:
        return _json({"error": "unknown_source", "detail": f"no webhook secret is configured for {source[:40]!r}"}, 404)
    body = await request.read()
    try:
        delivery = verifier.verify(dict(request.headers), body)
    except WebhookVerificationError as exc:
        return _json({"error": str(exc.reason), "detail": exc.detail}, 401)
    reception, store, recent = request.app[RECEPTION], request.app[STORE], request.app[DELIVERIES]
    if (source, delivery.id) in recent or await _known_delivery(store, source, delivery.id):
        return _json({"error": "replayed", "detail": f"webhook-id {delivery.id!r} was already delivered"}, 409)
    synced = None
    try:
        if source == "sns":
            submission = sns.submission_from_mention(_json_object(body))
        elif source == "eungdapso":
            record = _json_object(body)
            submission = eungdapso.submission_from_record(record, reception.seoul)
            synced = _PORTAL_STATUS.get(eungdapso.status_of(record))
        else:
            submission = partner_webhook.submission_from_webhook(delivery, source)
        accepted = await reception.receive(submission, webhook=(source, delivery.id), synced=synced, wait_s=HTTP_WAIT_S)
    except (ChannelPayloadError, Refused) as exc:
        recent.add(source, delivery.id)
        await _remember_delivery(store, source, delivery.id)
        return _errors(exc.violations)
    recent.add(source, delivery.id)
    return _json({"tracking_id": accepted.tracking_id, "created": accepted.created}, 202)


async def _known_delivery(store: SubmissionStore, source: str, webhook_id: str) -> bool:
    """A replayed delivery is refused while the database can tell; without it the replay is accepted, and the
    store's idempotency (ids derived from the message, deliveries recorded with it) keeps it from counting twice."""
    try:
        return await asyncio.wait_for(store.webhook_seen(source, webhook_id), timeout=1.0)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return False


async def _remember_delivery(store: SubmissionStore, source: str, webhook_id: str) -> None:
    """Remember a refused delivery so its replay is refused too (best effort: it stored nothing either way)."""
    try:
        await asyncio.wait_for(store.record_webhook(source, webhook_id), timeout=1.0)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        logs.get("intake.http").warning("refused webhook delivery not remembered (database away)", source=source)


_PORTAL_STATUS = {
    eungdapso.PortalStatus.CLOSED: ("resolved", "응답소에서 처리 완료"),
    eungdapso.PortalStatus.WITHDRAWN: ("rejected", "응답소에서 민원인이 취하"),
}


async def healthz(request: web.Request) -> web.Response:
    """Serving as long as the process is: reports are accepted without the database (reception.py), so a database
    restart must not take this process out of its Service."""
    return _json({"status": "serving"})


@web.middleware
async def _no_crash(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors answer in JSON (Open311's error list under /open311/); an unexpected one is logged and is a bare 500."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = f"{request.method} {request.path[:200]}: {exc.reason}"
        return _http_error(request, exc.status, exc.reason.lower().replace(" ", "_"), detail)
    except Unavailable as exc:
        return _http_error(request, 503, "unavailable", exc.message, exc.retry_after_s)
    except Exception as exc:
        away = dependency_unavailable(exc)
        if away is not None:
            logs.get("intake.http").warning("a dependency is unavailable; answering 503", path=request.path[:200])
            return _http_error(request, 503, "unavailable", away.message, away.retry_after_s)
        logs.get("intake.http").exception("unhandled error in request", path=request.path)
        return _json({"error": "internal", "detail": "internal error"}, 500)


def _http_error(
    request: web.Request, status_code: int, error: str, detail: str, retry_after_s: float | None = None
) -> web.Response:
    """One error shape per door: Open311 clients read the standard's error list, the others {error, detail}; a
    503 says when to come back (Retry-After), so a client backs off while a dependency recovers."""
    if request.path.startswith("/open311/"):
        response = _json([{"code": status_code, "description": detail}], status_code)
    else:
        response = _json({"error": error, "detail": detail}, status_code)
    if retry_after_s is not None:
        response.headers["Retry-After"] = str(max(1, round(retry_after_s)))
    return response


def build_app(reception: Reception, store: SubmissionStore, chosen: settings.Http) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_no_crash])
    app[RECEPTION] = reception
    app[STORE] = store
    app[SETTINGS] = chosen
    app[DELIVERIES] = RecentDeliveries()
    app[VERIFIERS] = {
        source: WebhookVerifier(keys, chosen.intake_webhook_tolerance_s)
        for source, keys in chosen.intake_webhook_secrets.items()
    }
    fmt = "{fmt:json|xml}"
    app.router.add_get(f"/open311/discovery.{fmt}", discovery)
    app.router.add_get(f"/open311/v2/services.{fmt}", services)
    app.router.add_get("/open311/v2/services/{code:[^/]+}." + fmt, service_definition)
    app.router.add_post(f"/open311/v2/requests.{fmt}", post_request)
    app.router.add_get(f"/open311/v2/requests.{fmt}", get_requests)
    app.router.add_get("/open311/v2/requests/{id:[^/]+}." + fmt, get_request)
    app.router.add_post("/kakao/skill", kakao_skill)
    app.router.add_post("/webhooks/sns", signed_webhook)
    app.router.add_post("/webhooks/eungdapso", signed_webhook)
    app.router.add_post("/webhooks/partner/{partner}", signed_webhook)
    app.router.add_get("/healthz", healthz)
    return app


class HttpSite:
    """The aiohttp site as a part of the process: listening once started, drained and closed at stop."""

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self._host = host
        self._port = port

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()


async def serve(proc: process.Process, chosen: settings.Http) -> None:
    pool = await proc.database(chosen.database_url, settings.SCHEMA, settings.MIGRATIONS)
    kafka = await proc.producer(chosen.kafka_bootstrap, "sotong-intake-http")
    proc.outbox_relay(pool, kafka, settings.SCHEMA)
    store = SubmissionStore(pool, chosen.intake_contact_keys, chosen.duplicate_rule, chosen.publishing_seal_public_keys)
    accepting = Acknowledged(chosen.kafka_bootstrap, "sotong-intake-http-acceptance")
    await proc.start("acceptance producer", accepting)
    app = build_app(Reception(Seoul.load(), accepting, chosen.intake_contact_keys), store, chosen)
    await proc.start("http site", HttpSite(app, chosen.listen_host, chosen.http_port))
    logs.get("intake.http").info("intake http serving", http_port=chosen.http_port)


def main() -> None:
    chosen = settings.Http.load_or_exit()
    logging.getLogger("aiohttp.access").disabled = True  # URLs may carry personal data (Open311 email)
    process.run("intake-http", "intake", chosen, serve)


if __name__ == "__main__":
    main()
