"""Ablation: long skips merged by concatenation (``unet_concat``) vs summation (``fcn_sum``).

The X-ray attention paper (§4.2) claims that, for a shallow encoder-decoder denoising chest
X-rays, merging the encoder's skip into the decoder by concatenation (U-Net) beats
element-wise summation (FCN).  This script checks the claim on a small, equal budget: both
networks (identical except for the merge) start from the same seed and see the very same
batches: random 64x64 patches of the development X-rays with additive Gaussian noise
(sigma 25 on the 0-255 scale), Adam with learning rate 1e-3, MSE loss.  They are then scored
by PSNR on held-out X-rays of other patients (the file-name prefix is the patient id), full
512x512 images, with the same noise for both models, so the comparison is paired.

Plain PyTorch on purpose (a one-off experiment, not the project's training engine).  Run::

    python docs/examples/ablation_concat_vs_sum.py --iterations 600 --seeds 0
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from skimage.io import imread

from medden.registry import model_registry

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "xray"


def load_split(folder: Path, held_out: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and held-out images ``(N, 1, H, W)`` in [0, 1], split by patient id."""
    paths = sorted(folder.glob("*.png"))
    train_paths, test_paths = paths[:-held_out], paths[-held_out:]
    patients = {p.name.split("_")[0] for p in train_paths}
    if any(p.name.split("_")[0] in patients for p in test_paths):
        raise RuntimeError("held-out patients overlap the training patients")

    def load(selection: list[Path]) -> torch.Tensor:
        arrays = [imread(p, as_gray=True).astype(np.float32) for p in selection]
        return torch.from_numpy(np.stack(arrays) / 255.0).unsqueeze(1)

    return load(train_paths), load(test_paths)


def noisy(clean: torch.Tensor, sigma: float, generator: torch.Generator) -> torch.Tensor:
    """``clean`` plus white Gaussian noise of ``sigma`` on the 0-255 scale."""
    return clean + (sigma / 255.0) * torch.randn(clean.shape, generator=generator)


def random_patches(
    images: torch.Tensor, batch: int, size: int, generator: torch.Generator
) -> torch.Tensor:
    """``batch`` random ``size``x``size`` crops of random images."""
    n, _, height, width = images.shape
    index = torch.randint(n, (batch,), generator=generator).tolist()
    top = torch.randint(height - size + 1, (batch,), generator=generator).tolist()
    left = torch.randint(width - size + 1, (batch,), generator=generator).tolist()
    return torch.stack([images[i, :, t : t + size, s : s + size]
                        for i, t, s in zip(index, top, left, strict=True)])


def train(name: str, images: torch.Tensor, args: argparse.Namespace, seed: int) -> torch.nn.Module:
    """Train the registered model ``name`` on the fixed stream of noisy patches of ``seed``."""
    torch.manual_seed(seed)
    model = model_registry.create(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(args.iterations):
        clean = random_patches(images, args.batch, args.patch, generator)
        loss = torch.nn.functional.mse_loss(model(noisy(clean, args.sigma, generator)), clean)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def psnr(output: torch.Tensor, clean: torch.Tensor) -> float:
    """PSNR in dB of ``output`` clipped to [0, 1] against ``clean`` (peak 1)."""
    mse = torch.mean((output.clamp(0.0, 1.0) - clean) ** 2).item()
    return 10.0 * math.log10(1.0 / mse)


def evaluate(model: torch.nn.Module | None, images: torch.Tensor, sigma: float) -> list[float]:
    """Per-image PSNR of ``model`` (``None``: the noisy input) with noise of a fixed seed."""
    generator = torch.Generator().manual_seed(12345)
    scores = []
    with torch.inference_mode():
        for clean in images:
            x = noisy(clean[None], sigma, generator)
            scores.append(psnr(x if model is None else model(x), clean[None]))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--iterations", type=int, default=600)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--sigma", type=float, default=25.0)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--held-out", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    train_images, test_images = load_split(args.data, args.held_out)
    print(f"{len(train_images)} training / {len(test_images)} held-out X-rays, "
          f"{args.iterations} iterations x batch {args.batch} x {args.patch}^2, "
          f"sigma {args.sigma:g}, seeds {args.seeds}")
    noisy_scores = evaluate(None, test_images, args.sigma)
    print(f"noisy input              PSNR {np.mean(noisy_scores):6.2f} dB")
    for seed in args.seeds:
        results = {}
        for name in ("fcn_sum", "unet_concat"):
            start = time.perf_counter()
            model = train(name, train_images, args, seed)
            minutes = (time.perf_counter() - start) / 60
            results[name] = np.array(evaluate(model, test_images, args.sigma))
            print(f"seed {seed} {name:12s} PSNR {results[name].mean():6.2f} "
                  f"± {results[name].std():.2f} dB  (train {minutes:.1f} min)", flush=True)
        gain = results["unet_concat"] - results["fcn_sum"]
        print(f"seed {seed} concat - sum: {gain.mean():+.2f} dB mean, concatenation better "
              f"on {(gain > 0).sum()}/{len(gain)} held-out images", flush=True)


if __name__ == "__main__":
    main()
