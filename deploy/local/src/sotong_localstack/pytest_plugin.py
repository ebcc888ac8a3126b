"""pytest fixtures for tests that need the real stack: one Kafka broker and one PostgreSQL per test session.

`infra` starts them in a temporary run directory (PostgreSQL: the server of SOTONG_DATABASE_URL instead, when it is
set), creates the catalog's topics, and stops everything at the end. The repository's root conftest.py loads this
plugin where sotong_localstack is installed.
Service processes are started by the tests that need them (`Stack.start_services`), each in a fresh database
so tests do not see each other's rows.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from sotong_localstack.postgres import create_external_database
from sotong_localstack.stack import Stack


@pytest.fixture(scope="session")
def infra(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The session's Kafka and PostgreSQL. Their data (1-2 GB after a full run) is removed when every test
    passed; after a failure it is kept, with the logs, and its path printed."""
    run_dir = Path(tempfile.mkdtemp(prefix="sotong-test-"))
    stack = Stack(run_dir, nodes=1)
    stack.start_infrastructure(say=False)
    try:
        yield stack
    finally:
        stack.stop()
        if request.session.testsfailed:
            print(f"\nsotong: the session's Kafka and PostgreSQL data and logs are kept in {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture()
def fresh_stack(infra: Stack, tmp_path: Path) -> Iterator[Stack]:
    """A Stack sharing the session's Kafka and PostgreSQL but with its own database and process set."""
    assert infra.state is not None
    database = "t_" + secrets.token_hex(6)
    if infra.postgres is not None:
        infra.postgres.create_database(database)
        database_url = infra.postgres.url(database)
    else:  # SOTONG_DATABASE_URL: a server of the developer's own
        database_url = create_external_database(infra.state.database_url, database)
    stack = Stack(tmp_path)
    (tmp_path / "logs").mkdir()
    state = type(infra.state)(**{**infra.state.__dict__})
    state.run_dir = str(tmp_path)
    state.database_url = database_url
    state.pids = {}
    state.trace_file = str(tmp_path / "traces.jsonl")
    # Own topics per test: the session's broker is shared, the events are not.
    state.topic_prefix = f"{database}."
    from sotong_localstack import topics

    topics.create_all(state.kafka_bootstrap, state.replication, 1, prefix=state.topic_prefix)
    from sotong_localstack.ports import free_ports
    from sotong_localstack.stack import GRPC_PROCESSES, PROCESSES

    ports = free_ports(len(GRPC_PROCESSES) + len(PROCESSES))
    state.grpc_ports = {name: ports[i] for i, name in enumerate(GRPC_PROCESSES)}
    state.metrics_ports = {name: ports[len(GRPC_PROCESSES) + i] for i, name in enumerate(PROCESSES)}
    stack.state = state
    try:
        yield stack
    finally:
        stack.stop()
        try:
            topics.delete_all(state.kafka_bootstrap, state.topic_prefix)
        except Exception as exc:
            warnings.warn(f"could not delete the test's topics: {exc}", stacklevel=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Unit tests first: a broken unit fails fast, before the stack starts."""
    items.sort(key=lambda item: 0 if "unit" in Path(str(item.fspath)).parts else 1)


def pytest_report_header() -> str:
    database = "SOTONG_DATABASE_URL" if os.environ.get("SOTONG_DATABASE_URL") else "embedded PostgreSQL"
    return f"sotong: stack run directories under {tempfile.gettempdir()}, database: {database}"
