"""The U-Net skeleton of the shallow pair and DeepAttention: pooled encoder, merging decoder."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.layers import Pool
from torch import nn

from medden.models import Denoiser

__all__ = ["PooledUNet"]


class PooledUNet(Denoiser):
    """Encoder blocks with 2× max-pooling between them, decoder levels merging the skips.

    Subclasses build the blocks: ``encoders[i]`` runs at level ``i`` (after a pooling for
    ``i > 0``); ``decoders[j]`` is called as ``decoder(x, skip)`` with the output of the
    level below and the encoder features of level ``len(encoders) - 2 - j``; ``head`` maps
    the finest decoder output to the image.

    Parameters
    ----------
    spatial_dims : int
        2 or 3.
    encoders, decoders : sequence of nn.Module
        The blocks; one decoder fewer than encoders.
    head : nn.Module
        Output projection.
    """

    def __init__(
        self,
        spatial_dims: int,
        encoders: Sequence[nn.Module],
        decoders: Sequence[nn.Module],
        head: nn.Module,
    ) -> None:
        super().__init__()
        if len(encoders) < 2 or len(decoders) != len(encoders) - 1:
            raise ValueError("need at least two encoder levels and one decoder fewer")
        self.size_multiple = 2 ** (len(encoders) - 1)
        self.pool = Pool[Pool.MAX, spatial_dims](2)
        self.encoders = nn.ModuleList(encoders)
        self.decoders = nn.ModuleList(decoders)
        self.head = head

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        """Run the U-Net on ``x`` whose sizes are multiples of :attr:`size_multiple`."""
        skips: list[torch.Tensor] = []
        for i, encoder in enumerate(self.encoders):
            if i > 0:
                x = self.pool(x)
            x = encoder(x)
            skips.append(x)
        for i, decoder in enumerate(self.decoders):
            x = decoder(x, skips[len(skips) - 2 - i])
        return self.head(x)
