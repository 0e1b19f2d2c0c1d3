"""Turn a read DICOM dataset into a new DERIVED instance (new UIDs, references, description).

A written DICOM is never presented as the original acquisition: it gets a new SOP Instance
UID (also in the file meta), a new Series Instance UID shared by every instance of one source
series (through ``series_uid_map``), ImageType ``DERIVED\\SECONDARY`` (values after the
first two kept), a Derivation Description, a suffix on the Series Description saying what
it is (``" denoised"``, ``" noisy"``), a Source Image Sequence referencing the source instance
(purpose "Source image for image processing operation", DCM 121322) and an entry in the
Referenced Series Sequence.
Every other element is left exactly as read.  A source without a Series, Study or SOP
Instance UID (:mod:`medden.io.dicom_repair`) gets new ones made from what identifies it
instead, and no reference to the instance it cannot name.

New UIDs are random, or, given a ``uid_salt`` (what the run did: the command, the method and
its settings), derived from the salt and the source UID: the same run over the same source
gives the same new UIDs whichever process writes the instance and whenever (a run resumed
or split over many processes), and any other run gives others.
"""

from __future__ import annotations

import copy

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from medden.io.dicom_repair import instance_identity, series_identity

__all__ = ["derive_instance", "derived_uid", "DERIVED_KEYWORDS"]

#: Elements changed or added by :func:`derive_instance` (everything else is preserved).
DERIVED_KEYWORDS = (
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "ImageType",
    "DerivationDescription",
    "SeriesDescription",
    "SourceImageSequence",
    "ReferencedSeriesSequence",
)

_LO_MAX = 64  # Series Description is LO: at most 64 characters
_WRITABLE_SYNTAXES = (ImplicitVRLittleEndian, ExplicitVRLittleEndian)


def derived_uid(source_uid: str, uid_salt: str | None, kind: str) -> str:
    """A new UID for the ``kind`` (``"series"``, ``"instance"``) derived from ``source_uid``:
    random without a salt, else a function of ``(uid_salt, kind, source_uid)``."""
    if uid_salt is None:
        return generate_uid()
    return generate_uid(entropy_srcs=[uid_salt, kind, source_uid])


def _image_type(ds: Dataset) -> list[str]:
    value = ds.get("ImageType")
    values = [value] if isinstance(value, str) else list(value or [])
    return ["DERIVED", "SECONDARY", *values[2:]]


def _source_reference(ds: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = ds.SOPClassUID
    item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    purpose = Dataset()
    purpose.CodeValue = "121322"
    purpose.CodingSchemeDesignator = "DCM"
    purpose.CodeMeaning = "Source image for image processing operation"
    item.PurposeOfReferenceCodeSequence = [purpose]
    return item


def _add_referenced_series(out: Dataset, source: Dataset) -> None:
    """List the source instance under its series in the Referenced Series Sequence."""
    series_uid = source.get("SeriesInstanceUID")
    if not series_uid:
        return
    instance = Dataset()
    instance.ReferencedSOPClassUID = source.SOPClassUID
    instance.ReferencedSOPInstanceUID = source.SOPInstanceUID
    items = list(out.get("ReferencedSeriesSequence") or [])
    entry = next((i for i in items if i.get("SeriesInstanceUID") == series_uid), None)
    if entry is None:
        entry = Dataset()
        entry.SeriesInstanceUID = series_uid
        entry.ReferencedInstanceSequence = []
        items.append(entry)
    entry.ReferencedInstanceSequence.append(instance)
    out.ReferencedSeriesSequence = items


def derive_instance(ds: Dataset, *, derivation: str, series_uid_map: dict[str, str],
                    series_suffix: str = "denoised", uid_salt: str | None = None,
                    series_key: str | None = None) -> Dataset:
    """A copy of ``ds`` relabelled as a derived instance (see the module docstring).

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        The source instance as read (its UIDs are referenced, not modified).
    derivation : str
        Derivation Description, e.g. ``"denoised by medden"``.
    series_uid_map : dict
        Source Series Instance UID -> new one; filled in when missing, so every instance of
        a source series gets the same new series UID.
    series_suffix : str
        Appended to the Series Description (shortened to make room): what the instance is.
    uid_salt : str, optional
        Derive the new UIDs from it and the source UIDs (:func:`derived_uid`) instead of
        drawing them at random.
    series_key : str, optional
        What the source series is known by (:func:`medden.io.dicom_repair.series_identity`
        with its folder); default: the dataset's own identity.

    Returns
    -------
    pydicom.dataset.Dataset
        The derived instance, with file meta ready for writing (transfer syntax kept when it
        is uncompressed little endian, Explicit VR Little Endian otherwise).
    """
    out = copy.deepcopy(ds)
    source_series = series_key or series_identity(ds) or ""
    if source_series not in series_uid_map:
        series_uid_map[source_series] = derived_uid(source_series, uid_salt, "series")
    out.SOPInstanceUID = derived_uid(instance_identity(ds, source_series), uid_salt, "instance")
    out.SeriesInstanceUID = series_uid_map[source_series]
    if not ds.get("StudyInstanceUID"):
        out.StudyInstanceUID = derived_uid(source_series, uid_salt, "study")
    out.ImageType = _image_type(ds)
    out.DerivationDescription = derivation
    description = str(ds.get("SeriesDescription") or "")
    suffix = f" {series_suffix}"
    out.SeriesDescription = (description[: _LO_MAX - len(suffix)] + suffix).strip()
    if ds.get("SOPInstanceUID"):  # a source without its own UID cannot be referenced
        out.SourceImageSequence = [_source_reference(ds)]
        _add_referenced_series(out, ds)

    meta = out.file_meta
    meta.MediaStorageSOPClassUID = out.SOPClassUID
    meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    if meta.get("TransferSyntaxUID") not in _WRITABLE_SYNTAXES:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
    # This writer is not the source's implementation: let pydicom name itself.
    for keyword in ("ImplementationClassUID", "ImplementationVersionName"):
        if keyword in meta:
            delattr(meta, keyword)
    return out
