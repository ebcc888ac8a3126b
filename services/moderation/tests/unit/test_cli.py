from __future__ import annotations

import io
import json
import subprocess
import sys

from sotong_moderation.cli import moderate_lines
from sotong_moderation.pipeline import Pipeline


def test_cli_keeps_order_and_reports_bad_lines(pipeline: Pipeline) -> None:
    lines = [
        json.dumps({"id": "a", "text": "시1발 구청", "author": "u1"}, ensure_ascii=False).encode(),
        b"{not json",
        json.dumps({"id": "b", "text": 5, "author": "u1"}).encode(),
        b"\xff\xfe broken utf-8",
        json.dumps({"id": 7, "text": "공원 벤치 고쳐주셔서 감사해요", "author": "u2"}, ensure_ascii=False).encode(),
        b"[1, 2]",
    ]
    out = io.StringIO()
    errors = moderate_lines(pipeline, lines, out, compact=True)
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert errors == 4
    assert [r.get("id") for r in rows] == ["a", None, "b", None, "7", None]
    assert rows[0]["action"] == "remove"
    assert [("error" in r) for r in rows] == [False, True, True, True, False, True]
    assert rows[4]["action"] == "publish"


def test_cli_repetition_state_carries_across_lines(pipeline: Pipeline) -> None:
    text = "동네 놀이터 미끄럼틀이 부서졌어요 빨리 고쳐주세요"
    lines = [json.dumps({"id": str(i), "text": text, "author": "same"}, ensure_ascii=False).encode() for i in range(2)]
    out = io.StringIO()
    moderate_lines(pipeline, lines, out)
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert "repetition" not in rows[0]["categories"]
    assert "repetition" in rows[1]["categories"]


def test_console_script_end_to_end_with_help_and_no_model() -> None:
    helped = subprocess.run(
        [sys.executable, "-m", "sotong_moderation", "--help"], capture_output=True, text=True, check=True
    )
    assert "--policy" in helped.stdout and "--model" in helped.stdout
    data = (
        '{"id": "1", "text": "연락처 010-1234-5678", "author": "a"}\n{"id": "2", "text": "\\ud800 x", "author": "a"}\n'
    )
    run = subprocess.run(
        [sys.executable, "-m", "sotong_moderation", "--no-model", "--compact"],
        input=data.encode(), capture_output=True, check=True,
    )  # fmt: skip
    rows = [json.loads(x) for x in run.stdout.decode().splitlines()]
    assert [r["id"] for r in rows] == ["1", "2"]
    assert rows[0]["categories"] == ["personal_data"]


def test_cli_refuses_bad_policy_with_line(tmp_path: object) -> None:
    import pathlib

    assert isinstance(tmp_path, pathlib.Path)
    bad = tmp_path / "p.yaml"
    bad.write_text("version: x\nclauses: [\n", encoding="utf-8")
    run = subprocess.run(
        [sys.executable, "-m", "sotong_moderation", "--policy", str(bad), "--no-model"],
        input=b"", capture_output=True, text=False,
    )  # fmt: skip
    assert run.returncode == 2
    assert b"p.yaml:3:" in run.stderr or b"p.yaml:2:" in run.stderr
