"""``medden report``: merge the reports of runs split into parts (shards)."""

from __future__ import annotations

import argparse
from pathlib import Path

from medden.commands._common import finish


def _rename(text: str) -> tuple[str, str]:
    old, sep, new = text.partition("=")
    if not sep or not old or not new:
        raise argparse.ArgumentTypeError(f"expected OLD=NEW, got '{text}'")
    return old, new


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` sub-command and its actions ``merge`` and ``benchmark``."""
    parser = subparsers.add_parser(
        "report", help="merge the reports of a run split into shards (--shard I/N)",
        description="Merge the reports of runs split into parts: 'merge' for medden "
                    "denoise / noise, 'benchmark' for medden benchmark (docs/scale.md).")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    merge = actions.add_parser(
        "merge", help="one OUT/report.json from the shards' reports of medden denoise / noise",
        description="Merge OUT/report.shard-I-of-N.json, written by 'medden denoise IN OUT "
                    "--shard I/N' (or noise) for I = 0..N-1, into OUT/report.json (every input "
                    "once, in the order of a run in one process; one throughput record per "
                    "shard), remove them and print the table. Exit status: 0 all inputs "
                    "succeeded, 1 some failed or none is an image, 2 a shard's report is "
                    "missing (run that shard, with --resume) or the reports are not of one run.")
    merge.add_argument("output", type=Path, metavar="OUT", help="the shards' output folder")
    merge.add_argument("--quiet", action="store_true", help="no table")
    merge.set_defaults(func=run_merge)
    bench = actions.add_parser(
        "benchmark", help="the quality tables of medden benchmark runs on parts of the images",
        description="Merge the quality tables of medden benchmark runs made on parts of one "
                    "image set (--shard I/N, or different folders) or with different models. "
                    "A cell found in two runs must hold the same numbers (the noise is "
                    "seeded) and together the runs must cover every image, condition and "
                    "model; shards' tables merge into exactly those of one run. Writes "
                    "per_image.csv, quality.csv and quality.md into --out; ablation, curves, "
                    "cost and figures stay in the runs that made them.")
    bench.add_argument("runs", nargs="+", type=Path, metavar="RUN",
                       help="medden benchmark output folders")
    bench.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="new folder for the merged tables")
    bench.add_argument("--rename", type=_rename, action="append", default=[],
                       metavar="OLD=NEW", help="rename a modality label (repeatable)")
    bench.add_argument("--replace", action="store_true",
                       help="a later run's records replace different earlier ones (images "
                            "rerun after a fix)")
    bench.set_defaults(func=run_benchmark_merge)


def run_merge(args: argparse.Namespace) -> int:
    """Merge a sharded run's reports; exit as ``medden denoise`` would have."""
    from medden.report_merge import merge_folder

    report = merge_folder(args.output)
    return finish(report, args.output, args.output, args.quiet)


def run_benchmark_merge(args: argparse.Namespace) -> int:
    """Write the merged quality tables."""
    from medden.bench.merge import write_merged

    records = write_merged(args.runs, args.out, dict(args.rename), args.replace)
    images = len({(r["modality"], r["image"]) for r in records})
    print(f"{len(records)} records of {images} images -> {args.out}")
    return 0
