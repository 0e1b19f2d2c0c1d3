"""The bundle ``medden denoise`` gives an image when no denoiser is named, and why.

Rules, in order (docs/user-guide.md, "The default denoiser"):

1. DICOM whose Modality has a bundle (:data:`DICOM_BUNDLES`): CR, DX, DR, RG, MG -> xray,
   CT -> ct, MR -> mri.
2. A colour (3-channel) image -> multimodal.
3. A NIfTI image in HU (:func:`in_hounsfield_units`) -> ct; any other NIfTI -> mri (NIfTI is
   where MRI research keeps its volumes).
4. Any other gray image (PNG, JPEG, TIFF -- X-ray, gray fluorescence microscopy -- or DICOM of
   another Modality) -> xray: its network was trained on a union of noises that is not
   particular to X-ray, and on gray fluorescence microscopy it does as well as multimodal
   does on the same image replicated into three channels.

Each bundle then normalises the image in its own intensity convention (the ``modality`` of
its ``inference.json``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from medden.io.image import MedicalImage

__all__ = ["BundleChoice", "DICOM_BUNDLES", "AIR_HU", "TISSUE_HU", "MIN_SHARE",
           "in_hounsfield_units", "choose_bundle"]

#: DICOM Modality -> bundle NAME.
DICOM_BUNDLES = {"CR": "xray", "DX": "xray", "DR": "xray", "RG": "xray", "MG": "xray",
                 "CT": "ct", "MR": "mri"}
#: HU range of air (outside the body, -1000 HU).
AIR_HU = (-1100.0, -900.0)
#: HU range of fat, water and soft tissue.
TISSUE_HU = (-200.0, 300.0)
#: Least share of the finite values in each of :data:`AIR_HU` and :data:`TISSUE_HU`.
MIN_SHARE = 0.05


@dataclass(frozen=True)
class BundleChoice:
    """A bundle NAME and the rule that chose it.

    Attributes
    ----------
    bundle : str
        Bundle NAME (``ct``, ``mri``, ``xray``, ``multimodal``).
    reason : str
        The rule, e.g. ``"gray image"``; recorded in the report.
    """

    bundle: str
    reason: str


def in_hounsfield_units(data: np.ndarray) -> bool:
    """Whether values look like a CT in HU: at least :data:`MIN_SHARE` of the finite values
    are air (:data:`AIR_HU`) and as many soft tissue (:data:`TISSUE_HU`).

    MR magnitude has no negative values; an MR phase map spread over -4096..4095 puts
    under 3 % in the air range.
    """
    values = np.asarray(data)
    finite = np.count_nonzero(np.isfinite(values))
    if finite == 0:
        return False
    needed = MIN_SHARE * finite
    return all(np.count_nonzero((values >= low) & (values <= high)) >= needed
               for low, high in (AIR_HU, TISSUE_HU))


def choose_bundle(image: MedicalImage) -> BundleChoice:
    """The default bundle of ``image`` (see the module docstring for the rules).

    Raises
    ------
    ValueError
        For an image that is neither gray nor 3-channel colour, saying how to choose.
    """
    meta = image.meta
    modality = (meta.modality or "").upper()
    if meta.format == "dicom" and modality in DICOM_BUNDLES:
        return BundleChoice(DICOM_BUNDLES[modality], f"DICOM Modality {modality}")
    channels = image.data.shape[0]
    if channels == 3:
        return BundleChoice("multimodal", "colour image")
    if channels != 1:
        raise ValueError(f"no default denoiser for a {channels}-channel image; choose one "
                         "with --bundle NAME|PATH, --checkpoint FILE or --model SPEC")
    if meta.format == "nifti":
        if in_hounsfield_units(image.data):
            return BundleChoice("ct", "NIfTI in HU")
        return BundleChoice("mri", "NIfTI not in HU")
    return BundleChoice("xray", "gray image" if meta.format == "raster"
                        else f"gray DICOM, Modality {modality or 'unknown'}")
