"""Blind estimate of how noisy an image is, for deciding whether to denoise it at all.

Donoho's wavelet estimator: the finest diagonal (HH) Haar detail of natural images is almost
all noise, so ``median(|HH|) / 0.6745`` estimates the standard deviation of additive white
noise.  It is taken over square tiles and a high quantile of the tiles is kept, so that noise
confined to part of the image (the centre-weighted ``masked`` noises) is still seen.  Written
in PyTorch (not ``skimage.restoration.estimate_sigma``, which the classical filters use) so that
it runs inside a pipeline and exports to TorchScript with it.
"""

from __future__ import annotations

import torch

__all__ = ["tile_noise_sigma", "gate_weight"]


def tile_noise_sigma(x: torch.Tensor, tile: int = 32, quantile: float = 0.75) -> torch.Tensor:
    """Noise standard deviation of each image of a batch, on the intensity scale of ``x``.

    Parameters
    ----------
    x : torch.Tensor
        Batch ``(N, C, H, W)`` or ``(N, C, D, H, W)``; channels (and slices) are averaged.
    tile : int
        Side of the square tiles (even); images smaller than a tile are one tile.
    quantile : float
        Quantile of the tiles' estimates returned (0.5 = the median tile).

    Returns
    -------
    torch.Tensor
        ``(N,)`` estimates.
    """
    count = x.shape[0]
    planes = x.reshape(count, -1, x.shape[-2], x.shape[-1])
    side = min(tile, planes.shape[-2] // 2 * 2, planes.shape[-1] // 2 * 2)
    if side < 2:
        return torch.zeros(count, dtype=x.dtype, device=x.device)
    rows, cols = planes.shape[-2] // side * side, planes.shape[-1] // side * side
    planes = planes[..., :rows, :cols]
    detail = (planes[..., 0::2, 0::2] - planes[..., 0::2, 1::2] - planes[..., 1::2, 0::2]
              + planes[..., 1::2, 1::2]).abs() / 2
    half = side // 2
    tiles = detail.reshape(count, planes.shape[1], rows // side, half, cols // side, half)
    tiles = tiles.permute(0, 1, 2, 4, 3, 5).reshape(count, planes.shape[1], -1, half * half)
    # 0.6745 = median(|N(0, 1)|) turns the median absolute detail into a standard deviation.
    sigma = tiles.median(dim=-1).values.mean(dim=1) / 0.6745
    ordered = sigma.sort(dim=1).values
    index = int(round(quantile * (ordered.shape[1] - 1)))
    return ordered[:, index]


def gate_weight(sigma: torch.Tensor, clean: float, noisy: float) -> torch.Tensor:
    """0 at or below ``clean``, 1 at or above ``noisy``, linear between (same scale)."""
    return ((sigma - clean) / (noisy - clean)).clamp(0.0, 1.0)
