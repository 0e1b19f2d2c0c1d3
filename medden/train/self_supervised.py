"""Self-supervised objectives: training a denoiser from noisy images alone.

Two recipes of :mod:`medden.train.recipes` use them; both need only the noisy image, so
they train on a site's own noisy scans (``data.noisy: true``, ``medden adapt``) as well as
on synthetic noisy copies of clean images (whose clean targets then only score validation).

``neighbor2neighbor`` -- Huang T., Li S., Jia X., Lu H., Liu J., "Neighbor2Neighbor:
    Self-Supervised Denoising from Single Noisy Images", CVPR 2021.  Each 2x2 cell of the
    noisy image ``y`` gives one pixel to a sub-image ``g1(y)`` and a random 4-neighbour of it
    to ``g2(y)``; with pixel-wise independent zero-mean noise the two sub-images are noisy
    versions of almost the same half-resolution image with independent noise, so
    ``f(g1(y))`` can be trained towards ``g2(y)`` as in Noise2Noise.  The regulariser
    ``gamma * |f(g1(y)) - g2(y) - (g1(f(y)) - g2(f(y)))|^2`` (``f(y)`` without gradient, as in
    the authors' code) corrects for the two sub-images not showing the same pixels.
    Parameter: ``gamma`` (the paper's 2; the authors' code ramps it from 0 to 2 over the
    epochs, here it is constant because a run may be budgeted in minutes).
``n2v2`` -- Höck E., Buchholz T.-O., Brachmann A., Jug F., Krull A., "N2V2 -- Fixing
    Noise2Void Checkerboard Artifacts with Modified Sampling Strategies and a Tweaked Network
    Architecture", ECCV Workshops 2022 (Noise2Void: Krull et al., CVPR 2019).  Blind-spot
    training: a fraction of the pixels (one per cell of a grid, at a random place in the
    cell) is replaced and the network is trained to predict their noisy values from the
    rest; with pixel-wise independent noise the only way to do so is to predict the clean
    value.  N2V2's sampling change is kept: a masked pixel is replaced by the *median of its
    neighbourhood without the pixel itself*.  N2V2's architecture changes (blur-pool
    instead of max-pool, no skip connection at the top level) are not made: the recipe
    trains whatever network the bundle has.  Parameters: ``masked_fraction`` (N2V's 0.2 %
    by default), ``replace_window`` (side of the median neighbourhood).
    For noise correlated along rows, columns or in a neighbourhood (camera read-out, CT
    reconstruction kernels) the struct mask of structN2V -- Broaddus C., Krull A., Weigert
    M., Schmidt U., Myers G., "Removing Structured Noise with Self-Supervised Blind-Spot
    Networks", ISBI 2020 -- also replaces the pixels within ``struct_span`` of each masked
    pixel along the row (``struct: row``), the column (``column``) or in a square
    (``box``) by uniform random values in the patch's range, and leaves them out of the
    median, so that the correlated noise around a masked pixel cannot give its noise away.

Validation of self-supervised runs on noisy-only images (:func:`subsampled_pairs`): the
*deployed* network ``f`` is run on ``g1(y)`` and scored against ``g2(y)`` with fixed
sub-samplers.  For pixel-wise independent zero-mean noise of variance s^2 the expected
squared error is ``E|f(g1(y)) - g2(x)|^2 + s^2``: a no-reference estimate of the denoising
error, up to a constant shared by every network it compares -- the validation loss behind
early stopping, the best checkpoint and ``medden adapt``'s keep-the-base-weights decision.
Correlated noise makes it favour networks that smooth less (the two sub-images then share
part of their noise), a conservative error.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Struct",
    "neighbor_choice",
    "subsample",
    "subsampled_pairs",
    "Neighbor2NeighborObjective",
    "Neighbor2NeighborLoss",
    "BlindSpotObjective",
    "BlindSpotLoss",
]

#: Orientation of structN2V's mask: none (plain N2V2), along rows, columns, or a square.
Struct = Literal["none", "row", "column", "box"]

#: For each of the 4 pixels of a 2x2 cell (row-major), its two 4-neighbours in the cell.
_NEIGHBOURS = torch.tensor([[1, 2], [0, 3], [0, 3], [1, 2]])
#: Seed of the fixed sub-samplers of validation (the same pairs at every validation).
_VALIDATION_SEED = 0


def neighbor_choice(shape: torch.Size, generator: torch.Generator | None = None,
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Neighbor2Neighbor's random choice for a batch of ``shape`` ``(B, C, H, W)``.

    Returns
    -------
    tuple of torch.Tensor
        ``(first, second)``, each ``(B, 1, H // 2, W // 2, 1)``: in every 2x2 cell (pixels
        numbered row-major) a random pixel and one of its two 4-neighbours in the cell.
    """
    batch, rows, cols = shape[0], shape[-2] // 2, shape[-1] // 2
    first = torch.randint(0, 4, (batch, 1, rows, cols, 1), generator=generator)
    side = torch.randint(0, 2, (batch, 1, rows, cols, 1), generator=generator)
    return first, _NEIGHBOURS[first, side]


def subsample(y: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """The sub-image of ``y`` ``(B, C, H, W)`` holding, in every 2x2 cell, the pixel
    ``choice`` (from :func:`neighbor_choice`) names; the same pixel for every channel.
    An odd last row or column is dropped."""
    batch, channels, height, width = y.shape
    rows, cols = height // 2, width // 2
    cells = y[..., : 2 * rows, : 2 * cols].reshape(batch, channels, rows, 2, cols, 2)
    cells = cells.permute(0, 1, 2, 4, 3, 5).reshape(batch, channels, rows, cols, 4)
    index = choice.to(y.device).expand(batch, channels, rows, cols, 1)
    return cells.gather(-1, index).squeeze(-1)


def subsampled_pairs(batch: dict, device: Any = None, non_blocking: bool = False,
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Validation batch of noisy-only images: ``(g1(y), g2(y))`` from fixed sub-samplers
    (see the module docstring), as an ignite ``prepare_batch``."""
    y = batch["input"]
    if device is not None:
        y = y.to(device=device, non_blocking=non_blocking)
    first, second = neighbor_choice(y.shape, torch.Generator().manual_seed(_VALIDATION_SEED))
    return subsample(y, first), subsample(y, second)


class Neighbor2NeighborObjective(nn.Module):
    """Forward pass of Neighbor2Neighbor training (the batch's target is not used).

    Parameters
    ----------
    network : nn.Module
        The denoiser ``f``.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(f(g1(y)), g2(y), g1(f(y)), g2(f(y)))``, ``f(y)`` computed without gradient."""
        first, second = neighbor_choice(y.shape)
        with torch.no_grad():
            full = self.network(y)
        return (self.network(subsample(y, first)), subsample(y, second),
                subsample(full, first), subsample(full, second))


class Neighbor2NeighborLoss(nn.Module):
    """Neighbor2Neighbor's loss: reconstruction plus ``gamma`` times the regulariser.

    Parameters
    ----------
    gamma : float
        Weight of the regulariser (the paper's 2).
    """

    def __init__(self, gamma: float = 2.0) -> None:
        super().__init__()
        self.gamma = gamma

    def forward(self, prediction: tuple[torch.Tensor, ...], target: Any = None) -> torch.Tensor:
        """``|f(g1) - g2|^2 + gamma |f(g1) - g2 - (g1(f) - g2(f))|^2`` (means)."""
        denoised, second, full_first, full_second = prediction
        difference = denoised - second
        regulariser = difference - (full_first - full_second)
        return difference.pow(2).mean() + self.gamma * regulariser.pow(2).mean()


def _footprint(struct: Struct, span: int, window: int) -> torch.Tensor:
    """Boolean ``(window, window)`` map of the pixels around a masked pixel (centre
    included) that the struct mask hides."""
    footprint = torch.zeros(window, window, dtype=torch.bool)
    centre, half = window // 2, span // 2
    reach = slice(centre - half, centre + half + 1)
    if struct == "row":
        footprint[centre, reach] = True
    elif struct == "column":
        footprint[reach, centre] = True
    elif struct == "box":
        footprint[reach, reach] = True
    footprint[centre, centre] = True
    return footprint


class BlindSpotObjective(nn.Module):
    """Forward pass of N2V2 / structN2V training (the batch's target is not used).

    Parameters
    ----------
    network : nn.Module
        The denoiser.
    masked_fraction : float
        Fraction of the pixels masked per image (one per grid cell of side
        ``round(masked_fraction ** -0.5)``, at a random place in the cell).
    struct : {"none", "row", "column", "box"}
        structN2V mask: also hide the pixels within ``struct_span`` along the row, the
        column or in a square around each masked pixel.
    struct_span : int
        Length (odd) of the struct mask.
    replace_window : int
        Side (odd) of the neighbourhood whose median replaces a masked pixel (N2V2's
        median without the centre; struct-masked pixels are left out too); with a struct
        mask, at least ``struct_span + 2``.
    """

    def __init__(self, network: nn.Module, masked_fraction: float = 0.002,
                 struct: Struct = "none", struct_span: int = 5, replace_window: int = 5) -> None:
        super().__init__()
        self.network = network
        self.cell = max(1, round(masked_fraction ** -0.5))
        self.struct = struct
        self.span = struct_span
        self.window = max(replace_window, struct_span + 2 if struct != "none" else 3)
        self.footprint = _footprint(struct, struct_span, self.window)

    def _mask(self, y: torch.Tensor) -> torch.Tensor:
        """Boolean ``(B, 1, H, W)``: one random pixel per grid cell."""
        batch, _, height, width = y.shape
        rows, cols = -(-height // self.cell), -(-width // self.cell)
        offsets = torch.randint(0, self.cell, (2, batch, rows, cols))
        r = (torch.arange(rows)[:, None] * self.cell + offsets[0]).clamp(max=height - 1)
        c = (torch.arange(cols)[None, :] * self.cell + offsets[1]).clamp(max=width - 1)
        mask = torch.zeros(batch, 1, height, width, dtype=torch.bool)
        index = torch.arange(batch)[:, None, None].expand_as(r)
        mask[index, 0, r, c] = True
        return mask.to(y.device)

    def _replacement(self, y: torch.Tensor) -> torch.Tensor:
        """Median of every pixel's neighbourhood in the image, without the footprint:
        ``(B, C, H, W)``."""
        pad = self.window // 2
        batch, channels, height, width = y.shape
        # NaN outside the image (reflection would copy pixels near the border into their
        # own neighbourhood), left out by nanmedian
        padded = F.pad(y, (pad, pad, pad, pad), value=float("nan"))
        patches = F.unfold(padded.reshape(batch * channels, 1, *padded.shape[-2:]),
                           self.window)  # (B*C, window^2, H*W)
        keep = ~self.footprint.reshape(-1).to(y.device)
        median = patches[:, keep].nanmedian(dim=1).values
        return median.reshape(batch, channels, height, width)

    def _struct_mask(self, mask: torch.Tensor) -> torch.Tensor:
        """The masked pixels grown by the struct footprint (without the centres)."""
        kernel = self.footprint.to(mask.device, torch.float32)[None, None]
        grown = F.conv2d(mask.float(), kernel, padding=self.window // 2) > 0
        return grown & ~mask

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's predictions at the masked pixels and their noisy values."""
        mask = self._mask(y)
        masked = torch.where(mask, self._replacement(y), y)
        if self.struct != "none":
            hidden = self._struct_mask(mask)
            low = y.amin(dim=(-2, -1), keepdim=True)
            high = y.amax(dim=(-2, -1), keepdim=True)
            noise = low + (high - low) * torch.rand(y.shape, device=y.device)
            masked = torch.where(hidden, noise, masked)
        selected = mask.expand_as(y)
        return self.network(masked)[selected], y[selected]


class BlindSpotLoss(nn.Module):
    """N2V's loss: the mean squared error at the masked pixels only."""

    def forward(self, prediction: tuple[torch.Tensor, torch.Tensor], target: Any = None,
                ) -> torch.Tensor:
        """Mean squared difference of the predictions and the masked pixels' values."""
        predicted, noisy = prediction
        return (predicted - noisy).pow(2).mean()
