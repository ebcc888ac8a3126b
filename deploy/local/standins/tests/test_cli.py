"""The console entry point as ``make up`` uses it: free ports, the ports line and file, clean shutdown."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from sotong_standins.control import StandinControl


async def test_cli_prints_and_writes_ports_then_stops_on_sigterm(tmp_path: Path) -> None:
    ports_file = tmp_path / "standins.json"
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "sotong_standins", "--port", "0", "--smtp-port", "0"],
        *["--ports-file", str(ports_file)],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = json.loads(await asyncio.wait_for(process.stdout.readline(), timeout=20))
        assert json.loads(ports_file.read_text()) == line
        assert line["http_port"] > 0 and line["smtp_port"] > 0
        assert line["providers"]["mail"] == f"smtp://127.0.0.1:{line['smtp_port']}"
        async with StandinControl.from_ports_file(ports_file) as control:
            assert await control.health()
        async with aiohttp.ClientSession() as session:
            url = line["providers"]["push"] + "/projects/p/messages:send"
            async with session.post(url, json={}) as response:
                assert response.status == 401  # the default token is required
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=10) == 0


def test_cli_refuses_non_loopback_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sotong_standins", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr
