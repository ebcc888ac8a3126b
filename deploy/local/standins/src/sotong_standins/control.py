"""Typed async client for the stand-ins' control API, for service, e2e and reliability tests.

A test should read like the property it checks ("after the outage, every target got exactly one message"),
not like HTTP plumbing, so this wraps ``/_control`` in a few awaitable calls with typed results::

    async with StandinControl.from_ports_file(".run/standins.json") as control:
        await control.inject("push", fail_status=503, fail_rate=1.0, duration_s=2)
        ...
        stats = await control.stats()
        assert stats["push"]["repeated_targets"] == 0
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import Any, NotRequired, TypedDict

import aiohttp


class FaultView(TypedDict):
    fail_status: int
    fail_rate: float
    latency_ms: float
    jitter_ms: float
    rate_limit_per_s: float | None
    burst: float | None
    retry_after_s: int | None
    drop_rate: float
    item_fail_rate: float
    seconds_left: float | None
    seed: NotRequired[int | None]


class ProviderStats(TypedDict):
    """Counts for one provider since start or the last reset."""

    requests: int  # every request that reached the provider, refused or not
    accepted: int  # deliveries recorded for the first time (one per target)
    unique_keys: int
    duplicates: int  # repeats of a key already recorded: acknowledged, not delivered again
    key_conflicts: int  # a key reused for a different target or text: an adapter bug
    repeated_targets: int  # same text to the same target under a new key: a message sent twice
    rejected: dict[str, int]  # by HTTP status ("401", "429", "503", "400", ...)
    item_failures: dict[str, int]  # per-item failures inside batch answers, by reason
    dropped: int  # connections lost on purpose after the delivery was recorded
    faults: FaultView
    extra: NotRequired[dict[str, Any]]


class Delivery(TypedDict):
    seq: int
    at: float
    kind: str
    key: str
    target: str
    text: str
    detail: NotRequired[dict[str, Any]]


class StandinControlError(RuntimeError):
    """The control API answered with an error; the message carries its status and body."""


class StandinControl:
    """Client for ``<base_url>/_control``; use as an async context manager or call ``close``."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        if self.base_url.endswith("/_control"):
            self.base_url = self.base_url[: -len("/_control")]
        self._session = session
        self._owns_session = session is None

    @classmethod
    def from_ports_file(cls, path: str | Path) -> StandinControl:
        """Build from the JSON line ``sotong-standins --ports-file`` wrote."""
        ports = json.loads(Path(path).read_text())
        return cls(str(ports["base_url"]))

    async def __aenter__(self) -> StandinControl:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
            self._owns_session = True
        return self._session

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self._client().request(method, f"{self.base_url}/_control{path}", **kwargs) as response:
            text = await response.text()
            if response.status >= 400:
                raise StandinControlError(f"{method} /_control{path} -> {response.status}: {text}")
            return json.loads(text) if text else None

    async def health(self) -> bool:
        try:
            body = await self._call("GET", "/health")
        except (aiohttp.ClientError, StandinControlError):
            return False
        return isinstance(body, dict) and body.get("status") == "ok"

    async def stats(self) -> dict[str, ProviderStats]:
        result: dict[str, ProviderStats] = await self._call("GET", "/stats")
        return result

    async def provider_stats(self, provider: str) -> ProviderStats:
        result: ProviderStats = await self._call("GET", f"/{provider}")
        return result

    async def inject(
        self,
        provider: str,
        *,
        fail_status: int | None = None,
        fail_rate: float | None = None,
        latency_ms: float | None = None,
        jitter_ms: float | None = None,
        rate_limit_per_s: float | None = None,
        burst: float | None = None,
        retry_after_s: int | None = None,
        drop_rate: float | None = None,
        item_fail_rate: float | None = None,
        duration_s: float | None = None,
        seed: int | None = None,
    ) -> dict[str, FaultView]:
        """Layer faults over ``provider`` (or ``"all"``); None leaves a field unchanged, and
        ``rate_limit_per_s=0`` removes a limit. With ``duration_s`` everything reverts when it runs out."""
        changes = {
            name: value
            for name, value in {
                "fail_status": fail_status,
                "fail_rate": fail_rate,
                "latency_ms": latency_ms,
                "jitter_ms": jitter_ms,
                "rate_limit_per_s": rate_limit_per_s,
                "burst": burst,
                "retry_after_s": retry_after_s,
                "drop_rate": drop_rate,
                "item_fail_rate": item_fail_rate,
                "duration_s": duration_s,
                "seed": seed,
            }.items()
            if value is not None
        }
        result: dict[str, FaultView] = await self._call("POST", f"/{provider}", json=changes)
        return result

    async def reset(self, provider: str | None = None) -> None:
        """Forget deliveries, counters and faults for one provider or all of them."""
        await self._call("POST", "/reset", json={"provider": provider} if provider else {})

    async def deliveries(
        self,
        provider: str,
        limit: int = 100,
        *,
        target: str | None = None,
        key_prefix: str | None = None,
    ) -> list[Delivery]:
        """Recent deliveries, newest first, optionally for one target or under one key prefix."""
        params: dict[str, str] = {"limit": str(limit)}
        if target is not None:
            params["target"] = target
        if key_prefix is not None:
            params["key_prefix"] = key_prefix
        result: list[Delivery] = await self._call("GET", f"/deliveries/{provider}", params=params)
        return result
