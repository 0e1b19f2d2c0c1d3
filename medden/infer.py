"""Run a denoiser on one image of any size: slices batched, big images tiled.

2-D models see volumes as batches of slices; 3-D models see whole volumes.  Learned models
run through MONAI's :class:`~monai.inferers.SlidingWindowInferer` (overlapping tiles,
Gaussian blending), so peak memory is bounded by the tile size, not the image size.
"""

from __future__ import annotations

import torch
from monai.inferers import SlidingWindowInferer
from torch import nn

__all__ = ["Denoising"]


class Denoising:
    """Apply a denoiser (model or pipeline) to ``(C, *spatial)`` images.

    Parameters
    ----------
    network : nn.Module
        A :class:`~medden.models.Denoiser` or :class:`~medden.pipeline.Pipeline`.
    tile : int
        Tile edge for sliding-window inference of learned models (pixels).
    overlap : float
        Tile overlap fraction.
    slice_batch : int
        Slices of a volume denoised together by 2-D models.
    device : str
        Torch device.
    """

    def __init__(
        self,
        network: nn.Module,
        tile: int = 256,
        overlap: float = 0.25,
        slice_batch: int = 8,
        device: str = "cpu",
    ) -> None:
        self.network = network.to(device).eval()
        self.device = torch.device(device)
        self.slice_batch = slice_batch
        self.spatial_dims = tuple(getattr(network, "spatial_dims", (2,)))
        self.learned = bool(getattr(network, "learned", True))
        self.tile = tile
        self.overlap = overlap

    def _inferer(self, dims: int) -> SlidingWindowInferer:
        return SlidingWindowInferer(
            roi_size=(self.tile,) * dims, sw_batch_size=4, overlap=self.overlap,
            mode="gaussian", padding_mode="reflect", progress=False,
        )

    def _run(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(self.device)
        dims = batch.ndim - 2
        if self.learned and any(s > self.tile for s in batch.shape[2:]):
            return self._inferer(dims)(batch, self.network)
        return self.network(batch)

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Denoise one image ``(C, H, W)`` or volume ``(C, D, H, W)``; same shape out."""
        dims = image.ndim - 1
        if dims in self.spatial_dims:
            return self._run(image.unsqueeze(0))[0].cpu()
        if dims == 3 and 2 in self.spatial_dims:
            slices = image.permute(1, 0, 2, 3)  # (D, C, H, W): slices as a batch
            out = [self._run(slices[i:i + self.slice_batch]).cpu()
                   for i in range(0, slices.shape[0], self.slice_batch)]
            return torch.cat(out).permute(1, 0, 2, 3)
        raise ValueError(
            f"the model supports {self.spatial_dims}-D images, got a {dims}-D image"
        )
