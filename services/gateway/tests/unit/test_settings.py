from __future__ import annotations

import pytest

from sotong_common import config
from sotong_gateway import settings
from sotong_gateway.edge import Deadlines, client_address
from sotong_gateway.native import peer_address

ENV = {
    "SOTONG_JWT_SECRET": "dev-secret",
    "SOTONG_GATEWAY_INTAKE_TARGET": "intake-api:50051",
    "SOTONG_GATEWAY_ALERTING_TARGET": "alerting-api:50051",
    "SOTONG_GATEWAY_MODERATION_TARGET": "moderation-api:50051",
}


def test_defaults_and_overrides() -> None:
    chosen = settings.Gateway.load(ENV)
    assert chosen.http_port == 8080 and chosen.gateway_allowed_origins == frozenset()
    assert chosen.gateway_citizen_rate == (5.0, 20)
    chosen = settings.Gateway.load(
        {**ENV, "SOTONG_GATEWAY_ALLOWED_ORIGINS": "https://app.seoul.go.kr, http://localhost:5173/",
         "SOTONG_GATEWAY_CITIZEN_RATE": "0.5/s:3"}
    )  # fmt: skip
    assert chosen.gateway_allowed_origins == {"https://app.seoul.go.kr", "http://localhost:5173"}
    assert chosen.gateway_citizen_rate == (0.5, 3)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SOTONG_GATEWAY_ALLOWED_ORIGINS", "https://*.seoul.go.kr"),
        ("SOTONG_GATEWAY_ALLOWED_ORIGINS", "app.seoul.go.kr"),
        ("SOTONG_GATEWAY_ALLOWED_ORIGINS", "https://app.seoul.go.kr/path"),
        ("SOTONG_GATEWAY_CITIZEN_RATE", "0/s"),
        ("SOTONG_GATEWAY_CITIZEN_RATE", "fast"),
        ("SOTONG_GATEWAY_INTAKE_TARGET", "intake-api"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(config.ConfigError, match=name):
        settings.Gateway.load({**ENV, name: value})


def test_a_service_address_is_required() -> None:
    with pytest.raises(config.ConfigError, match="SOTONG_GATEWAY_ALERTING_TARGET"):
        settings.Gateway.load({k: v for k, v in ENV.items() if "ALERTING" not in k})


def test_client_address_trusts_only_the_configured_proxies() -> None:
    assert client_address("10.0.0.9", "1.2.3.4, 10.0.0.5", 0) == "10.0.0.9"
    assert client_address("10.0.0.9", "6.6.6.6, 1.2.3.4", 1) == "1.2.3.4"  # the client wrote 6.6.6.6 itself
    assert client_address("10.0.0.9", "1.2.3.4, 10.0.0.5", 2) == "1.2.3.4"
    assert client_address("10.0.0.9", None, 1) == "10.0.0.9"


def test_peer_addresses() -> None:
    assert peer_address("ipv4:127.0.0.1:50123") == "127.0.0.1"
    assert peer_address("ipv6:[::1]:50123") == "::1"
    assert peer_address("unix:/tmp/socket") == "unix:/tmp/socket"


def test_deadlines_pass_on_the_callers_bounded() -> None:
    rules = Deadlines(default_unary_s=10, max_unary_s=30, max_stream_s=600)
    assert rules.deadline(None, False, 100.0) == 110.0
    assert rules.deadline(101.5, False, 100.0) == 101.5
    assert rules.deadline(500.0, False, 100.0) == 130.0
    assert rules.deadline(None, True, 100.0) == 700.0
