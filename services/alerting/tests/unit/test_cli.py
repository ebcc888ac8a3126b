from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from sotong_alerting.cli import main

from .factories import EXAMPLES

VALID = str(EXAMPLES / "heavy-rain-warning.valid.xml")
INVALID = str(EXAMPLES / "update-without-references.invalid.xml")
XXE = str(EXAMPLES / "xxe.invalid.xml")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out, err)
    return status, out.getvalue(), err.getvalue()


def test_all_valid_exits_zero_and_prints_no_problems() -> None:
    status, out, err = run("validate", VALID, str(EXAMPLES / "heavy-rain-update.valid.xml"))
    assert status == 0
    assert out == ""
    assert "valid CAP 1.2" in err


def test_one_invalid_file_makes_the_exit_status_nonzero() -> None:
    status, out, _ = run("validate", VALID, INVALID)
    assert status == 1
    lines = out.splitlines()
    assert lines
    assert all(line.startswith(f"{INVALID}:") for line in lines)
    assert f"{INVALID}:7: alert/msgType: msgType Update requires <references>" in out
    assert f"{INVALID}:18: " in out


def test_xxe_file_is_reported_on_its_doctype_line() -> None:
    status, out, _ = run("validate", XXE)
    assert status == 1
    assert out.startswith(f"{XXE}:2: document has a DOCTYPE")
    assert "root:" not in out


def test_missing_file_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.xml")
    status, out, _ = run("validate", missing)
    assert status == 1
    assert out.startswith(f"{missing}:0: cannot read")


def test_usage_errors_exit_two() -> None:
    with pytest.raises(SystemExit) as stop:
        run("validate")
    assert stop.value.code == 2


def test_console_script_help_and_exit_codes() -> None:
    """The installed entry point, as operators run it."""
    script = Path(sys.executable).with_name("sotong-cap")
    helped = subprocess.run([script, "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0
    assert "validate" in helped.stdout
    bad = subprocess.run([script, "validate", INVALID], capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert f"{INVALID}:7:" in bad.stdout
    good = subprocess.run([script, "validate", "-q", VALID], capture_output=True, text=True, check=False)
    assert (good.returncode, good.stdout, good.stderr) == (0, "", "")


def test_render_previews_channel_texts() -> None:
    status, out, _ = run("render", VALID, "--channel", "cell_broadcast", "--channel", "sms")
    assert status == 0
    assert "== cell_broadcast (" in out
    assert "/90 characters, UCS-2)" in out
    assert "[서울특별시] 도봉구 호우경보 발령" in out


def test_render_shows_titles_and_violations_and_refuses_unknown_channels() -> None:
    status, out, _ = run("render", str(EXAMPLES / "heavy-rain-update.valid.xml"), "-c", "press", "-c", "kakao")
    assert status == 1
    assert "title: [훈련][변경] [보도참고자료] 도봉구 호우경보 유지" in out
    assert "!! kakao template: template variables not filled: description" in out
    with pytest.raises(SystemExit) as stop:
        run("render", VALID, "-c", "fax")
    assert stop.value.code == 2


def test_render_of_invalid_cap_fails_with_problems() -> None:
    status, out, _ = run("render", INVALID)
    assert status == 1
    assert f"{INVALID}:7: " in out


def test_stdin_is_read_with_a_dash() -> None:
    script = Path(sys.executable).with_name("sotong-cap")
    data = Path(INVALID).read_bytes()
    result = subprocess.run([script, "validate", "-"], input=data, capture_output=True, check=False)
    assert result.returncode == 1
    assert b"-:7: alert/msgType" in result.stdout


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes(b"<a>" + b" " * 2000 + b"</a>")
    status, out, _ = run("validate", "--max-bytes", "1000", str(big))
    assert status == 1
    assert "the limit is 1000 bytes" in out
