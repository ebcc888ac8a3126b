"""Free TCP ports on the loopback interface, chosen at start so that stacks never collide."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 20000
"""The lowest port a stack listens on (below it: well-known and registered services' habits)."""


def ephemeral_range() -> tuple[int, int]:
    """The ports the kernel gives outgoing connections as their local port (Linux's default when unreadable)."""
    try:
        low, high = (int(value) for value in EPHEMERAL_RANGE.read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports, outside the kernel's ephemeral range, held open together so they differ.

    A port the kernel picks for bind(0) comes from the same range it gives every outgoing connection as its local
    port, so between choosing it and a process binding it, any client of the machine (a Kafka or PostgreSQL
    connection, a gRPC channel) could take it: a worker once died at start with EADDRINUSE on its metrics port.
    Below the ephemeral range only listeners compete, and each candidate is bound here first to skip those.
    """
    low, high = ephemeral_range()
    if low - LOWEST >= 1000:
        band = (LOWEST, low - 1)
    elif 65535 - high >= 1000:
        band = (high + 1, 65535)
    else:  # no room outside the ephemeral range: let the kernel choose
        band = (0, 0)
    chosen = random.SystemRandom()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count * 100):
            if len(sockets) == count:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", chosen.randint(*band)))
            except OSError:  # in use (or held by another candidate of this call)
                s.close()
                continue
            sockets.append(s)
        if len(sockets) < count:
            raise RuntimeError(f"found only {len(sockets)} of {count} free ports in {band[0]}-{band[1]}")
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_for_port(port: int, timeout: float, host: str = "127.0.0.1") -> None:
    """Wait until something accepts connections on `port`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s") from None
            time.sleep(0.1)
