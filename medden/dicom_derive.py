"""Name the denoiser in the Series Description of the derived DICOM series medden writes.

:func:`medden.io.write_image` derives every written instance (new UIDs, ImageType
``DERIVED\\SECONDARY``, references to the source) and appends ``" denoised"`` to the Series
Description, keeping it within the 64 characters of its VR (LO).  :func:`name_denoiser`
puts the denoiser's label before that suffix, e.g. ``"CHEST 1.25mm median:size=3
denoised"``, shortening the source description first so the label survives.
"""

from __future__ import annotations

from medden.io import MedicalImage

__all__ = ["name_denoiser"]

#: Room the writer leaves before its " denoised" suffix (LO: 64 characters).
_ROOM = 64 - len(" denoised")


def name_denoiser(image: MedicalImage, label: str) -> None:
    """Add ``label`` to the Series Description of a DICOM ``image`` read by medden.io.

    Modifies the source datasets the writer derives its instances from (in
    ``image.meta.extra["datasets"]``); other formats are left untouched.
    """
    if image.meta.format != "dicom":
        return
    label = label.replace("\\", "/")[:_ROOM]
    for ds in image.meta.extra["datasets"]:
        description = str(ds.get("SeriesDescription") or "")
        keep = max(_ROOM - len(label) - 1, 0)
        ds.SeriesDescription = f"{description[:keep]} {label}".strip()
