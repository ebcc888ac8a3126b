"""The gateway checks roles before a call leaves it, so its role tables must agree with the services' own.

- every operator method it serves has exactly the roles of the service's POLICY for that method;
- every method of the services is either served or deliberately kept inside (`NOT_AT_THE_EDGE`);
- each public GatewayService method admits only roles the service method behind it admits, so a call the
  gateway lets through is never one the service refuses for its roles.
"""

from __future__ import annotations

from sotong_alerting.api import POLICY as ALERTING
from sotong_common import auth
from sotong_gateway import citizens, operators
from sotong_intake.api import POLICY as INTAKE
from sotong_moderation.api import POLICY as MODERATION

POLICIES = {
    "sotong.intake.v1.IntakeService": INTAKE,
    "sotong.alerting.v1.AlertingService": ALERTING,
    "sotong.moderation.v1.ModerationService": MODERATION,
}


def roles_of(policy: auth.Policy, method: str) -> frozenset[str]:
    """The roles `policy` admits for `method` (admin is always admitted and not listed)."""
    admitted = set()
    for role in auth.ROLES - {"admin"}:
        try:
            policy.check(method, auth.Principal("probe", frozenset({role})))
            admitted.add(role)
        except auth.AuthError:
            pass
    return frozenset(admitted)


def test_operator_methods_have_the_services_roles() -> None:
    for service, policy in POLICIES.items():
        for method in operators.SERVICES[service].methods:
            path = f"/{service}/{method.name}"
            if path in operators.NOT_AT_THE_EDGE:
                continue
            assert method.name in operators.ROLES[service], f"{path} is not served by the gateway: add its roles"
            assert operators.ROLES[service][method.name] == roles_of(policy, path), path


def test_public_methods_admit_no_role_the_service_refuses() -> None:
    for name, backend in citizens.BACKEND_METHODS.items():
        service = backend.split("/")[1]
        route_roles = {r.name: r.roles for r in citizens.Citizens.__new__(citizens.Citizens).routes()}
        assert route_roles[name] <= roles_of(POLICIES[service], backend), name
