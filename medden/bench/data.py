"""The clean images of a benchmark: a folder scanned, read and normalised to [0, 1].

Every file medden reads (DICOM series, NIfTI, PNG/TIFF/JPEG) is normalised with the
modality-aware intensity mapping of :mod:`medden.intensity` and clipped to [0, 1].  The
benchmark is 2-D: a volume contributes ``slices`` axial slices evenly spaced inside it
(by default its middle slice), each a separate image keyed ``path#z=INDEX``.  A centre
crop keeps the run short on large images.

Images are grouped by modality, one table and one figure per group (as the papers have one
table per modality): ``--modality`` when given; otherwise DICOM images by their Modality
tag (``ct``, ``mr``, ``xray`` for CR/DX/DR/MG/XA/RF/PX/IO, else the tag in lower case)
and every other image by the folder it is in -- its top-level subfolder of the data
folder, or the data folder's own name for files directly inside it (``data/xray/*.png``
is ``xray``, ``data/skin/*.jpg`` is ``skin``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from medden.errors import UsageError
from medden.intensity import CT_MAP, IntensityMap, fit_intensity
from medden.io import scan
from medden.process import read_item
from medden.shard import Shard

__all__ = ["BenchImage", "load_images", "image_order", "shard_images", "modality_label",
           "slice_indices", "centre_crop"]

_XRAY_TAGS = {"CR", "DX", "DR", "MG", "XA", "RF", "PX", "IO"}
_TAGS = {"CT": "ct", "MR": "mr", **{tag: "xray" for tag in _XRAY_TAGS}}


@dataclass
class BenchImage:
    """One clean 2-D benchmark image.

    Attributes
    ----------
    key : str
        Relative path (``#z=INDEX`` added for a volume slice).
    modality : str
        Group label (see :func:`modality_label`).
    clean : torch.Tensor
        ``(C, H, W)`` float32 in [0, 1].
    hu : IntensityMap or None
        For a CT image in HU (normalised with the CT window): the map back to HU, so that it
        is also scored in HU (:func:`medden.metrics.ct_metrics`).  None otherwise.
    """

    key: str
    modality: str
    clean: torch.Tensor
    hu: IntensityMap | None = None

    @property
    def rgb(self) -> bool:
        """True for 3-channel images (ΔE is measured on them)."""
        return self.clean.shape[0] == 3


def modality_label(tag: str | None, relpath: Path, root: Path, forced: str | None) -> str:
    """The group of an image: forced modality, DICOM Modality tag, or folder name.

    Parameters
    ----------
    tag : str or None
        ``ImageMeta.modality`` (a DICOM Modality, ``"RGB"`` for colour rasters, or None).
    relpath : Path
        The image's path relative to ``root``.
    root : Path
        The data folder (or file) scanned.
    forced : str or None
        ``--modality``.
    """
    if forced:
        return forced.lower()
    if tag and tag.upper() in _TAGS:
        return _TAGS[tag.upper()]
    if tag and tag.upper() != "RGB":
        return tag.lower()
    if len(relpath.parts) > 1:
        return relpath.parts[0]
    folder = root if root.is_dir() else root.parent
    return folder.resolve().name or "images"


def slice_indices(depth: int, count: int) -> list[int]:
    """``count`` slice indices evenly spaced strictly inside ``range(depth)``."""
    count = max(1, min(count, depth))
    return sorted({int(round(depth * (i + 1) / (count + 1) - 0.5)) for i in range(count)})


def centre_crop(image: np.ndarray, size: int | None) -> np.ndarray:
    """The central ``size`` x ``size`` region of ``(C, H, W)`` (each side at most its own)."""
    if size is None:
        return image
    height, width = image.shape[-2:]
    top, left = max(0, (height - size) // 2), max(0, (width - size) // 2)
    return image[..., top:top + size, left:left + size]


def image_order(key: str) -> tuple[str, int]:
    """Sorts image keys (``path`` or ``path#z=INDEX``) in the order :func:`load_images`
    gives the images."""
    path, sep, z = key.rpartition("#z=")
    return (path, int(z)) if sep and z.isdigit() else (key, -1)


def shard_images(images: list[BenchImage], shard: Shard) -> list[BenchImage]:
    """The images ``shard`` scores (:meth:`medden.shard.Shard.owned`): balanced by pixels,
    the slices of one volume together."""
    owned = shard.owned([image.clean.shape[-1] * image.clean.shape[-2] for image in images],
                        [image_order(image.key)[0] for image in images])
    return [images[i] for i in owned]


def load_images(
    folder: Path,
    modality: str | None = None,
    max_images: int | None = None,
    crop: int | None = None,
    slices: int = 1,
) -> tuple[list[BenchImage], list[tuple[str, str]]]:
    """Read the clean images of ``folder`` (recursively, in path order: :func:`image_order`).

    Parameters
    ----------
    folder : Path
        Folder (or single file) of clean images.
    modality : str, optional
        Forces the intensity modality (``ct``, ``mr``, ``xray``, ``rgb``).
    max_images : int, optional
        Use only the first files.
    crop : int, optional
        Centre crop edge in pixels.
    slices : int
        Slices taken from each volume.

    Returns
    -------
    images : list of BenchImage
    problems : list of (str, str)
        Files that could not be used, with the reason.

    Raises
    ------
    UsageError
        When ``folder`` does not exist or holds no usable image.
    """
    if not folder.exists():
        raise UsageError(f"--data: '{folder}' does not exist")
    found = scan(folder)
    items = sorted(found.items, key=lambda i: str(i.relpath))[:max_images]
    problems = [(str(p), reason) for p, reason in found.skipped]
    images: list[BenchImage] = []
    for item in items:
        try:
            image = read_item(item)
            mapping = fit_intensity(image, modality)
            data = np.clip(mapping.normalise(image.data), 0.0, 1.0).astype(np.float32)
        except Exception as exc:  # noqa: BLE001 - a bad file is reported, the rest go on
            problems.append((str(item.relpath), f"{type(exc).__name__}: {exc}"))
            continue
        if data.ndim == 3:
            planes = {str(item.relpath): data}
        else:
            planes = {f"{item.relpath}#z={z}": data[:, z] for z in slice_indices(
                data.shape[1], slices)}
        for key, plane in planes.items():
            clean = torch.from_numpy(np.ascontiguousarray(centre_crop(plane, crop)))
            label = modality_label(image.meta.modality, item.relpath, folder, modality)
            images.append(BenchImage(key, label, clean, mapping if mapping == CT_MAP else None))
    if not images:
        raise UsageError(f"--data: no usable image in '{folder}'")
    return images, problems
