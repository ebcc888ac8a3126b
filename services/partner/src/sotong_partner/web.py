"""The partner service's HTTP process (`sotong-partner-http`): feeds, mobile homepages and the catalogue webhook.

Routes:
- `GET /ep/{group}/{format}/full.tsv`, `GET /ep/{group}/naver/summary.tsv`: the product-DB URLs shopping
  platforms pull (`feed_store`): streamed, `ETag` / `If-None-Match` (304), gzip when the platform accepts it.
- `GET /m/{slug}`: a verified merchant's mobile homepage (`homepage`); `GET /s/{street}`: a market street's page.
- `POST /webhooks/catalogue/{source}`: a partner platform pushing a merchant's product (Standard Webhooks,
  `sotong_common.webhooks`), accepted only for merchants that consented to that platform; a webhook-id is
  applied once (409 on replay), in the transaction of its effect.
- `GET /healthz`.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
import zlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg
from aiohttp import web

from sotong_common import logs, process
from sotong_common.errors import DomainError, FieldViolation, NotFound
from sotong_common.webhooks import WebhookVerificationError, WebhookVerifier
from sotong_partner import catalogue, homepage, settings
from sotong_partner.feed_store import FeedStore, Snapshot
from sotong_partner.feeds import FORMATS
from sotong_partner.store import CatalogueStore, Replayed
from sotong_partner.streets import Streets

MAX_BODY = 64 * 1024
_GROUP = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_SLUG = re.compile(r"^[a-z0-9-]{3,20}$")
_JSON = "application/json; charset=utf-8"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FEEDS: web.AppKey[FeedStore] = web.AppKey("feeds", FeedStore)
CATALOGUE: web.AppKey[CatalogueStore] = web.AppKey("catalogue", CatalogueStore)
STREETS: web.AppKey[Streets] = web.AppKey("streets", Streets)
VERIFIERS: web.AppKey[dict[str, WebhookVerifier]] = web.AppKey("verifiers", dict)
SETTINGS: web.AppKey[settings.Http] = web.AppKey("settings", settings.Http)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body, ensure_ascii=False), status=status, content_type="application/json")


def _errors(violations: list[FieldViolation], status: int = 400) -> web.Response:
    return _json({"errors": [{"field": v.field, "description": v.description} for v in violations]}, status)


# -- feeds -----------------------------------------------------------------------------------------------------------


def _matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 13.1.2): a feed is the same whatever its content encoding."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def _accepts_gzip(request: web.Request) -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip"):
            _, _, q = params.replace(" ", "").partition("q=")
            try:
                return not q or float(q) > 0
            except ValueError:
                return False
    return False


async def feed(request: web.Request) -> web.StreamResponse:
    group, name, kind = request.match_info["group"], request.match_info["format"], request.match_info["kind"]
    fmt = FORMATS.get(name)
    if fmt is None or kind not in fmt.kinds or not _GROUP.match(group):
        return _json({"error": "not_found", "detail": f"no feed {name}/{kind} (formats: {', '.join(FORMATS)})"}, 404)
    store = request.app[FEEDS]
    async with store.snapshot(group, fmt, kind) as snap:
        if snap is None:
            return _json({"error": "not_found", "detail": f"no product-DB group {group}"}, 404)
        headers = {"ETag": snap.etag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding"}
        if _matches(request.headers.get("If-None-Match", ""), snap.etag):
            return web.Response(status=304, headers=headers)
        response = web.StreamResponse(status=200, headers={**headers, "Content-Type": fmt.content_type})
        level = request.app[SETTINGS].partner_ep_gzip_level
        compressor = zlib.compressobj(level, zlib.DEFLATED, 31) if level and _accepts_gzip(request) else None
        if compressor is not None:
            response.headers["Content-Encoding"] = "gzip"
        await response.prepare(request)
        if request.method == "HEAD":
            return response
        size = await _send(snap, response, compressor)
        await response.write_eof()
    await store.record_pull(snap, request.headers.get("User-Agent", ""), size)
    return response


WRITE_AT = 256 * 1024
"""Chunks from PostgreSQL are gathered up to this size before one write: fewer, larger socket writes."""


async def _send(snap: Snapshot, response: web.StreamResponse, compressor: Any) -> int:
    """Copy the feed into the response; returns the uncompressed size. Memory stays at about `WRITE_AT`."""
    size = 0
    pending: list[bytes] = []
    pending_size = 0

    async def flush() -> None:
        nonlocal pending_size
        data = b"".join(pending)
        pending.clear()
        pending_size = 0
        out = compressor.compress(data) if compressor is not None else data
        if out:
            await response.write(out)

    async def sink(chunk: bytes) -> None:
        nonlocal size, pending_size
        size += len(chunk)
        pending.append(chunk)
        pending_size += len(chunk)
        if pending_size >= WRITE_AT:
            await flush()

    await snap.copy(sink)
    await flush()
    if compressor is not None:
        await response.write(compressor.flush())
    return size


# -- homepages ---------------------------------------------------------------------------------------------------


def _page(html: str, status: int = 200) -> web.Response:
    return web.Response(
        text=html,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={**homepage.SECURITY_HEADERS, "Cache-Control": "public, max-age=60"},
    )


_NOT_FOUND_PAGE = (
    '<!doctype html><html lang="ko"><head><meta charset="utf-8"><meta name="viewport" '
    'content="width=device-width, initial-scale=1"><title>찾을 수 없는 페이지</title></head>'
    "<body><main><h1>찾을 수 없는 페이지입니다</h1><p>주소를 다시 확인해 주세요.</p></main></body></html>"
)


async def merchant_page(request: web.Request) -> web.Response:
    slug = request.match_info["slug"]
    catalogue_store = request.app[CATALOGUE]
    row = None
    if _SLUG.match(slug):
        row = await catalogue_store.pool.fetchrow(
            "SELECT * FROM merchants WHERE slug = $1 AND status = 'verified'", slug
        )
    if row is None:
        return _page(_NOT_FOUND_PAGE, 404)
    street = request.app[STREETS].get(row["street_code"]) if row["street_code"] else None
    merchant = homepage.PageMerchant(
        slug=row["slug"],
        name=row["name"],
        kind=row["kind"],
        description=row["description"],
        address=row["address"],
        lat=row["lat"],
        lng=row["lng"],
        phone=row["phone"],
        street_name=street.name if street else None,
        street_code=street.code if street else None,
        district_name=street.district_name if street else None,
        shop_url=row["shop_url"],
    )
    products = [_page_product(p) for p in await catalogue_store.for_homepage(row["id"])]
    base = request.app[SETTINGS].partner_public_url.rstrip("/")
    return _page(homepage.render_merchant_page(merchant, products, base))


def _page_product(row: asyncpg.Record) -> homepage.PageProduct:
    options = row["options"]
    if isinstance(options, str):
        options = json.loads(options)
    return homepage.PageProduct(
        sku=row["sku"],
        title=row["title"],
        description=row["description"],
        price=row["price"],
        sale_price=row["sale_price"],
        stock=row["stock"],
        image_url=row["image_url"],
        additional_image_urls=list(row["additional_image_urls"]),
        category=list(row["category"]),
        shipping_fee=row["shipping_fee"],
        cash_on_delivery=row["cash_on_delivery"],
        options=[homepage.PageOption(o["name"], o["value"], int(o.get("extra_price", 0))) for o in options],
        link=row["link"],
    )


async def street_page(request: web.Request) -> web.Response:
    street = request.app[STREETS].get(request.match_info["code"])
    if street is None:
        return _page(_NOT_FOUND_PAGE, 404)
    rows = await request.app[CATALOGUE].pool.fetch(
        "SELECT slug, name, kind FROM merchants WHERE street_code = $1 AND status = 'verified' ORDER BY name",
        street.code,
    )
    merchants = [homepage.StreetMerchant(r["slug"], r["name"], r["kind"]) for r in rows]
    base = request.app[SETTINGS].partner_public_url.rstrip("/")
    return _page(
        homepage.render_street_page(street.code, street.name, street.description, street.district_name, merchants, base)
    )


# -- the catalogue webhook -------------------------------------------------------------------------------------------


async def catalogue_webhook(request: web.Request) -> web.Response:
    """A partner platform's product change for a merchant: `{type, timestamp, data}` (see the README)."""
    source = request.match_info["source"]
    verifier = request.app[VERIFIERS].get(source)
    if verifier is None:
        return _json({"error": "unknown_source", "detail": f"no webhook secret is configured for {source[:40]!r}"}, 404)
    body = await request.read()
    try:
        delivery = verifier.verify(dict(request.headers), body)
    except WebhookVerificationError as exc:
        return _json({"error": str(exc.reason), "detail": exc.detail}, 401)
    try:
        parsed = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        parsed = None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("data"), dict):
        return _errors([FieldViolation("body", "must be a JSON object {type, timestamp, data}")])
    kind, data = parsed.get("type"), parsed["data"]
    if kind not in ("product.upserted", "product.deleted"):
        return _errors([FieldViolation("type", "type must be product.upserted or product.deleted")])
    store = request.app[CATALOGUE]
    merchant = await _merchant_for(store.pool, data.get("merchant_id"))
    if merchant is None:
        return _errors([FieldViolation("data.merchant_id", "no merchant with this id")], 404)
    consented = await store.pool.fetchval(
        "SELECT granted FROM consents WHERE merchant_id = $1 AND platform = $2", merchant["id"], source
    )
    if not consented:
        return _json(
            {"error": "no_consent", "detail": f"the merchant has not consented to {source} managing its catalogue"}, 403
        )
    receipt = (source, delivery.id)
    try:
        if kind == "product.deleted":
            sku = data.get("sku")
            if not isinstance(sku, str) or not catalogue.SKU.match(sku):
                return _errors([FieldViolation("data.sku", "must be the product's sku")])
            deleted = await store.delete(merchant, sku, source, f"webhook:{source}", receipt)
            return _json({"product_id": f"{merchant['slug']}_{sku}", "deleted": deleted}, 202)
        product, problems = catalogue.validate(catalogue.draft_from_json(data), prefix="data.")
        if product is None:
            return _errors(problems)
        stored = await store.upsert(merchant, product, source, f"webhook:{source}", receipt)
    except Replayed:
        return _json({"error": "replayed", "detail": f"webhook-id {delivery.id!r} was already applied"}, 409)
    except NotFound as exc:
        return _errors([FieldViolation("data.sku", exc.message)], 404)
    return _json(
        {"product_id": f"{merchant['slug']}_{product.sku}", "created": stored.created, "changed": stored.changed}, 202
    )


async def _merchant_for(pool: asyncpg.Pool, raw: Any) -> asyncpg.Record | None:
    if not isinstance(raw, str):
        return None
    try:
        key = uuid.UUID(raw)
    except ValueError:
        return None
    row: asyncpg.Record | None = await pool.fetchrow("SELECT * FROM merchants WHERE id = $1", key)
    return row


async def healthz(request: web.Request) -> web.Response:
    await request.app[CATALOGUE].pool.fetchval("SELECT 1")
    return _json({"status": "serving"})


@web.middleware
async def _no_crash(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Errors answer in JSON; an unexpected one is logged and is a bare 500 (never a stack trace)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = f"{request.method} {request.path[:200]}"
        return _json({"error": exc.reason.lower().replace(" ", "_"), "detail": detail}, exc.status)
    except DomainError as exc:
        return _json({"error": exc.code.name.lower(), "detail": exc.message}, 400)
    except ConnectionResetError:
        raise
    except Exception:
        logs.get("partner.http").exception("unhandled error in request", path=request.path[:200])
        return _json({"error": "internal", "detail": "internal error"}, 500)


def build_app(
    feeds: FeedStore, catalogue_store: CatalogueStore, streets: Streets, chosen: settings.Http
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_no_crash])
    app[FEEDS] = feeds
    app[CATALOGUE] = catalogue_store
    app[STREETS] = streets
    app[SETTINGS] = chosen
    app[VERIFIERS] = {
        source: WebhookVerifier(keys, chosen.partner_webhook_tolerance_s)
        for source, keys in chosen.partner_webhook_secrets.items()
    }
    app.router.add_get("/ep/{group}/{format}/{kind}.tsv", feed)
    app.router.add_get("/m/{slug}", merchant_page)
    app.router.add_get("/s/{code}", street_page)
    app.router.add_post("/webhooks/catalogue/{source}", catalogue_webhook)
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


def check_sources(sources: Mapping[str, list[str]], platforms: tuple[str, ...]) -> None:
    unknown = sorted(set(sources) - set(platforms))
    if unknown:
        raise ValueError(f"webhook sources {unknown} are not platforms a merchant can consent to")


async def serve(proc: process.Process, chosen: settings.Http) -> None:
    check_sources(chosen.partner_webhook_secrets, chosen.platforms)
    pool = await proc.database(chosen.database_url, settings.SCHEMA, settings.MIGRATIONS, max_size=20)
    streets = Streets.load(chosen.partner_streets)
    app = build_app(FeedStore(pool, chosen.partner_public_url), CatalogueStore(pool), streets, chosen)
    await proc.start("http site", HttpSite(app, chosen.listen_host, chosen.http_port))
    logs.get("partner.http").info("partner http serving", http_port=chosen.http_port)


def main() -> None:
    chosen = settings.Http.load_or_exit()
    logging.getLogger("aiohttp.access").disabled = True
    process.run("partner-http", "partner", chosen, serve)


if __name__ == "__main__":
    main()
