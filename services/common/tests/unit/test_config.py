import subprocess
import sys

import pytest

from sotong_common import config


def test_missing_required_names_the_variable() -> None:
    with pytest.raises(config.ConfigError, match=r"^SOTONG_KAFKA_BOOTSTRAP is required"):
        config.load([config.KAFKA_BOOTSTRAP], environ={})


@pytest.mark.parametrize(
    ("setting", "raw", "message"),
    [
        (config.GRPC_PORT, "70000", "SOTONG_GRPC_PORT='70000' is invalid: must be a TCP port"),
        (config.KAFKA_BOOTSTRAP, "localhost", "SOTONG_KAFKA_BOOTSTRAP='localhost' is invalid"),
        (config.LOG_LEVEL, "loud", "SOTONG_LOG_LEVEL='loud' is invalid: must be one of"),
    ],
)
def test_bad_value_names_variable_and_value(setting: config.Setting[object], raw: str, message: str) -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.load([setting], environ={setting.env: raw})
    assert str(caught.value).startswith(message)


def test_secret_values_are_not_echoed() -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.load([config.DATABASE_URL], environ={"SOTONG_DATABASE_URL": "mysql://user:hunter2@db"})
    assert "hunter2" not in str(caught.value)
    assert "SOTONG_DATABASE_URL=<secret>" in str(caught.value)


def test_defaults_and_parsing() -> None:
    values = config.load(
        [config.GRPC_PORT, config.KAFKA_BOOTSTRAP, config.LOG_LEVEL],
        environ={"SOTONG_KAFKA_BOOTSTRAP": "a:1, b:2"},
    )
    assert values == {"GRPC_PORT": 50051, "KAFKA_BOOTSTRAP": "a:1,b:2", "LOG_LEVEL": "info"}


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
