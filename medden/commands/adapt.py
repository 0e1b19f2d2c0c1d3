"""``medden adapt``: a bundle fine-tuned on a site's own noisy images (self-supervised)."""

from __future__ import annotations

import argparse
import tempfile
import textwrap
from pathlib import Path

from medden.commands.train import summary

_RECIPES = ("neighbor2neighbor", "n2v2", "noise2noise")  # medden.train.adapt.ADAPT_RECIPES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``adapt`` sub-command."""
    parser = subparsers.add_parser(
        "adapt",
        help="adapt a bundle to your own noisy images, without clean ones (self-supervised)",
        description=textwrap.fill(
            "Fine-tune a trained bundle on noisy images only (any format 'medden denoise' "
            "reads), in the bundle's own intensity convention, with a self-supervised recipe: "
            "neighbor2neighbor (default; random sub-sampled pairs), n2v2 (blind-spot masks; "
            "--set self_supervised.struct=row|column|box for noise correlated along rows, "
            "columns or in a neighbourhood) or noise2noise (with --pairs: a second "
            "acquisition of each image). The learning rate is 0.1 x the bundle's and only "
            "falls (halved on a plateau); the run stops early when the self-supervised "
            "validation loss (the network on fixed sub-sampled pairs of held-out noisy "
            "images) stops improving. When the adapted weights do not lower that loss below "
            "the base weights', the new bundle keeps the base weights and says so. Writes a "
            "new bundle folder (--out) with a bumped version, a changelog and the "
            "adaptation's provenance (base bundle and version, recipe, minutes, image count, "
            "a hash of the data list; no names) in configs/metadata.json; the base bundle is "
            "not modified. Exit status: 0 done, 2 usage error."
        ),
        epilog=(
            "examples:\n"
            "  medden adapt --from ct --data site_ct/ --minutes 20 --out bundles/ct_site\n"
            "  medden denoise site_ct/ out/ --bundle bundles/ct_site --qc"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--from", dest="source", required=True, metavar="BUNDLE",
                        help="base bundle: a name (ct, xray, mri, multimodal) or a folder")
    parser.add_argument("--data", required=True, action="append", metavar="NOISY_DIR",
                        help="folder of noisy images (repeatable)")
    parser.add_argument("--out", required=True, type=Path, metavar="NEW_BUNDLE",
                        help="new bundle folder (must not exist or be empty)")
    parser.add_argument("--recipe", choices=_RECIPES,
                        help="self-supervised recipe (default: chosen by the images' noise: "
                             "neighbor2neighbor when it is independent from pixel to pixel, "
                             "n2v2 with a structN2V box mask when it is correlated, as CT "
                             "and most real noise is; noise2noise with --pairs)")
    parser.add_argument("--minutes", type=float, default=10.0, metavar="N",
                        help="training budget (default 10)")
    parser.add_argument("--pairs", action="append", metavar="DIR",
                        help="noise2noise: folder of second acquisitions (one per --data)")
    parser.add_argument("--lr", type=float, help="learning rate (default 0.1 x the bundle's)")
    parser.add_argument("--name", help="name of the new bundle (default: the folder's name)")
    parser.add_argument("--run", type=Path, metavar="DIR",
                        help="keep the training run (checkpoints, log.csv, TensorBoard) in DIR "
                             "(default: a temporary folder, removed)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override any training config key")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Adapt; exit 0 when the new bundle is written."""
    from medden.denoisers import find_bundle
    from medden.train.adapt import adapt

    overrides = (["log.progress=false"] if args.quiet else []) + args.overrides
    with tempfile.TemporaryDirectory(prefix="medden-adapt-") as scratch:
        base = find_bundle(args.source, hint="Adapting starts only from medden's own bundles")
        result = adapt(base, args.data, args.out,
                       args.run or Path(scratch) / "run", recipe=args.recipe,
                       minutes=args.minutes, pairs=args.pairs, lr=args.lr, name=args.name,
                       overrides=overrides)
    print(summary(result.training).splitlines()[0])  # the recipe, iterations and time
    verdict = ("kept the base weights: the self-supervised validation loss did not improve"
               if result.kept_base else "adapted weights")
    print(f"validation loss (sub-sampled pairs): base {result.start_loss:.6g}, adapted "
          f"{result.best_loss:.6g}; {verdict}")
    print(f"bundle written: {result.bundle} (version {result.version})")
    return 0
