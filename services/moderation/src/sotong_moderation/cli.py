"""``sotong-moderate``: moderate a JSONL stream of comments from stdin.

One output line per input line, in the same order, so the output can be pasted next to
the input.  A line that cannot be read (bad JSON, wrong types, invalid UTF-8) yields an
output line with an ``error`` field instead of stopping the run: one broken record in
an export of a million comments should cost one line, not the run.  Repetition state
carries across the lines of one run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any

from .classifier import ModelError, default_model_dir
from .pipeline import Pipeline, RepetitionState
from .policy import PolicyError, default_policy_path

__all__ = ["main", "moderate_lines"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sotong-moderate",
        description=(
            'Read JSONL lines {"id", "text", "author"} on stdin and write one JSONL decision per line '
            '{"id", "action": publish|review|remove, "categories", "evidence", ...} on stdout, in order. '
            'Malformed lines get an output line with an "error" field.'
        ),
    )
    p.add_argument(
        "--policy", default=str(default_policy_path()), help="policy YAML file (default: the packaged policy)"
    )
    p.add_argument("--model", default=str(default_model_dir()), help="model directory (default: the packaged model)")
    p.add_argument("--no-model", action="store_true", help="rules only, without the trained classifier")
    p.add_argument("--compact", action="store_true", help="only id, action, categories and evidence per line")
    return p


def _record(line: bytes) -> tuple[str | None, dict[str, Any] | None, str | None]:
    """Parse one input line into (id, record, error)."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, None, f"invalid UTF-8 at byte {exc.start}"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, None, f"invalid JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(obj, dict):
        return None, None, "each line must be a JSON object"
    cid = obj.get("id")
    cid_s = str(cid) if isinstance(cid, str | int) and not isinstance(cid, bool) else None
    if cid_s is None:
        return None, None, "field 'id' must be a string or integer"
    if not isinstance(obj.get("text"), str):
        return cid_s, None, "field 'text' must be a string"
    author = obj.get("author", "")
    if not isinstance(author, str | int) or isinstance(author, bool):
        return cid_s, None, "field 'author' must be a string"
    return cid_s, obj, None


def moderate_lines(pipeline: Pipeline, lines: Iterable[bytes], out: IO[str], compact: bool = False) -> int:
    """Moderate each line and write its decision; returns the number of error lines."""
    state = RepetitionState()
    errors = 0
    for n, raw in enumerate(lines, start=1):
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue  # blank lines carry no record and get no output line
        cid, rec, err = _record(line)
        if err is not None or rec is None:
            errors += 1
            result: dict[str, Any] = {"id": cid, "line": n, "error": err}
        else:
            assert cid is not None
            decision = pipeline.decide(cid, rec["text"], str(rec.get("author", "")), state)
            result = decision.to_json_dict()
            if compact:
                result = {k: result[k] for k in ("id", "action", "categories", "evidence")}
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
    out.flush()
    return errors


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        pipeline = Pipeline.from_files(args.policy, None if args.no_model else args.model)
    except (PolicyError, ModelError) as exc:
        print(f"sotong-moderate: {exc}", file=sys.stderr)
        return 2
    # Lone surrogates can reach the output through \udcxx-escaped input; backslashreplace
    # writes them as JSON-valid \udcxx escapes instead of failing the run.
    out = sys.stdout
    if hasattr(out, "reconfigure"):
        out.reconfigure(encoding="utf-8", errors="backslashreplace")
    moderate_lines(pipeline, sys.stdin.buffer, out, compact=args.compact)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
