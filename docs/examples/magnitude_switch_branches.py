"""Write each branch of a ``magnitude_switch`` bundle as a checkpoint folder of its own.

The inverse of ``magnitude_switch_checkpoint.py``: a training run that goes on from one branch
of the MRI bundle needs that branch alone as ``init.weights``. For each branch this writes
OUT/zero_mean and OUT/magnitude, each with ``configs/inference.json`` (the branch's SPEC
without its noise gate, which has no weights: the SPEC a training config names) and
``models/model.pt`` (its state dict), which medden reads like a bundle folder::

    python docs/examples/magnitude_switch_branches.py bundles/mri_denoise /tmp/mri_branches
    # init.weights: /tmp/mri_branches/magnitude
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from medden.spec import Spec, parse_spec
from medden.train import read_checkpoint

BRANCHES = ("zero_mean", "magnitude")
GATE_PARAMS = ("clean_sigma", "noisy_sigma", "gate_quantile")


def branch_state(state: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """The tensors of branch ``name``, with their keys as the branch alone names them."""
    prefix = f"stages.{name}."
    return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}


def trainable_spec(spec: Spec) -> str:
    """``spec`` without the noise gate's parameters."""
    return str(Spec(spec.name, {k: v for k, v in spec.params.items() if k not in GATE_PARAMS}))


def main() -> None:
    """Write OUT/zero_mean and OUT/magnitude."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", help="a magnitude_switch bundle folder or checkpoint")
    parser.add_argument("out", type=Path, help="new folder")
    args = parser.parse_args()
    data = read_checkpoint(args.bundle)
    switch = parse_spec(data["run"]["pipeline"])
    if switch.name != "magnitude_switch":
        parser.error(f"{args.bundle} is a {switch.name} pipeline, not magnitude_switch")
    args.out.mkdir(parents=True, exist_ok=False)
    for name in BRANCHES:
        folder = args.out / name
        (folder / "configs").mkdir(parents=True)
        (folder / "models").mkdir()
        spec = trainable_spec(parse_spec(str(switch.params[name])))
        torch.save(branch_state(data["model"], name), folder / "models" / "model.pt")
        (folder / "configs" / "inference.json").write_text(
            json.dumps({"network_def": {"spec": spec}}, indent=2))
        print(f"{folder}: {spec}")


if __name__ == "__main__":
    main()
