"""structlog JSON logs that carry the current trace and never carry personal data.

Every line gets trace_id and span_id from the active OpenTelemetry span, so a log line found in one service leads
to the whole trace. Keys that name personal data are masked before rendering: a log is copied to many places and
kept for long, which is exactly where a citizen's phone number must not end up.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO, cast

import structlog
from opentelemetry import trace

PERSONAL_KEYS = frozenset({"contact", "phone", "email", "name", "reporter", "address", "password", "token"})

_PHONE = re.compile(r"(?<!\d)(01[016789]|0\d{1,2})[-. ]?(\d{3,4})[-. ]?(\d{4})(?!\d)")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+)")


def mask_text(text: str) -> str:
    """Mask phone numbers and e-mail addresses that slipped into free text."""
    text = _PHONE.sub(lambda m: f"{m.group(1)}-****-{m.group(3)}", text)
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


_PLATFORM_KEYS = frozenset({"event", "level", "timestamp", "trace_id", "span_id", "logger_name", "service"})
"""Keys the logging set-up itself fills (or, for `event`, masks below): never personal data, never scanned."""


def _mask_personal(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if key in _PLATFORM_KEYS:
            continue
        if key in PERSONAL_KEYS and value not in (None, ""):
            event[key] = "***"
        elif isinstance(value, str):
            event[key] = mask_text(value)
    if isinstance(event.get("event"), str):
        event["event"] = mask_text(event["event"])
    return event


def _add_trace(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event["trace_id"] = format(ctx.trace_id, "032x")
        event["span_id"] = format(ctx.span_id, "016x")
    return event


class _Stderr:
    """Whatever sys.stderr is when a line is written, not when logging was configured.

    Loggers are cached on first use; binding the stream object at configure time would keep writing to a stream
    that was replaced and closed since (a test runner's capture, a daemonised process).
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(service: str, level: str = "info") -> None:
    """Set up structlog (and the stdlib loggers of our dependencies) to write one JSON object per line."""
    numeric = logging.getLevelName(level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace,
        _mask_personal,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, _Stderr())),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Our dependencies are chatty at INFO (rebalances, metadata refreshes); keep them at WARNING.
    root.setLevel(max(numeric, logging.WARNING))


def get(name: str | None = None) -> Any:
    """A bound structlog logger; `name` becomes the `logger_name` key."""
    return structlog.get_logger(logger_name=name) if name else structlog.get_logger()
