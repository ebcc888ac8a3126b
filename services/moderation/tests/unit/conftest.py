"""Shared fixtures: the packaged pipeline is loaded once per test session."""

from __future__ import annotations

import pytest

from sotong_moderation.pipeline import Pipeline


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    return Pipeline.default()
