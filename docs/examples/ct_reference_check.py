"""How much noise CT reference slices carry, and what a bundle does to them, clean and noisy.

For each slice (2-D DICOM or NIfTI in HU; a volume gives its middle slice) prints, in HU
inside the body (reference above -500 HU):

* ``own noise``: the noise the gate's estimator reads on the clean slice (upper quartile of
  32x32 tiles, :func:`medden_pipelines.noise_gate.tile_noise_sigma`): the reference's own
  noise, which a denoiser removes and an RMSE against the reference counts as error;
* ``change``: the RMSE between the bundle's output on the clean slice and the slice;
* for each ``--noise`` SPEC (one draw, seeded): the RMSE of the noisy slice and of the
  bundle's output against the clean slice, in-process (whole 512² slices, no tiling).

``bundles/ct_denoise/docs/README.md`` ("Tried after 0.6.0") quotes it::

    python docs/examples/ct_reference_check.py bundles/ct_denoise /tmp/val_ct/*.dcm \\
        --noise ct_lowdose:hu=20 ct_lowdose:hu=40,kernel=hann
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from medden.intensity import CT_MAP, CT_WINDOW
from medden.io import read_image
from medden.registry import noise_registry
from medden.train import load_checkpoint
from medden_pipelines.noise_gate import tile_noise_sigma

BODY_HU = -500.0


def middle_slice(path: str) -> np.ndarray:
    """The slice in HU (the middle one of a volume)."""
    data = np.asarray(read_image(path).data, np.float32)[0]
    return data if data.ndim == 2 else data[data.shape[0] // 2]


def rmse(image: torch.Tensor, clean: torch.Tensor, body: torch.Tensor) -> float:
    """RMSE in HU of a normalised ``(1, 1, H, W)`` image against ``clean`` inside ``body``."""
    return float(((image - clean)[0, 0][body] * CT_MAP.scale).pow(2).mean().sqrt())


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="bundle folder or checkpoint")
    parser.add_argument("slices", nargs="+", help="DICOM or NIfTI files in HU")
    parser.add_argument("--noise", nargs="*", default=[], help="noise SPECs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    network, _ = load_checkpoint(args.bundle)
    noises = [noise_registry.create(spec) for spec in args.noise]
    print("slice", "own noise", "change", *[f"{s}: noisy / out" for s in args.noise], sep="\t")
    for path in args.slices:
        hu = middle_slice(path)
        clean = torch.from_numpy(CT_MAP.normalise(np.clip(hu, *CT_WINDOW)))[None, None].float()
        body = torch.from_numpy(hu > BODY_HU)

        with torch.inference_mode():
            own = float(tile_noise_sigma(clean)) * CT_MAP.scale
            row = [f"{own:.1f}", f"{rmse(network(clean), clean, body):.1f}"]
            for noise in noises:
                noisy = noise(clean, torch.Generator().manual_seed(args.seed))
                row.append(f"{rmse(noisy, clean, body):.1f} / "
                           f"{rmse(network(noisy), clean, body):.1f}")
        print(path.rsplit("/", 1)[-1], *row, sep="\t", flush=True)


if __name__ == "__main__":
    main()
