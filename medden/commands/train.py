"""``medden train``: train or retrain a pipeline from a YAML config."""

from __future__ import annotations

import argparse
import os
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the engine (ignite, MONAI data) is imported only when training runs
    from medden.train import TrainResult


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` sub-command."""
    parser = subparsers.add_parser(
        "train",
        help="train a registered model or pipeline on a folder of images (YAML config)",
        description=textwrap.fill(
            "Train the pipeline named in CONFIG (a YAML file; see configs/ for the papers' "
            "setups) on folders of images of any format medden reads. Noisy inputs are drawn "
            "on the fly by the config's noise SPEC, fresh every epoch and reproducible by "
            "seed. Recipes: noise2clean, noise2noise (independent noisy pairs, drawn or read "
            "from data.pairs), staged (stage by stage, then optional joint fine-tuning), "
            "two_stage (separate objectives of the noise-estimation and reconstruction "
            "networks). The run folder (output) receives best.pt (best validation), last.pt "
            "(resumable, written atomically every epoch and every checkpoint_every "
            "iterations), log.csv, tb/ (TensorBoard), config.yaml and result.json. "
            "Data-parallel: set distributed.nproc or launch under 'torchrun "
            "--nproc_per_node=N' (gloo on CPU). Exit status: 0 done, 2 usage error."
        ),
        epilog=(
            "examples:\n"
            "  medden train configs/xray_mse_ssim.yaml --set data.train=[xray/]\n"
            "  medden train my.yaml --set optimizer.lr=5e-4 --set epochs=5\n"
            "  medden train my.yaml --resume        # continue after an interruption"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", type=Path, metavar="CONFIG", help="YAML training config")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config key (dotted for nested keys, value read as YAML), e.g. "
             "--set data.patch_size=96 --set noise=speckle:sigma=25; repeatable")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in the output folder from its last.pt")
    parser.set_defaults(func=run)


def summary(result: TrainResult) -> str:
    """A few lines describing a finished run."""
    lines = [f"recipe {result.recipe}: {', '.join(result.phases)}; "
             f"{result.iterations} iterations in {result.seconds:.1f} s "
             f"({result.iterations_per_second:.2f} it/s)"]
    if result.input_metrics:
        start = (f"start {result.start_metrics['psnr']:.2f} dB, " if result.start_metrics
                 else "")
        lines.append(f"validation PSNR: noisy input {result.input_metrics['psnr']:.2f} dB, "
                     f"{start}last {result.final_metrics.get('psnr', float('nan')):.2f} dB")
    lines.append(f"weights: {result.best or result.last}")
    return "\n".join(lines)


def report(result: TrainResult) -> None:
    """Print :func:`summary` once (on rank 0 when launched by torchrun)."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(summary(result))


def run(args: argparse.Namespace) -> int:
    """Train; exit 0 when the run finished."""
    from medden.train import load_config, train

    report(train(load_config(args.config, args.overrides), resume=args.resume))
    return 0
