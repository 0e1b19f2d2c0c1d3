"""The Noise contract: every noise model is a plugin subclassing :class:`Noise`.

Conventions (see DESIGN.md): images are ``torch.float32`` tensors normalised to [0, 1],
channel-first, ``(C, H, W)`` or ``(C, D, H, W)``; batches add a leading ``B``.  Noise levels
are on the papers' 0-255 scale (``sigma=25`` means a standard deviation of 25/255).  Every
draw takes a :class:`torch.Generator`, so the same seed gives the same noise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from medden.spec import Spec

__all__ = ["Noise", "as_batch", "make_generator"]


def make_generator(seed: int | None = None) -> torch.Generator:
    """A CPU :class:`torch.Generator`, seeded when ``seed`` is given."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    return generator


def as_batch(image: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Return ``(batch, was_single)`` where ``batch`` is ``(B, C, *spatial)``.

    A 3-D tensor is one 2-D image ``(C, H, W)``; a 4-D tensor is a batch of 2-D images
    ``(B, C, H, W)``; a 5-D tensor is a batch of volumes.  A single volume is therefore
    passed as ``(1, C, D, H, W)`` (a 4-D tensor would be ambiguous).
    """
    if image.ndim == 3:
        return image.unsqueeze(0), True
    if image.ndim in (4, 5):
        return image, False
    raise ValueError(
        "expected (C, H, W), (B, C, H, W) or (B, C, D, H, W), "
        f"got shape {tuple(image.shape)}"
    )


class Noise(ABC):
    """Base class of noise models.

    Subclasses implement :meth:`apply` on a batch ``(B, C, *spatial)``; calling the noise
    also accepts a single 2-D image ``(C, H, W)`` (see :func:`as_batch`).  The output has
    the input's shape and dtype and may leave [0, 1].  Subclasses document their
    parameters in a numpy-style ``Parameters`` section: ``medden list`` shows it.
    """

    #: Spatial dimensionalities supported.
    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)
    #: Channel counts supported (``None`` = any).
    channels: ClassVar[tuple[int, ...] | None] = None
    #: Parameters that set the noise level another way than ``sigma``/``peak`` (``mri_coil``'s
    #: ``snr``): a SPEC giving one is run once, as written, by ``medden benchmark --levels``.
    level_alternatives: ClassVar[tuple[str, ...]] = ()
    #: The SPEC the instance was built from (set by the registry).
    spec: Spec | None = None

    @property
    def additive_gaussian(self) -> bool:
        """True for additive white Gaussian noise: ``medden benchmark --true-sigma`` then gives
        filters the condition's level as the true sigma.  A wrapper that keeps its inner noise
        Gaussian (``clipped``) returns its inner noise's answer."""
        return False

    @property
    def measured_truth(self) -> bool:
        """True for noises whose level is not one Gaussian sigma but whose draw is additive
        enough to be measured (low-dose CT from projections, multi-coil MRI, cameras):
        ``medden benchmark --true-sigma`` then gives filters the standard deviation of the drawn
        noise (``noisy - clean``)."""
        return False

    @property
    def correlated(self) -> bool:
        """True for spatially correlated noise with a measured truth (CT reconstructions):
        ``medden benchmark --true-sigma`` then also gives filters that take one (BM3D, BM4D)
        the drawn noise's power spectrum."""
        return False

    @abstractmethod
    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return a noisy copy of ``batch`` (``(B, C, *spatial)``, float, in [0, 1])."""

    def __call__(
        self, clean: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Add noise to ``clean`` (one image or a batch); same shape and dtype out."""
        if not torch.is_floating_point(clean):
            raise TypeError(f"noise expects a floating-point tensor, got {clean.dtype}")
        batch, single = as_batch(clean)
        if batch.ndim - 2 not in self.spatial_dims:
            raise ValueError(f"{type(self).__name__} supports {self.spatial_dims}-D images")
        if self.channels is not None and batch.shape[1] not in self.channels:
            raise ValueError(
                f"{type(self).__name__} supports {self.channels} channels, got {batch.shape[1]}"
            )
        generator = generator if generator is not None else make_generator()
        noisy = self.apply(batch, generator).to(clean.dtype)
        if noisy.shape != batch.shape:
            raise RuntimeError(
                f"{type(self).__name__} changed the shape {tuple(batch.shape)} -> "
                f"{tuple(noisy.shape)}"
            )
        return noisy[0] if single else noisy

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec or ''})"
