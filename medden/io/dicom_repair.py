"""What a non-conformant DICOM instance lacks, and how it is identified and filled in.

Real exports are not always conformant: an anonymiser may empty SOPClassUID and
SeriesInstanceUID while the file meta still names the SOP class.  Such files are read, not
refused:

* their slices are grouped by :func:`series_identity`: SeriesInstanceUID, or when it is
  empty, StudyInstanceUID + SeriesNumber + FrameOfReferenceUID + Modality;
* :func:`repair` fills what the file itself states elsewhere (SOPClassUID and SOPInstanceUID
  from the file meta) and returns one note per repair, recorded in the report;
* :mod:`medden.io.dicom_derived` gives the derived output new UIDs made from that identity
  where the source has none (series, study, instance).
"""

from __future__ import annotations

from pydicom.dataset import Dataset

__all__ = ["instance_identity", "repair", "series_identity"]

#: What stands for an empty SeriesInstanceUID when grouping slices.
_SUBSTITUTES = ("StudyInstanceUID", "SeriesNumber", "FrameOfReferenceUID", "Modality")


def _text(ds: Dataset, keyword: str) -> str:
    return str(ds.get(keyword) or "").strip()


def series_identity(ds: Dataset, folder: str = "") -> str | None:
    """What the series of ``ds`` is known by: its SeriesInstanceUID, or when that is empty
    the substitute keys and the ``folder`` holding the file
    (``StudyInstanceUID=...|SeriesNumber=...|...|folder``: copies of one series in two
    folders stay apart); None when the keys are all empty too."""
    uid = _text(ds, "SeriesInstanceUID")
    if uid:
        return uid
    values = [_text(ds, keyword) for keyword in _SUBSTITUTES]
    if not any(values):
        return None
    return "|".join([*(f"{k}={v}" for k, v in zip(_SUBSTITUTES, values, strict=True)), folder])


def instance_identity(ds: Dataset, series_key: str) -> str:
    """What the instance ``ds`` of the series known as ``series_key`` is known by: its
    SOPInstanceUID, or when that is empty the series key, InstanceNumber and
    ImagePositionPatient."""
    uid = _text(ds, "SOPInstanceUID")
    if uid:
        return uid
    position = "\\".join(str(v) for v in ds.get("ImagePositionPatient") or [])
    return f"{series_key}|{_text(ds, 'InstanceNumber')}|{position}"


def repair(ds: Dataset) -> list[str]:
    """Fill the empty SOP Class and SOP Instance UIDs of ``ds`` from its file meta, in
    place; one note per repair or missing UID (empty list for a conformant instance).

    Raises
    ------
    ValueError
        When neither the dataset nor its file meta gives the SOP class.
    """
    notes = []
    meta = ds.file_meta
    for keyword, stored in (("SOPClassUID", "MediaStorageSOPClassUID"),
                            ("SOPInstanceUID", "MediaStorageSOPInstanceUID")):
        if _text(ds, keyword):
            continue
        value = str(meta.get(stored) or "").strip()
        if value:
            setattr(ds, keyword, value)
            notes.append(f"{keyword} was empty: taken from the file meta ({stored})")
        elif keyword == "SOPClassUID":
            raise ValueError("no SOP Class UID, in the dataset or in its file meta")
        else:
            notes.append("SOPInstanceUID was empty: the output instance UID is made from "
                         "the series, InstanceNumber and ImagePositionPatient")
    if not _text(ds, "SeriesInstanceUID"):
        notes.append("SeriesInstanceUID was empty: slices grouped by "
                     f"{', '.join(_SUBSTITUTES)}; the output series has a new UID")
    if not _text(ds, "StudyInstanceUID"):
        notes.append("StudyInstanceUID was empty: the output has a new one, shared by its "
                     "series")
    return notes
