"""The shopping-platform stand-in: it pulls a mall's EP URLs, applies its own rules, and reports what it accepted."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from sotong_standins.shopping import row_problem

HEAD = "id\ttitle\tprice_pc\tlink\timage_link\tcategory_name1\tshipping"
GOOD = "m_1\t반지\t1000\thttps://a.kr/1\thttps://a.kr/1.jpg\t주얼리\t0"


@pytest.fixture
async def mall() -> AsyncIterator[tuple[str, dict[str, str]]]:
    """A merchant's feed server whose files the test changes; it answers If-None-Match and gzip."""
    files = {"full": HEAD + "\n" + GOOD + "\n", "summary": HEAD + "\tclass\tupdate_time\n", "etag": 'W/"1"'}

    async def serve(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == files["etag"]:
            return web.Response(status=304)
        body = files[request.match_info["kind"]].encode()
        headers = {"ETag": files["etag"]}
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
        return web.Response(body=body, headers=headers, content_type="text/tab-separated-values")

    app = web.Application()
    app.router.add_get("/ep/{kind}.tsv", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", files
    finally:
        await runner.cleanup()


async def test_a_mall_is_pulled_checked_and_reported(base_url: str, mall: tuple[str, dict[str, str]]) -> None:
    feed, files = mall
    files["full"] += (
        "\n".join(
            [
                "m_2\t<b>반지</b>\t1000\thttps://a.kr/2\thttps://a.kr/2.jpg\t주얼리\t0",
                "m_3\t반지\t-5\thttps://a.kr/3\thttps://a.kr/3.jpg\t주얼리\t0",
                "m_4\t반지\t1000\t/m/4\thttps://a.kr/4.jpg\t주얼리\t0",
                GOOD,
            ]
        )
        + "\n"
    )
    async with aiohttp.ClientSession() as http:
        register = {
            "mall_id": "m",
            "full_url": f"{feed}/ep/full.tsv",
            "summary_url": f"{feed}/ep/summary.tsv",
            "pull_now": False,
        }
        async with http.post(f"{base_url}/shopping/v1/malls", json=register) as reply:
            assert reply.status == 201
        async with http.post(f"{base_url}/shopping/v1/malls/m/pull", params={"kind": "full"}) as reply:
            report = await reply.json()
        assert report["accepted"] == 1
        assert [(r["line"], r["reason"]) for r in report["rejected"]] == [
            (3, "title contains HTML"),
            (4, "price_pc must be a positive whole number"),
            (5, "link must be an absolute http(s) URL"),
            (6, "id appears twice"),
        ]
        async with http.post(f"{base_url}/shopping/v1/malls/m/pull", params={"kind": "full"}) as reply:
            again = await reply.json()
        assert again["pull"]["status"] == 304 and again["accepted"] == 1  # the ETag: nothing to read
        files["etag"] = 'W/"2"'
        files["summary"] += (
            "m_1\t반지\t900\thttps://a.kr/1\thttps://a.kr/1.jpg\t주얼리\t0\tU\t2026-11-24 09:30:00\n"
            "m_5\t목걸이\t5000\thttps://a.kr/5\thttps://a.kr/5.jpg\t주얼리\t-1\tI\t2026-11-24 09:31:00\n"
            "m_9\t\t\t\t\t\t\tD\t2026-11-24 09:32:00\n"
            "m_6\t목걸이\t5000\thttps://a.kr/6\thttps://a.kr/6.jpg\t주얼리\t0\tX\t2026-11-24\n"
        )
        async with http.post(f"{base_url}/shopping/v1/malls/m/pull", params={"kind": "summary"}) as reply:
            summary = await reply.json()
        assert summary["pull"]["classes"] == {"U": 1, "I": 1, "D": 1}
        assert summary["accepted"] == 2 and summary["rejected"][0]["reason"] == "class must be I, U or D"
        async with http.get(f"{base_url}/shopping/v1/malls/m", params={"products": "1"}) as reply:
            products = (await reply.json())["products"]
        assert products["m_1"]["price_pc"] == "900" and "m_5" in products


def test_the_platforms_own_rules() -> None:
    names = HEAD.split("\t")
    row = dict(zip(names, GOOD.split("\t"), strict=True))
    assert row_problem(row, summary=False) is None
    assert row_problem({**row, "add_image_link": "|".join(["https://a.kr/x.jpg"] * 11)}, False) == (
        "add_image_link holds more than 10 images"
    )
    assert (
        row_problem({**row, "image_link": "javascript:alert(1)"}, False) == "image_link must be an absolute http(s) URL"
    )
    assert row_problem({**row, "title": "가" * 101}, False) == "title is longer than 100 characters"
    assert row_problem({**row, "shipping": "-2"}, False) == "shipping must be -1, 0 or a fee"
