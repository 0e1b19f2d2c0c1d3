"""Argument helpers shared by several sub-commands."""

from __future__ import annotations

import argparse
import gc
import hashlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medden.choices import MODALITIES, OUTPUT_FORMATS
from medden.errors import UsageError
from medden.limits import DEFAULT_MAX_PIXELS
from medden.shard import Shard
from medden.spec import Spec, load_spec_file, parse_spec

if TYPE_CHECKING:  # torch, the readers and the writers are imported when a command runs
    import torch

    from medden.process import Existing, Prepare, Report

__all__ = ["add_spec_arguments", "spec_from_args", "item_generator", "add_tree_arguments",
           "add_shard_argument", "existing_from_args", "tree_options", "finish", "run_tree",
           "long_lived"]


def add_spec_arguments(parser: argparse.ArgumentParser, option: str, what: str) -> None:
    """Add ``--OPTION SPEC`` and ``--spec-file FILE`` (mutually exclusive)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        f"--{option}", metavar="SPEC",
        help=f"{what}: 'name' or 'name:key=value,...' (see 'medden list')",
    )
    group.add_argument(
        "--spec-file", metavar="FILE", type=Path,
        help=f"{what} as a JSON/YAML mapping {{name: ..., params: {{...}}}} (nested specs)",
    )


def spec_from_args(args: argparse.Namespace, option: str) -> Spec | None:
    """The SPEC given by ``--OPTION`` or ``--spec-file``, or None."""
    if args.spec_file is not None:
        return load_spec_file(args.spec_file)
    value = getattr(args, option)
    return parse_spec(value) if value is not None else None


def item_generator(seed: int, key: str) -> torch.Generator:
    """A generator seeded from ``seed`` and a stable key (e.g. the relative path).

    The same file gets the same noise whatever order files are processed in.
    """
    from medden.noise import make_generator

    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return make_generator(int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF)


@contextmanager
def long_lived() -> Iterator[None]:
    """Run a command's start-up (imports, loading a network) without the cyclic garbage
    collector, then leave what it made out of later collections (:func:`gc.freeze`).

    Start-up makes some 180,000 objects, most of them importing torch, that live until the
    process ends; every collection walks all of them: those during the import (0.1-0.3 s of
    its 1.4-1.7 s), the full ones while the command runs, and the one when the interpreter
    exits (0.4-0.55 s, 0.12-0.15 s frozen; docs/benchmarks.md, issue 25).  Frozen objects
    are still freed when unreferenced; a reference cycle made at start-up is not collected
    (about 800 objects per in-process ``medden denoise`` run).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def add_tree_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of commands that mirror IN into OUT (:func:`medden.process.process_tree`)."""
    parser.add_argument("--modality", type=str.lower, choices=sorted(MODALITIES),
                        help="intensity normalisation (default: from the DICOM Modality and "
                             "the stored type)")
    existing = parser.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true",
                          help="skip inputs whose outputs are all in OUT already (outputs are "
                               "written atomically, so an existing file is complete) and redo "
                               "the others")
    existing.add_argument("--overwrite", action="store_true",
                          help="replace outputs that exist (without --resume or --overwrite, "
                               "existing outputs are an error before any work)")
    parser.add_argument("--format", choices=OUTPUT_FORMATS, default="png",
                        help="how inputs decoded from a lossy coding are written: png "
                             "(default) or tiff: a JPEG file as PNG or TIFF (a.jpg -> a.png "
                             "or a.tif), a TIFF with a lossy codec as TIFF with Deflate, "
                             "DICOM uncompressed -- no loss added; keep: in their own format "
                             "(JPEG re-encoded at the input's estimated quality; DICOM still "
                             "uncompressed). The report notes each such input")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first input that fails (exit status 1)")
    parser.add_argument("--jobs", type=int, metavar="N",
                        help="inputs in flight: read ahead and written behind in N threads; "
                             "a trained network also denoises them side by side, each with "
                             "its share of the CPU threads (classical filters and noise: one "
                             "at a time). Default: for a trained network, one per CPU core "
                             "(at most 4) when every input has at most 2048² pixels; else 1")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help="an image (a DICOM series: all its slices) whose headers claim "
                             "more than N pixels per channel fails without being read "
                             f"(default {DEFAULT_MAX_PIXELS} = 2^30, 4 GiB as float32)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or table")
    add_shard_argument(parser, "do only the I-th (0 to N-1) of N parts of IN (whole DICOM "
                       "series, balanced by pixels): N independent jobs, e.g. an array job, "
                       "each writing its outputs and OUT/report.shard-I-of-N.json; then "
                       "'medden report merge OUT'. Under torchrun or srun the ranks split the "
                       "work by themselves (docs/scale.md)")


def add_shard_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """Add ``--shard I/N`` (parsed into a :class:`~medden.shard.Shard`)."""
    parser.add_argument("--shard", type=_shard, metavar="I/N", help=help_text)


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def existing_from_args(args: argparse.Namespace) -> Existing:
    """``"resume"``, ``"overwrite"`` or ``"error"`` from ``--resume`` / ``--overwrite``."""
    return "resume" if args.resume else "overwrite" if args.overwrite else "error"


def tree_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`medden.process.process_tree` from the options that
    :func:`add_tree_arguments` added."""
    return {"modality": args.modality, "existing": existing_from_args(args),
            "output_format": args.format, "jobs": args.jobs, "strict": args.strict,
            "progress": not args.quiet, "max_pixels": args.max_pixels}


def finish(report: Report, source: Path, out: Path, quiet: bool, shard: Shard | None = None
           ) -> int:
    """Print the report table; return exit status 0 (all ok) or 1 (some failed, or ``source``
    holds no image -- unless the report is a ``shard``'s, which may have none)."""
    from medden.io.names import printable
    from medden.process import REPORT_NAME, report_name

    if shard is not None:
        if not quiet:
            print(report.summary_table())
            print(f"report of shard {shard}: {printable(str(out / report_name(shard)))}; "
                  f"when every shard is done: medden report merge {printable(str(out))}")
        return 1 if report.failed else 0
    if not report.images:
        print(f"no images found in '{printable(str(source))}' (report: "
              f"{printable(str(out / REPORT_NAME))})", file=sys.stderr)
        return 1
    if not quiet:
        print(report.summary_table())
        print(f"report: {printable(str(out / REPORT_NAME))}")
    if report.failed:
        print(f"{len(report.failed)} input(s) failed; see the report", file=sys.stderr)
        return 1
    return 0


def run_tree(args: argparse.Namespace, prepare: Prepare, **settings: Any) -> int:
    """:func:`medden.process.process_tree` from IN to OUT of ``args``; print; exit status.

    Alone, the whole tree or the ``--shard`` given; in a distributed run (torchrun, srun:
    :mod:`medden.distributed`) each rank does its shard, and rank 0 writes the merged
    ``report.json`` (removing the shards' reports) and prints it.  Every rank returns the
    exit status of the whole run.  ``settings`` go to ``process_tree`` (command, method,
    applied, options).
    """
    from medden import distributed
    from medden.process import REPORT_NAME, process_tree, report_name
    from medden.report_merge import merge_reports

    if args.shard is not None and distributed.launched():
        raise UsageError("--shard is for independent jobs; under torchrun or srun the ranks "
                         "split the work by themselves")
    options = {**tree_options(args), **settings}
    with distributed.world() as rank:
        if rank is None:
            report = process_tree(args.input, args.output, prepare, shard=args.shard,
                                  **options)
            return finish(report, args.input, args.output, args.quiet, args.shard)
        try:
            outcome: Report | str = process_tree(args.input, args.output, prepare,
                                                 shard=rank, **options)
        except UsageError as exc:
            outcome = str(exc)
        outcomes = distributed.gather(outcome)
    errors = [o for o in outcomes if isinstance(o, str)]
    if errors:
        if rank.index == 0:
            raise UsageError(errors[0])
        return 2
    merged = merge_reports(outcomes)
    if rank.index > 0:
        return 1 if merged.failed or not merged.images else 0
    merged.write(args.output / REPORT_NAME)
    for index in range(rank.count):
        (args.output / report_name(Shard(index, rank.count))).unlink(missing_ok=True)
    return finish(merged, args.input, args.output, args.quiet)
