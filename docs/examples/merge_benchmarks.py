"""Merge ``medden benchmark`` runs made on disjoint parts of one image set.

A validation split too long to benchmark in one sitting is run in parts (the same command on
different folders, e.g. ``heldout_split.py --first 6`` then ``--skip 6``).  Since each
image's noise is seeded by the seed, the image's path in its folder and the condition, the
parts' numbers are exactly those of one run over all of them.  This script checks that the
parts agree (same seed-bearing conditions and models, no image twice), then writes the
quality tables over every image:

    python docs/examples/merge_benchmarks.py docs/benchmarks/mri_denoise \\
        docs/benchmarks/mri_denoise_part2 --out docs/benchmarks/mri_denoise_split \\
        --rename val_mri_rest=val_mri15

``--replace`` lets a later run replace an earlier run's records of the same images (images
rerun after a fix); without it an image in two runs is refused.

``--out`` receives ``per_image.csv`` and ``quality.csv`` (the benchmark's columns) and
``quality.md`` (the two-stage paper's table format); ``quality_bar.py`` reads the folder
like a single run.  Only the quality tables are merged: ablation, curves, cost and
figures stay in the runs that made them.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path
from typing import Any

from medden.bench.runner import METRICS
from medden.bench.tables import quality_table, summarise, write_csv

_RECORD_COLUMNS = ["modality", "image", "noise", "level", "model", "setting", *METRICS]
_SUMMARY_COLUMNS = ["modality", "noise", "level", "model", "images", *METRICS]


def _read(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise SystemExit(f"{path} not found: is {path.parent} a medden benchmark folder?")
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _level(text: str) -> float | None:
    return float(text) if text else None


def _record(row: dict[str, str], renames: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "modality": renames.get(row["modality"], row["modality"]), "image": row["image"],
        "noise": row["noise"], "level": _level(row["level"]), "model": row["model"],
        "setting": row["setting"]}
    record.update({m: float(row[m]) if row[m] else math.nan for m in METRICS})
    return record


def run_records(folder: Path, renames: dict[str, str]) -> list[dict[str, Any]]:
    """The per-image records of one run's quality tables (ablation conditions left out).

    Parameters
    ----------
    folder : Path
        ``medden benchmark`` output folder.
    renames : dict of str to str
        Modality labels to replace (a flat folder's label is its name).
    """
    tables = {(r["noise"], r["level"]) for r in _read(folder / "quality.csv")}
    return [_record(row, renames) for row in _read(folder / "per_image.csv")
            if (row["noise"], row["level"]) in tables]


def _image(record: dict[str, Any]) -> tuple[str, str]:
    return record["modality"], record["image"]


def merge(runs: list[list[dict[str, Any]]], names: list[str],
          replace: bool = False) -> list[dict[str, Any]]:
    """Concatenate the runs' records after checking that they are parts of one run.

    Parameters
    ----------
    runs : list of list of dict
        Each run's records (:func:`run_records`).
    names : list of str
        The runs' names, for messages.
    replace : bool
        An image in a later run replaces its records of earlier runs (reported on stdout);
        otherwise an image in two runs is an error.

    Raises
    ------
    SystemExit
        When two runs differ in conditions or models, or share an image without ``replace``.
    """
    def cells(records: list[dict[str, Any]]) -> set[tuple[str, float | None, str]]:
        return {(r["noise"], r["level"], r["model"]) for r in records}

    owner: dict[tuple[str, str], int] = {}
    for index, (records, name) in enumerate(zip(runs, names, strict=True)):
        if cells(records) != cells(runs[0]):
            differ = sorted(map(str, cells(records) ^ cells(runs[0])))[:5]
            raise SystemExit(f"{name} and {names[0]} differ in (noise, level, model): "
                             f"{', '.join(differ)}")
        for key in sorted({_image(r) for r in records}):
            if key in owner and not replace:
                raise SystemExit(f"image {key[1]} ({key[0]}) is in both {names[owner[key]]} "
                                 f"and {name} (--replace keeps the later run's)")
            if key in owner:
                print(f"{key[1]}: {name} replaces {names[owner[key]]}")
            owner[key] = index
    return [record for index, records in enumerate(runs) for record in records
            if owner[_image(record)] == index]


def markdown(records: list[dict[str, Any]], names: list[str]) -> str:
    """The merged quality tables, one per modality, in the two-stage paper's format."""
    summary = summarise(records)
    models = list(dict.fromkeys(r["model"] for r in records))
    noises = list(dict.fromkeys(r["noise"] for r in records))
    levelled = [n for n in noises if any(r["level"] is not None and r["noise"] == n
                                         for r in records)]
    fixed = [n for n in noises if n not in levelled]
    levels = sorted({r["level"] for r in records if r["level"] is not None})
    parts = ["# medden benchmark: merged runs", "",
             "Quality tables over every image of: " + ", ".join(f"`{n}`" for n in names)
             + " (each run's `benchmark.md` has its command). Mean over images; MSE on the "
             "0–255 scale, ΔE for RGB only.", ""]
    for modality in dict.fromkeys(r["modality"] for r in records):
        images = {r["image"] for r in records if r["modality"] == modality}
        rgb = any(not math.isnan(r["delta_e"]) for r in records if r["modality"] == modality)
        parts += [f"## {modality} ({len(images)} images)", ""]
        if levelled:
            parts += [quality_table(summary, modality, levelled, levels, models, rgb), ""]
        if fixed:
            parts += ["Noises at a fixed setting:", "",
                      quality_table(summary, modality, fixed, [None], models, rgb), ""]
    return "\n".join(parts)


def _rename(text: str) -> tuple[str, str]:
    old, sep, new = text.partition("=")
    if not sep or not old or not new:
        raise argparse.ArgumentTypeError(f"expected OLD=NEW, got '{text}'")
    return old, new


def main() -> None:
    """Write the merged quality tables of several benchmark runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="medden benchmark output folders")
    parser.add_argument("--out", type=Path, required=True, help="new folder for the tables")
    parser.add_argument("--rename", type=_rename, action="append", default=[],
                        metavar="OLD=NEW", help="rename a modality label (repeatable)")
    parser.add_argument("--replace", action="store_true",
                        help="an image in a later run replaces its earlier records")
    args = parser.parse_args()
    names = [str(run) for run in args.runs]
    records = merge([run_records(run, dict(args.rename)) for run in args.runs], names,
                    args.replace)
    args.out.mkdir(parents=True, exist_ok=False)
    write_csv(records, _RECORD_COLUMNS, args.out / "per_image.csv")
    write_csv(summarise(records).values(), _SUMMARY_COLUMNS, args.out / "quality.csv")
    (args.out / "quality.md").write_text(markdown(records, names) + "\n")
    print(f"{len(records)} records of {len({(r['modality'], r['image']) for r in records})} "
          f"images -> {args.out}")


if __name__ == "__main__":
    main()
