import json

import grpc
from google.rpc import code_pb2, error_details_pb2

from sotong_common import errors, logs


def test_invalid_argument_carries_bad_request_field_violations() -> None:
    error = errors.InvalidArgument(
        [errors.FieldViolation("text", "must not be empty"), errors.FieldViolation("point.lat", "out of range")]
    )
    status = error.status()
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert "text" in status.message and "point.lat" in status.message
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("text", "must not be empty"),
        ("point.lat", "out of range"),
    ]
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT


def test_logs_mask_personal_data(capsys: object) -> None:
    logs.configure("test", "info")
    logs.get("t").info("reporter called from 010-1234-5678", phone="010-1234-5678", note="mail me: kim@example.com")
    line = capsys.readouterr().err.strip().splitlines()[-1]  # type: ignore[attr-defined]
    record = json.loads(line)
    assert "1234" not in line and "kim@" not in line
    assert record["phone"] == "***"
    assert record["event"] == "reporter called from 010-****-5678"
    assert record["note"] == "mail me: k***@example.com"
