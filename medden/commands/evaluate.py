"""``medden evaluate``: image-quality metrics of a test folder against a reference folder."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

from medden.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    parser = subparsers.add_parser(
        "evaluate",
        help="MSE / PSNR / SSIM / VIFP (and ΔE for RGB) of test images against references",
        description=(
            "Pair the images of --test with those of --reference by relative path (a JPEG "
            "reference also with its lossless copy: a.jpg with a.png or a.tif) and print "
            "MSE, PSNR, SSIM, VIFP (and CIEDE2000 ΔE for RGB) per pair and their mean. Both "
            "images are normalised with the reference's intensity mapping, so PSNR uses a data "
            "range of 1 (for CT: the HU window; for 8-bit images: 255 grey levels). ΔE is "
            "given for RGB pairs only, and its mean over them. CT in HU (DICOM CT, or --modality "
            "ct) is also scored in HU: RMSE in the body (reference above -500 HU), and PSNR and "
            "SSIM in the soft-tissue window W400/L40. A DICOM series is one row, "
            "named by its folder. Exit status: 0 every reference image was scored, 1 some "
            "could not be (no test image, another shape, unreadable: listed on stderr and in "
            "--json), 2 usage error (a folder missing, no reference image)."
        ),
    )
    parser.add_argument("--reference", type=Path, required=True, metavar="DIR",
                        help="clean reference images (file or folder)")
    parser.add_argument("--test", type=Path, required=True, metavar="DIR",
                        help="images to score (same relative paths)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write the rows as CSV")
    parser.add_argument("--modality", help="intensity normalisation: ct, mr, xray, rgb")
    parser.set_defaults(func=run)


def _fmt(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.4g}"


def run(args: argparse.Namespace) -> int:
    """Print the metrics table; exit 1 when a pair could not be scored."""
    from medden.evaluation import evaluate_folders, metric_columns
    from medden.io.names import printable

    for folder in (args.reference, args.test):
        if not folder.exists():
            raise UsageError(f"'{folder}' does not exist")
    rows, problems = evaluate_folders(args.reference, args.test, args.modality)
    if not rows and not problems:
        raise UsageError(f"no images found in '{args.reference}'")
    columns = ["file", *metric_columns(rows)]
    table = [columns] + [[printable(r["file"]), *(_fmt(r[c]) if c in r else "-"
                                                  for c in columns[1:])] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for row in table:
        print("  ".join(cell.rjust(w) if i else cell.ljust(w)
                        for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
    for path, reason in problems:
        print(f"not scored: {printable(path)}: {printable(reason)}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "not_scored": problems}, indent=2))
    if args.csv:
        with args.csv.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    return 1 if problems else 0
