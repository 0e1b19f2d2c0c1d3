"""Find the images under a folder (or a single file) and group DICOM files into series."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from medden.errors import INTERRUPTS
from medden.io.detect import detect_format
from medden.io.raster import probe_raster

__all__ = ["ScanItem", "ScanResult", "scan"]

_NOT_AN_IMAGE = (
    "not a supported image (DICOM is recognised by content; NIfTI by .nii/.nii.gz; "
    "rasters by .png/.jpg/.jpeg/.tif/.tiff)"
)


@dataclass(frozen=True)
class ScanItem:
    """One unit of work: a DICOM series (or single DICOM file), a NIfTI file or a raster.

    Attributes
    ----------
    kind : {"dicom_series", "nifti", "raster"}
        How to read it: ``read_dicom_series(paths)`` or ``read_image(paths[0])``.
    paths : list of Path
        The files (several only for a DICOM series of single-frame slices).
    relpath : Path
        Where the item sits relative to the scanned root, for mirroring the tree: the file's
        relative path, or for a series of several files the folder holding them (their
        deepest common folder when they are spread over several).
    series_uid : str or None
        SeriesInstanceUID of DICOM items.
    pixels : int
        Its number of pixels (voxels of a volume; per channel), from the headers: what
        reading and denoising it costs, for sharding work (:mod:`medden.shard`).
    damaged : list of (Path, str)
        Files of the same DICOM series that cannot be read, with the reason: the series is
        incomplete (not in ``paths``).
    """

    kind: Literal["dicom_series", "nifti", "raster"]
    paths: list[Path]
    relpath: Path
    series_uid: str | None = None
    pixels: int = 0
    damaged: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def key(self) -> str:
        """Names the item uniquely within its scan, and the same in a denoised copy.

        The relative path, plus for a series of several files the name of its first file:
        two series in one folder share their ``relpath`` but not their files.
        """
        if self.kind == "dicom_series" and len(self.paths) > 1:
            return str(self.relpath / self.paths[0].name)
        return str(self.relpath)

    @property
    def label(self) -> str:
        """How tables name the item: its relative path, or for a series of several files
        its folder, size and first file (``"study (series of 4 files, first a0)"``)."""
        if self.kind == "dicom_series" and len(self.paths) > 1:
            return (f"{self.relpath} (series of {len(self.paths)} files, "
                    f"first {self.paths[0].name})")
        return str(self.relpath)


@dataclass
class ScanResult:
    """What :func:`scan` found.

    Attributes
    ----------
    items : list of ScanItem
        Readable images, sorted by relative path.
    skipped : list of (Path, str)
        Files that are not images or cannot be read, with the reason.
    """

    items: list[ScanItem] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _files(root: Path) -> list[Path]:
    """Regular files under ``root``, sorted; hidden files and folders (``.name``) ignored."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(folder) / n for n in sorted(names) if not n.startswith(".")]
    return found


def _series_item(paths: list[Path], base: Path, series_uid: str | None,
                 pixels: int) -> ScanItem:
    if len(paths) == 1:
        relpath = paths[0].relative_to(base)
    else:
        relpath = Path(os.path.commonpath([p.parent for p in paths])).relative_to(base)
    return ScanItem("dicom_series", paths, relpath, series_uid, pixels)


def _probe_nifti(path: Path) -> int:
    from medden.io.nifti import probe_nifti  # nibabel: only when a NIfTI file is found

    return probe_nifti(path)


def _identify_damaged(path: Path) -> str | None:
    from medden.io.dicom import identify_damaged

    return identify_damaged(path)


def scan(root: Path | str) -> ScanResult:
    """Recursively find images under ``root`` (a folder, or one file).

    DICOM files are recognised by content and grouped into volumes by SeriesInstanceUID (when
    it is empty, by what stands for it: :func:`medden.io.dicom_repair.series_identity`)
    (and image size and orientation, so a localizer sharing the series stays apart); files
    without patient geometry (radiographs) and multi-frame files are items of their own.
    Files that are not images, and images that cannot be read (truncated DICOM pixel data,
    corrupt headers), are listed in ``skipped`` with the reason instead of raising -- except
    a damaged DICOM file whose header still names a series of volume slices found: it is
    listed in that series' ``damaged``.
    Hidden files and folders are ignored.

    Raises
    ------
    FileNotFoundError
        When ``root`` does not exist.
    """
    root = Path(root)
    if root.is_file():
        files, base = [root], root.parent
    elif root.is_dir():
        files, base = _files(root), root
    else:
        raise FileNotFoundError(f"'{root}' does not exist")
    result = ScanResult()
    stacks: dict[tuple, list[Path]] = defaultdict(list)
    stack_pixels: dict[tuple, int] = defaultdict(int)
    stack_uids: dict[tuple, str | None] = {}
    damaged: dict[str, list[tuple[Path, str]]] = defaultdict(list)
    for path in files:
        try:
            kind = detect_format(path)
            if kind is None:
                result.skipped.append((path, _NOT_AN_IMAGE))
            elif kind == "dicom":
                from medden.io.dicom import probe_dicom  # pydicom: only when DICOM is found

                probe = probe_dicom(path)
                if probe.stack_key is None:
                    result.items.append(_series_item([path], base, probe.series_uid,
                                                     probe.pixels))
                else:
                    stacks[probe.stack_key].append(path)
                    stack_uids[probe.stack_key] = probe.series_uid
                    stack_pixels[probe.stack_key] += probe.pixels
            else:
                pixels = _probe_nifti(path) if kind == "nifti" else probe_raster(path)
                result.items.append(ScanItem(kind, [path], path.relative_to(base),
                                             pixels=pixels))
        except INTERRUPTS:
            raise
        except BaseException as exc:  # noqa: BLE001 - a bad file is reported, never fatal
            reason = f"unreadable: {type(exc).__name__}: {exc}"
            identity = _identify_damaged(path) if kind == "dicom" else None
            if identity is None:
                result.skipped.append((path, reason))
            else:
                damaged[identity].append((path, reason))
    for key, paths in stacks.items():
        item = _series_item(paths, base, stack_uids[key], stack_pixels[key])
        item.damaged.extend(damaged.get(key[0], []))
        result.items.append(item)
    members = {key[0] for key in stacks}
    result.skipped += [entry for identity, entries in damaged.items()
                       if identity not in members for entry in entries]
    result.items.sort(key=lambda item: (str(item.relpath), str(item.paths[0])))
    return result
