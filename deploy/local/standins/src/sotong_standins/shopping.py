"""A shopping platform (Naver Shopping's product-DB intake) that pulls merchants' EP URLs on a schedule.

A mall registers its product-DB URLs the way a merchant does in the Shopping Partner Center (`POST
/shopping/v1/malls`: the full EP URL, optionally the summary EP URL and the pull intervals). The stand-in then
pulls them as the platform does: the full EP every `full_interval_s`, the summary EP every `summary_interval_s`,
each with `If-None-Match` (the last ETag; 304 leaves the catalogue as it is) and `Accept-Encoding: gzip`, read
line by line.

It checks every row with rules of its own (this module shares no code with Sotong, as a real platform would not):
the header must hold the EP 3.0 columns it needs; id at most 50 characters and unique in the file; title 1-100
characters without HTML tags; price_pc a positive whole number; link and image_link absolute http(s) URLs;
add_image_link at most 10 URLs separated by |; category_name1 present; shipping -1, 0 or a fee. A summary row's
class must be I, U or D with an update_time `YYYY-MM-DD HH:MM:SS`; D needs only the id. Rows that pass are the
mall's catalogue (a full pull replaces it; a summary pull inserts, updates and deletes); rows that fail are
reported with their line and reason.

`GET /shopping/v1/malls/{mall}` reports how many products it accepted, the rejected rows of the last pulls and
every pull; `POST /shopping/v1/malls/{mall}/pull?kind=full|summary` pulls now (tests do not wait for the clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

REQUIRED = ("id", "title", "price_pc", "link", "image_link", "category_name1", "shipping")
SUMMARY_REQUIRED = ("class", "update_time")
_TAG = re.compile(r"<\s*/?\s*[A-Za-z][^>]*>")
_MALL = re.compile(r"^[A-Za-z0-9_.-]{1,60}$")
MAX_REJECTED = 200
MAX_PULLS = 50


@dataclass
class Pull:
    kind: str
    started_at: float
    status: int = 0
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    not_modified: bool = False
    classes: dict[str, int] = field(default_factory=dict)
    error: str = ""
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Mall:
    mall_id: str
    full_url: str
    summary_url: str | None
    full_interval_s: float
    summary_interval_s: float
    products: dict[str, dict[str, str]] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    pulls: list[Pull] = field(default_factory=list)
    etags: dict[str, str] = field(default_factory=dict)
    next_full: float = 0.0
    next_summary: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def report(self, with_products: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "mall_id": self.mall_id,
            "full_url": self.full_url,
            "summary_url": self.summary_url,
            "accepted": len(self.products),
            "rejected": self.rejected[-MAX_REJECTED:],
            "pulls": [p.as_json() for p in self.pulls[-MAX_PULLS:]],
        }
        if with_products:
            body["products"] = self.products
        return body


def _absolute(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in url


def row_problem(row: dict[str, str], summary: bool) -> str | None:
    """Why the platform refuses a row, or None (the stand-in's own reading of the EP 3.0 rules)."""
    if summary:
        kind = row.get("class", "")
        if kind not in ("I", "U", "D"):
            return "class must be I, U or D"
        try:
            datetime.strptime(row.get("update_time", ""), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return "update_time must be YYYY-MM-DD HH:MM:SS"
        if kind == "D":
            return None if row.get("id") else "id is required"
    for name in REQUIRED:
        if not row.get(name):
            return f"{name} is required"
    if len(row["id"]) > 50:
        return "id is longer than 50 characters"
    title = row["title"]
    if len(title) > 100:
        return "title is longer than 100 characters"
    if _TAG.search(title):
        return "title contains HTML"
    if not row["price_pc"].isdigit() or int(row["price_pc"]) <= 0:
        return "price_pc must be a positive whole number"
    for name in ("link", "image_link", "mobile_link"):
        if row.get(name) and not _absolute(row[name]):
            return f"{name} must be an absolute http(s) URL"
    extra = row.get("add_image_link", "")
    if extra:
        urls = extra.split("|")
        if len(urls) > 10:
            return "add_image_link holds more than 10 images"
        if not all(_absolute(u) for u in urls):
            return "add_image_link must be absolute http(s) URLs"
    shipping = row["shipping"]
    if not (shipping.lstrip("-").isdigit() and int(shipping) >= -1):
        return "shipping must be -1, 0 or a fee"
    return None


class ShoppingPlatform:
    """The malls and their catalogues, the scheduler that pulls them, and the HTTP routes."""

    def __init__(self, tick_s: float = 1.0) -> None:
        self.malls: dict[str, Mall] = {}
        self._tick = tick_s
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/shopping/v1/malls", self.register),
            web.get("/shopping/v1/malls/{mall}", self.show),
            web.post("/shopping/v1/malls/{mall}/pull", self.pull_now),
        ]

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=600), headers={"User-Agent": "ShoppingPlatformStandIn/1 (EP 3.0)"}
        )
        self._task = asyncio.create_task(self._schedule(), name="shopping pulls")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    # -- routes ---------------------------------------------------------------------------------------------------

    async def register(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response({"error": "body must be a JSON object"}, status=400)
        mall_id, full_url = body.get("mall_id", ""), body.get("full_url", "")
        summary_url = body.get("summary_url") or None
        if not isinstance(mall_id, str) or not _MALL.match(mall_id):
            return web.json_response({"error": "mall_id must be 1-60 of A-Z a-z 0-9 _ . -"}, status=400)
        for name, url in (("full_url", full_url), ("summary_url", summary_url)):
            if url is not None and (not isinstance(url, str) or not _absolute(url)):
                return web.json_response({"error": f"{name} must be an absolute http(s) URL"}, status=400)
        try:
            full_every = float(body.get("full_interval_s", 86400))
            summary_every = float(body.get("summary_interval_s", 3600))
        except (TypeError, ValueError):
            return web.json_response({"error": "intervals must be numbers of seconds"}, status=400)
        now = time.monotonic()
        mall = Mall(mall_id, full_url, summary_url, max(1.0, full_every), max(1.0, summary_every))
        mall.next_full = now if body.get("pull_now", True) else now + mall.full_interval_s
        mall.next_summary = now + mall.summary_interval_s
        self.malls[mall_id] = mall
        return web.json_response(mall.report(False), status=201)

    async def show(self, request: web.Request) -> web.Response:
        mall = self.malls.get(request.match_info["mall"])
        if mall is None:
            return web.json_response({"error": "unknown mall"}, status=404)
        return web.json_response(mall.report(request.query.get("products") == "1"))

    async def pull_now(self, request: web.Request) -> web.Response:
        mall = self.malls.get(request.match_info["mall"])
        if mall is None:
            return web.json_response({"error": "unknown mall"}, status=404)
        kind = request.query.get("kind", "full")
        if kind not in ("full", "summary") or (kind == "summary" and not mall.summary_url):
            return web.json_response(
                {"error": "kind must be full, or summary for a mall with a summary URL"}, status=400
            )
        pull = await self.pull(mall, kind)
        return web.json_response({**mall.report(False), "pull": pull.as_json()})

    # -- pulling --------------------------------------------------------------------------------------------------

    async def _schedule(self) -> None:
        while True:
            now = time.monotonic()
            for mall in list(self.malls.values()):
                if now >= mall.next_full:
                    mall.next_full = now + mall.full_interval_s
                    await self.pull(mall, "full")
                elif mall.summary_url and now >= mall.next_summary:
                    mall.next_summary = now + mall.summary_interval_s
                    await self.pull(mall, "summary")
            await asyncio.sleep(self._tick)

    async def pull(self, mall: Mall, kind: str) -> Pull:
        async with mall.lock:
            pull = Pull(kind, time.time())
            started = time.perf_counter()
            try:
                await self._pull(mall, kind, pull)
            except (aiohttp.ClientError, TimeoutError, OSError, UnicodeDecodeError) as exc:
                pull.error = f"{type(exc).__name__}: {exc}"[:300]
            pull.seconds = round(time.perf_counter() - started, 3)
            mall.pulls.append(pull)
            del mall.pulls[:-MAX_PULLS]
            return pull

    async def _pull(self, mall: Mall, kind: str, pull: Pull) -> None:
        assert self._session is not None
        url = mall.full_url if kind == "full" else mall.summary_url
        assert url is not None
        headers = {"Accept-Encoding": "gzip"}
        if url in mall.etags:
            headers["If-None-Match"] = mall.etags[url]
        async with self._session.get(url, headers=headers) as response:
            pull.status = response.status
            if response.status == 304:
                pull.not_modified = True
                return
            if response.status != 200:
                pull.error = f"HTTP {response.status}"
                return
            header_line = (await response.content.readline()).decode("utf-8").rstrip("\r\n").lstrip("\ufeff")
            names = header_line.split("\t")
            wanted = REQUIRED + (SUMMARY_REQUIRED if kind == "summary" else ())
            missing = [n for n in wanted if n not in names]
            if missing:
                pull.error = f"the header lacks {', '.join(missing)}"
                return
            fresh: dict[str, dict[str, str]] = {}
            rejected: list[dict[str, Any]] = []
            line = 1
            async for raw in response.content:
                line += 1
                text = raw.decode("utf-8").rstrip("\r\n")
                if not text:
                    continue
                pull.rows += 1
                values = text.split("\t")
                if len(values) != len(names):
                    rejected.append({"line": line, "id": values[0][:50], "reason": "wrong number of columns"})
                    continue
                row = dict(zip(names, values, strict=True))
                problem = row_problem(row, kind == "summary")
                if problem is None and kind == "full" and row["id"] in fresh:
                    problem = "id appears twice"
                if problem is not None:
                    rejected.append({"line": line, "id": row.get("id", "")[:50], "reason": problem})
                    continue
                if kind == "full":
                    fresh[row["id"]] = row
                else:
                    self._apply(mall, row, pull)
            etag = response.headers.get("ETag")
        if etag:
            mall.etags[url] = etag
        pull.rejected = len(rejected)
        if kind == "full":
            mall.products = fresh
            pull.accepted = len(fresh)
        else:
            pull.accepted = pull.rows - pull.rejected
        mall.rejected = rejected[:MAX_REJECTED]

    @staticmethod
    def _apply(mall: Mall, row: dict[str, str], pull: Pull) -> None:
        product_id = row["id"]
        pull.classes[row["class"]] = pull.classes.get(row["class"], 0) + 1
        if row["class"] == "D":
            if mall.products.pop(product_id, None) is not None:
                pull.deleted += 1
            return
        if product_id in mall.products:
            pull.updated += 1
        else:
            pull.inserted += 1
        mall.products[product_id] = {k: v for k, v in row.items() if k not in ("class", "update_time")}
