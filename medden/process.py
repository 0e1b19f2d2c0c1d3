"""Run an image-to-image function over a file or folder tree, mirroring it into OUT.

This is the loop behind ``medden noise`` and ``medden denoise``: scan IN, read each image
(DICOM series, NIfTI, raster), normalise its intensities, apply the function, restore the
original units and write the same format under OUT at the same relative path.  A bad file
is recorded with its reason and the batch goes on; the report lists every file.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from tqdm import tqdm

from medden.errors import UsageError
from medden.intensity import fit_intensity
from medden.io import MedicalImage, ScanItem, read_dicom_series, read_image, scan, write_image

__all__ = ["FileResult", "Report", "process_tree", "check_output_location", "read_item"]

#: A function from a normalised image tensor ``(C, *spatial)`` and its scan item to the result.
TensorFunction = Callable[[torch.Tensor, ScanItem], torch.Tensor]


@dataclass
class FileResult:
    """What happened to one input (file, or DICOM series)."""

    input: str
    status: Literal["ok", "skipped", "failed"]
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    reason: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    """Per-input results of one run, written as ``report.json``."""

    command: str
    method: str
    results: list[FileResult] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        """Inputs that failed."""
        return [r for r in self.results if r.status == "failed"]

    def counts(self) -> dict[str, int]:
        """Number of inputs per status."""
        counts = {"ok": 0, "skipped": 0, "failed": 0}
        for result in self.results:
            counts[result.status] += 1
        return counts

    def write(self, path: Path) -> None:
        """Write the report as JSON (atomically)."""
        payload = {
            "command": self.command,
            "method": self.method,
            "counts": self.counts(),
            "files": [asdict(r) for r in self.results],
        }
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        os.replace(tmp, path)

    def summary_table(self) -> str:
        """A plain-text table of every input (paths only, never patient data)."""
        rows = [("status", "seconds", "input", "output / reason")]
        for r in self.results:
            detail = ", ".join(r.outputs) if r.status == "ok" else (r.reason or "")
            rows.append((r.status, f"{r.seconds:.2f}", r.input, detail))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [
            f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}"
            for row in rows
        ]
        counts = self.counts()
        lines.append(
            f"{counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed"
        )
        return "\n".join(lines)


def check_output_location(source: Path, destination: Path) -> None:
    """Refuse an output location equal to or inside the input (never write inside IN).

    Raises
    ------
    UsageError
        When ``source`` does not exist or ``destination`` is ``source`` or lies inside it.
    """
    if not source.exists():
        raise UsageError(f"input '{source}' does not exist")
    src = source.resolve()
    dst = destination.resolve()
    root = src if src.is_dir() else src.parent
    if dst == root or root in dst.parents:
        raise UsageError(
            f"output '{destination}' is inside the input '{source}'; choose a folder outside it"
        )


def read_item(item: ScanItem) -> MedicalImage:
    """Read one scanned item (a DICOM series or a single file)."""
    if item.kind == "dicom_series":
        if len(item.paths) == 1:
            return read_image(item.paths[0])
        return read_dicom_series(item.paths)
    return read_image(item.paths[0])


def _validate(image: MedicalImage) -> None:
    if image.data.size == 0 or 0 in image.data.shape:
        raise ValueError(f"image has no pixels (shape {image.data.shape})")
    if not np.isfinite(image.data).all():
        raise ValueError("image contains NaN or infinite values")


def process_tree(
    source: Path,
    destination: Path,
    function: TensorFunction,
    *,
    command: str,
    method: str,
    derivation: str,
    modality: str | None = None,
    progress: bool = True,
) -> Report:
    """Apply ``function`` to every image under ``source``, writing under ``destination``.

    Parameters
    ----------
    source : Path
        A file or a folder (scanned recursively).
    destination : Path
        Output folder; the input tree is mirrored below it.  Must not be inside ``source``.
    function : callable
        Maps a normalised ``(C, *spatial)`` float tensor and its scan item to a tensor of
        the same shape.
    command, method : str
        Recorded in the report.
    derivation : str
        Written into derived DICOM instances (DerivationDescription).
    modality : str, optional
        Overrides the modality used for intensity normalisation.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Report
        One entry per input, written to ``destination / "report.json"`` as well.
    """
    check_output_location(source, destination)
    destination.mkdir(parents=True, exist_ok=True)
    found = scan(source)
    report = Report(command=command, method=method)
    root = source if source.is_dir() else source.parent
    for path, reason in found.skipped:
        report.results.append(FileResult(str(path.relative_to(root)), "skipped", reason=reason))
    series_uids: dict[str, str] = {}
    for item in tqdm(found.items, desc=command, unit="image", disable=not progress):
        start = time.perf_counter()
        label = str(item.relpath)
        try:
            image = read_item(item)
            _validate(image)
            mapping = fit_intensity(image, modality)
            tensor = torch.from_numpy(mapping.normalise(image.data))
            with torch.inference_mode():
                result = function(tensor, item)
            image.data = mapping.denormalise(result.detach().cpu().numpy())
            written = write_image(
                image, destination / item.relpath, derivation=derivation,
                series_uid_map=series_uids,
            )
        except Exception as exc:  # noqa: BLE001 - a bad file never stops the batch
            report.results.append(
                FileResult(label, "failed", time.perf_counter() - start,
                           reason=f"{type(exc).__name__}: {exc}")
            )
            continue
        notes = []
        if "decompressed_from" in image.meta.extra:
            notes.append(f"decoded from {image.meta.extra['decompressed_from']}, "
                         "written uncompressed")
        report.results.append(
            FileResult(label, "ok", time.perf_counter() - start,
                       [str(p.relative_to(destination)) for p in written], notes=notes)
        )
    report.write(destination / "report.json")
    return report
