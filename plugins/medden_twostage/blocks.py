"""Building blocks of the two-stage networks: residual dense blocks and noise attention.

Sharif, Naqvi and Loh, "Two-stage Deep Denoising with Self-guided Noise Attention for
Multimodal Medical Images" (§II-B): residual-in-residual dense blocks (RRDB, ESRGAN [38])
of residual dense blocks (RDB, [39]) joined by 1×1 "noise gate" convolutions, and the
self-guided noise attention block (NOB, eqs. 7-9).
"""

from __future__ import annotations

import torch
from monai.networks.blocks import ConvDenseBlock, Convolution
from torch import nn

__all__ = [
    "LEAKY_RELU",
    "plain_conv",
    "ResidualDenseBlock",
    "RRDB",
    "NoiseGated",
    "gated_rrdb_trunk",
    "NoiseAttention",
]

#: The paper's activation (slope 0.2 as in ESRGAN; the paper gives no slope).
LEAKY_RELU = ("leakyrelu", {"negative_slope": 0.2})


def plain_conv(spatial_dims: int, in_channels: int, out_channels: int, kernel_size: int = 3,
         bias: bool = True) -> Convolution:
    """A plain convolution ('same' padding, no norm or activation)."""
    return Convolution(spatial_dims, in_channels, out_channels, kernel_size=kernel_size,
                       conv_only=True, bias=bias)


class ResidualDenseBlock(nn.Module):
    """Residual dense block: ``layers - 1`` densely connected convs, a fusing conv, a skip.

    Each of the first ``layers - 1`` 3×3 convolutions (LeakyReLU) sees the concatenation of
    the block input and all earlier outputs (eq. 6) and adds ``growth`` channels; the last
    convolution maps the concatenation back to ``features`` channels.  The output is
    ``x + scale * fused`` (ESRGAN's residual scaling).

    Parameters
    ----------
    spatial_dims : int
        2 or 3.
    features : int
        Channels in and out.
    growth : int
        Channels added by each dense layer (the paper's growth rate ``c = 8``).
    layers : int
        Convolutions per block including the fusing one (the paper's ``d = 5``).
    scale : float
        Residual scaling of the fused features.
    """

    def __init__(self, spatial_dims: int, features: int, growth: int = 8, layers: int = 5,
                 scale: float = 0.2) -> None:
        super().__init__()
        if layers < 2:
            raise ValueError(f"a residual dense block needs at least 2 layers, got {layers}")
        self.dense = ConvDenseBlock(spatial_dims, features, [growth] * (layers - 1),
                                    act=LEAKY_RELU, norm=None)
        self.fuse = plain_conv(spatial_dims, features + (layers - 1) * growth, features)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + scale * fuse(dense(x))``."""
        return x + self.scale * self.fuse(self.dense(x))


class RRDB(nn.Module):
    """Residual-in-residual dense block: ``blocks`` RDBs in sequence inside a scaled skip.

    Parameters
    ----------
    spatial_dims : int
        2 or 3.
    features : int
        Channels in and out.
    growth : int
        Growth rate of each RDB.
    layers : int
        Convolutions per RDB.
    blocks : int
        RDBs per RRDB (3 in ESRGAN).
    scale : float
        Residual scaling of the RDB chain (and inside each RDB).
    """

    def __init__(self, spatial_dims: int, features: int, growth: int = 8, layers: int = 5,
                 blocks: int = 3, scale: float = 0.2) -> None:
        super().__init__()
        self.body = nn.Sequential(*[
            ResidualDenseBlock(spatial_dims, features, growth, layers, scale)
            for _ in range(blocks)
        ])
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x + scale * body(x)``."""
        return x + self.scale * self.body(x)


class NoiseGated(nn.Module):
    """A block whose input also reaches its output through a 1×1 "noise gate" convolution.

    ``block(x) + gate(x)``: the short-distance residual feature propagation between
    consecutive RRDBs of §II-B.1.

    Parameters
    ----------
    block : torch.nn.Module
        The block (features in = features out).
    gate : torch.nn.Module
        The 1×1 convolution.
    """

    def __init__(self, block: nn.Module, gate: nn.Module) -> None:
        super().__init__()
        self.block = block
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``block(x) + gate(x)``."""
        return self.block(x) + self.gate(x)


def gated_rrdb_trunk(spatial_dims: int, features: int, blocks: int, dense_blocks: int,
                     growth: int, layers: int) -> nn.Sequential:
    """``blocks`` RRDBs in sequence with a noise gate between each consecutive pair.

    The first RRDB is plain; each later one is wrapped in :class:`NoiseGated`, so the trunk
    has ``blocks - 1`` gates.
    """
    if blocks < 1:
        raise ValueError(f"the trunk needs at least one RRDB, got {blocks}")
    stages: list[nn.Module] = []
    for index in range(blocks):
        rrdb = RRDB(spatial_dims, features, growth, layers, dense_blocks)
        if index == 0:
            stages.append(rrdb)
        else:
            stages.append(NoiseGated(rrdb, plain_conv(spatial_dims, features, features, 1)))
    return nn.Sequential(*stages)


class NoiseAttention(nn.Module):
    """Self-guided noise attention block (NOB, eqs. 7-9).

    ``X_C = C(N_T) ⊕ C(I_T)`` (3×3 convolutions with ``attention_features`` filters,
    concatenated), ``A_C = sigmoid(Z_S([mean_c(X_C); max_c(X_C)]))`` (channel-wise average
    and max pooling to two maps, a convolution to one map, CBAM-style pixel attention) and
    ``S_A = A_C × I_T``.

    Parameters
    ----------
    spatial_dims : int
        2 or 3.
    features : int
        Channels of the image and noise feature maps ``I_T`` and ``N_T``.
    attention_features : int
        Filters of each ``C(·)`` (32 in the paper).
    kernel_size : int
        Kernel of the attention convolution ``Z_S`` (not given; CBAM's 7 is used).
    """

    def __init__(self, spatial_dims: int, features: int, attention_features: int = 32,
                 kernel_size: int = 7) -> None:
        super().__init__()
        self.noise_conv = plain_conv(spatial_dims, features, attention_features)
        self.image_conv = plain_conv(spatial_dims, features, attention_features)
        self.spatial = plain_conv(spatial_dims, 2, 1, kernel_size)

    def attention(self, image_features: torch.Tensor,
                  noise_features: torch.Tensor) -> torch.Tensor:
        """The pixel attention map ``A_C`` in (0, 1), one channel."""
        x_c = torch.cat([self.noise_conv(noise_features), self.image_conv(image_features)], 1)
        pooled = torch.cat([x_c.mean(dim=1, keepdim=True), x_c.amax(dim=1, keepdim=True)], 1)
        return torch.sigmoid(self.spatial(pooled))

    def forward(self, image_features: torch.Tensor,
                noise_features: torch.Tensor) -> torch.Tensor:
        """``S_A = A_C × I_T``."""
        return self.attention(image_features, noise_features) * image_features
