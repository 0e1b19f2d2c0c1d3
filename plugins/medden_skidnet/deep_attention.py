"""DeepAttention: U-Net whose long skips pass through attention gates (Li et al. 2022)."""

from __future__ import annotations

from typing import ClassVar

import torch
from monai.networks.blocks import Convolution, UpSample
from monai.networks.nets.attentionunet import AttentionBlock
from torch import nn

from medden_skidnet.pooled_unet import PooledUNet

__all__ = ["DeepAttention"]


def _conv_block(
    spatial_dims: int, in_channels: int, out_channels: int, slope: float, dropout: float
) -> nn.Sequential:
    """Two × (3×3 conv → batch norm → LeakyReLU → dropout)."""
    act = ("leakyrelu", {"negative_slope": slope})
    return nn.Sequential(
        Convolution(spatial_dims, in_channels, out_channels, act=act, norm="batch",
                    dropout=dropout, adn_ordering="NAD"),
        Convolution(spatial_dims, out_channels, out_channels, act=act, norm="batch",
                    dropout=dropout, adn_ordering="NAD"),
    )


class _GatedUp(nn.Module):
    """Decoder level: 2× transposed conv, attention-gated skip, concatenation, conv block."""

    def __init__(
        self, spatial_dims: int, coarse: int, fine: int, slope: float, dropout: float
    ) -> None:
        super().__init__()
        self.up = UpSample(spatial_dims, coarse, fine, scale_factor=2, mode="deconv")
        self.gate = AttentionBlock(spatial_dims, f_int=max(fine // 2, 1), f_g=fine, f_l=fine)
        self.block = _conv_block(spatial_dims, 2 * fine, fine, slope, dropout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Upsample ``x``, gate ``skip`` with it, merge and convolve."""
        up = self.up(x)
        return self.block(torch.cat([self.gate(up, skip), up], dim=1))


class DeepAttention(PooledUNet):
    """DeepAttention: attention-gated U-Net with batch-normalised LeakyReLU conv blocks.

    Source: the X-ray attention paper, §4.2.2, after Li et al. (Front. Comput. Neurosci.
    2022): SkidNet's 3×3 convolutions and 2×2 max-pooling, filters doubling at every block
    ("from 3 to 96"), encoder blocks of two convolutions each followed by batch
    normalisation, LeakyReLU and dropout, no short skips, and long skips that pass through
    additive attention gates (Oktay et al. 2018) before joining the decoder.

    Assumptions: "3 to 96" is read as the 3-channel input followed by five blocks of
    6, 12, 24, 48, 96 filters (Li et al. build five doubling blocks); the decoder follows
    Li et al.: 2×2 transposed-convolution upsampling to the skip's width, the skip gated by
    MONAI's ``AttentionBlock`` with the upsampled features as gating signal (intermediate
    width half the skip's), concatenation, a conv block like the encoder's, and a linear 1×1
    output convolution; LeakyReLU slope 0.01 and dropout 0.1 (the papers name neither).

    Parameters
    ----------
    in_channels : int
        Image channels (1 gray, 3 RGB); the output has as many.
    spatial_dims : int
        2 for images, 3 for volumes.
    features : tuple of int
        Widths of the conv blocks, finest first; one max-pooling between consecutive blocks.
    dropout : float
        Dropout probability after every activation.
    negative_slope : float
        LeakyReLU slope.
    """

    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)

    def __init__(
        self,
        in_channels: int = 1,
        spatial_dims: int = 2,
        features: tuple[int, ...] = (6, 12, 24, 48, 96),
        dropout: float = 0.1,
        negative_slope: float = 0.01,
    ) -> None:
        widths = [in_channels, *features]
        super().__init__(
            spatial_dims,
            encoders=[_conv_block(spatial_dims, a, b, negative_slope, dropout)
                      for a, b in zip(widths[:-1], widths[1:], strict=True)],
            decoders=[_GatedUp(spatial_dims, coarse, fine, negative_slope, dropout)
                      for coarse, fine in zip(features[:0:-1], features[-2::-1], strict=True)],
            head=Convolution(spatial_dims, features[0], in_channels, kernel_size=1,
                             conv_only=True),
        )
