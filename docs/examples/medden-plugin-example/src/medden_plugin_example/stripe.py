"""``stripe``: detector line noise, a random offset along whole rows or columns.

Flat-panel X-ray detectors, CT detector channels and sCMOS microscopy cameras read their
pixels out line by line through separate amplifiers; an amplifier's offset drift adds the
same value to every pixel of its line, which shows as stripes (and, after CT
reconstruction, as ring artefacts).
"""

from __future__ import annotations

from typing import Literal

import torch

from medden.noise import Noise

__all__ = ["StripeNoise"]


class StripeNoise(Noise):
    """Detector stripe noise: a random offset added along whole columns or rows.

    Each line (column or row of every image and slice) is striped with probability
    ``density``; a striped line gets one offset drawn from N(0, (sigma/255)^2), shared by
    all its pixels and all channels.

    Parameters
    ----------
    sigma : float
        Standard deviation of a striped line's offset on the 0-255 scale.
    density : float
        Probability that a line is striped, in (0, 1]; 1 stripes every line.
    orientation : Literal['vertical', 'horizontal']
        ``vertical``: column offsets (stripes run top to bottom); ``horizontal``: row
        offsets.
    """

    def __init__(
        self,
        sigma: float = 10.0,
        density: float = 0.3,
        orientation: Literal["vertical", "horizontal"] = "vertical",
    ) -> None:
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        if not 0 < density <= 1:
            raise ValueError(f"density must be in (0, 1], got {density}")
        if orientation not in ("vertical", "horizontal"):
            raise ValueError(f"orientation must be 'vertical' or 'horizontal', got {orientation!r}")
        self.sigma = float(sigma)
        self.density = float(density)
        self.orientation = orientation

    def line_shape(self, batch: torch.Tensor) -> tuple[int, ...]:
        """Shape of the offsets: one per line, broadcast along it and over channels."""
        shape = [batch.shape[0], 1, *batch.shape[2:]]
        shape[-2 if self.orientation == "vertical" else -1] = 1
        return tuple(shape)

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return ``batch`` plus one random offset per striped line."""
        shape = self.line_shape(batch)
        offsets = torch.randn(shape, generator=generator, dtype=batch.dtype) * (self.sigma / 255)
        striped = torch.rand(shape, generator=generator, dtype=batch.dtype) < self.density
        return batch + (offsets * striped).to(batch.device)
