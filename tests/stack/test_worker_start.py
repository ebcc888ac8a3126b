"""The stack's wait for a process with no port: it started only once it says so, and a death at start is an error."""

import subprocess
import sys
from pathlib import Path

import pytest

from sotong_localstack.stack import LIFECYCLE_PROCESSES, wait_started

STARTED = '{"logger_name": "process", "event": "process started", "level": "info"}'


def spawn(run_dir: Path, name: str, script: str) -> tuple[subprocess.Popen[bytes], int]:
    (run_dir / "logs").mkdir(exist_ok=True)
    log = open(run_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child, as the stack does
    offset = log.tell()
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc, offset


def test_a_worker_that_says_it_started_is_started(tmp_path: Path) -> None:
    proc, offset = spawn(tmp_path, "w", f"import time; time.sleep(0.5); print({STARTED!r}, flush=True); time.sleep(30)")
    try:
        wait_started(tmp_path, "w", offset, proc, timeout=20)
        assert proc.poll() is None
    finally:
        proc.kill()


def test_a_worker_that_dies_at_start_is_an_error_with_its_log(tmp_path: Path) -> None:
    proc, offset = spawn(tmp_path, "w", "import sys; print('cannot reach PostgreSQL', flush=True); sys.exit(1)")
    with pytest.raises(RuntimeError, match=r"w exited with 1[\s\S]*cannot reach PostgreSQL"):
        wait_started(tmp_path, "w", offset, proc, timeout=20)


def test_an_earlier_start_in_the_same_log_does_not_count(tmp_path: Path) -> None:
    first, _ = spawn(tmp_path, "w", f"print({STARTED!r}, flush=True)")
    first.wait(timeout=20)
    again, offset = spawn(tmp_path, "w", "import time; time.sleep(30)")
    try:
        with pytest.raises(TimeoutError, match="w is not started after"):
            wait_started(tmp_path, "w", offset, again, timeout=1.5)
    finally:
        again.kill()


def test_every_worker_and_the_publishing_engine_are_waited_for() -> None:
    assert {"intake-worker", "moderation-worker", "community-worker", "publishing-dispatch"} <= set(LIFECYCLE_PROCESSES)
    assert not {"standins", "standins-fallback"} & set(LIFECYCLE_PROCESSES)
