"""The stack's ports: never from the range the kernel hands to outgoing connections, never one already taken."""

import socket

from sotong_localstack.ports import LOWEST, ephemeral_range, free_ports


def test_ports_are_distinct_and_outside_the_ephemeral_range() -> None:
    low, high = ephemeral_range()
    ports = free_ports(60)
    assert len(set(ports)) == 60
    assert all(not low <= port <= high for port in ports)
    assert all(port >= LOWEST for port in ports)


def test_a_port_someone_listens_on_is_never_chosen() -> None:
    taken = []
    try:
        for port in free_ports(200):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", port))
            s.listen()
            taken.append(s)
        busy = {s.getsockname()[1] for s in taken}
        for _ in range(20):
            assert not busy & set(free_ports(50))
    finally:
        for s in taken:
            s.close()
