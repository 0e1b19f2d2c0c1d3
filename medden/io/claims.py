"""Whether an image size a header claims can come from the file's own bytes.

A header is a claim: a 4 KB file can say it holds 1024³ voxels, and a reader that trusts it
allocates gigabytes before finding out.  The format modules call these checks with the
header's numbers *before* decoding, so such a file fails with the reason instead:

* stored without compression, the pixel data must hold at least the bytes the size needs
  (:func:`check_stored`);
* compressed, the decoded size may be at most :data:`MAX_DECOMPRESSION_RATIO` times the
  coded bytes (:func:`check_compressed`).  Deflate (gzip, PNG, TIFF) cannot exceed 1032:1
  and LZW about 1400:1; JPEG baseline tops out near 500:1.  A real image, even a blank one,
  stays under the bound; a lying header rarely does.
"""

from __future__ import annotations

__all__ = ["MAX_DECOMPRESSION_RATIO", "check_compressed", "check_stored"]

#: Most bytes one coded byte may decode to (see the module docstring).
MAX_DECOMPRESSION_RATIO = 2048


def check_stored(what: str, needed: int, available: int) -> None:
    """Raise unless ``available`` bytes of uncompressed pixel data hold ``needed``.

    Parameters
    ----------
    what : str
        What is checked, for the message (``"NIfTI"``, ``"TIFF"``).
    needed : int
        Bytes the claimed size takes.
    available : int
        Bytes the file holds for the pixels.

    Raises
    ------
    ValueError
        When the file is too short for the size its header claims.
    """
    if available < needed:
        raise ValueError(f"{what}: the header claims {needed} bytes of pixel data, the file "
                         f"holds {max(available, 0)} (truncated, or a wrong size in the header)")


def check_compressed(what: str, decoded: int, coded: int,
                     ratio: int = MAX_DECOMPRESSION_RATIO) -> None:
    """Raise unless ``coded`` compressed bytes can decode to ``decoded`` bytes.

    Parameters
    ----------
    what : str
        What is checked, for the message.
    decoded : int
        Bytes the claimed size takes once decoded.
    coded : int
        Bytes of compressed data in the file.
    ratio : int
        The largest decoded-to-coded ratio accepted.

    Raises
    ------
    ValueError
        When the claimed size needs a higher compression ratio than ``ratio``.
    """
    if decoded > max(coded, 1) * ratio:
        raise ValueError(
            f"{what}: the header claims {decoded} bytes of pixels from {coded} compressed "
            f"bytes, a ratio above {ratio}:1 (a wrong size in the header, or a "
            "decompression bomb)")
