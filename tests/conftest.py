"""Shared pytest fixtures for medden's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["medden.testing"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The development image collection (``../shared/data``); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available (only in the development checkout)")
    return SHARED_DATA
