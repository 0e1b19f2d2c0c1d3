"""``medden benchmark``: the papers' evaluation of several denoisers on a folder of images."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medden.bench.config import PARTS, BenchmarkConfig, default
from medden.commands._common import add_shard_argument
from medden.errors import UsageError

_DESCRIPTION = """\
Add seeded noise to every clean image of --data, denoise with every model of --models and
write, into --out: tables in the format of the two-stage paper's Tables I-V (per modality,
noise level, noise type and model: PSNR, SSIM, ΔE for RGB, VIFP, MSE, with their average),
the X-ray attention paper's per-noise ablation (no noise, each noise alone, all combined),
classical filters with per-image oracle tuning next to their given settings, the
Noise2Noise paper's validity-range curves (output PSNR and gain against input PSNR, 15-50
dB), a cost table (parameters, MACs, peak memory, ms per 512x512 image on this machine),
the speed of each model against BM3D (when bm3d is among the models) and a crop figure
per modality. benchmark.md gathers them; CSV and PNG files sit beside it. The same command
gives the same numbers (except times).

Levels (0-255 scale) reach each noise through its 'sigma' parameter, or 'peak' for
poisson (peak = (255/level)^2: the same noise standard deviation at full intensity); a
noise with neither (salt_pepper, mixture) or whose SPEC sets it is run once as written.
Volumes contribute axial slices; images are grouped into modalities by DICOM Modality,
else by their folder (see docs/benchmarks.md)."""

_MODELS_HELP = """\
comma-separated denoisers: registered model or pipeline SPECs (median:size=5, bm3d,
two_stage), trained bundles (a NAME such as xray, or a folder) or training checkpoints /
run folders; include 'identity' for the noisy-input row. A comma followed by key=value
continues the SPEC before it."""


#: Levels of --levels when it is not given (0-255 scale).
DEFAULT_LEVELS = (15.0, 25.0, 50.0)


def _levels(text: str) -> list[float]:
    from medden.bench.conditions import parse_levels

    try:
        return parse_levels(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _skip(text: str) -> set[str]:
    parts = {p.strip() for p in text.split(",") if p.strip()}
    unknown = sorted(parts - set(PARTS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown part '{unknown[0]}'; parts: {', '.join(PARTS)}")
    return parts


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``benchmark`` sub-command."""
    parser = subparsers.add_parser(
        "benchmark",
        help="compare denoisers in the papers' tables, curves and figures",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, required=True, metavar="DIR",
                        help="folder of clean images (DICOM, NIfTI, PNG/TIFF/JPEG)")
    parser.add_argument("--models", required=True, nargs="+", metavar="A,B,...",
                        help=_MODELS_HELP)
    parser.add_argument("--noise", required=True, nargs="+", metavar="SPEC",
                        help="noise SPECs, e.g. gaussian speckle poisson salt_pepper")
    parser.add_argument("--levels", type=_levels, default=None,
                        metavar="L1,L2,...", help="noise levels, 0-255 scale (default 15,25,50)")
    parser.add_argument("--seed", type=int, default=default("seed"),
                        help="noise seed (default %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("benchmark-output"), metavar="DIR",
                        help="output folder (default %(default)s)")
    parser.add_argument("--modality", help="force the intensity normalisation and the "
                        "modality label: ct, mr, xray, rgb")
    parser.add_argument("--max-images", type=int, metavar="N",
                        help="use only the first N files of --data")
    parser.add_argument("--crop", type=int, metavar="PX",
                        help="centre-crop every image to PX x PX (shorter runs)")
    parser.add_argument("--slices", type=int, default=default("slices"), metavar="N",
                        help="evenly spaced slices per volume (default %(default)s: the middle)")
    parser.add_argument("--skip", type=_skip, default=set(), metavar="PART,...",
                        help=f"leave out parts: {', '.join(PARTS)}")
    parser.add_argument("--oracle-models", nargs="+", metavar="A,B,...",
                        help="oracle-tune only these --models entries (default: every "
                        "classical filter with a tuning grid)")
    parser.add_argument("--oracle-noise", nargs="+", metavar="SPEC",
                        help="oracle-tune only under these --noise SPECs (default: every "
                        "noise); the oracle is the slowest part")
    parser.add_argument("--true-sigma", nargs="+", metavar="A,B,...",
                        help="also run these --models entries (classical filters that take "
                        "the noise sigma: bm3d, wavelet) given the true sigma of each Gaussian "
                        "condition (also clipped:noise=gaussian): an extra row 'bm3d (true σ)'")
    parser.add_argument("--curve-noise", nargs="+", metavar="SPEC",
                        help="draw curves only for these --noise SPECs (default: every noise "
                        "with a level)")
    parser.add_argument("--curve-images", type=int, default=default("curve_images"),
                        metavar="N", help="images per modality in the curves (default "
                        "%(default)s)")
    parser.add_argument("--figure-crop", type=int, default=default("figure_crop"),
                        metavar="PX", help="crop edge in the figures (default %(default)s)")
    parser.add_argument("--cost-repeats", type=int, default=default("cost_repeats"),
                        metavar="N", help="timed runs per model (default %(default)s)")
    parser.add_argument("--allow-untrained", action="store_true",
                        help="admit learned models given by SPEC (random weights) to the "
                        "cost table only")
    parser.add_argument("--trust-bundle", action="store_true",
                        help="run --models bundle PATHs whose configs are not medden's own: "
                        "MONAI runs the Python they contain (docs/bundles.md, 'Threat model')")
    parser.add_argument("--self-ensemble", action="store_true",
                        help="also score every trained network averaged over the 8 flips and "
                        "quarter turns of the image (a row labelled '... (self-ensemble x8)')")
    parser.add_argument("--workers", type=int, default=default("workers"), metavar="N",
                        help="processes scoring images in parallel (default %(default)s; the "
                        "numbers do not depend on it; BM3D and the other filters use one core "
                        "each, so up to one worker per core shortens long runs)")
    add_shard_argument(parser, "score only the I-th (0 to N-1) of N parts of the images "
                       "(balanced by pixels), for N independent jobs with one --out each; "
                       "curves, cost and figures are left out; 'medden report benchmark' "
                       "merges the parts' quality tables into those of one run. Under "
                       "torchrun or srun the ranks split the images by themselves and rank "
                       "0 writes everything (docs/scale.md)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or estimate")
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> BenchmarkConfig:
    """The :class:`BenchmarkConfig` of parsed arguments."""
    from medden.bench.methods import split_model_entries

    return BenchmarkConfig(
        data=args.data, models=split_model_entries(args.models), noises=list(args.noise),
        levels=list(args.levels or DEFAULT_LEVELS), out=args.out, seed=args.seed,
        modality=args.modality,
        max_images=args.max_images, crop=args.crop, slices=args.slices, skip=set(args.skip),
        oracle_models=(None if args.oracle_models is None
                       else split_model_entries(args.oracle_models)),
        oracle_noises=None if args.oracle_noise is None else list(args.oracle_noise),
        true_sigma=split_model_entries(args.true_sigma or []),
        curve_noises=None if args.curve_noise is None else list(args.curve_noise),
        curve_images=args.curve_images, figure_crop=args.figure_crop,
        cost_repeats=args.cost_repeats, allow_untrained=args.allow_untrained,
        trust_bundles=args.trust_bundle,
        self_ensemble=args.self_ensemble, workers=args.workers, shard=args.shard,
        progress=not args.quiet,
    )


def _announce_fixed(noises: list[str]) -> None:
    """One line on stderr for each noise the levels do not reach (it runs once, as written)."""
    from medden.bench.conditions import NoiseSetting

    for text in noises:
        if NoiseSetting.parse(text).parameter is None:
            print(f"note: --noise {text} runs once, as written: --levels reaches a noise only "
                  "through a 'sigma' or 'peak' parameter its SPEC leaves unset",
                  file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; print where the report is."""
    from medden import distributed
    from medden.bench.suite import run_benchmark

    config = config_from_args(args)
    with distributed.world() as rank:
        lead = rank is None or rank.index == 0
        if args.levels is not None and lead:  # asked for levels: say which they miss
            _announce_fixed(args.noise)
        report = run_benchmark(config, rank)
    if report is not None:
        print(f"report: {report}")
    return 0
