"""The two networks of the two-stage denoiser: noise estimation (NEN) and reconstruction (RN).

Sharif, Naqvi and Loh, "Two-stage Deep Denoising with Self-guided Noise Attention for
Multimodal Medical Images", §II-B.  Stage I (NEN) estimates the residual noise ``N_E`` of a
noisy image ``I_N``; stage II (RN) reconstructs the clean image from ``I_N`` and ``N_E``
through the self-guided noise attention block.  Both share one trunk: RRDBs (3 RDBs of 5
convolutions, growth 8, LeakyReLU) joined by 1×1 noise-gate convolutions.

Parameter count (Table VII: NEN 283,776 + RN 302,466 = 586,242 for RGB): the paper gives
the block internals but not the number of blocks, the trunk width or the head and tail
convolutions.  With 32 features (the width of the attention block's output), 3 RRDBs of
3 RDBs each (ESRGAN's RRDB) and 2 noise gates, NEN has 284,387 and RN 303,878 parameters
for 3 channels (588,265 together, +2,023 or +0.35 %; 283,233 + 302,148 for 1 channel).
The 9 RDBs (31,168 parameters each) are 92-99 % of either network; the next closest block
counts (4 RRDBs of 2 RDBs, 2 of 4) are 10 % off.  The remaining gap lies in details the
paper omits (biases, the attention convolution's kernel, head and tail convolutions).  The
MACs for a 256×256×3 image agree as closely: 18.59 G (NEN), 19.86 G (RN) and 38.46 G
together, against Table VII's 18.56 G, 19.78 G and 38.34 G.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from medden.models import Denoiser
from medden_twostage.blocks import NoiseAttention, gated_rrdb_trunk, plain_conv

__all__ = ["NoiseEstimationNet", "ReconstructionNet"]


class _GatedRRDBNet(Denoiser):
    """Shared part of NEN and RN: the gated RRDB trunk and the output convolution."""

    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)

    def __init__(self, in_channels: int, spatial_dims: int, features: int, growth: int,
                 layers: int, dense_blocks: int, blocks: int) -> None:
        super().__init__()
        if spatial_dims not in type(self).spatial_dims:
            raise ValueError(f"spatial_dims must be one of {type(self).spatial_dims}, "
                             f"got {spatial_dims}")
        self.trunk = gated_rrdb_trunk(spatial_dims, features, blocks, dense_blocks, growth,
                                      layers)
        self.tail = plain_conv(spatial_dims, features, in_channels)


class NoiseEstimationNet(_GatedRRDBNet):
    """Noise estimation network (NEN), stage I of the two-stage denoiser: noisy -> noise.

    ``forward(x)`` returns the estimated residual noise ``N_E`` (same shape as ``x``), not
    a denoised image: the stage-I denoised image is ``x - forward(x)``.  Layout: 3×3
    convolution to ``features`` channels, the gated RRDB trunk, 3×3 convolution back to
    ``in_channels``.  Trained with MSE against the true noise (§II-B.3).

    Source: Sharif, Naqvi and Loh, "Two-stage Deep Denoising with Self-guided Noise
    Attention for Multimodal Medical Images", §II-B.1 (eqs. 5-6).  Assumed (not in the
    paper): the number of blocks and the width (chosen to match Table VII's parameter
    count, see the module docstring), LeakyReLU slope 0.2 and residual scaling 0.2 (ESRGAN),
    linear head and tail convolutions, the noise gate added to the output of the next RRDB,
    and no clamping of the estimate.

    Parameters
    ----------
    in_channels : int
        Image channels (output channels are the same).
    spatial_dims : int
        2 for images, 3 for volumes.
    features : int
        Width of the trunk.
    growth : int
        Growth rate of the dense blocks (paper: 8).
    layers : int
        Convolutions per dense block (paper: 5).
    dense_blocks : int
        Residual dense blocks per RRDB.
    blocks : int
        RRDBs in the trunk (with ``blocks - 1`` noise gates between them).
    """

    def __init__(self, in_channels: int = 1, spatial_dims: int = 2, features: int = 32,
                 growth: int = 8, layers: int = 5, dense_blocks: int = 3,
                 blocks: int = 3) -> None:
        super().__init__(in_channels, spatial_dims, features, growth, layers, dense_blocks,
                         blocks)
        self.head = plain_conv(spatial_dims, in_channels, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Estimated residual noise ``N_E`` of ``x`` (same shape)."""
        return self.tail(self.trunk(self.head(x)))


class ReconstructionNet(_GatedRRDBNet):
    """Reconstruction network (RN), stage II of the two-stage denoiser: (noisy, noise) -> clean.

    ``forward(x, noise)`` takes the noisy image and the noise estimated by NEN (same shape);
    ``noise=None`` means an all-zero estimate, so ``model(x)`` runs RN on its own as a
    denoiser.  Layout: a 3×3 convolution maps each input to ``features`` channels (``I_T``
    and ``N_T``), the self-guided noise attention block (eqs. 7-9) weights ``I_T`` by the
    pixel attention computed from both, the gated RRDB trunk refines it, and a 3×3
    convolution maps back to ``in_channels``.  With ``residual=True`` that output is a
    correction added to the stage-I estimate ``x - noise`` (coarse-to-refine).  Trained
    with L1 against the clean image (§II-B.3).

    Source: Sharif, Naqvi and Loh, "Two-stage Deep Denoising with Self-guided Noise
    Attention for Multimodal Medical Images", §II-B.2 (eqs. 7-9, Fig. 5).  Assumed (not in
    the paper): block count and width as for NEN; linear ``C(·)`` convolutions; a 7×7
    attention convolution (CBAM [41]); the residual connection to ``x - noise`` (the paper
    does not say whether RN outputs the image directly; ``residual=False`` does that).

    Parameters
    ----------
    in_channels : int
        Image channels (output channels are the same).
    spatial_dims : int
        2 for images, 3 for volumes.
    features : int
        Width of the trunk and of ``I_T`` / ``N_T``.
    growth : int
        Growth rate of the dense blocks (paper: 8).
    layers : int
        Convolutions per dense block (paper: 5).
    dense_blocks : int
        Residual dense blocks per RRDB.
    blocks : int
        RRDBs in the trunk (with ``blocks - 1`` noise gates between them).
    attention_features : int
        Filters of the attention block's convolutions ``C(·)`` (paper: 32).
    attention_kernel : int
        Kernel size of the convolution producing the attention map.
    residual : bool
        Add the network output to ``x - noise`` instead of returning it as the image.
    """

    def __init__(self, in_channels: int = 1, spatial_dims: int = 2, features: int = 32,
                 growth: int = 8, layers: int = 5, dense_blocks: int = 3, blocks: int = 3,
                 attention_features: int = 32, attention_kernel: int = 7,
                 residual: bool = True) -> None:
        super().__init__(in_channels, spatial_dims, features, growth, layers, dense_blocks,
                         blocks)
        self.image_head = plain_conv(spatial_dims, in_channels, features)
        self.noise_head = plain_conv(spatial_dims, in_channels, features)
        self.attention = NoiseAttention(spatial_dims, features, attention_features,
                                        attention_kernel)
        self.residual = residual

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstructed image from noisy ``x`` and estimated ``noise`` (zeros if None)."""
        if noise is None:
            noise = torch.zeros_like(x)
        attended = self.attention(self.image_head(x), self.noise_head(noise))
        out = self.tail(self.trunk(attended))
        if self.residual:
            out = out + (x - noise)
        return out
