"""The process lifecycle: parts start in order and stop in reverse on SIGTERM; a part that dies stops the process
with exit 1 after the others stopped; a failure at start stops what had started; a periodic task that fails only
logs. Each case runs a real process (signals, exit codes) with parts that print what happens to them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

BODY = textwrap.dedent(
    """
    import asyncio, sys
    from sotong_common import config, process

    MODE = sys.argv[1]

    class Part:
        def __init__(self, name):
            self.name = name
        async def start(self):
            print("start", self.name, flush=True)
        async def stop(self):
            print("stop", self.name, flush=True)

    async def body(proc, chosen):
        async def stop_a():
            print("stop a", flush=True)
        print("start a", flush=True)
        proc.on_stop("a", stop_a)
        await proc.start("b", Part("b"))
        done = asyncio.Event()
        async def run_c():
            print("start c", flush=True)
            if MODE == "crash":
                await asyncio.sleep(0.2)
                raise RuntimeError("c died")
            await done.wait()
            print("stop c", flush=True)
        proc.task("c", run_c, stop=done.set)
        ticks = []
        async def tick():
            ticks.append(1)
            if len(ticks) == 2:
                print("tick failed", flush=True)
                raise ValueError("a failed tick")
        proc.every("d", 0.02, tick)
        if MODE == "refuse":
            raise RuntimeError("cannot start e")
        print("ready", flush=True)

    process.run("probe", "probe", config.ProcessSettings.load(metrics_port=0), body)
    """
)


def run(mode: str, signal_after_ready: bool) -> tuple[int, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", BODY, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "SOTONG_LOG_LEVEL": "error"},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.strip())
        if line.strip() == "ready" and signal_after_ready:
            time.sleep(0.3)  # let the periodic task tick (and fail once)
            proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60), lines


def test_parts_stop_in_reverse_order_on_sigterm_and_a_failed_tick_does_not_stop_the_process() -> None:
    code, lines = run("ok", signal_after_ready=True)
    assert code == 0
    assert lines[:2] == ["start a", "start b"] and "start c" in lines  # c is a background task: started after b
    assert "tick failed" in lines
    assert lines[-3:] == ["stop c", "stop b", "stop a"]


def test_a_part_that_dies_stops_the_process_with_exit_1_after_the_others_stopped() -> None:
    code, lines = run("crash", signal_after_ready=False)
    assert code == 1
    assert lines[-2:] == ["stop b", "stop a"]


def test_a_failure_at_start_stops_what_had_started_and_exits_1() -> None:
    code, lines = run("refuse", signal_after_ready=False)
    assert code == 1
    assert "ready" not in lines
    assert lines[-2:] == ["stop b", "stop a"]
