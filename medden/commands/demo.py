"""``medden demo``: noise → denoise → metrics → figure on a folder of sample images."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

from medden.commands._common import item_generator
from medden.errors import UsageError
from medden.registry import noise_registry, pipeline_registry
from medden.spec import parse_spec

if TYPE_CHECKING:  # torch, the readers and the metrics are imported when the command runs
    from medden.io import MedicalImage, ScanItem
    from medden.process import Operation


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="the whole job on sample images: add noise, denoise, score, draw",
        description=(
            "Add noise to every image of SAMPLES, denoise the noisy copies, print PSNR/SSIM of "
            "noisy and denoised images against the clean ones, and write a clean / noisy / "
            "denoised figure. Writes OUT/noisy, OUT/denoised, OUT/metrics.csv and "
            "OUT/side_by_side.png (previous demo outputs in OUT are replaced)."
        ),
    )
    parser.add_argument("samples", type=Path, help="folder of clean images (e.g. samples/)")
    parser.add_argument("--out", type=Path, default=Path("demo-output"),
                        help="output folder (default demo-output)")
    parser.add_argument("--noise", default="gaussian:sigma=25", metavar="SPEC",
                        help="noise SPEC (default gaussian:sigma=25)")
    parser.add_argument("--model", default="bm3d", metavar="SPEC",
                        help="denoiser SPEC (default bm3d; needs the bm3d extra)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    parser.set_defaults(func=run)


def _figure_rows(samples: Path, noisy: Path, denoised: Path, scores: dict) -> list:
    from medden.intensity import fit_intensity
    from medden.io import scan
    from medden.io.lossy import find_output
    from medden.process import read_item

    rows = []
    noisy_items = {i.key: i for i in scan(noisy).items}
    denoised_items = {i.key: i for i in scan(denoised).items}
    for item in scan(samples).items:
        key = item.label
        noisy_item, denoised_item = (find_output(item, noisy_items),
                                     find_output(item, denoised_items))
        if noisy_item is None or denoised_item is None:
            continue
        clean = read_item(item)
        mapping = fit_intensity(clean)
        panels = [("clean", mapping.normalise(clean.data))]
        for label, found in (("noisy", noisy_item), ("denoised", denoised_item)):
            psnr = scores[label].get(key, math.nan)
            panels.append((f"{label} {psnr:.2f} dB", mapping.normalise(read_item(found).data)))
        rows.append((key, panels))
    return rows


def run(args: argparse.Namespace) -> int:
    """Run the demo; exit 1 when any sample failed."""
    from medden.evaluation import evaluate_folders
    from medden.figures import side_by_side
    from medden.infer import Denoising
    from medden.process import Operation, process_tree

    if not args.samples.is_dir():
        raise UsageError(f"samples folder '{args.samples}' does not exist")
    noise = noise_registry.create(args.noise)
    network = pipeline_registry.create("single", model=parse_spec(args.model))
    runner = Denoising(network)
    noisy_dir, denoised_dir = args.out / "noisy", args.out / "denoised"

    def add_noise(image: MedicalImage, item: ScanItem) -> Operation:
        generator = item_generator(args.seed, item.key)
        return Operation(args.noise, lambda t: noise(t.unsqueeze(0), generator)[0],
                         f"synthetic noise ({args.noise})")

    def denoise(image: MedicalImage, item: ScanItem) -> Operation:
        return Operation(args.model, lambda t: runner(t, out=t),
                         f"denoised by medden ({args.model})")

    reports = [
        process_tree(args.samples, noisy_dir, add_noise, command="noise", method=args.noise,
                     existing="overwrite", progress=False),
        process_tree(noisy_dir, denoised_dir, denoise, command="denoise", method=args.model,
                     existing="overwrite", progress=False),
    ]
    scores: dict[str, dict[str, float]] = {}
    lines = []
    for label, folder in (("noisy", noisy_dir), ("denoised", denoised_dir)):
        rows, _ = evaluate_folders(args.samples, folder)
        scores[label] = {r["file"]: r["psnr"] for r in rows}
        lines += [(r["file"], label, r["psnr"], r["ssim"]) for r in rows]
    print(f"noise {args.noise}, denoiser {args.model}")
    print(f"{'image':<40} {'version':<9} {'PSNR dB':>8} {'SSIM':>6}")
    for file, label, psnr, ssim in sorted(lines, key=lambda x: (x[0] == "mean", x[0])):
        print(f"{file:<40} {label:<9} {psnr:>8.2f} {ssim:>6.3f}")
    with (args.out / "metrics.csv").open("w") as handle:
        handle.write("image,version,psnr,ssim\n")
        handle.writelines(f"{f},{v},{p:.4f},{s:.4f}\n" for f, v, p, s in lines)
    figure = side_by_side(_figure_rows(args.samples, noisy_dir, denoised_dir, scores),
                          args.out / "side_by_side.png")
    print(f"figure: {figure}")
    failed = sum(len(r.failed) for r in reports)
    if failed:
        print(f"{failed} image(s) failed; see {args.out}/*/report.json")
    return 1 if failed else 0
