"""Average the weights of two checkpoints of the same network (a "model soup").

A fine-tune that moves a network towards one kind of noise can cost it some of another;
the average of the weights before and after often keeps most of the gain and little of the
loss (Wortsman et al., "Model soups", ICML 2022).  ``ct_denoise`` 0.7.0 is the average of
0.6.0 and its log-MSE fine-tune (``bundles/ct_denoise/docs/README.md``)::

    python docs/examples/average_weights.py bundles/ct_denoise runs/ct_logmse_0.7.0/last.pt \\
        runs/ct_soup_0.7.0.pt --weight 0.5

The output is a medden checkpoint with the second checkpoint's run information and the
averaged weights: ``(1 - weight) * FIRST + weight * SECOND`` for every floating-point tensor
(integer buffers are taken from SECOND).  ``medden bundle`` exports it like any checkpoint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from medden.train import read_checkpoint


def average(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor],
            weight: float) -> dict[str, torch.Tensor]:
    """``(1 - weight) * first + weight * second`` for the floating-point tensors."""
    if first.keys() != second.keys():
        raise SystemExit(f"the checkpoints hold different networks: "
                         f"{sorted(first.keys() ^ second.keys())[:5]} ...")
    return {name: (1.0 - weight) * first[name] + weight * tensor if tensor.is_floating_point()
            else tensor for name, tensor in second.items()}


def main() -> None:
    """Write the averaged checkpoint."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", help="checkpoint or bundle folder")
    parser.add_argument("second", help="checkpoint or bundle folder of the same network")
    parser.add_argument("out", type=Path, help="the averaged checkpoint (.pt) to write")
    parser.add_argument("--weight", type=float, default=0.5,
                        help="share of SECOND in the average (default 0.5)")
    args = parser.parse_args()
    if not 0.0 <= args.weight <= 1.0:
        raise SystemExit("--weight must be in [0, 1]")
    checkpoint = read_checkpoint(args.second)
    checkpoint["model"] = average(read_checkpoint(args.first)["model"], checkpoint["model"],
                                  args.weight)
    torch.save(checkpoint, args.out)
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
