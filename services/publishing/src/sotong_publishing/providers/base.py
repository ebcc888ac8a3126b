"""The adapter contract and the HTTP plumbing every HTTP adapter shares.

Errors are classified once, here, the way the engine needs them:
- 429: transient, with the provider's Retry-After, and not a sign of ill health (the breaker ignores it);
- 5xx, timeouts, refused or dropped connections: transient and counted by the circuit breaker;
- other 4xx: permanent for that request (retrying the same bytes cannot help).
A dropped connection may hide a delivery that happened; the retry carries the same idempotency key, so the
provider acknowledges it instead of sending it again.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import aiohttp

from sotong.publishing.v1 import publishing_events_pb2 as pb


class TransientError(Exception):
    """The request may succeed later; `health` False means the provider is fine but asks us to wait (429).

    `ambiguous` means the request may have been delivered (a timeout or a connection lost after it was sent):
    it is retried on the same provider, whose idempotency record recognises it, rather than on the fallback,
    which would send it a second time.
    """

    def __init__(
        self, message: str, retry_after_s: float | None = None, health: bool = True, ambiguous: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.health = health
        self.ambiguous = ambiguous


class PermanentError(Exception):
    """The provider refused this request for good (bad content, unknown account)."""


class UnexpectedAnswer(TransientError):
    """A 2xx answer whose shape no adapter foresaw (not JSON, a field missing, fewer results than targets).

    The provider may have delivered, so the request is retried with the same idempotency key (the provider
    answers a repeat without sending again) and counts against the provider's health; if it keeps answering so,
    the targets end as dead letters. Never an exception that escapes the adapter.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, health=True, ambiguous=True)


def answer_field(answer: Any, *path: str | int) -> Any:
    """`answer[path[0]][path[1]]...`, or UnexpectedAnswer naming the missing step."""
    found = answer
    for step in path:
        try:
            found = found[step]
        except (KeyError, IndexError, TypeError):
            shown = ".".join(str(p) for p in path)
            raise UnexpectedAnswer(f"the provider's answer has no {shown}: {str(answer)[:200]!r}") from None
    return found


class ItemStatus(enum.Enum):
    DELIVERED = "delivered"
    FAILED = "failed"  # permanent for this target
    RETRY = "retry"  # transient for this target only (a batch item answered UNAVAILABLE)


class ItemResult(NamedTuple):
    """One target's answer; a tuple because a million-device fan-out builds a million of them."""

    target: str
    status: ItemStatus
    error: str = ""


@dataclass(frozen=True)
class Job:
    """One dispatch as an adapter needs it; `members` overrides the chat room's members (a drill's)."""

    dispatch: pb.DispatchRequested
    members: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def dispatch_id(self) -> str:
        return self.dispatch.dispatch_id

    def rendering(self, language: str = "ko") -> pb.Rendering:
        """The rendering in `language` (prefix match), else the first; an empty one when there is none."""
        for rendering in self.dispatch.renderings:
            if rendering.language.lower().startswith(language.lower()):
                return rendering
        if self.dispatch.renderings:
            return self.dispatch.renderings[0]
        return pb.Rendering()

    def text(self, language: str = "ko", with_title: bool = True, with_url: bool = True) -> str:
        rendering = self.rendering(language)
        parts = [rendering.title] if with_title and rendering.title else []
        parts.append(rendering.body)
        if with_url and rendering.url:
            parts.append(rendering.url)
        return "\n".join(p for p in parts if p)


class Provider(Protocol):
    """A channel's provider: `kind` is the channel kind, `name` says which (primary or fallback) in receipts."""

    kind: str
    name: str
    max_batch: int

    async def send(self, job: Job, targets: list[str]) -> list[ItemResult]: ...

    async def close(self) -> None: ...


class HttpProvider:
    """Shared HTTP session, bearer auth and error classification for HTTP adapters."""

    kind = ""
    max_batch = 1

    def __init__(self, name: str, base_url: str, token: str, timeout_s: float = 10.0, connections: int = 8) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.connections = connections
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout,
                connector=aiohttp.TCPConnector(limit=self.connections),
                headers={"Authorization": f"Bearer {self.token}"} if self.token else {},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, method: str, path: str, key: str | None, body: Any = None) -> tuple[int, Any]:
        """One request; returns (status, JSON body) for 2xx, raises the classified error otherwise."""
        headers = {"Content-Type": "application/json"}
        if key is not None:
            if not key.isprintable():  # never let a value split a header (the dispatcher refuses such targets)
                raise PermanentError(f"{self.name}: the idempotency key has control characters")
            headers["Idempotency-Key"] = key
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        try:
            async with self.session().request(method, self.base_url + path, data=data, headers=headers) as resp:
                raw = await resp.read()
                status = resp.status
                retry_after = _seconds(resp.headers.get("Retry-After"))
        except TimeoutError as exc:
            raise TransientError(f"{self.name}: timeout: {exc!r}", ambiguous=True) from None
        except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
            raise TransientError(f"{self.name}: {type(exc).__name__}: {exc}") from None
        except aiohttp.ClientError as exc:  # lost after sending (disconnected, broken payload): maybe delivered
            raise TransientError(f"{self.name}: {type(exc).__name__}: {exc}", ambiguous=True) from None
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")[:500]
            if 200 <= status < 300:
                raise UnexpectedAnswer(
                    f"{self.name}: HTTP {status}, a body that is not JSON: {parsed[:200]!r}"
                ) from None
        if 200 <= status < 300:
            return status, parsed
        detail = f"{self.name}: HTTP {status}: {json.dumps(parsed, ensure_ascii=False)[:300]}"
        if status == 429:
            raise TransientError(detail, retry_after, health=False)
        if status >= 500 or status == 408:
            raise TransientError(detail, retry_after)
        raise PermanentError(detail)


def _seconds(raw: str | None) -> float | None:
    """Retry-After in seconds; a value that is not a finite number ("abc", "inf", "nan") is no hint at all."""
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


class Refs(Protocol):
    """Provider-side ids the engine keeps to thread later messages (e.g. the portal notice an update refers to)."""

    async def get_ref(self, thread_id: str, kind: str) -> str | None: ...

    async def put_ref(self, thread_id: str, kind: str, ref: str) -> None: ...


class MemoryRefs:
    """Refs kept in memory: for unit tests and for a process without a database."""

    def __init__(self) -> None:
        self._refs: dict[tuple[str, str], str] = {}

    async def get_ref(self, thread_id: str, kind: str) -> str | None:
        return self._refs.get((thread_id, kind))

    async def put_ref(self, thread_id: str, kind: str, ref: str) -> None:
        self._refs.setdefault((thread_id, kind), ref)
