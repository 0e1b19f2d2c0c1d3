"""``medden finetune``: adapt a trained network to new images (transfer learning)."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from medden.commands.train import report


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``finetune`` sub-command."""
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune a trained checkpoint or bundle on new images (transfer learning)",
        description=textwrap.fill(
            "Load trained weights (a medden checkpoint, a run folder, a MONAI bundle folder "
            "of medden or a bundle NAME such as xray) and continue training on the "
            "images of --data with a lower learning rate (default 0.1 x the original; a "
            "schedule's min_lr is scaled alike). Prints the validation PSNR of the noisy "
            "inputs, of the starting weights and after fine-tuning. The "
            "original config's recipe, noise, patches and augmentation are kept. When the new "
            "images have another channel count (grey 1 <-> RGB 3) the first and last "
            "convolutions are adapted so the network starts out treating grey content as "
            "before. --freeze encoder keeps the layers that run before each stage's coarsest "
            "resolution fixed (the first half of the layers of networks that never "
            "downsample); --freeze stage1 keeps the first stage of a pipeline fixed."
        ),
        epilog=(
            "example:\n"
            "  medden finetune --from runs/xray/best.pt --data skin/ --output runs/skin \\\n"
            "      --freeze encoder --minutes 30"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--from", dest="source", required=True, metavar="BUNDLE|CHECKPOINT",
                        help="trained weights: checkpoint file, run folder, bundle folder or "
                             "bundle name (looked up as for 'medden denoise --bundle')")
    parser.add_argument("--data", required=True, action="append", metavar="DIR",
                        help="folder of new training images (repeatable)")
    parser.add_argument("--output", required=True, metavar="DIR", help="new run folder")
    parser.add_argument("--freeze", action="append", default=[], choices=["encoder", "stage1"],
                        help="keep the encoder, or the first stage, fixed (repeatable)")
    parser.add_argument("--minutes", type=float, metavar="N", help="wall-clock budget per phase")
    parser.add_argument("--epochs", type=int, metavar="N",
                        help="epochs per phase (default: the original config's)")
    parser.add_argument("--lr", type=float, help="learning rate (default 0.1 x the original)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override any config key, as for 'train'")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted fine-tuning run in --output")
    parser.set_defaults(func=run)


#: What to do about a bundle PATH whose configs are not medden's own.
_OWN_BUNDLES = "Fine-tuning starts only from medden's own bundles, checkpoints and run folders"


def _weights(source: str) -> Path:
    """``--from``: a bundle NAME (shipped or installed; never a folder of the current
    directory), else a checkpoint file, run folder or bundle folder (medden's own).

    Raises
    ------
    UsageError
        When it is none of these (:func:`medden.denoisers.find_bundle` says where it
        looked), or a bundle folder whose configs are not medden's own.
    """
    from medden.denoisers import find_bundle, is_bundle_name

    path = Path(source)
    if is_bundle_name(source) and not path.is_file():
        return find_bundle(source)  # a shipped or installed bundle, not a folder of "."
    if (path / "configs").is_dir():
        return find_bundle(path, hint=_OWN_BUNDLES)
    return path


def run(args: argparse.Namespace) -> int:
    """Fine-tune; exit 0 when the run finished."""
    from medden.train import finetune_config, train

    config = finetune_config(_weights(args.source), args.data, args.output, freeze=args.freeze,
                             minutes=args.minutes, epochs=args.epochs, lr=args.lr,
                             overrides=args.overrides)
    report(train(config, resume=args.resume))
    return 0
