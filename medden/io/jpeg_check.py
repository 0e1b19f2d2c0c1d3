"""Damage in a JPEG that decoders conceal: what libjpeg warns about while decoding it.

Pillow decodes a JPEG whose frame header (SOF) claims another size than its entropy-coded
data holds without an error: more rows come out grey, fewer rows drop the rest of the data.
libjpeg does notice, but only prints a warning ("Corrupt JPEG data: premature end of data
segment", "... extraneous bytes before marker 0xd9"); through SimpleITK (libjpeg underneath)
it goes to the process's standard output.  This module decodes the file once more with
SimpleITK while file descriptors 1 and 2 are redirected to a temporary file, and returns the
warnings.  The redirection is process-wide, so it is serialised by a lock; any other text
written meanwhile is ignored unless it is one of libjpeg's corruption warnings, and is lost
(the command's progress bars and tables are written from the same thread, not during it).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from pathlib import Path

__all__ = ["libjpeg_warnings"]

#: Beginnings of libjpeg's warnings about damaged data (jerror.h: JWRN_HIT_MARKER,
#: JWRN_EXTRANEOUS_DATA, JWRN_MUST_RESYNC, JWRN_JPEG_EOF, ...).
_CORRUPTION = ("Corrupt JPEG data", "Premature end of JPEG file")
_LOCK = threading.Lock()


def libjpeg_warnings(path: Path) -> list[str]:
    """libjpeg's warnings about damaged data while decoding ``path`` (empty: none).

    Parameters
    ----------
    path : Path
        A JPEG file.

    Returns
    -------
    list of str
        The warning lines; a file SimpleITK cannot read at all gives none (the caller's own
        decoder has read it).
    """
    import SimpleITK as sitk

    with _LOCK, tempfile.TemporaryFile() as capture:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = {fd: os.dup(fd) for fd in (1, 2)}
        try:
            for fd in saved:
                os.dup2(capture.fileno(), fd)
            try:
                sitk.ReadImage(str(path))
            except RuntimeError:
                pass
        finally:
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
        capture.seek(0)
        text = capture.read().decode("utf-8", errors="replace")
    return [line.strip() for line in text.splitlines() if line.strip().startswith(_CORRUPTION)]
