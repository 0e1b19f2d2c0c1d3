"""Geometric self-ensemble: average a denoiser over the 8 flips and quarter turns of the image.

A convolutional denoiser is not exactly equivariant to rotations and flips, so its errors on
the 8 dihedral transforms of an image are partly independent: transforming the input, denoising,
transforming back and averaging lowers the error at 8 times the cost (Timofte et al., "Seven
ways to improve example-based single image super resolution", CVPR 2016; DRUNet's "x8").
The transforms act on the last two axes, so volumes are rotated within their slices.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["DihedralEnsemble", "dihedral_average", "ENSEMBLE_SUFFIX"]

#: Added to a denoiser's label (reports, DICOM derivation, benchmark rows) when it is ensembled.
ENSEMBLE_SUFFIX = " (self-ensemble x8)"


def dihedral_average(network: Callable[[torch.Tensor], torch.Tensor],
                     x: torch.Tensor) -> torch.Tensor:
    """Mean of ``network`` over the 8 flips/rotations of the last two axes of ``x``.

    Parameters
    ----------
    network : callable
        A denoiser (module or function): maps ``(B, C, ..., H, W)`` to the same shape; must
        accept ``W x H`` as well as ``H x W`` inputs (every fully convolutional denoiser does).
    x : torch.Tensor
        The batch.

    Returns
    -------
    torch.Tensor
        Same shape as ``x``.
    """
    total = torch.zeros_like(x)
    for mirrored in (False, True):
        view = torch.flip(x, (-1,)) if mirrored else x
        turned_back = torch.zeros_like(x)
        for turns in range(4):
            turned_back += torch.rot90(network(torch.rot90(view, turns, (-2, -1))), -turns,
                                       (-2, -1))
        total += torch.flip(turned_back, (-1,)) if mirrored else turned_back
    return total / 8


class DihedralEnsemble(nn.Module):
    """A denoiser run through :func:`dihedral_average` (8 times its cost).

    Parameters
    ----------
    network : nn.Module
        The denoiser (model or pipeline); its weights are shared, not copied.
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Average of the network's outputs over the 8 transforms of ``x``."""
        return dihedral_average(self.network, x)

    def decide(self, x: torch.Tensor) -> torch.Tensor:
        """The wrapped pipeline's whole-image decisions (:meth:`medden.pipeline.Pipeline.decide`);
        they do not depend on the image's orientation."""
        return self.network.decide(x)

    def forward_decided(self, x: torch.Tensor, decisions: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` with the whole-image ``decisions`` of :meth:`decide`."""
        return dihedral_average(lambda view: self.network.forward_decided(view, decisions), x)
