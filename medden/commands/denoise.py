"""``medden denoise``: denoise DICOM / NIfTI / raster files, mirroring the input tree."""

from __future__ import annotations

import argparse
import hashlib
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medden.choices import DEFAULT_TILE
from medden.commands._common import add_tree_arguments, long_lived, run_tree
from medden.errors import UsageError
from medden.strength import blend, describe, parse_strength

if TYPE_CHECKING:  # torch, the networks and the readers are imported when the command runs
    import torch

    from medden.denoisers import Network
    from medden.infer import Denoising
    from medden.io import MedicalImage, ScanItem
    from medden.process import Operation, Prepare


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``denoise`` sub-command."""
    parser = subparsers.add_parser(
        "denoise",
        help="denoise a file or folder of DICOM / NIfTI / PNG / JPEG / TIFF images",
        description=(
            "Denoise every image of IN (file or folder, recursive; DICOM recognised by "
            "content and grouped into series) and write the results under OUT with the same "
            "relative paths and formats: DICOM as a new derived series (new UIDs, every other "
            "tag kept), NIfTI with the same affine and header, rasters with the same mode and "
            "bit depth; lossy inputs without further loss (JPEG as PNG; see --format). OUT "
            "must not be inside IN, nor IN inside OUT. Every file is written under a "
            "temporary name and renamed. Files that are not images are skipped; an image that "
            "cannot be read or denoised fails without stopping the batch. OUT/report.json "
            "lists every input. Exit status: 0 all succeeded, 1 some failed or IN holds no "
            "image, 2 usage error. Without "
            "--bundle/--checkpoint/--model/--pipeline each image gets a bundle by these "
            "rules: DICOM CR/DX/DR/RG/MG -> xray, CT -> ct, MR -> mri; colour -> multimodal; "
            "NIfTI in HU -> ct, other NIfTI -> mri; other gray images -> xray (the report "
            "and table name it). --modality sets the bundle for all images (and their "
            "intensity normalisation). A bundle NAME is a shipped or installed bundle, never "
            "a folder of the current directory (give ./NAME for that)."
        ),
    )
    parser.add_argument("input", type=Path, metavar="IN", help="image file or folder")
    parser.add_argument("output", type=Path, metavar="OUT", help="output folder (not inside IN)")
    add_denoiser_arguments(parser)
    add_tree_arguments(parser)
    parser.set_defaults(func=run)


def add_denoiser_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose and run the denoiser (``denoise`` and ``serve``)."""
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--bundle", metavar="NAME|PATH",
                        help="a trained bundle: a name (e.g. ct, xray) or a bundle folder")
    choice.add_argument("--checkpoint", type=Path, metavar="FILE",
                        help="a medden training checkpoint (or run folder)")
    choice.add_argument("--model", metavar="SPEC",
                        help="a registered classical model, e.g. 'median:size=3'")
    choice.add_argument("--pipeline", metavar="SPEC", help="a registered classical pipeline")
    parser.add_argument("--trust-bundle", action="store_true",
                        help="run a --bundle PATH whose configs are not medden's own: MONAI "
                             "runs the Python they contain (docs/bundles.md, 'Threat model')")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--tile", type=int, default=DEFAULT_TILE,
                        help=f"2-D tile edge of learned models (default {DEFAULT_TILE}: "
                             "about 0.3 GB for the shipped networks on one CPU thread): "
                             "images larger than tile² pixels are denoised in overlapping "
                             "blended tiles; bounds memory")
    parser.add_argument("--tile-3d", type=int, default=96,
                        help="3-D tile edge of learned 3-D models (default 96)")
    parser.add_argument("--slice-batch", type=int, default=8,
                        help="at most this many slices of a volume per call (default 8; "
                             "a trained network takes at most 512² pixels of slices per call)")
    parser.add_argument("--self-ensemble", action="store_true",
                        help="average a learned network over the 8 flips and quarter turns of "
                             "each image (about +0.1 dB PSNR, 8 times slower)")
    parser.add_argument("--strength", type=parse_strength, default=1.0, metavar="S",
                        help="blend the denoised image with the original: x + S*(denoised - x), "
                             "S from 0 (the input unchanged) to 1 (default: the denoiser's "
                             "output); keeps some of the original texture. Named in the "
                             "report and the DICOM DerivationDescription")
    parser.add_argument("--qc", action="store_true",
                        help="quality checks without ground truth, per image in report.json "
                             "('qc') and summarised: the noise before and after (HU for CT), "
                             "whether the residual (input - output) follows the output's "
                             "edges or holds low-frequency structure (flag 'structure'), and "
                             "whether a noisy input came out almost unchanged (flag "
                             "'unchanged'); see docs/adapt.md")


def _device(name: str) -> torch.device:
    import torch

    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise UsageError(f"--device: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available here")
    return device


def _given_network(args: argparse.Namespace) -> Network | None:
    """The network named on the command line, or None (choose by modality)."""
    from medden.denoisers import (
        bundle_for_modality,
        load_bundle,
        load_trained_checkpoint,
        network_from_spec,
    )

    if args.bundle:
        return load_bundle(args.bundle, trust=args.trust_bundle, torchscript=True)
    if args.checkpoint:
        return load_trained_checkpoint(args.checkpoint)
    if args.model:
        return network_from_spec(args.model, pipeline=False)
    if args.pipeline:
        return network_from_spec(args.pipeline, pipeline=True)
    if args.modality:
        return load_bundle(bundle_for_modality(args.modality), torchscript=True)
    return None


def _weights_digest(network: torch.nn.Module) -> str:
    """A digest of a network's parameters and buffers (empty for a classical filter): two
    trainings of one architecture get different DICOM UIDs."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(network.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


class _Runners:
    """One :class:`Denoising` for the given network, or per bundle chosen by modality
    (each loaded once, also when images are computed in several threads; a bundle that
    failed to load fails its images without a retry)."""

    def __init__(self, args: argparse.Namespace, given: Network | None) -> None:
        self.args = args
        self.given = given
        self.runners: dict[str, tuple[Network, Denoising, str]] = {}
        self.missing: dict[str, UsageError] = {}
        self.lock = threading.Lock()

    def _network(self, bundle: str) -> Network:
        from medden.denoisers import load_bundle

        if self.given is not None:
            return self.given
        if bundle in self.missing:
            raise self.missing[bundle]
        try:
            return load_bundle(bundle, torchscript=True)
        except UsageError as exc:
            self.missing[bundle] = exc
            raise

    def __call__(self, image: MedicalImage
                 ) -> tuple[Network, Denoising, str, tuple[str, ...]]:
        """The network for ``image``, its runner, its weights' digest and, for a default
        bundle, the note saying which rule chose it."""
        from medden.default_bundle import choose_bundle

        bundle, notes = "", ()
        if self.given is None:
            choice = choose_bundle(image)
            bundle, notes = choice.bundle, (f"default bundle {choice.bundle}: {choice.reason}",)
        with self.lock:
            if bundle not in self.runners:
                self.runners[bundle] = self._runner(bundle)
        return (*self.runners[bundle], notes)

    def _runner(self, bundle: str) -> tuple[Network, Denoising, str]:
        from medden.ensemble import ENSEMBLE_SUFFIX
        from medden.infer import Denoising

        network = self._network(bundle)
        if self.args.self_ensemble:
            network = replace(network, label=network.label + ENSEMBLE_SUFFIX)
        runner = Denoising(network.network, tile=self.args.tile, tile_3d=self.args.tile_3d,
                           slice_batch=self.args.slice_batch, device=self.args.device,
                           self_ensemble=self.args.self_ensemble,
                           capabilities=network.capabilities)
        return network, runner, _weights_digest(network.network)


def _apply(runner: Denoising, label: str, quiet: bool, strength: float
           ) -> Callable[[torch.Tensor], torch.Tensor]:
    from tqdm import tqdm

    from medden.jobs import in_worker

    def apply(image: torch.Tensor) -> torch.Tensor:
        if strength == 0.0:
            return image
        original = image.clone() if strength < 1.0 else image
        steps = runner.steps(tuple(image.shape))
        with tqdm(total=steps, desc=label, unit="slice", leave=False, position=1,
                  disable=quiet or steps <= 1 or in_worker()) as bar:
            return blend(original, runner(image, out=image, progress=bar.update), strength)

    return apply


def denoising(args: argparse.Namespace) -> tuple[Prepare, dict[str, Any]]:
    """What :func:`medden.process.process_tree` needs to denoise as ``args`` say (the options
    of :func:`add_denoiser_arguments` and ``--modality``, ``--quiet``): ``prepare``, the
    ``method`` and ``options`` recorded in the report, and ``concurrent``: whether images
    may be denoised side by side (:func:`medden.jobs.side_by_side`).

    Raises
    ------
    UsageError
        For options that do not go together, or a denoiser that cannot be loaded.
    """
    from medden.dicom_derive import name_denoiser
    from medden.infer import Capabilities
    from medden.jobs import side_by_side
    from medden.process import Operation
    from medden.qc import quality_checks

    if args.tile < 16 or args.tile_3d < 8 or args.slice_batch < 1:
        raise UsageError("--tile must be at least 16, --tile-3d at least 8, --slice-batch "
                         "at least 1")
    if args.self_ensemble and (args.model or args.pipeline):
        raise UsageError("--self-ensemble is for trained networks (--bundle, --checkpoint or "
                         "the bundle of each image's modality); a classical filter is "
                         "unchanged by it")
    args.device = str(_device(args.device))
    given = _given_network(args)
    runners = _Runners(args, given)

    def prepare(image: MedicalImage, item: ScanItem) -> Operation:
        network, runner, digest, notes = runners(image)
        name_denoiser(image, network.label)
        label = describe(network.label, args.strength)
        return Operation(label, _apply(runner, label, args.quiet, args.strength),
                         derivation=f"denoised by medden ({label})", identity=digest,
                         inspect=quality_checks if args.qc else None,
                         modality=network.modality, notes=notes)

    # the default bundles are shipped trained networks; a given network's stages decide
    concurrent = given is None or side_by_side(
        given.network, (given.capabilities or Capabilities.of(given.network)).learned)
    return prepare, {
        "concurrent": concurrent,
        "method": given.label if given else "default bundle per image",
        "options": {"device": args.device, "tile": args.tile, "tile_3d": args.tile_3d,
                    "slice_batch": args.slice_batch, "self_ensemble": args.self_ensemble,
                    "strength": args.strength},
    }


def run(args: argparse.Namespace) -> int:
    """Denoise the tree; exit 0 when every image succeeded, 1 when some failed."""
    with long_lived():
        prepare, settings = denoising(args)
    return run_tree(args, prepare, command="denoise", **settings)
