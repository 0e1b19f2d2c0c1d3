"""Helpers of the measurements in docs/adapt.md (adaptation, CAREamics, zero-shot, trust checks).

Every step is a subcommand; docs/adapt.md gives the whole sequence of commands.

    python docs/examples/adapt_study.py npy NOISY/ NPY/          # images -> float32 .npy
    python docs/examples/adapt_study.py from-npy NPY/ LIKE/ OUT/  # .npy -> images like LIKE/
    python docs/examples/adapt_study.py bm3d NOISY/ CLEAN/ OUT/   # BM3D told the true noise
    python docs/examples/adapt_study.py grey IN/ OUT/ --first 58  # RGB -> grey PNG (fluorescence)

``npy`` writes each image's first channel in its original units (HU for CT) as
``NPY/<relative path>.npy``, so that a tool outside medden (CAREamics, in its own
environment) reads exactly the noisy values medden reads; ``from-npy`` writes its outputs
back in the format, metadata and intensity convention of the images in LIKE/, for
``medden evaluate``.  ``bm3d`` writes OUT/true_sigma/ (BM3D given the standard deviation of
the drawn noise, noisy - clean, on the 0-255 scale) and OUT/true_psd/ (given its power
spectrum, as ``medden benchmark --true-sigma bm3d`` does for correlated noise), and prints
the seconds per image.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from medden.bench.runner import true_psd
from medden.intensity import fit_intensity
from medden.io import MedicalImage, read_image, write_image
from medden.registry import model_registry

#: Files next to the images that are not images.
NOT_IMAGES = {".json", ".csv", ".md", ".txt", ".npy"}


def images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted by relative path)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix not in NOT_IMAGES)


def to_npy(args: argparse.Namespace) -> None:
    """Each image's first channel, original units, as float32 .npy under OUT."""
    for path in images(args.input):
        target = args.out / (str(path.relative_to(args.input)) + ".npy")
        target.parent.mkdir(parents=True, exist_ok=True)
        np.save(target, read_image(path).data[0].astype(np.float32))
    print(f"{len(images(args.input))} images -> {args.out}")


def from_npy(args: argparse.Namespace) -> None:
    """Write NPY/<rel>.npy as OUT/<rel>, in the format and metadata of LIKE/<rel>."""
    count = 0
    for path in images(args.like):
        relative = path.relative_to(args.like)
        values = np.load(args.npy / (str(relative) + ".npy")).astype(np.float32)
        like = read_image(path)
        data = np.broadcast_to(values, like.data.shape).copy()
        low, high = like.meta.value_range
        if np.dtype(like.meta.original_dtype).kind in "iu":  # keep the stored range
            data = np.clip(data, low, high)
        (args.out / relative).parent.mkdir(parents=True, exist_ok=True)
        write_image(MedicalImage(data=data, meta=like.meta), args.out / relative,
                    derivation="denoised outside medden")
        count += 1
    print(f"{count} images -> {args.out}")


def bm3d(args: argparse.Namespace) -> None:
    """BM3D on NOISY/ given the true sigma and the true spectrum of the noise (vs CLEAN/)."""
    filtered = 0
    started = time.perf_counter()
    for path in images(args.noisy):
        relative = path.relative_to(args.noisy)
        noisy_image, clean_image = read_image(path), read_image(args.clean / relative)
        mapping = fit_intensity(clean_image, args.modality)
        noisy = mapping.normalise(noisy_image.data)
        clean = mapping.normalise(clean_image.data)
        drawn = (noisy - clean).astype(np.float64)
        changed = drawn[drawn != 0]
        sigma = float(changed.std() * 255.0)
        outputs = {
            "true_sigma": model_registry.create(f"bm3d:sigma={sigma:.6g}"),
            "true_psd": model_registry.create("bm3d").with_psd(
                true_psd(torch.from_numpy(noisy)[None], torch.from_numpy(clean))),
        }
        for name, model in outputs.items():
            out = np.clip(model.filter_image(noisy), 0.0, 1.0)
            # Values outside the intensity window (CT padding outside the scanner's field of
            # view, -2000 HU and lower) are kept as they are, as medden denoise keeps them.
            out = np.where((noisy < 0.0) | (noisy > 1.0), noisy, out)
            target = args.out / name / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            write_image(MedicalImage(data=mapping.denormalise(out), meta=noisy_image.meta),
                        target, derivation="BM3D")
        filtered += 1
        print(f"{relative}: true sigma {sigma:.3f} (0-255)", flush=True)
    seconds = time.perf_counter() - started
    print(f"{filtered} images, {seconds / max(filtered, 1) / 2:.1f} s per image and setting")


def grey(args: argparse.Namespace) -> None:
    """The mean of the channels of the first N images of IN as 8-bit grey PNG under OUT."""
    from PIL import Image

    args.out.mkdir(parents=True, exist_ok=True)
    chosen = images(args.input)[args.skip:args.skip + args.first]
    for path in chosen:
        rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        plane = np.round(rgb.mean(axis=2)).astype(np.uint8)
        crop = args.crop
        if crop and min(plane.shape) >= crop:
            top, left = (plane.shape[0] - crop) // 2, (plane.shape[1] - crop) // 2
            plane = plane[top:top + crop, left:left + crop]
        Image.fromarray(plane).save(args.out / (path.stem + ".png"))
    print(f"{len(chosen)} images -> {args.out}")


def main() -> None:
    """Parse the subcommand and run it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    npy = commands.add_parser("npy", help="images -> float32 .npy (first channel)")
    npy.add_argument("input", type=Path)
    npy.add_argument("out", type=Path)
    npy.set_defaults(run=to_npy)
    back = commands.add_parser("from-npy", help=".npy -> images like LIKE/")
    back.add_argument("npy", type=Path)
    back.add_argument("like", type=Path)
    back.add_argument("out", type=Path)
    back.set_defaults(run=from_npy)
    block = commands.add_parser("bm3d", help="BM3D told the true sigma / spectrum")
    block.add_argument("noisy", type=Path)
    block.add_argument("clean", type=Path)
    block.add_argument("out", type=Path)
    block.add_argument("--modality", help="intensity normalisation (ct, mr, xray, rgb)")
    block.set_defaults(run=bm3d)
    to_grey = commands.add_parser("grey", help="RGB -> 8-bit grey PNG")
    to_grey.add_argument("input", type=Path)
    to_grey.add_argument("out", type=Path)
    to_grey.add_argument("--first", type=int, default=10**9)
    to_grey.add_argument("--skip", type=int, default=0)
    to_grey.add_argument("--crop", type=int, default=0, help="centre crop edge (0: none)")
    to_grey.set_defaults(run=grey)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
