"""One ``report.json`` from the reports of the shards of a run (:mod:`medden.shard`).

Each process of a sharded ``medden noise`` / ``medden denoise`` run writes
``OUT/report.shard-I-of-N.json`` (:func:`medden.process.report_name`).  A distributed run
merges them itself on rank 0; N independent jobs (``--shard I/N``) are merged by
``medden report merge OUT``.  The merged report lists every input once, in the order of a
run in one process, with one throughput record per shard.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from medden.errors import UsageError
from medden.process import REPORT_NAME, Report
from medden.shard import Shard

__all__ = ["merge_reports", "shard_reports", "merge_folder"]

_SHARD_REPORT = re.compile(r"^report\.shard-(\d+)-of-(\d+)\.json$")


def merge_reports(reports: Sequence[Report]) -> Report:
    """The report of the whole run from its shards' reports.

    Raises
    ------
    UsageError
        When the reports are not of one run (command, method or options differ).
    """
    first = reports[0]
    settings = {k: v for k, v in first.options.items() if k != "removed_temporaries"}
    for report in reports[1:]:
        other = {k: v for k, v in report.options.items() if k != "removed_temporaries"}
        if (report.command, report.method, other) != (first.command, first.method, settings):
            raise UsageError(f"the reports are not of one run: {first.command} "
                             f"{first.method} {settings} vs {report.command} {report.method} "
                             f"{other}")
    merged = Report(first.command, first.method, dict(settings), applied=first.applied,
                    interrupted=any(r.interrupted for r in reports))
    removed = sum(r.options.get("removed_temporaries", 0) for r in reports)
    if removed:
        merged.options["removed_temporaries"] = removed
    merged.results = sorted((result for r in reports for result in r.results),
                            key=lambda result: result.input)
    merged.throughput = [t for r in reports for t in r.throughput]
    return merged


def shard_reports(folder: Path) -> dict[Shard, Path]:
    """The shard reports in ``folder``, by shard.

    Raises
    ------
    UsageError
        When there are none, they are of different splits (``-of-N``), or some shard's
        report is missing (that shard has not finished: run it, with ``--resume``).
    """
    found = {}
    for path in sorted(folder.glob("report.shard-*-of-*.json")):
        match = _SHARD_REPORT.match(path.name)
        if match:
            found[Shard(int(match[1]), int(match[2]))] = path
    if not found:
        raise UsageError(f"no shard reports (report.shard-I-of-N.json) in '{folder}'")
    counts = sorted({shard.count for shard in found})
    if len(counts) > 1:
        raise UsageError(f"'{folder}' holds reports of runs split {' and '.join(map(str, counts))}"
                         " ways; remove those of the other runs")
    missing = [str(i) for i in range(counts[0]) if Shard(i, counts[0]) not in found]
    if missing:
        raise UsageError(f"no report of shard(s) {', '.join(missing)} of {counts[0]} in "
                         f"'{folder}': run them (with --resume to keep finished outputs)")
    return found


def merge_folder(folder: Path) -> Report:
    """Merge the shard reports of ``folder`` into ``folder/report.json``; remove them.

    Raises
    ------
    UsageError
        See :func:`shard_reports` and :func:`merge_reports`.
    """
    paths = shard_reports(folder)
    merged = merge_reports([Report.read(path) for path in paths.values()])
    merged.write(folder / REPORT_NAME)
    for path in paths.values():
        path.unlink()
    return merged
