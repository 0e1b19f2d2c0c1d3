"""What the node accepts from a C-STORE: a decodable image instance of a known series.

An instance is refused (with a DICOM failure status, never success) when its data set
cannot be decoded, when it lacks the UIDs or image attributes a derived series needs, or
when its pixel data cannot be decoded to ``Rows x Columns`` pixels.  Reasons name what is
wrong, never an element's value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from medden.errors import INTERRUPTS
from medden.node.spool import digest

__all__ = ["Instance", "Refusal", "accept", "CANNOT_UNDERSTAND", "DOES_NOT_MATCH",
           "OUT_OF_RESOURCES"]

#: C-STORE failure statuses (PS3.4 B.2.3).
OUT_OF_RESOURCES = 0xA700
DOES_NOT_MATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000

_REQUIRED = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Rows", "Columns",
             "PixelData")


@dataclass(frozen=True)
class Instance:
    """A received instance, checked.

    Attributes
    ----------
    series : str
        Digest of its Series Instance UID.
    name : str
        Its file name in the spool (digest of the SOP Instance UID).
    modality : str or None
        Its Modality.
    data : bytes
        The instance in the DICOM file format, as the peer encoded it.
    """

    series: str
    name: str
    modality: str | None
    data: bytes


class Refusal(Exception):
    """An instance the node does not take: ``status`` to answer, ``reason`` to record and
    ``series`` (digest) when known."""

    def __init__(self, status: int, reason: str, series: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.series = series


def accept(event: Any) -> Instance:
    """Check the instance of a C-STORE ``event`` (a :class:`pynetdicom.events.Event`).

    Raises
    ------
    Refusal
        When the instance cannot be denoised as a member of a series.
    """
    try:
        ds = event.dataset
        ds.file_meta = event.file_meta
        missing = [keyword for keyword in _REQUIRED if keyword not in ds]
        series = digest(str(ds.SeriesInstanceUID)) if "SeriesInstanceUID" in ds else None
    except INTERRUPTS:
        raise
    except BaseException as exc:  # noqa: BLE001 - any decoding error refuses the instance
        raise Refusal(CANNOT_UNDERSTAND,
                      f"the data set cannot be decoded ({type(exc).__name__})") from None
    if missing:
        raise Refusal(DOES_NOT_MATCH, f"not an image of a series: no {', '.join(missing)}",
                      series)
    try:
        ds.pixel_array  # noqa: B018 - decoding is the check
    except INTERRUPTS:
        raise
    except BaseException as exc:  # noqa: BLE001 - truncated, corrupt or undecodable pixels
        raise Refusal(CANNOT_UNDERSTAND,
                      f"its pixel data cannot be decoded ({type(exc).__name__})",
                      series) from None
    modality = str(ds.get("Modality") or "") or None
    return Instance(series or "", digest(str(ds.SOPInstanceUID)) + ".dcm", modality,
                    event.encoded_dataset(include_meta=True))
