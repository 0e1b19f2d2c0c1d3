"""The ``identity`` model: returns its input (a reference row and a test fixture)."""

from __future__ import annotations

from typing import ClassVar

import torch

from medden.models import Denoiser


class Identity(Denoiser):
    """Return the input unchanged (the 'noisy' row of a benchmark, round-trip tests)."""

    learned: ClassVar[bool] = False
    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)
    channels: ClassVar[tuple[int, ...] | None] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x``."""
        return x
