import dataclasses
import subprocess
import sys

import pytest

from sotong_common import config


@config.settings
class Sample(config.GrpcSettings, config.KafkaSettings):
    """A process's settings as a service declares them."""


def test_missing_required_names_the_variable() -> None:
    with pytest.raises(config.ConfigError, match=r"^SOTONG_KAFKA_BOOTSTRAP is required"):
        Sample.load(environ={"SOTONG_JWT_SECRET": "s"})


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("SOTONG_GRPC_PORT", "70000", "SOTONG_GRPC_PORT='70000' is invalid: must be a TCP port"),
        ("SOTONG_KAFKA_BOOTSTRAP", "localhost", "SOTONG_KAFKA_BOOTSTRAP='localhost' is invalid"),
        ("SOTONG_LOG_LEVEL", "loud", "SOTONG_LOG_LEVEL='loud' is invalid: must be one of"),
    ],
)
def test_bad_value_names_variable_and_value(variable: str, raw: str, message: str) -> None:
    environ = {"SOTONG_KAFKA_BOOTSTRAP": "a:1", "SOTONG_JWT_SECRET": "s", variable: raw}
    with pytest.raises(config.ConfigError) as caught:
        Sample.load(environ=environ)
    assert str(caught.value).startswith(message)


def test_secret_values_are_not_echoed() -> None:
    @config.settings
    class WithDatabase(config.DatabaseSettings):
        pass

    with pytest.raises(config.ConfigError) as caught:
        WithDatabase.load(environ={"SOTONG_DATABASE_URL": "mysql://user:hunter2@db"})
    assert "hunter2" not in str(caught.value)
    assert "SOTONG_DATABASE_URL=<secret>" in str(caught.value)


def test_defaults_parsing_and_typed_fields() -> None:
    chosen = Sample.load(environ={"SOTONG_KAFKA_BOOTSTRAP": "a:1, b:2", "SOTONG_JWT_SECRET": "s"})
    assert (chosen.grpc_port, chosen.kafka_bootstrap, chosen.log_level) == (50051, "a:1,b:2", "info")
    with pytest.raises(dataclasses.FrozenInstanceError):
        chosen.grpc_port = 1  # type: ignore[misc]


def test_overrides_win_over_variables_and_help_lists_every_variable() -> None:
    chosen = Sample.load(environ={"SOTONG_KAFKA_BOOTSTRAP": "a:1", "SOTONG_JWT_SECRET": "s"}, grpc_port=7)
    assert chosen.grpc_port == 7
    described = Sample.describe()
    assert [s.env for s in Sample.variables()] == [line.split()[0] for line in described.splitlines()[1:]]
    assert "SOTONG_JWT_SECRET" in described and "(required)" in described


def test_mutable_defaults_are_not_shared() -> None:
    shared: config.Setting[dict[str, int]] = config.Setting("X_MAP", lambda raw: {raw: 1}, default={})

    @config.settings
    class WithMap(config.Settings):
        x_map: dict[str, int] = config.env(shared)

    first, second = WithMap.load(environ={}), WithMap.load(environ={})
    first.x_map["k"] = 1
    assert second.x_map == {}


def test_a_service_process_exits_with_one_line_naming_the_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from sotong_intake.api import main; main()"],
        env={"PATH": "/usr/bin:/bin", "SOTONG_KAFKA_BOOTSTRAP": "127.0.0.1:9092"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "configuration error: SOTONG_DATABASE_URL is required: postgresql:// URL of the service's database"
    ]
