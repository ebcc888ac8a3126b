"""`sotong-cap`: validate CAP 1.2 files from the command line (and preview channel texts).

Output follows the compiler convention `FILE:LINE: message` (`FILE:LINE: warning: message` for what is accepted
but not as CAP 1.2 prescribes), so editors and CI annotate the right line. Exit status: 0 when every document is
valid (warnings do not count), 1 when any is not (or cannot be read), 2 for usage errors. `--strict` refuses
what is otherwise a warning (UTC written as +00:00).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sotong_alerting.cap import MAX_DOCUMENT_BYTES, Problem, check_cap, parse_cap
from sotong_alerting.channels import Channel, render_all

EXIT_VALID = 0
EXIT_INVALID = 1


def _read(name: str, max_bytes: int) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read(max_bytes + 1)
    with Path(name).open("rb") as handle:
        return handle.read(max_bytes + 1)  # one byte more, so "too large" is detected without reading it all


def _line(name: str, problem: Problem) -> str:
    where = f"{problem.path}: " if problem.path else ""
    kind = "warning: " if problem.warning else ""
    return f"{name}:{problem.line or 0}: {kind}{where}{problem.message}"


def _validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    status = EXIT_VALID
    for name in args.files:
        try:
            data = _read(name, args.max_bytes)
        except OSError as error:
            print(f"{name}:0: cannot read: {error.strerror or error}", file=out)
            status = EXIT_INVALID
            continue
        checked = check_cap(data, max_bytes=args.max_bytes, strict=args.strict)
        for problem in sorted((*checked.problems, *checked.warnings), key=lambda p: p.line or 0):
            print(_line(name, problem), file=out)
        if checked.problems:
            status = EXIT_INVALID
        elif not args.quiet:
            noted = f" ({len(checked.warnings)} warnings)" if checked.warnings else ""
            print(f"{name}: valid CAP 1.2{noted}", file=err)
    return status


def _render(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        data = _read(args.file, MAX_DOCUMENT_BYTES)
    except OSError as error:
        print(f"{args.file}:0: cannot read: {error.strerror or error}", file=out)
        return EXIT_INVALID
    document = parse_cap(data)
    if document.alert is None:
        for problem in document.problems:
            print(f"{args.file}:{problem}", file=out)
        return EXIT_INVALID
    channels = [Channel(name) for name in args.channel] if args.channel else list(Channel)
    status = EXIT_VALID
    for rendering in render_all(document.alert, args.language, channels):
        print(f"== {rendering.channel.value} ({rendering.summary()})", file=out)
        if rendering.title is not None:
            print(f"title: {rendering.title}", file=out)
        print(rendering.text, file=out)
        for violation in rendering.violations:
            print(f"!! {violation}", file=out)
            status = EXIT_INVALID
    return status


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed so the documentation and tests see the same options as users)."""
    parser = argparse.ArgumentParser(
        prog="sotong-cap",
        description="Validate OASIS CAP 1.2 alert documents: the XSD plus the spec rules it cannot express.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        help="validate CAP 1.2 files; prints FILE:LINE: message per problem, exits 1 if any is invalid",
        description="Validate CAP 1.2 files. Exit 0 when all are valid (warnings allowed), 1 otherwise. "
        "Use - for stdin.",
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("-q", "--quiet", action="store_true", help="do not report valid files on stderr")
    validate.add_argument(
        "--max-bytes",
        type=int,
        default=MAX_DOCUMENT_BYTES,
        help="refuse larger documents (default %(default)s)",
    )
    validate.add_argument(
        "--strict",
        action="store_true",
        help="the letter of CAP 1.2: refuse UTC written as +00:00 (accepted with a warning otherwise)",
    )
    validate.set_defaults(handler=_validate)

    render = commands.add_parser(
        "render",
        help="preview the channel texts of a CAP file and their limit violations",
        description="Render a valid CAP file per channel; exit 1 when a text breaks its channel's limits.",
    )
    render.add_argument("file", metavar="FILE")
    render.add_argument("-l", "--language", default="ko", help="info language to render (default %(default)s)")
    render.add_argument(
        "-c",
        "--channel",
        action="append",
        choices=[channel.value for channel in Channel],
        help="channel (repeatable; default: all)",
    )
    render.set_defaults(handler=_render)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Entry point of the `sotong-cap` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    handler = args.handler
    status: int = handler(args, out or sys.stdout, err or sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
