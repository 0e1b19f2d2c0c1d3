"""``medden noise``: write noisy copies of images (how users make the papers' datasets)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from medden.commands._common import (
    add_spec_arguments,
    add_tree_arguments,
    item_generator,
    run_tree,
    spec_from_args,
)
from medden.errors import UsageError
from medden.registry import noise_registry

if TYPE_CHECKING:  # torch and the readers are imported when the command runs
    import torch

    from medden.io import MedicalImage, ScanItem


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``noise`` sub-command."""
    parser = subparsers.add_parser(
        "noise",
        help="write noisy copies of a file or folder (same formats, same tree)",
        description=(
            "Add noise to every image of IN (a file or a folder, recursive) and write the "
            "noisy copies under OUT with the same relative paths and formats, except that "
            "lossy inputs are written without loss (JPEG as PNG: a lossy file would change "
            "the noise; see --format). Levels are on "
            "the 0-255 scale of the normalised image. The noise of each file depends only on "
            "--seed and its relative path, so reruns reproduce it exactly. Examples: "
            "'--noise gaussian:sigma=25', '--noise masked:noise=speckle,sigma=25', "
            "'--noise random_choice:noises=[gaussian|poisson|salt_pepper]'. Exit status: 0 "
            "all succeeded, 1 some failed or IN holds no image, 2 usage error."
        ),
    )
    parser.add_argument("input", type=Path, metavar="IN", help="image file or folder")
    parser.add_argument("output", type=Path, metavar="OUT", help="output folder (not inside IN)")
    add_spec_arguments(parser, "noise", "noise model")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    add_tree_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write noisy copies; exit 0 when every image succeeded, 1 when some failed."""
    from medden.process import Operation

    spec = spec_from_args(args, "noise")
    if spec is None:
        raise UsageError("give the noise with --noise SPEC or --spec-file FILE")
    noise = noise_registry.create(spec)
    derivation = f"synthetic noise added by medden ({spec}, seed {args.seed})"

    def prepare(image: MedicalImage, item: ScanItem) -> Operation:
        generator = item_generator(args.seed, item.key)

        def add_noise(tensor: torch.Tensor) -> torch.Tensor:
            return noise(tensor.unsqueeze(0), generator)[0]  # a batch of one

        return Operation(str(spec), add_noise, derivation, series_suffix="noisy")

    return run_tree(args, prepare, command="noise", method=str(spec), applied="noise")
