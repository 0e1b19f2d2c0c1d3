"""What the BM3D and BM4D filters share: importing the optional package, and being told the
noise power spectrum.

Both packages (``bm3d``, ``bm4d``) are free for non-commercial use only, so they are optional
extras (``pip install medden[bm3d]`` / ``medden[bm4d]``): the filters import without them and
raise a clear error when built without them.
"""

from __future__ import annotations

import copy
import importlib
from types import ModuleType
from typing import ClassVar, TypeVar

import numpy as np

__all__ = ["import_package", "TakesSpectrum"]

Told = TypeVar("Told", bound="TakesSpectrum")


def import_package(name: str) -> ModuleType:
    """Import the optional package ``name`` (``bm3d`` or ``bm4d``) with a clear error.

    Also restores ``np.trapz`` (removed in NumPy 2.4 as a duplicate of ``np.trapezoid``), which
    ``bm4d`` <= 4.2.5 calls when it is given a noise power spectrum, for BM3D too.
    """
    try:
        package = importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(
            f"the '{name}' model needs the optional '{name}' package (free for non-commercial "
            f"use only): pip install medden[{name}]") from exc
    if not hasattr(np, "trapz"):
        np.trapz = np.trapezoid
    return package


class TakesSpectrum:
    """Mixin of filters that can be told the noise power spectrum instead of a sigma."""

    accepts_psd: ClassVar[bool] = True
    #: The spectrum told, ``(C, H, W)``, or None (the filter uses its sigma).
    psd: np.ndarray | None = None

    def with_psd(self: Told, psd: np.ndarray) -> Told:
        """A copy of this filter told the noise power spectrum ``psd`` ``(C, H, W)``: the
        expected ``|FFT(noise)|^2`` of each channel, on the [0, 1] intensity scale."""
        told = copy.copy(self)
        told.psd = np.asarray(psd, dtype=np.float64)
        return told

    def channel_spectra(self, image: np.ndarray) -> np.ndarray:
        """The spectrum told, checked against a 2-D ``image`` ``(C, H, W)``.

        Raises
        ------
        ValueError
            When the image is not 2-D or the spectrum's shape is not the image's.
        """
        if self.psd is None or image.ndim != 3 or self.psd.shape != image.shape:
            shape = None if self.psd is None else self.psd.shape
            raise ValueError(f"noise power spectrum of shape {shape} for an image of shape "
                             f"{image.shape}; give one (H, W) spectrum per channel of a 2-D image")
        return self.psd
