"""Both alerting processes stop at start with one line naming the variable when their configuration is unusable
(before connecting to anything, so no stack is needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
BASE = {
    "SOTONG_KAFKA_BOOTSTRAP": "127.0.0.1:1",
    "SOTONG_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
    "SOTONG_JWT_SECRET": "0123456789abcdef0123456789abcdef",
}


@pytest.mark.parametrize("process", ["sotong-alerting-api", "sotong-alerting-worker"])
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SOTONG_ALERTING_RESPONSE_MAP", "/nonexistent/plan.yaml", "No such file"),
        ("SOTONG_ALERTING_ESCALATION_SECONDS", "1,2,3", "3 escalation delays given for 2 escalation levels"),
        ("SOTONG_ALERTING_ESCALATION_SECONDS", "soon", "comma-separated seconds"),
    ],
)
def test_a_bad_setting_stops_the_process_naming_it(process: str, variable: str, value: str, message: str) -> None:
    env = {**os.environ, **BASE, variable: value}
    done = subprocess.run([str(BIN / process)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"configuration error: {variable}") and message in lines[0]


def test_a_plan_that_is_not_a_plan_is_named(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("duty_officers: []\n", encoding="utf-8")
    env = {**os.environ, **BASE, "SOTONG_ALERTING_RESPONSE_MAP": str(plan)}
    done = subprocess.run([str(BIN / "sotong-alerting-api")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "duty_officers must name at least one person" in done.stderr
