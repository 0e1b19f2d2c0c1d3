"""RED-CNN: residual encoder-decoder CNN for low-dose CT (Chen et al. 2017)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution
from torch import nn

from medden.models import Denoiser
from medden_baselines._common import check_spatial_dims

__all__ = ["REDCNN"]


class REDCNN(Denoiser):
    """RED-CNN residual encoder-decoder: valid convolutions, deconvolutions and shortcuts.

    The encoder has ``layers`` convolutions and the decoder ``layers`` transposed
    convolutions (``features`` filters of ``kernel_size``, stride 1, no padding, so each
    layer shrinks or grows every side by ``kernel_size - 1``), all followed by ReLU.  Three
    shortcuts (for 5 + 5 layers) add the input to the last decoder output and the outputs
    of encoder layers 2 and 4 to the outputs of decoder layers 3 and 1, before their ReLU;
    in general every second encoder output, starting from the input, is added to the
    decoder output of the same size.  No pooling.

    Source: H. Chen, Y. Zhang, M. K. Kalra, F. Lin, Y. Chen, P. Liao, J. Zhou and G. Wang,
    "Low-Dose CT With a Residual Encoder-Decoder Convolutional Neural Network", IEEE TMI
    36(12), 2524-2535, 2017 (ref. [14] of the two-stage paper).  Defaults are the paper's:
    5 + 5 layers of 96 filters of 5×5.  Assumed: inputs smaller than ``layers *
    (kernel_size - 1) + 1`` pixels on a side (the paper trains on 55×55 patches) are padded
    by edge replication and cropped back; the 3-D variant uses 5×5×5 kernels.

    Parameters
    ----------
    in_channels : int
        Image channels (output channels are the same).
    spatial_dims : int
        2 for images, 3 for volumes.
    layers : int
        Convolutions in the encoder (and transposed convolutions in the decoder).
    features : int
        Filters per layer.
    kernel_size : int
        Kernel size of every layer.
    """

    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)

    def __init__(self, in_channels: int = 1, spatial_dims: int = 2, layers: int = 5,
                 features: int = 96, kernel_size: int = 5) -> None:
        super().__init__()
        check_spatial_dims(type(self), spatial_dims)
        if layers < 1:
            raise ValueError(f"layers must be at least 1, got {layers}")
        widths = [in_channels] + [features] * layers
        self.encoder = nn.ModuleList(
            Convolution(spatial_dims, widths[i], widths[i + 1], kernel_size=kernel_size,
                        padding=0, conv_only=True)
            for i in range(layers)
        )
        self.decoder = nn.ModuleList(
            Convolution(spatial_dims, widths[i + 1], widths[i], kernel_size=kernel_size,
                        padding=0, is_transposed=True, conv_only=True)
            for i in reversed(range(layers))
        )
        self.min_size = layers * (kernel_size - 1) + 1

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder-decoder with shortcuts on an input of at least :attr:`min_size`."""
        depth = len(self.encoder)
        saved: list[torch.Tensor] = [x]
        h = x
        for index, conv in enumerate(self.encoder):
            h = F.relu(conv(h))
            if index + 1 < depth and (index + 1) % 2 == 0:
                saved.append(h)
        for index, deconv in enumerate(self.decoder):
            h = deconv(h)
            if (depth - index - 1) % 2 == 0:
                h = h + saved.pop()
            h = F.relu(h)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise ``x`` of any size (small inputs are padded, then cropped back)."""
        size = x.shape[2:]
        pads: list[int] = []
        for dim in range(len(size) - 1, -1, -1):
            pads += [0, max(self.min_size - size[dim], 0)]
        if max(pads) == 0:
            return self.denoise(x)
        out = self.denoise(F.pad(x, pads, mode="replicate"))
        if len(size) == 2:
            return out[..., : size[0], : size[1]]
        return out[..., : size[0], : size[1], : size[2]]
