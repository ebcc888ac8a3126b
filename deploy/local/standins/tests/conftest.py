"""Fixtures that run the real stand-in server on free loopback ports and talk to it over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from sotong_standins.control import StandinControl
from sotong_standins.server import Ports, Settings, StandinServer

TOKEN = "test-token"


# A template as an operator registers it (the local stack registers the city's from sotong_common).
TEMPLATES = {"SOTONG_NOTICE": "[서울특별시 알림]\n#{title}\n\n#{body}"}


@pytest.fixture
async def server() -> AsyncIterator[StandinServer]:
    standins = StandinServer(Settings(http_port=0, smtp_port=0, token=TOKEN, seed=7, kakao_templates=TEMPLATES))
    await standins.start()
    try:
        yield standins
    finally:
        await standins.stop()


@pytest.fixture
def ports(server: StandinServer) -> Ports:
    assert server.ports is not None
    return server.ports


@pytest.fixture
def base_url(ports: Ports) -> str:
    return f"http://127.0.0.1:{ports.http}"


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        yield session


@pytest.fixture
async def control(base_url: str) -> AsyncIterator[StandinControl]:
    async with StandinControl(base_url) as client:
        yield client
