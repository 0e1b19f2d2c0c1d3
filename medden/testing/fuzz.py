"""A seeded corpus of malformed inputs, and the check of a ``medden denoise`` run over it.

``make_corpus(DEST, count, seed)`` writes ``DEST/in/``: the valid seeds of
:mod:`medden.testing.fuzz_seeds` under ``good/``, then ``count`` cases made from them:
truncations, byte flips in headers and in pixel data, lying image sizes, wrong DICOM
transfer syntaxes, broken compression, tiled TIFFs with tiles missing, a bad gzip CRC,
shifted DICOM pixel data, DICOM series with one corrupt slice or with empty UIDs, odd file
names, symlinks (good and dangling), FIFOs and empty files.  ``DEST/manifest.json`` says
what each case must become: ``ok`` (processed), ``fail`` (failed or skipped, with a
reason) or ``any`` (a random flip may leave a valid file; whatever the status, a reason
unless ok).  The same seed gives the same corpus.

``check(DEST, OUT, output)`` compares OUT/report.json with the manifest and the printed
``output``: a traceback, a case missing from the report, an expectation not met, a
temporary file left in OUT, or an input changed are errors.

Command line (``python -m medden.testing.fuzz``)::

    python -m medden.testing.fuzz make DEST --count 10000 --seed 0
    medden denoise DEST/in OUT --model median:size=3 --quiet 2> OUT.log
    python -m medden.testing.fuzz check DEST OUT --log OUT.log
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import struct
import sys
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
import tifffile
from pydicom.uid import RLELossless

from medden.io.atomic import TEMPORARY
from medden.io.names import escaped_name, unescaped_name
from medden.testing.fuzz_seeds import SAMPLES, make_seeds, write_series

__all__ = ["Outcome", "check", "make_corpus", "main"]

_LIE = 30000  # a claimed edge far beyond any seed
_ODD_NAMES = (b"caf\xe9.png", b"-leading dash.png", b"new\nline.png", "ünï cødé.png".encode(),
              b"n" * 240 + b".png", b"spaces  in  name .png")
Mutation = Callable[[Path, Path, np.random.Generator], str]


def _flip(data: bytearray, rng: np.random.Generator, start: int, stop: int) -> None:
    for _ in range(int(rng.integers(1, 5))):
        if stop > start:
            data[int(rng.integers(start, stop))] ^= int(rng.integers(1, 256))


def _bytes_case(change: Callable[[bytearray, np.random.Generator], str]) -> Mutation:
    def mutate(seed: Path, target: Path, rng: np.random.Generator) -> str:
        data = bytearray(seed.read_bytes())
        expect = change(data, rng)
        target.write_bytes(bytes(data))
        return expect

    return mutate


def _truncate(data: bytearray, rng: np.random.Generator) -> str:
    del data[int(len(data) * rng.uniform(0.1, 0.9)):]
    return "fail"


def _flip_header(data: bytearray, rng: np.random.Generator) -> str:
    _flip(data, rng, 0, min(len(data) // 4, 600))
    return "any"


def _flip_pixels(data: bytearray, rng: np.random.Generator) -> str:
    _flip(data, rng, len(data) // 2, len(data))
    return "any"


def _empty(data: bytearray, rng: np.random.Generator) -> str:
    data.clear()
    return "fail"


def _png_size(data: bytearray) -> None:
    struct.pack_into(">II", data, 16, _LIE, _LIE)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))  # the IHDR CRC


def _jpeg_size(data: bytearray) -> None:
    frame = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, frame + 5, _LIE, _LIE)


def _nifti_size(data: bytearray) -> None:
    struct.pack_into("<hh", data, 42, _LIE, _LIE)  # dim[1], dim[2]


def _lie_dims(seed: Path, target: Path, rng: np.random.Generator) -> str:
    name = seed.name
    if name.endswith(".dcm"):
        ds = pydicom.dcmread(seed)
        ds.Rows = ds.Columns = _LIE
        ds.save_as(target)
        return "fail"
    if name.endswith(".nii.gz"):
        data = bytearray(gzip.decompress(seed.read_bytes()))
        _nifti_size(data)
        target.write_bytes(gzip.compress(bytes(data), mtime=0))
        return "fail"
    data = bytearray(seed.read_bytes())
    patch = {".png": _png_size, ".jpg": _jpeg_size, ".nii": _nifti_size}.get(seed.suffix)
    if patch is not None:
        patch(data)
    target.write_bytes(bytes(data))
    if seed.suffix == ".tif":
        with tifffile.TiffFile(target, mode="r+") as tif:
            tif.pages[0].tags["ImageWidth"].overwrite(_LIE)
            tif.pages[0].tags["ImageLength"].overwrite(_LIE)
    return "fail"


def _swap_syntax(seed: Path, target: Path, rng: np.random.Generator) -> str:
    """A DICOM whose transfer syntax names the other coding (native <-> RLE)."""
    data = seed.read_bytes()
    native = b"1.2.840.10008.1.2.1\0"
    rle = RLELossless.encode() + b"\0"
    swapped = data.replace(native, rle, 1) if native in data else data.replace(rle, native, 1)
    target.write_bytes(swapped)
    return "fail"


def _broken_compression(seed: Path, target: Path, rng: np.random.Generator) -> str:
    data = bytearray(seed.read_bytes())
    _flip(data, rng, len(data) // 3, len(data) - 8)
    target.write_bytes(bytes(data))
    return "fail" if seed.name.endswith(".gz") else "any"


def _missing_tiles(seed: Path, target: Path, rng: np.random.Generator) -> str:
    shutil.copyfile(seed, target)
    with tifffile.TiffFile(target, mode="r+") as tif:
        page = tif.pages[0]
        offsets, counts = list(page.dataoffsets), list(page.databytecounts)
        for index in rng.choice(len(offsets), size=len(offsets) // 2, replace=False):
            offsets[index] = counts[index] = 0
        page.tags["TileOffsets"].overwrite(offsets)
        page.tags["TileByteCounts"].overwrite(counts)
    return "fail"


def _bad_crc(seed: Path, target: Path, rng: np.random.Generator) -> str:
    data = bytearray(seed.read_bytes())
    data[-8 + int(rng.integers(0, 4))] ^= 0xFF  # the gzip trailer's CRC-32
    target.write_bytes(bytes(data))
    return "fail"


def _shifted_pixels(seed: Path, target: Path, rng: np.random.Generator) -> str:
    ds = pydicom.dcmread(seed)
    ds.PixelData = bytes(2 * int(rng.integers(1, 32))) + ds.PixelData
    ds.save_as(target)
    return "fail"


def _series(seed: Path, target: Path, rng: np.random.Generator, **changes: object
            ) -> list[Path]:
    source = pydicom.dcmread(seed)
    return write_series(source, target, 3, **changes)


def _corrupt_series(seed: Path, target: Path, rng: np.random.Generator) -> str:
    slices = _series(seed, target, rng)
    victim = slices[int(rng.integers(0, len(slices)))]
    victim.write_bytes(victim.read_bytes()[: -int(rng.integers(100, 4000))])
    return "fail"


def _nonconformant_series(seed: Path, target: Path, rng: np.random.Generator) -> str:
    _series(seed, target, rng, SOPClassUID="", SeriesInstanceUID="")
    return "ok"


#: Mutations and the seeds (by suffix) they apply to.
_MUTATIONS: dict[str, tuple[Mutation, tuple[str, ...]]] = {
    "truncate": (_bytes_case(_truncate), (".dcm", ".png", ".jpg", ".tif", ".nii", ".gz")),
    "flip_header": (_bytes_case(_flip_header), (".dcm", ".png", ".jpg", ".tif", ".nii", ".gz")),
    "flip_pixels": (_bytes_case(_flip_pixels), (".dcm", ".png", ".jpg", ".tif", ".nii", ".gz")),
    "empty": (_bytes_case(_empty), (".dcm", ".png", ".jpg", ".tif", ".nii", ".gz")),
    "lie_dims": (_lie_dims, (".dcm", ".png", ".jpg", ".tif", ".nii", ".gz")),
    "wrong_syntax": (_swap_syntax, (".dcm",)),
    "broken_compression": (_broken_compression, (".png", ".jpg", ".gz", "rle.dcm", "tiled.tif")),
    "missing_tiles": (_missing_tiles, ("tiled.tif",)),
    "bad_crc": (_bad_crc, (".gz",)),
    "shifted_pixels": (_shifted_pixels, ("ct.dcm",)),
    "corrupt_series": (_corrupt_series, ("ct.dcm",)),
    "nonconformant_series": (_nonconformant_series, ("ct.dcm",)),
}


def _special(folder: Path, index: int, good: list[Path]) -> dict[str, str]:
    """The file-system cases: odd names, symlinks, a dangling symlink, a FIFO."""
    cases: dict[str, str] = {}
    name = os.fsdecode(f"{index:05d}_".encode() + _ODD_NAMES[index % len(_ODD_NAMES)])
    seed = good[index % len(good)]
    kind = index % 4
    if kind == 0:
        shutil.copyfile(next(p for p in good if p.name == "xray.png"), folder / name)
        cases[name] = "ok"
    elif kind == 1:
        (folder / f"{index:05d}_link_{seed.name}").symlink_to(os.path.relpath(seed, folder))
        cases[f"{index:05d}_link_{seed.name}"] = "ok"
    elif kind == 2:
        (folder / f"{index:05d}_dangling.png").symlink_to(f"missing_{index}.png")
        cases[f"{index:05d}_dangling.png"] = "fail"
    else:
        os.mkfifo(folder / f"{index:05d}_fifo.dcm")
        cases[f"{index:05d}_fifo.dcm"] = "fail"
    return cases


def make_corpus(dest: Path, count: int, seed: int = 0, samples: Path = SAMPLES
                ) -> dict[str, str]:
    """Write the corpus under ``dest/in`` and its manifest ``dest/manifest.json``.

    Parameters
    ----------
    dest : Path
        A new or empty folder.
    count : int
        Number of damaged or odd cases beside the valid seeds (a series counts once).
    seed : int
        Seed of every random choice.
    samples : Path
        The sample images the seeds are made from.

    Returns
    -------
    dict
        Input relative to ``dest/in`` (a series: its folder; names escaped with
        :func:`medden.io.names.escaped_name`) -> ``"ok"``, ``"fail"`` or ``"any"``.
    """
    root = Path(dest) / "in"
    with tempfile.TemporaryDirectory() as scratch:
        made = make_seeds(Path(scratch), samples)
        good_dir = root / "good"
        shutil.copytree(scratch, good_dir)
    good = [good_dir / p.relative_to(scratch) for p in made]
    manifest = {str(p.relative_to(root)): "ok" for p in good if p.parent == good_dir}
    manifest["good/ct_series"] = "ok"
    singles = [p for p in good if p.parent == good_dir]
    rng = np.random.default_rng(seed)
    names = sorted(_MUTATIONS)
    for index in range(count):
        folder = root / f"case{index // 1000:02d}"
        folder.mkdir(exist_ok=True)
        if index % 10 == 9:
            manifest.update({str((folder / n).relative_to(root)): e
                             for n, e in _special(folder, index, singles).items()})
            continue
        name = names[int(rng.integers(len(names)))]
        mutation, applies = _MUTATIONS[name]
        choices = [p for p in singles if p.name.endswith(applies)]
        source = choices[int(rng.integers(len(choices)))]
        target = folder / f"{index:05d}_{name}_{source.name}"
        if mutation in (_corrupt_series, _nonconformant_series):
            target = target.with_suffix("")
        manifest[str(target.relative_to(root))] = mutation(source, target, rng)
    manifest = {escaped_name(k): v for k, v in sorted(manifest.items())}
    (Path(dest) / "manifest.json").write_text(json.dumps(manifest, indent=1), "utf-8")
    (Path(dest) / "digests.json").write_text(json.dumps(_digests(root), indent=1), "utf-8")
    return manifest


def _digests(root: Path) -> dict[str, str]:
    """What every entry under ``root`` is: a file's SHA-256, a link's target, or its type
    (a FIFO is never opened)."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if path.is_symlink():
                found[escaped_name(str(path.relative_to(root)))] = f"-> {os.readlink(path)}"
            elif path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[escaped_name(str(path.relative_to(root)))] = digest
            else:
                found[escaped_name(str(path.relative_to(root)))] = "special"
    return found


@dataclass
class Outcome:
    """What :func:`check` found.

    Attributes
    ----------
    statuses : Counter
        Report entries per status (``ok``, ``failed``, ``skipped``).
    reasons : Counter
        Failures and skips per kind of reason (numbers replaced by ``N``).
    errors : list of str
        Every expectation not met; empty when the run held.
    """

    statuses: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The counts and errors as text."""
        lines = [", ".join(f"{n} {status}" for status, n in sorted(self.statuses.items()))]
        lines += [f"{n:6d}  {reason}" for reason, n in self.reasons.most_common()]
        lines.append(f"{len(self.errors)} error(s)")
        lines += [f"error: {e}" for e in self.errors[:50]]
        return "\n".join(lines)


def _reason_kind(reason: str) -> str:
    return re.sub(r"\d+", "N", reason.split("(")[0].strip())[:90]


def _entries(out: Path) -> dict[str, dict]:
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return {entry["input"] if entry.get("escaped_names") else escaped_name(entry["input"]):
            entry for entry in report["files"]}


def _stray_files(out: Path, entries: dict[str, dict]) -> list[str]:
    """Files in OUT that are neither the report nor an output of an ``ok`` entry."""
    outputs = {unescaped_name(o) if e.get("escaped_names") else o
               for e in entries.values() for o in e["outputs"]}
    stray = []
    for folder, _, names in os.walk(out):
        for name in names:
            relative = str((Path(folder) / name).relative_to(out))
            if relative != "report.json" and (relative not in outputs or TEMPORARY.match(name)):
                stray.append(f"left in OUT: {escaped_name(relative)}")
    return stray


def _met(expect: str, entry: dict) -> bool:
    if entry["status"] == "ok":
        return expect in ("ok", "any")
    return expect != "ok" and bool(entry.get("reason"))


def check(dest: Path, out: Path, output: str = "") -> Outcome:
    """Compare the run that wrote ``out`` from ``dest/in`` with ``dest``'s manifest.

    Parameters
    ----------
    dest : Path
        A folder :func:`make_corpus` wrote.
    out : Path
        The output folder of ``medden denoise DEST/in OUT``.
    output : str
        What the run printed (stdout and stderr): it must hold no traceback.

    Returns
    -------
    Outcome
        The counts, and every expectation not met.
    """
    dest, out = Path(dest), Path(out)
    manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    entries = _entries(out)
    outcome = Outcome()
    if "Traceback" in output:
        outcome.errors.append("the run printed a traceback")
    for name, entry in entries.items():
        outcome.statuses[entry["status"]] += 1
        if entry["status"] != "ok":
            outcome.reasons[_reason_kind(entry.get("reason") or "no reason")] += 1
        if name not in manifest:
            outcome.errors.append(f"not a case of the corpus: {name}")
    for name, expect in manifest.items():
        if name not in entries:
            outcome.errors.append(f"missing from the report: {name}")
        elif not _met(expect, entries[name]):
            outcome.errors.append(f"{name}: expected {expect}, got {entries[name]['status']} "
                                  f"({entries[name].get('reason')})")
    outcome.errors += _stray_files(out, entries)
    before = json.loads((dest / "digests.json").read_text(encoding="utf-8"))
    if _digests(dest / "in") != before:
        outcome.errors.append("the input folder changed")
    return outcome


def main(argv: list[str] | None = None) -> int:
    """``python -m medden.testing.fuzz make|check``; exit 1 when ``check`` finds errors."""
    parser = argparse.ArgumentParser(prog="python -m medden.testing.fuzz",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make", help="write the corpus DEST/in and its manifest")
    make.add_argument("dest", type=Path)
    make.add_argument("--count", type=int, default=10_000)
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--samples", type=Path, default=SAMPLES)
    verify = commands.add_parser("check", help="compare OUT/report.json with the manifest")
    verify.add_argument("dest", type=Path)
    verify.add_argument("out", type=Path)
    verify.add_argument("--log", type=Path, help="what the run printed")
    args = parser.parse_args(argv)
    if args.command == "make":
        manifest = make_corpus(args.dest, args.count, args.seed, args.samples)
        print(f"{len(manifest)} cases in {args.dest / 'in'}: "
              + ", ".join(f"{n} {k}" for k, n in sorted(Counter(manifest.values()).items())))
        return 0
    log = args.log.read_text(errors="replace") if args.log else ""
    outcome = check(args.dest, args.out, log)
    print(outcome.summary())
    return 1 if outcome.errors else 0


if __name__ == "__main__":
    sys.exit(main())
