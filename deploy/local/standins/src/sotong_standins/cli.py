"""``sotong-standins``: run every provider stand-in until interrupted.

Flags fall back to ``SOTONG_STANDINS_*`` environment variables (the project's config convention). The chosen
ports are printed as one JSON line on stdout (and written to ``--ports-file``) once both servers are listening,
so scripts can start the process with ``--port 0`` and read where it landed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .faults import FaultPlan, FaultPlanError
from .server import PROVIDER_NAMES, Settings, StandinServer

ENV_PREFIX = "SOTONG_STANDINS_"


class ConfigError(Exception):
    """A bad flag or environment value; reported as one line naming it, then exit 2."""


def _env(name: str) -> str | None:
    value = os.environ.get(ENV_PREFIX + name)
    return value if value not in (None, "") else None


def _env_int(name: str, default: int | None) -> int | None:
    value = _env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name} must be an integer, got {value!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sotong-standins", description="Local stand-ins for Sotong's external delivery providers."
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (loopback only; default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="HTTP port, 0 for a free one [SOTONG_STANDINS_PORT]")
    parser.add_argument("--smtp-port", type=int, default=None, help="SMTP port, 0 for a free one [..._SMTP_PORT]")
    parser.add_argument("--no-smtp", action="store_true", help="do not start the SMTP press-list stand-in")
    parser.add_argument("--ports-file", type=Path, default=None, help="also write the ports JSON line here")
    parser.add_argument("--token", default=None, help="bearer token every provider requires [..._TOKEN]")
    parser.add_argument("--no-auth", action="store_true", help="accept requests without a bearer token")
    parser.add_argument("--seed", type=int, default=None, help="seed for deterministic faults [..._SEED]")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="base latency for every provider")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="random extra latency up to this much")
    parser.add_argument("--realistic-limits", action="store_true", help="apply each provider's typical real rate limit")
    parser.add_argument(
        "--provider-settings",
        default=None,
        help='JSON of base fault plans per provider, e.g. \'{"sms": {"rate_limit_per_s": 10}}\'',
    )
    parser.add_argument("--allow-unkeyed", action="store_true", help="accept deliveries without idempotency keys")
    parser.add_argument(
        "--kakao-templates",
        type=Path,
        default=None,
        help="JSON file of alimtalk templates to register, code -> text [..._KAKAO_TEMPLATES]",
    )
    parser.add_argument("--keep-recent", type=int, default=10_000, help="recent deliveries kept per provider")
    parser.add_argument("--verbose", "-v", action="store_true", help="log one JSON line per request")
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        raise ConfigError(f"--host must be a loopback address, got {args.host!r}")
    http_port = args.port if args.port is not None else _env_int("PORT", 8780)
    smtp_port = args.smtp_port if args.smtp_port is not None else _env_int("SMTP_PORT", 8725)
    seed = args.seed if args.seed is not None else _env_int("SEED", None)
    token = None if args.no_auth else (args.token or _env("TOKEN") or "standin-token")
    overrides: dict[str, dict[str, Any]] = {}
    raw = args.provider_settings or _env("PROVIDER_SETTINGS")
    if raw:
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--provider-settings is not JSON: {exc}") from None
        if not isinstance(parsed, dict) or not all(isinstance(v, dict) for v in parsed.values()):
            raise ConfigError("--provider-settings must map provider names to fault-plan objects")
        for name, plan in parsed.items():
            if name not in PROVIDER_NAMES:
                raise ConfigError(f"--provider-settings names unknown provider {name!r}")
            try:
                FaultPlan().merged(plan)
            except FaultPlanError as exc:
                raise ConfigError(f"--provider-settings for {name}: {exc}") from None
        overrides = parsed
    templates: dict[str, str] = {}
    templates_file = args.kakao_templates or (Path(_env("KAKAO_TEMPLATES") or "") if _env("KAKAO_TEMPLATES") else None)
    if templates_file is not None:
        try:
            loaded = json.loads(templates_file.read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"--kakao-templates {templates_file}: {exc}") from None
        if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in loaded.items()
        ):
            raise ConfigError("--kakao-templates must be a JSON object of template code -> text")
        templates = loaded
    return Settings(
        host=args.host,
        http_port=http_port or 0,
        smtp_port=smtp_port or 0,
        token=token,
        seed=seed,
        keep_recent=args.keep_recent,
        allow_unkeyed=args.allow_unkeyed,
        realistic_limits=args.realistic_limits,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        smtp=not args.no_smtp,
        overrides=overrides,
        kakao_templates=templates,
    )


async def serve(settings: Settings, ports_file: Path | None) -> None:
    server = StandinServer(settings)
    ports = await server.start()
    line = json.dumps(ports.as_json())
    if ports_file is not None:
        tmp = ports_file.with_name(ports_file.name + ".tmp")
        tmp.write_text(line + "\n")
        tmp.replace(ports_file)  # atomic, so a script polling for the file never reads half a line
    print(line, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s", stream=sys.stderr
    )
    if not args.verbose:
        logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd chatters at INFO per session
    try:
        settings = settings_from(args)
        asyncio.run(serve(settings, args.ports_file))
    except ConfigError as exc:
        print(f"sotong-standins: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"sotong-standins: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0
