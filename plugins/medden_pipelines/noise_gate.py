"""Blind estimate of how noisy an image is, for deciding whether to denoise it at all.

Donoho's wavelet estimator: the finest diagonal (HH) Haar detail of natural images is almost
all noise, so ``median(|HH|) / 0.6745`` estimates the standard deviation of additive white
noise.  It is taken over square tiles and a high quantile of the tiles is kept, so that noise
confined to part of the image (the centre-weighted ``masked`` noises) is still seen.  Written
in PyTorch (not ``skimage.restoration.estimate_sigma``, which the classical filters use) so that
it runs inside a pipeline and exports to TorchScript with it.  :func:`apply_gate` is the gate
itself, also called on its own to compare gate settings on one network's outputs
(``docs/examples/gate_levels.py``).  :func:`limit_change` uses the same estimate, tile by tile,
to bound how far a denoiser may move each pixel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["tile_noise_sigma", "noise_sigma_map", "limit_change", "gate_weight", "apply_gate",
           "gated_output"]


def _tile_sigmas(x: torch.Tensor, tile: int) -> torch.Tensor:
    """Noise estimate of each ``tile``-sided tile, ``(N, rows, cols)``, channels and slices
    averaged; ``(N, 0, 0)`` for images under 2 pixels."""
    count = x.shape[0]
    planes = x.reshape(count, -1, x.shape[-2], x.shape[-1])
    side = min(tile, planes.shape[-2] // 2 * 2, planes.shape[-1] // 2 * 2)
    if side < 2:
        return x.new_zeros(count, 0, 0)
    rows, cols = planes.shape[-2] // side, planes.shape[-1] // side
    planes = planes[..., :rows * side, :cols * side]
    detail = (planes[..., 0::2, 0::2] - planes[..., 0::2, 1::2] - planes[..., 1::2, 0::2]
              + planes[..., 1::2, 1::2]).abs() / 2
    half = side // 2
    tiles = detail.reshape(count, planes.shape[1], rows, half, cols, half)
    tiles = tiles.permute(0, 1, 2, 4, 3, 5).reshape(count, planes.shape[1], rows, cols, -1)
    # 0.6745 = median(|N(0, 1)|) turns the median absolute detail into a standard deviation.
    return tiles.median(dim=-1).values.mean(dim=1) / 0.6745


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
    sigmas = _tile_sigmas(x, tile).flatten(1)
    if sigmas.shape[1] == 0:
        return torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    ordered = sigmas.sort(dim=1).values
    index = int(round(quantile * (ordered.shape[1] - 1)))
    return ordered[:, index]


def noise_sigma_map(x: torch.Tensor, tile: int = 32) -> torch.Tensor:
    """Local noise standard deviation: the tiles' estimates, bilinearly interpolated.

    Parameters
    ----------
    x : torch.Tensor
        Batch ``(N, C, H, W)`` or ``(N, C, D, H, W)``; a volume is estimated slice by slice.
    tile : int
        Side of the square tiles over which the noise is estimated.

    Returns
    -------
    torch.Tensor
        ``(N, 1, H, W)`` or ``(N, 1, D, H, W)``, on the intensity scale of ``x``; zeros for
        images under 2 pixels.
    """
    if x.dim() == 5:
        count, channels, depth = x.shape[0], x.shape[1], x.shape[2]
        height, width = x.shape[3], x.shape[4]
        planes = x.transpose(1, 2).reshape(count * depth, channels, height, width)
        flat = _plane_sigma_map(planes, tile)
        return flat.reshape(count, depth, 1, height, width).transpose(1, 2)
    return _plane_sigma_map(x, tile)


def _plane_sigma_map(x: torch.Tensor, tile: int) -> torch.Tensor:
    """:func:`noise_sigma_map` of a batch of 2-D images ``(N, C, H, W)``."""
    height, width = x.shape[-2], x.shape[-1]
    sigmas = _tile_sigmas(x, tile)
    if sigmas.shape[1] == 0:
        return x.new_zeros(x.shape[0], 1, height, width)
    return F.interpolate(sigmas.unsqueeze(1), size=[height, width], mode="bilinear",
                         align_corners=False)


def limit_change(reference: torch.Tensor, denoised: torch.Tensor, limit: float,
                 tile: int = 32) -> torch.Tensor:
    """Bound how far a denoiser moves each pixel by a multiple of the local noise level.

    Noise that a denoiser removes is, pixel by pixel, within a few standard deviations of
    zero; a larger change is structure lost (a thin bone edge, a vessel or the CT table
    blurred away) rather than noise removed.  Clamping the change to ``limit`` times the
    noise estimated around the pixel keeps such structure at the cost of the rare noise
    excursion beyond it, and leaves a clean image (small estimate) nearly as it was, but
    never exactly so while it carries noise.

    Parameters
    ----------
    reference : torch.Tensor
        What the denoiser was given, ``(N, C, *spatial)``; its noise is estimated.
    denoised : torch.Tensor
        The denoiser's output, same shape.
    limit : float
        Largest change, in local noise standard deviations (3: a Gaussian noise value is
        beyond it 0.27 % of the time).
    tile : int
        Side of the tiles of the noise estimate (:func:`noise_sigma_map`).

    Returns
    -------
    torch.Tensor
        ``reference + clamp(denoised - reference, -limit * sigma, limit * sigma)``.
    """
    bound = limit * noise_sigma_map(reference, tile)
    change = denoised - reference
    return reference + torch.maximum(torch.minimum(change, bound), -bound)


def gate_weight(sigma: torch.Tensor, clean: float, noisy: float) -> torch.Tensor:
    """0 at or below ``clean``, 1 at or above ``noisy``, linear between (same scale)."""
    return ((sigma - clean) / (noisy - clean)).clamp(0.0, 1.0)


def apply_gate(x: torch.Tensor, prefiltered: torch.Tensor, denoised: torch.Tensor,
               clean_sigma: float, noisy_sigma: float, quantile: float = 0.75) -> torch.Tensor:
    """The prefiltered pipeline's gate: keep ``x`` where it is clean, except at its impulses.

    Parameters
    ----------
    x : torch.Tensor
        The input batch, in [0, 1].
    prefiltered : torch.Tensor
        ``x`` after the weightless filter (impulses replaced); its noise is estimated.
    denoised : torch.Tensor
        The network's output for ``prefiltered``.
    clean_sigma, noisy_sigma : float
        Gate levels on the intensity scale of ``x`` (``clean_sigma < noisy_sigma``).
    quantile : float
        Quantile of the tiles' noise estimates compared with the levels (see
        :func:`tile_noise_sigma`).

    Returns
    -------
    torch.Tensor
        :func:`gated_output` with the weight :func:`gate_weight` gives this batch's noise.
    """
    weight = gate_weight(tile_noise_sigma(prefiltered, quantile=quantile), clean_sigma,
                         noisy_sigma)
    return gated_output(x, prefiltered, denoised, weight, noisy_sigma)


def gated_output(x: torch.Tensor, prefiltered: torch.Tensor, denoised: torch.Tensor,
                 weight: torch.Tensor, noisy_sigma: float) -> torch.Tensor:
    """Blend ``x`` (its impulses denoised) and ``denoised`` by each image's gate ``weight``.

    Parameters
    ----------
    x, prefiltered, denoised : torch.Tensor
        As for :func:`apply_gate`; ``x`` may be a tile of the image the weight was taken from.
    weight : torch.Tensor
        ``(N,)`` gate weights in [0, 1] (:func:`gate_weight`).
    noisy_sigma : float
        The gate's upper level, on the intensity scale of ``x``.

    Returns
    -------
    torch.Tensor
        Per image: ``x`` with its impulses taken from ``denoised`` at weight 0, ``denoised``
        at weight 1, linearly blended between.  Impulses are the pixels the filter replaced
        and the pixels at exactly 0 or 1 that the network moves by more than ``noisy_sigma``
        (low-contrast impulses below the filter's threshold).
    """
    extreme = (x == 0) | (x == 1)
    impulse = (prefiltered != x) | (extreme & ((denoised - x).abs() > noisy_sigma))
    kept = torch.where(impulse, denoised, x)
    shape = [-1] + [1] * (x.dim() - 1)
    return torch.lerp(kept, denoised, weight.reshape(shape))  # exact at weights 0 and 1
