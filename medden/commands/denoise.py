"""``medden denoise``: denoise DICOM / NIfTI / raster files, mirroring the input tree."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from medden.commands._common import finish
from medden.errors import UsageError
from medden.infer import Denoising
from medden.io import ScanItem
from medden.process import process_tree
from medden.registry import pipeline_registry
from medden.spec import parse_spec


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``denoise`` sub-command."""
    parser = subparsers.add_parser(
        "denoise",
        help="denoise a file or folder of DICOM / NIfTI / PNG / TIFF images",
        description=(
            "Denoise every image of IN (file or folder, recursive) and write the results "
            "under OUT with the same relative paths and formats: DICOM as a new derived "
            "series (new UIDs, every other tag kept), NIfTI with the same affine and header, "
            "rasters with the same mode and bit depth. OUT must not be inside IN. A bad file "
            "is reported and skipped; exit status 1 when any failed. report.json in OUT lists "
            "every file."
        ),
    )
    parser.add_argument("input", type=Path, metavar="IN", help="image file or folder")
    parser.add_argument("output", type=Path, metavar="OUT", help="output folder (not inside IN)")
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--model", metavar="SPEC", help="a registered model, e.g. 'median:size=3'")
    choice.add_argument("--pipeline", metavar="SPEC", help="a registered pipeline")
    parser.add_argument("--modality", help="intensity normalisation: ct, mr, xray, rgb")
    parser.add_argument("--tile", type=int, default=256,
                        help="tile size for sliding-window inference (default 256)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Denoise the tree; exit 0 when every image succeeded, 1 when some failed."""
    if args.model:
        spec = parse_spec(args.model)
        network = pipeline_registry.create("single", model=spec)
    else:
        spec = parse_spec(args.pipeline)
        network = pipeline_registry.create(spec)
    if network.learned:
        raise UsageError(
            f"'{spec}' is a learned network and a SPEC carries no trained weights; "
            "run a trained checkpoint or bundle instead"
        )
    runner = Denoising(network, tile=args.tile, device=args.device)

    def denoise(image: torch.Tensor, item: ScanItem) -> torch.Tensor:
        return runner(image)

    report = process_tree(
        args.input, args.output, denoise, command="denoise", method=str(spec),
        derivation=f"denoised by medden ({spec})", modality=args.modality,
        progress=not args.quiet,
    )
    return finish(report, args.output, args.quiet)
