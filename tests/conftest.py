"""Shared pytest fixtures for medden's tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PIL import Image

pytest_plugins = ["medden.testing"]


@pytest.fixture
def jpeg_encodings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every JPEG encoding through Pillow during the test, by file name (``<stream>`` when
    not a file); noisy images that pass through a lossy file would show up here."""
    Image.preinit()  # registers the JPEG encoder, which is then wrapped
    encode: Callable = Image.SAVE["JPEG"]
    seen: list[str] = []

    def spy(image: Image.Image, fp, filename, *args, **kwargs) -> None:
        seen.append(str(filename) or "<stream>")
        encode(image, fp, filename, *args, **kwargs)

    monkeypatch.setitem(Image.SAVE, "JPEG", spy)
    return seen
