"""The Denoiser contract: learned networks and classical filters alike.

Every model plugin subclasses :class:`Denoiser`, an :class:`torch.nn.Module` mapping a noisy
batch ``(B, C, *spatial)`` in [0, 1] to a denoised batch of the same shape and dtype.
Networks whose architecture needs sizes divisible by ``2**k`` set :attr:`size_multiple`
and implement :meth:`denoise`; :meth:`forward` pads (reflect) and crops back, so any size
works.  Classical filters subclass :class:`ClassicalDenoiser` and implement
:meth:`ClassicalDenoiser.filter_image` on one numpy image.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from medden.spec import Spec

__all__ = ["Denoiser", "ClassicalDenoiser", "pad_to_multiple", "built_spatial_dims"]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, list[int]]:
    """Pad the spatial dims of ``x`` (``(B, C, *spatial)``) up to a multiple of ``multiple``.

    Returns the padded tensor and the original spatial size.  Uses reflection where the
    image is large enough and replication otherwise.  TorchScript-compatible.
    """
    size: list[int] = [int(s) for s in x.shape[2:]]
    pads: list[int] = []
    reflect_ok = True
    for s in size[::-1]:
        extra = (multiple - s % multiple) % multiple
        pads += [0, extra]
        reflect_ok = reflect_ok and extra < s
    if sum(pads) == 0:
        return x, size
    return F.pad(x, pads, mode="reflect" if reflect_ok else "replicate"), size


class Denoiser(nn.Module):
    """Base class of all denoisers.

    Class attributes declare what a model supports; the registry, CLI, training and
    benchmark code read them.
    """

    #: Spatial dimensionalities the model supports (2 and/or 3).
    spatial_dims: ClassVar[tuple[int, ...]] = (2,)
    #: Channel counts supported (``None`` = any).
    channels: ClassVar[tuple[int, ...] | None] = (1, 3)
    #: Learned (trainable) model, or classical filter.
    learned: ClassVar[bool] = True
    #: Whether :meth:`forward` accepts a per-pixel noise-level map.
    accepts_noise_map: ClassVar[bool] = False
    #: Whether two threads may run :meth:`forward` at once (``medden denoise`` then denoises
    #: images side by side); False for filters whose library is not thread-safe.
    thread_safe: ClassVar[bool] = True
    #: Spatial sizes must be multiples of this (handled by padding in :meth:`forward`).
    size_multiple: int = 1
    #: The SPEC the instance was built from (set by the registry).
    spec: Spec | None = None
    #: Python-only attributes TorchScript must not compile.
    __jit_ignored_attributes__ = ["spec"]

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise a batch whose spatial sizes are multiples of :attr:`size_multiple`."""
        raise NotImplementedError(f"{type(self).__name__} must implement denoise or forward")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise ``x`` of any spatial size (padded internally, cropped back)."""
        if self.size_multiple <= 1:
            return self.denoise(x)
        padded, size = pad_to_multiple(x, self.size_multiple)
        out = self.denoise(padded)
        if len(size) == 2:
            return out[..., : size[0], : size[1]]
        return out[..., : size[0], : size[1], : size[2]]


class ClassicalDenoiser(Denoiser):
    """A filter with no learned weights, run image by image on numpy arrays.

    Subclasses implement :meth:`filter_image` and may declare :attr:`tuning_grid`, the
    parameter values tried by per-image oracle tuning in benchmarks.
    """

    learned: ClassVar[bool] = False
    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)
    channels: ClassVar[tuple[int, ...] | None] = None
    #: Parameter name -> candidate values for oracle tuning.
    tuning_grid: ClassVar[dict[str, list[Any]]] = {}
    #: Name of the parameter taking the noise standard deviation (0-255 scale), if any:
    #: benchmarks can then run the filter given the true sigma (``--true-sigma``).
    noise_sigma_parameter: ClassVar[str | None] = None
    #: True when the filter can be given the noise power spectrum (:meth:`with_psd`) instead
    #: of a sigma, for correlated noise (``--true-sigma`` then adds a "true PSD" row).
    accepts_psd: ClassVar[bool] = False

    def with_psd(self, psd: np.ndarray) -> ClassicalDenoiser:
        """This filter told the noise power spectrum ``psd`` (``(C, H, W)``, the expected
        ``|FFT(noise)|^2`` of each channel of the images it will filter).

        Raises
        ------
        NotImplementedError
            When the filter does not take a spectrum (:attr:`accepts_psd` is False).
        """
        raise NotImplementedError(f"{type(self).__name__} does not take a noise power spectrum")

    @abstractmethod
    def filter_image(self, image: np.ndarray) -> np.ndarray:
        """Filter one image ``(C, *spatial)`` (float32 in about [0, 1]); same shape out."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply :meth:`filter_image` to every image of the batch."""
        array = x.detach().cpu().numpy().astype(np.float32, copy=False)
        out = np.stack([np.asarray(self.filter_image(img), dtype=np.float32) for img in array])
        return torch.from_numpy(out).to(device=x.device, dtype=x.dtype)


_CONVOLUTIONS = {2: (nn.Conv2d, nn.ConvTranspose2d), 3: (nn.Conv3d, nn.ConvTranspose3d)}


def built_spatial_dims(network: nn.Module) -> tuple[int, ...]:
    """The image dimensionalities ``network`` *as built* accepts.

    A class may support 2-D and 3-D images (``spatial_dims = (2, 3)``) while an instance is
    built for one of them (``dncnn:spatial_dims=3``): its convolutions tell which.  Networks
    without convolutions (classical filters) keep their declared dims.
    """
    declared = tuple(getattr(network, "spatial_dims", (2,)))
    found = {dims for dims, kinds in _CONVOLUTIONS.items()
             if any(isinstance(m, kinds) for m in network.modules())}
    if len(found) == 1:
        narrowed = tuple(d for d in declared if d in found)
        return narrowed or tuple(found)
    return declared

