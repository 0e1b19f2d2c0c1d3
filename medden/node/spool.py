"""The node's spool folder: received instances, derived series, journal and status.

::

    SPOOL/journal.jsonl             what happened (medden.node.journal)
    SPOOL/status.json               counts per batch (medden.node.status)
    SPOOL/incoming/BATCH/NAME.dcm   instances as received (DICOM file format)
    SPOOL/derived/BATCH/...         the derived series medden denoise wrote, and report.json

Names are digests (:func:`digest`): no UID or patient data appears in a path.  Files are
written atomically and fsync'ed together with their folder, so a file in the spool is
complete and survives a crash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from medden.io.atomic import atomic_write

__all__ = ["Spool", "digest"]


def digest(uid: str) -> str:
    """A short digest of a UID, used in paths, the journal and logs instead of it."""
    return hashlib.sha256(uid.encode("utf-8")).hexdigest()[:16]


def _sync_folder(folder: Path) -> None:
    """fsync a folder, so that the names just created in it survive a crash."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


class Spool:
    """The layout of a spool folder (created if missing).

    Parameters
    ----------
    root : Path
        The spool folder.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        for folder in (root, root / "incoming", root / "derived"):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # it holds patient data
        self.journal = root / "journal.jsonl"
        self.status = root / "status.json"

    def incoming(self, batch: str) -> Path:
        """The folder of ``batch``'s received instances."""
        return self.root / "incoming" / batch

    def derived(self, batch: str) -> Path:
        """The folder of ``batch``'s derived series."""
        return self.root / "derived" / batch

    def store(self, batch: str, name: str, data: bytes) -> Path:
        """Write ``data`` as ``incoming/BATCH/NAME`` durably (atomic, fsync'ed with its
        folder); returns the path."""
        folder = self.incoming(batch)
        new = not folder.exists()
        path = folder / name
        with atomic_write(path) as handle:
            handle.write(data)
        _sync_folder(folder)
        if new:
            _sync_folder(folder.parent)
        return path

    def remove(self, batch: str) -> None:
        """Delete ``batch``'s files (once delivered; the journal keeps its record)."""
        for folder in (self.incoming(batch), self.derived(batch)):
            shutil.rmtree(folder, ignore_errors=True)
