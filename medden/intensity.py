"""Modality-aware intensity normalisation to about [0, 1] and its exact inverse.

Networks and noise models work on ``float32`` images in [0, 1] with noise levels on the
0-255 scale (σ = 25 means 25/255).  :func:`fit_intensity` picks a linear map
``normalised = (x - offset) / scale`` for an image in original units; ``scale`` is what
one unit of the normalised scale is worth, so a noise level σ on the 0-255 scale is
``σ / 255 * scale`` original units.

Strategies
----------
CT (DICOM Modality ``CT``, or ``modality="ct"``): a fixed HU window, offset -1024 and
    scale 4095, mapping [-1024, 3071] HU (the 12-bit range CT scanners store: air at
    -1000, dense bone and contrast up to about +3000) onto [0, 1].  A fixed window makes a
    noise level mean the same number of HU on every scan and for every model, and nothing
    a scanner stores leaves [0, 1], so models that clamp their output to [0, 1] lose no
    tissue.  The price is that σ = 25 is 25/255 × 4095 ≈ 401 HU, far above clinical CT
    quantum noise (about 10-50 HU, i.e. σ ≈ 0.6-3 on this scale); a soft-tissue display
    window (W 400) would make σ = 25 ≈ 39 HU but would push lung and bone outside [0, 1].
8-bit data (stored dtype ``uint8``/``int8``, e.g. PNG/JPEG X-ray, MRI slices, RGB photos):
    the full representable range (offset 0, scale 255 for rasters), exactly the papers'
    ``/255``, so σ = 25 means 25 grey levels.  ``modality="rgb"`` asks for this range; it
    gets the percentiles below for deeper data (a microscope camera's 12-bit image in a
    16-bit TIFF would fill a sixteenth of [0, 1], its noise looking 16 times weaker).
    This rule comes before the CT one when the modality is not given explicitly, so an
    8-bit DICOM labelled CT (a screen capture) is not squeezed into a 4095 HU window.
X-ray and everything else (16-bit rasters included): robust percentiles: offset is
    the 0.5th and ``offset + scale`` the 99.5th percentile of the finite values (all
    channels together, so colour balance is kept).  16-bit rasters use percentiles rather
    than /65535 because 16-bit containers usually hold 10-14-bit data, which /65535 would
    squeeze into a small part of [0, 1].  A constant image gets scale 1.
MRI (DICOM Modality ``MR``, or ``modality="mr"``): magnitude images, whose zero is no
    signal: offset 0 and ``scale`` the 99.5th percentile.  The noise of a magnitude image
    depends on that zero (its background is a Rician or χ floor above it), so the map must
    not move it: the 0.5th percentile of a noisy scan lies on that floor (about a tenth of
    the 99.5th percentile for 8 coils at SNR 10) and would pull the floor down to 0, where
    the networks read zero-mean noise.  An image with nothing above zero falls back to the
    percentiles.

Images stored with the smallest value displayed white (DICOM ``MONOCHROME1``, TIFF
min-is-white; ``ImageMeta.inverted``) get the same window turned round (a negative
``scale``): 0 is the displayed black, 1 the displayed white, as in every image the networks
were trained on, and as the signal-dependent noise models (Poisson, camera) assume (white:
the most photons counted in the display's sense). The HU window of CT is physical and is
never turned round.

The map is linear and never clips: values outside the window or the percentile range
land outside [0, 1] and come back exactly on :meth:`IntensityMap.denormalise`.  Clipping
to the representable range happens only when writing files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from medden.choices import MODALITIES
from medden.io.image import MedicalImage

__all__ = ["IntensityMap", "fit_intensity", "CT_WINDOW", "CT_MAP", "PERCENTILES", "MODALITIES",
           "OutsideWindow", "hold_outside_window"]

#: HU window used for CT: [low, high].
CT_WINDOW = (-1024.0, 3071.0)
#: Lower and upper percentiles for percentile normalisation.
PERCENTILES = (0.5, 99.5)

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class IntensityMap:
    """Linear map ``normalised = (x - offset) / scale`` and its inverse.

    Attributes
    ----------
    offset : float
        Original-unit value mapped to 0.
    scale : float
        Original-unit width mapped to 1: positive, or negative for an image turned round
        (``ImageMeta.inverted``); ``abs(scale)`` is what one normalised unit is worth.
    """

    offset: float
    scale: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.offset) and math.isfinite(self.scale) and self.scale != 0):
            raise ValueError(f"invalid intensity map offset={self.offset}, scale={self.scale}")

    def normalise(self, x: ArrayT) -> ArrayT:
        """Original units -> normalised; a float32 array or tensor of the same kind."""
        if isinstance(x, torch.Tensor):
            return (x.to(torch.float32) - self.offset) / self.scale
        return (np.asarray(x, dtype=np.float32) - np.float32(self.offset)) / np.float32(self.scale)

    def denormalise(self, x: ArrayT) -> ArrayT:
        """Normalised -> original units; a float32 array or tensor of the same kind."""
        if isinstance(x, torch.Tensor):
            return x.to(torch.float32) * self.scale + self.offset
        return np.asarray(x, dtype=np.float32) * np.float32(self.scale) + np.float32(self.offset)

    def to_dict(self) -> dict[str, float]:
        """JSON-ready form."""
        return {"offset": float(self.offset), "scale": float(self.scale)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IntensityMap:
        """Inverse of :meth:`to_dict`."""
        return cls(offset=float(data["offset"]), scale=float(data["scale"]))


#: The map of every CT image (values in HU): :data:`CT_WINDOW` onto [0, 1].
CT_MAP = IntensityMap(offset=CT_WINDOW[0], scale=CT_WINDOW[1] - CT_WINDOW[0])


@dataclass(frozen=True)
class OutsideWindow:
    """Pixels of a CT image outside the HU window, set aside while a denoiser runs.

    Attributes
    ----------
    indices : np.ndarray
        Flat indices of the pixels.
    values : np.ndarray
        Their normalised values, as they were.
    """

    indices: np.ndarray
    values: np.ndarray

    def put_back(self, data: np.ndarray) -> None:
        """Restore the pixels, exactly, in a normalised array of the original shape."""
        data.reshape(-1)[self.indices] = self.values


def hold_outside_window(data: np.ndarray, mapping: IntensityMap) -> OutsideWindow | None:
    """Set aside the pixels of a CT image that lie outside the window, clamping them into it.

    Below -1024 HU a CT image holds no tissue but the scanner's padding outside the
    reconstructed field of view (-2000, -2048 or -3024 HU, often without a
    PixelPaddingValue); above 3071 HU only metal. Networks never saw either: a field of
    view edge at -3024 HU inflates their noise estimate and blurs the whole slice. The
    denoiser gets these pixels at the window's edge, and :meth:`OutsideWindow.put_back`
    restores them unchanged afterwards.

    Parameters
    ----------
    data : np.ndarray
        A normalised image, changed in place (clamped to [0, 1]) when anything is held.
    mapping : IntensityMap
        Its map; only :data:`CT_MAP` images are held.

    Returns
    -------
    OutsideWindow or None
        None for other maps or when every pixel is inside the window.
    """
    if mapping != CT_MAP:
        return None
    flat = data.reshape(-1)
    indices = np.flatnonzero((flat < 0.0) | (flat > 1.0))
    if indices.size == 0:
        return None
    held = OutsideWindow(indices, flat[indices].copy())
    np.clip(data, 0.0, 1.0, out=data)
    return held


def _strategy(image: MedicalImage, modality: str | None) -> str:
    if modality is not None:
        key = modality.lower()
        if key not in MODALITIES:
            raise ValueError(
                f"unknown modality {modality!r}; choose one of {', '.join(MODALITIES)}"
            )
        return MODALITIES[key]
    if np.dtype(image.meta.original_dtype).itemsize == 1:
        return "full_range"
    kind = (image.meta.modality or "").upper()
    if kind == "CT":
        return "window"
    if kind == "MR":
        return "magnitude"
    return "percentile"


def fit_intensity(image: MedicalImage, modality: str | None = None) -> IntensityMap:
    """The normalisation map for ``image`` (see the module docstring for the strategies).

    Parameters
    ----------
    image : MedicalImage
        Image in original units.
    modality : str, optional
        Override the image's own modality: one of :data:`MODALITIES` (case-insensitive),
        e.g. ``"ct"`` for a NIfTI CT volume in HU.  By default the DICOM Modality and the
        stored dtype decide.

    Raises
    ------
    ValueError
        For an unknown ``modality`` or an image without finite values.
    """
    strategy = _strategy(image, modality)
    if strategy == "window":
        return CT_MAP
    if strategy == "full_range" and np.dtype(image.meta.original_dtype).itemsize == 1:
        low, high = image.meta.value_range
    else:  # deeper data asked for as "rgb" too: a 16-bit container rarely holds 16 bits
        values = np.asarray(image.data)
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise ValueError("image has no finite values")
        low, high = (float(v) for v in np.percentile(values, PERCENTILES))
        if strategy == "magnitude" and high > 0:
            low = 0.0
        if high <= low:
            high = low + 1.0
    if image.meta.inverted:
        return IntensityMap(offset=high, scale=low - high)
    return IntensityMap(offset=low, scale=high - low)
