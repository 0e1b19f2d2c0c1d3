"""DAE: convolutional denoising autoencoder of CADTra (El-Shafai et al. 2022)."""

from __future__ import annotations

from typing import ClassVar

import torch
from monai.networks.nets import AutoEncoder

from medden.models import Denoiser
from medden_baselines._common import check_spatial_dims

__all__ = ["DAE"]


class DAE(Denoiser):
    """Denoising autoencoder: strided conv+BN+ReLU encoder, transposed-conv decoder, sigmoid.

    The encoder halves the size at every level (3×3 convolutions of stride 2, batch norm,
    ReLU, widths ``channels``); the decoder mirrors it with transposed convolutions; a
    sigmoid keeps the reconstruction in [0, 1].  Built on :class:`monai.networks.nets.
    AutoEncoder`.  Sizes are padded internally to a multiple of ``2**len(channels)``.

    Source: W. El-Shafai, S. A. El-Nabi, E.-S. M. El-Rabaie, A. M. Ali, N. F. Soliman,
    A. D. Algarni and F. E. Abd El-Samie, "Efficient Deep-Learning-Based Autoencoder
    Denoising Approach for Medical Image Diagnosis", Computers, Materials & Continua 70(3),
    2022 (the "DAE" row of the two-stage paper, ref. [13]).  Assumed: we could consult only
    the abstract, which describes a convolutional autoencoder for denoising trained with a
    loss modelling the decoder output as Gaussian (a training choice, not part of this
    module); the depth, widths, strided down-sampling, batch norm and sigmoid output are
    our choices, not the paper's layer table.

    Parameters
    ----------
    in_channels : int
        Image channels (output channels are the same).
    spatial_dims : int
        2 for images, 3 for volumes.
    channels : tuple of int
        Encoder widths, one per level (each level halves the size).
    kernel_size : int
        Kernel size of the convolutions and transposed convolutions.
    """

    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)

    def __init__(self, in_channels: int = 1, spatial_dims: int = 2,
                 channels: tuple[int, ...] = (32, 64, 128), kernel_size: int = 3) -> None:
        super().__init__()
        check_spatial_dims(type(self), spatial_dims)
        if not channels:
            raise ValueError("channels needs at least one level")
        self.autoencoder = AutoEncoder(
            spatial_dims, in_channels, in_channels, channels=tuple(channels),
            strides=(2,) * len(channels), kernel_size=kernel_size, up_kernel_size=kernel_size,
            num_inter_units=0, act="relu", norm="batch",
        )
        self.size_multiple = 2 ** len(channels)

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``x`` (spatial sizes multiples of :attr:`size_multiple`)."""
        return torch.sigmoid(self.autoencoder(x))
