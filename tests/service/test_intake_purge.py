"""Reporter contacts on the real stack: sealed with the configured key, and purged by `sotong-intake-purge` once
the retention period has passed (a year after closure, three years if never closed; a legal hold keeps)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sotong.common.v1 import geo_pb2
from sotong.intake.v1 import intake_service_pb2 as pb
from sotong.intake.v1 import intake_service_pb2_grpc as pb_grpc
from sotong.intake.v1 import intake_types_pb2 as types
from sotong_intake.contact import ContactDecryptionError, KeyRing, SealedContact, open_contact
from sotong_localstack.stack import Stack
from sotong_localstack.testing import channel, sql, stored, token

pytestmark = pytest.mark.service


async def submit(stack: Stack, n: int) -> list[str]:
    async with channel(stack, "intake-api") as ch:
        stub = pb_grpc.IntakeServiceStub(ch)
        replies = [
            await stub.SubmitReport(
                pb.SubmitReportRequest(
                    kind=types.SUBMISSION_KIND_REPORT,
                    text=f"보도블록 파손 {i}번째 신고",
                    category="road-damage",
                    point=geo_pb2.GeoPoint(lat=37.5663 + i * 0.01, lng=126.9779),
                    contact=pb.ReporterContact(name="김민수", phone=f"010-2345-{6780 + i}", email="kim@example.com"),
                ),
                metadata=token(stack, "citizen"),
            )
            for i in range(n)
        ]
    ids = [r.tracking_id for r in replies]
    await stored(stack, *ids)
    return ids


def purge(stack: Stack) -> dict[str, object]:
    assert stack.state is not None
    script = Path(sys.executable).parent / "sotong-intake-purge"
    done = subprocess.run(
        [str(script)], env={**os.environ, **stack.state.env()}, capture_output=True, text=True, timeout=60, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def test_contact_is_sealed_with_the_configured_key(fresh_stack: Stack) -> None:
    assert fresh_stack.state is not None
    fresh_stack.start_services(("intake-api", "intake-worker"), say=False)
    (tracking_id,) = await submit(fresh_stack, 1)
    rows = await sql(
        fresh_stack,
        "SELECT s.id, c.sealed FROM submissions s JOIN reporter_contacts c ON c.submission_id = s.id"
        " WHERE s.tracking_id = $1",
        tracking_id,
        schema="intake",
    )
    sealed = SealedContact.from_bytes(bytes(rows[0]["sealed"]))
    assert b"kim@example.com" not in bytes(rows[0]["sealed"]) and "김민수".encode() not in bytes(rows[0]["sealed"])
    ring = KeyRing.from_config(fresh_stack.state.contact_keys)
    contact = open_contact(sealed, ring, str(rows[0]["id"]))
    assert (contact.name, contact.phone, contact.email) == ("김민수", "010-2345-6780", "kim@example.com")
    with pytest.raises(ContactDecryptionError):  # bound to its submission: cannot be moved to another row
        open_contact(sealed, ring, "00000000-0000-0000-0000-000000000000")
    for process in ("intake-api", "intake-worker"):  # the worker stores it: it sees only the sealed contact
        log = (fresh_stack.run_dir / "logs" / f"{process}.log").read_text()
        assert "2345-6780" not in log and "kim@example.com" not in log and "김민수" not in log


async def test_purge_deletes_contacts_past_retention_only(fresh_stack: Stack) -> None:
    fresh_stack.start_services(("intake-api", "intake-worker"), say=False)
    closed_long_ago, open_for_years, closed_recently, held, fresh = await submit(fresh_stack, 5)

    async def age(tracking_id: str, closed_days_ago: int | None, stored_days_ago: int, hold: bool = False) -> None:
        await sql(
            fresh_stack,
            "UPDATE submissions SET legal_hold = $3, closed_at = CASE WHEN $2::int IS NULL THEN NULL"
            " ELSE now() - make_interval(days => $2::int) END WHERE tracking_id = $1",
            tracking_id,
            closed_days_ago,
            hold,
            schema="intake",
        )
        await sql(
            fresh_stack,
            "UPDATE reporter_contacts SET created_at = now() - make_interval(days => $2::int)"
            " WHERE submission_id = (SELECT id FROM submissions WHERE tracking_id = $1)",
            tracking_id,
            stored_days_ago,
            schema="intake",
        )

    await age(closed_long_ago, closed_days_ago=366, stored_days_ago=400)
    await age(open_for_years, closed_days_ago=None, stored_days_ago=3 * 365 + 1)
    await age(closed_recently, closed_days_ago=30, stored_days_ago=2000)
    await age(held, closed_days_ago=900, stored_days_ago=2000, hold=True)

    first = purge(fresh_stack)
    again = purge(fresh_stack)
    rows = await sql(
        fresh_stack,
        "SELECT s.tracking_id, c.submission_id IS NOT NULL AS has_contact FROM submissions s"
        " LEFT JOIN reporter_contacts c ON c.submission_id = s.id",
        schema="intake",
    )
    kept = {r["tracking_id"]: r["has_contact"] for r in rows}
    assert first["purged_contacts"] == 2 and again["purged_contacts"] == 0
    assert kept == {closed_long_ago: False, open_for_years: False, closed_recently: True, held: True, fresh: True}
