"""Running the publishing engine on one machine: the provider stand-ins (primary and fallback instances) and the
dispatch process as children. The local stack, the service and reliability tests and the benchmarks use this,
so they all wire the engine to the stand-ins the same way. (Local-stack code: it is not shipped with the
publishing service.)

Two stand-in processes play a channel's primary and fallback provider: the same adapters, the same API, two
independent ledgers and fault plans, so a test can take the primary down and count what the fallback carried.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sotong_common import kakao_templates

STANDINS_TOKEN = "standin-token"


def start_standins(
    run_dir: Path, name: str, extra_args: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start `sotong-standins` on free ports; returns the process and its ports line (URLs per provider)."""
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    ports_file = run_dir / f"{name}.json"
    ports_file.unlink(missing_ok=True)
    script = Path(sys.executable).parent / "sotong-standins"
    log = open(run_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [
            str(script),
            "--port",
            "0",
            "--smtp-port",
            "0",
            "--ports-file",
            str(ports_file),
            "--token",
            STANDINS_TOKEN,
            "--kakao-templates",
            str(kakao_templates.path()),
            *list(extra_args),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 30
    while not ports_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"{name} did not start: {(run_dir / 'logs' / (name + '.log')).read_text()[-2000:]}")
        time.sleep(0.05)
    ports: dict[str, Any] = json.loads(ports_file.read_text())
    return proc, ports


def dispatch_env(primary: dict[str, Any], fallback: dict[str, Any] | None = None, **overrides: str) -> dict[str, str]:
    """The SOTONG_PUBLISHING_* environment pointing the engine at stand-ins; `overrides` are further settings by
    name without the prefix (`publishing_directory_sms_subscribers="2000"`)."""
    env = {
        "SOTONG_PUBLISHING_PROVIDERS": json.dumps(primary["providers"]),
        "SOTONG_PUBLISHING_PROVIDER_TOKEN": primary.get("token") or STANDINS_TOKEN,
        "SOTONG_METRICS_PORT": "0",
    }
    if fallback is not None:
        env["SOTONG_PUBLISHING_FALLBACKS"] = json.dumps(fallback["providers"])
    env.update({f"SOTONG_{k.upper()}": v for k, v in overrides.items()})
    return env


def start_dispatch(
    run_dir: Path, base_env: dict[str, str], extra_env: dict[str, str], name: str = "publishing-dispatch"
) -> subprocess.Popen[bytes]:
    """Start `sotong-publishing-dispatch` with the stack's environment plus `extra_env`."""
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    script = Path(sys.executable).parent / "sotong-publishing-dispatch"
    log = open(run_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [str(script)],
        env={**os.environ, **base_env, **extra_env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    return proc


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Stop a child started here (its own session), escalating to SIGKILL."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def publish_dispatches(bootstrap: str, topic: str, dispatches: list[Any], source: str = "sotong-test") -> None:
    """Publish DispatchRequested events to a dispatch-request topic (full name) as its requester would."""
    from sotong_common import events, producer

    sink = producer.durable(bootstrap, source)
    await sink.start()
    try:
        for dispatch in dispatches:
            metadata = events.EventMetadata.new(topic, source)
            await sink.send(
                topic, value=events.encode(dispatch), key=dispatch.dispatch_id.encode(), headers=metadata.headers()
            )
        await sink.flush()
    finally:
        await sink.stop()
