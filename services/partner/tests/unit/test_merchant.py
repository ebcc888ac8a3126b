"""Registration rules, the verification workflow and contact persons at rest."""

from __future__ import annotations

import base64

import pytest

from sotong_common import at_rest
from sotong_partner import merchant
from sotong_partner.streets import Streets

STREETS = Streets.load()
PLATFORMS = ("naver_shopping", "google_merchant")


def given(**fields: object) -> merchant.RegistrationInput:
    base: dict[str, object] = {
        "name": "은빛공방",
        "kind": merchant.MERCHANT,
        "business_number": "220-81-62517",
        "slug": "eunbit",
        "street_code": "jongno-jewelry",
        "address": "서울특별시 종로구 돈화문로 24",
        "lat": 37.5716,
        "lng": 126.9935,
        "contacts": [merchant.ContactPerson("김민수", "010-1234-5678")],
        "consents": [("naver_shopping", True)],
    }
    base.update(fields)
    return merchant.RegistrationInput(**base)  # type: ignore[arg-type]


def problems(**fields: object) -> dict[str, str]:
    found, why = merchant.check_registration(given(**fields), STREETS, PLATFORMS)
    assert found is None
    return {p.field: p.description for p in why}


def test_a_valid_registration() -> None:
    found, why = merchant.check_registration(given(), STREETS, PLATFORMS)
    assert why == [] and found is not None
    assert found.business_number == "2208162517" and found.feed_group == "eunbit"


def test_each_bad_field_is_named() -> None:
    assert "검증번호" in problems(business_number="220-81-62518")["business_number"]
    assert "social_enterprise_certification" in problems(kind=merchant.SOCIAL_ENTERPRISE)
    assert "boundary" in problems(lat=37.5810, lng=127.0395)["location"]  # 약령시, not 주얼리거리
    assert "street_code" in problems(street_code="nowhere")
    assert "slug" in problems(slug="Eun Bit")
    assert "consents[0].platform" in problems(consents=[("coupang", True)])
    assert "contact_persons[0]" in problems(contacts=[merchant.ContactPerson("김민수")])
    assert "shop_url" in problems(shop_url="javascript:alert(1)")


def test_social_enterprise_certification_numbers() -> None:
    assert merchant.certification_number("제2012-123호") == "2012-123"
    assert merchant.certification_number("2007-1") == "2007-001"
    assert merchant.certification_number("2006-001") is None
    found, why = merchant.check_registration(
        given(kind=merchant.SOCIAL_ENTERPRISE, certification="2015-042"), STREETS, PLATFORMS
    )
    assert why == [] and found is not None and found.certification == "2015-042"


@pytest.mark.parametrize(
    ("decision", "status", "to"),
    [
        (merchant.APPROVE, merchant.PENDING, merchant.VERIFIED),
        (merchant.REJECT, merchant.PENDING, merchant.REJECTED),
        (merchant.SUSPEND, merchant.VERIFIED, merchant.SUSPENDED),
        (merchant.REINSTATE, merchant.SUSPENDED, merchant.VERIFIED),
    ],
)
def test_the_workflow(decision: str, status: str, to: str) -> None:
    assert merchant.transition(decision, status, "사유")[0] == to


def test_the_workflow_refuses_what_is_not_a_step() -> None:
    with pytest.raises(ValueError, match=r"^decision: "):
        merchant.transition(merchant.APPROVE, merchant.VERIFIED, "")
    with pytest.raises(ValueError, match=r"^note: "):
        merchant.transition(merchant.REJECT, merchant.PENDING, "  ")


def test_contact_persons_are_sealed_to_their_merchant_and_masked_when_shown() -> None:
    ring = at_rest.KeyRing.from_config("k1:" + base64.b64encode(b"k" * 32).decode())
    people = [merchant.ContactPerson("김민수", "010-1234-5678", "minsu@example.kr", "대표")]
    sealed = merchant.seal_contacts(people, ring, "m-1")
    assert sealed is not None and "김민수".encode() not in sealed and b"010-1234" not in sealed
    assert merchant.open_contacts(sealed, ring, "m-1") == people
    with pytest.raises(at_rest.OpenError):
        merchant.open_contacts(sealed, ring, "m-2")
    shown = merchant.masked(people[0])
    assert (shown.name, shown.phone, shown.email) == ("김*수", "010-****-5678", "m***@example.kr")
