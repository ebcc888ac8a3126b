"""pytest set-up for the whole repository.

The tests under tests/ (service, e2e, reliability) need the real local stack, whose fixtures live in the
sotong_localstack package. It is loaded only where it is installed, so that a service's unit tests run in a venv
of that service alone (the commands in each service's README) without Kafka, PostgreSQL or the local stack.
"""

import importlib.util

pytest_plugins = ["sotong_localstack.pytest_plugin"] if importlib.util.find_spec("sotong_localstack") else []
