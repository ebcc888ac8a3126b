"""Fixtures for the tests under tests/ (service, e2e, reliability, stack, bench helpers): the real local stack.

The stack's pytest plugin is loaded here rather than for every pytest run, so that unit tests (`make unit`, and the
commands in each service's README) run without Kafka, PostgreSQL or the local-stack package installed.
"""

from sotong_localstack.pytest_plugin import fresh_stack, infra, pytest_collection_modifyitems, pytest_report_header

__all__ = ["fresh_stack", "infra", "pytest_collection_modifyitems", "pytest_report_header"]
