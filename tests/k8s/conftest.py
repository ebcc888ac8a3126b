"""Rendering for the k8s tests: the real kustomize, the version the Makefile pins, built by `make k8s-tools`.

The binary lives in the repository's venv (`.venv/bin/kustomize`), where `make k8s-tools` puts it with
`go install`; `make test` and `make k8s-check` run that first. Without it the tests fail (they do not skip): a
manifest check that silently does not run is no check.
"""

from __future__ import annotations

import copy
import functools
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / ".venv" / "bin" / "kustomize"

Obj = dict[str, Any]
Render = Callable[[Path], list[Obj]]


@functools.cache
def _build(directory: Path) -> tuple[Obj, ...]:
    result = subprocess.run(
        [str(KUSTOMIZE), "build", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"kustomize build {directory.relative_to(ROOT)} failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


@pytest.fixture(scope="session")
def kustomize() -> Render:
    """`kustomize build <directory>` as a list of objects, a fresh copy per call (tests mutate them)."""
    if not KUSTOMIZE.is_file():
        pytest.fail(f"kustomize is not at {KUSTOMIZE.relative_to(ROOT)}: run `make k8s-tools` (needs Go)")

    def render(directory: Path) -> list[Obj]:
        return copy.deepcopy(list(_build(directory.resolve())))

    return render
