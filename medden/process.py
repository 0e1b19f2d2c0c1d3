"""Run an image-to-image operation over a file or folder tree, mirroring it into OUT.

This is the loop behind ``medden noise`` and ``medden denoise``: scan IN, read each image
(DICOM series, NIfTI, raster), normalise its intensities, apply the operation, restore the
original units and write the same format under OUT at the same relative path -- except for
lossy-compressed inputs, written without further loss by default (:mod:`medden.io.lossy`:
``a.jpg`` becomes ``a.png``; each such input is noted in the report and its summary).

Guarantees
----------
* Nothing is written inside IN: OUT may not be IN, lie inside it or hold it, and no output
  path may be an input file or the report (``OUT/report.json``).
* Every output file is written under a temporary name and renamed (:mod:`medden.io.atomic`),
  so an interrupted run leaves complete files or none; temporaries left by a killed run
  (``.NAME.XXXXXXXX.tmp``) are removed by the next run into the same OUT.
* Outputs that already exist are an error up-front (before any work), unless
  ``existing="resume"`` (inputs whose outputs all exist are skipped, the others redone) or
  ``existing="overwrite"``.  Two inputs with one output path (``a.jpg`` written as
  ``a.png`` beside ``a.png``) never overwrite each other: the renamed one fails with the
  reason, the other is written.
* A bad input never stops the batch (unless ``strict``): files that are not images are
  ``skipped``; images that cannot be read, are empty, hold NaN/inf, or fail to process or
  write are ``failed``, each with its reason -- whatever the failure raised, short of
  :data:`~medden.errors.INTERRUPTS` (a decoder's panic is a ``BaseException``).
  ``report.json`` lists every input; file names that are not UTF-8 are recorded reversibly
  (:mod:`medden.io.names`) and shown with ``\\xHH`` escapes.
* A DICOM series with a member that cannot be read fails as a whole (the reason names the
  member), rather than being written without that slice.
* Size: an input whose headers claim more than ``max_pixels`` pixels per channel (a DICOM
  series: all its slices) fails without being read; the readers refuse a header whose size
  the file's bytes cannot hold (:mod:`medden.io.claims`).
* Memory: one image at a time is normalised and processed in place (temporaries are
  bounded slabs); ``jobs > 1`` reads up to ``jobs`` inputs ahead and writes up to ``jobs``
  outputs in the background, each in a thread, and with ``concurrent`` (trained networks)
  processes them side by side, each with its share of torch's threads
  (:mod:`medden.jobs`); ``jobs=None`` runs several inputs at once only then, and only
  when all of them are small (:func:`medden.jobs.auto_jobs`).
* Shards: given ``shard=I/N`` (:mod:`medden.shard`), a run does only its part of the inputs
  (whole DICOM series, balanced by pixels; the same split in every process) and writes
  ``report.shard-I-of-N.json``; :func:`medden.report_merge.merge_reports` makes the one
  report.  New DICOM UIDs are derived from the source UIDs and the run's settings, so the
  outputs are the same whichever process writes them, and in a resumed run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from medden.errors import INTERRUPTS, UsageError
from medden.intensity import IntensityMap, fit_intensity, hold_outside_window
from medden.io import MedicalImage, ScanItem, detect_format, read_image, scan, write_image
from medden.io.atomic import TEMPORARY, atomic_write, temporary_stem
from medden.io.lossy import OutputFormat, lossy_note, output_relpath, prepare_write
from medden.io.names import ESCAPED_NAMES, escaped_name, is_utf8, printable, unescaped_name
from medden.jobs import WORKER_THREADS, auto_jobs, shared_threads
from medden.limits import DEFAULT_MAX_PIXELS
from medden.qc import summarise
from medden.shard import Shard
from medden.throughput import Throughput

__all__ = [
    "Existing",
    "FileResult",
    "Operation",
    "REPORT_NAME",
    "Report",
    "check_output_location",
    "expected_outputs",
    "process_tree",
    "read_item",
    "report_name",
]

#: What to do with outputs that already exist: refuse, skip complete inputs, or replace.
Existing = Literal["error", "resume", "overwrite"]

#: Values normalised / checked at a time (bounds temporaries for large volumes).
_SLAB = 1 << 22
#: The report's file name in OUT (no output may take it).
REPORT_NAME = "report.json"
#: Names of reports in OUT: the run's, or a shard's (``report.shard-I-of-N.json``).
_REPORTS = re.compile(r"^report(\.shard-\d+-of-\d+)?\.json$")
#: Run options that say how work was scheduled, not what it made.
_SCHEDULING = ("jobs", "existing", "removed_temporaries")


def report_name(shard: Shard | None = None) -> str:
    """The report's file name in OUT: ``report.json``, or a shard's
    ``report.shard-I-of-N.json``."""
    return REPORT_NAME if shard is None else f"report.shard-{shard.index}-of-{shard.count}.json"


@dataclass(frozen=True)
class Operation:
    """What to do with one image, decided once it has been read.

    Attributes
    ----------
    label : str
        The model / noise applied, recorded per file in the report.
    apply : callable
        Maps the normalised ``(C, *spatial)`` float32 tensor to a tensor of the same shape;
        it may overwrite its input and return it.
    derivation : str
        DerivationDescription of written DICOM instances.
    series_suffix : str
        Appended to the SeriesDescription of written DICOM instances: what they are.
    identity : str
        What tells this operation from another with the same label (e.g. a digest of a
        network's weights); with the run's settings it makes the new DICOM UIDs.
    inspect : callable or None
        ``inspect(input, output, mapping) -> dict``: facts about the result computed from
        the normalised input and output arrays and the intensity map (the quality checks
        of :mod:`medden.qc`), recorded as the input's ``qc``; None: nothing (the input is
        then not copied before ``apply``).
    modality : str or None
        The intensity convention ``apply`` expects (e.g. a bundle's, ``"ct"``: the HU
        window), one of :data:`medden.intensity.MODALITIES`; the run's ``modality``
        overrides it; None: the image's own.
    notes : tuple of str
        Recorded in the input's report entry (e.g. why this denoiser was chosen).
    """

    label: str
    apply: Callable[[torch.Tensor], torch.Tensor]
    derivation: str
    series_suffix: str = "denoised"
    identity: str = ""
    inspect: Callable[[np.ndarray, np.ndarray, IntensityMap], dict[str, Any]] | None = None
    modality: str | None = None
    notes: tuple[str, ...] = ()


#: Chooses the operation for an image just read (may adjust its metadata, e.g. DICOM
#: descriptions); raising fails that input only.
Prepare = Callable[[MedicalImage, ScanItem], Operation]


@dataclass
class FileResult:
    """What happened to one input (file, or DICOM series).

    ``input`` is relative to IN (for a series of several files: their folder, the files
    being listed in ``files``), ``seconds`` the time spent on it (reading, normalising,
    processing and writing), ``outputs`` are relative to OUT.  ``lossy_input`` says how
    an input decoded from a lossy coding was written (:func:`medden.io.lossy.prepare_write`;
    None for other inputs).  ``qc`` holds what the operation's ``inspect`` found (None
    without it).
    """

    input: str
    status: Literal["ok", "skipped", "failed"]
    model: str | None = None
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    lossy_input: dict[str, Any] | None = None
    qc: dict[str, Any] | None = None


def _file_result(entry: dict[str, Any]) -> FileResult:
    """The :class:`FileResult` of a ``report.json`` entry (the inverse of :func:`_file_entry`)."""
    fields = {k: v for k, v in entry.items() if k != "escaped_names"}
    if entry.get("escaped_names"):
        fields.update(input=unescaped_name(entry["input"]),
                      outputs=[unescaped_name(o) for o in entry["outputs"]],
                      files=[unescaped_name(f) for f in entry["files"]])
    return FileResult(**fields)


def _file_entry(result: FileResult) -> dict[str, Any]:
    """One input's entry of ``report.json``: valid UTF-8 throughout.

    When a name is not UTF-8, the entry's names are written with :func:`escaped_name` and
    the entry says ``"escaped_names": true``; free text (reasons) is made printable.
    """
    entry = asdict(result)
    if not all(map(is_utf8, [result.input, *result.outputs, *result.files])):
        entry.update(input=escaped_name(result.input),
                     outputs=[escaped_name(o) for o in result.outputs],
                     files=[escaped_name(f) for f in result.files], escaped_names=True)
    if result.reason is not None:
        entry["reason"] = printable(result.reason)
    return entry


@dataclass
class Report:
    """Per-input results of one run, written as ``report.json``.

    ``applied`` names what the per-file label (``FileResult.model``) is: the heading of its
    column in :meth:`summary_table` (``"model"``, ``"noise"``).  ``throughput`` has one
    record per process (shard) that made the report.
    """

    command: str
    method: str
    options: dict[str, Any] = field(default_factory=dict)
    results: list[FileResult] = field(default_factory=list)
    interrupted: bool = False
    applied: str = "model"
    throughput: list[Throughput] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        """Inputs that failed."""
        return [r for r in self.results if r.status == "failed"]

    @property
    def images(self) -> int:
        """Inputs that are images, whatever became of them (the files that are not images
        are the entries skipped without outputs)."""
        return sum(r.status != "skipped" or bool(r.outputs) for r in self.results)

    def counts(self) -> dict[str, int]:
        """Number of inputs per status."""
        counts = {"ok": 0, "skipped": 0, "failed": 0}
        for result in self.results:
            counts[result.status] += 1
        return counts

    def write(self, path: Path) -> None:
        """Write the report as JSON (atomically); ``escaped_names`` says how an entry
        marked so writes its names."""
        payload = {
            "command": self.command,
            "method": self.method,
            "options": self.options,
            "interrupted": self.interrupted,
            "counts": self.counts(),
            "seconds": round(sum(r.seconds for r in self.results), 3),
            "applied": self.applied,
            "throughput": [t.to_dict() for t in self.throughput],
            "escaped_names": ESCAPED_NAMES,
            "files": [_file_entry(r) for r in self.results],
        }
        with atomic_write(path) as handle:
            handle.write(json.dumps(payload, indent=2).encode("utf-8"))

    @classmethod
    def read(cls, path: Path) -> Report:
        """A report :meth:`write` wrote (names recorded with escapes given back)."""
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(payload["command"], payload["method"], payload["options"],
                   [_file_result(entry) for entry in payload["files"]],
                   payload["interrupted"], payload.get("applied", "model"),
                   [Throughput.from_dict(t) for t in payload.get("throughput", [])])

    def lossy_summary(self) -> list[str]:
        """One line per way lossy-compressed inputs were written, with their number."""
        notes = [lossy_note(r.lossy_input) for r in self.results if r.lossy_input]
        return [f"{notes.count(note)} input(s) {note}" for note in dict.fromkeys(notes)]

    def summary_table(self) -> str:
        """A plain-text table of every input (paths only, never patient data; bytes of
        names that are not UTF-8 shown as ``\\xHH``)."""
        rows = [("status", "seconds", self.applied, "input", "output / reason")]
        for r in self.results:
            detail = ", ".join(r.outputs) if r.status == "ok" else (r.reason or "")
            name = f"{r.input} ({len(r.files)} files)" if r.files else r.input
            rows.append((r.status, f"{r.seconds:.2f}", r.model or "-", printable(name),
                         printable(detail)))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  "
            f"{row[3]:<{widths[3]}}  {row[4]}"
            for row in rows
        ]
        lines += self.lossy_summary()
        if any(r.qc is not None for r in self.results):
            lines.append(summarise(r.qc for r in self.results))
        lines += [t.line() for t in self.throughput]
        counts = self.counts()
        lines.append(f"{counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed")
        return "\n".join(lines)


def check_output_location(source: Path, destination: Path) -> None:
    """Refuse an output folder that is the input folder, inside it, or holds it.

    For a single input file, OUT may not be the file's own folder (the output would
    replace the input).

    Raises
    ------
    UsageError
        When ``source`` does not exist or ``destination`` is not allowed.
    """
    if not source.exists():
        raise UsageError(f"input '{source}' does not exist")
    src = source.resolve()
    dst = destination.resolve()
    if src.is_dir() and (dst == src or src in dst.parents):
        raise UsageError(
            f"output '{destination}' is inside the input '{source}'; choose a folder outside it"
        )
    if src.is_dir() and dst in src.parents:
        raise UsageError(
            f"input '{source}' is inside the output '{destination}', whose outputs would be "
            "written into it; choose an output folder outside the input"
        )
    if src.is_file() and dst in (src, src.parent):
        raise UsageError(
            f"output '{destination}' would replace the input '{source}'; choose another folder"
        )


def read_item(item: ScanItem) -> MedicalImage:
    """Read one scanned item (a DICOM series or a single file)."""
    if item.kind == "dicom_series":
        from medden.io.dicom import read_dicom_series  # pydicom: only for DICOM inputs

        return read_dicom_series(item.paths)
    return read_image(item.paths[0])


def expected_outputs(item: ScanItem, destination: Path,
                     output_format: OutputFormat = "png") -> list[Path]:
    """The files :func:`medden.io.write_image` writes for ``item`` under ``destination``.

    ``output_format`` says how lossy-compressed inputs are written
    (:func:`medden.io.lossy.output_relpath`).
    """
    target = destination / output_relpath(item, output_format)
    if item.kind == "dicom_series" and len(item.paths) > 1:
        return [target / path.name for path in item.paths]
    return [target]


def _holds_image(path: Path) -> bool:
    """Whether a file the scan rejected is an image (its rejection is then a failure).

    Unrecognised files and DICOM objects without image dimensions (DICOMDIR, structured
    reports, presentation states) are not; everything else that looks like an image is.
    """
    kind = detect_format(path)
    if kind != "dicom":
        return kind is not None
    import pydicom

    try:
        header = pydicom.dcmread(path, force=True, stop_before_pixels=True,
                                 specific_tags=["Rows", "Columns"])
    except INTERRUPTS:
        raise
    except BaseException:  # noqa: BLE001 - an unparsable DICOM is a corrupt image
        return True
    return "Rows" in header and "Columns" in header


def _slabs(flat: np.ndarray) -> Iterator[slice]:
    for start in range(0, flat.size, _SLAB):
        yield slice(start, start + _SLAB)


def _check_values(data: np.ndarray) -> None:
    if data.size == 0:
        raise ValueError(f"image has no pixels (shape {data.shape})")
    flat = data.reshape(-1)
    if not all(np.isfinite(flat[s]).all() for s in _slabs(flat)):
        raise ValueError("image contains NaN or infinite values")


def _map_in_place(data: np.ndarray, function: Callable[[np.ndarray], np.ndarray]) -> None:
    """Apply an element-wise ``function`` to a contiguous array in place, slab by slab."""
    flat = data.reshape(-1)
    for part in _slabs(flat):
        flat[part] = function(flat[part])


def _remove_temporaries(destination: Path, outputs: list[Path] | None = None) -> int:
    """Delete temporary files an interrupted run left under ``destination``.

    Given ``outputs``, only the temporaries of those files (a shard's: other processes may
    be writing theirs).
    """
    if outputs is None:
        found = [(Path(folder), name, None) for folder, _, names in os.walk(destination)
                 for name in names]
    else:
        stems: dict[Path, set[str]] = {}
        for output in outputs:
            stems.setdefault(output.parent, set()).add(temporary_stem(output))
        found = [(folder, entry.name, wanted) for folder, wanted in stems.items()
                 if folder.is_dir() for entry in os.scandir(folder)]
    removed = 0
    for folder, name, wanted in found:
        match = TEMPORARY.match(name)
        if match and (wanted is None or match[1] in wanted):
            (folder / name).unlink(missing_ok=True)
            removed += 1
    return removed


@dataclass
class _Task:
    index: int
    item: ScanItem
    outputs: list[Path]
    target: Path  # what write_image is given: the output file, or a series' folder
    seconds: float = 0.0
    label: str | None = None
    notes: list[str] = field(default_factory=list)
    lossy_input: dict[str, Any] | None = None
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage
    qc: dict[str, Any] | None = None


def _series_files(item: ScanItem, root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in item.paths] if len(item.paths) > 1 else []


def _clashes(outputs: list[list[Path]], renamed: list[bool]) -> dict[int, int]:
    """Items whose output paths another item has already: item index -> that item's index.

    Items are served in order, those written under their own name first, so an input
    renamed on output (``a.jpg`` -> ``a.png``) never takes the place of an ``a.png`` input.
    """
    claimed: dict[Path, int] = {}
    clashes: dict[int, int] = {}
    for index in sorted(range(len(outputs)), key=renamed.__getitem__):
        clash = next((claimed[o] for o in outputs[index] if o in claimed), None)
        if clash is None:
            claimed.update(dict.fromkeys(outputs[index], index))
        else:
            clashes[index] = clash
    return clashes


def _clash_reason(other: ScanItem, output: Path, renamed: bool) -> str:
    reason = f"its output path is also the output of {other.relpath}"
    if renamed:
        reason += (f" (a lossy input, it is written without loss as {output.name}; rename "
                   "one of them or choose another --format)")
    return reason


def _report_clash(outputs: list[Path], destination: Path) -> str | None:
    """Why ``outputs`` cannot be written: one would be (or be under) a report; or None."""
    for output in outputs:
        top = output.relative_to(destination).parts[0]
        if _REPORTS.match(top):
            return (f"its output would be {top} in the output folder, where the run's "
                    "report is written; rename it")
    return None


def _incomplete(item: ScanItem, root: Path) -> str | None:
    """Why a DICOM series with damaged members is not written; or None."""
    if not item.damaged:
        return None
    damaged = "; ".join(f"{p.relative_to(root)}: {why}" for p, why in item.damaged)
    return (f"the series is incomplete, {len(item.damaged)} of its files cannot be read "
            f"({damaged}); nothing of it is written")


def _too_large(item: ScanItem, max_pixels: int) -> str | None:
    """Why ``item`` is not read: more pixels than ``max_pixels``; or None."""
    if item.pixels > max_pixels:
        return (f"its headers claim {item.pixels} pixels per channel, more than --max-pixels "
                f"{max_pixels}")
    return None


def _plan(
    items: list[ScanItem], source: Path, destination: Path, existing: Existing,
    output_format: OutputFormat, owned: set[int] | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[list[_Task], dict[int, FileResult]]:
    """Decide which items to process; results for those that need no work (or cannot run).

    Only the items ``owned`` (by index; default all) are planned and checked against
    existing outputs; every item counts for the output paths they share.
    """
    root = source if source.is_dir() else source.parent
    inputs = {p.resolve() for item in items for p in item.paths}
    tasks: list[_Task] = []
    done: dict[int, FileResult] = {}
    planned = [expected_outputs(item, destination, output_format) for item in items]
    renamed = [output_relpath(item, output_format) != item.relpath for item in items]
    clashes = _clashes(planned, renamed)
    conflicts = []
    for index, (item, outputs) in enumerate(zip(items, planned, strict=True)):
        label = str(item.relpath)
        files = _series_files(item, root)
        if any(o.resolve() in inputs for o in outputs):
            raise UsageError(f"writing '{label}' into '{destination}' would replace an "
                             f"input file of '{source}'; choose another output folder")
        if owned is not None and index not in owned:
            continue
        reason = (_clash_reason(items[clashes[index]], outputs[0], renamed[index])
                  if index in clashes else _report_clash(outputs, destination)
                  ) or _incomplete(item, root) or _too_large(item, max_pixels)
        if reason is not None:
            done[index] = FileResult(label, "failed", files=files, reason=reason)
            continue
        present = [o for o in outputs if o.exists()]
        if present and existing == "error":
            conflicts.append(label)
        elif present and existing == "resume" and len(present) == len(outputs):
            done[index] = FileResult(
                label, "skipped", outputs=[str(o.relative_to(destination)) for o in outputs],
                reason="output already complete (--resume)", files=files,
            )
            continue
        tasks.append(_Task(index, item, outputs,
                           destination / output_relpath(item, output_format)))
    if conflicts:
        shown = ", ".join(conflicts[:3]) + (", ..." if len(conflicts) > 3 else "")
        raise UsageError(
            f"'{destination}' already holds outputs for {len(conflicts)} input(s) ({shown}); "
            "pass --resume to skip complete ones or --overwrite to replace them"
        )
    return tasks, done


class _Inline(Executor):
    """An executor running each call at submission (``jobs=1``: no threads)."""

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except INTERRUPTS:
            raise
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            future.set_exception(exc)
        return future


def _make_folder(destination: Path) -> None:
    """Create the output folder (or keep it).

    Raises
    ------
    UsageError
        When it is a file, or cannot be made (a parent is a file, no permission, a name
        too long ...).
    """
    try:
        destination.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"output '{destination}' exists and is not a folder") from None
    except OSError as exc:
        raise UsageError(f"output folder '{destination}' cannot be created: "
                         f"{exc.strerror or exc}") from None


def _timed(function: Callable, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    return function(*args, **kwargs), time.perf_counter() - start


def _uid_salt(command: str, method: str, modality: str | None, output_format: OutputFormat,
              options: dict[str, Any], operation: Operation) -> str:
    """What derived DICOM UIDs are made from besides the source UIDs: everything that
    decides the output (the command, method, settings and the operation), nothing that
    only decides how the work was scheduled."""
    settings = {k: v for k, v in options.items() if k not in _SCHEDULING}
    text = json.dumps([command, method, modality, output_format, settings,
                       operation.derivation, operation.series_suffix, operation.identity],
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _choose_encoding(task: _Task, image: MedicalImage, output_format: OutputFormat) -> None:
    """Set how a lossy or compressed input is written, and note it for the report."""
    task.lossy_input = prepare_write(image, task.target, output_format)
    if task.lossy_input is not None:
        task.notes.append(lossy_note(task.lossy_input))
    elif "decompressed_from" in image.meta.extra:
        task.notes.append(f"decoded from {image.meta.extra['decompressed_from']}, "
                          "written uncompressed")


def _compute(task: _Task, image: MedicalImage, prepare: Prepare,
             modality: str | None, output_format: OutputFormat) -> Operation:
    """Validate, normalise, apply the operation and restore units, in ``image.data``;
    choose how the image is written."""
    task.notes += image.meta.extra.get("repairs", [])
    data = np.require(image.data, np.float32, ["C_CONTIGUOUS", "WRITEABLE"])
    _check_values(data)
    operation = prepare(image, task.item)
    task.label = operation.label
    task.notes.extend(operation.notes)
    mapping: IntensityMap = fit_intensity(image, modality or operation.modality)
    _map_in_place(data, mapping.normalise)
    outside = hold_outside_window(data, mapping)
    before = data.copy() if operation.inspect is not None else None  # apply may overwrite
    result = operation.apply(torch.from_numpy(data))
    out = np.require(result.detach().cpu().numpy(), np.float32, ["C_CONTIGUOUS", "WRITEABLE"])
    if out.shape != data.shape:
        raise ValueError(f"{operation.label} changed the image shape from {data.shape} "
                         f"to {out.shape}")
    if operation.inspect is not None:
        task.qc = operation.inspect(before, out, mapping)
    if outside is not None:
        outside.put_back(out)
    _map_in_place(out, mapping.denormalise)
    image.data = out
    _choose_encoding(task, image, output_format)
    return operation


def _read(task: _Task) -> MedicalImage:
    """Read ``task``'s input, timing it."""
    image, seconds = _timed(read_item, task.item)
    task.seconds = task.stages["read"] = seconds
    return image


def _computed(task: _Task, image: MedicalImage, prepare: Prepare, modality: str | None,
              output_format: OutputFormat) -> Operation:
    """:func:`_compute`, timed."""
    operation, seconds = _timed(_compute, task, image, prepare, modality, output_format)
    task.seconds += seconds
    task.stages["compute"] = seconds
    return operation


def _read_and_compute(task: _Task, prepare: Prepare, modality: str | None,
                      output_format: OutputFormat) -> tuple[MedicalImage, Operation]:
    """Read ``task``'s input and compute its output: an input in flight in a worker thread
    (``concurrent=True``)."""
    image = _read(task)
    return image, _computed(task, image, prepare, modality, output_format)


def process_tree(
    source: Path,
    destination: Path,
    prepare: Prepare,
    *,
    command: str,
    method: str,
    modality: str | None = None,
    applied: str = "model",
    existing: Existing = "error",
    output_format: OutputFormat = "png",
    jobs: int | None = 1,
    concurrent: bool = False,
    strict: bool = False,
    progress: bool = True,
    options: dict[str, Any] | None = None,
    shard: Shard | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Report:
    """Apply an operation to every image under ``source``, writing under ``destination``.

    Parameters
    ----------
    source : Path
        A file or a folder (scanned recursively).
    destination : Path
        Output folder; the input tree is mirrored below it (see the module docstring).
    prepare : callable
        ``prepare(image, item) -> Operation`` for each image read.
    command, method : str
        Recorded in the report.
    modality : str, optional
        Overrides the modality used for intensity normalisation.
    applied : str
        What the operations' labels name, for the report's table (``"model"``, ``"noise"``).
    existing : {"error", "resume", "overwrite"}
        What to do when outputs already exist.
    output_format : {"png", "tiff", "keep"}
        How lossy-compressed inputs are written (:mod:`medden.io.lossy`): JPEG as PNG or
        as TIFF, other lossy inputs without loss in their own format; or ``"keep"``: in
        their own format and coding (DICOM stays uncompressed).
    jobs : int or None
        Inputs in flight, read ahead and written behind by as many threads (1: everything
        in this thread, one image at a time); None: with ``concurrent``,
        :func:`medden.jobs.auto_jobs` of the inputs' sizes, else 1 (``"auto"`` in the
        report's options).
    concurrent : bool
        ``prepare`` and its operations may run in several threads at once (trained
        networks): each input in flight is then also computed in its thread, with its
        share of torch's threads (:mod:`medden.jobs`).  Else inputs are computed in this
        thread, one at a time (some classical filters' libraries are not thread-safe).
    strict : bool
        Stop at the first failed input (the report still lists what was done).
    progress : bool
        Show a progress bar over inputs.
    options : dict, optional
        Run settings recorded in the report.
    shard : Shard, optional
        Do only this part of the inputs (:meth:`medden.shard.Shard.owned`: whole DICOM
        series, balanced by pixels); None: all of them.
    max_pixels : int
        An input claiming more pixels per channel fails without being read.

    Returns
    -------
    Report
        One entry per input (of the shard), also written to ``destination / "report.json"``
        (a shard's: :func:`report_name`; also when the run is interrupted with Ctrl-C,
        marked ``interrupted``).

    Raises
    ------
    UsageError
        Before any work, for a forbidden output folder, one that cannot be created, or
        existing outputs.
    """
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    if max_pixels < 1:
        raise UsageError(f"--max-pixels must be at least 1, got {max_pixels}")
    start = time.perf_counter()
    check_output_location(source, destination)
    _make_folder(destination)
    found = scan(source)
    root = source if source.is_dir() else source.parent
    owned = None if shard is None else set(shard.owned(
        [item.pixels for item in found.items],
        [item.series_uid or item.key for item in found.items]))
    tasks, done = _plan(found.items, source, destination, existing, output_format, owned,
                        max_pixels)
    removed = _remove_temporaries(destination, None if shard is None else
                                  [o for task in tasks for o in task.outputs])
    report = Report(command=command, method=method,
                    options={**(options or {}), "jobs": "auto" if jobs is None else jobs,
                             "existing": existing, "format": output_format}, applied=applied)
    if jobs is None:  # the same option in every shard's report, whatever it chose here
        jobs = auto_jobs([task.item.pixels for task in tasks]) if concurrent else 1
    throughput = Throughput(str(shard or Shard(0, 1)))
    report.throughput.append(throughput)
    if removed:
        report.options["removed_temporaries"] = removed
    for index, (path, reason) in enumerate(found.skipped):
        if shard is None or index % shard.count == shard.index:
            status = "failed" if _holds_image(path) else "skipped"
            report.results.append(FileResult(str(path.relative_to(root)), status,
                                             reason=reason))
    results = dict(done)
    if strict and (report.failed or any(r.status == "failed" for r in done.values())):
        tasks = []  # --strict: a failure found while scanning stops the run before any work
    bar = tqdm(total=len(tasks), desc=command, unit="image", disable=not progress)
    workers = ThreadPoolExecutor(jobs, WORKER_THREADS) if jobs > 1 else _Inline()
    writers = ThreadPoolExecutor(jobs, "medden-write") if jobs > 1 else _Inline()
    backlog = jobs if jobs > 1 else 0
    working: deque[tuple[_Task, Future]] = deque()
    writes: deque[tuple[_Task, Future]] = deque()
    pending = iter(tasks)

    def record(task: _Task, status: str, reason: str | None = None) -> None:
        outputs = [str(o.relative_to(destination)) for o in task.outputs] if status == "ok" \
            else []
        for stage, seconds in task.stages.items():
            setattr(throughput, stage, getattr(throughput, stage) + seconds)
        if status == "ok":
            throughput.images += 1
            throughput.pixels += task.item.pixels
        results[task.index] = FileResult(
            str(task.item.relpath), status, task.label, round(task.seconds, 3), outputs,
            reason, task.notes, _series_files(task.item, root), task.lossy_input,
            task.qc if status == "ok" else None,
        )
        bar.update()

    def start_next() -> None:
        # jobs=1 reads each input only when it is its turn, so one image is in memory
        while len(working) < jobs and (task := next(pending, None)) is not None:
            work = (workers.submit(_read_and_compute, task, prepare, modality, output_format)
                    if concurrent else workers.submit(_read, task))
            working.append((task, work))

    def finish_write(task: _Task, future: Future) -> bool:
        try:
            _, seconds = future.result()
        except INTERRUPTS:
            raise
        except BaseException as exc:  # noqa: BLE001 - reported per input
            record(task, "failed", f"writing: {_reason(exc)}")
            return False
        task.seconds += seconds
        task.stages["write"] = seconds
        record(task, "ok")
        return True

    try:
        with warnings.catch_warnings(), shared_threads(jobs if concurrent else 1):
            # pydicom warnings quote element values, which may be patient data
            warnings.filterwarnings("ignore", module=r"pydicom(\.|$)")
            ok = True
            start_next()
            while working and (ok or not strict):
                task, future = working.popleft()
                if jobs > 1:
                    start_next()
                try:
                    if concurrent:
                        image, operation = future.result()
                    else:
                        image = future.result()
                        operation = _computed(task, image, prepare, modality, output_format)
                    salt = _uid_salt(command, method, modality, output_format,
                                     options or {}, operation)
                except INTERRUPTS:
                    raise
                except BaseException as exc:  # noqa: BLE001 - a bad file never stops the batch
                    record(task, "failed", _reason(exc))
                    ok = False
                else:
                    writes.append((task, writers.submit(
                        _timed, write_image, image, task.target,
                        derivation=operation.derivation, series_suffix=operation.series_suffix,
                        uid_salt=salt,
                    )))
                image = None  # the writer holds it now; free it before the next read
                while len(writes) > backlog:
                    ok = finish_write(*writes.popleft()) and ok
                if jobs == 1:
                    start_next()
            while writes:
                ok = finish_write(*writes.popleft()) and ok
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        workers.shutdown(wait=True, cancel_futures=True)
        writers.shutdown(wait=True)
        while writes:  # in flight at an interruption, finished since: listed as they ended
            finish_write(*writes.popleft())
        bar.close()
        report.results += results.values()
        report.results.sort(key=lambda r: r.input)
        throughput.seconds = time.perf_counter() - start
        report.write(destination / report_name(shard))
    return report
