"""Switching median filter: removes salt-and-pepper impulses and leaves every other pixel as is.

Salt-and-pepper noise sets pixels to the two ends of the normalised range, exactly 0 or 1. A
plain median filter replaces *every* pixel by its neighbourhood median and so blurs the whole
image; a switching median filter first decides which pixels are impulses and replaces only
those, by the median of their impulse-free neighbours. Written in PyTorch (no NumPy round
trip), so it runs inside a network pipeline and exports to TorchScript with it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from medden.models import ClassicalDenoiser
from medden_classic._common import require_positive

__all__ = ["SwitchingMedianFilter"]


def _windows(planes: torch.Tensor, size: int, plane: torch.Tensor, row: torch.Tensor,
             col: torch.Tensor) -> torch.Tensor:
    """The ``size x size`` neighbourhoods ``(K, size * size)`` of the ``K`` pixels
    ``(plane, row, col)`` of ``(P, H, W)`` planes (borders mirrored, or replicated on planes
    too small to mirror)."""
    height, width = planes.shape[-2:]
    pad = size // 2
    mode = "reflect" if min(height, width) > pad else "replicate"
    padded = F.pad(planes.unsqueeze(1), (pad, pad, pad, pad), mode=mode)[:, 0]
    offsets = torch.arange(size, device=planes.device)
    rows = (row[:, None] + offsets)[:, :, None]
    cols = (col[:, None] + offsets)[:, None, :]
    return padded[plane[:, None, None], rows, cols].reshape(-1, size * size)


class SwitchingMedianFilter(ClassicalDenoiser):
    """Replace detected salt-and-pepper impulses by the median of their clean neighbours.

    A pixel is an impulse when it is exactly 0 or 1 and differs from the median of its 3x3
    neighbourhood by more than ``threshold``. Black or white regions and their straight
    edges are kept; a region's convex corner pixel (outvoted 5 to 4 in its neighbourhood) is
    not. Each impulse gets the median of the non-impulse pixels of the smallest window
    (3x3, 5x5, ... up to ``max_window``) that has any, else its 3x3 median. Every other
    pixel is returned unchanged, so images without impulses pass through exactly. Volumes
    are filtered slice by slice, channels independently.

    Parameters
    ----------
    threshold : float
        Smallest difference (on the [0, 1] scale) between an extreme pixel and its 3x3
        median for the pixel to be an impulse.
    max_window : int
        Largest (odd) window searched for impulse-free neighbours.
    """

    tuning_grid: ClassVar[dict[str, list[Any]]] = {"threshold": [0.05, 0.1, 0.2, 0.3]}

    def __init__(self, threshold: float = 0.1, max_window: int = 7) -> None:
        super().__init__()
        require_positive(threshold=threshold, max_window=max_window)
        if max_window % 2 == 0 or max_window < 3:
            raise ValueError(f"max_window must be an odd size of at least 3, got {max_window}")
        self.threshold = float(threshold)
        self.max_window = int(max_window)

    def filter_image(self, image: np.ndarray) -> np.ndarray:
        """Filter one image ``(C, *spatial)`` with :meth:`forward`."""
        with torch.no_grad():
            batch = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None]
            return self.forward(batch)[0].numpy()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Filter a batch ``(N, C, H, W)`` or ``(N, C, D, H, W)``; same shape out."""
        shape = x.shape
        planes = x.reshape(-1, shape[-2], shape[-1])
        # Only extreme pixels can be impulses: medians are taken at those pixels alone.
        extreme = ((planes == 0) | (planes == 1)).nonzero()
        plane, row, col = extreme[:, 0], extreme[:, 1], extreme[:, 2]
        median = _windows(planes, 3, plane, row, col).median(dim=1).values
        impulse = (planes[plane, row, col] - median).abs() > self.threshold
        if not bool(impulse.any()):
            return x
        plane, row, col, median = plane[impulse], row[impulse], col[impulse], median[impulse]
        clean = planes.index_put([plane, row, col], torch.tensor(float("nan")))
        replaced = median.clone()  # kept where no window holds a clean neighbour
        pending = torch.arange(plane.numel(), device=x.device)
        for size in range(3, self.max_window + 1, 2):
            local = _windows(clean, size, plane[pending], row[pending], col[pending])
            local = local.nanmedian(dim=1).values
            found = ~torch.isnan(local)
            replaced[pending[found]] = local[found]
            pending = pending[~found]
            if pending.numel() == 0:
                break
        return planes.index_put([plane, row, col], replaced).reshape(shape)
