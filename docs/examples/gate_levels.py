"""Compare noise-gate settings of a prefiltered bundle on the images of a folder.

The prefiltered pipeline's gate (``medden_pipelines.noise_gate.apply_gate``) decides from the
noise left after the switching median filter whether an image keeps its pixels (all but its
impulses) or takes the network's output.  This script runs the filter and the network once per
image and noise, then applies each gate setting to the same outputs, so settings are compared
on identical network outputs.  The noise of each image is drawn exactly as ``medden
benchmark`` draws it (same seed, image key and condition), so the "no gate" column equals the
benchmark's PSNR of the bundle without its gate:

    python docs/examples/heldout_split.py configs/bundles/multimodal_denoise.yaml /tmp/mm_all \\
        --group folder
    python docs/examples/gate_levels.py /tmp/mm_all bundles/multimodal_denoise \\
        --gates 0.75:1.5:2 1:1.5:2 1:2:3

A gate is ``QUANTILE:CLEAN:NOISY`` (the pipeline's ``gate_quantile``, ``clean_sigma``,
``noisy_sigma``; levels on the 0-255 scale).  Prints one table per modality: mean PSNR (dB) of
the output without a gate, and each gate's difference from it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from medden.bench.conditions import NoiseSetting, parse_levels, quality_conditions
from medden.bench.data import load_images
from medden.bench.methods import resolve_method
from medden.bench.runner import noisy_image
from medden.metrics import psnr
from medden_pipelines.noise_gate import apply_gate
from medden_pipelines.prefiltered import PrefilteredPipeline

BAR_NOISES = ["gaussian", "poisson:peak=30", "speckle:sigma=25", "salt_pepper:amount=0.05",
              "mixture"]


def parse_gate(text: str) -> tuple[float, float, float]:
    """``"1:1.5:2"`` -> (quantile 1, clean_sigma 1.5, noisy_sigma 2)."""
    try:
        quantile, clean, noisy = (float(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a gate is QUANTILE:CLEAN:NOISY, got '{text}'") from None
    if not (0 <= quantile <= 1 and 0 <= clean < noisy):
        raise argparse.ArgumentTypeError(
            f"need 0 <= QUANTILE <= 1 and 0 <= CLEAN < NOISY, got '{text}'")
    return quantile, clean, noisy


def main() -> None:
    """Print the mean PSNR of each gate setting per modality and condition."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="folder of clean images")
    parser.add_argument("bundle", help="bundle folder (or checkpoint) of a prefiltered pipeline")
    parser.add_argument("--gates", nargs="+", type=parse_gate, required=True,
                        metavar="QUANTILE:CLEAN:NOISY")
    parser.add_argument("--noise", nargs="+", default=BAR_NOISES, metavar="SPEC")
    parser.add_argument("--levels", default="2,15,25,50", help="levels of level noises")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crop", type=int, default=256, help="centre crop (0: whole images)")
    args = parser.parse_args()
    network = resolve_method(args.bundle).network
    if not isinstance(network, PrefilteredPipeline):
        raise SystemExit(f"{args.bundle} is not a prefiltered pipeline (it has no gate)")
    images, problems = load_images(args.data, crop=args.crop or None)
    for path, reason in problems:
        print(f"skipped {path}: {reason}")
    conditions = quality_conditions([NoiseSetting.parse(n) for n in args.noise],
                                    parse_levels(args.levels))
    scores: dict[tuple[str, str], list[list[float]]] = {}
    with torch.no_grad():
        for image in images:
            clean = image.clean.unsqueeze(0).numpy()
            for condition in conditions:
                x = noisy_image(image, condition, condition.build(), args.seed)
                prefiltered = network.stages["prefilter"](x)
                denoised = network.stages["model"](prefiltered)
                outputs = [denoised] + [
                    apply_gate(x, prefiltered, denoised, clean_sigma / 255, noisy_sigma / 255,
                               quantile) for quantile, clean_sigma, noisy_sigma in args.gates]
                name = condition.noise if condition.level is None else \
                    f"{condition.noise} σ {condition.level:g}"
                scores.setdefault((image.modality, name), []).append(
                    [psnr(clean, np.clip(o.numpy(), 0, 1), 1.0) for o in outputs])
            print(f"{image.key}", flush=True)
    header = ["condition", "no gate"] + [":".join(f"{v:g}" for v in g) for g in args.gates]
    for modality in dict.fromkeys(m for m, _ in scores):
        rows = {name: np.mean(values, axis=0) for (m, name), values in scores.items()
                if m == modality}
        count = len(scores[(modality, next(iter(rows)))])
        print(f"\n{modality} ({count} images): mean PSNR without a gate, each gate's difference")
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for name, means in rows.items():
            cells = [f"{means[0]:.2f}"] + [f"{m - means[0]:+.2f}" for m in means[1:]]
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
